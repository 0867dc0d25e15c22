"""Indicator cells (api.store.indicator_cells) give the very figures of the incidents: months
and custom periods read from the cells equal, value for value (floats too), those counted
from the incidents themselves (api.store.indicators, checked against a computation by hand in
test_indicators_direct), whether the cells are all marked (never computed), computed, or
partly marked by writes of every kind since; on SQLite and PostGIS. The triggers mark what
every write touches and nothing else; a refresh racing a write loses nothing (PostGIS).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import shapely
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from api.store import indicator_cells as ic
from api.store import indicators as st
from api.store import models as m
from api.store.db import Database
from dispatch.incidents.indicators import percentile
from dispatch.incidents.rules import BEIJING
from tests.api.test_indicators_direct import AS_OF, fill

LEVELS = ("grid", "worker", "community")
RANGES = [("month", date(2026, 10, 1), date(2026, 11, 30)),  # whole months
          ("month", date(2026, 10, 3), date(2026, 11, 17)),  # parts of two months
          ("month", date(2026, 9, 20), date(2026, 12, 31)),  # parts and a whole month
          ("custom", date(2026, 10, 1), date(2026, 11, 30)),
          ("custom", date(2026, 10, 15), date(2026, 12, 5)),
          ("custom", date(2026, 11, 1), date(2026, 11, 30)),
          ("custom", date(2026, 10, 5), date(2026, 10, 9))]
I = m.IncidentRow  # noqa: E741


@pytest.fixture(params=["sqlite", "postgis"])
def database(request, tmp_path):
    """A migrated store on each backend, filled as test_indicators_direct's."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wangge.db'}"
    else:
        url = request.getfixturevalue("postgis_url")
    db = Database(url)
    db.upgrade()
    fill(db)
    yield db
    db.dispose()


def assert_same_figures(db: Database, levels=LEVELS, ranges=RANGES) -> int:
    """Every level and range: the cells' figures equal the incidents' exactly; how many rows
    were compared."""
    compared = 0
    with Session(db.engine) as s:
        for level in levels:
            for period, first, last in ranges:
                begin, finish = st.beijing_range(first, last)
                query = st.Query(level, period, begin, finish, AS_OF)
                cells, _ = st.compute(s, query)
                incidents, _ = st.compute(s, query, cells=False)
                assert cells == incidents, (level, period, first, last)
                compared += len(cells)
    return compared


def marks(db: Database) -> set[tuple[str, int, str]]:
    with Session(db.engine) as s:
        return {tuple(r) for r in s.execute(select(m.IndicatorDirtyRow.month,
                                                   m.IndicatorDirtyRow.plan_key,
                                                   m.IndicatorDirtyRow.grid_key))}


def refresh(db: Database) -> int:
    with db.writing() as s:
        return ic.refresh(s)


def cell_of(row) -> tuple[str, int, str]:
    """The cell of an incident (a row with created_at, plan_id, grid_code)."""
    at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return (at.astimezone(BEIJING).date().replace(day=1).isoformat(), row.plan_id or 0,
            row.grid_code or "")


FIGURE_COLUMNS = [getattr(I, c) for c in m.INDICATOR_COLUMNS]


def _incident(s: Session, incident_id: int):
    return s.execute(select(*FIGURE_COLUMNS).where(I.id == incident_id)).one_or_none()


