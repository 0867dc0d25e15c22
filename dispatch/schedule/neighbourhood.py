"""Levelling a finished calendar by CP-SAT on a few days at a time (large neighbourhood search).

The annealings (:func:`~dispatch.schedule.levelling.level`,
:func:`~dispatch.schedule.levelling.polish`) move one visit, a swap or a short ejection chain
at a time; with trips of 20-30 minutes against a mean day of 70-120, a day outside the band
is often fixed only by re-packing the visits of several days at once, which a move-by-move
search rarely finds. Here the visits on a window of consecutive work days around the day
furthest from the mean are freed, every other visit kept, and CP-SAT re-packs them: each freed
visit on a day of the window inside its own window, its gaps to the group's kept visits and
to its other freed visits kept, early visits neither added nor dropped (the mean stays);
the days of the freed visits' chain neighbours freed with them (a visit moved often needs
its group's next one moved); minimising the largest deviation of the freed days from the
calendar's mean day, then the sum of deviations, then the approaches (walking). The window
moves to the next worst day; a re-packing is kept when the largest deviation does not grow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from ortools.sat.python import cp_model

from dispatch.schedule.horizon import NO_PAST, Group, Occurrence, Past
from dispatch.schedule.levelling import _Placement

WINDOW_DAYS = 10  # consecutive work days freed at once
NEIGHBOUR_DAYS = 6  # and at most these days of their visits' chain neighbours
ROUNDS = 8  # re-packings tried at most (each pass)
ROUND_BUDGET_S = 0.05  # CP-SAT deterministic time of one re-packing
# The wall-clock guard of a solve, in multiples of its deterministic budget, and never below
# MIN_WALL_S seconds: far above the budget, so that the deterministic limit decides and
# calendars repeat on a loaded machine (3x tripped under load average 8 in CI; 100x + 1 s,
# that is 6 s for a re-packing and 11 s for a 0.1 s band model, tripped once under load 6-8
# in the thirteenth session's bench, which solve was not recorded), as partition.budget's.
WALL_GUARD = 100
MIN_WALL_S = 30.0


def wall_guard(budget_s: float) -> float:
    """The wall-clock limit (s) of a solve of ``budget_s`` deterministic seconds: only a
    guard against a hung solve, never what stops it."""
    return max(MIN_WALL_S, WALL_GUARD * budget_s + 1)
MAX_WEIGHT, SUM_WEIGHT, WALK_WEIGHT = 20, 2, 1  # the re-packing's objective


Windows = dict[tuple[object, ...], "dict[int, int] | None"]  # solved windows (repack's memo)


def repack(chosen: dict[int, int], occurrences: list[Occurrence], offsets: list[int],
           groups: Sequence[Group], label: np.ndarray, approach: np.ndarray,
           band_pct: float, rounds: int = ROUNDS, past: Past = NO_PAST,
           memo: Windows | None = None) -> dict[int, int]:
    """Re-pack windows of days around the day furthest from the mean (see the module).

    Args:
        chosen: the calendar (occurrence -> work-day position), keeping the model's rules.
        band_pct: stop once every day is within this share of the mean (%).
        past: the days a re-plan follows; the mean is theirs and the horizon's together.
        rounds: most re-packings.
        memo: the windows solved so far (kept by the caller across calls on one problem):
            a window's model is a function of its days, the mean and the calendar, and
            CP-SAT's answer of the model (one thread, seeded, deterministic time) too, so
            a window met again with the same calendar (the windows of two worst days that
            clamp to the same days; a later pass or call from a calendar nothing changed)
            takes the answer solved before instead of solving it again: the same
            calendars, without the repeated solves.

    Returns:
        The calendar, keeping the model's rules; its largest deviation no larger.
    """
    n_days = len(offsets)
    if not n_days or not occurrences or rounds <= 0:
        return chosen
    state = _Placement(chosen, occurrences, offsets, groups, label, approach)
    tried: set[tuple[int, int]] = set()
    for _ in range(rounds):
        loads = state.loads
        mean = past.mean(loads)
        if mean <= 0:
            break
        order = sorted(range(n_days), key=lambda k: -abs(loads[k] - mean))
        if abs(loads[order[0]] - mean) <= mean * band_pct / 100:
            break
        window = None
        for worst in order[:3]:  # the worst day not yet tried with its window
            for first in (worst - WINDOW_DAYS // 2, worst - WINDOW_DAYS + 2, worst - 1):
                first = min(max(0, first), max(0, n_days - WINDOW_DAYS))
                if (first, worst) not in tried:
                    window = first, worst
                    break
            if window:
                break
        if window is None:
            break
        tried.add(window)
        days = _with_neighbours(state, list(range(window[0], min(n_days,
                                                                 window[0] + WINDOW_DAYS))))
        before = max(abs(v - mean) for v in loads)
        key = (tuple(days), round(mean), tuple(state.at.values()))
        if memo is not None and key in memo:
            found = memo[key]
        else:
            found = _solve_window(state, days, round(mean))
            if memo is not None:
                memo[key] = found
        if found is None:
            continue
        old = {oi: state.at[oi] for oi in found}
        for oi, k in found.items():
            state.move(oi, k)
        kept = all(state.chain_ok(gi) for gi in {occurrences[oi].group for oi in found})
        if not kept or max(abs(v - mean) for v in state.loads) > before:
            for oi, was in old.items():
                state.move(oi, was)
    return state.chosen()


def _solve_window(state: _Placement, days: list[int], mean: int) -> dict[int, int] | None:
    """The visits on ``days`` re-packed over them by CP-SAT; None when it finds nothing."""
    occurrences, offsets = state.occurrences, state.offsets
    inside = set(days)
    free = sorted(oi for k in days for oi in state.on[k])
    if not free:
        return None
    free_set = set(free)
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    pos: dict[int, cp_model.LinearExpr] = {}
    for oi in free:
        occ = occurrences[oi]
        options = [k for k in occ.days if k in inside and _fits(state, oi, k, free_set)]
        if not options:
            return None
        lits = []
        for k in options:
            x[oi, k] = model.new_bool_var(f"x{oi}_{k}")
            model.add_hint(x[oi, k], state.at[oi] == k)
            lits.append(x[oi, k])
        model.add_exactly_one(lits)
        pos[oi] = cp_model.LinearExpr.weighted_sum(lits, [offsets[k] for k in options])
    for oi in free:  # gaps between two freed visits of one group, next to each other
        nxt = _neighbour(state, oi, +1)
        if nxt is not None and nxt in free_set:
            model.add(pos[nxt] - pos[oi] >= occurrences[nxt].min_gap)
            model.add(pos[nxt] - pos[oi] <= occurrences[nxt].max_gap)
    cluster_day: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
    for (oi, k), var in x.items():
        cluster_day[state.cluster[oi], k].append(var)
    y = {}
    for (c, k), lits in cluster_day.items():
        y[c, k] = model.new_bool_var(f"y{c}_{k}")
        for lit in lits:
            model.add_implication(lit, y[c, k])
        model.add_hint(y[c, k], state.count[c][k] > 0)
    upper = sum(state.minutes[oi] for oi in free) + sum(state.walks) + mean + 1
    worst = model.new_int_var(0, upper, "worst")
    devs = []
    for k in days:
        load = (sum(state.minutes[oi] * var for (oi, kk), var in x.items() if kk == k)
                + sum(state.walks[c] * var for (c, kk), var in y.items() if kk == k))
        dev = model.new_int_var(0, upper, f"dev{k}")
        model.add(dev >= load - mean)
        model.add(dev >= mean - load)
        model.add(worst >= dev)
        devs.append(dev)
    model.minimize(MAX_WEIGHT * worst + SUM_WEIGHT * sum(devs)
                   + WALK_WEIGHT * cp_model.LinearExpr.weighted_sum(
                       list(y.values()), [state.walks[c] for c, _ in y]))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = ROUND_BUDGET_S
    solver.parameters.max_time_in_seconds = wall_guard(ROUND_BUDGET_S)
    solver.parameters.random_seed = 0
    if solver.solve(model) not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return {oi: k for (oi, k), var in x.items() if solver.value(var)}


def _with_neighbours(state: _Placement, days: list[int]) -> list[int]:
    """``days`` and the days of the chain neighbours of their visits (the previous and next
    visits of their groups), the most shared first, ``NEIGHBOUR_DAYS`` at most: a monthly
    visit moved by a few days often needs its group's next visit moved too."""
    inside = set(days)
    shared: dict[int, int] = defaultdict(int)
    for k in days:
        for oi in state.on[k]:
            for step in (-1, 1):
                other = _neighbour(state, oi, step)
                if other is not None and state.at[other] not in inside:
                    shared[int(state.at[other])] += 1  # type: ignore[arg-type]
    extra = sorted(shared, key=lambda k: (-shared[k], k))[:NEIGHBOUR_DAYS]
    return sorted(inside | set(extra))


