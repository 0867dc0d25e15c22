"""Independent pieces of work (communities, regions) spread over forked worker processes.

Forked workers inherit the parent's memory, so the large shared inputs (the building graph,
footprints) are never pickled: only each task's small key goes out and its result comes back.
Where fork is unavailable (Windows, macOS spawn default) or one worker is asked for, the tasks
run here, one after another, with the same results.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What the forked workers read: set just before the pool forks, restored after (a task may
# itself map: a community's task forks for its regions).
_SHARED: dict[str, Any] = {}


@contextmanager
def _sharing(func: Callable[..., Any], shared: dict[str, Any]) -> Iterator[None]:
    saved = dict(_SHARED)
    _SHARED.clear()
    _SHARED.update(func=func, shared=shared)
    try:
        yield
    finally:
        _SHARED.clear()
        _SHARED.update(saved)


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """Objects alive when the workers fork are left out of the cyclic garbage collector
    until they are done: a forked worker's full collections would otherwise walk the whole
    inherited heap, writing to (so copying) every page of it. Nested maps (a task's own)
    find it frozen already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _forking(workers: int, tasks: int) -> bool:
    return workers > 1 and tasks > 1 and "fork" in mp.get_all_start_methods()


def map_forked(func: Callable[..., R], tasks: Sequence[T], workers: int, **shared: Any) -> list[R]:
    """[func(task, **shared) for task in tasks], in ``workers`` forked processes when that
    helps. Put the largest tasks first: they are handed out in order."""
    with _sharing(func, shared):
        if _forking(workers, len(tasks)):
            with _frozen_heap(), ProcessPoolExecutor(min(workers, len(tasks)),
                                                     mp_context=mp.get_context("fork")) as pool:
                return list(pool.map(_run, tasks))
        return [_run(task) for task in tasks]


def imap_forked(func: Callable[..., R], tasks: Sequence[T], workers: int,
                **shared: Any) -> Iterator[R]:
    """func(task, **shared) for each task, yielded as each finishes (in any order), in
    ``workers`` forked processes when that helps; at most two tasks per worker are handed
    out at a time, largest first as given, so results stream back while the rest wait."""
    with _sharing(func, shared):
        if not _forking(workers, len(tasks)):
            for task in tasks:
                yield _run(task)
            return
        with _frozen_heap(), ProcessPoolExecutor(min(workers, len(tasks)),
                                                 mp_context=mp.get_context("fork")) as pool:
            pending = iter(tasks)
            running: set[Future[Any]] = {pool.submit(_run, t)
                                         for _, t in zip(range(2 * workers), pending,
                                                         strict=False)}
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    nxt = next(pending, None)
                    if nxt is not None:
                        running.add(pool.submit(_run, nxt))
                    yield future.result()


def map_following(func: Callable[..., R], tasks: Sequence[T], workers: int,
                  follow: Callable[[T, R], Sequence[T]], **shared: Any) -> None:
    """func(task, **shared) for each task, in ``workers`` forked processes when that helps;
    as each finishes, ``follow(task, result)`` (here, in this process) returns the tasks it
    makes ready, which run before the rest (the later passes of a community start as soon
    as its own groups are done, while other communities' first passes fill the cores,
    instead of every pass waiting for the slowest group of the area). Give the largest
    tasks first: they are handed out in order, one per worker at a time so that follow-ups
    can go ahead of them. ``follow`` sees each task exactly once, in the order tasks
    finish: what it decides must not depend on that order across independent tasks."""
    with _sharing(func, shared):
        ready = deque(tasks)
        if not _forking(workers, len(tasks)):
            while ready:
                task = ready.popleft()
                ready.extendleft(reversed(follow(task, _run(task))))
            return
        # No more run at once than the first tasks: follow-ups only replace finished ones.
        with _frozen_heap(), ProcessPoolExecutor(min(workers, len(tasks)),
                                                 mp_context=mp.get_context("fork")) as pool:
            running: dict[Future[Any], T] = {}
            while ready or running:
                while ready and len(running) < workers:
                    task = ready.popleft()
                    running[pool.submit(_run, task)] = task
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    ready.extendleft(reversed(follow(task, future.result())))


def _run(task: Any) -> Any:
    return _SHARED["func"](task, **_SHARED["shared"])
