"""partition.parallel: results in task order, the garbage collector as it was found."""

import gc

from partition.parallel import imap_forked, map_forked


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
