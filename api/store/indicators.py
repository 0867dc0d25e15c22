"""The indicators (dispatch.incidents.indicators) computed in the database, per level and period.

The figures of the incidents are one SQL statement grouped by the level's key and the period's
bucket (SQLAlchemy Core, the same statement on SQLite and PostgreSQL/PostGIS), the residents'
ratings a second one (:func:`indicators_statement`, :func:`ratings_statement`): counts with
``count(*) FILTER (WHERE ...)``; medians and 90th percentiles with PostgreSQL's
``percentile_cont`` of an array (both quantiles from one sort) and, on SQLite (which has none
before 3.47), with the aggregate :class:`QuantilesCont` registered on the connection, which
interpolates between the two nearest values as ``percentile_cont`` does. Nothing is looped
over in Python but the result rows (and, on SQLite, the aggregate's step per duration).

Speed (issue #17: 100,000 incidents in <= 1 s; bench/indicators_bench.py): one pass over the
range. On SQLite the index ``ix_incidents_indicators`` holds every column read, so the
incidents are read from the index alone, and ``ix_incident_feedback_rating`` the ratings;
PostgreSQL groups by the bucket's first moment (a timestamp) and names it afterwards. The
levels above the grid join one small subquery of the grids (:func:`_grid_levels`) rather than
grids, assignments and workers one by one (PostgreSQL without statistics chose a nested loop
over them: 1.3-3 s instead of 0.3 s). That is how days and weeks are computed. Months and
custom periods are read from the indicator cells (api.store.indicator_cells: per grid and
month, 3,600 cells for 100,000 incidents a year, with every duration kept so the percentiles
stay exact; a summary per grid and day would not do: about 65,000 grid-days, nearly a row an
incident); :func:`compute` ``cells=False`` counts them from the incidents, the same figures.

Levels: ``grid`` (the incident's grid code), ``worker`` (the grid worker assigned to the
incident's grid in the incident's plan), ``community`` (the grid's community); ``street`` and
``district`` come from the administrative areas' tables when the service has them
(:func:`area_levels`), else :class:`LevelNotConfiguredError`.

Periods are Beijing days, ISO weeks (from Monday) and months, or one custom bucket; a bucket
is named by its first day (``YYYY-MM-DD``). Times are stored in UTC: a bucket is the UTC time
plus 8 hours (Beijing has no daylight saving time), truncated (on SQLite to the second first:
its date functions round to the millisecond).

The incidents read are those reported in ``[start, end)``; their state is as of ``as_of``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    LargeBinary,
    String,
    and_,
    cast,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.elements import Grouping

from api.store import models as m
from dispatch.incidents.indicators import (
    BY_KEY,
    LEVELS,
    PERIODS,
    percentile_of_sorted,
    rates,
)
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
    return _bucket_name(_bucket_key(column, period, dialect, start), period, dialect)


def _bucket_key(column: Expr, period: str, dialect: str, start: datetime) -> ColumnElement:
    """What to group by for :func:`bucket`: on SQLite the day's name itself; on PostgreSQL
    the period's first moment (a timestamp, cheaper to compute and sort than its name)."""
    if period == "custom":
        return literal(start.astimezone(BEIJING).date().isoformat(), String)
    if dialect == "sqlite":
        shift = f"+{BEIJING_OFFSET_H} hours"
        # to the second: SQLite's date functions round to the millisecond, which would put
        # a time less than half a millisecond before midnight into the next day
        second = func.substr(column, 1, 19)
        if period == "day":
            return func.strftime("%Y-%m-%d", second, shift)
        if period == "month":
            return func.strftime("%Y-%m-01", second, shift)
        return func.date(second, shift, "weekday 0", "-6 days")  # the Monday on or before
    # constants inlined, not bound: PostgreSQL matches the GROUP BY expression to the column's
    local = func.timezone(literal_column("'UTC'"), column) + literal_column(
        f"interval '{BEIJING_OFFSET_H} hours'")
    return func.date_trunc(literal_column(f"'{period}'"), local)


def _bucket_name(key: Expr, period: str, dialect: str) -> ColumnElement:
    """The ``YYYY-MM-DD`` name of a :func:`_bucket_key`."""
    if period == "custom" or dialect == "sqlite":
        return key  # type: ignore[return-value]
    return func.to_char(key, literal_column("'YYYY-MM-DD'"))


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


