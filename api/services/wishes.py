"""Micro-wishes (微心愿): posting, the lifecycle with who may act, volunteer matching, the board.

The lifecycle is dispatch.community.wishes'; this module stores it (api.store.wishes: the row
plus an append-only table of steps, changed in one transaction) and decides who may do what:

* a resident posts from their app or a building's QR poster (a ``reporter`` token, channel
  ``app`` or ``qr_poster``); a grid worker (in their own grids), a hotline operator
  (``operator``) or an admin enters a wish for a resident with how it came (``phone_call``,
  ``walk_in``, ``door_visit``, ``on_behalf``: dispatch.channels). The answer carries a
  one-time confirmation code (only its sha256 is kept) that the resident gives to confirm;
* a volunteer (a ``volunteer`` token) claims, unclaims and marks done their own claims; admins
  and the grid's worker do it on a volunteer's behalf. A claim needs a skill of the wish's
  category and a free place in the volunteer's open claims;
* the resident confirms (or sends it back, ``reopen``) with the code, from their app or by
  calling the hotline (an operator, for the wishes it entered); admins and the grid's worker
  confirm on their behalf. Five wrong codes lock code confirmation of that wish;
* the resident's name, phone, address and exact point are shown to admins and the grid's
  worker only; everyone else sees the category, the grid and the grid's representative point.

Matching ranks volunteers with dispatch.community.matching on the active plan's walk network
(api.services.dispatcher.walk_network, cached per process).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi.responses import JSONResponse
from pyproj import Transformer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, check
from api.errors import ApiError, not_found
from api.idempotency import idempotent_create
from api.schemas import (
    BoardBy,
    BoardOut,
    BoardRow,
    MatchesOut,
    MatchOut,
    WishActionIn,
    WishIn,
    WishOut,
    WishPosted,
    WishStatistics,
    WishStatsBy,
    WishStatsGroup,
    WishStepOut,
)
from api.services.basemap import BasemapStore
from api.services.dispatcher import walk_network
from api.services.grid_index import GridLocator, PlanGrids, outside_error
from api.services.volunteers import windows_of
from api.settings import Settings
from api.store import models as m
from api.store import wishes as store
from api.store.incidents import aware
from api.store.plans import active_plan, grids_frame
from dispatch.channels import ASSISTED_CHANNELS, CHANNEL_NAMES, check_channel
from dispatch.community.board import micro_star_board, wish_statistics
from dispatch.community.matching import Volunteer, WishRequest, rank_volunteers
from dispatch.community.wishes import (
    CATEGORIES,
    Wish,
    act,
    add_note,
    category_skills,
    check_allowed,
    check_category,
    new_wish,
)
from dispatch.incidents.rules import beijing
from maps import MapOptions, page_html, wishes_map

RESIDENT_CHANNELS = ("app", "qr_poster")  # a resident's own token
ASSISTED = ("phone_call", "walk_in", "door_visit", "on_behalf")  # typed in for them
MAX_CODE_FAILURES = 5
RESIDENT = "居民 resident"
POSTERS_ONLY = ("reporter", "operator")  # they see the wishes they posted, no others


def _sha(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


def worker_grids(session: Session, worker_id: int | None) -> set[str]:
    """Codes of the active plan's grids assigned to ``worker_id``."""
    if worker_id is None:
        return set()
    return set(session.scalars(
        select(m.GridRow.code).join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
        .join(m.PlanRow, m.PlanRow.id == m.AssignmentRow.plan_id)
        .where(m.PlanRow.status == "active", m.AssignmentRow.worker_id == worker_id,
               m.AssignmentRow.role == "worker")))


