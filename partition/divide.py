"""Dividing communities into grids: a grid label for every building.

:func:`assign_grids` is the division step of a plan (partition.plan):

- each community's buildings fall into groups that no barrier or community boundary crosses;
  pockets below half the target join a group across an open arterial road (partition.groups);
- a building with more households than the target is a grid of its own (楼栋网格);
- every other group is split into round(households / target) grids, the counts of a
  community's groups chosen together (:func:`grid_counts`), by recursive bisection
  (partition.regionalize); a group of few nodes and grids with a grid beyond 15% of the mean
  is split whole by a flow model (partition.group_exact), which also proves where no split
  within 15% exists; a grid still beyond 15% is re-split with its neighbours
  (partition.exact_balance), a group whose worst grid is still beyond it is split again
  exactly as a whole (partition.set_partition), and grids' hulls are untangled
  (partition.untangle), counting overlap with the community's grids that stay as they are
  (groups of one grid, building grids);
- groups without households join the grid they share the longest boundary with; one cut off
  from every grid is a dedicated grid (专属网格) of its own.

Groups are independent: they are divided in forked worker processes (partition.parallel), the
exact steps drawing on one work budget per plan shared out beforehand (partition.budget) by
community (by households), then by group within it (by buildings), so the plan is
the same for any number of workers, and a community's grids are the same when it is planned
alone with its share. A community whose division fails is reported and left without grids;
the others are planned.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from partition.budget import WorkBudget, share
from partition.exact_balance import repair_extremes
from partition.group_exact import (
    FIRST_PAIRS,
    MAX_PAIRS,
    PROOF_GRIDS,
    PROOF_SHARE,
    GroupProof,
    fits,
    prove_group,
)
from partition.groups import CommunityGroups, community_groups
from partition.metrics import (
    BALANCE_LIMIT,
    SMALL_SHARE,
    adjacency_bounds,
    deviation_lower_bound,
    division_bound,
    subset_sum_bound,
)
from partition.parallel import map_following, map_forked
from partition.rebalance import rebalance_group, untangle_moved
from partition.regionalize import split
from partition.set_partition import OVER_LEVEL, best_split
from partition.untangle import untangle

# A community's mean grid size may differ this much from the target when that lets groups cut
# off by barriers divide more evenly (grid_counts), and up to WIDE_RANGE when at the counts
# nearest the target some group's grids would be beyond the balance limit.
MEAN_RANGE = 0.06
WIDE_RANGE = 0.25
CLEAR_GAIN = 0.8  # ... and its groups' deviation score falls at least by a fifth
MIN_SECOND_PASS = 0.5  # units left over below which no further pass is run
# Passes over groups still beyond the balance limit when their share ran out: the second one
# and up to this many more, each with what the community's groups left unspent.
MORE_PASSES = 3
BOUND_MARGIN = 0.02  # a group that cannot reach the limit is split to within this of its bound
FIRST_TAG = "x"  # the first pass's fresh grid labels (later passes': "y", "y2.", ...)
# A re-balance's chain repairs (partition.rebalance) may spend this share of the work left.
CHAIN_SHARE = 0.5
# Set partitioning over a whole group (split_exactly) may spend this share of the work left;
# the re-splits around the worst grid have the rest. Where its proof or cover does not
# conclude, its solves took all of it, and the windows, which need little, had none
# (floor-area 73: 7 -> 4 free grids beyond 15%; 0.5 and 0.6 lose a proof on floor-area 72,
# 0.85 gives 71 three more: bench/partition_results.md).
WHOLE_SHARE = 0.7

# A group's task in a worker: "labels", "exact", "forced" (partition.group_exact's bound,
# percent, or None), "ran_out", "spent", "units", "needy" (a grid still beyond the limit,
# which the group's bound does not force) and "kept" (a split within the limit that
# partition.group_exact found, kept for the division to use if no later pass gets the group
# within the limit: node -> 0..k-1, or None), or "error".
Result = dict[str, Any]
Labels = dict[Hashable, Hashable]  # building (or pocket node) -> grid label
NewLabel = Callable[[], Hashable]  # a fresh grid label of the community at each call
Community = tuple[Hashable, pd.Index]  # a community and its buildings


@dataclass
class Division:
    """What :func:`assign_grids` returns.

    ``labels``: building -> grid label; ``bounds``: building -> the deviation (percent) its
    grid cannot avoid (partition.metrics); ``crossings``: pockets joined across a road
    (grid label, road type, road name, households); ``failures``: communities left without
    grids (community, error); ``budget``: groups whose exact steps ran out of work (community,
    buildings, grids, units spent, bound percent)."""

    labels: pd.Series
    bounds: pd.Series
    crossings: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    budget: list[dict[str, Any]] = field(default_factory=list)


def assign_grids(graph: nx.Graph[Hashable], buildings: gpd.GeoDataFrame, target: int, seed: int = 0,
                 previous: pd.Series | None = None,
                 locked: frozenset[str] = frozenset(), workers: int = 1,
                 work: float | None = None, strict_barriers: bool = False) -> Division:
    """Grid labels for every building in the graph, and the deviation bounds.

    Without ``previous`` the labels are "<community>/<n>" (numbered later). With it (the
    previous grid code per building, NaN for new buildings) the labels are grid codes: kept
    where grids keep their buildings, new ones for new grids; grids in ``locked`` keep exactly
    their buildings. ``work``: the exact steps' budget (partition.budget units; None:
    unlimited). ``strict_barriers``: no pocket is joined across a road.
    """
    communities = sorted(buildings.groupby("community").groups.items(),
                         key=lambda item: -len(item[1]))
    if previous is not None:
        return _rebalance(graph, communities, target, seed, previous, locked, workers, work,
                          strict_barriers)
    residential = (set(buildings.index[buildings["residential"]])
                   if "residential" in buildings else set(buildings.index))
    return _divide(graph, communities, residential, target, workers, work, strict_barriers)


def _divide(graph: nx.Graph[Hashable], communities: list[Community],
            residential: set[Hashable], target: int, workers: int, work: float | None,
            strict: bool) -> Division:
    """A fresh division (see the module docstring)."""
    prepared: dict[Hashable, _Prepared] = {}
    failures: list[dict[str, str]] = []
    for community, members in communities:
        try:
            prepared[community] = _prepare(graph, community, list(members), residential,
                                           target, strict)
        except Exception as error:
            failures.append(_failure(community, "groups", error))
    # The work goes to the communities by their households, then to each community's groups
    # by their buildings (partition.budget): what a community gets does not depend on the
    # other communities of the area, so a community planned alone with its share is planned
    # exactly as here.
    given = dict(zip([c for c, _ in communities],
                     share(work, [community_households(graph, members)
                                  for _, members in communities]), strict=True))
    planned: list[tuple[tuple[Hashable, int, int], float | None]] = []
    for community, p in prepared.items():
        mine = [(community, i, len(comp)) for i, (comp, k) in enumerate(p.counts) if k > 1]
        planned += zip(mine, share(given[community], [t[2] for t in mine]), strict=True)
    planned.sort(key=lambda item: -item[0][2])  # the largest first: handed out in order
    tasks = [task for task, _ in planned]
    passes = _Passes(tasks)
    map_following(_pass_task, [_PassTask(c, i, units) for (c, i, _), units in planned],
                  workers, passes.follow, prepared=prepared)
    results = passes.results()
    done: dict[Hashable, dict[int, Result]] = defaultdict(dict)
    for (community, i, _), result in zip(tasks, results, strict=True):
        done[community][i] = result
    division = Division(pd.Series(dtype=object), pd.Series(dtype=float), failures=failures)
    labels: Labels = {}
    bounds: dict[Hashable, float] = {}
    for community, p in prepared.items():
        errors = [r["error"] for r in done[community].values() if "error" in r]
        if errors:
            division.failures.append(errors[0])
            continue
        try:
            part = _finish(p, done[community], division)
        except Exception as error:
            division.failures.append(_failure(community, "grids", error))
            continue
        labels.update(part[0])
        bounds.update(part[1])
    division.labels = pd.Series(labels, dtype=object)
    division.bounds = pd.Series(bounds, dtype=float)
    return division


def community_households(graph: nx.Graph[Hashable], members: Iterable[Hashable]) -> int:
    """The households of a community's buildings as the plan counts them (whole numbers,
    partition.adjacency): its weight in sharing out the work (partition.budget)."""
    return sum(int(graph.nodes[b]["households"]) for b in members)


@dataclass
class _Prepared:
    """A community's groups (partition.groups) with their grid counts and mean."""

    groups: CommunityGroups
    counts: list[tuple[list[Hashable], int]]  # (nodes, grids) of groups with households
    empty: list[list[Hashable]]  # household-less groups
    mean: float
    residential: set[Hashable]  # nodes with homes (a pocket: when one of its buildings has)
    target: int
    # Hulls of the homes of the community's grids that no division changes (groups of one
    # grid, building grids): the untangling of the other groups counts overlap with them.
    fixed: list[BaseGeometry] = field(default_factory=list)
    fixed_tree: shapely.STRtree | None = None  # over ``fixed``, made when first needed
    # The households and grids the mean is taken over (groups sized by what cuts them off
    # and building grids left out, as in metrics.deviations), and those of all the groups.
    counted: tuple[float, int] = (0.0, 0)
    everything: tuple[float, int] = (0.0, 0)


