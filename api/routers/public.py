"""The public notice of each grid, without login (api.services.public): the page with its
map, the same as JSON, the A4 poster with its QR code, and the month's public figures by level;
and, for the office and the grid's worker, the A4 notice of a building with the QR code of its
report form (``/posters/buildings/{id}/notice.pdf``: the form's key is never public).

Public answers may be cached for api.services.public.CACHE_SECONDS; they hold public fields
only (tests list every other field and prove it absent).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.auth import PostersRead
from api.deps import AppSettings, Basemaps, LevelCodeQuery, LevelQuery, ReadDb
from api.routers.maps import assets_ready
from api.schemas import PublicGridNotice, PublicIndicatorTable
from api.services import public
from api.services.scope import level_filter, visible_communities

router = APIRouter(prefix="/public", tags=["public 公示（无需登录 no login）"])
office = APIRouter(tags=["posters 楼栋二维码"])
CACHE = {"Cache-Control": f"public, max-age={public.CACHE_SECONDS}"}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/grids/{code}", response_class=HTMLResponse,
            summary="网格公示页 a grid's public notice: boundary, staff, figures, how to report")
def grid_page(code: str, request: Request, session: ReadDb, settings: AppSettings,
              basemaps: Basemaps):
    assets_ready(request)
    return HTMLResponse(public.grid_page(session, settings, _base(request), code, basemaps),
                        headers=CACHE)


@router.get("/grids/{code}/notice.json", response_model=PublicGridNotice,
            summary="网格公示 a grid's public notice as JSON (public fields only)")
def grid_notice(code: str, request: Request, response: Response, session: ReadDb,
                settings: AppSettings, month: str | None = None):
    response.headers.update(CACHE)
    return public.grid_notice(session, settings, _base(request), code, month)


@router.get("/grids/{code}/poster.pdf", response_class=Response,
            summary="网格公示海报 a grid's printable A4 poster with QR codes (PDF)")
def grid_poster(code: str, request: Request, session: ReadDb, settings: AppSettings):
    return Response(public.grid_poster(session, settings, _base(request), code),
                    media_type="application/pdf",
                    headers={**CACHE, "Content-Disposition":
                             f'inline; filename="grid-{code}.pdf"'})


@router.get("/indicators", response_model=PublicIndicatorTable,
            summary="公开指标 the month's public figures by grid, community, street or district")
def indicators(session: ReadDb, response: Response,
               by: Literal["grid", "community", "street", "district"] = "street",
               month: str | None = None, level: LevelQuery = None,
               code: LevelCodeQuery = None):
    response.headers.update(CACHE)
    return public.indicator_table(session, by, month, visible_communities(
        None, level_filter(session, level, code)))


@office.get("/posters/buildings/{building_id}/notice.pdf", response_class=Response,
            summary="楼栋公示海报 a building's A4 notice: its grid's notice and the QR code of "
            "the building's report form (PDF; office roles, a worker for their grids)")
def building_poster(building_id: str, request: Request, session: ReadDb,
                    settings: AppSettings, who: PostersRead):
    return Response(public.building_poster(session, settings, who, _base(request),
                                           building_id),
                    media_type="application/pdf",
                    headers={"Cache-Control": "private, no-store", "Content-Disposition":
                             'inline; filename="building-notice.pdf"'})