class Scope:
    """What one caller may see and do with wishes (the grids of a worker read once)."""

    def __init__(self, session: Session, who: Principal) -> None:
        self.who = who
        self.grids = worker_grids(session, who.worker_id) if who.role == "worker" else set()

    def grid_worker(self, row: m.WishRow) -> bool:
        """Admin, or the worker of the wish's grid."""
        return self.who.role == "admin" or (self.who.role == "worker"
                                            and row.grid_code in self.grids)

    def require_grid_worker(self, row: m.WishRow) -> None:
        """403 unless :meth:`grid_worker`."""
        if not self.grid_worker(row):
            raise ApiError(403, "forbidden",
                           f"只有心愿所在网格（{row.grid_code}）的网格员或管理员可以办理",
                           f"only the worker of the wish's grid ({row.grid_code}) or an admin "
                           "may do this")

    def may_read(self, row: m.WishRow) -> bool:
        """A reporter or operator reads the wishes it posted; others every wish (redacted)."""
        return (self.who.role not in POSTERS_ONLY
                or row.posted_by_token_id == self.who.token_id)

    def out(self, row: m.WishRow) -> WishOut:
        """The wish as this caller may see it."""
        out = WishOut(id=row.id, category=row.category,
                      category_name=" ".join(CATEGORIES[row.category][:2]),
                      description=row.description, status=row.status, channel=row.channel,
                      grid_code=row.grid_code, lon=row.public_lon, lat=row.public_lat,
                      wanted_at=aware(row.wanted_at), volunteer_id=row.volunteer_id,
                      hours=row.hours, created_at=aware(row.created_at),
                      done_at=aware(row.done_at), confirmed_at=aware(row.confirmed_at))
        if self.grid_worker(row):
            out.resident_name, out.resident_phone = row.resident_name, row.resident_phone
            out.address = row.address
            out.exact_lon, out.exact_lat = row.geom.x, row.geom.y
        return out


def _channel(who: Principal, channel: str | None) -> str:
    """The wish's channel: checked, and one the caller's role may enter."""
    if channel is None:
        return {"reporter": "app", "operator": "phone_call"}.get(who.role, "on_behalf")
    check_channel(channel)
    allowed = RESIDENT_CHANNELS if who.role == "reporter" else ASSISTED
    if channel not in allowed:
        names_zh = "、".join(CHANNEL_NAMES[c][0] for c in allowed)
        raise ApiError(422, "bad_channel",
                       f"渠道“{CHANNEL_NAMES[channel][0]}”不能由此账号录入：居民本人用手机应用或"
                       f"楼栋二维码，网格员和热线代录用电话、到访、入户走访或代报；此账号可用："
                       f"{names_zh}",
                       f"channel {channel} cannot be entered with this account: residents use "
                       f"app or qr_poster, workers and hotline operators phone_call, walk_in, "
                       f"door_visit or on_behalf; this account may use {', '.join(allowed)}")
    return channel


def _place(session: Session, grids: GridLocator, lon: float,
           lat: float) -> tuple[PlanGrids, str, shapely.Point]:
    """The active plan, the grid holding (lon, lat) and the grid's public point; 409 without
    an active plan, 422 ``outside_area`` outside every grid."""
    plan = grids.active(session)
    if plan is None:
        raise ApiError(409, "no_active_plan", "尚无启用的网格方案，无法发布心愿",
                       "there is no active plan to place the wish in")
    code = plan.code_at(lon, lat)
    if code is None:
        raise outside_error(lon, lat, plan)
    return plan, code, plan.polygon(code).representative_point()


def post(session: Session, who: Principal, grids: GridLocator, body: WishIn,
         idempotency_key: str | None, path: str) -> JSONResponse:
    """``POST /wishes``: a wish placed in its grid, its first step and a one-time code; once
    per ``idempotency_key``; committed (201)."""
    category = check_category(body.category)
    channel = _channel(who, body.channel)
    plan, code, public = _place(session, grids, body.lon, body.lat)
    if who.role == "worker" and code not in worker_grids(session, who.worker_id):
        raise ApiError(403, "forbidden",
                       f"网格员只能代录本人负责网格的心愿（该位置属于网格 {code}）",
                       f"a worker enters wishes in their own grids only (this point lies in "
                       f"grid {code})")

    def create(s: Session) -> WishPosted:
        secret = f"{secrets.randbelow(10**6):06d}"
        now = datetime.now(UTC)
        wish = new_wish("new", category, RESIDENT if who.role == "reporter" else who.name, now,
                        f"渠道 channel: {channel}")
        row = m.WishRow(category=category, description=body.description, channel=channel,
                        plan_id=plan.plan_id, grid_code=code, public_lon=public.x,
                        public_lat=public.y, resident_name=body.resident_name,
                        resident_phone=body.resident_phone, address=body.address,
                        wanted_at=store.utc(None if body.wanted_at is None
                                            else beijing(body.wanted_at)),
                        confirm_sha256=_sha(secret), posted_by_token_id=who.token_id,
                        created_at=now)
        row.set_geometry(shapely.Point(body.lon, body.lat))
        s.add(row)
        s.flush()
        store.save_domain(s, row, wish, who.token_id)
        s.flush()
        out = Scope(s, who).out(row)
        return WishPosted(**out.model_dump(), confirm_code=secret)

    return idempotent_create(session, who, idempotency_key, "POST", path, body.model_dump(),
                             create)


