"""The indicators' statements (api.store.indicators: one grouped pass over the incidents,
``count(*) FILTER``, percentiles by ``percentile_cont`` or SQLite's ``quantiles_cont``, the
ratings apart) against a direct computation in Python, incident by incident, on a realistic
store: a few thousand incidents over two months in 24 grids of two plans (some without a
worker, some incidents without a grid), every stage, deadlines met, missed and met to the
microsecond, reopened and escalated incidents, several ratings per incident, times at
microseconds and around Beijing midnight. Every level (but street and district:
test_service_indicators) and period, on SQLite and PostGIS.

Counts must be equal; hours within 2e-6 h (7 ms): SQLite's date functions keep
milliseconds, so a duration there can be off by up to 2 ms from the stored microseconds.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
import shapely
from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from api.store import indicators as st
from api.store import models as m
from api.store.db import Database
from dispatch.incidents.indicators import percentile, rates
from dispatch.incidents.lifecycle import OPEN_STAGES
from dispatch.incidents.rules import BEIJING

HOURS_TOLERANCE = 2e-6  # h: SQLite's julianday() keeps milliseconds
START = datetime(2026, 10, 1, tzinfo=BEIJING)
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # in the middle of the second month
OPEN = ["reported", "accepted", "dispatched", "in_progress", "handled", "verified",
        "returned", "referred"]


@pytest.fixture(params=["sqlite", "postgis"])
def store(request, tmp_path):
    """A migrated store on each backend, filled by :func:`fill`; (database, incidents,
    ratings, grids: (plan, code) -> (community, worker id, worker name))."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'wangge.db'}"
    else:
        url = request.getfixturevalue("postgis_url")
    database = Database(url)
    database.upgrade()
    yield (database, *fill(database))
    database.dispose()


