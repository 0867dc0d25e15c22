"""The indicators (dispatch.incidents.indicators) computed in the database, per level and period.

Every figure is one SQL query grouped by the level's key and the period's bucket (SQLAlchemy
Core, the same statements on SQLite and PostgreSQL/PostGIS): counts with ``SUM(CASE ...)``;
medians and 90th percentiles with PostgreSQL's ``percentile_cont`` and, on SQLite (which has
none), with window functions (``ROW_NUMBER`` and ``COUNT`` over the group, ordered by the
duration) interpolating between the two nearest rows as ``percentile_cont`` does. Nothing is
looped over in Python but the result rows.

Levels: ``grid`` (the incident's grid code), ``worker`` (the grid worker assigned to the
incident's grid in the incident's plan), ``community`` (the grid's community); ``street`` and
``district`` come from the administrative areas' tables when the service has them
(:func:`area_levels`), else :class:`LevelNotConfiguredError`.

Periods are Beijing days, ISO weeks (from Monday) and months, or one custom bucket; a bucket
is named by its first day (``YYYY-MM-DD``). Times are stored in UTC: a bucket is the UTC time
plus 8 hours (Beijing has no daylight saving time), truncated.

The incidents read are those reported in ``[start, end)``; their state is as of ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql import ColumnElement, FromClause, Select

from api.store import models as m
from dispatch.incidents.indicators import BY_KEY, LEVELS, PERIODS, rates
from dispatch.incidents.lifecycle import OPEN_STAGES
from dispatch.incidents.rules import BEIJING
from gis.errors import ArgumentError

BEIJING_OFFSET_H = 8
I = m.IncidentRow  # noqa: E741 (short alias in the statements)
G = m.GridRow
A = m.AssignmentRow


Expr = ColumnElement[Any] | QueryableAttribute[Any]  # a column, or an expression of columns


class LevelNotConfiguredError(ArgumentError):
    """A level (street, district) whose areas the service does not have."""


@dataclass(frozen=True)
class Query:
    """What to compute: the level, the period's bucketing, ``[start, end)`` in UTC, the time
    the state is read at, an optional worker whose grids only are counted, and optional
    communities (a subquery of their codes, api.services.scope: a street's staff) whose grids
    only are counted."""

    level: str
    period: str
    start: datetime
    end: datetime
    as_of: datetime
    worker_id: int | None = None
    communities: Any = None


def beijing_range(first: date, last: date) -> tuple[datetime, datetime]:
    """``[first 00:00, last + 1 day 00:00)`` Beijing time, as UTC datetimes."""
    start = datetime.combine(first, time(0), BEIJING).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), BEIJING).astimezone(UTC)
    return start, end


# ---- dialect-aware pieces --------------------------------------------------------------------

def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def bucket(column: Expr, period: str, dialect: str, start: datetime) -> ColumnElement:
    """The first day (``YYYY-MM-DD``, Beijing) of the ``period`` holding ``column`` (a UTC
    time): day, week (from Monday), month; ``custom``: the range's first day."""
    if period == "custom":
        return literal(start.astimezone(BEIJING).date().isoformat(), String)
    if dialect == "sqlite":
        shift = f"+{BEIJING_OFFSET_H} hours"
        if period == "day":
            return func.strftime("%Y-%m-%d", column, shift)
        if period == "month":
            return func.strftime("%Y-%m-01", column, shift)
        return func.date(column, shift, "weekday 0", "-6 days")  # the Monday on or before
    # constants inlined, not bound: PostgreSQL matches the GROUP BY expression to the column's
    local = func.timezone(literal_column("'UTC'"), column) + literal_column(
        f"interval '{BEIJING_OFFSET_H} hours'")
    return func.to_char(func.date_trunc(literal_column(f"'{period}'"), local),
                        literal_column("'YYYY-MM-DD'"))


def hours_between(end: Expr, begin: Expr, dialect: str) -> ColumnElement:
    """Hours from ``begin`` to ``end`` (two stored times)."""
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(begin)) * 24.0
    return func.extract("epoch", end - begin) / 3600.0


# ---- levels ------------------------------------------------------------------------------------