# ---- reading -------------------------------------------------------------------------------

def _wish(session: Session, wish_id: int, lock: bool = False) -> m.WishRow:
    row = session.get(m.WishRow, wish_id, with_for_update=lock)
    if row is None:
        raise not_found("心愿", "wish", wish_id)
    return row


def _visible(session: Session, scope: Scope, wish_id: int) -> m.WishRow:
    row = _wish(session, wish_id)
    if not scope.may_read(row):
        raise not_found("心愿", "wish", wish_id)  # a resident learns nothing of others' wishes
    return row


def list_wishes(session: Session, who: Principal, limit: int, offset: int, *,
                status: str | None = None, grid_code: str | None = None,
                volunteer_id: int | None = None) -> list[WishOut]:
    """Wishes by id, filtered (a reporter: the wishes they posted), each as the caller may
    see it."""
    scope = Scope(session, who)
    query = select(m.WishRow).order_by(m.WishRow.id)
    if who.role in POSTERS_ONLY:
        query = query.where(m.WishRow.posted_by_token_id == who.token_id)
    for column, value in ((m.WishRow.status, status), (m.WishRow.grid_code, grid_code),
                          (m.WishRow.volunteer_id, volunteer_id)):
        if value is not None:
            query = query.where(column == value)
    return [scope.out(r) for r in session.scalars(query.limit(limit).offset(offset))]


def get_wish(session: Session, who: Principal, wish_id: int) -> WishOut:
    """One wish as the caller may see it (404 for a reporter's wish of someone else)."""
    scope = Scope(session, who)
    return scope.out(_visible(session, scope, wish_id))


def history(session: Session, who: Principal, wish_id: int) -> list[WishStepOut]:
    """The wish's steps, oldest first."""
    _visible(session, Scope(session, who), wish_id)
    return [WishStepOut(seq=s.seq, at=aware(s.at), stage=s.stage, action=s.action, who=s.who,
                        note=s.note, volunteer_id=s.volunteer_id, hours=s.hours)
            for s in store.steps_of(session, wish_id)]


# ---- matching ------------------------------------------------------------------------------

def volunteers_for_matching(session: Session, crs) -> tuple[list[Volunteer], dict[int, str]]:
    """Every volunteer as matching sees them (home points in ``crs``, projected in one call)
    and their names."""
    rows = list(session.scalars(select(m.VolunteerRow).order_by(m.VolunteerRow.id)))
    homes = [i for i, v in enumerate(rows) if v.geom is not None]
    xs, ys = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
        np.array([rows[i].geom.x for i in homes]), np.array([rows[i].geom.y for i in homes]))
    metric = {i: (float(x), float(y)) for i, x, y in zip(homes, np.atleast_1d(xs),
                                                          np.atleast_1d(ys), strict=True)}
    out = []
    for i, v in enumerate(rows):
        x, y = metric.get(i, (None, None))
        out.append(Volunteer(v.id, frozenset(v.skills or []), x, y,
                             frozenset(v.grid_codes or []), windows_of(v.availability),
                             v.max_open, v.active))
    return out, {v.id: v.name for v in rows}


