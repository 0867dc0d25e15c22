"""Group commit: the writes of many requests in one transaction.

Under load every report used to take the write lock (SQLite: one writer at a time in every
process), commit, and hand the lock on. The handing on, not the SQL, was what cost: each holder
waits for the GIL and for a core at every statement while readers run in the same process, so
the lock was held about 5 ms for well under 1 ms of SQL (bench/load_results.md). Here the
writes of one process queue instead; one writer thread takes the lock once for up to
``MAX_BATCH`` of them, runs each in its own savepoint (one that fails is rolled back alone and
its caller gets its error), commits once, and only then answers them all: an acknowledged
write is as durable as before. If the commit itself fails, each write is run again alone.

A kind of write that gains from being written as a set (reports: one query for the active
plan and one for the idempotency keys of the whole batch, api.services.intake) is queued as
:class:`Grouped` items: the batch hands all items of one :data:`GroupWriter` to it at once,
in the same transaction, and it answers each (a value, or the error for that item alone). It
must not write anything for an item it answers with an error; if it raises, the batch is
rolled back and every item runs again alone (a writer raising again for a lone item gets one
more try: on PostgreSQL a key taken meanwhile by another process's transaction is then seen
committed). Callers in an event loop ``await asyncio.wrap_future(batcher.submit(...))``
instead of holding a thread.

Written by hand: SQLAlchemy and the databases have no group commit for separate requests of
one process, and the queue is a few lines of the standard library.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MAX_BATCH = 64  # writes per transaction: one batch stays well under a second of lock
LONE_TRIES = 2  # a grouped item written alone after its batch failed: tries
T = TypeVar("T")
# writes items together; answers each with its value or its error
GroupWriter = Callable[[Session, list[Any]], Sequence[Any]]


@dataclass(frozen=True, eq=False)
class Grouped:
    """One item for ``writer``, written with the other items queued for it meanwhile."""

    writer: GroupWriter
    item: Any


_Work = Callable[[Session], Any] | Grouped
_Item = tuple[_Work, Future]
log = logging.getLogger(__name__)


class WriteBatcher:
    """Runs write functions ``work(session)`` for many threads, batched into transactions."""

    def __init__(self, sessions: sessionmaker[Session], max_batch: int = MAX_BATCH) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        self.transactions = 0  # batches committed (for tests and the load benchmark)

    def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction shared with other callers' writes and return
        its result once that transaction is committed (or raise its error: its own writes
        are then rolled back, the others' are not). ``work`` must not commit."""
        return self.submit(work).result()

    def submit(self, work: Callable[[Session], T] | Grouped) -> Future:
        """Queue ``work`` (a function, or a :class:`Grouped` item) and return the future of
        its result, set once its transaction is committed (or its error)."""
        future: Future = Future()
        self._ensure_writer()
        self._queue.put((work, future))
        return future

    def queued(self) -> int:
        """Writes waiting for the writer (approximate while others submit)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Let the writer finish what is queued, then stop it."""
        if self._thread is not None and self._pid == os.getpid():
            self._queue.put(None)
            self._thread.join()
        self._thread = None

    def _ensure_writer(self) -> None:
        # A forked child (a job process) has the parent's object but not its thread.
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._start_lock:
            if self._thread is None or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="wangge-writer",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Item]) -> None:
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        groups: dict[GroupWriter, list[tuple[Any, Future]]] = {}
        try:
            with self._sessions() as session:
                for work, future in batch:
                    if isinstance(work, Grouped):
                        groups.setdefault(work.writer, []).append((work.item, future))
                    else:
                        outcomes.append((future, *_in_savepoint(session, work)))
                for writer, members in groups.items():
                    answers = writer(session, [item for item, _ in members])
                    outcomes += [(future, *_outcome(answer))
                                 for (_, future), answer in zip(members, answers, strict=True)]
                session.commit()
            self.transactions += 1
        except Exception:
            log.exception("a batch of %d writes failed to commit; each runs alone", len(batch))
            for work, future in batch:
                self._write_alone(work, future)
            return
        for future, value, error in outcomes:
            _settle(future, value, error)

    def _write_alone(self, work: _Work, future: Future) -> None:
        if isinstance(work, Grouped):
            self._write_grouped_alone(work, future)
            return
        try:
            with self._sessions() as session:
                value = work(session)
                session.commit()
        except BaseException as error:  # the caller's thread raises it
            future.set_exception(error)
        else:
            future.set_result(value)

    def _write_grouped_alone(self, work: Grouped, future: Future) -> None:
        for attempt in range(1, LONE_TRIES + 1):
            try:
                with self._sessions() as session:
                    (answer,) = work.writer(session, [work.item])
                    session.commit()
            except DBAPIError as error:  # a key or row taken by another transaction
                if attempt == LONE_TRIES:
                    future.set_exception(error)
                    return
            except BaseException as error:
                future.set_exception(error)
                return
            else:
                _settle(future, *_outcome(answer))
                return


def _outcome(answer: Any) -> tuple[Any, BaseException | None]:
    """A group writer's answer for one item as (value, error)."""
    return (None, answer) if isinstance(answer, BaseException) else (answer, None)


def _in_savepoint(session: Session, work: Callable[[Session], Any]
                  ) -> tuple[Any, BaseException | None]:
    try:
        with session.begin_nested():
            return work(session), None
    except Exception as error:  # rolled back to the savepoint; the caller gets the error
        return None, error


def _settle(future: Future, value: Any, error: BaseException | None) -> None:
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