#: Providers of the street and district of a community, registered by the module that keeps
#: the administrative areas (a function of the session giving a selectable with columns
#: ``community``, ``street``, ``street_name``, ``district``, ``district_name``), or None.
AREA_LEVELS: list[Callable[[Session], Any]] = []


def area_levels(session: Session) -> Any | None:
    """The community -> street -> district table, when the service has one."""
    for provider in AREA_LEVELS:
        table = provider(session)
        if table is not None:
            return table
    return None


def _not_configured(level: str) -> LevelNotConfiguredError:
    names = {"street": ("街道", "street"), "district": ("区", "district")}[level]
    return LevelNotConfiguredError(
        f"未配置{names[0]}层级：服务中尚无社区所属的{names[0]}记录，请先导入行政区划"
        "（可用层级：grid、worker、community）",
        f"the {names[1]} level is not configured: the service has no record of which "
        f"{names[1]} each community belongs to; import the administrative areas first "
        "(available: grid, worker, community)")


def _scoped(query: Query, session: Session) -> tuple[FromClause, Expr, Expr]:
    """The FROM (incidents and what the level needs), the key and its display name."""
    joined: FromClause = I.__table__
    if query.level != "grid" or query.worker_id is not None or query.communities is not None:
        joined = (joined
                  .outerjoin(G.__table__, and_(G.plan_id == I.plan_id, G.code == I.grid_code))
                  .outerjoin(A.__table__, and_(A.grid_id == G.id, A.role == "worker")))
    key: Expr
    name: Expr
    if query.level == "grid":
        key, name = I.grid_code, I.grid_code
    elif query.level == "worker":
        joined = joined.outerjoin(m.WorkerRow.__table__, m.WorkerRow.id == A.worker_id)
        key, name = cast(A.worker_id, String), m.WorkerRow.name
    elif query.level == "community":
        key, name = G.community, G.community
    else:
        areas = area_levels(session)
        if areas is None:
            raise _not_configured(query.level)
        areas = areas.subquery("areas")
        joined = joined.outerjoin(areas, areas.c.community == G.community)
        key, name = areas.c[query.level], areas.c[f"{query.level}_name"]
    return joined, key, name


def _where(query: Query) -> list[ColumnElement]:
    start = literal(query.start.astimezone(UTC), DateTime(timezone=True))
    end = literal(query.end.astimezone(UTC), DateTime(timezone=True))
    conditions = [I.created_at >= start, I.created_at < end]
    if query.worker_id is not None:
        conditions.append(A.worker_id == query.worker_id)
    if query.communities is not None:
        conditions.append(G.community.in_(query.communities))
    return conditions


def _count(condition: ColumnElement) -> ColumnElement:
    return func.sum(case((condition, 1), else_=0))


def _ratings() -> Any:
    """Per incident with ratings: how many of each (one row an incident)."""
    rating = m.FeedbackRow.rating
    return (select(m.FeedbackRow.incident_id.label("incident_id"),
                   func.count().label("ratings"),
                   _count(rating == "satisfied").label("satisfied"),
                   _count(rating == "basic").label("basic"),
                   _count(rating == "unsatisfied").label("unsatisfied"))
            .group_by(m.FeedbackRow.incident_id).subquery("rated"))


QUANTILES = ((0.5, "median"), (0.9, "p90"))


# ---- the statement -----------------------------------------------------------------------------