def matches(session: Session, settings: Settings, who: Principal, wish_id: int,
            limit: int) -> MatchesOut:
    """Volunteers ranked for the wish (the worker of its grid, or an admin); the eligible
    first, at most ``limit`` rows."""
    row = _wish(session, wish_id)
    Scope(session, who).require_grid_worker(row)
    plan = active_plan(session)
    if plan is None:
        raise ApiError(409, "no_active_plan", "尚无启用的网格方案，无法计算步行距离",
                       "there is no active plan to walk on")
    net = walk_network(settings, session.get_one(m.DatasetRow, plan.dataset_id))
    started = time.perf_counter()
    volunteers, names = volunteers_for_matching(session, net.crs)
    x, y = Transformer.from_crs("EPSG:4326", net.crs, always_xy=True).transform(row.geom.x,
                                                                              row.geom.y)
    wanted = None if row.wanted_at is None else aware(row.wanted_at)
    table = rank_volunteers(net, WishRequest(row.category, x, y, row.grid_code, wanted),
                            volunteers, store.open_claims(session))
    seconds = time.perf_counter() - started
    records = table.head(limit).astype(object).where(table.head(limit).notna(), None)
    return MatchesOut(wish_id=wish_id, seconds=round(seconds, 4), matches=[
        MatchOut(name=names[int(r["volunteer_id"])], **r)
        for r in records.to_dict("records")])


# ---- the lifecycle -------------------------------------------------------------------------

def _claimant(session: Session, scope: Scope, row: m.WishRow,
              body: WishActionIn) -> m.VolunteerRow:
    """The volunteer claiming: the caller (a volunteer token) or ``body.volunteer_id`` (an
    admin or the grid's worker), active, with a skill of the category and a free place."""
    who = scope.who
    if who.role == "volunteer":
        if body.volunteer_id not in (None, who.volunteer_id):
            raise ApiError(403, "forbidden", "志愿者只能为本人认领",
                           "a volunteer claims for themself only")
        volunteer_id = who.volunteer_id
    else:
        scope.require_grid_worker(row)
        if body.volunteer_id is None:
            raise ApiError(422, "bad_wish", "代为认领须指定志愿者 volunteer_id",
                           "a claim on a volunteer's behalf needs volunteer_id")
        volunteer_id = body.volunteer_id
    assert volunteer_id is not None
    v = session.get(m.VolunteerRow, volunteer_id)
    if v is None:
        raise not_found("志愿者", "volunteer", volunteer_id)
    if not v.active:
        raise ApiError(409, "volunteer_inactive", f"志愿者 {v.id} 已暂停服务",
                       f"volunteer {v.id} is not active")
    wanted = category_skills(row.category)
    if not wanted & set(v.skills or []):
        zh, en = CATEGORIES[row.category][:2]
        raise ApiError(422, "skill_mismatch",
                       f"志愿者 {v.id} 没有“{zh}”所需的技能（需其一：{', '.join(sorted(wanted))}）",
                       f"volunteer {v.id} has no skill for {en} (one of "
                       f"{', '.join(sorted(wanted))})")
    if store.open_claims(session).get(v.id, 0) >= v.max_open:
        raise ApiError(409, "too_many_claims",
                       f"志愿者 {v.id} 已认领 {v.max_open} 个未完成的心愿，达到上限",
                       f"volunteer {v.id} already holds {v.max_open} open claims, their limit")
    return v


def _own_claim(scope: Scope, row: m.WishRow) -> None:
    """A volunteer acts on their own claim only; others must be the grid's worker or admin."""
    if scope.who.role == "volunteer":
        if row.volunteer_id != scope.who.volunteer_id:
            raise ApiError(403, "forbidden", "志愿者只能办理本人认领的心愿",
                           "a volunteer acts on their own claims only")
    else:
        scope.require_grid_worker(row)


def _resident(session: Session, scope: Scope, row: m.WishRow, wish: Wish,
              body: WishActionIn) -> None:
    """Confirm, reopen or cancel: admins and the grid's worker, or the resident with the
    wish's code (cancel: also the token that posted it). Wrong codes are counted (committed)
    and lock code confirmation after :data:`MAX_CODE_FAILURES`."""
    who = scope.who
    if who.role not in POSTERS_ONLY:
        scope.require_grid_worker(row)
        return
    if body.action == "cancel" and row.posted_by_token_id == who.token_id and body.code is None:
        return
    failures = sum(1 for s in wish.history if s.action == "code_failed")
    if failures >= MAX_CODE_FAILURES:
        raise ApiError(403, "code_locked",
                       "确认码错误次数过多，已锁定：请联系网格员代为确认",
                       "too many wrong codes: code confirmation is locked; ask the grid "
                       "worker to confirm")
    if body.code is None or not hmac.compare_digest(_sha(body.code), row.confirm_sha256):
        add_note(wish, "code_failed", RESIDENT, at=datetime.now(UTC))
        store.save_domain(session, row, wish, who.token_id)
        session.commit()  # the count stands although the request fails
        raise ApiError(403, "wrong_code",
                       "确认码不正确：只有发布心愿的居民（凭确认码）或所在网格的网格员可以确认",
                       "wrong code: only the resident who posted the wish (with its code) or "
                       "the grid's worker may confirm it")