def _neighbour(state: _Placement, oi: int, step: int) -> int | None:
    """The group's placed visit just after (step +1) or before (-1) ``oi``."""
    items = state.chains[state.occurrences[oi].group]
    j = items.index(oi) + step
    while 0 <= j < len(items):
        if state.at[items[j]] is not None:
            return items[j]
        j += step
    return None


def _fits(state: _Placement, oi: int, k: int, free: set[int]) -> bool:
    """Day ``k`` keeps ``oi``'s gaps to its kept neighbours and the end of the horizon."""
    occurrences, offsets = state.occurrences, state.offsets
    t = offsets[k]
    prev, nxt = _neighbour(state, oi, -1), _neighbour(state, oi, +1)
    if prev is not None and prev not in free:
        gap = t - offsets[state.at[prev]]  # type: ignore[index]
        if not occurrences[oi].min_gap <= gap <= occurrences[oi].max_gap:
            return False
    if nxt is not None and nxt not in free:
        gap = offsets[state.at[nxt]] - t  # type: ignore[index]
        if not occurrences[nxt].min_gap <= gap <= occurrences[nxt].max_gap:
            return False
    items = state.chains[occurrences[oi].group]
    last = items[-1]
    if (nxt is None and oi != last and occurrences[last].optional
            and state.at[last] is None):  # the last due visit covers the end of the horizon
        return t >= state.horizon - state.groups[occurrences[oi].group].period
    return True
