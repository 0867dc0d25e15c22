"""The street office's indicators dashboard: /maps/dashboard (api.services.dashboard), a map
page like the others (offline, Leaflet from /static/maps/)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import MapsDashboard
from api.deps import Basemaps, ReadDb
from api.routers.maps import LangQuery, assets_ready
from api.services import dashboard

router = APIRouter(prefix="/maps", tags=["maps 地图"])


@router.get("/dashboard", response_class=HTMLResponse,
            summary="指标看板 the indicators dashboard: choropleth, ranking and monthly trends")
def dashboard_page(request: Request, session: ReadDb, who: MapsDashboard, basemaps: Basemaps,
                   lang: Literal["zh", "en"] = LangQuery,
                   indicator: str = Query("on_time_rate", max_length=40,
                                          description="指标 an indicator key"),
                   by: Literal["grid", "community"] = "grid",
                   months: int = Query(6, ge=1, le=24, description="months of the trend"),
                   month: str | None = Query(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                             description="月份 the month shown (YYYY-MM, "
                                             "default this month)")):
    assets_ready(request)
    return HTMLResponse(dashboard.dashboard_page(session, who, lang, indicator, by, months,
                                                 basemaps, month))
