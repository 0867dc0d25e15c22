"""Group commit (api.store.batch): many callers' writes in one transaction, each in its own
savepoint, answered only after the commit."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.store.db import Database


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'batch.sqlite'}")
    with database.writing() as s:
        s.execute(text("CREATE TABLE t (k TEXT UNIQUE NOT NULL)"))
    yield database
    database.dispose()


def _insert(key: str):
    def work(session):
        session.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        return key
    return work


def _count(db: Database) -> int:
    with db.read_session() as s:
        return s.scalar(text("SELECT count(*) FROM t"))


def _run_behind_a_slow_write(db: Database, works: list) -> list:
    """Run ``works`` from threads while a first write holds the writer, so that they queue
    and are written as one batch; returns each thread's result or error."""
    release, started = threading.Event(), threading.Event()

    def slow(session):
        started.set()
        release.wait(10)
        session.execute(text("INSERT INTO t (k) VALUES ('first')"))

    first = threading.Thread(target=db.batch.run, args=(slow,))
    first.start()
    assert started.wait(10)  # the writer is busy with it: the others queue behind
    out: list = [None] * len(works)

    def call(i: int) -> None:
        try:
            out[i] = db.batch.run(works[i])
        except Exception as error:
            out[i] = error

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while db.batch.queued() < len(works) and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    first.join()
    for t in threads:
        t.join()
    return out


def test_queued_writes_commit_in_one_transaction(db):
    results = _run_behind_a_slow_write(db, [_insert(f"k{i}") for i in range(30)])
    assert sorted(results) == sorted(f"k{i}" for i in range(30))
    assert _count(db) == 31
    assert db.batch.transactions == 2  # the slow one alone, then the 30 together


def test_a_failing_write_is_rolled_back_alone(db):
    works = [_insert("a"), _insert("b"), _insert("a"), _insert("c")]
    results = _run_behind_a_slow_write(db, works)
    assert results[0] == "a" and results[1] == "b" and results[3] == "c"
    assert isinstance(results[2], IntegrityError)
    assert _count(db) == 4  # first, a, b, c
    assert db.batch.transactions == 2


def test_a_write_is_answered_after_its_commit(db):
    assert db.batch.run(_insert("x")) == "x"
    with db.read_session() as s:  # another connection sees it at once
        assert s.scalar(text("SELECT k FROM t")) == "x"


def test_errors_reach_the_caller(db):
    def broken(session):
        raise ValueError("bad")
    with pytest.raises(ValueError, match="bad"):
        db.batch.run(broken)
    assert db.batch.run(_insert("y")) == "y"


def test_database_write_groups_on_sqlite(db):
    before = db.batch.transactions
    assert db.write(_insert("z")) == "z"
    assert db.batch.transactions == before + 1
    assert _count(db) == 1
