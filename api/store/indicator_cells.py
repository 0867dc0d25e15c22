"""Indicator cells: the indicators' figures per grid and Beijing month, kept in the database so
that a month's or a year's indicators read a few thousand cells instead of every incident
(issue #17: 100,000 incidents in <= 1 s; bench/indicators_bench.py).

A cell (``indicator_cells``, :class:`~api.store.models.IndicatorCellRow`) holds, for the
incidents of one plan's grid reported in one month, every count that does not depend on the
time the figures are read at (:data:`~api.store.models.CELL_COUNTS`: received, accepted, on
time, closed, reopened, escalated, ratings...), every hour to accept and to close (SQLite:
sorted packed doubles; PostgreSQL: an array), so that medians and 90th percentiles over any
set of cells are exact, the same values interpolated the same way
(dispatch.incidents.indicators.percentile), and the cell's own median and 90th percentile
(read as they are when a key's bucket is one cell: a grid or a worker by month). What depends
on the time read (overdue) is counted at reading from the open incidents alone (index
``ix_incidents_open``).

Kept up to date: the database's triggers (migration 0015) mark the cell of every incident and
rating written (``indicator_dirty``), whoever writes; :func:`refresh` computes the marked
cells again, in a write transaction, before the service reads (:func:`refresh_for_reading`).
Reading never trusts a marked cell: :func:`cells_source` takes the clean cells from the table
and computes the marked ones, and the partial months at the ends of the range, from the
incidents, in the same statement (one snapshot). So the figures are those of the incidents
whether or not a refresh ran; a refresh only makes reading cheaper.

Months are Beijing months named by their first day (``YYYY-MM-DD``), as
api.store.indicators names them. ``plan_key`` 0 and ``grid_key`` '' stand for no plan and no
grid (an incident whose grid code is the empty string counts as one without a grid).
"""

from __future__ import annotations

import logging
import struct
import typing
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    LargeBinary,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select, Subquery

from api.store import indicators as base
from api.store import models as m
from api.store.db import writer_engine
from dispatch.incidents.rules import BEIJING

log = logging.getLogger(__name__)
I = m.IncidentRow  # noqa: E741
C = m.IndicatorCellRow
D = m.IndicatorDirtyRow
F = m.FeedbackRow
RATINGS = ("satisfied", "basic", "unsatisfied")
#: PostgreSQL's advisory lock held while refreshing (one refresher at a time: two would race
#: to write a cell from different snapshots).
LOCK_KEY = 1_717_000_017
#: Above this many marked cells in a month, the whole month is computed again.
MAX_LISTED = 400
SQLITE_PACK, SQLITE_MERGE, SQLITE_QUANTILES_OF = "pack_hours", "quantiles_merge", "quantiles_of"
DOUBLE = "<f8"  # how SQLite's cells pack the hours: little-endian IEEE doubles
PACKED = struct.Struct("<d")


# ---- SQLite aggregates ------------------------------------------------------------------------

class PackHours:
    """SQLite aggregate ``pack_hours(value)``: the non-null values of a group, sorted, as
    packed little-endian doubles (exact); NULL for none."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        """Take one row's value (None: left out)."""
        if value is not None:
            self.values.append(value)

    def finalize(self) -> bytes | None:
        """The values taken, sorted and packed."""
        if not self.values:
            return None
        return np.sort(np.asarray(self.values, dtype=DOUBLE)).tobytes()


class QuantilesMerge:
    """SQLite aggregate ``quantiles_merge(packed, quantiles)``: the median and 90th
    percentile of the values of every cell of a group (:class:`PackHours`' blobs, NULL left
    out), as api.store.indicators.QuantilesCont gives them from the values one by one
    (packed doubles; NULL for none). A group of one cell: its own ``quantiles``; of several:
    numpy merges and sorts, the interpolation is dispatch.incidents.indicators.percentile's."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.quantiles: bytes | None = None

    def step(self, packed: bytes | None, quantiles: bytes | None) -> None:
        """Take one cell's values and their quantiles."""
        if packed is not None:
            self.parts.append(packed)
            self.quantiles = quantiles

    def finalize(self) -> bytes | None:
        """The quantiles of every value taken (api.store.indicators.encode_quantiles)."""
        if not self.parts:
            return None
        if len(self.parts) == 1:
            return self.quantiles if self.quantiles is not None else quantiles_of(
                self.parts[0])
        values = np.sort(np.frombuffer(b"".join(self.parts), dtype=DOUBLE))
        return base.encode_quantiles(typing.cast("Sequence[float]", values))


