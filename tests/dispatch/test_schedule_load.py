"""The visit calendar repeats on a loaded machine: CP-SAT's deterministic budget decides, not
its wall-clock guard (CI saw two runs of one input differ at load average 8)."""

from __future__ import annotations

import multiprocessing
import os
from datetime import timedelta

import pytest

from dispatch.schedule.calendar import make_groups, plan_calendar, work_days
from tests.dispatch.test_schedule import HOLIDAY, START, simulated_homes


def _burn() -> None:
    while True:
        pass


def _calendar(rows, base):
    groups = make_groups(rows, start=START)
    leave = [START + timedelta(days=15 + i) for i in range(3)]  # days off mid-horizon
    days = work_days(START, 6, holidays=[HOLIDAY], days_off=leave, shift_min=480)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.5)
    return cal.status, [(v.group_id, v.day) for v in cal.visits]


@pytest.mark.slow  # about a minute: the loaded solve takes eight times as long
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_the_calendar_is_the_same_when_the_machine_is_eight_times_slower(demo_area):
    rows, base = simulated_homes(demo_area, 300, 7)
    quiet = _calendar(rows, base)
    before = os.sched_getaffinity(0)
    core = min(before)
    hogs = [multiprocessing.get_context("fork").Process(target=_burn, daemon=True)
            for _ in range(7)]
    try:
        os.sched_setaffinity(0, {core})
        for hog in hogs:
            hog.start()
            os.sched_setaffinity(hog.pid, {core})
        loaded = _calendar(rows, base)
    finally:
        for hog in hogs:
            hog.kill()
        os.sched_setaffinity(0, before)
    assert loaded[0] == quiet[0]  # the search ran, not stopped by the clock before it began
    assert loaded[1] == quiet[1]