def _grid_levels(query: Query) -> Any:
    """Per grid of every plan (300-odd rows, not one an incident): its plan and code, its
    community and, when the level or the scope needs it, the worker assigned to it (at most
    one: assignments are unique by plan, grid and role) and their name. Joined to the
    incidents once, so that the planner joins a small table (PostgreSQL: a hash join even
    without statistics, where grids, assignments and workers joined one by one to the
    incidents could become a nested loop; SQLite: one index lookup an incident)."""
    columns: list[Any] = [G.plan_id.label("plan_id"), G.code.label("code"),
                          G.community.label("community")]
    grids: FromClause = G.__table__
    if query.level == "worker" or query.worker_id is not None:
        grids = (grids.outerjoin(A.__table__, and_(A.grid_id == G.id, A.role == "worker"))
                 .outerjoin(m.WorkerRow.__table__, m.WorkerRow.id == A.worker_id))
        columns += [A.worker_id.label("worker_id"), m.WorkerRow.name.label("worker_name")]
    return select(*columns).select_from(grids).subquery("grid_levels")


def in_range(query: Query) -> list[ColumnElement]:
    """The incidents reported in ``[query.start, query.end)``."""
    return [I.created_at >= literal(query.start.astimezone(UTC), DateTime(timezone=True)),
            I.created_at < literal(query.end.astimezone(UTC), DateTime(timezone=True))]


def _scoped(query: Query, session: Session, base: FromClause | None = None,
            plan: Expr = I.plan_id, grid: Expr = I.grid_code, grid_key: Expr | None = None,
            ) -> tuple[FromClause, Expr, Expr, list[ColumnElement]]:
    """The FROM (incidents, or ``base`` holding them or their cells), the key, its display
    name, and the conditions of the scope. ``plan`` and ``grid``: the plan and grid code
    columns of ``base`` the grids are joined on; ``grid_key``: the grid level's key (default
    ``grid``)."""
    joined: FromClause = I.__table__ if base is None else base
    where: list[ColumnElement] = []
    key: Expr = grid if grid_key is None else grid_key
    name: Expr = key
    if query.level == "grid" and query.worker_id is None and query.communities is None:
        return joined, key, name, where
    levels = _grid_levels(query)
    joined = joined.outerjoin(levels, and_(levels.c.plan_id == plan, levels.c.code == grid))
    if query.worker_id is not None:
        where.append(levels.c.worker_id == query.worker_id)
    if query.communities is not None:
        where.append(levels.c.community.in_(query.communities))
    if query.level == "worker":
        key, name = cast(levels.c.worker_id, String), levels.c.worker_name
    elif query.level == "community":
        key, name = levels.c.community, levels.c.community
    elif query.level != "grid":
        areas = area_levels(session)
        if areas is None:
            raise _not_configured(query.level)
        areas = areas.subquery("areas")
        joined = joined.outerjoin(areas, areas.c.community == levels.c.community)
        key, name = areas.c[query.level], areas.c[f"{query.level}_name"]
    return joined, key, name, where


QUANTILES = ((0.5, "median"), (0.9, "p90"))
SQLITE_QUANTILES = "quantiles_cont"


class QuantilesCont:
    """SQLite aggregate ``quantiles_cont(value)``: the median and 90th percentile
    (:data:`QUANTILES`) of the non-null values of a group, interpolating linearly between the
    two nearest values as PostgreSQL's ``percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER
    BY value)`` does (dispatch.incidents.indicators.percentile, the reference); as the
    quantiles packed (:func:`encode_quantiles`, exact), NULL for no values. SQLite, which has no
    ``percentile_cont`` before 3.47 (and then only when built with it), calls :meth:`step`
    once a row of the GROUP BY and :meth:`finalize` once a group: both quantiles in one
    aggregate, one call a row instead of two."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        """Take one row's value (None: left out)."""
        if value is not None:
            self.values.append(value)

    def finalize(self) -> bytes | None:
        """The quantiles of the values taken (:func:`encode_quantiles`); None when there
        were none."""
        if not self.values:
            return None
        self.values.sort()
        return encode_quantiles(self.values)


#: The quantiles as SQLite's aggregates give them: little-endian doubles (exact, and read
#: back without parsing text).
PACKED_QUANTILES = struct.Struct("<" + "d" * len(QUANTILES))


def encode_quantiles(ordered: Sequence[float]) -> bytes:
    """The :data:`QUANTILES` of sorted values (at least one), packed."""
    return PACKED_QUANTILES.pack(*(percentile_of_sorted(ordered, q) for q, _ in QUANTILES))


def register_sqlite_functions(session: Session) -> None:
    """Give the session's SQLite connection :class:`QuantilesCont` (cheap, idempotent)."""
    raw = session.connection().connection.dbapi_connection
    raw.create_aggregate(SQLITE_QUANTILES, 1, QuantilesCont)  # type: ignore[union-attr]