def write_everything(db: Database, seed: int = 3) -> set[tuple[str, int, str]]:
    """Writes of every kind the cells depend on; the cells whose figures they changed
    (before and after a change)."""
    rng = np.random.default_rng(seed)
    touched: set[tuple[str, int, str]] = set()
    with db.writing() as s:
        rows = s.execute(select(I.id, I.plan_id, I.grid_code, I.created_at, I.status)
                         .order_by(I.id)).all()
        codes = sorted({(r.plan_id, r.grid_code) for r in rows if r.grid_code})
        pick = [rows[int(k)] for k in rng.choice(len(rows), 60, replace=False)]
        for k, row in enumerate(pick):
            values: dict = {}
            if k % 6 == 0:  # closed now, late
                values = {"status": "closed", "closed_at": row.created_at + timedelta(days=5)}
            elif k % 6 == 1:  # moved to another grid (of another plan, maybe)
                plan_id, code = codes[int(rng.integers(0, len(codes)))]
                values = {"plan_id": plan_id, "grid_code": code}
            elif k % 6 == 2:  # reported at another time: into the next month, maybe
                values = {"created_at": row.created_at + timedelta(days=17)}
            elif k % 6 == 3:  # outside every grid
                values = {"grid_code": None}
            elif k % 6 == 4:  # reopened and escalated
                values = {"reopened": 1, "escalated_to": "网格长", "status": "returned"}
            else:  # accepted now, deadline moved
                values = {"accepted_at": row.created_at + timedelta(hours=1),
                          "accept_by": row.created_at + timedelta(minutes=30)}
            before = _incident(s, row.id)
            s.execute(update(I).where(I.id == row.id).values(**values))
            after = _incident(s, row.id)
            if before != after:
                touched |= {cell_of(before), cell_of(after)}
        gone = [rows[int(k)] for k in rng.choice(len(rows), 8, replace=False)
                if rows[int(k)] not in pick]
        touched |= {cell_of(_incident(s, r.id)) for r in gone}
        s.execute(delete(I).where(I.id.in_([r.id for r in gone])))  # ratings cascade
        rated = [r for r in rows if r not in pick and r not in gone][:30]
        s.execute(insert(m.FeedbackRow), [
            {"incident_id": r.id, "closed_seq": 9, "rating": "unsatisfied", "fixed": True,
             "comment": "", "channel": "app", "reopened": False, "created_at": AS_OF}
            for r in rated])
        touched |= {cell_of(_incident(s, r.id)) for r in rated}
        feedback = s.execute(select(m.FeedbackRow.id, m.FeedbackRow.incident_id,
                                    m.FeedbackRow.rating).order_by(m.FeedbackRow.id)).all()
        for k, f in enumerate(feedback[:12]):
            if k % 2:
                rating = "satisfied" if k % 4 == 1 else "basic"
                s.execute(update(m.FeedbackRow).where(m.FeedbackRow.id == f.id)
                          .values(rating=rating))
                if rating == f.rating:
                    continue
            else:
                s.execute(delete(m.FeedbackRow).where(m.FeedbackRow.id == f.id))
            touched.add(cell_of(_incident(s, f.incident_id)))
        new = [{"category": "noise", "description": "", "status": "reported",
                "plan_id": codes[k][0], "grid_code": codes[k][1],
                "created_at": datetime(2026, 11, 30, 15, 59, 59, 999_999, tzinfo=UTC)
                + timedelta(seconds=k), "updated_at": AS_OF,
                "accept_by": AS_OF - timedelta(hours=k), "close_by": None,
                "geom": shapely.Point(0.5, 0.5), "minx": 0.5, "miny": 0.5, "maxx": 0.5,
                "maxy": 0.5} for k in range(4)]
        s.execute(insert(I), new)
        touched |= {(("2026-11-01" if k == 0 else "2026-12-01"), codes[k][0], codes[k][1])
                    for k in range(4)}
    return touched


@pytest.mark.parametrize("listed", [ic.MAX_LISTED, 3])
def test_cells_give_the_figures_of_the_incidents(database, listed, monkeypatch):
    """``listed``: above this many marked cells a month is computed whole (and runs of such
    months at once)."""
    monkeypatch.setattr(ic, "MAX_LISTED", listed)
    db = database
    with Session(db.engine) as s:
        assert s.scalar(select(func.count()).select_from(m.IndicatorCellRow)) == 0
    assert marks(db)  # every cell of the incidents, marked by the triggers
    assert assert_same_figures(db) > 500  # all computed from the incidents while reading

    marked = marks(db)
    assert refresh(db) == len(marked)
    assert not marks(db)
    with Session(db.engine) as s:
        cells = s.scalar(select(func.count()).select_from(m.IndicatorCellRow))
        received = s.scalar(select(func.sum(m.IndicatorCellRow.received)))
        assert received == s.scalar(select(func.count()).select_from(I))
    assert cells > 40
    assert_same_figures(db)  # from the table

    touched = write_everything(db)
    assert marks(db) == touched
    assert_same_figures(db)  # the marked cells computed while reading, the rest from the table

    assert refresh(db) >= len(touched)
    assert not marks(db)
    assert_same_figures(db)


