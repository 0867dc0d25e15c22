"""Engine, sessions and schema migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout; write transactions start
with ``BEGIN IMMEDIATE`` so that concurrent writers queue for the lock instead of failing when
a read transaction tries to become a write one. PostgreSQL needs the PostGIS extension, which
the first migration creates when it is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
GATE_KEY = "wangge_write_gate"


def make_engine(url: str, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> Engine:
    """An engine for ``url``; for SQLite files, WAL mode and the pragmas above."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=pool_size, max_overflow=20)
        _sqlite_pragmas(engine, sqlite_synchronous)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
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

    # Writers of this process queue on a lock before BEGIN IMMEDIATE: waiting threads wake as
    # soon as it is free, where SQLite's busy handler would have them sleep in growing steps
    # (up to 100 ms) while the database lock sits idle. Other processes (job workers) still
    # meet the busy handler, rarely.
    gate = threading.Lock()

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

    def __init__(self, url: str, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_synchronous)
        self.dialect = self.engine.dialect.name
        self.read_session = sessionmaker(self.engine, expire_on_commit=False)
        self.write_session = sessionmaker(writer_engine(self.engine), expire_on_commit=False)

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self.write_session() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()


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
