"""Job processes and the service's life (issue 21, item 10): a job process ends when the
service that started it is killed, and a job's final write happens only while its process
still holds the job's lease (status running and its owner token)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api import jobs
from api.jobs import runner as job_runner
from api.jobs.runner import JobRunner, process_alive, run_job
from api.services.datasets import add_dataset
from api.settings import Settings
from api.store import models as m
from api.store.db import Database

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def store(tmp_path, district, monkeypatch):
    monkeypatch.setattr(job_runner, "_owners", {})
    settings = Settings(data_dir=tmp_path)
    db = Database(settings.url)
    db.upgrade()
    dataset_id = add_dataset(db, settings, district, name="district")
    yield db, settings, dataset_id
    db.dispose()


def _running_job(db: Database, dataset_id: int, owner: str) -> int:
    with db.writing() as s:
        job = m.JobRow(kind="partition", status="running", owner=owner,
                    params={"dataset_id": dataset_id, "target_households": 300})
        s.add(job)
        s.flush()
        return job.id


def _plans(db: Database) -> int:
    with db.read_session() as s:
        return s.scalar(select(func.count()).select_from(m.PlanRow))


def test_a_job_whose_lease_was_taken_writes_nothing(store):
    db, settings, dataset_id = store
    job_id = _running_job(db, dataset_id, owner="taken-up-again")
    run_job(settings, job_id, jobs.JOB_KINDS["partition"], owner="outlived-its-service")
    assert _plans(db) == 0
    with db.read_session() as s:
        job = s.get(m.JobRow, job_id)
        assert (job.status, job.owner, job.result) == ("running", "taken-up-again", None)
        assert job.progress == 0  # not even its progress was written


def test_a_job_interrupted_by_a_restart_writes_nothing(store):
    db, settings, dataset_id = store
    job_id = _running_job(db, dataset_id, owner="lease")
    assert JobRunner(db, settings).recover() == 1  # a new service started meanwhile
    run_job(settings, job_id, jobs.JOB_KINDS["partition"], owner="lease")
    assert _plans(db) == 0
    with db.read_session() as s:
        assert s.get(m.JobRow, job_id).status == "interrupted"


def test_the_lease_holder_records_its_plan(store):
    db, settings, dataset_id = store
    job_id = _running_job(db, dataset_id, owner="lease")
    run_job(settings, job_id, jobs.JOB_KINDS["partition"], owner="lease")
    assert _plans(db) == 1
    with db.read_session() as s:
        job = s.get(m.JobRow, job_id)
        assert job.status == "succeeded" and job.result["plan_id"] and job.progress == 1.0


SERVICE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from api import jobs
    from api.jobs.runner import JobRunner
    from api.store.db import Database
    from api.settings import Settings

    settings = Settings(data_dir=Path(sys.argv[1]))
    db = Database(settings.url)
    db.upgrade()
    jobs.JOB_KINDS["slow"] = "tests.api.test_api:slow_job"
    runner = JobRunner(db, settings)
    runner.submit("slow", {}, None)
    runner.start()
    while not runner.procs:
        time.sleep(0.1)
    print(next(iter(runner.procs.values())).pid, flush=True)
    time.sleep(600)
""")


