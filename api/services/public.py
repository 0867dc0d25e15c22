"""The public notice of a grid (网格公示), without login: what residents may know about it.

Only what a field marks public leaves this module: a worker's name when they consented
(``WorkerRow.publish_name``) and the phone number they chose to publish
(``WorkerRow.public_phone``, never ``phone``); party members of the grid's responsibility
zones who consented (``PartyMemberRow.publish_consent``: name and branch); the grid's code and
outline, its community, street and district; the month's public figures; the street office's
hotline and how to report (the QR posters of the buildings, api.services.posters, whose
report form key is never on a public page). Every page, JSON answer and poster is made from
:class:`api.schemas.PublicGridNotice`, so nothing else can reach them.

The month's public figures (:data:`DEFINITIONS`) are counted in SQL here, in one place, for a
grid or grouped by community, street or district through the one grid -> level join
(api.store.levels.grid_levels); months are Beijing-time calendar months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import geopandas as gpd
from sqlalchemy import Select, Subquery, and_, case, func, select
from sqlalchemy.orm import Session

import maps
from api.auth import Principal
from api.errors import ApiError, not_found
from api.schemas import (
    PublicGridNotice,
    PublicIndicatorGroup,
    PublicIndicators,
    PublicIndicatorTable,
    PublicPartyMember,
    PublicWorker,
)
from api.services.basemap import BasemapStore
from api.settings import Settings
from api.store.levels import grid_levels
from api.store.models import (
    AssignmentRow,
    CommunityRow,
    DistrictRow,
    GridRow,
    IncidentRow,
    IncidentStepRow,
    PartyMemberRow,
    PlanBuildingRow,
    PlanRow,
    StreetRow,
    WorkerRow,
)
from dispatch.incidents.rules import BEIJING

CACHE_SECONDS = 300  # public pages and posters may be cached this long
SCAN_BUILDING = ("扫描楼栋的二维码海报即可上报（无需下载应用或登录），也可请网格员代报 Scan the "
                 "QR poster of your building to report (no app, no login), or ask your grid "
                 "worker")
ROLE_NAMES = {"leader": "网格长 Grid leader", "worker": "网格员 Grid worker"}
DEFINITIONS = {
    "reported": "本月上报事件数：当月（北京时间）上报、落在该网格内的事件（含合并前的首报）"
                " / incidents first reported in the month (Beijing time) in the grid",
    "closed": "本月办结事件数：当月结案的事件 / incidents closed (结案) in the month",
    "closed_on_time": "按期办结数：本月办结中结案时间不晚于办结时限的事件 / of those, closed by "
                      "their deadline to close",
    "on_time_share": "按期办结率：按期办结数 ÷ 本月办结事件数（无办结时为空） / closed_on_time "
                     "divided by closed (empty when none closed)",
}
LEVEL_COLUMNS = {"grid": ("grid_code", "grid_code"), "community": ("community", "community_name"),
                 "street": ("street_code", "street_name"),
                 "district": ("district_code", "district_name")}


# ---- the month's public figures ------------------------------------------------------------

@dataclass(frozen=True)
class Month:
    """A Beijing-time calendar month: its label and its bounds in UTC [start, end)."""

    label: str
    start: datetime
    end: datetime


def month_of(text: str | None, now: datetime | None = None) -> Month:
    """The month ``YYYY-MM`` (None: the current one, Beijing time); 400 when malformed."""
    if text is None:
        local = (now or datetime.now(UTC)).astimezone(BEIJING)
        year, month = local.year, local.month
    else:
        try:
            year, month = (int(p) for p in text.split("-"))
            datetime(year, month, 1)
        except ValueError:
            raise ApiError(400, "bad_month", f"月份格式应为 YYYY-MM：{text}",
                           f"month must be YYYY-MM: {text!r}") from None
    start = datetime(year, month, 1, tzinfo=BEIJING)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=BEIJING)
    return Month(f"{year:04d}-{month:02d}", start.astimezone(UTC), end.astimezone(UTC))


def _closings() -> Subquery:
    """A subquery: each closed incident and when it was first closed (its 结案 step)."""
    return (select(IncidentStepRow.incident_id.label("incident_id"),
                   func.min(IncidentStepRow.at).label("closed_at"))
            .where(IncidentStepRow.action == "closed")
            .group_by(IncidentStepRow.incident_id)).subquery("closings")


def indicator_groups(session: Session, month: Month, by: str = "grid",
                     plan_id: int | None = None, communities: Select | None = None
                     ) -> list[PublicIndicatorGroup]:
    """The month's public figures of every grid of ``plan_id`` (default: the active plan)
    grouped ``by`` grid, community, street or district (api.store.levels.grid_levels), in
    two SQL queries; ``communities``: only the grids of these community codes. Incidents are
    counted in the group of their grid's code."""
    if plan_id is None:
        plan_id = session.scalar(select(PlanRow.id).where(PlanRow.status == "active"))
    levels = grid_levels(plan_id)
    key_name, label_name = LEVEL_COLUMNS[by]
    key, label = levels.c[key_name], levels.c[label_name]
    scope = [] if communities is None else [levels.c.community.in_(communities)]
    reported = dict(((k, n), c) for k, n, c in session.execute(
        select(key, label, func.count(IncidentRow.id))
        .join(levels, levels.c.grid_code == IncidentRow.grid_code)
        .where(IncidentRow.created_at >= month.start, IncidentRow.created_at < month.end,
               *scope)
        .group_by(key, label)))
    closings = _closings()
    on_time = func.sum(case((closings.c.closed_at <= IncidentRow.close_by, 1), else_=0))
    closed = {(k, n): (c, int(t or 0)) for k, n, c, t in session.execute(
        select(key, label, func.count(IncidentRow.id), on_time)
        .join(closings, closings.c.incident_id == IncidentRow.id)
        .join(levels, levels.c.grid_code == IncidentRow.grid_code)
        .where(and_(closings.c.closed_at >= month.start, closings.c.closed_at < month.end),
               *scope)
        .group_by(key, label))}
    groups = []
    for k, n in sorted(set(reported) | set(closed), key=lambda kn: (kn[0] is None, kn[0] or "")):
        done, in_time = closed.get((k, n), (0, 0))
        groups.append(PublicIndicatorGroup(
            level=by, code=k, name=n if by != "grid" else None, month=month.label,
            reported=reported.get((k, n), 0), closed=done, closed_on_time=in_time,
            on_time_share=round(in_time / done, 4) if done else None))
    return groups