def fill(database: Database, n: int = 3000, seed: int = 7):
    """Incidents, ratings, two plans of 12 grids each, workers on most grids."""
    rng = np.random.default_rng(seed)
    grids: dict[tuple[int, str], tuple[str, int | None, str | None]] = {}
    with database.writing() as s:
        dataset = m.DatasetRow(name="t", filename="t.osm", path="t.osm", size_bytes=0)
        s.add(dataset)
        s.flush()
        plans = []
        for k in range(2):
            plan = m.PlanRow(dataset_id=dataset.id, name=f"p{k}", status="active",
                             target_households=300)
            s.add(plan)
            s.flush()
            plans.append(plan.id)
        workers = []
        for k in range(20):
            worker = m.WorkerRow(name=f"网格员{k:02d}")
            s.add(worker)
            s.flush()
            workers.append((worker.id, worker.name))
        for p, plan_id in enumerate(plans):
            for k in range(12):
                code, community = f"G{p}{k:02d}", f"社区{k // 4}"
                row = m.GridRow(plan_id=plan_id, code=code, community=community,
                                households=300)
                row.set_geometry(shapely.box(k, p, k + 1, p + 1))
                s.add(row)
                s.flush()
                worker_id = worker_name = None
                if k % 5 != 4:  # grids 4 and 9 of each plan have no worker
                    worker_id, worker_name = workers[(p * 12 + k) % len(workers)]
                    s.add(m.AssignmentRow(plan_id=plan_id, grid_id=row.id,
                                          worker_id=worker_id, role="worker"))
                grids[(plan_id, code)] = (community, worker_id, worker_name)
    keys = list(grids)
    seconds = rng.uniform(-86400, 62 * 86400, n)  # from 30 September into December
    seconds[: n // 20] = np.round(seconds[: n // 20] / 86400) * 86400 - 0.5  # at midnight
    rows = []
    for i in range(n):
        created = START.astimezone(UTC) + timedelta(seconds=float(seconds[i]))
        plan_id, code = keys[int(rng.integers(0, len(keys)))]
        if rng.random() < 0.03:
            code = None  # reported outside every grid
        kind = rng.choice(["closed", "rejected", "open"], p=[0.7, 0.05, 0.25])
        accepted = kind != "open" or rng.random() < 0.6
        status = (str(kind) if kind != "open"
                  else OPEN[1 + int(rng.integers(0, len(OPEN) - 1))] if accepted
                  else "reported")
        accept_by = created + timedelta(hours=2)
        close_by = None if rng.random() < 0.02 else created + timedelta(hours=72)
        accepted_at = (created + timedelta(hours=float(rng.exponential(2.0)))
                       if accepted else None)
        reopened = int(rng.random() < 0.05) * int(rng.integers(1, 3))
        closed_at = (created + timedelta(hours=float(rng.exponential(60.0)))
                     if status == "closed" else None)
        if accepted_at is not None and rng.random() < 0.04:
            accepted_at = accept_by  # on the deadline: on time
        if closed_at is not None and close_by is not None and rng.random() < 0.04:
            closed_at = close_by
        rows.append({
            "category": "noise", "description": "", "status": status, "plan_id": plan_id,
            "grid_code": code, "created_at": created, "updated_at": created,
            "accept_by": accept_by, "close_by": close_by, "accepted_at": accepted_at,
            "closed_at": closed_at, "reopened": reopened,
            "escalated_to": "网格长" if rng.random() < 0.06 else None,
            "geom": shapely.Point(0.5, 0.5), "minx": 0.5, "miny": 0.5, "maxx": 0.5,
            "maxy": 0.5})
    with database.writing() as s:
        s.execute(insert(m.IncidentRow), rows)
        stored = s.execute(text("SELECT id, status, reopened FROM incidents ORDER BY id")).all()
        ratings = []
        for incident_id, status, reopened in stored:
            if status == "closed" or reopened:
                for k in range(int(rng.choice([0, 0, 1, 1, 2, 3]))):
                    ratings.append({"incident_id": incident_id, "closed_seq": k + 1,
                                    "rating": str(rng.choice(["satisfied", "basic",
                                                              "unsatisfied"])),
                                    "fixed": True, "comment": "", "channel": "app",
                                    "reopened": False, "created_at": AS_OF})
        if ratings:
            s.execute(insert(m.FeedbackRow), ratings)
        incidents = [dict(r._mapping) for r in s.execute(select(
            m.IncidentRow.id, m.IncidentRow.plan_id, m.IncidentRow.grid_code,
            m.IncidentRow.status, m.IncidentRow.created_at, m.IncidentRow.accepted_at,
            m.IncidentRow.closed_at, m.IncidentRow.accept_by, m.IncidentRow.close_by,
            m.IncidentRow.reopened, m.IncidentRow.escalated_to))]
    for inc in incidents:  # SQLite gives naive UTC times back
        for k in ("created_at", "accepted_at", "closed_at", "accept_by", "close_by"):
            if inc[k] is not None and inc[k].tzinfo is None:
                inc[k] = inc[k].replace(tzinfo=UTC)
    return incidents, ratings, grids


def _bucket(at: datetime, period: str, first: date) -> str:
    day = at.astimezone(BEIJING).date()
    if period == "custom":
        return first.isoformat()
    if period == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if period == "month":
        return day.replace(day=1).isoformat()
    return day.isoformat()


def _lt(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a < b


def _le(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a <= b


def direct(incidents, ratings, grids, level: str, period: str, first: date,
           last: date) -> dict[tuple, dict]:
    """The indicators computed here, incident by incident, from the definitions."""
    begin, finish = st.beijing_range(first, last)
    rated: dict[int, list[str]] = defaultdict(list)
    for r in ratings:
        rated[r["incident_id"]].append(r["rating"])
    groups: dict[tuple, dict] = {}
    for inc in incidents:
        if not begin <= inc["created_at"] < finish:
            continue
        community, worker_id, worker_name = grids.get((inc["plan_id"], inc["grid_code"]),
                                                      (None, None, None))
        key, name = {"grid": (inc["grid_code"], inc["grid_code"]),
                     "worker": (None if worker_id is None else str(worker_id), worker_name),
                     "community": (community, community)}[level]
        bucket = _bucket(inc["created_at"], period, first)
        g = groups.setdefault((key, bucket), {
            "key": key, "name": name, "period": bucket, "accept": [], "close": [],
            **dict.fromkeys(("received", "accepted", "accepted_on_time", "accept_overdue",
                             "closed", "closed_on_time", "open_overdue", "reopened",
                             "closed_ever", "escalated", "ratings", "satisfied", "basic",
                             "unsatisfied"), 0)})
        status, now = inc["status"], AS_OF
        reported_late = status == "reported" and _lt(inc["accept_by"], now)
        g["received"] += 1
        g["accepted"] += inc["accepted_at"] is not None
        g["accepted_on_time"] += _le(inc["accepted_at"], inc["accept_by"])
        g["accept_overdue"] += reported_late
        g["closed"] += status == "closed"
        g["closed_on_time"] += status == "closed" and _le(inc["closed_at"], inc["close_by"])
        g["open_overdue"] += status in OPEN_STAGES and (
            reported_late or (status != "reported" and _lt(inc["close_by"], now)))
        g["reopened"] += inc["reopened"] > 0
        g["closed_ever"] += status == "closed" or inc["reopened"] > 0
        g["escalated"] += inc["escalated_to"] is not None
        for rating in rated[inc["id"]]:
            g["ratings"] += 1
            g[rating] += 1
        for metric, done in (("accept", inc["accepted_at"]), ("close", inc["closed_at"])):
            if done is not None:
                g[metric].append((done - inc["created_at"]).total_seconds() / 3600)
    for g in groups.values():
        for metric in ("accept", "close"):
            values = g.pop(metric)
            g[f"{metric}_h_median"] = percentile(values, 0.5)
            g[f"{metric}_h_p90"] = percentile(values, 0.9)
        g.update(rates(g))
    return groups


CASES = [("month", date(2026, 10, 1), date(2026, 11, 30)),
         ("week", date(2026, 9, 28), date(2026, 12, 6)),
         ("day", date(2026, 10, 25), date(2026, 11, 8)),
         ("custom", date(2026, 10, 3), date(2026, 11, 17))]


@pytest.mark.parametrize("level", ["grid", "worker", "community"])
def test_statements_match_a_direct_computation(store, level):
    database, incidents, ratings, grids = store
    assert len(incidents) == 3000 and len(ratings) > 1000
    with Session(database.engine) as s:
        for period, first, last in CASES:
            begin, finish = st.beijing_range(first, last)
            rows, _ = st.compute(s, st.Query(level, period, begin, finish, AS_OF))
            got = {(r["key"], r["period"]): r for r in rows}
            expected = direct(incidents, ratings, grids, level, period, first, last)
            assert got.keys() == expected.keys(), (level, period)
            assert sum(r["received"] for r in rows) > 100
            for k, want in expected.items():
                row = got[k]
                for figure, value in want.items():
                    if isinstance(value, float):
                        assert row[figure] == pytest.approx(value, abs=HOURS_TOLERANCE), \
                            (level, period, k, figure)
                    else:
                        assert row[figure] == value, (level, period, k, figure)


def test_a_worker_sees_the_same_figures_for_their_grids(store):
    """The worker's scope (their grids joined) gives their rows of the grid level."""
    database, incidents, ratings, grids = store
    worker_id = next(w for (_, _), (_, w, _) in sorted(grids.items()) if w is not None)
    mine = {code for (_, code), (_, w, _) in grids.items() if w == worker_id}
    first, last = date(2026, 10, 1), date(2026, 11, 30)
    begin, finish = st.beijing_range(first, last)
    with Session(database.engine) as s:
        rows, _ = st.compute(s, st.Query("grid", "month", begin, finish, AS_OF, worker_id))
    expected = direct(incidents, ratings, grids, "grid", "month", first, last)
    assert len(mine) >= 2 and rows
    assert {(r["key"], r["period"]) for r in rows} == {k for k in expected if k[0] in mine}
    for r in rows:
        want = expected[(r["key"], r["period"])]
        assert [r[f] for f in ("received", "closed_on_time", "ratings")] == \
            [want[f] for f in ("received", "closed_on_time", "ratings")]
        assert r["close_h_p90"] == pytest.approx(want["close_h_p90"], abs=HOURS_TOLERANCE)


def test_quantiles_cont_is_percentile_cont():
    """SQLite's aggregate gives PostgreSQL's percentile_cont: interpolated, nulls left out,
    NULL for none."""
    agg = st.QuantilesCont()
    assert agg.finalize() is None
    for v in (4.0, None, 0.25, 1.0, 10.0):
        agg.step(v)
    median, p90 = st._decode_quantiles(agg.finalize())
    assert median == pytest.approx(2.5) and p90 == pytest.approx(10.0 - 0.3 * 6.0)
    assert st._decode_quantiles(None) == [None, None]
    assert st._decode_quantiles([1, 2.5]) == [1.0, 2.5]
