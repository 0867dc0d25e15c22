"""Background jobs: partition runs in worker processes, never in a request thread.

The :class:`JobRunner` owned by the app keeps at most ``settings.job_workers`` jobs running,
each in its own process (``forkserver``, with the heavy modules preloaded so a job starts
fast). A job reports progress (0..1 and the step's name) to its row; the ETA is the elapsed
time scaled by what is left. Cancelling terminates the process. A job found ``running`` when
the service starts was cut off by a restart: it is marked ``interrupted`` and can be re-run
(a new job with the same parameters). A job writes its plan, grids, buildings and its own
``succeeded`` status in one transaction, so a failure or a kill leaves no half-written plan.

A job process lives no longer than the service that started it: on Linux the kernel kills it
when its parent dies (``PR_SET_PDEATHSIG``; the parent is the forkserver, which exits with
the service), and a watchdog thread in it ends it once the service's process is gone (other
systems, or a forkserver that outlived it). The workers of ``wangge serve --workers N`` end
with the process that started them the same way (:func:`die_with`, called by
:func:`api.app.app_from_env`), so a kill -9 of ``wangge serve`` leaves no worker serving or
running jobs beside a restarted service. Claiming a job gives it an owner token (a lease,
``jobs.owner``); the job's progress and its end are written only ``WHERE status = 'running'
AND owner = <its token>`` (:func:`owned`), so a process that outlived its service, or a job
marked interrupted and taken up again meanwhile, writes nothing: its whole final transaction,
plan included, is rolled back.

With several service processes (``wangge serve --workers N``) exactly one runs jobs: the
one holding the runner lease (:class:`RunnerLease`: an exclusive ``flock`` on
``jobs.lock`` in the data folder with SQLite, a session-level PostgreSQL advisory lock on a
connection of its own with PostgreSQL; both end with the process, kill -9 included). Only the
holder marks jobs left ``running`` as interrupted, when it takes the lease; the others submit
and cancel jobs in the table, and try to take the lease every few seconds, so that another
process runs the jobs if the holder dies.
"""

from __future__ import annotations

import ctypes
import fcntl
import importlib
import logging
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, func, select, text, update

from api.errors import ApiError
from api.jobs import JOB_KINDS
from api.settings import Settings
from api.store.db import Database
from api.store.models import JobRow

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
PENDING = ("queued", "running")  # the statuses that count against the job limits
SUBMIT_LOCK_KEY = 0x57414E47  # PostgreSQL advisory lock serialising job submissions
RUNNER_LOCK_KEY = 0x57414E48  # PostgreSQL advisory lock held by the process that runs jobs
LEASE_RETRY_SECONDS = 2.0  # how often a process without the runner lease tries to take it
WATCHDOG_SECONDS = 1.0  # how often a job process checks that its service still runs
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# In a job process: the owner token of the job it runs (job id -> token).
_owners: dict[int, str] = {}


class LeaseLostError(Exception):
    """The job is no longer this process's (interrupted, cancelled or taken up again)."""


def owned(job_id: int) -> list:
    """WHERE clauses: job ``job_id`` is running and still held by this process's lease (no
    lease known, as in a test or ``api.services.demo``: running)."""
    clauses = [JobRow.id == job_id, JobRow.status == "running"]
    owner = _owners.get(job_id)
    if owner is not None:
        clauses.append(JobRow.owner == owner)
    return clauses


def finish_job(session, job_id: int, result: dict) -> bool:
    """Mark the job succeeded in the caller's transaction, only if it is still running, held
    by this process and not asked to cancel; False otherwise (the caller writes nothing)."""
    done = session.execute(update(JobRow).where(*owned(job_id), JobRow.cancel_requested.is_(False))
                           .values(status="succeeded", progress=1.0, step=None,
                                   finished_at=now(), result=result)).rowcount
    return done == 1
# Imported once by the forkserver, so that a job process starts with them loaded.
PRELOAD = ["api.jobs.runner", "api.jobs.partition", "api.jobs.dispatch", "api.store.plans",
           "partition.plan", "gis.study_area"]


def now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def eta_seconds(job: JobRow) -> float | None:
    """Seconds left, estimated from the elapsed time and the progress so far."""
    if job.status != "running" or job.started_at is None or job.progress <= 0:
        return None
    started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
    elapsed = (now() - started).total_seconds()
    return round(elapsed * (1 - job.progress) / job.progress, 1)