def indicators_statement(query: Query, session: Session) -> Select:
    """One row per key and bucket with every count and the ratings; on PostgreSQL also the
    median and 90th percentile of the hours to accept and to close (``percentile_cont``),
    on SQLite those come from :func:`percentile_statement`."""
    dialect = _dialect(session)
    joined, key, name = _scoped(query, session)
    rated = _ratings()
    joined = joined.outerjoin(rated, rated.c.incident_id == I.id)
    now = literal(query.as_of.astimezone(UTC), DateTime(timezone=True))
    is_open = I.status.in_(sorted(OPEN_STAGES))
    hours = {"accept": hours_between(I.accepted_at, I.created_at, dialect),
             "close": hours_between(I.closed_at, I.created_at, dialect)}
    period = bucket(I.created_at, query.period, dialect, query.start)
    per_incident = [
        key.label("key"), name.label("name"), period.label("period"),
        I.accepted_at.is_not(None).label("is_accepted"),
        (I.accepted_at <= I.accept_by).label("accepted_in_time"),
        and_(I.status == "reported", I.accept_by < now).label("not_accepted_late"),
        (I.status == "closed").label("is_closed"),
        and_(I.status == "closed", I.closed_at <= I.close_by).label("closed_in_time"),
        and_(is_open, or_(and_(I.status == "reported", I.accept_by < now),
                          and_(I.status != "reported", I.close_by < now))).label("late"),
        (I.reopened > 0).label("was_reopened"),
        or_(I.status == "closed", I.reopened > 0).label("was_closed"),
        I.escalated_to.is_not(None).label("was_escalated"),
        *(func.coalesce(rated.c[k], 0).label(k)
          for k in ("ratings", "satisfied", "basic", "unsatisfied")),
        hours["accept"].label("accept_h"), hours["close"].label("close_h")]
    base = select(*per_incident).select_from(joined).where(*_where(query)).subquery("base")
    c = base.c
    columns = [c.key, func.max(c.name).label("name"), c.period,
               func.count().label("received"),
               _count(c.is_accepted).label("accepted"),
               _count(c.accepted_in_time).label("accepted_on_time"),
               _count(c.not_accepted_late).label("accept_overdue"),
               _count(c.is_closed).label("closed"),
               _count(c.closed_in_time).label("closed_on_time"),
               _count(c.late).label("open_overdue"),
               _count(c.was_reopened).label("reopened"),
               _count(c.was_closed).label("closed_ever"),
               _count(c.was_escalated).label("escalated"),
               *(func.sum(c[k]).label(k)
                 for k in ("ratings", "satisfied", "basic", "unsatisfied"))]
    if dialect == "postgresql":
        for metric in hours:
            for q, label in QUANTILES:
                columns.append(func.percentile_cont(q).within_group(c[f"{metric}_h"])
                               .label(f"{metric}_h_{label}"))
    return select(*columns).group_by(c.key, c.period)


def percentile_statement(query: Query, session: Session, metric: str) -> Select:
    """SQLite, which has no ``percentile_cont``: one row per key and bucket with the median
    and 90th percentile of the hours to accept (``metric`` "accept") or to close ("close").
    The durations are numbered within their group (``ROW_NUMBER`` and ``COUNT`` over it),
    then the two rows around each quantile are weighed as ``percentile_cont`` interpolates.
    Narrow rows: only the key, the bucket and the duration are sorted."""
    dialect = _dialect(session)
    joined, key, _ = _scoped(query, session)
    done = I.accepted_at if metric == "accept" else I.closed_at
    hours = hours_between(done, I.created_at, dialect)
    period = bucket(I.created_at, query.period, dialect, query.start)
    inner = (select(key.label("key"), period.label("period"), hours.label("v"))
             .select_from(joined).where(*_where(query), done.is_not(None)).subquery("d"))
    ranked = select(inner.c.key, inner.c.period, inner.c.v,
                    (func.row_number().over(partition_by=(inner.c.key, inner.c.period),
                                            order_by=inner.c.v) - 1).label("rn"),
                    func.count().over(partition_by=(inner.c.key, inner.c.period))
                    .label("n")).subquery("ranked")
    columns = []
    for q, label in QUANTILES:
        pos = literal(q, Float) * (ranked.c.n - 1)
        lo = cast(pos, Integer)  # SQLite truncates towards 0: the floor of a position >= 0
        frac = pos - lo
        columns.append(func.sum(case((ranked.c.rn == lo, ranked.c.v * (1 - frac)),
                                     (ranked.c.rn == lo + 1, ranked.c.v * frac), else_=0.0))
                       .label(f"{metric}_h_{label}"))
    return (select(ranked.c.key, ranked.c.period, *columns)
            .group_by(ranked.c.key, ranked.c.period))


#: Figures from other parts of the service (patrol coverage, visits done), registered by the
#: modules that own them: (indicator key, function of (session, query) giving rows of
#: (key, period, value)), or None when that data does not exist in this service.
EXTRA_FIGURES: list[tuple[str, Callable[[Session, Query], list[tuple] | None]]] = []