def quantiles_of(packed: bytes | None) -> bytes | None:
    """SQLite function ``quantiles_of(packed)``: the quantiles of one cell's values
    (:class:`PackHours`' blob, sorted), packed; NULL for none."""
    return None if packed is None else base.encode_quantiles(Packed(packed))


class Packed(Sequence[float]):
    """Packed doubles (:class:`PackHours`) read one at a time, unpacked when indexed."""

    def __init__(self, packed: bytes) -> None:
        self.packed = packed
        self.n = len(packed) // PACKED.size

    def __len__(self) -> int:
        return self.n

    @typing.overload
    def __getitem__(self, index: int) -> float: ...

    @typing.overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...

    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.n))]
        value: float = PACKED.unpack_from(self.packed, index * PACKED.size)[0]
        return value


def register_sqlite_functions(session: Session) -> None:
    """Give the session's SQLite connection the aggregates of the cells (and
    api.store.indicators')."""
    base.register_sqlite_functions(session)
    raw = session.connection().connection.dbapi_connection
    raw.create_aggregate(SQLITE_PACK, 1, PackHours)  # type: ignore[union-attr]
    raw.create_aggregate(SQLITE_MERGE, 2, QuantilesMerge)  # type: ignore[union-attr]
    raw.create_function(SQLITE_QUANTILES_OF, 1, quantiles_of,  # type: ignore[union-attr]
                        deterministic=True)


# ---- cells computed from the incidents --------------------------------------------------------

def month_of(column: Any, dialect: str) -> ColumnElement:
    """The Beijing month (first day, ``YYYY-MM-DD``) of a UTC time, as the triggers of
    migration 0015 and api.store.indicators' month buckets name it."""
    return base.bucket(column, "month", dialect, datetime.min)


def _cell_of_incident(dialect: str) -> tuple[ColumnElement, ColumnElement, ColumnElement]:
    return (month_of(I.created_at, dialect), func.coalesce(I.plan_id, 0),
            func.coalesce(I.grid_code, ""))


def _pack(value: ColumnElement, dialect: str) -> ColumnElement:
    if dialect == "postgresql":
        return func.array_agg(cast(value, postgresql.DOUBLE_PRECISION)).filter(
            value.is_not(None))
    return getattr(func, SQLITE_PACK)(value, type_=m.HoursColumn)


def live_cells(dialect: str, where: Sequence[ColumnElement]) -> Select:
    """The cells of the incidents meeting ``where``, computed from them (the columns of
    ``indicator_cells``, in order): counts as ``count(*) FILTER``, the ratings from a second
    grouping of the incidents' feedback joined on the cell."""
    _, plan, grid = _cell_of_incident(dialect)
    # grouped by the month's first moment (PostgreSQL: a timestamp, cheaper to sort than its
    # name), named after grouping
    month = base._bucket_key(I.created_at, "month", dialect, datetime.min)
    name = base._bucket_name(month, "month", dialect)
    hours = {"accept": base.hours_between(I.accepted_at, I.created_at, dialect),
             "close": base.hours_between(I.closed_at, I.created_at, dialect)}
    quantiles = [] if dialect != "postgresql" else [  # SQLite: from the packed values
        base._quantiles(value, dialect).label(f"{metric}_q")
        for metric, value in hours.items()]
    incidents = (
        select(name.label("month"), plan.label("plan_key"), grid.label("grid_key"),
               func.count().label("received"),
               *(func.count().filter(condition).label(figure)
                 for figure, condition in base.counted().items()),
               *(_pack(value, dialect).label(f"{metric}_h")
                 for metric, value in hours.items()),
               *quantiles)
        .where(*where).group_by(month, plan, grid).subquery("incident_cells"))
    ratings = (
        select(name.label("month"), plan.label("plan_key"), grid.label("grid_key"),
               func.count().label("ratings"),
               *(func.count().filter(F.rating == r).label(r) for r in RATINGS))
        .select_from(I.__table__.join(F.__table__, F.incident_id == I.id))
        .where(*where).group_by(month, plan, grid).subquery("rating_cells"))
    same = and_(ratings.c.month == incidents.c.month,
                ratings.c.plan_key == incidents.c.plan_key,
                ratings.c.grid_key == incidents.c.grid_key)
    kept = ("month", "plan_key", "grid_key", "received", *base.counted())
    columns: dict[str, ColumnElement[Any]] = {c: incidents.c[c] for c in kept}
    columns.update({c: func.coalesce(ratings.c[c], 0) for c in ("ratings", *RATINGS)})
    columns.update(accept_h=incidents.c.accept_h, close_h=incidents.c.close_h)
    for metric in hours:
        columns[f"{metric}_q"] = (
            incidents.c[f"{metric}_q"] if dialect == "postgresql" else
            getattr(func, SQLITE_QUANTILES_OF)(incidents.c[f"{metric}_h"],
                                               type_=m.HoursColumn))
    return (select(*(columns[c.name].label(c.name) for c in C.__table__.columns))
            .select_from(incidents.outerjoin(ratings, same)))