def _quantiles(value: ColumnElement, dialect: str) -> ColumnElement:
    """The :data:`QUANTILES` of ``value`` over a group: PostgreSQL's ``percentile_cont`` of
    an array (one sort for both), an array of floats; SQLite's :class:`QuantilesCont`, bytes
    (:func:`_decode_quantiles` reads either)."""
    if dialect == "postgresql":
        array = f"ARRAY[{', '.join(str(q) for q, _ in QUANTILES)}]"
        fractions: ColumnElement = literal_column(array)
        return func.percentile_cont(fractions).within_group(value)
    return getattr(func, SQLITE_QUANTILES)(value, type_=LargeBinary)


def quantile_columns(quantiles: ColumnElement, metric: str,
                     dialect: str) -> list[ColumnElement]:
    """The columns of :func:`_quantiles`' answer: PostgreSQL, one float a quantile
    (``{metric}_h_median``, ``{metric}_h_p90``; the array's elements, cheaper to read than
    the array); SQLite, the packed quantiles as ``{metric}_h_q`` (:func:`read_rows` unpacks
    them)."""
    if dialect != "postgresql":
        return [quantiles.label(f"{metric}_h_q")]
    array = type_coerce(Grouping(quantiles), postgresql.ARRAY(postgresql.DOUBLE_PRECISION))
    return [array[k + 1].label(f"{metric}_h_{name}") for k, (_, name) in enumerate(QUANTILES)]


def _decode_quantiles(value: Any) -> Sequence[float | None]:
    """:func:`_quantiles`' answer (PostgreSQL: a list; SQLite: :func:`encode_quantiles`'
    bytes; None for no values) as floats, one a quantile."""
    if value is None:
        return [None] * len(QUANTILES)
    if isinstance(value, bytes):
        return PACKED_QUANTILES.unpack(value)
    return [float(v) for v in value]


# ---- the statements ----------------------------------------------------------------------------

def _group(query: Query, key: Expr, bucket_key: ColumnElement) -> list[Any]:
    # a custom period has one bucket, a constant: not grouped by (PostgreSQL refuses
    # constants in GROUP BY)
    return [key] if query.period == "custom" else [key, bucket_key]


def counted() -> dict[str, ColumnElement]:
    """The incidents' counts that do not depend on the time read, as conditions on an
    incident (``count(*) FILTER (WHERE ...)``), ``received`` (every incident) left out; the
    formulas of dispatch.incidents.indicators."""
    return {
        "accepted": I.accepted_at.is_not(None),
        "accepted_on_time": I.accepted_at <= I.accept_by,
        "closed": I.status == "closed",
        "closed_on_time": and_(I.status == "closed", I.closed_at <= I.close_by),
        "reopened": I.reopened > 0,
        "closed_ever": or_(I.status == "closed", I.reopened > 0),
        "escalated": I.escalated_to.is_not(None)}


def past_deadline(as_of: datetime) -> ColumnElement:
    """An incident past the deadline of its stage at ``as_of`` (to accept while reported,
    else to close), whether open or not."""
    now = literal(as_of.astimezone(UTC), DateTime(timezone=True))
    return or_(and_(I.status == "reported", I.accept_by < now),
               and_(I.status != "reported", I.close_by < now))


def overdue(as_of: datetime) -> dict[str, ColumnElement]:
    """The counts that depend on the time read, ``as_of`` (overdue: past a deadline then)."""
    now = literal(as_of.astimezone(UTC), DateTime(timezone=True))
    is_open = I.status.in_(sorted(OPEN_STAGES))
    return {
        "accept_overdue": and_(I.status == "reported", I.accept_by < now),
        "open_overdue": and_(is_open, past_deadline(as_of))}


def indicators_statement(query: Query, session: Session) -> Select:
    """One row per key and bucket with every count of the incidents and the median and 90th
    percentile of the hours to accept and to close (``{metric}_h_q``: :func:`_quantiles`);
    the residents' ratings come from :func:`ratings_statement`.

    One pass over the incidents of the range, grouped directly (no per-incident subquery):
    counts as ``count(*) FILTER (WHERE ...)`` (SQLite >= 3.30 and PostgreSQL alike); on
    SQLite the index ``ix_incidents_indicators`` holds every column read, so the range is
    read from the index alone; PostgreSQL groups by the bucket's first moment and names it
    after grouping."""
    dialect = _dialect(session)
    joined, key, name, where = _scoped(query, session)
    period = _bucket_key(I.created_at, query.period, dialect, query.start)
    counts = {**counted(), **overdue(query.as_of)}
    columns = [key.label("key"), (name if name is key else func.max(name)).label("name"),
               _bucket_name(period, query.period, dialect).label("period"),
               func.count().label("received"),
               *(func.count().filter(condition).label(figure)
                 for figure, condition in counts.items()),
               *quantile_columns(_quantiles(hours_between(I.accepted_at, I.created_at,
                                                          dialect), dialect), "accept", dialect),
               *quantile_columns(_quantiles(hours_between(I.closed_at, I.created_at, dialect),
                                            dialect), "close", dialect)]
    return (select(*columns).select_from(joined).where(*in_range(query), *where)
            .group_by(*_group(query, key, period)))