def _prepare(graph: nx.Graph[Hashable], community: Hashable, members: list[Hashable],
             residential: set[Hashable], target: int, strict: bool) -> _Prepared:
    found = community_groups(graph, community, members, target, strict)
    homes = {v for v in found.graph
             if any(b in residential for b in found.contracted.get(v, [v]))}
    hh = found.graph.nodes
    sized: list[tuple[list[Hashable], int]] = [([b], 1) for b in found.building_grids]
    totals = [float(hh[b]["households"]) for b in found.building_grids]
    empty: list[list[Hashable]] = []
    for comp, total in found.groups:
        if total == 0:
            empty.append(comp)
        else:
            sized.append((comp, _first_count(found.graph, comp, total, target)))
            totals.append(float(total))
    # Grids sized by a building or by what cuts a few homes off are measured from the mean
    # of the others (as in partition.metrics.deviations), counted only where there are none.
    building = [i < len(found.building_grids) for i in range(len(sized))]
    counts, mean = grid_counts(sized, totals, target, building=building)
    others = _sized(totals, [k for _, k in counts], building, target)
    fixed = [_homes_hull(found.graph, comp, homes) for comp, k in counts if k == 1]
    return _Prepared(found, counts, empty, mean, homes, target,
                     [h for h in fixed if h.area > 0],
                     counted=(math.fsum(t for t, _ in others), sum(k for _, k in others)),
                     everything=(math.fsum(totals), sum(k for _, k in counts)))


def count_means(p: _Prepared, i: int) -> dict[int, float]:
    """Grid count c of group ``i`` -> the community's mean grid size when the group has c
    grids and the other groups the counts the plan gives them (as :func:`_prepare` takes
    it: over the groups whose grids are not sized by what cuts them off, all of them where
    there are none), for c from 1 to the group's nodes with households."""
    comp, k = p.counts[i]
    hh = p.groups.graph.nodes
    total = float(sum(hh[v]["households"] for v in comp))
    big = comp[0] in set(p.groups.building_grids)
    sized = not big and total / k >= SMALL_SHARE * p.target
    out: dict[int, float] = {}
    for c in range(1, sum(hh[v]["households"] > 0 for v in comp) + 1):
        now = not big and total / c >= SMALL_SHARE * p.target
        households = p.counted[0] - sized * total + now * total
        grids = p.counted[1] - sized * k + now * c
        if grids <= 0:  # no grid sets the mean: all of them do
            households, grids = p.everything[0], p.everything[1] - k + c
        out[c] = households / grids
    return out


def elsewhere(p: _Prepared, i: int, means: dict[int, float]) -> dict[int, float]:
    """Grid count c of group ``i`` -> the largest deviation (a share) from ``means[c]``
    that some grid of the community's other groups, at the counts the plan gives them, is
    proven to have by its buildings' sizes (metrics.deviation_lower_bound); over the
    groups whose grids set the mean (:func:`count_means`), the others being sized by
    what cuts them off."""
    hh = p.groups.graph.nodes
    big = set(p.groups.building_grids)
    others = []
    for j, (comp, k) in enumerate(p.counts):
        sizes = [int(hh[v]["households"]) for v in comp]
        if j != i and comp[0] not in big and sum(sizes) / k >= SMALL_SHARE * p.target:
            others.append(sizes)
    # Only the counts group_exact would model (their division allows the limit) need it.
    comp, k = p.counts[i]
    total = sum(int(hh[v]["households"]) for v in comp)
    return {c: max((deviation_lower_bound(sizes, mean) / 100 for sizes in others),
                   default=0.0)
            if c != k and abs(total / c - mean) <= BALANCE_LIMIT * mean else 0.0
            for c, mean in means.items()}


def _fixed_near(p: _Prepared, comp: list[Hashable]) -> list[BaseGeometry]:
    """Those of the community's fixed hulls that meet the envelope of group ``comp``'s
    homes (in their order): a community of thousands of grids (an area given without
    community polygons) would otherwise hand every group all of them."""
    if not p.fixed:
        return []
    box = shapely.envelope(_homes_hull(p.groups.graph, comp, p.residential))
    if box.is_empty:
        return []
    if p.fixed_tree is None:
        p.fixed_tree = shapely.STRtree(p.fixed)
    return [p.fixed[i] for i in sorted(p.fixed_tree.query(box, predicate="intersects"))]


