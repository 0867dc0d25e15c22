"""Indicators benchmark: GET /indicators for a district of 300 grids and 100,000 incidents.

A store (SQLite file, or a fresh PostGIS database) is filled with one active plan of 300 grids
in 30 communities, a worker per grid, 100,000 incidents over the year 2026 (accepted, closed,
rejected, open, reopened, escalated in realistic shares, with their deadlines) and 40,000
residents' ratings, by bulk inserts (executemany). Then each level (grid, worker, community)
is asked through the service (FastAPI's TestClient, JSON) for: the whole year by month (all
100,000 incidents, 12 buckets a key), the whole year as one custom period, one month by day.
Each request is timed --repeat times (3) after a warm-up; the table gives the median and the
slowest, in milliseconds, the median CPU time of this process (less sensitive to other work
on the machine than wall time; PostgreSQL's server time is not in it) and the load average
while measuring. Also: the very first request (the grid's year by month; on a store just
filled or migrated it computes every indicator cell, api.store.indicator_cells), and the same
request right after a write (an incident accepted: its cell computed again first); with
--formats, the grid's cases as CSV and as the Excel workbook. Target: <= 1,000 ms on SQLite
and PostGIS (issue #17).

    python bench/indicators_bench.py                     # SQLite and PostGIS
    python bench/indicators_bench.py --backend sqlite --incidents 20000
    python bench/indicators_bench.py --record bench/indicators_results.md
    python bench/indicators_bench.py --sqlite-file /tmp/ind.db --postgis-db ind_bench  # kept

PostGIS: a database is made on --postgis-url (default $WANGGE_TEST_POSTGIS_URL or
postgresql+psycopg2://postgres@127.0.0.1:5432/test) and dropped afterwards. With
--sqlite-file or --postgis-db the store is kept and, when it already holds the bench's
incidents, reused as it is (migrated to the current schema first): filling takes minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely
from sqlalchemy import create_engine, insert, inspect, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.app import create_app  # noqa: E402
from api.auth import issue_token  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.store import models as m  # noqa: E402
from api.store.db import Database  # noqa: E402

GRIDS, PER_COMMUNITY = 300, 10
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # 1 Jan, Beijing
STAGES_OPEN = ["reported", "accepted", "dispatched", "in_progress", "handled", "verified",
               "returned"]


def fill(url: str, incidents: int, seed: int = 17) -> str:
    """Fill the store at ``url``; returns an admin token."""
    rng = np.random.default_rng(seed)
    db = Database(url)
    db.upgrade()
    with db.writing() as s:
        _, secret = issue_token(s, "admin", "bench")
        dataset = m.DatasetRow(name="bench", filename="bench.osm", path="bench.osm",
                               size_bytes=0)
        s.add(dataset)
        s.flush()
        plan = m.PlanRow(dataset_id=dataset.id, name="bench", status="active",
                         target_households=300)
        s.add(plan)
        s.flush()
        cells = []
        for k in range(GRIDS):
            x, y = 118.70 + (k % 20) * 0.004, 32.00 + (k // 20) * 0.004
            community = f"32010600{k // PER_COMMUNITY:04d}"
            cells.append({"plan_id": plan.id, "code": f"{community}{k % PER_COMMUNITY:03d}",
                          "community": f"社区{k // PER_COMMUNITY:02d}", "households": 300,
                          "geom": shapely.box(x, y, x + 0.004, y + 0.004),
                          "minx": x, "miny": y, "maxx": x + 0.004, "maxy": y + 0.004})
        s.execute(insert(m.GridRow), cells)
        s.execute(insert(m.WorkerRow), [{"name": f"网格员{k:03d}"} for k in range(GRIDS)])
        grid_ids = s.execute(text("SELECT id, code FROM grids ORDER BY id")).all()
        worker_ids = [r[0] for r in s.execute(text("SELECT id FROM workers ORDER BY id"))]
        s.execute(insert(m.AssignmentRow), [
            {"plan_id": plan.id, "grid_id": g, "worker_id": w, "role": "worker"}
            for (g, _), w in zip(grid_ids, worker_ids, strict=True)])
        codes = [c for _, c in grid_ids]
        plan_id = plan.id
    n = incidents
    grid = rng.integers(0, GRIDS, n)
    created = [YEAR_START + timedelta(seconds=float(v))
               for v in rng.uniform(0, 365 * 86400, n)]
    accept_delay = rng.exponential(1.5, n)
    close_delay = rng.exponential(48, n)
    kind = rng.choice(["closed", "rejected", "open"], n, p=[0.8, 0.05, 0.15])
    accepted = (kind != "open") | (rng.random(n) < 0.7)
    reopened = (kind == "closed") & (rng.random(n) < 0.03)
    escalated = rng.random(n) < 0.05
    rows = []
    for i in range(n):
        at = created[i]
        lon = float(118.70 + (grid[i] % 20) * 0.004 + 0.002)
        lat = float(32.00 + (grid[i] // 20) * 0.004 + 0.002)
        status = (str(kind[i]) if kind[i] != "open"
                  else STAGES_OPEN[1 + int(rng.integers(0, 6))] if accepted[i] else "reported")
        rows.append({
            "category": "noise", "description": "", "status": status, "plan_id": plan_id,
            "grid_code": codes[grid[i]], "created_at": at, "updated_at": at,
            "accept_by": at + timedelta(hours=2), "close_by": at + timedelta(hours=72),
            "accepted_at": at + timedelta(hours=float(accept_delay[i])) if accepted[i]
            else None,
            "closed_at": at + timedelta(hours=float(close_delay[i])) if status == "closed"
            else None,
            "reopened": int(reopened[i]), "escalated_to": "网格长" if escalated[i] else None,
            "geom": shapely.Point(lon, lat), "minx": lon, "miny": lat, "maxx": lon,
            "maxy": lat})
    chunk = 20_000
    with db.writing() as s:
        for k in range(0, n, chunk):
            s.execute(insert(m.IncidentRow), rows[k:k + chunk])
        ids = [r[0] for r in s.execute(text("SELECT id FROM incidents WHERE status = 'closed' "
                                            "ORDER BY id"))]
        rated = rng.choice(ids, size=min(40_000, len(ids)), replace=False)
        ratings = rng.choice(["satisfied", "basic", "unsatisfied"], len(rated),
                             p=[0.7, 0.2, 0.1])
        now = datetime.now(UTC)
        s.execute(insert(m.FeedbackRow), [
            {"incident_id": int(i), "closed_seq": 7, "rating": str(r), "fixed": True,
             "comment": "", "channel": "app", "reopened": False, "created_at": now}
            for i, r in zip(rated, ratings, strict=True)])
    db.dispose()
    return secret


CASES = [("year by month", {"period": "month", "start": "2026-01-01", "end": "2026-12-31"}),
         ("year, one period", {"period": "custom", "start": "2026-01-01",
                               "end": "2026-12-31"}),
         ("one month by day", {"period": "day", "start": "2026-06-01", "end": "2026-06-30"})]


def _timed(client, query: dict, headers: dict) -> tuple[dict, float, float]:
    """One request: its JSON, wall and CPU time of this process (ms)."""
    t0, c0 = time.perf_counter(), time.process_time()
    r = client.get("/indicators", params=query, headers=headers)
    wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    assert r.status_code == 200, r.text
    return (r.json() if r.headers["content-type"].startswith("application/json") else {},
            wall, cpu)


def _row(level: str, case: str, body: dict, times: list[float], cpu: list[float],
         load: float) -> dict:
    rows = body.get("rows", [])
    return {"level": level, "case": case, "rows": len(rows),
            "incidents": sum(row["received"] for row in rows),
            "median_ms": statistics.median(times), "max_ms": max(times),
            "cpu_ms": statistics.median(cpu), "load": (load + os.getloadavg()[0]) / 2}


def _write_one(url: str, k: int) -> None:
    """Accept the ``k``-th incident still reported (a write of the service's kind: its
    cell is marked and computed again at the next reading)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        incident = conn.execute(text("SELECT id, created_at FROM incidents WHERE status = "
                                     "'reported' ORDER BY id LIMIT 1 OFFSET :k"),
                                {"k": k}).one()
        conn.execute(text("UPDATE incidents SET status = 'accepted', accepted_at = :at "
                          "WHERE id = :id"),
                     {"id": incident.id, "at": datetime(2026, 12, 4, tzinfo=UTC)})
    engine.dispose()


