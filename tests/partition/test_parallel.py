"""partition.parallel: results in task order, the garbage collector as it was found."""

import gc
import os
import time

import pytest

from partition.parallel import imap_forked, map_following, map_forked


def _square(x: int, *, offset: int) -> int:
    return x * x + offset


def test_map_forked_keeps_order_and_unfreezes_the_heap() -> None:
    # From an unfrozen heap: code run earlier in this process may have left it frozen, and
    # a frozen count drops as frozen objects are freed (CI saw 1013065 -> 1013063).
    gc.unfreeze()
    assert map_forked(_square, [3, 1, 2], 2, offset=1) == [10, 2, 5]
    assert sorted(imap_forked(_square, [3, 1, 2], 2, offset=0)) == [1, 4, 9]
    # The heap is frozen only while the workers run (partition.parallel._frozen_heap).
    assert gc.get_freeze_count() == 0


def test_a_frozen_heap_stays_frozen() -> None:
    gc.freeze()
    try:
        assert map_forked(_square, [1, 2], 2, offset=0) == [1, 4]
        # Still frozen: not unfrozen by the map. The count itself may drop a little: frozen
        # objects freed meanwhile (CI saw 1540587 -> 1540585) leave the permanent generation.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def _slow(task: tuple[str, int], *, seconds: float) -> tuple[str, int, int]:
    time.sleep(seconds * (task[0] == "long"))
    return (*task, os.getpid())


@pytest.mark.parametrize("workers", [1, 2])
def test_follow_ups_run_as_soon_as_their_task_is_done(workers: int) -> None:
    """A task's follow-ups go ahead of the tasks still waiting, and run while a long task
    holds the other worker: the short chain is done before the long task is."""
    finished: list[tuple[str, int]] = []

    def follow(task: tuple[str, int], result: tuple[str, int, int]) -> list[tuple[str, int]]:
        finished.append(task)
        name, step = task
        return [(name, step + 1)] if name == "chain" and step < 3 else []

    map_following(_slow, [("long", 0), ("chain", 0), ("other", 0)], workers, follow,
                  seconds=1.0)
    assert sorted(finished) == [("chain", 0), ("chain", 1), ("chain", 2), ("chain", 3),
                                ("long", 0), ("other", 0)]
    # The chain's follow-ups went ahead of "other"; with two workers all of it ran beside
    # the long task.
    assert finished.index(("chain", 3)) < finished.index(("other", 0))
    if workers == 2:
        assert finished[-1] == ("long", 0)