def act_on(session: Session, who: Principal, wish_id: int, body: WishActionIn) -> WishOut:
    """Move the wish on by ``body.action`` if the caller may; committed."""
    check(who, f"wishes.{body.action}")
    row = _wish(session, wish_id, lock=True)
    scope = Scope(session, who)
    if not scope.may_read(row):
        raise not_found("心愿", "wish", wish_id)
    wish = store.to_domain(session, row)
    name = RESIDENT if who.role == "reporter" else who.name
    now = datetime.now(UTC)
    if body.action == "claim":
        check_allowed(wish, "claim")  # a claimed wish: 409 before the claimant is looked at
        v = _claimant(session, scope, row, body)
        act(wish, "claim", name, note=body.note, at=now, volunteer_id=v.id)
        row.team_id = v.team_id
    elif body.action in ("unclaim", "done"):
        _own_claim(scope, row)
        act(wish, body.action, name, note=body.note, at=now, hours=body.hours)
        if body.action == "unclaim":
            row.team_id = None
    else:
        check_allowed(wish, body.action)
        _resident(session, scope, row, wish, body)
        act(wish, body.action, name, note=body.note, at=now)
    store.save_domain(session, row, wish, who.token_id)
    session.flush()
    out = scope.out(row)
    session.commit()
    return out


# ---- the board -----------------------------------------------------------------------------

