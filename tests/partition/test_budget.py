"""The exact steps' work budget repeats on a loaded machine (partition.budget)."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from ortools.sat.python import cp_model

from partition.budget import WorkBudget

CAP = 0.4  # deterministic units: a few tenths of a second of one core


def _hard_model() -> cp_model.CpModel:
    """A market split problem (Cornuejols and Dawande): CP-SAT does not close it within CAP,
    so it spends its whole limit."""
    model = cp_model.CpModel()
    rows, n = 4, 40
    xs = [model.new_bool_var(f"x{j}") for j in range(n)]
    slack = []
    for i in range(rows):
        a = [(j * 7919 + i * 104729 + j * j * 31) % 100 for j in range(n)]
        s = model.new_int_var(0, sum(a), f"s{i}")
        model.add_abs_equality(s, sum(c * x for c, x in zip(a, xs, strict=True)) - sum(a) // 2)
        slack.append(s)
    model.minimize(sum(slack))
    return model


def _spend() -> tuple[float, float]:
    budget = WorkBudget(10.0)
    status, solver = budget.solve(_hard_model(), CAP)
    assert status in (cp_model.FEASIBLE, cp_model.OPTIMAL)
    return budget.spent, solver.objective_value


def _burn() -> None:
    while True:
        pass


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_solve_spends_the_same_work_when_the_machine_is_eight_times_slower():
    """Seven busy processes share our one core: each gets an eighth of it. The clock guard
    must not stop CP-SAT before its deterministic limit, or the plan would depend on load."""
    quiet = _spend()
    assert quiet[0] == pytest.approx(CAP, rel=0.05)  # the model uses its whole limit
    before = os.sched_getaffinity(0)
    core = min(before)
    ctx = multiprocessing.get_context("fork")
    hogs = [ctx.Process(target=_burn, daemon=True) for _ in range(7)]
    try:
        os.sched_setaffinity(0, {core})
        for hog in hogs:
            hog.start()
            os.sched_setaffinity(hog.pid, {core})
        loaded = _spend()
    finally:
        for hog in hogs:
            hog.kill()
        os.sched_setaffinity(0, before)
    assert loaded == quiet