def measure(url: str, secret: str, data_dir: Path, repeat: int = 3,
            formats: bool = False) -> list[dict]:
    """Every level and case (JSON), after a warm-up each; the very first request (on a
    store just filled or migrated: every indicator cell computed then); the grid's year by
    month right after a write (one cell computed again); with ``formats``, the grid's cases
    as CSV and as the Excel workbook too."""
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=data_dir, database_url=url), start_jobs=False)
    out = []
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        year = {"level": "grid", **dict(CASES)["year by month"]}
        body, wall, cpu = _timed(client, year, headers)
        out.append(_row("grid", "year by month, first request", body, [wall], [cpu],
                        os.getloadavg()[0]))
        kinds = [("json", "")] + ([("csv", ", CSV"), ("xlsx", ", Excel")] if formats else [])
        for level in ("grid", "worker", "community"):
            for fmt, label in kinds if level == "grid" else kinds[:1]:
                for name, params in CASES:
                    query = {"level": level, **params, "format": fmt}
                    body = _timed(client, query, headers)[0]  # warm-up
                    load = os.getloadavg()[0]
                    runs = [_timed(client, query, headers)[1:] for _ in range(repeat)]
                    out.append(_row(level, name + label, body, [w for w, _ in runs],
                                    [c for _, c in runs], load))
        load, runs = os.getloadavg()[0], []
        for k in range(repeat):
            _write_one(url, k)
            body, wall, cpu = _timed(client, year, headers)
            runs.append((wall, cpu))
        out.append(_row("grid", "year by month, after a write", body, [w for w, _ in runs],
                        [c for _, c in runs], load))
    return out