def compute(session: Session, query: Query) -> tuple[list[dict], list[str]]:
    """The indicators of ``query``: one dict per key and bucket (sorted by period, then key)
    with every count, rate and duration; and the keys of the optional figures present.

    Raises:
        LevelNotConfiguredError: street or district without administrative areas.
        ArgumentError: an unknown level or period.
    """
    if query.level not in LEVELS:
        raise ArgumentError(f"未知层级 {query.level!r}（可用：{', '.join(LEVELS)}）",
                            f"unknown level {query.level!r} (one of {', '.join(LEVELS)})")
    if query.period not in PERIODS:
        raise ArgumentError(f"未知周期 {query.period!r}（可用：{', '.join(PERIODS)}）",
                            f"unknown period {query.period!r} (one of {', '.join(PERIODS)})")
    rows: dict[tuple, dict] = {}
    counts = ("key", "name", "period", "accept_h_median", "accept_h_p90", "close_h_median",
              "close_h_p90")
    for r in session.execute(indicators_statement(query, session)).mappings():
        row = {k: (v if k in counts or v is None else int(v)) for k, v in r.items()}
        rows[(r["key"], r["period"])] = row
    if _dialect(session) == "sqlite":
        for metric in ("accept", "close"):
            for r in session.execute(percentile_statement(query, session, metric)).mappings():
                if (target := rows.get((r["key"], r["period"]))) is not None:
                    target.update({k: v for k, v in r.items() if k not in ("key", "period")})
    for row in rows.values():
        for k in counts[3:]:
            row[k] = None if row.get(k) is None else float(row[k])
    extras = []
    for indicator, figures in EXTRA_FIGURES:
        values = figures(session, query)
        if values is None:
            continue
        extras.append(indicator)
        if BY_KEY[indicator].unit == "count":  # none counted in a row: 0, not unknown
            for row in rows.values():
                row[indicator] = 0
        for key, period, value in values:
            target = rows.get((key, period))
            if target is not None:
                target[indicator] = value
    out = []
    for row in rows.values():
        row.update(rates(row))
        out.append(row)
    out.sort(key=lambda r: (r["period"], r["key"] is None, str(r["key"])))
    return out, extras


def has_table(session: Session, name: str) -> bool:
    """Whether the store has table ``name`` (figures that appear when their table exists)."""
    return inspect(session.get_bind()).has_table(name)


def visits_done(session: Session, query: Query) -> list[tuple] | None:
    """Household visits done (the periodic visits, api.store.visits) per key and bucket of
    their time, in SQL; None when the store has no visits table. A visit counts for its grid,
    the worker who recorded it, and the grid's community (street, district)."""
    if not has_table(session, m.VisitDoneRow.__tablename__):
        return None
    dialect = _dialect(session)
    V = m.VisitDoneRow  # noqa: N806
    joined: FromClause = V.__table__.outerjoin(
        G.__table__, and_(G.plan_id == V.plan_id, G.code == V.grid_code))
    key: Expr
    if query.level == "grid":
        key = V.grid_code
    elif query.level == "worker":
        key = cast(V.worker_id, String)
    elif query.level == "community":
        key = G.community
    else:
        areas = area_levels(session)
        if areas is None:
            raise _not_configured(query.level)
        areas = areas.subquery("areas")
        joined = joined.outerjoin(areas, areas.c.community == G.community)
        key = areas.c[query.level]
    start = literal(query.start.astimezone(UTC), DateTime(timezone=True))
    end = literal(query.end.astimezone(UTC), DateTime(timezone=True))
    where = [V.done_at >= start, V.done_at < end]
    if query.worker_id is not None:
        where.append(V.worker_id == query.worker_id)
    if query.communities is not None:
        where.append(G.community.in_(query.communities))
    period = bucket(V.done_at, query.period, dialect, query.start)
    statement = (select(key.label("key"), period.label("period"), func.count().label("n"))
                 .select_from(joined).where(*where).group_by("key", "period"))
    return [(r.key, r.period, int(r.n)) for r in session.execute(statement)]


EXTRA_FIGURES.append(("visits_done", visits_done))
