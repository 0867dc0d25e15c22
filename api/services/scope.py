"""What part of the area a caller may see: the one place that scopes by community.

A token limited to a street (an admin or planner of a street office, api.auth) sees only the
communities of that street; any caller may also ask for one level (``?level=street&code=
320106001``: a community, a street by its 9-digit code, a district by its 6-digit GB/T 2260
code). :func:`visible_communities` gives the codes of the communities both allow, as a
subquery, or None for no limit; the clauses below apply it to grids, buildings, incidents,
party members and workers, and the grids, incidents, maps, OGC and workers services use them.

Grid codes are their community's code and a 3-digit sequence (partition.plan), but the scope
goes through the grids' ``community`` column, never through the code's text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.store.levels import LEVELS, community_codes, level_exists, street_community_codes
from api.store.models import AssignmentRow, CommunityRow, GridRow, PlanRow

LEVEL_ZH = {"community": "社区", "street": "街道", "district": "区县"}


@dataclass(frozen=True)
class LevelFilter:
    """A level asked for: ``level`` (community, street, district) and its ``code``."""

    level: str
    code: str


def level_filter(session: Session, level: str | None, code: str | None) -> LevelFilter | None:
    """The level of a request's ``level`` and ``code`` parameters (None without them); 400
    when one comes without the other or the level is unknown, 404 for an unknown code."""
    if level is None and code is None:
        return None
    if level is None or code is None or level not in LEVELS:
        raise ApiError(400, "bad_level", "层级参数应为 level=community|street|district 和 code",
                       "give level=community|street|district together with code")
    if not level_exists(session, level, code):
        raise not_found(LEVEL_ZH[level], level, code)
    return LevelFilter(level, code)


def visible_communities(who: Principal | None, asked: LevelFilter | None = None
                        ) -> Select | None:
    """A subquery of the codes of the communities ``who`` may see and asked for; None when
    neither limits them (then grids of communities not in the levels count too)."""
    street = who.street_id if who is not None else None
    if street is None and asked is None:
        return None
    query = select(CommunityRow.code)
    if street is not None:
        query = query.where(CommunityRow.code.in_(street_community_codes(street)))
    if asked is not None:
        query = query.where(CommunityRow.code.in_(community_codes(asked.level, asked.code)))
    return query


def grids_clause(codes: Select | None):
    """A WHERE clause on GridRow: grids of the communities ``codes`` (None: no clause)."""
    return None if codes is None else GridRow.community.in_(codes)


def grid_codes_of(codes: Select) -> Select:
    """A subquery of the grid codes of the communities ``codes`` (in every plan: a grid code
    names its community whatever the plan)."""
    return select(GridRow.code).where(GridRow.community.in_(codes))


def by_grid_code(column, codes: Select | None):
    """A WHERE clause on a ``grid_code`` column (incidents, party members): rows in the grids
    of the communities ``codes`` (None: no clause). Rows in no grid are outside every scope."""
    return None if codes is None else column.in_(grid_codes_of(codes))


def workers_clause(worker_id_column, codes: Select | None):
    """A WHERE clause on a worker id column: workers assigned to a grid of the communities
    ``codes`` in the active plan (None: no clause)."""
    if codes is None:
        return None
    active = select(PlanRow.id).where(PlanRow.status == "active")
    return worker_id_column.in_(
        select(AssignmentRow.worker_id).join(GridRow, GridRow.id == AssignmentRow.grid_id)
        .where(AssignmentRow.plan_id.in_(active), GridRow.community.in_(codes)))


def check_worker(session: Session, who: Principal | None, worker_id: int | None) -> None:
    """403 for a street's staff asking for a worker who serves no grid of its communities
    in the active plan (their record, routes and route map)."""
    from api.store.models import WorkerRow

    scoped = workers_clause(WorkerRow.id, visible_communities(who))
    if scoped is not None and (worker_id is None or session.scalar(
            select(WorkerRow.id).where(WorkerRow.id == worker_id, scoped)) is None):
        raise out_of_scope("网格员", "worker")


def out_of_scope(what_zh: str, what_en: str) -> ApiError:
    """The 403 of a record outside the caller's street."""
    return ApiError(403, "forbidden", f"该{what_zh}不在您所辖街道的社区内",
                    f"this {what_en} is outside the communities of your street")


def where(*clauses) -> list:
    """The clauses that are not None (for ``query.where(*where(...))``)."""
    return [c for c in clauses if c is not None]