def _homes_hull(graph: nx.Graph[Hashable], nodes: list[Hashable],
                homes: set[Hashable]) -> BaseGeometry:
    """The convex hull of the footprints of ``nodes`` with homes (what the plan's hull
    overlap measures), empty when there are none."""
    feet = [graph.nodes[v]["footprint"] for v in nodes
            if v in homes and graph.nodes[v].get("footprint") is not None]
    return shapely.convex_hull(shapely.union_all(feet)) if feet else shapely.Polygon()


def _first_count(graph: nx.Graph[Hashable], comp: list[Hashable], total: float,
                 target: int) -> int:
    """round(households / target) grids, a building above the target (which took a pocket
    across a road, partition.groups) counting as one grid with its pocket."""
    biggest: int = max(graph.nodes[b]["households"] for b in comp)
    if biggest > target:
        return 1 + round((total - biggest) / target)
    return max(1, round(total / target))


def _group_task(task: tuple[Hashable, int, float | None], *,
                prepared: dict[Hashable, _Prepared]) -> Result:
    """Split one group of a community into its grids (in a worker process). A split that
    leaves a grid below SMALL_SHARE of the target (building sizes, a pocket across a road)
    is made again with one grid fewer: no grid of homes is that small where it has
    neighbours to share with."""
    community, i, units = task
    p = prepared[community]
    comp, k = p.counts[i]
    graph = p.groups.graph
    budget = WorkBudget(units)
    try:
        for grids in range(k, 1, -1):
            parts = split(graph, comp, grids, mean=p.mean)
            labels: Labels = {b: f"{community}/{i}.{q}" for b, q in parts.items()}
            result = _improve(p, community, i, labels, budget, FIRST_TAG)
            loads: dict[Hashable, int] = defaultdict(int)
            for b, label in result["labels"].items():
                loads[label] += graph.nodes[b]["households"]
            if min(loads.values()) >= SMALL_SHARE * p.target:
                return result
        return {"labels": dict.fromkeys(comp, f"{community}/{i}.0"), "exact": None,
                "forced": None, "ran_out": budget.ran_out, "spent": budget.spent,
                "units": budget.units, "needy": False}
    except Exception as error:
        return {"error": _failure(community, "split", error)}


def _group_again(task: tuple[Hashable, int, float | None, Labels, str], *,
                 prepared: dict[Hashable, _Prepared]) -> Result:
    """Go on improving a group's grids with the budget others left (later passes; ``tag``
    makes the pass's fresh grid labels its own)."""
    community, i, units, labels, tag = task
    try:
        return _improve(prepared[community], community, i, labels, WorkBudget(units), tag)
    except Exception as error:
        return {"error": _failure(community, "split", error)}


def _improve(p: _Prepared, community: Hashable, i: int, labels: Labels, budget: WorkBudget,
             tag: str) -> Result:
    """The exact steps and the untangling on group ``i``'s grids ``labels``."""
    comp = p.counts[i][0]
    k = len(set(labels.values()))
    graph = p.groups.graph
    labels = dict(labels)
    spare = itertools.count()
    forced = deviation_lower_bound([graph.nodes[b]["households"] for b in comp], p.mean)
    # Small groups are modelled first (the re-splits would spend their work first); a
    # split found is kept aside, used where the re-splits and set partitioning (whose
    # grids are more compact) end with a grid beyond the limit.
    first = _prove(p, i, labels, budget, forced, FIRST_PAIRS)
    if first is None and len(set(labels.values())) <= PROOF_GRIDS:
        # Larger groups of few grids: a proof only, with a share of the work.
        part = budget.part(PROOF_SHARE)
        early = _prove(p, i, labels, part, forced, find=False)
        budget.charge(part.spent)
        first = early if early is not None and early.bound is not None else None
    labels.update(repair_extremes(graph, labels, movable=set(comp), mean=p.mean,
                                  budget=budget))
    beyond: dict[Hashable, int] = {}
    exact = split_exactly(graph, [(comp, k)], labels, p.mean,
                          lambda: f"{community}/{i}.{tag}{next(spare)}", budget, beyond,
                          least=SMALL_SHARE * p.target)
    # Larger groups, with what the other steps left.
    found = first if first is not None else _prove(p, i, labels, budget,
                                                   max(forced, exact.get(comp[0]) or 0.0))
    proof = found.bound if found else None
    kept: dict[Hashable, int] | None = None
    if found and found.labels is not None and _worst(graph, comp, labels, p.mean) \
            > BALANCE_LIMIT + 1e-9:
        if budget.ran_out and tag == FIRST_TAG:
            # The other steps ran out: a later pass may give them more work (and then the
            # model's split again, if they still fall short); else the division uses it.
            kept = found.labels
        else:
            _relabel(graph, found.compact(graph, budget), labels,
                     lambda: f"{community}/{i}.{tag}{next(spare)}")
    # A group whose building sizes force a grid beyond the limit is untangled within what
    # it was split for (split_exactly), not held to the limit its grids cannot reach.
    labels.update(untangle(graph, labels, movable=set(comp),
                           residential=p.residential & set(comp), mean=p.mean,
                           fixed=_fixed_near(p, comp),
                           limit=(forced / 100 + BOUND_MARGIN
                                  if forced > 100 * BALANCE_LIMIT else BALANCE_LIMIT)))
    worst = _worst(graph, comp, labels, p.mean)
    proven = max(forced, exact.get(comp[0]) or 0.0, proof or 0.0)
    # More work is worth it where a grid is beyond the limit and the group's bound does not
    # already put its grids beyond it (they are not free grids whatever happens).
    needy = worst > BALANCE_LIMIT + 1e-9 and proven <= 100 * BALANCE_LIMIT
    return {"labels": labels, "exact": exact.get(comp[0]), "forced": proof,
            # Grids beyond the limit every split into k grids has (split_exactly).
            "beyond": (beyond[comp[0]], k) if comp[0] in beyond else None,
            "ran_out": budget.ran_out, "spent": budget.spent, "units": budget.units,
            "needy": needy, "kept": kept}


