"""The maps of maps/ as HTML pages: /maps/grids, /maps/party-zones, /maps/incidents,
/maps/routes/{worker_id}, /maps/coverage, /maps/compare?old=&new= (api.services.maps) and
/maps/facilities?type= (api.services.facilities) and /maps/organisations (referrals).

Each page links Leaflet and its plugins under /static/maps/, which the app serves from the
assets folder (maps.ensure_assets): no page asks another host for anything. ``?lang=en``
gives the English page. A worker sees their own route and incidents only; coverage and plan
comparison are for planners.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import MapsOrganisations, MapsPlans, MapsRead
from api.deps import AppSettings, Basemaps, LevelCodeQuery, LevelQuery, ReadDb
from api.errors import ApiError
from api.map_assets import gather_map_assets
from api.schemas import FacilityTypeKey
from api.services import facilities as facility_pages
from api.services import maps as pages
from api.services.scope import level_filter
from dispatch.channels import Channel
from partition.metrics import BALANCE_LIMIT_PCT

router = APIRouter(prefix="/maps", tags=["maps 地图"])
_gather_lock = threading.Lock()
Lang = Literal["zh", "en"]
LangQuery = Query("zh", description="语言 language: zh or en")


def assets_ready(request: Request) -> None:
    """Gather the map scripts on the first map page (api.map_assets); 503 when
    they could not be gathered (the page would draw nothing)."""
    state = request.app.state
    with _gather_lock:
        if not getattr(state, "map_assets_checked", False):
            state.map_assets_error = gather_map_assets(state.settings)
            state.map_assets_checked = True
    error = state.map_assets_error
    if error:
        raise ApiError(503, "map_assets_missing",
                       f"地图脚本尚未安装：{error}；请运行 wangge assets install",
                       f"map scripts are not installed: {error}; run wangge assets install")


@router.get("/grids", response_class=HTMLResponse, summary="网格方案地图 the active grid plan")
def grids_page(request: Request, session: ReadDb, who: MapsRead, basemaps: Basemaps,
               lang: Lang = LangQuery, level: LevelQuery = None, code: LevelCodeQuery = None):
    assets_ready(request)
    return HTMLResponse(pages.grids_page(session, who, lang, basemaps,
                                         level_filter(session, level, code)))


@router.get("/party-zones", response_class=HTMLResponse,
            summary="党员责任区地图 party member responsibility zones")
def party_zones_page(request: Request, session: ReadDb, who: MapsRead, basemaps: Basemaps,
                     lang: Lang = LangQuery, level: LevelQuery = None,
                     code: LevelCodeQuery = None):
    assets_ready(request)
    return HTMLResponse(pages.party_zones_page(session, who, lang, basemaps,
                                               level_filter(session, level, code)))


@router.get("/incidents", response_class=HTMLResponse,
            summary="事件地图 open incidents (a worker sees their own)")
def incidents_page(request: Request, session: ReadDb, who: MapsRead, basemaps: Basemaps,
                   lang: Lang = LangQuery,
                   category: str | None = None, channel: Channel | None = None,
                   level: LevelQuery = None, code: LevelCodeQuery = None):
    assets_ready(request)
    return HTMLResponse(pages.incidents_page(session, who, lang, category, basemaps, channel,
                                             level_filter(session, level, code)))


@router.get("/organisations", response_class=HTMLResponse,
            summary="转办地图 organisations' areas and the incidents referred to them (an "
            "organisation sees its own)")
def organisations_page(request: Request, session: ReadDb, who: MapsOrganisations,
                       basemaps: Basemaps, lang: Lang = LangQuery,
                       organisation_id: int | None = None, open_only: bool = True):
    assets_ready(request)
    return HTMLResponse(pages.organisations_page(session, who, lang, organisation_id,
                                                 open_only, basemaps))


@router.get("/routes/{worker_id}", response_class=HTMLResponse,
            summary="网格员路线地图 a worker's route (a worker sees their own)")
def route_page(request: Request, worker_id: int, session: ReadDb, who: MapsRead,
               basemaps: Basemaps, lang: Lang = LangQuery, day: date | None = None):
    assets_ready(request)
    return HTMLResponse(pages.route_page(session, who, worker_id, lang, day, basemaps))


@router.get("/coverage", response_class=HTMLResponse,
            summary="覆盖缺口地图 coverage gaps of the active plan (planners)")
def coverage_page(request: Request, session: ReadDb, who: MapsPlans, basemaps: Basemaps,
                  lang: Lang = LangQuery,
                  tolerance_pct: float = Query(BALANCE_LIMIT_PCT, gt=0, le=100)):
    assets_ready(request)
    return HTMLResponse(pages.coverage_page(session, who, lang, tolerance_pct, basemaps))


@router.get("/facilities", response_class=HTMLResponse,
            summary="设施覆盖地图 walking coverage of a facility type and proposed sites")
def facilities_page(request: Request, session: ReadDb, who: MapsPlans, settings: AppSettings,
                    basemaps: Basemaps,
                    type: Annotated[FacilityTypeKey,
                                    Query(description="设施类型 facility type")],
                    distance_m: float | None = Query(None, gt=0, le=5000),
                    k: int = Query(0, ge=0, le=50, description="建议新址数量 sites to propose"),
                    lang: Lang = LangQuery):
    assets_ready(request)
    return HTMLResponse(facility_pages.map_page(session, settings, who, lang, type,
                                                distance_m, k, basemaps))


@router.get("/compare", response_class=HTMLResponse,
            summary="方案对比地图 two plans compared (planners)")
def compare_page(request: Request, session: ReadDb, who: MapsPlans, basemaps: Basemaps,
                 old: int = Query(description="原方案 id the earlier plan"),
                 new: int = Query(description="新方案 id the later plan"),
                 lang: Lang = LangQuery):
    assets_ready(request)
    return HTMLResponse(pages.compare_page(session, who, old, new, lang, basemaps))