def grid_indicators(session: Session, plan_id: int, code: str, month: Month) -> PublicIndicators:
    """The month's public figures of grid ``code`` of ``plan_id`` (zeros without incidents)."""
    one = select(GridRow.community).where(GridRow.plan_id == plan_id, GridRow.code == code)
    for g in indicator_groups(session, month, "grid", plan_id, one):
        if g.code == code:
            return PublicIndicators.model_validate(g.model_dump(include=set(
                PublicIndicators.model_fields)))
    return PublicIndicators(month=month.label, reported=0, closed=0, closed_on_time=0)


def indicator_table(session: Session, by: str, month_text: str | None,
                    communities: Select | None = None) -> PublicIndicatorTable:
    """``GET /public/indicators``: the month's figures grouped ``by`` a level."""
    month = month_of(month_text)
    return PublicIndicatorTable(month=month.label, by=by, definitions=DEFINITIONS,
                                groups=indicator_groups(session, month, by,
                                                        communities=communities))


# ---- the notice ----------------------------------------------------------------------------

def _active_grid(session: Session, code: str) -> tuple[PlanRow, GridRow]:
    plan = session.scalar(select(PlanRow).where(PlanRow.status == "active"))
    grid = None if plan is None else session.scalar(
        select(GridRow).where(GridRow.plan_id == plan.id, GridRow.code == code))
    if plan is None or grid is None:
        raise not_found("网格", "grid", code)
    return plan, grid


def page_url(base: str, code: str) -> str:
    """The public notice page of grid ``code``."""
    return f"{base}/public/grids/{quote(code, safe='')}"