def _prove(p: _Prepared, i: int, labels: Labels, budget: WorkBudget, forced: float,
           most: int = MAX_PAIRS, find: bool = True) -> GroupProof | None:
    """Group ``i``, of at most ``most`` pairs (partition.group_exact.fits), with a grid
    beyond the limit in ``labels`` where its bound so far (``forced``, percent) allows the
    limit, modelled whole by partition.group_exact: a split with every grid within the
    limit, or the least worst deviation (percent) proven for every split (None: not
    modelled)."""
    comp = p.counts[i][0]
    graph = p.groups.graph
    k = len({labels[b] for b in comp})
    if (_worst(graph, comp, labels, p.mean) <= BALANCE_LIMIT + 1e-9
            or forced > 100 * BALANCE_LIMIT or not fits(graph, comp, k, most)
            or not budget.allows()):
        return None
    means = count_means(p, i)
    return prove_group(graph, comp, k, means, {b: labels[b] for b in comp}, budget,
                       elsewhere=elsewhere(p, i, means), find=find)


def _worst(graph: nx.Graph[Hashable], comp: list[Hashable], labels: Labels,
           mean: float) -> float:
    """The largest relative deviation from ``mean`` of the grids of ``comp`` in ``labels``."""
    loads: dict[Hashable, int] = defaultdict(int)
    for b in comp:
        loads[labels[b]] += graph.nodes[b]["households"]
    return max(abs(load - mean) for load in loads.values()) / mean


class _PassTask(NamedTuple):
    """One group's split (the first pass: no ``labels``) or a later pass over its grids
    ``labels``, with ``units`` of work; ``tag`` makes a pass's fresh grid labels its own."""

    community: Hashable
    i: int
    units: float | None
    labels: Labels | None = None
    tag: str = FIRST_TAG


def _pass_task(task: _PassTask, *, prepared: dict[Hashable, _Prepared]) -> Result:
    """Run one pass of one group (in a worker process)."""
    if task.labels is None:
        return _group_task((task.community, task.i, task.units), prepared=prepared)
    return _group_again((task.community, task.i, task.units, task.labels, task.tag),
                        prepared=prepared)


class _Passes:
    """The passes of each community's groups, run as each community's groups finish.

    The work that a community's groups left unspent goes, in shares by size, to its groups
    that ran out with a grid still beyond the limit they were split for, which go on from
    where they stopped; then again (up to MORE_PASSES times) with what is still unspent, to
    those of them still short. A community's pass starts when all its groups are done with
    the one before, and depends on nothing else: the plan does not depend on the number of
    workers nor on which finishes first, and a community's plan not on the others."""

    def __init__(self, tasks: list[tuple[Hashable, int, int]]) -> None:
        self.tasks = tasks  # (community, group, buildings), in the first pass's order
        self.index = {(c, i): j for j, (c, i, _) in enumerate(tasks)}
        self.out: list[Result | None] = [None] * len(tasks)
        self.members: dict[Hashable, list[int]] = defaultdict(list)
        for j, (community, _, _) in enumerate(tasks):
            self.members[community].append(j)
        self.waiting = {c: len(js) for c, js in self.members.items()}
        self.short: dict[Hashable, list[int]] = defaultdict(list)  # ran out, still needy
        self.rounds: dict[Hashable, int] = defaultdict(int)  # later passes run so far

    def results(self) -> list[Result]:
        """Each group's result after its last pass, in the first pass's order."""
        assert all(r is not None for r in self.out), "a group never finished"
        return [r for r in self.out if r is not None]

    def follow(self, task: _PassTask, result: Result) -> list[_PassTask]:
        """Record a group's pass; the community's next pass when this was its last group."""
        j = self.index[(task.community, task.i)]
        before = self.out[j]
        self.out[j] = result if before is None or "error" in result \
            else _merged(before, result)
        if "error" not in result and result["ran_out"] and result["needy"]:
            self.short[task.community].append(j)
        self.waiting[task.community] -= 1
        if self.waiting[task.community]:
            return []
        return self._next_pass(task.community)

    def _next_pass(self, community: Hashable) -> list[_PassTask]:
        js, round_ = sorted(self.short.pop(community, [])), self.rounds[community]
        if not js or round_ > MORE_PASSES:
            return []
        finished = [r for r in (self.out[j] for j in self.members[community])
                    if r is not None and "error" not in r]
        # The work given to the community's groups (their first shares), less all spent;
        # exact sums, the same in any order.
        left = (math.fsum(r["units"] for r in finished if r["units"] is not None)
                - math.fsum(r["spent"] for r in finished))
        if left < MIN_SECOND_PASS:
            return []
        self.rounds[community] = round_ + 1
        self.waiting[community] = len(js)
        tag = "y" if round_ == 0 else f"y{round_ + 1}."
        shares = share(left, [self.tasks[j][2] for j in js])
        return [_PassTask(community, self.tasks[j][1], units, self._labels(j), tag)
                for j, units in zip(js, shares, strict=True)]

    def _labels(self, j: int) -> Labels:
        result = self.out[j]
        assert result is not None
        labels: Labels = result["labels"]
        return labels


def _merged(before: Result, result: Result) -> Result:
    """A group's result after a later pass: the pass's labels, the work of all passes, the
    strongest proofs of either."""
    return {**result, "spent": before["spent"] + result["spent"], "units": before["units"],
            "exact": max(before["exact"] or 0.0, result["exact"] or 0.0) or None,
            "beyond": _more_beyond(before.get("beyond"), result.get("beyond")),
            "forced": max(before.get("forced") or 0.0, result.get("forced") or 0.0) or None,
            "kept": result.get("kept") or before.get("kept")}


def _more_beyond(a: tuple[int, int] | None,
                 b: tuple[int, int] | None) -> tuple[int, int] | None:
    """Of two passes' (grids beyond the limit, grid count) proofs, the later one, or the
    one proving more at the same count."""
    if a is None or b is None:
        return b or a
    return a if a[1] == b[1] and a[0] > b[0] else b


