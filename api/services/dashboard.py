"""The street office's indicators dashboard (/maps/dashboard): the active plan's grids or
communities coloured by one indicator for the last month, the ranked table, and the trend of
the main rates and counts per month over the months before (maps.dashboard draws it).

The figures are api.store.indicators' (computed in the database, per key and month). The
trend of the whole street sums the monthly counts of the keys (a few hundred rows) and applies
the same formulas (dispatch.incidents.indicators.rates); durations are not summed, so the
trend shows rates and counts only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import geopandas as gpd
import pandas as pd
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.services.basemap import BasemapStore
from api.services.indicators import indicators, month_range
from api.store.plans import active_plan_id, grids_frame
from dispatch.incidents.indicators import BY_KEY, HIGHER_IS_BETTER, rates
from dispatch.incidents.rules import BEIJING
from maps.base import MapOptions, page_html
from maps.dashboard import dashboard_map

TREND_RATES = ("on_time_rate", "satisfaction_rate", "reopened_share")
TREND_COUNTS = ("received", "closed", "open_overdue")


def _months_back(today: date, months: int) -> date:
    first = today.replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first


def dashboard_data(session: Session, who: Principal, indicator: str, by: str,
                   months: int, today: date | None = None
                   ) -> tuple[gpd.GeoDataFrame, pd.DataFrame, dict]:
    """The areas (key, name, geometry), the last month's figures per key (key, value,
    received), and the trend ({"periods", "rates", "counts"}, series by indicator key)."""
    if indicator not in BY_KEY or BY_KEY[indicator].source in ("patrols", "visits"):
        known = ", ".join(k for k in HIGHER_IS_BETTER if BY_KEY[k].source not in
                          ("patrols", "visits"))
        raise ApiError(422, "unknown_indicator",
                       f"未知或不可上图的指标 {indicator!r}（可用：{known}）",
                       f"unknown indicator {indicator!r} for the map (one of {known})")
    plan_id = active_plan_id(session)
    if plan_id is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案：请先启用一个方案",
                       "there is no active plan: activate one first")
    today = today or datetime.now(BEIJING).date()
    first = _months_back(today, months)
    out = indicators(session, who, by, "month", first, month_range(today)[1])
    frame = pd.DataFrame([r.model_dump() for r in out.rows])
    periods = [d.isoformat() for d in pd.date_range(first, today, freq="MS").date]
    grids = grids_frame(session, plan_id)
    if by == "grid":
        areas = gpd.GeoDataFrame({"key": grids["code"], "name": grids["code"]},
                                 geometry=grids.geometry, crs=grids.crs)
    else:
        merged = grids[["community", "geometry"]].dissolve(by="community").reset_index()
        areas = gpd.GeoDataFrame({"key": merged["community"], "name": merged["community"]},
                                 geometry=merged.geometry, crs=grids.crs)
    latest = periods[-1]
    if len(frame):
        now_rows = frame[frame["period"] == latest]
        figures = pd.DataFrame({"key": now_rows["key"], "value": now_rows[indicator],
                                "received": now_rows["received"]})
        sums = frame.groupby("period")[[c for c in frame.columns if c not in (
            "key", "name", "period") and BY_KEY.get(c, BY_KEY["received"]).unit == "count"
            and c in frame]].sum(numeric_only=True)
    else:
        figures = pd.DataFrame(columns=["key", "value", "received"])
        sums = pd.DataFrame()
    trend_rates: dict[str, list[float | None]] = {k: [] for k in TREND_RATES}
    trend_counts: dict[str, list[float | None]] = {k: [] for k in TREND_COUNTS}
    for p in periods:
        counts = sums.loc[p].to_dict() if p in sums.index else {}
        month = rates(counts)
        for k in TREND_RATES:
            trend_rates[k].append(month[k])
        for k in TREND_COUNTS:
            trend_counts[k].append(float(counts.get(k, 0)))
    return areas, figures, {"periods": periods, "rates": trend_rates, "counts": trend_counts}


def dashboard_page(session: Session, who: Principal, lang: str, indicator: str, by: str,
                   months: int, basemaps: BasemapStore | None = None,
                   month: str | None = None) -> str:
    """The dashboard page (HTML) of ``month`` (``YYYY-MM``; default this month)."""
    last = None
    if month is not None:
        last = month_range(date.fromisoformat(f"{month}-01"))[1]
    areas, figures, trend = dashboard_data(session, who, indicator, by, months, today=last)
    basemap = basemaps.for_plan(session, active_plan_id(session)) if basemaps else None
    options = MapOptions(lang=lang, basemap=basemap or None)
    name = 0 if lang == "zh" else 1

    def label(key: str) -> str:
        d = BY_KEY[key]
        return (d.name_zh, d.name_en)[name]

    view = dashboard_map(
        areas, figures, indicator=BY_KEY[indicator].as_dict(),
        higher_is_better=HIGHER_IS_BETTER.get(indicator, True),
        trend_periods=trend["periods"],
        trend_rates={label(k): v for k, v in trend["rates"].items()},
        trend_counts={label(k): v for k, v in trend["counts"].items()},
        period_label=trend["periods"][-1][:7], by=by, options=options)
    return page_html(view)