def ratings_statement(query: Query, session: Session) -> Select:
    """One row per key and bucket with the residents' ratings of its incidents: how many,
    and how many of each (the feedback joined to its incident, of the same range; on SQLite
    read from the indexes ``ix_incidents_indicators`` and ``ix_incident_feedback_rating``
    alone)."""
    dialect = _dialect(session)
    F = m.FeedbackRow  # noqa: N806
    # the feedback joined first, so that SQLite looks up the level (grid, worker) of the
    # rated incidents only
    joined, key, _, where = _scoped(query, session,
                                    I.__table__.join(F.__table__, F.incident_id == I.id))
    period = _bucket_key(I.created_at, query.period, dialect, query.start)
    return (select(key.label("key"), _bucket_name(period, query.period, dialect)
                   .label("period"), func.count().label("ratings"),
                   *(func.count().filter(F.rating == r).label(r)
                     for r in ("satisfied", "basic", "unsatisfied")))
            .select_from(joined).where(*in_range(query), *where)
            .group_by(*_group(query, key, period)))


TEXT = frozenset({"key", "name", "period"})
QUANTILED = {f"{metric}_h_q": [f"{metric}_h_{label}" for _, label in QUANTILES]
             for metric in ("accept", "close")}

#: Figures from other parts of the service (patrol coverage, visits done), registered by the
#: modules that own them: (indicator key, function of (session, query) giving rows of
#: (key, period, value)), or None when that data does not exist in this service.
EXTRA_FIGURES: list[tuple[str, Callable[[Session, Query], list[tuple] | None]]] = []


def read_rows(result: Any, defaults: dict[str, Any]) -> dict[tuple, dict]:
    """The rows of a statement of figures (:func:`indicators_statement`,
    api.store.indicator_cells.cells_statement) as dicts keyed by key and period: every
    column by its name (counts are integers from either database), the quantiles decoded
    (``{metric}_h_q`` -> ``{metric}_h_median``, ``{metric}_h_p90``), ``defaults`` under
    the figures the statement does not give."""
    names = list(result.keys())
    quantiled = [(metric, QUANTILED[metric]) for metric in QUANTILED if metric in names]
    rows: dict[tuple, dict] = {}
    for values in result:
        row = {**defaults, **dict(zip(names, values, strict=True))}
        for metric, figures in quantiled:
            row.update(zip(figures, _decode_quantiles(row.pop(metric)), strict=True))
        rows[(row["key"], row["period"])] = row
    return rows


def _compute_from_incidents(session: Session, query: Query) -> dict[tuple, dict]:
    """:func:`compute`'s rows from the incidents themselves (:func:`indicators_statement`,
    :func:`ratings_statement`), keyed by key and period."""
    if _dialect(session) == "sqlite":
        register_sqlite_functions(session)
    rows = read_rows(session.execute(indicators_statement(query, session)),
                     dict.fromkeys(("ratings", "satisfied", "basic", "unsatisfied"), 0))
    for r in session.execute(ratings_statement(query, session)).mappings():
        if (target := rows.get((r["key"], r["period"]))) is not None:
            target.update({k: int(r[k]) for k in ("ratings", "satisfied", "basic",
                                                   "unsatisfied")})
    return rows


#: The periods read from the indicator cells (api.store.indicator_cells); days and weeks
#: are counted from the incidents (a day's range is at most 92 days).
FROM_CELLS = frozenset({"month", "custom"})


def compute(session: Session, query: Query,
            cells: bool = True) -> tuple[list[dict], list[str]]:
    """The indicators of ``query``: one dict per key and bucket (sorted by period, then key)
    with every count, rate and duration; and the keys of the optional figures present.
    Months and custom periods come from the indicator cells unless ``cells`` is False (then,
    as days and weeks, from the incidents: the same figures).

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
    if cells and query.period in FROM_CELLS:
        from api.store import indicator_cells  # imports this module

        rows = indicator_cells.compute_rows(session, query)
    else:
        rows = _compute_from_incidents(session, query)
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
    out = list(rows.values())
    for row in out:
        row.update(rates(row))
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