def _finish(p: _Prepared, results: dict[int, Result],
            division: Division) -> tuple[Labels, dict[Hashable, float]]:
    """Put a community's groups together: labels and bounds of its buildings."""
    community = p.groups.community
    graph = p.groups.graph
    labels: Labels = {}
    bounds: dict[Hashable, float] = {}
    for i, (comp, k) in enumerate(p.counts):
        if k > 1:
            part = dict(results[i]["labels"])
            kept = results[i].get("kept")
            if kept and _worst(graph, comp, part, p.mean) > BALANCE_LIMIT + 1e-9:
                # No later pass got the group within the limit: the flow model's split
                # (partition.group_exact), which is.
                _relabel(graph, kept, part, _labeller(f"{community}/{i}.z"))
                part.update(untangle(graph, part, movable=set(comp),
                                     residential=p.residential & set(comp), mean=p.mean,
                                     fixed=_fixed_near(p, comp)))
            labels.update(part)
        else:
            labels.update(dict.fromkeys(comp, f"{community}/{i}"))
    # Bounds hold against the mean the plan's summary measures from (metrics.deviations),
    # which the grids as drawn give; the division's mean (p.mean) can differ from it.
    mean = summary_mean(p, labels)
    for i, (comp, k) in enumerate(p.counts):
        exact = [against(results[i][key], p.mean, mean) for key in ("exact", "forced")
                 if k > 1 and results[i].get(key)]
        proven = _bound_group(graph, comp, labels, bounds, mean, exact,
                              (*results[i]["beyond"], p.mean)
                              if k > 1 and results[i].get("beyond") else None, p.target)
        if k > 1 and results[i]["ran_out"]:
            drawn = sorted({str(labels[b]) for b in comp})
            division.budget.append({"community": community, "buildings": len(comp),
                                    "grids": len(drawn),
                                    "units_spent": round(results[i]["spent"], 2),
                                    "bound_pct": round(proven, 2), "labels": drawn})
    building_grids = frozenset(labels[b] for b in p.groups.building_grids)
    spare = itertools.count()
    _attach_empty(graph, p.empty, labels, lambda: f"{community}/d{next(spare)}",
                  building_grids)
    labels = p.groups.expand(labels)
    division.crossings += _crossings(p.groups, labels)
    return labels, p.groups.expand(bounds)


def summary_mean(p: _Prepared, labels: Labels) -> float:
    """The community's mean grid size as the plan's summary takes it from grids ``labels``
    (node -> grid, every group's node; metrics.community_means): over its grids with
    households but building grids (one building above the target) and grids below
    SMALL_SHARE of the target; over every grid with households where none is left."""
    graph = p.groups.graph
    loads: dict[Hashable, int] = defaultdict(int)
    for v, label in labels.items():
        loads[label] += int(graph.nodes[v]["households"])
    alone = {labels[b] for b in p.groups.building_grids if b in labels}
    housed = [load for load in loads.values() if load > 0]
    regular = [load for label, load in loads.items()
               if load >= SMALL_SHARE * p.target and label not in alone and load > 0]
    counted = regular or housed
    return math.fsum(counted) / len(counted) if counted else p.mean


def against(bound: float, mean: float, other: float) -> float:
    """A bound (percent) proven against ``mean`` (some grid holds at most (1 - bound) or at
    least (1 + bound) x ``mean``), as it holds against ``other``: that grid's least
    deviation from ``other`` (0 when ``other`` is not between those loads)."""
    low, high = mean * (1 - bound / 100), mean * (1 + bound / 100)
    return max(0.0, 100.0 * min(high - other, other - low) / other) if other > 0 else 0.0


def _labeller(prefix: str) -> NewLabel:
    """Fresh grid labels ``prefix`` + 0, 1, ..."""
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter)}"


def _bound_group(graph: nx.Graph[Hashable], comp: list[Hashable], labels: Labels,
                 bounds: dict[Hashable, float], mean: float, exact: list[float],
                 beyond: tuple[int, int, float] | None = None, target: int = 0) -> float:
    """Deviation bounds (percent, against ``mean``) of group ``comp``'s buildings in
    ``bounds``; returns the largest proven for the group. Every grid is a sum of whole
    buildings: the subset sums and the neighbours bound each grid; the division into whole
    grids and the exact models' bounds (``exact``: set partitioning, the flow model) prove
    one grid of the group beyond them, not every grid: its worst one is marked
    (partition.plan counts the others free). ``beyond``: (m, k, the mean it was proven
    against): every split into k grids has m grids beyond BALANCE_LIMIT of that mean
    (set_partition.beyond_bound), so m of the group's grids beyond it are marked
    (:func:`_mark_beyond`). ``target``: the plan's grid size; the group has one grid
    where more would leave one below SMALL_SHARE of it (metrics.division_bound)."""
    sizes = [graph.nodes[b]["households"] for b in comp]
    each = subset_sum_bound(sizes, mean)
    bounds.update({b: max(each, near) for b, near
                   in adjacency_bounds(graph, comp, mean).items()})
    proven = max([each, division_bound(sizes, mean, SMALL_SHARE * target), *exact])
    if proven > each:
        _mark_forced(graph, comp, labels, bounds, mean, proven)
    if beyond is not None and beyond[0] > 1:
        _mark_beyond(graph, comp, labels, bounds, mean, *beyond)
    return proven


def _mark_beyond(graph: nx.Graph[Hashable], comp: list[Hashable], labels: Labels,
                 bounds: dict[Hashable, float], mean: float, count: int, grids: int,
                 proven_mean: float) -> None:
    """Every split of group ``comp`` into ``grids`` grids has ``count`` grids beyond
    BALANCE_LIMIT of ``proven_mean`` (each holds a whole number of households below
    (1 - limit) or above (1 + limit) x ``proven_mean``). Where fewer of its grids in
    ``labels`` are bound beyond the limit, the worst of the others that hold such a load
    (the largest deviation from ``mean``, then the label as text) are bound, up to
    ``count``, at the least deviation from ``mean`` such a load has (none where that is
    within the limit)."""
    low = math.ceil(proven_mean * (1 - BALANCE_LIMIT) - 1e-6) - 1
    high = math.floor(proven_mean * (1 + BALANCE_LIMIT) + 1e-6) + 1
    least = 100.0 * min(high - mean, mean - low) / mean if mean > 0 else 0.0
    if least <= 100 * BALANCE_LIMIT:
        return
    members: dict[Hashable, list[Hashable]] = defaultdict(list)
    for b in comp:
        members[labels[b]].append(b)
    if len(members) != grids:
        return  # proven for another count of grids
    loads = {g: sum(graph.nodes[b]["households"] for b in bs) for g, bs in members.items()}
    bound_beyond = [g for g, bs in members.items()
                    if max(bounds[b] for b in bs) > 100 * BALANCE_LIMIT]
    # Only grids beyond the limit may be marked: the bound holds for them as drawn.
    others = sorted((g for g in members if g not in bound_beyond
                     and (loads[g] <= low or loads[g] >= high)),
                    key=lambda g: (-abs(loads[g] - mean), str(g)))
    for g in others[:max(0, count - len(bound_beyond))]:
        for b in members[g]:
            bounds[b] = max(bounds[b], least)


def _mark_forced(graph: nx.Graph[Hashable], comp: list[Hashable], labels: Labels,
                 bounds: dict[Hashable, float], mean: float, forced: float) -> None:
    """Group ``comp`` is proven to have a grid at least ``forced`` percent off the mean
    in every split (partition.group_exact): its worst grid in ``labels`` (the largest
    deviation, then the label as text) is not free, the buildings of that grid, and only
    of that one, bound at ``forced``."""
    members: dict[Hashable, list[Hashable]] = defaultdict(list)
    for b in comp:
        members[labels[b]].append(b)
    worst = max(members, key=lambda g: (abs(sum(graph.nodes[b]["households"]
                                                for b in members[g]) - mean), str(g)))
    for b in members[worst]:
        bounds[b] = max(bounds[b], forced)