def grid_notice(session: Session, settings: Settings, base: str, code: str,
                month_text: str | None = None) -> PublicGridNotice:
    """The public notice of grid ``code`` of the active plan (404 when there is none);
    ``base``: the site's address for the links (Settings.public_base_url wins)."""
    base = settings.public_base_url or base.rstrip("/")
    plan, grid = _active_grid(session, code)
    place = session.execute(
        select(CommunityRow.name, StreetRow.name, DistrictRow.name)
        .join(StreetRow, StreetRow.id == CommunityRow.street_id)
        .join(DistrictRow, DistrictRow.id == StreetRow.district_id)
        .where(CommunityRow.code == grid.community)).first()
    staff = session.execute(
        select(AssignmentRow.role, WorkerRow.name, WorkerRow.publish_name,
               WorkerRow.public_phone)
        .join(WorkerRow, WorkerRow.id == AssignmentRow.worker_id)
        .where(AssignmentRow.grid_id == grid.id)
        .order_by(AssignmentRow.role.desc()))  # the worker first, then the leader
    workers = [PublicWorker(role=role, role_name=ROLE_NAMES.get(role, role),
                            name=name if consent else None, public_phone=phone or None)
               for role, name, consent, phone in staff]
    members = [PublicPartyMember(name=name, branch=branch) for name, branch in session.execute(
        select(PartyMemberRow.name, PartyMemberRow.branch)
        .where(PartyMemberRow.grid_code == code, PartyMemberRow.publish_consent.is_(True))
        .order_by(PartyMemberRow.id))]
    return PublicGridNotice(
        code=grid.code, community=grid.community,
        community_name=place[0] if place else None, street_name=place[1] if place else None,
        district_name=place[2] if place else None, workers=workers, party_members=members,
        indicators=grid_indicators(session, plan.id, code, month_of(month_text)),
        hotline=settings.hotline, page_url=page_url(base, code),
        poster_url=f"{page_url(base, code)}/poster.pdf", attribution=plan.attribution)


def building_grid(session: Session, building_id: str) -> str:
    """The code of the active plan's grid holding building ``building_id`` (404 else)."""
    code = session.scalar(
        select(PlanBuildingRow.grid_code).join(PlanRow, PlanRow.id == PlanBuildingRow.plan_id)
        .where(PlanRow.status == "active", PlanBuildingRow.building_id == building_id))
    if code is None:
        raise not_found("建筑", "building", building_id)
    return code


def notice_title(notice: PublicGridNotice) -> str:
    """The notice's title: 网格公示 and the grid's code and community."""
    where = notice.community_name or notice.community or ""
    return f"网格公示 Grid notice {notice.code}" + (f" · {where}" if where else "")


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def notice_sections(notice: PublicGridNotice) -> list[maps.NoticeSection]:
    """What the page and the poster say, from the notice's public fields only."""
    place = " · ".join(p for p in (notice.district_name, notice.street_name,
                                   notice.community_name) if p)
    staff = [f"{w.role_name}：{w.name or '（未公示姓名 name not published）'}"
             + (f"  电话 Tel {w.public_phone}" if w.public_phone else "")
             for w in notice.workers]
    members = [m.name + (f"（{m.branch}）" if m.branch else "") for m in notice.party_members]
    i = notice.indicators
    report = [SCAN_BUILDING]
    if notice.hotline:
        report.insert(0, f"街道热线 Hotline: {notice.hotline}")
    return [
        maps.NoticeSection("网格 Grid", [f"网格编码 Grid code: {notice.code}"]
                           + ([f"所属 Part of: {place}"] if place else [])),
        maps.NoticeSection("网格员 Grid staff", staff or ["尚未配备 none assigned yet"]),
        maps.NoticeSection("党员责任区 Party members of the responsibility zones",
                           members or ["暂无公示 none published"]),
        maps.NoticeSection(f"{i.month} 公开指标 Public figures", [
            f"上报事件 Reported: {i.reported}", f"办结事件 Closed: {i.closed}",
            f"按期办结率 Closed on time: {_percent(i.on_time_share)}"]),
        maps.NoticeSection("如何上报 How to report", report,
                           links=[("打印公示海报 Printable poster (PDF)", notice.poster_url)]),
    ]