class RunnerLease:
    """The right to run jobs, held by one service process at a time (see the module's
    docstring); released by :meth:`release` or by the end of the process."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._fd: int | None = None
        self._conn: Connection | None = None  # PostgreSQL: the connection holding the lock

    @property
    def held(self) -> bool:
        """Whether this process holds the lease (runs the jobs)."""
        return self._fd is not None or self._conn is not None

    def acquire(self) -> bool:
        """Take the lease unless another process holds it; True when this process holds it."""
        if self.held:
            return True
        if self.db.dialect == "postgresql":
            conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": RUNNER_LOCK_KEY}).scalar()
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            conn.detach()  # never back to the pool: closing it drops the lock
            self._conn = conn
            return True
        folder = Path(self.settings.data_dir)
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "jobs.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def alive(self) -> bool:
        """Whether the lease still holds (a PostgreSQL connection may break)."""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.exec_driver_sql("SELECT 1")
        except Exception:
            log.warning("the job runner lease's connection broke: lease lost")
            self.release()
            return False
        return True

    def release(self) -> None:
        """Give the lease up (close the lock file or the connection holding the advisory lock)."""
        if self._fd is not None:
            os.close(self._fd)  # drops the flock
            self._fd = None
        if self._conn is not None:
            try:
                # unlock before closing: a closed connection's backend drops its locks only
                # when it has finished exiting, after the client has moved on, so another
                # process asking at once could still find the lease held
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": RUNNER_LOCK_KEY})
            except Exception:
                log.debug("unlocking the lease failed (the connection broke)", exc_info=True)
            try:
                self._conn.close()
            except Exception:
                log.debug("closing the lease connection failed", exc_info=True)
            self._conn = None


class JobRunner:
    """Starts queued jobs in worker processes and watches them, in the one process holding
    the :class:`RunnerLease`."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.lease = RunnerLease(db, settings)
        self.ctx = mp.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.procs: dict[int, mp.process.BaseProcess] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ---- requests from the API -------------------------------------------------------------

    def submit(self, kind: str, params: dict, created_by: int | None,
               rerun_of: int | None = None) -> JobRow:
        """Queue a job; 429 with Retry-After when the caller already has
        ``settings.max_jobs_per_user`` jobs queued or running, or everyone together
        ``settings.max_jobs``."""
        with self.db.writing() as session:
            if session.get_bind().dialect.name == "postgresql":
                # one submit at a time, so two cannot both pass the counts (SQLite: the
                # write lock taken at BEGIN does this)
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                {"key": SUBMIT_LOCK_KEY})
            self._check_limits(session, created_by)
            job = JobRow(kind=kind, params=params, created_by=created_by, rerun_of=rerun_of)
            session.add(job)
        self._wake.set()
        return job

    def _check_limits(self, session, created_by: int | None) -> None:
        pending = JobRow.status.in_(PENDING)
        total = session.scalar(select(func.count()).select_from(JobRow).where(pending))
        mine = session.scalar(select(func.count()).select_from(JobRow).where(
            pending, JobRow.created_by.is_(None) if created_by is None
            else JobRow.created_by == created_by))
        limits = self.settings
        retry = {"Retry-After": str(limits.job_retry_after_s)}
        if mine >= limits.max_jobs_per_user:
            raise ApiError(429, "too_many_jobs",
                           f"您已有 {mine} 个任务在排队或运行（每人上限 "
                           f"{limits.max_jobs_per_user} 个）：请等其完成或取消后再提交，"
                           f"约 {limits.job_retry_after_s} 秒后重试",
                           f"you already have {mine} jobs queued or running (at most "
                           f"{limits.max_jobs_per_user} each): wait for one to finish or "
                           f"cancel one, then retry in about {limits.job_retry_after_s} s",
                           headers=retry, limit=limits.max_jobs_per_user)
        if total >= limits.max_jobs:
            raise ApiError(429, "job_queue_full",
                           f"任务队列已满（共 {total} 个排队或运行，上限 {limits.max_jobs} "
                           f"个）：请约 {limits.job_retry_after_s} 秒后重试",
                           f"the job queue is full ({total} jobs queued or running, at most "
                           f"{limits.max_jobs}): retry in about {limits.job_retry_after_s} s",
                           headers=retry, limit=limits.max_jobs)

    def cancel(self, job_id: int) -> None:
        """Cancel a queued job at once; ask a running one to stop (its process is ended)."""
        with self.db.writing() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued")
                            .values(status="cancelled", finished_at=now()))
            session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                            .values(cancel_requested=True))
        self._wake.set()

    # ---- life cycle ----------------------------------------------------------------------

    def lead(self) -> bool:
        """Take the runner lease if it is free, and then mark the jobs left running by the
        previous holder interrupted; True when this process runs jobs."""
        if self.lease.held:
            return True
        if not self.lease.acquire():
            return False
        count = self.recover()
        if count:
            log.warning("%d job(s) left running by a previous service marked interrupted",
                        count)
        return True

    def recover(self) -> int:
        """Mark jobs left ``running`` by a previous process as interrupted; returns how many."""
        with self.db.writing() as session:
            result = session.execute(
                update(JobRow).where(JobRow.status == "running").values(
                    status="interrupted", finished_at=now(),
                    error="interrupted by a restart of the service; re-run it",
                    error_zh="服务重启中断了该任务，请重新运行"))
            return result.rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult

    def start(self) -> None:
        """Start the thread that runs queued jobs."""
        self._thread = threading.Thread(target=self._loop, name="wangge-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the runner: running jobs are marked interrupted and the lease released."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            self._interrupt_all("the service stopped while it ran; re-run it",
                                "服务停止时任务仍在运行，请重新运行")
        self.lease.release()

    def _interrupt_all(self, error: str, error_zh: str) -> None:
        for job_id, proc in list(self.procs.items()):
            proc.terminate()
            proc.join(timeout=5)
            self._finish(job_id, "interrupted", error, error_zh)
        self.procs.clear()

    def _loop(self) -> None:
        next_try = 0.0
        while not self._stop.is_set():
            try:
                if not self.lease.held and time.monotonic() >= next_try:
                    next_try = time.monotonic() + LEASE_RETRY_SECONDS
                    self.lead()
                if self.lease.held:
                    if self.lease.alive():
                        self.tick()
                    else:
                        with self._lock:
                            self._interrupt_all("the service lost its job runner lease; "
                                                "re-run it", "服务失去任务运行权，请重新运行")
            except Exception:  # keep watching jobs whatever one tick ran into
                log.exception("job runner tick failed")
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def tick(self) -> None:
        """Reap finished processes, honour cancel requests, start queued jobs."""
        with self._lock:
            self._reap()
            self._cancel_requested()
            self._start_queued()

    def _reap(self) -> None:
        for job_id, proc in list(self.procs.items()):
            if proc.is_alive():
                continue
            proc.join()
            del self.procs[job_id]
            if proc.exitcode != 0:  # died without recording its end (killed, out of memory)
                self._finish(job_id, "failed", f"worker process ended with code {proc.exitcode}",
                             f"任务进程异常退出（代码 {proc.exitcode}）")

    def _cancel_requested(self) -> None:
        with self.db.read_session() as session:
            ids = session.scalars(select(JobRow.id).where(JobRow.status == "running",
                                                       JobRow.cancel_requested)).all()
        for job_id in ids:
            proc = self.procs.pop(job_id, None)
            if proc is not None:
                proc.terminate()
                proc.join(timeout=10)
            self._finish(job_id, "cancelled", "cancelled", "已取消")

    def _start_queued(self) -> None:
        free = self.settings.job_workers - len(self.procs)
        if free <= 0:
            return
        with self.db.read_session() as session:
            queued = session.execute(select(JobRow.id, JobRow.kind).where(JobRow.status == "queued")
                                     .order_by(JobRow.id).limit(free)).all()
        for job_id, kind in queued:
            owner = uuid.uuid4().hex
            with self.db.writing() as session:
                claimed = session.execute(
                    update(JobRow).where(JobRow.id == job_id, JobRow.status == "queued")
                    .values(status="running", started_at=now(), progress=0.0,
                            owner=owner)).rowcount  # type: ignore[attr-defined]  # as above
            if not claimed:
                continue
            proc = self.ctx.Process(target=run_job, name=f"wangge-job-{job_id}", daemon=True,
                                    args=(self.settings, job_id, JOB_KINDS.get(kind), owner,
                                          os.getpid()))
            proc.start()
            self.procs[job_id] = proc

    def _finish(self, job_id: int, status: str, error: str, error_zh: str) -> None:
        with self.db.writing() as session:
            session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status == "running")
                            .values(status=status, finished_at=now(), error=error,
                                    error_zh=error_zh))


