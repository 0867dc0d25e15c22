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
