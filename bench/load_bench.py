"""Load and crash test of the service on loopback, for SQLite and PostGIS.

50 writers behave like phones on a bad network: each creates incident reports with an
``Idempotency-Key``; some requests time out on the client after the server may already have
committed them, and connection errors are retried with back-off, always with the same key,
until the server acknowledges (201, or 201 replayed). 10 readers fetch GeoJSON: the active
plan's grids, pages of OGC buildings, incidents in a random bbox. After the run the store is
checked directly: every acknowledged record is there with the id the client was given, no key
has two records, every record is whole (geometry, bbox, its idempotency row).

With ``--kill`` the server is killed with SIGKILL half-way (a partition job is started just
before, so that one is running) and started again; clients keep retrying through the outage.
Afterwards the same checks run, plus: the job cut off is marked interrupted and no plan exists
without its job having succeeded.

    python bench/load_bench.py                      # SQLite and PostGIS, 60 s, then --kill runs
    python bench/load_bench.py --backend sqlite --seconds 20 --no-kill
    python bench/load_bench.py --record bench/load_results.md

PostGIS: a fresh database is made on --postgis-url (default $WANGGE_TEST_POSTGIS_URL or
postgresql+psycopg2://postgres@127.0.0.1:5432/test) and dropped afterwards.
Latencies are wall-clock times of requests that got an answer, in milliseconds.

The load clients share the machine with the server, so they are made light: one event loop
(uvloop) and plain keep-alive HTTP/1.1 connections parsed by httptools (:class:`LightClient`,
about a tenth of httpx's CPU per request), and the client's own CPU time is measured and
printed beside the server's (ms per acknowledged report): on 2 cores every ms the client
spends is a ms the server does not get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httptools
import httpx
import numpy as np
import psutil
import uvloop
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.auth import issue_token  # noqa: E402
from api.store import models as m  # noqa: E402
from api.store.db import Database  # noqa: E402
from tests.synthetic import write_district_osm  # noqa: E402

DEFAULT_POSTGIS = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
CATEGORIES = ["environment", "public_facilities", "public_order", "neighbour_dispute", "parking",
              "noise", "stray_animals", "building_safety"]
BAD_NETWORK_SHARE = 0.15  # requests whose client gives up after 1-40 ms
BUILDINGS = 1000


@dataclass
class Stats:
    write_ms: list[float] = field(default_factory=list)
    read_ms: list[float] = field(default_factory=list)
    read_bytes: int = 0
    acked: dict[str, int] = field(default_factory=dict)  # key -> id the client was given
    attempts: int = 0
    client_timeouts: int = 0
    connection_errors: int = 0
    replayed: int = 0
    server_errors: int = 0
    read_errors: int = 0


class TransportError(Exception):
    """The connection failed or closed before the answer (the server down or killed)."""


@dataclass
class Answer:
    """An HTTP answer: status, headers (lower-case names, bytes), body."""

    status: int
    headers: dict[bytes, bytes]
    content: bytes

    def json(self):
        return json.loads(self.content)


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; answers parsed by httptools."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"bad answer: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self._fail(TransportError("connection closed"))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        answer = Answer(self.parser.get_status_code(), self._headers, b"".join(self._body))
        if not self.parser.should_keep_alive():
            self.closed = True
        self._headers, self._body = {}, []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(answer)


class LightClient:
    """A keep-alive HTTP/1.1 client for one task (one request at a time), far lighter on
    the CPU than httpx: a request is one write of prepared bytes, its answer parsed in C. A
    request that times out or fails drops the connection (the next one opens another), as a
    phone's would."""

    def __init__(self, base: str, secret: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.head = (f"Host: {base.removeprefix('http://')}\r\n"
                     f"Authorization: Bearer {secret}\r\n").encode()
        self.conn: _Connection | None = None

    async def _connection(self) -> _Connection:
        if self.conn is None or self.conn.closed:
            try:
                _, self.conn = await asyncio.get_running_loop().create_connection(
                    _Connection, self.host, self.port)
            except OSError as exc:
                raise TransportError(str(exc)) from None
        return self.conn

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None,
                      timeout: float = 30.0) -> Answer:
        """Send one request, wait ``timeout`` s at most for its answer (TimeoutError, the
        connection dropped); TransportError when the connection fails."""
        conn = await self._connection()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()).encode()
        if body:
            extra += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        conn.waiter = asyncio.get_running_loop().create_future()
        conn.transport.write(b"%s %s HTTP/1.1\r\n%s%s\r\n%s" % (
            method.encode(), path.encode(), self.head, extra, body))
        try:
            async with asyncio.timeout(timeout):
                return await conn.waiter
        except BaseException:
            conn._fail(TransportError("abandoned"))
            self.conn = None
            raise
        finally:
            conn.waiter = None

    async def post_json(self, path: str, payload, headers: dict[str, str] | None = None,
                        timeout: float = 30.0) -> Answer:
        return await self.request("POST", path, json.dumps(payload).encode(), headers, timeout)

    async def get(self, path: str, params: dict | None = None,
                  timeout: float = 30.0) -> Answer:
        if params:
            path += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        return await self.request("GET", path, timeout=timeout)

    def close(self) -> None:
        if self.conn is not None and self.conn.transport is not None:
            self.conn.transport.close()
        self.conn = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``wangge serve`` in a subprocess."""

    def __init__(self, data_dir: Path, port: int, database_url: str | None,
                 workers: int | None = None) -> None:
        self.data_dir, self.port, self.database_url = data_dir, port, database_url
        self.workers = workers
        self.proc: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> float:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("WANGGE_DATABASE_URL", None)
        if self.database_url:
            env["WANGGE_DATABASE_URL"] = self.database_url
        log = (self.data_dir / "server.log").open("ab")
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli.service", "serve", "--port", str(self.port),
             "--data-dir", str(self.data_dir),
             *(["--workers", str(self.workers)] if self.workers else [])],
            env=env, stdout=log, stderr=log,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/ogc/conformance", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.data_dir / 'server.log'}")
            time.sleep(0.1)
        raise RuntimeError("server did not start in 60 s")

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its job processes
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()


def tree_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of process ``pid`` and each of its descendants, by pid."""
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for proc in procs:
        try:
            t = proc.cpu_times()
            out[proc.pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def database_cpu_s(url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend serving the database of ``url``, by pid (the
    database server's work for the service; {} for SQLite, which runs in the service)."""
    if not url.startswith("postgresql"):
        return {}
    engine = create_engine(url)
    with engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND pid <> pg_backend_pid()")).scalars()
        out = {}
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                out[pid] = t.user + t.system
            except psutil.NoSuchProcess:
                pass
    engine.dispose()
    return out


def prepare_database(url: str, writers: int, readers: int) -> dict:
    """Migrate and issue tokens: one admin, one planner per reader, one reporter per phone."""
    db = Database(url)
    db.upgrade()
    with db.writing() as s:
        admin = issue_token(s, "admin", "bench admin")[1]
        planners = [issue_token(s, "planner", f"reader {i}")[1] for i in range(readers)]
        phones = [issue_token(s, "reporter", f"phone {i}")[1] for i in range(writers)]
    db.dispose()
    return {"admin": admin, "planners": planners, "phones": phones}


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def setup_plan(base: str, tokens: dict, district: Path) -> tuple[list[float], int]:
    """Upload the district, partition it, activate the plan; returns its bbox and dataset id
    (and keeps the plan's grids in ``GRIDS`` for :func:`report_points`)."""
    h = auth(tokens["admin"])
    with district.open("rb") as f:
        r = httpx.post(f"{base}/datasets", headers=h, files={"file": (district.name, f)},
                       timeout=300)
    r.raise_for_status()
    dataset = r.json()
    job = httpx.post(f"{base}/plans", headers=h, json={"dataset_id": dataset["id"]}).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.5)
        job = httpx.get(f"{base}/jobs/{job['id']}", headers=h).json()
    if job["status"] != "succeeded":
        raise RuntimeError(f"plan job failed: {job}")
    plan_id = job["result"]["plan_id"]
    httpx.post(f"{base}/plans/{plan_id}/activate", headers=h).raise_for_status()
    GRIDS[:] = httpx.get(f"{base}/plans/{plan_id}/grids", headers=h,
                         timeout=60).json()["features"]
    return dataset["bbox"], dataset["id"]


GRIDS: list[dict] = []
AREA: list[tuple[list, object]] = []  # (GRIDS, their union) made by report_points


def report_points(bbox: list[float], n: int = 5000, seed: int = 0) -> list[tuple[float, float]]:
    """``n`` random points inside the active plan's grids (a report outside every community
    is refused with 422 since issue 21, item 12). The grids' union is made once: made by
    every writer as it started, it held the client's event loop for seconds (the first
    answers' latencies counted that wait)."""
    import shapely
    import shapely.geometry

    if not AREA or AREA[0][0] is not GRIDS:
        area = shapely.union_all([shapely.geometry.shape(g["geometry"]) for g in GRIDS])
        shapely.prepare(area)
        AREA[:] = [(GRIDS, area)]
    area = AREA[0][1]
    rnd, points = random.Random(seed), []
    while len(points) < n:
        x, y = rnd.uniform(bbox[0], bbox[2]), rnd.uniform(bbox[1], bbox[3])
        if shapely.contains_xy(area, x, y):
            points.append((x, y))
    return points


async def writer(idx: int, base: str, secret: str, points: list[tuple[float, float]],
                 stop_at: float, grace_until: float, stats: Stats) -> None:
    rnd = random.Random(idx)
    client = LightClient(base, secret)
    try:
        while time.monotonic() < stop_at:
            key = f"bench-{idx}-{uuid.uuid4().hex}"
            lon, lat = rnd.choice(points)
            body = {"category": rnd.choice(CATEGORIES), "description": key,
                    "lon": lon, "lat": lat}
            delay = 0.05
            while time.monotonic() < grace_until:  # retry until acknowledged
                bad = rnd.random() < BAD_NETWORK_SHARE
                timeout = rnd.uniform(0.001, 0.04) if bad else 30.0
                stats.attempts += 1
                started = time.perf_counter()
                try:
                    r = await client.post_json("/incidents", body, timeout=timeout,
                                               headers={"Idempotency-Key": key})
                except TimeoutError:
                    stats.client_timeouts += 1
                except TransportError:
                    stats.connection_errors += 1
                else:
                    if r.status == 201:
                        stats.write_ms.append(1000 * (time.perf_counter() - started))
                        stats.acked[key] = r.json()["id"]
                        stats.replayed += r.headers.get(b"idempotent-replayed") == b"true"
                        break
                    stats.server_errors += 1
                await asyncio.sleep(delay * rnd.uniform(0.5, 1.5))
                delay = min(delay * 2, 2.0)
    finally:
        client.close()


async def reader(idx: int, base: str, secret: str, bbox: list[float], stop_at: float,
                 stats: Stats) -> None:
    rnd = random.Random(1000 + idx)
    client = LightClient(base, secret)
    try:
        while time.monotonic() < stop_at:
            kind = rnd.randrange(3)
            if kind == 0:
                url, params = "/grids", {}
            elif kind == 1:
                url, params = "/ogc/collections/buildings/items", {
                    "limit": 100, "offset": rnd.randrange(0, BUILDINGS, 100)}
            else:
                x = rnd.uniform(bbox[0], bbox[2])
                y = rnd.uniform(bbox[1], bbox[3])
                url, params = "/ogc/collections/incidents/items", {
                    "limit": 100, "bbox": f"{x - 0.002},{y - 0.002},{x + 0.002},{y + 0.002}"}
            started = time.perf_counter()
            try:
                r = await client.get(url, params)
            except (TransportError, TimeoutError):
                stats.read_errors += 1
                await asyncio.sleep(0.2)
                continue
            if r.status == 200:
                stats.read_ms.append(1000 * (time.perf_counter() - started))
                stats.read_bytes += len(r.content)
            else:
                stats.read_errors += 1
    finally:
        client.close()


async def load(base: str, tokens: dict, bbox: list[float], seconds: float,
               kill_at: float | None, server: Server, dataset_id: int, stats: Stats) -> dict:
    # every writer's points drawn before the clock starts (no CPU work in the client's loop)
    points = [report_points(bbox, 500, seed=i) for i in range(len(tokens["phones"]))]
    start = time.monotonic()
    stop_at = start + seconds
    grace_until = stop_at + 60  # let unacknowledged reports finish retrying
    tasks = [asyncio.create_task(writer(i, base, s, points[i], stop_at, grace_until, stats))
             for i, s in enumerate(tokens["phones"])]
    tasks += [asyncio.create_task(reader(i, base, s, bbox, stop_at, stats))
              for i, s in enumerate(tokens["planners"])]
    crash: dict = {}
    if kill_at is not None:
        await asyncio.sleep(kill_at - 1.5)
        admin = LightClient(base, tokens["admin"])
        job = (await admin.post_json("/plans", {"dataset_id": dataset_id,
                                                "target_households": 200})).json()
        admin.close()
        crash["job_id"] = job["id"]
        await asyncio.sleep(1.5)
        crash["acked_before_kill"] = len(stats.acked)
        server.kill9()
        crash["killed_at_s"] = round(time.monotonic() - start, 1)
        crash["restart_s"] = round(await asyncio.to_thread(server.start), 2)
        back, acked_back = time.monotonic(), len(stats.acked)
        await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
        crash["writes_per_s_after_restart"] = round(
            (len(stats.acked) - acked_back) / max(time.monotonic() - back, 1e-9), 1)
    await asyncio.gather(*tasks)
    crash["elapsed_s"] = round(time.monotonic() - start, 1)
    return crash


def verify(url: str, stats: Stats, crash: dict) -> dict:
    """Check the store directly: nothing acknowledged lost, nothing duplicated or partial."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(select(m.IncidentRow.id, m.IncidentRow.description, m.IncidentRow.geom,
                                   m.IncidentRow.minx).where(
            m.IncidentRow.description.like("bench-%"))).all()
        keys = dict(conn.execute(select(m.IdempotencyKeyRow.key,
                                        m.IdempotencyKeyRow.response)).all())
        result = {"records": len(rows)}
        by_key: dict[str, list[int]] = {}
        for ident, key, _geom, _minx in rows:
            by_key.setdefault(key, []).append(ident)
        # A report of the same category within 30 m and 24 h of an open one is merged into it:
        # its answer carries that incident's id, so an acknowledged key must point at a stored
        # incident through its idempotency row, not at a record of its own.
        ids = {ident for ident, *_ in rows}
        result["acknowledged"] = len(stats.acked)
        result["merged"] = sum(i != by_key.get(k, [None])[0] for k, i in stats.acked.items())
        result["lost"] = sum(i not in ids or k not in keys or keys[k]["id"] != i
                             for k, i in stats.acked.items())
        result["duplicated"] = sum(len(v) > 1 for v in by_key.values())
        result["partial"] = sum(g is None or x is None for _, _, g, x in rows) + sum(
            k not in keys or keys[k]["id"] != v[0] for k, v in by_key.items())
        result["unacknowledged_in_store"] = len(set(by_key) - set(stats.acked))
        if "job_id" in crash:
            job = conn.execute(select(m.JobRow.status)
                               .where(m.JobRow.id == crash["job_id"])).scalar()
            result["job_at_kill"] = job
            orphan = conn.execute(select(func.count()).select_from(m.PlanRow).join(
                m.JobRow, m.JobRow.id == m.PlanRow.job_id).where(
                    m.JobRow.status != "succeeded")).scalar()
            result["plans_without_successful_job"] = orphan
            uneven = conn.execute(text(
                "SELECT count(*) FROM plans p WHERE (SELECT count(*) FROM grids g "
                "WHERE g.plan_id = p.id) = 0")).scalar()
            result["plans_without_grids"] = uneven
    engine.dispose()
    return result


def percentiles(values: list[float]) -> tuple[float, float, float]:
    if not values:
        return (float("nan"),) * 3
    p = np.percentile(values, [50, 95, 99])
    return tuple(round(float(v), 1) for v in p)


def make_postgis_db(server_url: str) -> str:
    url = make_url(server_url)
    name = f"wangge_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgis_db(server_url: str, db_url: str) -> None:
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(db_url).database}" WITH (FORCE)'))
    admin.dispose()


def run(backend: str, seconds: float, kill: bool, writers: int, readers: int,
        postgis_url: str, district: Path, workers: int | None = None) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"wangge-load-{backend}-"))
    db_url = make_postgis_db(postgis_url) if backend == "postgis" else None
    url = db_url or f"sqlite:///{work / 'wangge.db'}"
    try:
        tokens = prepare_database(url, writers, readers)
        server = Server(work, free_port(), db_url, workers)
        server.start()
        try:
            bbox, dataset_id = setup_plan(server.base, tokens, district)
            stats = Stats()
            server_cpu = tree_cpu_s(server.proc.pid)
            db_cpu = database_cpu_s(url)
            client_cpu = time.process_time()
            crash = uvloop.run(load(server.base, tokens, bbox, seconds,
                                    seconds / 2 if kill else None, server, dataset_id,
                                    stats))
            client_cpu = time.process_time() - client_cpu
            after = tree_cpu_s(server.proc.pid)
            # the server's processes alive at both ends (after a kill -9 they are others)
            server_cpu_s = sum(t - server_cpu[p] for p, t in after.items() if p in server_cpu)
            # backends opened during the run count whole; those closed before its end are
            # missed (the pools keep theirs open)
            db_cpu_s = sum(t - db_cpu.get(p, 0.0) for p, t in database_cpu_s(url).items())
        finally:
            server.stop()
        checks = verify(url, stats, crash)
    finally:
        if db_url:
            drop_postgis_db(postgis_url, db_url)
    w50, w95, w99 = percentiles(stats.write_ms)
    r50, r95, r99 = percentiles(stats.read_ms)
    elapsed = crash["elapsed_s"]
    return {"backend": backend, "kill": kill, "seconds": seconds, "elapsed_s": elapsed,
            "writes_acked": len(stats.acked), "writes_per_s": round(len(stats.acked) / seconds, 1),
            "write_p50_ms": w50, "write_p95_ms": w95, "write_p99_ms": w99,
            "reads": len(stats.read_ms), "reads_per_s": round(len(stats.read_ms) / seconds, 1),
            "read_mb": round(stats.read_bytes / 1e6, 1),
            "read_p50_ms": r50, "read_p95_ms": r95, "read_p99_ms": r99,
            "attempts": stats.attempts, "client_timeouts": stats.client_timeouts,
            "connection_errors": stats.connection_errors, "replayed": stats.replayed,
            "server_errors": stats.server_errors, "read_errors": stats.read_errors,
            "load_avg_1min": round(os.getloadavg()[0], 1),
            "client_cpu_ms": round(1000 * client_cpu / max(len(stats.acked), 1), 2),
            "server_cpu_ms": (None if kill else
                              round(1000 * server_cpu_s / max(len(stats.acked), 1), 2)),
            "database_cpu_ms": (None if kill or backend == "sqlite" else
                                round(1000 * db_cpu_s / max(len(stats.acked), 1), 2)),
            "cores_used": (None if kill else round(
                (server_cpu_s + db_cpu_s + client_cpu) / crash["elapsed_s"], 2)),
            **{k: v for k, v in crash.items() if k != "elapsed_s"}, **checks}


def print_result(r: dict) -> None:
    print(f"\n== {r['backend']} {'with kill -9' if r['kill'] else ''} "
          f"({r['seconds']:g} s load, {r['elapsed_s']} s with retries)")
    print(f"写入 writes: {r['writes_acked']} acknowledged, {r['writes_per_s']}/s; latency "
          f"p50 {r['write_p50_ms']} ms, p95 {r['write_p95_ms']} ms, p99 {r['write_p99_ms']} ms")
    print(f"  attempts {r['attempts']}, client timeouts {r['client_timeouts']}, connection "
          f"errors {r['connection_errors']}, replayed {r['replayed']}, "
          f"server errors {r['server_errors']}")
    print(f"读取 reads: {r['reads']}, {r['reads_per_s']}/s, {r['read_mb']} MB; latency "
          f"p50 {r['read_p50_ms']} ms, p95 {r['read_p95_ms']} ms, p99 {r['read_p99_ms']} ms; "
          f"errors {r['read_errors']}; machine load average {r['load_avg_1min']}")
    print(f"CPU per acknowledged report (readers' share included): client "
          f"{r['client_cpu_ms']} ms, service {r['server_cpu_ms']} ms, PostgreSQL "
          f"{r['database_cpu_ms']} ms; cores used by them {r['cores_used']}")
    if r["kill"]:
        print(f"kill -9 at {r['killed_at_s']} s after {r['acked_before_kill']} acks; "
              f"restart took {r['restart_s']} s, then {r['writes_per_s_after_restart']} "
              f"writes/s; job cut off: {r['job_at_kill']}; plans "
              f"without a successful job {r['plans_without_successful_job']}, without grids "
              f"{r['plans_without_grids']}")
    print(f"检查 checks: records {r['records']} ({r['merged']} reports merged into "
          f"duplicates), lost {r['lost']}, duplicated "
          f"{r['duplicated']}, partial {r['partial']}, in store but never acknowledged "
          f"{r['unacknowledged_in_store']}")


def ok(r: dict) -> bool:
    return (r["lost"] == 0 and r["duplicated"] == 0 and r["partial"] == 0
            and r.get("plans_without_successful_job", 0) == 0
            and r.get("plans_without_grids", 0) == 0)


COLUMNS = ["backend", "kill", "writes_acked", "writes_per_s", "write_p50_ms", "write_p95_ms",
           "write_p99_ms", "reads", "reads_per_s", "read_p50_ms", "read_p95_ms", "read_p99_ms",
           "attempts", "client_timeouts", "connection_errors", "replayed", "merged", "lost",
           "duplicated", "partial", "client_cpu_ms", "server_cpu_ms", "database_cpu_ms",
           "cores_used", "load_avg_1min"]


def record(path: Path, results: list[dict], args) -> None:
    lines = [
        f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
        f"{args.writers} writers + {args.readers} readers, {args.seconds:g} s",
        "",
        f"`python bench/load_bench.py --seconds {args.seconds:g} --backend {args.backend}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{BUILDINGS}-building synthetic district; {BAD_NETWORK_SHARE:.0%} of write attempts "
        "time out on the client after 1-40 ms. Latencies in ms.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in results]
    for r in results:
        if r["kill"]:
            lines.append(
                f"\n{r['backend']} kill -9 at {r['killed_at_s']} s ({r['acked_before_kill']} "
                f"acknowledged before), restart {r['restart_s']} s, then "
                f"{r['writes_per_s_after_restart']} writes/s until the end; the partition job "
                f"running then ended `{r['job_at_kill']}`; plans without a successful job: "
                f"{r['plans_without_successful_job']}; in store but never acknowledged: "
                f"{r['unacknowledged_in_store']}.")
    with path.open("a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["sqlite", "postgis", "both"], default="both")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--writers", type=int, default=50)
    p.add_argument("--readers", type=int, default=10)
    p.add_argument("--workers", type=int, help="service processes (default: wangge serve's, "
                   "the CPU count)")
    p.add_argument("--no-kill", action="store_true", help="skip the kill -9 runs")
    p.add_argument("--kill-only", action="store_true", help="only the kill -9 runs")
    p.add_argument("--postgis-url", default=os.environ.get("WANGGE_TEST_POSTGIS_URL",
                                                           DEFAULT_POSTGIS))
    p.add_argument("--record", type=Path, help="append a table to this Markdown file")
    args = p.parse_args(argv)
    district = Path(tempfile.mkdtemp(prefix="wangge-load-")) / "district.osm"
    write_district_osm(district, BUILDINGS, seed=7)
    backends = ["sqlite", "postgis"] if args.backend == "both" else [args.backend]
    kills = [True] if args.kill_only else [False] if args.no_kill else [False, True]
    results = []
    for backend in backends:
        for kill in kills:
            r = run(backend, args.seconds, kill, args.writers, args.readers, args.postgis_url,
                    district, args.workers)
            print_result(r)
            results.append(r)
    if args.record:
        record(args.record, results, args)
    good = all(ok(r) for r in results)
    print("\n结果 result:", "通过 PASS" if good else "失败 FAIL")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