def grid_page(session: Session, settings: Settings, base: str, code: str,
              basemaps: BasemapStore | None) -> str:
    """``/public/grids/{code}``: the grid's outline over its dataset's basemap and the notice."""
    notice = grid_notice(session, settings, base, code)
    plan, grid = _active_grid(session, code)
    outline = gpd.GeoDataFrame({"code": [grid.code]}, geometry=[grid.geom], crs="EPSG:4326")
    basemap = basemaps.for_plan(session, plan.id) if basemaps is not None else None
    options = maps.MapOptions(lang="zh", basemap=basemap or None)
    return maps.page_html(maps.grid_notice_map(outline, notice_sections(notice),
                                               title=notice_title(notice), options=options))


# ---- posters -------------------------------------------------------------------------------

def _poster(notice: PublicGridNotice, title: str, subtitle: str, codes: list) -> bytes:
    from maps.poster import poster_pdf  # fpdf2 loads only for posters

    sections = [s for s in notice_sections(notice) if not s.heading.startswith("如何上报")]
    how = ([f"街道热线 Hotline: {notice.hotline}"] if notice.hotline else [])
    if len(codes) > 1:
        how.append("扫描右侧二维码上报，楼栋已填好，无需下载应用或登录 Scan the code on the "
                   "right to report: the building is filled in, no app, no login")
    else:
        how.append(SCAN_BUILDING)
    sections.append(maps.NoticeSection("如何上报 How to report", how))
    footer = "公示信息经本人同意 Names and numbers published with consent"
    if notice.attribution:
        footer += f" · {notice.attribution}"
    return poster_pdf(title, subtitle, sections, codes, footer=footer)


def grid_poster(session: Session, settings: Settings, base: str, code: str) -> bytes:
    """``/public/grids/{code}/poster.pdf``: the grid's A4 notice with a QR code to its page
    (public: it holds what the page holds, and no report form key)."""
    from maps.poster import PosterCode

    notice = grid_notice(session, settings, base, code)
    where = " · ".join(p for p in (notice.street_name, notice.community_name) if p)
    return _poster(notice, "网格公示 Grid Notice", f"网格 Grid {notice.code}"
                   + (f"  {where}" if where else ""),
                   [PosterCode("扫码查看网格公示 Scan for this notice", notice.page_url)])


def building_poster(session: Session, settings: Settings, who: Principal, base: str,
                    building_id: str) -> bytes:
    """``/posters/buildings/{building_id}/notice.pdf``: the notice of a building's grid with
    a second QR code, the building's report form (api.services.posters: its key lets only a
    printed poster open the form, so this poster is for the office and the grid's worker,
    never public). 404 for a building in no grid of the active plan, 403 for a worker not
    serving its grid or a street's staff outside their communities."""
    from api.services.grids import check_grid_in_scope, own_grid_ids
    from api.services.posters import active_building
    from api.services.posters import report_url as form_url
    from maps.poster import PosterCode

    building = active_building(session, building_id)
    if building is None or building.grid_code is None:
        raise not_found("启用方案中网格内的楼栋", "building in a grid of the active plan",
                        building_id)
    grid = session.scalar(select(GridRow).where(GridRow.plan_id == building.plan_id,
                                                GridRow.code == building.grid_code))
    if grid is None:
        raise not_found("网格", "grid", building.grid_code)
    if who.role == "worker" and grid.id not in own_grid_ids(session, who, grid.plan_id):
        raise ApiError(403, "forbidden", "网格员只能打印本人网格内楼栋的海报",
                       "a worker may print the posters of the buildings in their own grids "
                       "only")
    check_grid_in_scope(session, who, grid)
    notice = grid_notice(session, settings, base, grid.code)
    base = settings.public_base_url or base.rstrip("/")
    return _poster(notice, "楼栋公示 Building Notice",
                   f"楼栋 Building {building_id} · 网格 Grid {notice.code}",
                   [PosterCode("扫码查看网格公示 Scan for this notice", notice.page_url),
                    PosterCode("扫码上报事件 Scan to report", form_url(base, settings,
                                                                       building_id))])