def _crossings(groups: CommunityGroups, labels: Labels) -> list[dict[str, Any]]:
    """The pockets joined across roads, with the grid label each ended in."""
    return [{"label": labels[c.members[0]], "barrier_kind": c.road_type,
             "barrier_name": c.road_name, "households": c.households,
             "members": [b for v in c.members for b in groups.contracted.get(v, [v])]}
            for c in groups.exceptions]


def _failure(community: object, step: str, error: Exception) -> dict[str, str]:
    return {"community": str(community), "step": step,
            "error": f"{type(error).__name__}: {error}"}


def _rebalance(graph: nx.Graph[Hashable], communities: list[Community], target: int,
               seed: int, previous: pd.Series, locked: frozenset[str], workers: int,
               work: float | None, strict: bool) -> Division:
    """Re-balance a previous plan community by community (partition.rebalance)."""
    prev_all = previous.dropna().to_dict()
    shares = share(work, [len(m) for _, m in communities])
    results = map_forked(_rebalance_community,
                         [(c, list(m), units) for (c, m), units
                          in zip(communities, shares, strict=True)],
                         workers, graph=graph, target=target, seed=seed,
                         previous=prev_all, locked=locked, strict=strict)
    division = Division(pd.Series(dtype=object), pd.Series(dtype=float))
    labels: Labels = {}
    bounds: dict[Hashable, float] = {}
    for result in results:
        if "error" in result:
            division.failures.append(result["error"])
            continue
        labels.update(result["labels"])
        bounds.update(result["bounds"])
        division.budget.extend(result["budget"])
        division.crossings.extend(result["crossings"])
    division.labels = pd.Series(labels, dtype=object)
    division.bounds = pd.Series(bounds, dtype=float)
    return division


def _rebalance_community(task: tuple[Hashable, list[Hashable], float | None], *,
                         graph: nx.Graph[Hashable], target: int, seed: int,
                         previous: Labels, locked: frozenset[str], strict: bool) -> Result:
    """Labels and deviation bounds (building -> value) of one community's buildings
    (``task``: the community, its buildings and its work budget), or the error."""
    community, members, units = task
    try:
        return _rebalanced(graph, community, members, WorkBudget(units), target, seed,
                           previous, locked, strict)
    except Exception as error:
        return {"error": _failure(community, "rebalance", error)}


def _rebalanced(graph: nx.Graph[Hashable], community: Hashable, members: list[Hashable],
                budget: WorkBudget, target: int, seed: int, previous: Labels,
                locked: frozenset[str], strict: bool) -> Result:
    locked_labels: Labels = {}
    bounds: dict[Hashable, float] = {}
    prev = {b: previous[b] for b in members if b in previous}
    new_label = _label_maker(community, prev.values())
    for b in members:
        if prev.get(b) in locked:
            locked_labels[b] = prev[b]
    free = [b for b in members if b not in locked_labels]
    found = community_groups(graph, community, free, target, strict)
    work = found.graph  # pockets contracted, as in a fresh plan (partition.groups)
    for v, inside in found.contracted.items():
        olds = pd.Series([prev[b] for b in inside if b in prev], dtype=object)
        if len(olds):
            prev[v] = olds.mode().iloc[0]
    hh = {v: work.nodes[v]["households"] for v in work}
    groups: list[tuple[list[Hashable], int]] = [([b], 1) for b in found.building_grids]
    empty: list[list[Hashable]] = []
    for comp, total in found.groups:
        if total == 0:
            empty.append(comp)
        else:
            groups.append((comp, max(1, round(total / target))))
    keep = [len({prev[b] for b in comp if b in prev}) or None for comp, _ in groups]
    groups, mean = grid_counts(groups, [float(sum(hh[b] for b in comp)) for comp, _ in groups],
                                target, keep,
                                [i < len(found.building_grids) for i in range(len(groups))])
    labels: Labels = {}
    waiting = sum(len(comp) for comp, _ in groups)
    for comp, k in groups:
        # The chain repairs' models draw on the plan's budget too (a share of what is left
        # by the group's buildings), not on a budget of their own per group.
        chains = budget.part(CHAIN_SHARE * len(comp) / waiting)
        waiting -= len(comp)
        labels.update(rebalance_group(work, comp, k, prev, new_label, seed=seed, mean=mean,
                                      budget=chains))
        budget.charge(chains.spent)
    _one_group_per_label(groups, labels, prev, new_label)
    _make_labels_unique(work, list(labels), labels, prev, new_label)
    # Buildings of split groups may change grid; building grids stay as they are.
    movable = {b for comp, k in groups if k > 1 for b in comp}
    labels.update(repair_extremes(work, labels, movable=movable, mean=mean, budget=budget))
    beyond: dict[Hashable, int] = {}
    exact = split_exactly(work, groups, labels, mean, new_label, budget, beyond,
                          least=SMALL_SHARE * target)
    labels = untangle_moved(work, labels, prev, movable, mean)
    for comp in empty:
        old = pd.Series([prev.get(b) for b in comp]).dropna()
        if len(old):  # land cut off by barriers keeps the grid it had
            labels.update(dict.fromkeys(comp, old.mode().iloc[0]))
    empty = [comp for comp in empty if comp[0] not in labels]
    building_grids = frozenset(labels[b] for b in found.building_grids if b in labels)
    _attach_empty(work, empty, labels, new_label, building_grids)
    for comp, k in groups:
        _bound_group(work, comp, labels, bounds, mean, [exact.get(comp[0], 0.0)],
                     (beyond.get(comp[0], 0), k, mean), target)
    ran_out = [{"community": community, "buildings": len(members), "grids": len(groups),
                "units_spent": round(budget.spent, 2), "bound_pct": None,
                "labels": sorted({str(labels[b]) for comp, _ in groups for b in comp})}] \
        if budget.ran_out else []
    labels = found.expand(labels)
    return {"labels": {**labels, **locked_labels}, "bounds": found.expand(bounds),
            "budget": ran_out, "crossings": _crossings(found, labels)}