# ---- in the worker process ---------------------------------------------------------------

class JobProgress:
    """Advances the job's progress as each named step starts."""

    def __init__(self, db: Database, job_id: int, total: int) -> None:
        self.db, self.job_id, self.total, self.done = db, job_id, total, 0

    def at(self, share: float, name: str) -> None:
        """Record the job's progress as ``share`` (0..1) of the whole, in step ``name``."""
        with self.db.writing() as session:
            session.execute(update(JobRow).where(*owned(self.job_id))
                            .values(progress=round(min(max(share, 0.0), 1.0), 3), step=name))

    def __call__(self, name: str) -> None:
        """Record that step ``name`` starts (the job's progress and current step)."""
        with self.db.writing() as session:
            session.execute(update(JobRow).where(*owned(self.job_id))
                            .values(progress=round(self.done / self.total, 3), step=name))
        self.done += 1


def die_with(service_pid: int, sig: int = signal.SIGKILL, grace_s: float = 0.0) -> None:
    """End this process when the service ``service_pid`` ends: the kernel sends ``sig`` when
    this process's parent dies (``PR_SET_PDEATHSIG`` on Linux; a job's parent is the
    forkserver, which exits with the service; a worker of ``wangge serve --workers N`` is the
    service's child), and a watchdog thread everywhere, once the parent or the service is
    gone, sends ``sig`` itself and exits (75) ``grace_s`` seconds later.

    A job process stops at once (SIGKILL: it writes nothing); a service worker gets SIGTERM,
    uvicorn's graceful shutdown, in which its job runner marks its jobs interrupted."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        except (OSError, AttributeError):
            log.warning("PR_SET_PDEATHSIG unavailable; a watchdog thread alone ends process "
                        "%d with its service", os.getpid())
    parent = os.getppid()

    def gone() -> bool:
        return os.getppid() != parent or not process_alive(service_pid)

    def end() -> None:
        if grace_s > 0:
            os.kill(os.getpid(), sig)
            time.sleep(grace_s)
        os._exit(75)  # the service is gone: stop, write nothing more

    def watch() -> None:
        while not gone():
            time.sleep(WATCHDOG_SECONDS)
        end()

    if gone():
        end()
    threading.Thread(target=watch, name="wangge-watchdog", daemon=True).start()


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_job(settings: Settings, job_id: int, target: str | None, owner: str | None = None,
            service_pid: int | None = None) -> None:
    """Entry point of a worker process: run job ``job_id`` with ``target`` ("module:function",
    resolved from JOB_KINDS by the runner) holding the lease ``owner``, and record how it
    ended; the process ends with the service ``service_pid``."""
    if service_pid is not None:
        die_with(service_pid)
    if owner is not None:
        _owners[job_id] = owner
    db = Database(settings.url, settings.sqlite_synchronous)
    try:
        with db.read_session() as session:
            job = session.get_one(JobRow, job_id)
            kind, params = job.kind, dict(job.params)
        if target is None:
            raise ValueError(f"unknown job kind {kind!r}")
        module, _, name = target.partition(":")
        getattr(importlib.import_module(module), name)(db, settings, job_id, params)
    except LeaseLostError:
        log.warning("job %s is no longer this process's: its results were not written", job_id)
    except Exception as exc:
        _record_failure(db, job_id, exc)
    finally:
        db.dispose()


def _record_failure(db: Database, job_id: int, exc: Exception) -> None:
    from gis.errors import WanggeError

    if isinstance(exc, WanggeError):  # a domain error: its own message in both languages
        en, zh = exc.en, exc.zh
    else:
        en = f"{type(exc).__name__}: {exc}"
        zh = f"任务失败：{exc}"
        log.error("job %s failed\n%s", job_id, traceback.format_exc())
    with db.writing() as session:
        session.execute(update(JobRow).where(*owned(job_id))
                        .values(status="failed", finished_at=now(), error=en, error_zh=zh))
