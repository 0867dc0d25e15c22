"""Micro-wishes (微心愿): post, list, read, history, ranked volunteers, the lifecycle's actions
(claim, unclaim, done, confirm, reopen, cancel) and the micro-star board. The logic, and who
may act on which wish and see what of it, is api.services.wishes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import (
    Authenticated,
    WishesBoard,
    WishesMap,
    WishesMatch,
    WishesPost,
    WishesRead,
    WishesStatistics,
)
from api.deps import (
    STEP_NOT_ALLOWED,
    AppSettings,
    Basemaps,
    Grids,
    ReadDb,
    WriteDb,
    check_limit,
)
from api.routers.maps import Lang, LangQuery, assets_ready
from api.schemas import (
    BoardBy,
    BoardOut,
    MatchesOut,
    WishActionIn,
    WishIn,
    WishOut,
    WishPosted,
    WishStatistics,
    WishStatsBy,
    WishStepOut,
)
from api.services import wishes

router = APIRouter(tags=["wishes 微心愿"])


@router.post("/wishes", status_code=201, response_model=WishPosted,
             summary="发布心愿 post a wish (a resident, or a worker or hotline operator for one, "
             "with the channel); the answer holds the one-time confirmation code")
def post_wish(body: WishIn, request: Request, session: WriteDb, who: WishesPost, grids: Grids,
              idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None):
    return wishes.post(session, who, grids, body, idempotency_key, request.url.path)


@router.get("/wishes", response_model=list[WishOut],
            summary="心愿列表 wishes (residents' details for admins and the grid's worker only; "
            "a resident: the wishes they posted)")
def list_wishes(session: ReadDb, who: WishesRead, settings: AppSettings, limit: int = 100,
                offset: int = Query(0, ge=0), status: str | None = None,
                grid_code: str | None = None, volunteer_id: int | None = None):
    return wishes.list_wishes(session, who, check_limit(limit, settings), offset,
                              status=status, grid_code=grid_code, volunteer_id=volunteer_id)


@router.get("/wishes/board", response_model=BoardOut,
            summary="微星光 the micro-star board: wishes fulfilled and hours per volunteer, "
            "team or grid over a period")
def board(session: ReadDb, who: WishesBoard, settings: AppSettings,
          by: BoardBy = "volunteer", start: datetime | None = None,
          end: datetime | None = None, limit: int = 50):
    return wishes.board(session, who, by, start, end, check_limit(limit, settings))


@router.get("/wishes/statistics", response_model=WishStatistics,
            summary="心愿统计 wishes per channel (how they came), category or grid: open, "
            "confirmed, cancelled, median hours to confirmation")
def statistics(session: ReadDb, who: WishesStatistics, by: WishStatsBy = "channel"):
    return wishes.statistics(session, by)


@router.get("/wishes/{wish_id}", response_model=WishOut, summary="心愿 one wish")
def get_wish(wish_id: int, session: ReadDb, who: WishesRead):
    return wishes.get_wish(session, who, wish_id)


@router.get("/wishes/{wish_id}/history", response_model=list[WishStepOut],
            summary="心愿记录 the wish's steps, oldest first (append-only)")
def wish_history(wish_id: int, session: ReadDb, who: WishesRead):
    return wishes.history(session, who, wish_id)


@router.get("/wishes/{wish_id}/matches", response_model=MatchesOut,
            summary="匹配志愿者 volunteers ranked for the wish: skill, time, grid, walking "
            "distance, open claims")
def matches(wish_id: int, session: ReadDb, who: WishesMatch, settings: AppSettings,
            limit: int = 20):
    return wishes.matches(session, settings, who, wish_id, check_limit(limit, settings))


@router.post("/wishes/{wish_id}/actions", response_model=WishOut,
             summary="办理心愿 claim, unclaim, done (hours), confirm (code), reopen, cancel",
             dependencies=[STEP_NOT_ALLOWED])
def act(wish_id: int, body: WishActionIn, session: WriteDb, who: Authenticated):
    return wishes.act_on(session, who, wish_id, body)


@router.get("/maps/wishes", response_class=HTMLResponse, tags=["maps 地图"],
            summary="微心愿地图 open wishes (households' points for admins and the grid's worker)")
def office_map(request: Request, session: ReadDb, who: WishesMap, basemaps: Basemaps,
               lang: Lang = LangQuery):
    assets_ready(request)
    return HTMLResponse(wishes.office_map_page(session, who, lang, basemaps))


@router.get("/public/wishes", response_class=HTMLResponse, tags=["maps 地图"],
            summary="微心愿公开地图 the public map of open wishes: no login, no personal data "
            "(category, stage, the grid's point)")
def public_map(request: Request, session: ReadDb, basemaps: Basemaps, lang: Lang = LangQuery):
    assets_ready(request)
    return HTMLResponse(wishes.public_map_page(session, lang, basemaps))