def board(session: Session, who: Principal, by: BoardBy, start: datetime | None,
          end: datetime | None, limit: int) -> BoardOut:
    """The micro-star board: per volunteer (named only with their consent, admins see every
    name), team or grid, over ``[start, end)``."""
    rows = session.execute(select(m.WishRow.id, m.WishRow.volunteer_id, m.WishRow.team_id,
                                  m.WishRow.grid_code, m.WishRow.status, m.WishRow.hours,
                                  m.WishRow.done_at, m.WishRow.confirmed_at)
                           .where(m.WishRow.status.in_(("done", "confirmed")))).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[
        "wish_id", "volunteer_id", "team_id", "grid_id", "stage", "hours", "done_at",
        "confirmed_at"])
    for column in ("done_at", "confirmed_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    table = micro_star_board(frame, by, start=start, end=end).head(limit)
    key = table.columns[0]
    names: dict = {}
    if by == "volunteer":
        names = {v.id: v.name if (v.consent_public_name or who.role == "admin") else None
                 for v in session.scalars(select(m.VolunteerRow).where(
                     m.VolunteerRow.id.in_([int(k) for k in table[key]])))}
    elif by == "team":
        names = {t.id: t.name for t in session.scalars(select(m.VolunteerTeamRow))}
    out = []
    for r in table.itertuples(index=False):
        k = getattr(r, key)
        k = int(k) if by != "grid" else str(k)
        out.append(BoardRow(key=str(k), name=names.get(k) if by != "grid" else str(k),
                            fulfilled=int(r.fulfilled), hours=float(r.hours),
                            awaiting=int(r.awaiting)))
    return BoardOut(by=by, start=start, end=end, rows=out)


def statistics(session: Session, by: WishStatsBy) -> WishStatistics:
    """Wishes per channel, category or grid, and the share entered for residents by an
    assisted channel (dispatch.channels.ASSISTED_CHANNELS)."""
    rows = session.execute(select(m.WishRow.id, m.WishRow.channel, m.WishRow.category,
                                  m.WishRow.grid_code, m.WishRow.status, m.WishRow.created_at,
                                  m.WishRow.confirmed_at)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=[
        "wish_id", "channel", "category", "grid_id", "stage", "posted_at", "confirmed_at"])
    table = wish_statistics(frame, by)
    key = table.columns[0]
    names = {"channel": CHANNEL_NAMES,
             "category": {k: v[:2] for k, v in CATEGORIES.items()}}.get(by, {})
    groups = []
    for r in table.to_dict("records"):
        k = None if pd.isna(r[key]) else str(r[key])
        name = names.get(k) if k is not None else None
        groups.append(WishStatsGroup(
            key=k, name=None if name is None else " ".join(name), wishes=r["wishes"],
            open=r["open"], confirmed=r["confirmed"], cancelled=r["cancelled"],
            median_confirm_h=None if pd.isna(r["median_confirm_h"])
            else float(r["median_confirm_h"])))
    share = (float(frame["channel"].isin(ASSISTED_CHANNELS).mean().round(3))
             if len(frame) else None)
    return WishStatistics(by=by, assisted_share=share, groups=groups)


# ---- maps ----------------------------------------------------------------------------------

MAP_STAGES = ("posted", "claimed", "done")  # open wishes
PUBLIC_STAGES = ("posted", "claimed")  # the public map: wishes still wanting or in hand


def _grids(session: Session) -> gpd.GeoDataFrame | None:
    plan = active_plan(session)
    if plan is None:
        return None
    grids = grids_frame(session, plan.id)
    return grids[["code", "households", "geometry"]] if len(grids) else None


def _options(session: Session, lang: str, basemaps: BasemapStore | None) -> MapOptions:
    """The map options: ``lang`` over the active plan's basemap (streets, water, buildings
    of the study area: no personal data), as api.services.maps draws its pages."""
    plan = active_plan(session)
    basemap = (basemaps.for_plan(session, plan.id)
               if basemaps is not None and plan is not None else None)
    return MapOptions(lang=lang, basemap=basemap or None)


def _board_lines(session: Session, who: Principal) -> list[tuple[str, int, float]]:
    rows = board(session, who, "volunteer", None, None, 10).rows
    return [(r.name or "志愿者 volunteer", r.fulfilled, r.hours) for r in rows if r.fulfilled]


def office_map_page(session: Session, who: Principal, lang: str,
                    basemaps: BasemapStore | None = None) -> str:
    """The open wishes for the office: exact points where the caller may see them (admins,
    the grid's worker), the grid's point otherwise."""
    scope = Scope(session, who)
    rows = list(session.scalars(select(m.WishRow).where(m.WishRow.status.in_(MAP_STAGES))
                                .order_by(m.WishRow.id)))
    views = [scope.out(r) for r in rows]
    frame = gpd.GeoDataFrame(
        {"wish_id": [v.id for v in views], "category": [v.category for v in views],
         "stage": [v.status for v in views], "grid_code": [v.grid_code for v in views]},
        geometry=[shapely.Point(v.exact_lon if v.exact_lon is not None else v.lon,
                                v.exact_lat if v.exact_lat is not None else v.lat)
                  for v in views], crs="EPSG:4326")
    return page_html(wishes_map(frame, grids=_grids(session), board=_board_lines(session, who),
                                options=_options(session, lang, basemaps)))


PUBLIC = Principal(token_id=0, role="public", name="public")


def public_map_page(session: Session, lang: str, basemaps: BasemapStore | None = None) -> str:
    """The public map: open wishes at their grid's representative point with category and
    stage only; the board with the names of those who consented."""
    rows = session.execute(select(m.WishRow.category, m.WishRow.status, m.WishRow.grid_code,
                                  m.WishRow.public_lon, m.WishRow.public_lat)
                           .where(m.WishRow.status.in_(PUBLIC_STAGES))
                           .order_by(m.WishRow.id)).all()
    frame = gpd.GeoDataFrame(
        {"wish_id": list(range(1, len(rows) + 1)),  # a count, not the stored id
         "category": [r.category for r in rows], "stage": [r.status for r in rows],
         "grid_code": [r.grid_code for r in rows]},
        geometry=[shapely.Point(r.public_lon, r.public_lat) for r in rows], crs="EPSG:4326")
    return page_html(wishes_map(frame, grids=_grids(session),
                                board=_board_lines(session, PUBLIC), public=True,
                                options=_options(session, lang, basemaps)))