def month_range(month: str) -> tuple[datetime, datetime]:
    """``[first moment, next month's first moment)`` of a Beijing month (``YYYY-MM-DD``),
    UTC."""
    first = date.fromisoformat(month)
    following = (first + timedelta(days=32)).replace(day=1)
    return (datetime.combine(first, time(0), BEIJING).astimezone(UTC),
            datetime.combine(following, time(0), BEIJING).astimezone(UTC))


def _at(moment: datetime) -> ColumnElement:
    return literal(moment.astimezone(UTC), DateTime(timezone=True))


def refresh(session: Session) -> int:
    """Compute every marked cell again from its incidents and ratings (in ``session``'s write
    transaction; the caller commits) and remove the marks read; the number of cells marked.
    PostgreSQL: does nothing (0) while another transaction refreshes."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        if not session.execute(select(func.pg_try_advisory_xact_lock(LOCK_KEY))).scalar():
            return 0
    else:
        register_sqlite_functions(session)
    # the marks this transaction sees, removed now: a write committed later marks again
    marked = session.execute(delete(D).returning(D.month, D.plan_key, D.grid_key)).all()
    by_month: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for month, plan_key, grid_key in marked:
        by_month[month].add((plan_key, grid_key))
    _, plan, grid = _cell_of_incident(dialect)
    for first, last, listed in _batches(by_month):
        start, end = month_range(first)[0], month_range(last)[1]
        where = [I.created_at >= _at(start), I.created_at < _at(end)]
        gone = [C.month >= first, C.month <= last]
        if listed is not None:
            where.append(tuple_(plan, grid).in_(listed))
            gone.append(tuple_(C.plan_key, C.grid_key).in_(listed))
        session.execute(delete(C).where(*gone))
        session.execute(insert(C).from_select([c.name for c in C.__table__.columns],
                                              live_cells(dialect, where)))
    return sum(len(cells) for cells in by_month.values())


def _batches(by_month: dict[str, set[tuple[int, str]]],
             ) -> list[tuple[str, str, list[tuple[int, str]] | None]]:
    """The marked cells as ranges of months to compute at once: (first month, last month,
    the cells of that one month, or None for every cell of the months). A month of more
    than :data:`MAX_LISTED` marked cells is computed whole, and runs of such months in one
    pass (a store just filled or migrated: every month in one statement)."""
    out: list[tuple[str, str, list[tuple[int, str]] | None]] = []
    for month, cells in sorted(by_month.items()):
        if len(cells) <= MAX_LISTED:
            out.append((month, month, sorted(cells)))
        elif out and out[-1][2] is None and month_range(out[-1][1])[1] == month_range(
                month)[0]:
            out[-1] = (out[-1][0], month, None)
        else:
            out.append((month, month, None))
    return out


def refresh_for_reading(session: Session) -> int:
    """Before reading indicators with ``session`` (a read session): when cells are marked,
    :func:`refresh` them in a write transaction of its own, then end ``session``'s
    transaction so that it reads them. A failed refresh (the database busy, read-only) is
    logged and left: reading computes the marked cells itself. Returns the cells refreshed."""
    if session.execute(select(D.id).limit(1)).first() is None:
        return 0
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    try:
        with Session(writer_engine(engine)) as writer, writer.begin():
            done = refresh(writer)
    except OperationalError as exc:
        log.warning("indicator cells not refreshed: %s", exc)
        return 0
    session.commit()
    return done


# ---- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Span:
    """A range split at Beijing months: the whole months inside it (``[first, end)`` as
    month names and UTC times; none when ``first`` is None) and the parts of months at
    either end (UTC ranges)."""

    first: str | None
    end: str | None
    start_at: datetime | None
    end_at: datetime | None
    parts: tuple[tuple[datetime, datetime], ...]


def span(start: datetime, end: datetime) -> Span:
    """:class:`Span` of ``[start, end)`` (aware datetimes)."""
    local_start, local_end = start.astimezone(BEIJING), end.astimezone(BEIJING)
    first = local_start.date().replace(day=1)
    if local_start != datetime.combine(first, time(0), BEIJING):
        first = (first + timedelta(days=32)).replace(day=1)
    last = local_end.date().replace(day=1)  # the whole months end at this month's start
    first_at = datetime.combine(first, time(0), BEIJING).astimezone(UTC)
    last_at = datetime.combine(last, time(0), BEIJING).astimezone(UTC)
    if first_at >= last_at:
        return Span(None, None, None, None, ((start, end),) if start < end else ())
    parts = tuple((a, b) for a, b in ((start, first_at), (last_at, end)) if a < b)
    return Span(first.isoformat(), last.isoformat(), first_at, last_at, parts)


def _month_start(month: Any, dialect: str, months: int = 0) -> ColumnElement:
    """The first moment (UTC, as the store compares times) of a month name, plus ``months``."""
    if dialect == "postgresql":
        local = cast(month, postgresql.TIMESTAMP) + literal_column(
            f"interval '{months} month'")
        return func.timezone(literal_column("'UTC'"), local - literal_column(
            f"interval '{base.BEIJING_OFFSET_H} hours'"))
    # SQLite: the text SQLAlchemy stores a time as ('YYYY-MM-DD HH:MM:SS.ffffff')
    return func.strftime("%Y-%m-%d %H:%M:%S", month, f"+{months} months",
                         f"-{base.BEIJING_OFFSET_H} hours").concat(".000000")


def _bounds(dialect: str, within: Span) -> Subquery:
    """One row (none when no cell of the whole months is marked): the range of the marked
    months, clipped to the whole months."""
    assert within.start_at is not None and within.end_at is not None
    greatest, least = (func.greatest, func.least) if dialect == "postgresql" else (
        func.max, func.min)
    lo = greatest(_month_start(func.min(D.month), dialect), _at(within.start_at))
    hi = least(_month_start(func.max(D.month), dialect, 1), _at(within.end_at))
    return (select(lo.label("lo"), hi.label("hi"))
            .where(D.month >= within.first, D.month < within.end)
            .having(func.count() > 0).subquery("marked_range"))


def _is_marked(cell: Any) -> ColumnElement:
    return exists().where(D.month == cell.month, D.plan_key == cell.plan_key,
                          D.grid_key == cell.grid_key)


def cells_source(query: base.Query, dialect: str) -> Subquery:
    """The cells of ``query``'s range, in one statement: the clean cells of the whole months
    from the table; the marked ones computed from their incidents; the parts of months at
    either end from theirs."""
    within = span(query.start, query.end)
    parts: list[Select] = []
    if within.first is not None:
        cell = C.__table__.c
        parts.append(select(C.__table__).where(C.month >= within.first, C.month < within.end,
                                               ~_is_marked(cell)))
        bounds = _bounds(dialect, within)
        marked = live_cells(dialect, [I.created_at >= bounds.c.lo,
                                      I.created_at < bounds.c.hi]).subquery("marked_cells")
        parts.append(select(marked).where(_is_marked(marked.c)))
    for a, b in within.parts:
        parts.append(live_cells(dialect, [I.created_at >= _at(a), I.created_at < _at(b)]))
    if not parts:  # an empty range: no cell
        parts.append(select(C.__table__).where(literal(False)))
    return union_all(*parts).subquery("cells")


def cells_statement(query: base.Query, session: Session) -> Select:
    """One row per key and bucket (month, or the custom period) with the counts of
    :data:`~api.store.models.CELL_COUNTS` summed over its cells and the quantiles of its
    hours (api.store.indicators.quantile_columns). PostgreSQL: each cell's two arrays
    unnested side by side after a leading NULL (the row that carries the cell's counts;
    ``percentile_cont`` leaves NULLs out)."""
    dialect = session.get_bind().dialect.name
    cells = cells_source(query, dialect)
    joined, key, name, where = base._scoped(
        query, session, cells, plan=cells.c.plan_key, grid=cells.c.grid_key,
        grid_key=func.nullif(cells.c.grid_key, ""))
    if query.period == "custom":
        period: ColumnElement = literal(query.start.astimezone(BEIJING).date().isoformat(),
                                        String)
    else:
        period = cells.c.month
    head = [key.label("key"), (name if name is key else func.max(name)).label("name"),
            period.label("period")]
    counts = ("received", *(c for c in m.CELL_COUNTS if c != "received"))
    group = [key] if query.period == "custom" else [key, period]
    if dialect != "postgresql":
        merge = getattr(func, SQLITE_MERGE)
        return (select(*head, *(func.sum(cells.c[c]).label(c) for c in counts),
                       *base.quantile_columns(merge(cells.c.accept_h, cells.c.accept_q,
                                                    type_=LargeBinary), "accept", dialect),
                       *base.quantile_columns(merge(cells.c.close_h, cells.c.close_q,
                                                    type_=LargeBinary), "close", dialect))
                .select_from(joined).where(*where).group_by(*group))
    # PostgreSQL: the cells of the scope sorted by key and bucket first (a few thousand
    # rows), so that the groups of their unnested hours arrive in order: no sort of the
    # hours (about 100,000 rows a year, wide with the counts, spilled to disk at the
    # default work_mem). A group of one cell (a grid or a worker by month) takes the
    # cell's own quantiles: its hours are not unnested.
    scoped = (select(key.label("key"), name.label("name"), period.label("period"),
                     *(cells.c[c] for c in (*counts, "accept_h", "close_h", "accept_q",
                                            "close_q")),
                     func.count().over(partition_by=group).label("cells"))
              .select_from(joined).where(*where).order_by(*group).subquery("scoped"))
    nothing = cast(null(), postgresql.DOUBLE_PRECISION)
    several = scoped.c.cells > 1
    values = func.unnest(
        func.array_prepend(nothing, case((several, scoped.c.accept_h))),
        func.array_prepend(nothing, case((several, scoped.c.close_h)))).table_valued(
        "a_h", "c_h", with_ordinality="n").render_derived(name="hours")
    carrier = values.c.n == 1
    array = f"ARRAY[{', '.join(str(q) for q, _ in base.QUANTILES)}]"
    fractions: ColumnElement[Any] = literal_column(array)
    alone = func.max(scoped.c.cells) == 1
    outer_group = [scoped.c.key] if query.period == "custom" else [scoped.c.key,
                                                                    scoped.c.period]
    return (select(scoped.c.key, (scoped.c.key if name is key else func.max(scoped.c.name))
                   .label("name"),
                   (period if query.period == "custom" else scoped.c.period).label("period"),
                   *(cast(func.sum(scoped.c[c]).filter(carrier), BigInteger).label(c)
                     for c in counts),  # (a sum of bigint is numeric)
                   *base.quantile_columns(case(
                       (alone, func.min(scoped.c.accept_q)),
                       else_=func.percentile_cont(fractions).within_group(values.c.a_h)),
                       "accept", dialect),
                   *base.quantile_columns(case(
                       (alone, func.min(scoped.c.close_q)),
                       else_=func.percentile_cont(fractions).within_group(values.c.c_h)),
                       "close", dialect))
            .select_from(scoped).join(values, true()).group_by(*outer_group))


def overdue_statement(query: base.Query, session: Session) -> Select:
    """One row per key and bucket with the open incidents' overdue counts at ``as_of``
    (``accept_overdue``, ``open_overdue``), read from the index of open incidents alone."""
    dialect = session.get_bind().dialect.name
    joined, key, _, where = base._scoped(query, session)
    period = base._bucket_key(I.created_at, query.period, dialect, query.start)
    late = base.overdue(query.as_of)
    is_open = f"incidents.{m.OPEN_STATUS_SQL}"  # as the index's WHERE, literally
    if dialect == "sqlite":  # without statistics SQLite would read the status index and
        is_open = f"likelihood({is_open}, 0.9)"  # each row: likelihood() keeps it off that
    return (select(key.label("key"), base._bucket_name(period, query.period, dialect)
                   .label("period"),
                   func.count().filter(late["accept_overdue"]).label("accept_overdue"),
                   func.count().label("open_overdue"))
            .select_from(joined)
            .where(*base.in_range(query), text(is_open), base.past_deadline(query.as_of),
                   *where)
            .group_by(*base._group(query, key, period)))


def compute_rows(session: Session, query: base.Query) -> dict[tuple, dict]:
    """The figures of ``query`` (period month or custom) from the cells, keyed by key and
    period: every count, the quantiles, the overdue counts (0 where none)."""
    if session.get_bind().dialect.name == "sqlite":
        register_sqlite_functions(session)
    rows = base.read_rows(session.execute(cells_statement(query, session)),
                          {"accept_overdue": 0, "open_overdue": 0})
    for key, period, accept_overdue, open_overdue in session.execute(
            overdue_statement(query, session)):
        if (target := rows.get((key, period))) is not None:
            target.update(accept_overdue=accept_overdue, open_overdue=open_overdue)
    return rows