def split_exactly(graph: nx.Graph[Hashable], groups: list[tuple[list[Hashable], int]],
                  labels: Labels, mean: float, new_label: NewLabel,
                  budget: WorkBudget,
                  beyond: dict[Hashable, int] | None = None,
                  least: float = 0.0) -> dict[Hashable, float]:
    """Groups whose worst grid is still beyond BALANCE_LIMIT are split again, exactly
    (partition.set_partition): as a whole, else the worst grid with the grids around it
    (one ring, two, three), while that builds a better split (the whole group with
    WHOLE_SHARE of the work left, the rings with the rest); ``labels`` is updated, each
    new grid taking the label of the present grid it shares most households with. A group
    whose building sizes already force a grid beyond the limit is not split for the limit
    but for BOUND_MARGIN beyond its bound (metrics.deviation_lower_bound). Where the
    group's worst grid is proven beyond the limit, its worst may rise up to
    set_partition.OVER_LEVEL above the least level for fewer grids beyond the limit (the
    windows around the worst grid do not: their bound proves nothing about the group).
    Returns, per first node of such a group, the deviation bound (percent) the exact model
    proved for every split of the whole group; ``beyond`` gets, per first node, how many
    grids every split of the whole group has beyond the limit, where the worst is proven
    beyond it and that was proven for more than one (set_partition.beyond_bound)."""
    out: dict[Hashable, float] = {}
    for comp, k in groups:
        if k < 2:
            continue
        forced = deviation_lower_bound([graph.nodes[b]["households"] for b in comp], mean)
        limit = max(BALANCE_LIMIT, forced / 100 + BOUND_MARGIN)
        whole = budget.part(WHOLE_SHARE)
        result = best_split(graph, comp, k, mean, limit, {b: labels[b] for b in comp}, whole,
                            over=OVER_LEVEL, least=least)
        budget.charge(whole.spent)
        # Out of its share: a later pass may give the group more (_second_pass).
        budget.ran_out |= whole.ran_out
        if result.bound is not None:
            out[comp[0]] = 100.0 * result.bound / mean
        if beyond is not None and result.beyond > 1:
            beyond[comp[0]] = result.beyond
        if result.labels is not None:
            _relabel(graph, result.labels, labels, new_label)
        elif not result.optimal and budget.allows():
            split_around_worst(graph, comp, labels, mean, new_label, budget, limit)
    return out


def split_around_worst(graph: nx.Graph[Hashable], comp: list[Hashable], labels: Labels,
                       mean: float, new_label: NewLabel, budget: WorkBudget,
                       limit: float = BALANCE_LIMIT) -> None:
    """Re-split the worst grid of ``comp`` with its neighbours while that lowers the worst
    deviation among them below what it was (each round needs fewer candidate grids than the
    whole group) and the budget lasts."""
    for _ in range(len(comp)):
        loads: dict[Hashable, int] = defaultdict(int)
        for b in comp:
            loads[labels[b]] += graph.nodes[b]["households"]
        worst = max(loads, key=lambda g: (abs(loads[g] - mean), str(g)))
        if abs(loads[worst] - mean) <= limit * mean or not budget.allows():
            return
        grids = {worst}
        for _rings in range(3):
            grids |= {labels[nb] for b in comp if labels[b] in grids for nb in graph[b]
                      if nb in labels and labels[nb] in loads}
            nodes = [b for b in comp if labels[b] in grids]
            result = best_split(graph, nodes, len(grids), mean, limit,
                                {b: labels[b] for b in nodes}, budget)
            if result.labels is not None:
                _relabel(graph, result.labels, labels, new_label)
                break
        else:
            return


def grid_counts(
    groups: list[tuple[list[Hashable], int]], totals: list[float], target: int,
    keep: list[int | None] | None = None, building: list[bool] | None = None,
) -> tuple[list[tuple[list[Hashable], int]], float]:
    """Choose each group's number of grids; returns the groups and the community's resulting
    mean grid size (deviations are measured from it). ``totals``: each group's households.

    Groups separated by barriers cannot share grids: a group of 1,049 households makes 4 grids
    of 262 or 3 of 350. Since every group's grids are measured against one community mean, the
    counts are chosen together: each group takes the count whose average comes nearest the
    target unless, for a mean within ``MEAN_RANGE`` of the target (``WIDE_RANGE`` when those
    counts leave some group's grids beyond BALANCE_LIMIT), counts nearest that mean fit it
    clearly better (``_count_score`` lower by ``1 - CLEAR_GAIN`` or more). ``keep``
    (re-balancing) gives a group's previous count, kept while its average stays within
    ``WIDE_RANGE`` of the target. ``building``: the groups that are building grids, left
    out of the mean as the plan measures it (:func:`sized_mean`).
    """
    flexible = [len(comp) > 1 for comp, _ in groups]
    big = building or [False] * len(groups)
    if keep is not None:
        counts = [_kept_count(kept, total, len(comp), target) if flex else k
                  for (comp, k), total, flex, kept in zip(groups, totals, flexible, keep,
                                                            strict=True)]
        return list(zip([c for c, _ in groups], counts, strict=True)), \
            sized_mean(totals, counts, big, target)
    nearest = [_nearest_count(total, len(comp), target) if flex else k
               for (comp, k), total, flex in zip(groups, totals, flexible, strict=True)]
    mean = sized_mean(totals, nearest, big, target)
    # Groups whose one grid is below SMALL_SHARE of the target are sized by what cuts them
    # off: no count brings them nearer the mean, so they do not score.
    scored = [flex and not (k == 1 and total < SMALL_SHARE * target)
              for flex, k, total in zip(flexible, nearest, totals, strict=True)]
    baseline = _count_score(totals, nearest, scored, mean)
    best = (baseline, nearest)
    beyond = _grids_beyond(totals, nearest, scored, mean)
    reach = WIDE_RANGE if beyond else MEAN_RANGE
    for aim in np.linspace(1 - reach, 1 + reach, 25 if reach == MEAN_RANGE else 81) * target:
        for _ in range(3):  # the mean follows the counts: let the counts follow it back
            counts = [_nearest_count(total, len(comp), aim) if flex else k
                      for (comp, k), total, flex in zip(groups, totals, flexible, strict=True)]
            aim = sized_mean(totals, counts, big, target)
        if abs(aim / target - 1) <= reach:
            score = _count_score(totals, counts, scored, aim)
            # Away from the target only where it pays clearly: and, that far away, only for
            # fewer grids beyond the limit (Nanjing: a mean of 274 instead of 297 traded a
            # pocket at -15.8% for one at +19% and drew 4 grids more).
            if score < best[0] and score <= CLEAR_GAIN * baseline and (
                    not beyond or _grids_beyond(totals, counts, scored, aim) < beyond):
                best = (score, counts)
    counts = best[1]
    return list(zip([c for c, _ in groups], counts, strict=True)), \
        sized_mean(totals, counts, big, target)


def sized_mean(totals: list[float], counts: list[int], building: list[bool],
               target: int) -> float:
    """The community's mean grid size as the plan measures deviations from it
    (partition.metrics.deviations): over the groups' grids that are not building grids
    nor below SMALL_SHARE of ``target`` (sized by what cuts them off), over all of them
    where there are no others."""
    sized = _sized(totals, counts, building, target)
    if sized:
        return sum(t for t, _ in sized) / sum(k for _, k in sized)
    return sum(totals) / max(sum(counts), 1)


