"""Independent pieces of work (communities, regions) spread over forked worker processes.

Forked workers inherit the parent's memory, so the large shared inputs (the building graph,
footprints) are never pickled: only each task's small key goes out and its result comes back.
Where fork is unavailable (Windows, macOS spawn default) or one worker is asked for, the tasks
run here, one after another, with the same results.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What the forked workers read: set just before the pool forks, cleared after.
_SHARED: dict[str, Any] = {}


def map_forked(func: Callable[..., R], tasks: Sequence[T], workers: int, **shared: Any) -> list[R]:
    """[func(task, **shared) for task in tasks], in ``workers`` forked processes when that
    helps. Put the largest tasks first: they are handed out in order."""
    _SHARED.update(func=func, shared=shared)
    try:
        if workers > 1 and len(tasks) > 1 and "fork" in mp.get_all_start_methods():
            with ProcessPoolExecutor(min(workers, len(tasks)),
                                     mp_context=mp.get_context("fork")) as pool:
                return list(pool.map(_run, tasks))
        return [_run(task) for task in tasks]
    finally:
        _SHARED.clear()


def _run(task: Any) -> Any:
    return _SHARED["func"](task, **_SHARED["shared"])