def test_job_process_dies_with_a_killed_service(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    service = subprocess.Popen([sys.executable, "-c", SERVICE, str(tmp_path)], cwd=REPO,
                               env=env, stdout=subprocess.PIPE, text=True)
    try:
        job_pid = int(service.stdout.readline())
        time.sleep(1.0)
        assert process_alive(job_pid)
        service.send_signal(signal.SIGKILL)  # kill -9: no shutdown code runs
        service.wait(10)
        deadline = time.monotonic() + 10
        while process_alive(job_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(job_pid), "the job process outlived its service"
    finally:
        service.kill()
        service.wait(10)
    db = Database(Settings(data_dir=tmp_path).url)
    with db.read_session() as s:  # nothing recorded it as done; a restart marks it interrupted
        assert s.scalar(select(m.JobRow.status)) == "running"
    db.dispose()


# ---- several service processes: one runs the jobs (issue 21, item 7) -----------------------

def test_one_runner_holds_the_lease_and_recovers(store):
    db, settings, dataset_id = store
    job_id = _running_job(db, dataset_id, owner="lease")
    first, second = JobRunner(db, settings), JobRunner(db, settings)
    other_db = Database(settings.url)  # another process's store
    try:
        assert first.lead()
        with db.read_session() as s:  # the leader marked the job cut off by a restart
            assert s.get(m.JobRow, job_id).status == "interrupted"
        again = _running_job(db, dataset_id, owner="second-lease")
        assert not JobRunner(other_db, settings).lead()  # held: no recovery, no jobs
        assert not second.lead()
        with db.read_session() as s:
            assert s.get(m.JobRow, again).status == "running"
        first.stop()  # the lease is free again (as when its process dies)
        assert second.lead()
        with db.read_session() as s:
            assert s.get(m.JobRow, again).status == "interrupted"
    finally:
        first.stop()
        second.stop()
        other_db.dispose()


LEASE_HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from api.store.db import Database
    from api.jobs.runner import JobRunner
    from api.settings import Settings

    settings = Settings(data_dir=Path(sys.argv[1]))
    db = Database(settings.url)
    db.upgrade()
    print(JobRunner(db, settings).lead(), flush=True)
    time.sleep(600)
""")


def test_the_lease_ends_with_a_killed_process(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", LEASE_HOLDER, str(tmp_path)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, text=True)
    settings = Settings(data_dir=tmp_path)
    try:
        assert holder.stdout.readline().strip() == "True"
        db = Database(settings.url)
        runner = JobRunner(db, settings)
        assert not runner.lead()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert runner.lead()
        runner.stop()
        db.dispose()
    finally:
        holder.kill()
        holder.wait(10)


# ---- wangge serve --workers N: its workers end with it (issue 21, item 10) -------------------

def _descendants(pid: int) -> set[int]:
    """The processes below ``pid`` (Linux /proc), however deep."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        children = {child for child, parent in parents.items() if parent == current}
        todo += children - found
        found |= children
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORKER = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from api.jobs.runner import die_with

    def graceful(signum, frame):  # as uvicorn's shutdown: say so, then end
        Path(sys.argv[2]).write_text("SIGTERM")
        sys.exit(0)

    signal.signal(signal.SIGTERM, graceful)
    die_with(int(sys.argv[1]), signal.SIGTERM, 5.0)
    print("ready", flush=True)
    time.sleep(600)
""")
PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()),
                               sys.argv[2]], stdout=subprocess.PIPE, text=True)
    worker.stdout.readline()
    print(worker.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_a_service_worker_shuts_down_gracefully_when_its_parent_is_killed(tmp_path):
    """die_with(parent, SIGTERM, grace), as a worker of wangge serve calls it: kill -9 of
    the parent sends the worker SIGTERM (uvicorn's graceful shutdown, in which its job runner
    marks its jobs interrupted and frees the lease) and the worker ends."""
    marker = tmp_path / "terminated"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, WORKER, str(marker)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, text=True)
    worker_pid = 0
    try:
        worker_pid = int(parent.stdout.readline())
        assert process_alive(worker_pid) and not marker.exists()
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while process_alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(worker_pid), "the worker outlived its service"
        assert marker.read_text() == "SIGTERM"  # shut down, not killed
    finally:
        parent.kill()
        parent.wait(10)
        if worker_pid and process_alive(worker_pid):
            os.kill(worker_pid, signal.SIGKILL)


def test_workers_of_wangge_serve_end_with_it(monkeypatch, tmp_path):
    """wangge serve --workers N names itself to its workers; each worker's app ends with it
    (SIGTERM, then an exit after the grace period); without the name, nothing is tied."""
    import uvicorn

    import api.app
    from api.cli.service import main

    calls = []
    monkeypatch.setattr(api.app, "die_with", lambda *args: calls.append(args))
    monkeypatch.delenv(api.app.SERVE_PID_ENV, raising=False)
    monkeypatch.delenv("WANGGE_DATA_DIR", raising=False)
    api.app.app_from_env()
    assert calls == []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    assert main(["serve", "--data-dir", str(tmp_path), "--workers", "2"]) == 0
    assert os.environ[api.app.SERVE_PID_ENV] == str(os.getpid())
    monkeypatch.setenv(api.app.SERVE_PID_ENV, str(os.getppid()))
    api.app.app_from_env()
    assert calls == [(os.getppid(), signal.SIGTERM, api.app.WORKER_GRACE_S)]


@pytest.mark.slow  # two service processes start: about 25 s on 2 shared cores
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_workers_end_with_a_killed_wangge_serve(tmp_path):
    """kill -9 of ``wangge serve --workers 2``: its workers (one of them the job runner) end
    too, so the port and the runner lease are free for the restarted service. Before, they
    kept serving and running jobs, and the restart failed with "address already in use"."""
    import socket
    import urllib.request

    from api.jobs.runner import RunnerLease

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    serve = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--data-dir",
                              str(tmp_path), "--port", str(port), "--workers", "2"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ogc", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and serve.poll() is None, "no service"
                time.sleep(0.5)
        workers = _descendants(serve.pid)
        assert len(workers) >= 2
        serve.send_signal(signal.SIGKILL)  # kill -9: no shutdown code runs in it
        serve.wait(10)
        deadline = time.monotonic() + 30
        while any(process_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in workers if process_alive(p)], "workers outlived wangge serve"
    finally:
        for pid in (workers | _descendants(serve.pid)) if serve.poll() is None else workers:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        serve.kill()
        serve.wait(10)
    with socket.socket() as s:  # the restarted service can listen there again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    db = Database(Settings(data_dir=tmp_path).url)
    lease = RunnerLease(db, Settings(data_dir=tmp_path))
    assert lease.acquire(), "a worker still holds the job runner lease"
    lease.release()
    db.dispose()
