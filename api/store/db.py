"""Engine, sessions and schema migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout; write transactions start
with ``BEGIN IMMEDIATE`` so that concurrent writers queue for the lock instead of failing when
a read transaction tries to become a write one. Writers of every process (the service's
workers, job processes) queue first on a gate: a thread lock, then an exclusive ``flock`` on
``<database>-gate`` beside the database file, released at commit or rollback (and by the
kernel when a process dies, kill -9 included). PostgreSQL needs the PostGIS extension, which
the first migration creates when it is missing.

``synchronous=NORMAL`` (the default) in WAL mode: a commit is written to the WAL before it
returns and the WAL is synced at checkpoints, so a transaction committed survives the death of
any process (kill -9) but the last ones may be lost in a power cut or OS crash (the database
stays consistent); ``FULL`` syncs the WAL at every commit and survives those too.
"""

from __future__ import annotations

import fcntl
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from api.store.batch import WriteBatcher

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
GATE_KEY = "wangge_write_gate"
DEFAULT_POOL_SIZE = 10
T = TypeVar("T")
DEFAULT_MAX_OVERFLOW = 30  # with the pool, the 40 threads of a worker's thread pool
_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def make_engine(url: str, sqlite_synchronous: str = "NORMAL",
                pool_size: int = DEFAULT_POOL_SIZE,
                max_overflow: int = DEFAULT_MAX_OVERFLOW) -> Engine:
    """An engine for ``url``; for SQLite files, WAL mode and the pragmas above."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=max_overflow)
        _sqlite_pragmas(engine, sqlite_synchronous, gate_path(engine))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                         pool_pre_ping=True)


def gate_path(engine: Engine) -> Path | None:
    """The file whose ``flock`` orders the writers of every process: ``<database>-gate``
    (None for an in-memory database, which one process alone sees)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(Path(database).name + "-gate")


class WriteGate:
    """One writer at a time across threads and processes: a thread lock, then ``flock`` on
    a file (a blocked process wakes as soon as the lock is free, where SQLite's busy handler
    would sleep in growing steps). Opened lazily, again after a fork."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> None:
        """Take the gate: the thread lock, then the file lock shared with other processes."""
        self._lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        """Let the gate go (the file lock first)."""
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the lock file (in the process that opened it)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _sqlite_pragmas(engine: Engine, synchronous: str, gate_file: Path | None) -> None:
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"bad SQLite synchronous setting {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    # Writers queue on the gate before BEGIN IMMEDIATE: waiting threads and processes wake as
    # soon as it is free, where SQLite's busy handler would have them sleep in growing steps
    # (up to 100 ms) while the database lock sits idle. The busy handler stays as a fallback
    # (a connection that writes without the gate: migrations, another program).
    gate = WriteGate(gate_file)
    _GATES[engine] = gate

    def _release(conn, *_args):
        if conn.info.pop(GATE_KEY, False):
            gate.release()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        if immediate:
            gate.acquire()
            conn.info[GATE_KEY] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
        except BaseException:
            _release(conn)
            raise

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    @event.listens_for(engine.pool, "checkin")
    def _checkin(_dbapi_conn, record):  # a connection given back mid-transaction
        if record is not None and record.info.pop(GATE_KEY, False):
            gate.release()


def writer_engine(engine: Engine) -> Engine:
    """``engine`` whose transactions take SQLite's write lock at BEGIN (no-op elsewhere)."""
    return engine.execution_options(sqlite_immediate=True)


class Database:
    """The engine plus two session factories: reading and writing."""

    def __init__(self, url: str, sqlite_synchronous: str = "NORMAL",
                 pool_size: int = DEFAULT_POOL_SIZE,
                 max_overflow: int = DEFAULT_MAX_OVERFLOW) -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous, pool_size, max_overflow)
        self.dialect = self.engine.dialect.name
        self.read_session = sessionmaker(self.engine, expire_on_commit=False)
        self.write_session = sessionmaker(writer_engine(self.engine), expire_on_commit=False)
        self.batch = WriteBatcher(self.write_session)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self.write_session() as session, session.begin():
            yield session

    def write(self, work: Callable[[Session], T]) -> T:
        """Run ``work(session)`` in a write transaction and commit; returns its result.

        SQLite has one writer at a time: there the writes of concurrent requests are grouped
        into one transaction (api.store.batch). PostgreSQL takes concurrent writers, and
        grouping such writes (each in its savepoint) measured no faster there, so each runs
        alone. Reports are grouped on both (``self.batch`` with api.services.intake, which
        writes a batch as a set: fewer statements and round trips, one commit)."""
        if self.dialect == "sqlite":
            return self.batch.run(work)
        with self.write_session() as session:
            value = work(session)
            session.commit()
            return value

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        upgrade(self.engine)

    def dispose(self) -> None:
        """Close the writer thread and the engine's connections."""
        self.batch.close()
        self.engine.dispose()
        gate = _GATES.pop(self.engine, None)
        if gate is not None:
            gate.close()


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration for the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on ``engine``."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision``."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