def _filled(url: str, incidents: int) -> str | None:
    """An admin token for a kept store that already holds ``incidents`` incidents (migrated
    to the current schema first), else None."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("incidents"):
                return None
            n = conn.execute(text("SELECT count(*) FROM incidents")).scalar_one()
    finally:
        engine.dispose()
    if n != incidents:
        if n:
            raise SystemExit(f"{url}: holds {n:,} incidents, not {incidents:,}; remove it")
        return None
    db = Database(url)
    db.upgrade()
    with db.writing() as s:
        _, secret = issue_token(s, "admin", "bench")
    db.dispose()
    return secret


def _postgis_database(postgis_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``postgis_url``, made (with PostGIS)
    when missing."""
    server = make_url(postgis_url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": name}).first()
        if exists is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db_url = server.set(database=name)
    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    return db_url.render_as_string(hide_password=False)


def _drop_postgis_database(postgis_url: str, name: str) -> None:
    admin = create_engine(make_url(postgis_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run(backend: str, incidents: int, postgis_url: str, sqlite_file: Path | None = None,
        postgis_db: str | None = None, repeat: int = 3,
        formats: bool = False) -> list[dict]:
    """Fill (or reuse a kept store) and measure one backend."""
    with tempfile.TemporaryDirectory() as tmp:
        drop = None
        if backend == "sqlite":
            url = f"sqlite:///{sqlite_file or Path(tmp) / 'bench.db'}"
        else:
            name = postgis_db or f"wangge_bench_{uuid.uuid4().hex[:10]}"
            drop = None if postgis_db else name
            url = _postgis_database(postgis_url, name)
        try:
            secret = _filled(url, incidents)
            if secret is None:
                t0 = time.perf_counter()
                secret = fill(url, incidents)
                print(f"[{backend}] filled {incidents:,} incidents in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
                if backend == "postgis":  # statistics, committed (the server may run no
                    # autovacuum; an ANALYZE rolled back leaves the planner without them)
                    engine = create_engine(url, isolation_level="AUTOCOMMIT")
                    with engine.connect() as conn:
                        conn.execute(text("ANALYZE"))
                    engine.dispose()
            else:
                print(f"[{backend}] reusing {url}", flush=True)
            results = measure(url, secret, Path(tmp) / "data", repeat, formats)
        finally:
            if drop is not None:
                _drop_postgis_database(postgis_url, drop)
    return [{"backend": backend, **r} for r in results]


def table(results: list[dict]) -> str:
    """The results as a Markdown table: wall times (median, slowest), the median CPU time of
    this process (the service in-process; PostgreSQL's own work is not in it) and the load
    average (1 min) while measuring."""
    lines = ["| backend | level | request | keys × periods | incidents | median ms | max ms "
             "| ≤ 1 s | client CPU ms | load |", "|---|---|---|---:|---:|---:|---:|---|---:|---:|"]
    for r in results:
        ok = "yes" if r["max_ms"] <= 1000 else "**no**"
        lines.append(f"| {r['backend']} | {r['level']} | {r['case']} | {r['rows']:,} | "
                     f"{r['incidents']:,} | {r['median_ms']:.0f} | {r['max_ms']:.0f} | {ok} | "
                     f"{r['cpu_ms']:.0f} | {r['load']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="both")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--postgis-url", default=os.environ.get(
        "WANGGE_TEST_POSTGIS_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--record", type=Path, help="write the table to this Markdown file")
    parser.add_argument("--sqlite-file", type=Path,
                        help="SQLite store to fill once and keep (reused when filled)")
    parser.add_argument("--postgis-db", help="PostGIS database to fill once and keep "
                        "(reused when filled)")
    parser.add_argument("--repeat", type=int, default=3, help="timed requests per case")
    parser.add_argument("--formats", action="store_true",
                        help="the grid's cases as CSV and Excel workbook too")
    args = parser.parse_args()
    backends = ["sqlite", "postgis"] if args.backend == "both" else [args.backend]
    results = []
    for backend in backends:
        results += run(backend, args.incidents, args.postgis_url, args.sqlite_file,
                       args.postgis_db, args.repeat, args.formats)
        print(table(results), flush=True)
    if args.record:
        cpu = platform.processor() or platform.machine()
        args.record.write_text(
            "# Indicators benchmark\n\n"
            f"`python bench/indicators_bench.py` ({GRIDS} grids in {GRIDS // PER_COMMUNITY} "
            f"communities, {args.incidents:,} incidents over 2026, 40,000 ratings; "
            f"{time.strftime('%Y-%m-%d')}, {platform.python_version()}, {cpu}, "
            f"{os.cpu_count()} cores shared with other work). Times are whole requests "
            f"through the service (TestClient, JSON), median and slowest of {args.repeat} "
            "after a warm-up.\n\n" + table(results) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