def _sized(totals: list[float], counts: list[int], building: list[bool],
           target: int) -> list[tuple[float, int]]:
    """(households, grids) of the groups whose grids the mean is taken over: not building
    grids, nor grids below SMALL_SHARE of ``target``."""
    return [(total, k) for total, k, big in zip(totals, counts, building, strict=True)
            if not big and total / k >= SMALL_SHARE * target]


def _relabel(graph: nx.Graph[Hashable], split: dict[Hashable, int], labels: Labels,
             new_label: NewLabel) -> None:
    names = _matching_labels(graph, split, {b: labels[b] for b in split}, new_label)
    labels.update({b: names[i] for b, i in split.items()})


def _matching_labels(graph: nx.Graph[Hashable], split: dict[Hashable, int], present: Labels,
                     new_label: NewLabel) -> dict[int, Hashable]:
    """Grid index of ``split`` -> the present label it shares most households (then
    buildings) with, each label used once; fresh labels when the present ones run out."""
    shared: dict[tuple[int, Hashable], int] = defaultdict(int)
    for b, i in split.items():
        shared[i, present[b]] += 1 + 1000 * graph.nodes[b]["households"]
    names: dict[int, Hashable] = {}
    for (i, label), _ in sorted(shared.items(), key=lambda item: (-item[1], str(item[0]))):
        if i not in names and label not in names.values():
            names[i] = label
    for i in sorted(set(split.values()) - names.keys()):
        names[i] = new_label()
    return names


def _grids_beyond(totals: list[float], counts: list[int], scored: list[bool],
                  mean: float) -> int:
    """The grids of the ``scored`` groups whose average is beyond BALANCE_LIMIT of ``mean``."""
    return sum(count for total, count, score_it in zip(totals, counts, scored, strict=True)
               if score_it and abs(total / count - mean) > BALANCE_LIMIT * mean)


def _count_score(totals: list[float], counts: list[int], scored: list[bool],
                 mean: float) -> float:
    """How far groups' averages are from ``mean``, smaller first: the mean over grids of their
    group's deviation (capped at twice BALANCE_LIMIT, so that small groups that cannot come
    near any mean do not decide), plus BALANCE_LIMIT more for a grid beyond it."""
    score, grids = 0.0, 0
    for total, count, score_it in zip(totals, counts, scored, strict=True):
        if score_it:
            deviation = abs(total / count - mean) / mean
            score += count * (min(deviation, 2 * BALANCE_LIMIT)
                              + (BALANCE_LIMIT if deviation > BALANCE_LIMIT else 0.0))
            grids += count
    return round(score / max(grids, 1), 4)


def _nearest_count(total: float, buildings: int, aim: float) -> int:
    """The number of grids (at most one per building) whose average comes nearest ``aim``."""
    low = max(1, math.floor(total / aim))
    options = [c for c in (low, low + 1) if c <= buildings] or [buildings]
    return min(options, key=lambda c: (abs(total / c - aim), c))


def _kept_count(kept: int | None, total: float, buildings: int, target: int) -> int:
    """The previous count, while its average stays within WIDE_RANGE of the target (where a
    fresh plan could have chosen it); else the count nearest the target."""
    if kept and kept <= buildings and abs(total / kept / target - 1) <= WIDE_RANGE:
        return kept
    return _nearest_count(total, buildings, target)


def _label_maker(community: Hashable, codes: Iterable[Hashable]) -> Callable[[], str]:
    """Fresh grid codes for a community: its code + the next free 3-digit sequence."""
    prefix = str(community)
    used = [int(str(c)[len(prefix):]) for c in codes
            if str(c).startswith(prefix) and str(c)[len(prefix):].isdigit()]
    counter = iter(range(max(used, default=0) + 1, 10**6))

    def new_label() -> str:
        return f"{prefix}{next(counter):03d}"

    return new_label


def _one_group_per_label(groups: list[tuple[list[Hashable], int]], labels: Labels,
                         prev: Labels, new_label: NewLabel) -> None:
    """A previous grid's label kept by several groups (each keeps its buildings' old codes)
    stays with the group holding most of that grid's buildings (the first such group on a
    tie); the other groups' grids of that label get fresh labels. Two groups touching each
    other (building grids beside the group they stood in) would otherwise be drawn as one
    grid."""
    kept: dict[Hashable, dict[int, int]] = defaultdict(dict)  # label -> group -> its old
    for i, (comp, _) in enumerate(groups):
        for b in comp:
            label = labels[b]
            kept[label][i] = kept[label].get(i, 0) + (prev.get(b) == label)
    for label, holders in kept.items():
        keeper = max(holders, key=lambda i: (holders[i], -i))
        for i in holders:
            if i != keeper:
                fresh = new_label()
                for b in groups[i][0]:
                    if labels[b] == label:
                        labels[b] = fresh


def _make_labels_unique(graph: nx.Graph[Hashable], nodes: list[Hashable], labels: Labels,
                        prev: Labels, new_label: NewLabel) -> None:
    """A label held by disconnected pieces stays with the piece holding most of its previous
    buildings; the other pieces get fresh labels."""
    by_label: dict[Hashable, list[Hashable]] = {}
    for b in nodes:
        by_label.setdefault(labels[b], []).append(b)
    for label, members in by_label.items():
        pieces = list(nx.connected_components(graph.subgraph(members)))
        if len(pieces) < 2:
            continue
        pieces.sort(key=lambda p: (sum(prev.get(b) == label for b in p), len(p)), reverse=True)
        for piece in pieces[1:]:
            fresh = new_label()
            for b in piece:
                labels[b] = fresh


def _attach_empty(graph: nx.Graph[Hashable], empty: list[list[Hashable]], labels: Labels,
                  new_label: NewLabel, building_grids: frozenset[Hashable] = frozenset()) -> None:
    """Give household-less groups the label of the neighbour grid with the longest border,
    a building grid (楼栋网格) only when no other grid borders them."""
    pending = list(empty)
    while pending:
        still = []
        for comp in pending:
            shared: dict[Hashable, float] = {}
            for b in comp:
                for nb, data in graph[b].items():
                    if nb in labels:
                        shared[labels[nb]] = shared.get(labels[nb], 0) + data["length"]
            if shared:
                label = max(shared, key=lambda g: (g not in building_grids, shared[g]))
                for b in comp:
                    labels[b] = label
            else:
                still.append(comp)
        if len(still) == len(pending):
            # Cut off from every grid by barriers: a grid of its own, without households.
            for comp in still:
                label = new_label()
                for b in comp:
                    labels[b] = label
            return
        pending = still
