"""The work indicators (量化指标): GET /indicators as JSON, CSV or an Excel workbook, and
GET /indicators/definitions. The logic is api.services.indicators."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import IndicatorsRead
from api.deps import ReadDb
from api.schemas import IndicatorDefinition, IndicatorsOut
from api.services import indicators

router = APIRouter(tags=["indicators 指标"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/indicators", response_model=IndicatorsOut,
            summary="工作指标 indicators per grid, worker, community, street or district and "
            "period (JSON, CSV, or the Excel workbook of the monthly 考核)")
def get_indicators(session: ReadDb, who: IndicatorsRead,
                   level: Literal["grid", "worker", "community", "street", "district"] = "grid",
                   period: Literal["day", "week", "month", "custom"] = "month",
                   start: Annotated[date | None, Query(description="first day (北京时间)")] = None,
                   end: Annotated[date | None, Query(description="last day, included")] = None,
                   format: Literal["json", "csv", "xlsx"] = "json"):
    out = indicators.indicators(session, who, level, period, start, end)
    name = f"indicators-{level}-{period}-{out.start}-{out.end}"
    if format == "csv":
        return Response(indicators.to_csv(out), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                                 "Link": '</indicators/definitions>; rel="describedby"'})
    if format == "xlsx":
        return Response(indicators.to_xlsx(out), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return out


@router.get("/indicators/definitions", response_model=list[IndicatorDefinition],
            summary="指标定义 what each indicator means (names, formulas, units)")
def get_definitions(who: IndicatorsRead):
    return indicators.definitions(["patrol_coverage", "visits_done"])
