"""Exact splits of a whole group of buildings, by set partitioning over candidate grids.

Where large buildings leave few ways to reach the mean (towers of ~200 households against a
mean of ~300), the grids a group can have are few: every connected set of buildings whose
households lie within a window around the mean is listed (:func:`candidate_grids`), and a
CP-SAT model picks exactly k of them that cover each building once. Its linear relaxation
is tight, so the model proves quickly whether a split exists whose grids all deviate at
most some level; searching the levels gives the least worst deviation any split of the
group into k contiguous grids can have, a lower bound for every plan, and a split that
reaches the least level it can build (:func:`best_split`).

Buildings without households (garages, shops, schools) are left out of the sets: two
buildings with households are neighbours when they touch or are joined through buildings
without households. That relaxes contiguity, so the bound holds for every plan. To build
real grids, each candidate that is not connected by itself names the household-less
buildings that would connect it (:meth:`_Group.connectors`), and no two chosen grids may name
the same one; the others join a grid they touch.

Weights are households; positions are metres (the graph's ``x``, ``y``).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model

from partition.budget import WorkBudget, bool_vars, new_model
from partition.metrics import BALANCE_LIMIT

MAX_CANDIDATES = 80_000  # candidate grids listed before the group counts as too large
WORK = 8.0  # at most this many deterministic seconds per solve (partition.budget)
CONNECTOR_STEPS = 30  # finding a candidate's connectors costs about 30 enumeration steps
SCALE = 10  # deviations and costs are integers: tenths of a household, tenths of a metre
# Phase 2 cost per unit: metres of cut (street edges are cheaper, partition.adjacency),
# households off the mean, metres from a building to its grid's centre, households moved
# from the grid that holds most of a candidate today.
CUT_WEIGHT = 1
DEVIATION_WEIGHT = 1
SPREAD_WEIGHT = 1
MOVE_WEIGHT = 0.2
# A chosen grid beyond BALANCE_LIMIT of the mean costs this much more (tenths: 100 m of cut)
# and each tenth of a household beyond it EXCESS_WEIGHT more (with DEVIATION_WEIGHT, 3 m a
# household). Without them, where the worst grid is forced beyond the limit (its level the
# least any split has), the cut decided alone among the covers within that level and left
# other grids at 16-25%. Not far above the other terms: grids kept within the limit leave
# the untangling (partition.untangle) less room, and the hulls overlap more. Floor-area
# district of seed 22 (2,000 buildings), free grids beyond 15% / hull overlap: 113 / 0.62%
# without; 79 / 0.72% with these; 70 / 1.13% with 2,000 and 3; 55 / 1.70% with 10^7 and
# 1,000 (lexicographic).
OVER_COST = 1_000
EXCESS_WEIGHT = 2
# Where the group's worst grid is proven beyond BALANCE_LIMIT (the least level L any split
# has is beyond it, or the building sizes force it), a split whose worst grid is above L by
# at most OVER_LEVEL of the mean is taken when it has fewer grids beyond BALANCE_LIMIT
# (divide.split_exactly; a street office prefers one grid at 30% to four at 17-24%). The
# worst grid stays capped and marked as forced (partition.divide._mark_forced). Floor-area
# district of seed 22 (2,000 buildings): free grids beyond 15% 79 -> 62, the largest
# deviation of any grid 35.6 -> 37.6%, hull overlap 0.72 -> 0.58%; with 0.10: 57, 44.1%,
# 0.80%.
OVER_LEVEL = 0.05
# A cover solve of best_split's level searches may spend at most this share of the work
# left. With all of it, one solve that could not conclude (the least level of a group of
# large buildings, relaxed or real) took the group's whole share before any better split
# was built; with a share, the rest goes to the levels above, which a split reaches sooner
# (the real search goes on past a level it cannot decide: _least_level's unknown_up).
# Floor-area districts (households all from floor area), free grids beyond 15%, with all
# of it -> half (and LINEARIZATION): 106 39 -> 35, 95 53 -> 40, 94 18 -> 17, 41 9 -> 8,
# 98 9 -> 10, 105 37 -> 38; 22, 42, 43, 71, 72, 73, 81, 82, 96, 97 the same. With 0.3:
# 106 35 (hull overlap 1.21% instead of 1.04%), 95 40, 94 16, but 71 8 -> 11, 43 1 -> 2,
# 96 11 -> 12 (their searches concluded with all of it, not within 0.3 of it).
SOLVE_SHARE = 0.5
# CP-SAT's linearization level for the set partitioning models: 2 puts every
# exactly-one constraint into the LP, whose relaxation is tight here (the module
# docstring), so proofs of infeasibility and optimal covers come with less work.
# Floor-area 22: the same plan for 10.0 units instead of 10.4 (17.4 s of CPU instead of
# 20.0); 106 / 95: 35 / 40 free grids beyond 15% instead of 36 / 43.
LINEARIZATION = 2
# Where a group's worst grid is forced beyond BALANCE_LIMIT and its split leaves more grids
# beyond it than every split has (beyond_bound), the split with the fewest is sought among
# grids within this share of the mean (and not below half the target): :func:`_fewest_beyond`.
# FEWEST_SETS caps the candidates listed for it. Floor-area districts (towers of 100-250
# households, two or three a grid), free grids beyond 15% / hull overlap before -> after:
# 22 52 -> 18 / 0.91 -> 1.12%, 106 32 -> 17 / 0.93 -> 0.79%, 95 40 -> 20 / 0.86 -> 0.67%,
# 110 48 -> 18 / 0.54 -> 0.59%, 111 26 -> 13, 105 43 -> 16 / 0.44 -> 0.81%, 41 8 -> 2,
# 73 4 -> 1 (253 -> 105); the largest deviation of a forced grid rose up to 10 points (22:
# 37.6 -> 47.0%). Irregular districts and the real extracts: the same plans. With the least
# worst grid sought first (a binary search over levels), 123 instead of 105, for more CPU.
# Where that split keeps more grids beyond than beyond_bound proves, _window_bound proves
# more (the same plans; 105 -> 101 free: 22 18 -> 16, 95 20 -> 19, 105 16 -> 15).
FEWEST_WINDOW = 0.5
FEWEST_SETS = 20_000
FEWEST_COST = 10_000_000  # a grid beyond the limit there: more than any cover's other costs


@dataclass
class GroupSplit:
    """The result for one group.

    ``bound``: households; every split of the group into k contiguous grids has a grid
    deviating more than this (None: nothing proven beyond the limit). ``labels``: every
    node of the group -> one of 0..k-1, a split whose worst grid is better than the
    present one's (or as good, with fewer grids beyond BALANCE_LIMIT), or None.
    With ``over`` (:func:`best_split`), a worse worst grid within it, with fewer grids
    beyond BALANCE_LIMIT. ``optimal``: no split has a better worst grid than the present.
    ``beyond``: every split of the group into k grids (contiguity relaxed as for ``bound``)
    has at least this many grids beyond BALANCE_LIMIT of the mean (:func:`beyond_bound`;
    0: not sought, or nothing proven)."""

    bound: float | None
    labels: dict[Hashable, int] | None
    optimal: bool = False
    beyond: int = 0


def best_split(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int, mean: float,
               limit: float, present: dict[Hashable, Hashable],
               budget: WorkBudget | None = None, over: float = 0.0,
               least: float = 0.0) -> GroupSplit:
    """Split group ``nodes`` (connected, no grid beyond them) into ``k`` contiguous grids:
    the least worst excess beyond ``limit`` x ``mean`` first, then the fewest grids beyond
    BALANCE_LIMIT and their least excess (where the worst grid is forced beyond it, the
    others need not be), then the least cut, deviation, spread and households moved away
    from ``present`` (node -> grid label, today's split). Where no split has a better worst
    grid, one as good with fewer grids beyond BALANCE_LIMIT is sought. With ``over`` (a share
    of the mean), where the worst grid is proven beyond BALANCE_LIMIT (by the level, or by
    ``limit`` above it), a split whose worst is up to ``over`` x ``mean`` above the least
    level found is taken when it has fewer grids beyond BALANCE_LIMIT (OVER_LEVEL), and
    where that still leaves more grids beyond it than every split has (:func:`beyond_bound`),
    the split with the fewest (:func:`_fewest_beyond`; no grid below ``least`` households).
    Listing and solving draw on ``budget`` (unlimited when None); when it runs out, what was
    proven and built so far is returned."""
    budget = budget or WorkBudget()
    loads: dict[Hashable, int] = {}
    for v in nodes:
        loads[present[v]] = loads.get(present[v], 0) + graph.nodes[v]["households"]
    devs = _tenths_off(loads.values(), mean)
    now = max(devs)
    allowed = math.floor(SCALE * limit * mean)
    free = math.floor(SCALE * BALANCE_LIMIT * mean)
    # A grid beyond the limit other than the worst: a split no worse at its worst may
    # still bring it within (below, ``penalty``).
    others = sorted(devs)[-2] > free if len(devs) > 1 else False
    if (now <= allowed and not others) or k < 2:
        return GroupSplit(None, None)
    group = _Group(graph, nodes)
    if len(group.positive) < k:
        return GroupSplit(None, None)
    # Today's worst, else less (fewer sets), down to one household beyond the limit: a
    # proof that none is feasible there still bounds the deviation beyond the limit.
    windows = (now / SCALE, (now / SCALE + limit * mean) / 2, limit * mean + 1)
    listed = None
    for window in windows:
        listed = _listed_grids(group.near, group.w, group.positive, mean - window - 1e-6,
                               mean + window + 1e-6, budget=budget)
        if listed is not None:
            break
    if not listed or not listed[0]:
        return GroupSplit(None, None)
    sets = listed[0]
    deviation = _tenths_off(listed[1], mean)
    levels = sorted({d for d in deviation if d > allowed} | {allowed})
    found_connectors = _connectors_of(group, sets, budget)
    if found_connectors is None:
        return GroupSplit(None, None)
    connectors = found_connectors
    built: dict[int, list[int]] = {}  # level -> a cover found with real contiguity (indices)

    def cover(level: int, real: bool) -> bool | None:
        keep = [i for i, d in enumerate(deviation) if d <= level]
        cap = min(WORK, SOLVE_SHARE * budget.left)
        found = _cover([sets[i] for i in keep], k, group.positive,
                       [connectors[i] for i in keep] if real else None, budget, cap)
        if found is None:
            budget.ran_out = True  # not concluded: a later pass may give it more
        if real and found:
            built[level] = [keep[i] for i in found]
        return None if found is None else bool(found)

    # Contiguity relaxed (through any household-less building): what no plan can beat.
    infeasible, _ = _least_level(levels, lambda level: cover(level, real=False))
    # Every split has a set beyond that level: at the next level (or beyond it, when there
    # is none), and a set at level L deviates more than (L - 1) tenths.
    bound = None if infeasible is None else (
        levels[infeasible + 1] - 1 if infeasible + 1 < len(levels) else levels[infeasible]
    ) / SCALE
    # Real contiguity, from there up to below today's worst: what can be built.
    start = 0 if infeasible is None else infeasible + 1
    better = [level for level in levels[start:] if level < now]
    found = _least_level(better, lambda level: cover(level, real=True),
                         unknown_up=True)[1] if better else None
    level = better[found] if found is not None else now
    # Where the worst grid is proven beyond the limit and other grids are beyond it too,
    # how many grids every split has beyond it (the whole group only: ``over``).
    forced_beyond = over > 0 and others and (
        allowed > free or (bound is not None and SCALE * bound > free))
    if found is None and not (others and window == windows[0]
                              and cover(now, real=True)):
        # Nothing below today's worst (optimal when the sets reach that far), and no other
        # grid beyond the limit to bring within it at today's worst.
        return GroupSplit(bound, None, optimal=not better and window == windows[0],
                          beyond=beyond_bound(group, sets, k, mean, budget)
                          if forced_beyond else 0)
    keep = [i for i, d in enumerate(deviation) if d <= level]
    hint = set(built[level])
    chosen = _cheapest_cover(graph, [sets[i] for i in keep], [deviation[i] for i in keep],
                             [connectors[i] for i in keep], [i in hint for i in keep], k,
                             group, present, budget, free)
    if chosen is not None and found is None and penalty(
            group.deviations(chosen, mean), free) >= penalty(devs, free):
        chosen = None  # at today's worst, a split is taken only for fewer grids beyond
    if over > 0 and (allowed > free or (bound is not None and SCALE * bound > free)):
        # The worst grid is forced beyond the limit: a worst up to ``over`` above the least
        # level, for fewer grids beyond the limit.
        base = group.deviations(chosen, mean) if chosen is not None else devs
        if penalty(base, free)[0] > 1:
            top = level + math.floor(SCALE * over * mean)
            fewer = _fewer_beyond(group, graph, k, mean, top, window, sets, deviation,
                                  connectors, chosen, present, budget, free)
            if fewer is not None and penalty(group.deviations(fewer, mean), free)[0] \
                    < penalty(base, free)[0]:
                chosen = fewer
            elif chosen is not None and max(devs) <= top \
                    and penalty(devs, free)[0] < penalty(base, free)[0]:
                # Today's split is within the cap with fewer grids beyond (a later pass
                # that could not afford the wider cover): kept.
                chosen = None
    now_beyond = penalty(group.deviations(chosen, mean) if chosen is not None else devs,
                         free)[0]
    count = beyond_bound(group, sets, k, mean, budget) if forced_beyond \
        and now_beyond > 1 else 0
    if count and now_beyond > count:
        fewest, proven = _fewest_beyond(group, graph, k, mean, least, chosen, present,
                                        budget, free, count)
        count = max(count, proven)
        if fewest is not None and penalty(group.deviations(fewest, mean), free)[0] \
                < now_beyond:
            chosen = fewest
    if chosen is None:
        return GroupSplit(bound, None, optimal=not better and window == windows[0],
                          beyond=count)
    return GroupSplit(bound, group.label(chosen, present), beyond=count)


def beyond_bound(group: _Group, sets: list[frozenset[Hashable]], k: int, mean: float,
                 budget: WorkBudget) -> int:
    """Grids beyond BALANCE_LIMIT of ``mean`` that every split of ``group`` into ``k``
    grids has, contiguity relaxed as for the level bound (through household-less
    buildings): k less the most disjoint ``sets`` within the limit (``sets`` holding every
    connected set within it) that leave at least one building with households for each
    other grid (none where there is no other), and, where one grid is left, households
    beyond the limit for it. Every grid of a split holds buildings with households and is
    a connected set, so a split with m grids beyond the limit has k - m such sets. 0 when
    the solve does not conclude within WORK or the budget."""
    limit = BALANCE_LIMIT * mean + 1e-6  # generous: at most more sets within
    within = [s for s in sets if abs(sum(group.w[v] for v in s) - mean) <= limit]
    if not within:
        return k
    cp = new_model()
    x = bool_vars(cp, len(within))
    covering: dict[Hashable, list[cp_model.IntVar]] = {v: [] for v in group.positive}
    for var, s in zip(x, within, strict=True):
        for v in s:
            covering[v].append(var)
    for v in group.positive:
        if len(covering[v]) > 1:
            cp.add_at_most_one(covering[v])
    chosen = sum(x)
    cp.add(chosen <= k)
    # The other k - chosen grids hold the buildings with households left, one at least
    # each (none left where there are no other grids) ...
    left = len(group.positive) - sum(len(s) * var for s, var in zip(within, x, strict=True))
    cp.add(left >= k - chosen)
    cp.add(left <= len(group.positive) * (k - chosen))
    # ... and where there is one, it holds the households left, beyond the limit.
    rest = sum(group.w[v] for v in group.positive) \
        - sum(sum(group.w[v] for v in s) * var for s, var in zip(within, x, strict=True))
    one, low = cp.new_bool_var(""), cp.new_bool_var("")
    cp.add(chosen == k - 1).only_enforce_if(one)
    cp.add(chosen != k - 1).only_enforce_if(~one)
    cp.add(rest <= math.ceil(mean - limit) - 1).only_enforce_if([one, low])
    cp.add(rest >= math.floor(mean + limit) + 1).only_enforce_if([one, ~low])
    cp.maximize(chosen)
    status, solver = budget.solve(cp, WORK, linearization=LINEARIZATION)
    if status == cp_model.OPTIMAL:
        most = round(solver.objective_value)
    elif status == cp_model.FEASIBLE:
        most = math.floor(solver.best_objective_bound + 1e-6)
    else:
        return 0
    return max(0, k - most)


def _fewer_beyond(
    group: _Group, graph: nx.Graph[Hashable], k: int, mean: float, top: int, listed: float,
    sets: list[frozenset[Hashable]], deviation: list[int],
    connectors: list[frozenset[Hashable]],
    chosen: list[tuple[frozenset[Hashable], frozenset[Hashable]]] | None,
    present: dict[Hashable, Hashable], budget: WorkBudget, free: int,
) -> list[tuple[frozenset[Hashable], frozenset[Hashable]]] | None:
    """The cover of least phase 2 cost (:func:`_cheapest_cover`) among candidates deviating
    at most ``top`` tenths, from the cover ``chosen``; the sets are listed again where
    ``sets`` (every set within ``listed`` households of the mean) do not reach ``top``.
    None when the budget or the candidate cap does not allow it."""
    if top > SCALE * listed:
        relisted = _listed_grids(group.near, group.w, group.positive,
                                 mean - top / SCALE - 1e-6, mean + top / SCALE + 1e-6,
                                 budget=budget)
        if relisted is None:
            return None
        wider = relisted[0]
        known = dict(zip(sets, connectors, strict=True))
        fresh = [s for s in wider if s not in known]
        joins = _connectors_of(group, fresh, budget)
        if joins is None:
            return None
        known.update(zip(fresh, joins, strict=True))
        sets, connectors = wider, [known[s] for s in wider]
        deviation = _tenths_off(relisted[1], mean)
    keep = [i for i, d in enumerate(deviation) if d <= top]
    hint = {s for s, _ in chosen} if chosen is not None else set()
    return _cheapest_cover(graph, [sets[i] for i in keep], [deviation[i] for i in keep],
                           [connectors[i] for i in keep], [sets[i] in hint for i in keep],
                           k, group, present, budget, free)


def _fewest_beyond(
    group: _Group, graph: nx.Graph[Hashable], k: int, mean: float, least: float,
    chosen: list[tuple[frozenset[Hashable], frozenset[Hashable]]] | None,
    present: dict[Hashable, Hashable], budget: WorkBudget, free: int, known: int,
) -> tuple[list[tuple[frozenset[Hashable], frozenset[Hashable]]] | None, int]:
    """The split with the fewest grids beyond ``free`` (tenths of a household off ``mean``),
    then the least phase 2 cost (their excess beyond it part of it), among grids within
    FEWEST_WINDOW of the mean and of at least ``least`` households (None when the listing
    or the solve does not fit the budget); and, where it has more grids beyond than the
    ``known`` bound, how many every split with no grid below ``least`` has
    (:func:`_window_bound`; else 0). Where the group's worst grid is forced beyond the
    limit, what its other grids are is a choice: the fewest beyond it, even with a worse
    worst grid (the grids every split has beyond it are then all proven forced)."""
    low, high = max(least, (1 - FEWEST_WINDOW) * mean), (1 + FEWEST_WINDOW) * mean
    listed = _listed_grids(group.near, group.w, group.positive, low - 1e-6, high + 1e-6,
                           FEWEST_SETS, budget)
    if listed is None or len(listed[0]) < k:
        return None, 0
    sets, loads = listed
    connectors = _connectors_of(group, sets, budget)
    if connectors is None:
        return None, 0
    deviation = _tenths_off(loads, mean)
    hint = {s for s, _ in chosen} if chosen is not None else set()
    # Each grid beyond the limit costs more than any other cover's costs: one solve.
    fewest = _cheapest_cover(graph, sets, deviation, connectors, [s in hint for s in sets],
                             k, group, present, budget, free, over_cost=FEWEST_COST)
    if fewest is None or penalty(group.deviations(fewest, mean), free)[0] <= known \
            or low > (1 - BALANCE_LIMIT) * mean:
        return fewest, 0
    needed = [group.needed(s, c) for s, c in zip(sets, connectors, strict=True)]
    return fewest, _window_bound(group, loads, sets, needed, deviation, k, free, least, low,
                                 high, budget)


def _window_bound(group: _Group, loads: list[int], sets: list[frozenset[Hashable]],
                  needed: list[frozenset[Hashable]], deviation: list[int], k: int,
                  free: int, least: float, low: float, high: float,
                  budget: WorkBudget) -> int:
    """Grids beyond ``free`` (tenths) that every split of ``group`` into ``k`` grids of at
    least ``least`` households has. ``sets`` (with their households ``loads``) are every
    set of buildings with households within [``low``, ``high``] that is connected through
    buildings without; a grid holding one also holds its ``needed`` buildings without
    households (those it is not connected without), which no other grid can hold. Any other
    grid of a split is beyond the limit (below ``low``, above ``high``) and holds at least
    one building with households: the buildings no chosen set holds, enough households for
    those grids. 0 when the solve does not conclude within WORK or the budget."""
    cp = new_model()
    x = bool_vars(cp, len(sets))
    covering: dict[Hashable, list[cp_model.IntVar]] = defaultdict(list)
    for var, members, joins in zip(x, sets, needed, strict=True):
        for v in (*members, *joins):
            covering[v].append(var)
    for held in covering.values():
        if len(held) > 1:
            cp.add_at_most_one(held)
    small, big = cp.new_int_var(0, k, ""), cp.new_int_var(0, k, "")
    cp.add(sum(x) + small + big == k)
    left = len(group.positive) - sum(len(m) * var for m, var in zip(sets, x, strict=True))
    cp.add(left >= small + big)
    cp.add(left <= len(group.positive) * (small + big))
    rest = sum(group.w[v] for v in group.positive) \
        - sum(load * var for load, var in zip(loads, x, strict=True))
    cp.add(rest >= math.ceil(least) * small + (math.floor(high) + 1) * big)
    # Without a grid above ``high``, every other one holds fewer than ``low``.
    some_big = cp.new_bool_var("")
    cp.add(big >= 1).only_enforce_if(some_big)
    cp.add(big == 0).only_enforce_if(~some_big)
    cp.add(rest <= (math.ceil(low) - 1) * small).only_enforce_if(~some_big)
    cp.minimize(sum(var for var, dev in zip(x, deviation, strict=True) if dev > free)
                + small + big)
    status, solver = budget.solve(cp, WORK, linearization=LINEARIZATION)
    if status == cp_model.OPTIMAL:
        return round(solver.objective_value)
    if status == cp_model.FEASIBLE:
        return math.ceil(solver.best_objective_bound - 1e-6)
    return 0


def _tenths_off(loads: Iterable[float], mean: float) -> list[int]:
    """How far each of ``loads`` is from ``mean``: tenths of a household, rounded up."""
    return [math.ceil(SCALE * abs(load - mean)) for load in loads]


def _connectors_of(group: _Group, sets: list[frozenset[Hashable]],
                   budget: WorkBudget) -> list[frozenset[Hashable]] | None:
    """:meth:`_Group.connectors` of each of ``sets``, CONNECTOR_STEPS enumeration steps a
    set charged to ``budget``; None (the budget marked run out) where it cannot pay."""
    if budget.max_steps() < CONNECTOR_STEPS * len(sets):
        budget.ran_out = True
        return None
    budget.charge_steps(CONNECTOR_STEPS * len(sets))
    return [group.connectors(s) for s in sets]


def penalty(deviations: list[int], free: int) -> tuple[int, int]:
    """Grids beyond ``free`` and their excess beyond it (deviations and ``free`` in
    tenths of a household): what phase 2 lowers first (OVER_COST, EXCESS_WEIGHT)."""
    over = [d - free for d in deviations if d > free]
    return len(over), sum(over)


def _least_level(levels: list[int], feasible: Callable[[int], bool | None],
                 unknown_up: bool = False) -> tuple[int | None, int | None]:
    """Binary search over ascending ``levels`` with ``feasible(level)`` (True, False or None
    when unknown): the index of the highest level proven infeasible below the lowest proven
    feasible, and that feasible one's index (None where not known). The first level is
    tried first: it is the one that usually decides. A level not decided ends the search;
    with ``unknown_up`` (a search for a split, not a proof) the search goes on above it
    instead, and the first index is None when the level there was not decided."""
    answer = feasible(levels[0])
    if answer is None and not unknown_up:
        return None, None
    if answer:
        return None, 0
    low, high = 0, len(levels)  # highest infeasible, lowest feasible (len: none known)
    proven = answer is False
    while high - low > 1:
        mid = (low + high) // 2
        answer = feasible(levels[mid])
        if answer is None and not unknown_up:
            break
        if answer:
            high = mid
        else:
            low, proven = mid, answer is False
    return (low if proven else None), (high if high < len(levels) else None)


class _Group:
    """One group's nodes, households and adjacency: direct, and through household-less
    nodes between nodes with households."""

    def __init__(self, graph: nx.Graph[Hashable], nodes: list[Hashable]) -> None:
        self.graph, self.nodes, self.inside = graph, nodes, set(nodes)
        self.w = {v: int(graph.nodes[v]["households"]) for v in nodes}
        self.positive = sorted((v for v in nodes if self.w[v] > 0), key=str)
        self.adjacent = {v: [u for u in graph[v] if u in self.inside] for v in nodes}
        self.near = neighbours_with_households(self.adjacent, self.w)

    def connectors(self, members: frozenset[Hashable]) -> frozenset[Hashable]:
        """Household-less nodes that join ``members`` into one connected piece (none when
        they are connected by themselves): shortest paths through household-less nodes from
        the piece holding the first member to each other member in turn."""
        piece = self._reach(min(members, key=str), members)
        added: set[Hashable] = set()
        while not members <= piece:
            path = self._path(piece, members - piece)
            added |= {v for v in path if self.w[v] <= 0}
            piece |= self._reach(path[-1], members | added)
        return frozenset(added)

    def needed(self, members: frozenset[Hashable],
               connectors: frozenset[Hashable]) -> frozenset[Hashable]:
        """Of ``connectors`` (:meth:`connectors`), the buildings without households that
        ``members`` are not connected without, whatever other such buildings join them."""
        if not connectors:
            return connectors
        others = {v for v in self.nodes if self.w[v] <= 0}
        start = min(members, key=str)
        return frozenset(z for z in connectors
                         if not members <= self._reach(start, (members | others) - {z}))

    def _reach(self, v: Hashable, allowed: AbstractSet[Hashable]) -> set[Hashable]:
        seen, stack = {v}, [v]
        while stack:
            for u in self.adjacent[stack.pop()]:
                if u in allowed and u not in seen:
                    seen.add(u)
                    stack.append(u)
        return seen

    def _path(self, sources: set[Hashable], targets: AbstractSet[Hashable]) -> list[Hashable]:
        """A shortest path from ``sources`` to the nearest of ``targets`` through nodes
        without households (``near`` guarantees one)."""
        parent: dict[Hashable, Hashable | None] = dict.fromkeys(sources)
        queue = deque(sorted(sources, key=str))
        while queue:
            v = queue.popleft()
            for u in self.adjacent[v]:
                if u in parent or (self.w[u] > 0 and u not in targets):
                    continue
                parent[u] = v
                if u in targets:
                    path = [u]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1]
                queue.append(u)
        raise ValueError("members not connected through buildings without households")

    def deviations(self, chosen: list[tuple[frozenset[Hashable], frozenset[Hashable]]],
                   mean: float) -> list[int]:
        """The chosen sets' deviations from ``mean`` (tenths of a household)."""
        return [math.ceil(SCALE * abs(sum(self.w[v] for v in s) - mean)) for s, _ in chosen]

    def label(self, chosen: list[tuple[frozenset[Hashable], frozenset[Hashable]]],
              present: dict[Hashable, Hashable]) -> dict[Hashable, int]:
        """Node -> grid 0..k-1: the chosen sets with their connectors; every other node
        joins a grid it touches, the one holding a node of its present grid first, then
        the longest shared boundary."""
        label = {v: i for i, (s, joins) in enumerate(chosen) for v in s | joins}
        pending = sorted((v for v in self.nodes if v not in label), key=str)
        while pending:
            left = []
            for v in pending:
                touching = [(present.get(u) == present[v], self.graph.edges[v, u]["length"],
                             -label[u]) for u in self.adjacent[v] if u in label]
                if touching:
                    label[v] = -max(touching)[2]
                else:
                    left.append(v)
            if len(left) == len(pending):
                raise ValueError("group not connected")
            pending = left
        return label


def neighbours_with_households(adjacent: dict[Hashable, list[Hashable]],
                               w: dict[Hashable, int]) -> dict[Hashable, frozenset[Hashable]]:
    """For each node with households, the nodes with households it touches directly or
    through nodes without households."""
    out: dict[Hashable, frozenset[Hashable]] = {}
    for v in adjacent:
        if w[v] <= 0:
            continue
        seen, stack = {v}, [v]
        found: set[Hashable] = set()
        while stack:
            for u in adjacent[stack.pop()]:
                if u not in seen:
                    seen.add(u)
                    if w[u] > 0:
                        found.add(u)
                    else:
                        stack.append(u)
        out[v] = frozenset(found)
    return out


def candidate_grids(near: dict[Hashable, frozenset[Hashable]], w: dict[Hashable, int],
                    nodes: list[Hashable], low: float, high: float,
                    max_sets: int = MAX_CANDIDATES,
                    budget: WorkBudget | None = None) -> list[frozenset[Hashable]] | None:
    """Every connected set of ``nodes`` (adjacency ``near``) whose households lie within
    [low, high], each once, or None when there are more than ``max_sets`` or listing them
    would take more steps than ``budget`` allows (each step is charged to it).

    ESU enumeration (Wernicke 2006): a set is grown from its first node, in ``nodes`` order,
    by nodes after it that neighbour the set but no earlier member's neighbourhood; every
    set beyond ``high`` is pruned with all its supersets (households are not negative)."""
    listed = _listed_grids(near, w, nodes, low, high, max_sets, budget)
    return None if listed is None else listed[0]


def _listed_grids(near: dict[Hashable, frozenset[Hashable]], w: dict[Hashable, int],
                  nodes: list[Hashable], low: float, high: float,
                  max_sets: int = MAX_CANDIDATES, budget: WorkBudget | None = None,
                  ) -> tuple[list[frozenset[Hashable]], list[int]] | None:
    """:func:`candidate_grids` with each set's households."""
    budget = budget or WorkBudget()
    steps_left = budget.max_steps()
    key = (tuple(nodes), tuple(w[v] for v in nodes), tuple(near[v] for v in nodes), low, high,
           max_sets)
    if key in _LISTED:
        return _replayed(_LISTED[key], steps_left, budget)
    listed, steps = _enumerated(near, w, nodes, low, high, max_sets, steps_left)
    budget.charge_steps(steps)
    if steps > steps_left:
        budget.ran_out = True
        return None
    # Kept only when the listing finished or stopped at max_sets (the budget's steps_left
    # does not decide those), so a later call with at least these steps left ends alike.
    _LISTED[key] = (listed, steps)
    while len(_LISTED) > LISTED_KEPT:
        del _LISTED[next(iter(_LISTED))]
    return listed


# The last LISTED_KEPT listings of this process, with the steps each took: a group's split is
# often asked for again with the same window (a later step of the same pass), and the listing
# was a sixteenth of a floor-area plan's CPU (est 116: 0.42 of 1.05 s on repeats). A repeat
# is charged the same steps, so plans do not change.
LISTED_KEPT = 4
Listing = tuple[list[frozenset[Hashable]], list[int]]  # candidate sets and their households
_LISTED: dict[tuple[Any, ...], tuple[Listing | None, int]] = {}


def _replayed(kept: tuple[Listing | None, int], steps_left: int,
              budget: WorkBudget) -> Listing | None:
    """A kept listing charged as the enumeration would be now: the same steps when they fit
    in ``steps_left``; else it runs out one step beyond them, as the enumeration does."""
    listed, steps = kept
    if steps > steps_left:
        budget.charge_steps(steps_left + 1)
        budget.ran_out = True
        return None
    budget.charge_steps(steps)
    return None if listed is None else (list(listed[0]), list(listed[1]))


def _enumerated(near: dict[Hashable, frozenset[Hashable]], w: dict[Hashable, int],
                nodes: list[Hashable], low: float, high: float, max_sets: int,
                steps_left: int) -> tuple[Listing | None, int]:
    """The ESU enumeration of :func:`candidate_grids`: the sets and their households (None
    beyond ``max_sets`` sets or ``steps_left`` steps) and the steps taken."""
    # Nodes as their ranks and sets as bits of an int: a set grows by the lowest bit of its
    # extension first (the same sets, steps and order as lists kept sorted).
    rank = {v: i for i, v in enumerate(nodes)}
    near_bits = [sum(1 << rank[u] for u in near[v]) for v in nodes]
    load_of = [w[v] for v in nodes]
    found: list[int] = []
    loads: list[int] = []
    steps = 0
    for r in range(len(nodes)):
        if load_of[r] > high:
            continue
        after = -1 << (r + 1)  # the ranks above r
        stack = [(1 << r, near_bits[r] & after, near_bits[r] | 1 << r, load_of[r])]
        while stack:
            members, extension, seen, load = stack.pop()
            steps += 1
            if steps > steps_left:
                return None, steps
            if load >= low:
                found.append(members)
                loads.append(load)
                if len(found) > max_sets:
                    return None, steps
            while extension:
                bit = extension & -extension
                extension ^= bit  # what follows u in the extension
                u = bit.bit_length() - 1
                if load + load_of[u] > high:
                    continue
                stack.append((members | bit, extension | (near_bits[u] & after & ~seen),
                              seen | near_bits[u], load + load_of[u]))
    return (_as_sets(found, nodes), loads), steps


def _as_sets(found: list[int], nodes: list[Hashable],
             batch: int = 4096) -> list[frozenset[Hashable]]:
    """Each bit mask of ``found`` as the set of ``nodes`` at its set bits' positions.
    Decoded with numpy, a batch at a time (the masks as bytes, the nonzero bytes as bits):
    bit by bit in Python this was a tenth of a floor-area plan's CPU."""
    width = max(1, (len(nodes) + 7) // 8)
    table = np.empty(len(nodes), dtype=object)
    for i, v in enumerate(nodes):
        table[i] = v
    out: list[frozenset[Hashable]] = []
    for first in range(0, len(found), batch):
        masks = found[first:first + batch]
        raw = np.frombuffer(b"".join(m.to_bytes(width, "little") for m in masks),
                            dtype=np.uint8).reshape(len(masks), width)
        rows, cols = np.nonzero(raw)
        bits = np.unpackbits(raw[rows, cols][:, None], axis=1, bitorder="little")
        sub, bit = np.nonzero(bits)
        members = table[cols[sub] * 8 + bit].tolist()
        ends = np.searchsorted(rows[sub], np.arange(1, len(masks) + 1)).tolist()
        start = 0
        for end in ends:
            out.append(frozenset(members[start:end]))
            start = end
    return out


def _partition_model(
    sets: list[frozenset[Hashable]], k: int, nodes: list[Hashable],
    connectors: list[frozenset[Hashable]] | None,
) -> tuple[cp_model.CpModel, list[cp_model.IntVar]]:
    """Exactly k of ``sets`` covering each of ``nodes`` once; with ``connectors``, no two
    chosen sets need the same connector."""
    cp = new_model()
    x = bool_vars(cp, len(sets))
    covering: dict[Hashable, list[cp_model.IntVar]] = {v: [] for v in nodes}
    for var, s in zip(x, sets, strict=True):
        for v in s:
            covering[v].append(var)
    for v in nodes:
        cp.add_exactly_one(covering[v])
    cp.add(sum(x) == k)
    if connectors is not None:
        using: dict[Hashable, list[cp_model.IntVar]] = {}
        for var, joins in zip(x, connectors, strict=True):
            for z in joins:
                using.setdefault(z, []).append(var)
        # In the order of the connectors' names: the same model in every process.
        for z in sorted(using, key=str):
            if len(using[z]) > 1:
                cp.add_at_most_one(using[z])
    return cp, x


def _cover(sets: list[frozenset[Hashable]], k: int, nodes: list[Hashable],
           connectors: list[frozenset[Hashable]] | None,
           budget: WorkBudget, cap: float = WORK) -> list[int] | Literal[False] | None:
    """Such a cover (the indices of its sets), False when there is none, None when that
    is not known within ``cap`` units or the budget."""
    if len(sets) < k:
        return False
    cp, x = _partition_model(sets, k, nodes, connectors)
    status, solver = budget.solve(cp, cap, linearization=LINEARIZATION)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [i for i, var in enumerate(x) if solver.value(var)]
    return False if status == cp_model.INFEASIBLE else None


def _cheapest_cover(
    graph: nx.Graph[Hashable], sets: list[frozenset[Hashable]], deviation: list[int],
    connectors: list[frozenset[Hashable]], hint: list[bool], k: int, group: _Group,
    present: dict[Hashable, Hashable], budget: WorkBudget, free: int,
    over_cost: int = OVER_COST,
) -> list[tuple[frozenset[Hashable], frozenset[Hashable]]] | None:
    """The cover of least phase 2 cost (see :func:`_cost`; a set deviating more than
    ``free`` tenths of a household costs ``over_cost`` and EXCESS_WEIGHT per tenth beyond),
    starting from the cover ``hint``: (set, connectors) pairs."""
    cp, x = _partition_model(sets, k, group.positive, connectors)
    for var, chosen in zip(x, hint, strict=True):
        cp.add_hint(var, chosen)
    cp.minimize(sum((_cost(graph, s, dev, group, present)
                     + (over_cost + EXCESS_WEIGHT * (dev - free) if dev > free else 0)) * var
                    for s, dev, var in zip(sets, deviation, x, strict=True)))
    status, solver = budget.solve(cp, WORK, linearization=LINEARIZATION)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    return [(s, c) for s, c, var in zip(sets, connectors, x, strict=True)
            if solver.value(var)]


def _cost(graph: nx.Graph[Hashable], members: frozenset[Hashable], deviation: int,
          group: _Group, present: dict[Hashable, Hashable]) -> int:
    """A candidate's phase 2 cost (tenths): half its cut (each cut edge has two sides) to
    other buildings with households, its deviation, its spread around its centre and the
    households not in the present grid that holds most of it."""
    w, nodes = group.w, graph.nodes
    ordered = sorted(members, key=str)  # float sums in one order: the same in every process
    cut: float = sum(graph.edges[v, u]["cost"] for v in ordered for u in group.adjacent[v]
                     if u not in members and w[u] > 0)
    cx = sum(nodes[v]["x"] for v in ordered) / len(members)
    cy = sum(nodes[v]["y"] for v in ordered) / len(members)
    spread = sum(math.hypot(nodes[v]["x"] - cx, nodes[v]["y"] - cy) for v in ordered)
    held: dict[Hashable, int] = {}
    for v in ordered:
        held[present[v]] = held.get(present[v], 0) + w[v]
    moved = sum(held.values()) - max(held.values())
    return round(SCALE * (CUT_WEIGHT * cut / 2 + SPREAD_WEIGHT * spread
                          + MOVE_WEIGHT * moved)) + DEVIATION_WEIGHT * deviation