def test_writes_that_do_not_change_a_figure_mark_nothing(database):
    db = database
    refresh(db)
    with db.writing() as s:
        s.execute(update(I).where(I.id < 50).values(description="更新", updated_at=AS_OF))
        s.execute(update(m.FeedbackRow).where(m.FeedbackRow.id < 20).values(comment="好"))
        status = s.execute(select(I.id, I.status).limit(1)).one()
        s.execute(update(I).where(I.id == status.id).values(status=status.status))
    assert not marks(db)


def test_triggers_survive_migration(database):
    """The triggers are there (a later SQLite migration that copies a table in batch mode
    drops its triggers: this test then fails)."""
    names = set(_triggers(database))
    assert names == {"indicator_dirty_incident_insert", "indicator_dirty_incident_update",
                     "indicator_dirty_incident_delete", "indicator_dirty_feedback_insert",
                     "indicator_dirty_feedback_update", "indicator_dirty_feedback_delete"}


def _triggers(db: Database) -> list[str]:
    with Session(db.engine) as s:
        if db.dialect == "sqlite":
            return list(s.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                       " AND name LIKE 'indicator_dirty_%'")))
        return list(s.scalars(text("SELECT tgname FROM pg_trigger "
                                   "WHERE tgname LIKE 'indicator_dirty_%'")))


def test_a_refresh_racing_a_write_loses_nothing(postgis_url):
    """PostgreSQL: a write not yet committed when a refresh reads its cell (already marked by
    an earlier write) keeps its own mark, so the cell is computed again later."""
    db = Database(postgis_url)
    db.upgrade()
    try:
        fill(db, n=400)
        refresh(db)
        with db.writing() as s:
            first = s.execute(select(I.id).order_by(I.id).limit(1)).scalar_one()
            s.execute(update(I).where(I.id == first).values(status="closed",
                                                            closed_at=AS_OF))
        writer = Session(db.engine)
        writer.execute(update(I).where(I.id == first).values(escalated_to="网格长"))
        assert refresh(db) >= 1  # reads the committed mark, not the writer's
        writer.commit()
        writer.close()
        assert marks(db)
        assert_same_figures(db, levels=("grid",), ranges=RANGES[:1])
        refresh(db)
        assert_same_figures(db, levels=("grid",), ranges=RANGES[:1])
    finally:
        db.dispose()


