"""Group commit (api.store.batch): many callers' writes in one transaction, each in its own
savepoint, answered only after the commit."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from api.store.batch import Grouped
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


def _insert_all(session, keys: list[str]) -> list:
    """A group writer: one row per key, each answered with its key (a bad one: its error)."""
    out: list = []
    for key in keys:
        if key.startswith("bad"):
            out.append(ValueError(key))  # answered alone, nothing written for it
            continue
        session.execute(text("INSERT INTO t (k) VALUES (:k)"), {"k": key})
        out.append(key)
    return out


def _submitted_together(db, items: list) -> list:
    """Submit ``items`` while the writer is busy with a slow transaction, so that they are
    queued together and form one batch; their futures, once the slow one has finished."""
    release, started = threading.Event(), threading.Event()

    def slow(session):
        started.set()
        release.wait(10)

    first = db.batch.submit(slow)
    assert started.wait(10)
    futures = [db.batch.submit(item) for item in items]
    release.set()
    first.result(10)
    return futures


def test_grouped_items_are_written_together(db):
    futures = _submitted_together(db, [Grouped(_insert_all, k) for k in ("g1", "bad1", "g2")])
    assert futures[0].result(10) == "g1" and futures[2].result(10) == "g2"
    with pytest.raises(ValueError, match="bad1"):
        futures[1].result(10)
    assert _count(db) == 2
    assert db.batch.transactions == 2  # the slow one, then the group in one


def test_a_failing_group_is_written_item_by_item(db):
    """A group writer that raises (a database error for the batch) rolls the batch back;
    each item is then written alone, and a database error alone gets one more try (on
    PostgreSQL, a key another transaction was inserting is seen committed then)."""
    calls: list[list[str]] = []

    def flaky(session, keys: list[str]) -> list:
        calls.append(list(keys))
        if len(keys) > 1 or (sum(c == keys for c in calls) == 1 and keys == ["b"]):
            session.execute(text("INSERT INTO t (k) VALUES ('a')"))  # taken below
            session.execute(text("INSERT INTO t (k) VALUES ('a')"))
        return _insert_all(session, keys)

    futures = _submitted_together(db, [Grouped(flaky, k) for k in ("a", "b", "c")])
    assert [f.result(10) for f in futures] == ["a", "b", "c"]
    assert calls == [["a", "b", "c"], ["a"], ["b"], ["b"], ["c"]]
    assert _count(db) == 3