def test_refresh_for_reading_ends_the_read_snapshot(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wangge.db'}")
    db.upgrade()
    fill(db, n=300)
    try:
        with db.read_session() as s:
            assert s.execute(select(func.count()).select_from(m.IndicatorDirtyRow)).scalar()
            assert ic.refresh_for_reading(s) > 0
            assert s.execute(select(func.count()).select_from(m.IndicatorDirtyRow)).scalar() \
                == 0
            assert s.execute(select(func.count()).select_from(m.IndicatorCellRow)).scalar()
            assert ic.refresh_for_reading(s) == 0
    finally:
        db.dispose()


def test_span_splits_a_range_at_months():
    def span(first, last):
        return ic.span(*st.beijing_range(first, last))

    whole = span(date(2026, 10, 1), date(2026, 11, 30))
    assert (whole.first, whole.end, whole.parts) == ("2026-10-01", "2026-12-01", ())
    inside = span(date(2026, 10, 3), date(2026, 11, 17))
    assert inside.first is None and inside.parts == (st.beijing_range(date(2026, 10, 3),
                                                                      date(2026, 11, 17)),)
    both = span(date(2026, 10, 15), date(2027, 1, 20))
    assert (both.first, both.end) == ("2026-11-01", "2027-01-01")
    assert both.parts == (st.beijing_range(date(2026, 10, 15), date(2026, 10, 31)),
                          st.beijing_range(date(2027, 1, 1), date(2027, 1, 20)))
    assert both.start_at == datetime(2026, 10, 31, 16, tzinfo=UTC)


def test_packed_quantiles_are_percentile_cont():
    rng = np.random.default_rng(1)
    groups = [rng.exponential(3.0, int(n)).tolist() for n in (1, 2, 7, 40)]
    packed = []
    for values in groups:
        agg = ic.PackHours()
        for v in [*values, None]:
            agg.step(v)
        packed.append(agg.finalize())
    empty = ic.PackHours()
    empty.step(None)
    assert empty.finalize() is None
    for chosen in ([0], [3], [0, 1], [1, 2, 3], [3, None]):
        for own in (True, False):  # a cell's own quantiles given, or not
            merge = ic.QuantilesMerge()
            values = []
            for k in chosen:
                blob = None if k is None else packed[k]
                merge.step(blob, ic.quantiles_of(blob) if own else None)
                values += [] if k is None else groups[k]
            got = list(st._decode_quantiles(merge.finalize()))
            assert got == [percentile(values, 0.5), percentile(values, 0.9)]  # exactly
    assert ic.QuantilesMerge().finalize() is None
    assert ic.quantiles_of(None) is None


@pytest.fixture(params=["sqlite", "postgis"])
def empty(request, tmp_path):
    """A migrated store with no incidents on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wangge.db'}"
    else:
        url = request.getfixturevalue("postgis_url")
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


def test_a_report_a_microsecond_before_beijing_midnight_counts_in_its_day(empty):
    """SQLite's date functions round to the millisecond: the buckets are taken to the second,
    so that 23:59:59.999999 stays in its day and month (as on PostgreSQL)."""
    before = datetime(2026, 11, 30, 15, 59, 59, 999_999, tzinfo=UTC)  # 30 Nov, Beijing
    with empty.writing() as s:
        s.execute(insert(I), [
            {"category": "noise", "description": "", "status": "reported", "plan_id": None,
             "grid_code": "G", "created_at": at, "updated_at": at, "accept_by": at,
             "geom": shapely.Point(0.5, 0.5), "minx": 0.5, "miny": 0.5, "maxx": 0.5,
             "maxy": 0.5} for at in (before, before + timedelta(microseconds=1))])
    expected = {"month": {"2026-11-01": 1, "2026-12-01": 1},
                "day": {"2026-11-30": 1, "2026-12-01": 1},
                "week": {"2026-11-30": 2}, "custom": {"2026-11-01": 2}}
    for refreshed in (False, True):
        if refreshed:
            refresh(empty)
        with Session(empty.engine) as s:
            for period, want in expected.items():
                begin, finish = st.beijing_range(date(2026, 11, 1), date(2026, 12, 31))
                for cells in (True, False):
                    rows, _ = st.compute(s, st.Query("grid", period, begin, finish, AS_OF),
                                         cells=cells)
                    assert {r["period"]: r["received"] for r in rows} == want, (period, cells)
            begin, finish = st.beijing_range(date(2026, 11, 1), date(2026, 11, 30))
            rows, _ = st.compute(s, st.Query("grid", "month", begin, finish, AS_OF))
            assert [(r["period"], r["received"]) for r in rows] == [("2026-11-01", 1)]


def test_marked_months_are_computed_in_runs(monkeypatch):
    monkeypatch.setattr(ic, "MAX_LISTED", 2)
    few, many = {(1, "A")}, {(1, "A"), (1, "B"), (2, "C")}
    marked = {"2026-01-01": many, "2026-02-01": many, "2026-03-01": few,
              "2026-05-01": many, "2026-06-01": many, "2026-08-01": many}
    assert ic._batches(marked) == [("2026-01-01", "2026-02-01", None),
                                   ("2026-03-01", "2026-03-01", [(1, "A")]),
                                   ("2026-05-01", "2026-06-01", None),
                                   ("2026-08-01", "2026-08-01", None)]
