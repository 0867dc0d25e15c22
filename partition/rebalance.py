"""Re-balancing an existing plan ("redrawing", done every year) with as few moves as possible.

Starting from the previous plan's grid of each building (matched by ``building_id``):

1. buildings of locked grids keep their grid, and no other building joins a locked grid;
2. a previous grid keeps its largest connected piece; connected new buildings holding about a
   whole number of grids are split into grids of their own; other new buildings and cut-off
   pieces join the neighbouring grid they touch most (a group with no old grid nearby is split
   afresh);
3. grids are split (the heaviest, by bisection) or merged (the lightest into its lightest
   neighbour) until the group has the count partition.divide.grid_counts chose (its previous count
   while that stays within BALANCE_LIMIT of the target);
4. local search brings grids that deviate more than ``TOLERANCE`` back towards the mean,
   where moving a building off its previous grid costs ``MOVE_WEIGHT`` x its share of a mean
   grid, so only worthwhile moves are made and a balanced plan is left as it is; grids still
   beyond BALANCE_LIMIT are then trimmed by single moves (regionalize.balance_extremes);
5. grids still beyond BALANCE_LIMIT are repaired by ejection chains (:func:`chain_repairs`):
   a boundary building moves into (or out of) the grid from a neighbour, which takes one from
   (or passes one to) the next grid, and so on along a path of grids until a grid with room
   ends the chain; the cheapest chain in households moved that keeps every grid on it within
   the limit and in one piece is made (the path moves of redistricting local search). A grid
   that single moves cannot repair without pushing a neighbour past the limit is repaired so.

A grid keeps its code when it keeps its label (most of its buildings); new grids get the next
free sequence number of their community.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
import shapely
from ortools.sat.python import cp_model
from shapely.geometry.base import BaseGeometry

from partition.adjacency import connected_parts, nodes_within
from partition.budget import WorkBudget, new_model
from partition.exact_balance import grid_flows
from partition.metrics import BALANCE_LIMIT
from partition.regionalize import balance_extremes, bisect, refine, split
from partition.untangle import untangle

MOVE_WEIGHT = 0.1
# How much further off the mean the untangling of moved grids may leave the worst of them
# where it is beyond BALANCE_LIMIT already (as partition.divide.BOUND_MARGIN).
UNTANGLE_MARGIN = 0.02
# Grids whose hulls overlap by this share of the smaller more than before are untangled.
CROSS_SHARE = 0.01
# More grids crossed than this: a re-grid (a compound added), which untangling would redraw
# with many more moves (the Nanjing compound of rebalance_bench: 25 grids, 1.7 s, refused).
MAX_CROSSED = 8
# Deviations within this share of the mean grid size are left alone when re-balancing.
TOLERANCE = 0.10
# Ejection chains: grids a chain passes through beyond the one it repairs, states a search
# expands, first-move levels (the repaired grid's excess after the first move) tried.
MAX_CHAIN = 8
MAX_STATES = 20_000
MAX_LEVELS = 6
# A building moved costs this many households on top of its own (few buildings too, and a
# shop or school with no households does not move for nothing).
BUILDING_COST = 1
# Where no chain helps, a CP-SAT model of the grid and its neighbours (one ring, then two,
# three) is solved for the fewest households moved that brings them all within the limit:
# building counts and work (deterministic seconds, partition.budget) per solve it may take.
MODEL_RINGS = (1, 2, 3)
MODEL_MAX_BUILDINGS = 150
MODEL_MAX_GRIDS = 16
MODEL_WORK = 1.0
MODEL_BUDGET = 8.0  # work all models of one group may take (a re-balance stays in seconds)
MODEL_REACH = 2  # a building may join the grid of a building this many edges away
# Where a model with each grid's anchor fixed finds no repair, one with free roots is tried
# on neighbourhoods of at most this many buildings, with this share of the work (it is many
# times slower, and mostly proves that nothing helps).
MODEL_FREE_ROOTS = 30
FREE_ROOTS_WORK = 0.25


def previous_grids(buildings: pd.DataFrame, previous_buildings: pd.DataFrame) -> pd.Series:
    """The previous grid code of each building (index of ``buildings``), NaN for new ones."""
    prev = previous_buildings.dropna(subset=["grid_id"]).drop_duplicates("building_id")
    lookup = prev.set_index("building_id")["grid_id"].astype(str)
    return buildings["building_id"].astype(str).map(lookup)


def _largest_connected(graph: nx.Graph[Hashable], nodes: list[Hashable],
                       w: dict[Hashable, int]) -> list[Hashable]:
    parts = connected_parts(graph, nodes)
    if not parts:
        return []
    return max(parts, key=lambda p: (sum(w[n] for n in p), len(p)))


def _absorb(graph: nx.Graph[Hashable], labels: dict[Hashable, Hashable],
            pending: set[Hashable]) -> set[Hashable]:
    """Give pending nodes the label of the labelled neighbour they share most boundary with,
    repeatedly; returns the nodes no labelled grid reaches."""
    while pending:
        took: dict[Hashable, Hashable] = {}
        for v in sorted(pending, key=str):
            shared: dict[Hashable, float] = defaultdict(float)
            for nb, data in graph[v].items():
                if nb in labels:
                    shared[labels[nb]] += data["length"]
            if shared:
                took[v] = max(shared, key=shared.__getitem__)
        if not took:
            return pending
        labels.update(took)
        pending = pending - set(took)
    return set()


def rebalance_group(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int,
                    previous: dict[Hashable, Hashable], new_label: Callable[[], Hashable],
                    seed: int = 0, mean: float | None = None,
                    budget: WorkBudget | None = None) -> dict[Hashable, Hashable]:
    """Labels for one connected group of non-locked buildings (``budget``: the work the
    chain repairs' models may spend, :func:`chain_repairs`).

    Args:
        nodes: the group's buildings (connected in ``graph``).
        k: how many grids the group should have.
        previous: node -> previous grid code (nodes absent from it are new).
        new_label: a function returning a fresh grid label for this community.
        mean: the community's mean grid size (households), which balance aims at.
    """
    w: dict[Hashable, int] = {n: graph.nodes[n]["households"] for n in nodes}
    labels: dict[Hashable, Hashable] = {}
    by_grid: dict[Hashable, list[Hashable]] = defaultdict(list)
    for n in nodes:
        if n in previous:
            by_grid[previous[n]].append(n)
    for grid, members in by_grid.items():
        for n in _largest_connected(graph, members, w):
            labels[n] = grid
    grid_size = sum(w.values()) / max(k, 1)
    _split_new_compounds(graph, [n for n in nodes if n not in previous], w, grid_size,
                         labels, new_label)
    orphans = _absorb(graph, labels, set(nodes) - set(labels))
    if orphans:  # new land no old grid touches: split it on its own
        for comp in connected_parts(graph, orphans):
            hh = sum(w[n] for n in comp)
            parts = bisect(graph, comp, max(1, round(hh / max(grid_size, 1))))
            fresh = {p: new_label() for p in set(parts.values())}
            labels.update({n: fresh[p] for n, p in parts.items()})
    _match_count(graph, labels, k, w, new_label, previous)
    rng = np.random.default_rng(seed)
    labels = refine(graph, labels, k, rng, previous=previous, move_weight=MOVE_WEIGHT,
                    tolerance=TOLERANCE)
    labels = balance_extremes(graph, labels, mean=mean, stop_below=BALANCE_LIMIT)
    return chain_repairs(graph, labels, mean=mean or sum(w.values()) / max(k, 1),
                         previous=previous, budget=budget)


def untangle_moved(graph: nx.Graph[Hashable], labels: dict[Hashable, Hashable],
                   previous: dict[Hashable, Hashable], movable: set[Hashable],
                   mean: float) -> dict[Hashable, Hashable]:
    """``labels`` with the hull overlap the moves made lowered (partition.untangle): the
    nodes of ``movable`` in grids a building left or joined may change again, the others
    stay. Moves chosen for households alone can trade homes across a grid (a window of the
    Nanjing extract with 40% more households in a third of its buildings: two grids beyond
    the limit swapped homes at opposite ends, 325 and 311 households -> 318 and 318, and
    their hulls crossed: hull overlap 0 -> 26%). Where the worst of those grids is beyond
    BALANCE_LIMIT, it may end UNTANGLE_MARGIN further off. Kept only if no more of them end
    beyond the limit and it moves at most a mean grid's households more off their previous
    grids: a re-balance is first of all few moves (untangled whole, some windows moved
    three times the households for it). Only where the moves crossed grids
    (:func:`_crossed`), at most MAX_CROSSED of them."""
    moved = [n for n in movable if n in previous and previous[n] != labels[n]]
    touched = _crossed(graph, labels, previous, {labels[n] for n in moved}
                       | {previous[n] for n in moved})
    if not 2 <= len(touched) <= MAX_CROSSED or mean <= 0:
        return labels

    def deviations(part: dict[Hashable, Hashable]) -> list[float]:
        load: dict[Hashable, int] = defaultdict(int)
        for n, g in part.items():
            if g in touched:
                load[g] += graph.nodes[n]["households"]
        return [abs(x - mean) / mean for x in load.values()]

    before = deviations(labels)
    worst = max(before)
    allowed = worst + UNTANGLE_MARGIN if worst > BALANCE_LIMIT else worst
    out = untangle(graph, labels, mean=mean, limit=max(allowed, BALANCE_LIMIT),
                   movable={n for n in movable if labels[n] in touched},
                   residential={n for n in labels if graph.nodes[n]["households"] > 0})
    after = deviations(out)
    beyond = sum(d > BALANCE_LIMIT + 1e-9 for d in after)
    # Nor a grid further off than the worst was, or than TOLERANCE (the plan's summary
    # measures from another mean: one taken from 4.8% to 13.9% under was a grid beyond 15%).
    if beyond > sum(d > BALANCE_LIMIT + 1e-9 for d in before) \
            or max(after) > max(allowed, TOLERANCE) + 1e-9:
        return labels

    def households_moved(part: dict[Hashable, Hashable]) -> int:
        return sum(graph.nodes[n]["households"] for n in movable
                   if n in previous and previous[n] != part[n])

    return out if households_moved(out) <= households_moved(labels) + mean else labels


def _crossed(graph: nx.Graph[Hashable], labels: dict[Hashable, Hashable],
             previous: dict[Hashable, Hashable], grids: set[Hashable]) -> set[Hashable]:
    """Those of ``grids`` whose hull of homes overlaps another's by more than the two
    previous grids of those labels did (CROSS_SHARE of the smaller hull): where the moves
    crossed grids."""
    def hulls(part: dict[Hashable, Hashable]) -> dict[Hashable, BaseGeometry]:
        feet: dict[Hashable, list[BaseGeometry]] = defaultdict(list)
        for n, g in part.items():
            foot = graph.nodes[n].get("footprint")
            if g in grids and graph.nodes[n]["households"] > 0 and foot is not None:
                feet[g].append(foot)
        return {g: shapely.convex_hull(shapely.union_all(f)) for g, f in feet.items()}

    now = hulls(labels)
    then = hulls({n: previous[n] for n in labels if n in previous})
    crossed: set[Hashable] = set()
    for a, b in itertools.combinations(sorted(now, key=str), 2):
        grown = now[a].intersection(now[b]).area - (
            then[a].intersection(then[b]).area if a in then and b in then else 0.0)
        if grown > CROSS_SHARE * min(now[a].area, now[b].area):
            crossed |= {a, b}
    return crossed


def _split_new_compounds(graph: nx.Graph[Hashable], new: list[Hashable],
                         w: dict[Hashable, int], grid_size: float,
                         labels: dict[Hashable, Hashable],
                         new_label: Callable[[], Hashable]) -> None:
    """New buildings that together hold about a whole number of grids (a new compound, within
    BALANCE_LIMIT) make grids of their own, so that old grids need not take them in and be
    split again (which would move old buildings)."""
    for comp in connected_parts(graph, new):
        hh = sum(w[n] for n in comp)
        count = max(1, round(hh / grid_size)) if grid_size > 0 else 0
        if not count or abs(hh / count - grid_size) > BALANCE_LIMIT * grid_size:
            continue  # not a whole number of grids: old grids take it in
        parts = untangle(graph, split(graph, comp, count, mean=grid_size), movable=set(comp),
                         mean=grid_size, residential={n for n in comp if w[n] > 0})
        fresh = {p: new_label() for p in set(parts.values())}
        labels.update({n: fresh[p] for n, p in parts.items()})


def _match_count(graph: nx.Graph[Hashable], labels: dict[Hashable, Hashable], k: int,
                 w: dict[Hashable, int], new_label: Callable[[], Hashable],
                 previous: dict[Hashable, Hashable]) -> None:
    """Split the heaviest or merge the lightest grids until there are ``k``."""
    while True:
        load: dict[Hashable, float] = defaultdict(float)
        members: dict[Hashable, list[Hashable]] = defaultdict(list)
        for n, g in labels.items():
            load[g] += w[n]
            members[g].append(n)
        if len(load) < k:
            splittable = [g for g in load if len(members[g]) >= 2]
            if not splittable:
                return
            heavy = max(splittable, key=load.__getitem__)
            parts = bisect(graph, members[heavy], 2)
            # The part holding fewer of the grid's previous buildings takes the new code.
            kept = [sum(previous.get(n) == heavy for n, p in parts.items() if p == i)
                    for i in (0, 1)]
            move = 0 if kept[0] < kept[1] else 1
            fresh = new_label()
            for n, p in parts.items():
                if p == move:
                    labels[n] = fresh
        elif len(load) > k:
            light = min(load, key=load.__getitem__)
            neighbours = {labels[nb] for n in members[light] for nb in graph[n]
                          if nb in labels and labels[nb] != light}
            if not neighbours:
                return
            into = min(sorted(neighbours, key=str), key=load.__getitem__)
            for n in members[light]:
                labels[n] = into
        else:
            return


# ---- ejection chains ---------------------------------------------------------------------------

# One step of a chain: (building, from grid, to grid).
Step = tuple[Hashable, Hashable, Hashable]


@dataclass(frozen=True)
class _Link:
    """A state of the chain search: ``building`` enters ``grid`` (a chain pushing households
    out of a heavy grid) or leaves it (pulling them into a light one); ``back`` is the state
    before, None at the first move."""

    grid: Hashable
    building: Hashable
    source: Hashable
    cost: float
    back: _Link | None

    def grids(self) -> set[Hashable]:
        out: set[Hashable] = set()
        link: _Link | None = self
        while link is not None:
            out |= {link.grid, link.source}
            link = link.back
        return out


class _Chains:
    """The grids of one group as the chain search sees them: members, loads, bounds."""

    def __init__(self, graph: nx.Graph[Hashable], part: dict[Hashable, Hashable],
                 mean: float, previous: dict[Hashable, Hashable], limit: float) -> None:
        self.graph, self.part, self.previous = graph, part, previous
        self.members: dict[Hashable, set[Hashable]] = defaultdict(set)
        for n, g in part.items():
            self.members[g].add(n)
        self.w = {n: int(graph.nodes[n]["households"]) for n in part}
        self.load = {g: sum(self.w[n] for n in ms) for g, ms in self.members.items()}
        self.lo, self.hi = mean * (1 - limit), mean * (1 + limit)

    def excess(self, total: float) -> float:
        """Households beyond the limit on either side."""
        return max(0.0, total - self.hi, self.lo - total)

    def fits(self, grid: Hashable, change: int) -> bool:
        """Whether ``grid`` changed by ``change`` households is within the limit, or no
        further beyond it than now."""
        after = self.excess(self.load[grid] + change)
        return after <= 1e-9 or after <= self.excess(self.load[grid]) - 1e-9

    def cost(self, v: Hashable, dst: Hashable) -> float:
        """Households a move adds to those moved off their previous grid (none for a new
        building, one moved already or one going back), plus BUILDING_COST."""
        src = self.part[v]
        fresh = v in self.previous and self.previous[v] == src and dst != src
        return BUILDING_COST + (self.w[v] if fresh else 0)

    def connected(self, nodes: set[Hashable]) -> bool:
        if not nodes:
            return False
        start = min(nodes, key=str)
        seen = {start}
        stack = [start]
        while stack:
            u = stack.pop()
            for nb in self.graph[u]:
                if nb in nodes and nb not in seen:
                    seen.add(nb)
                    stack.append(nb)
        return len(seen) == len(nodes)

    def outward(self, grid: Hashable, keep: set[Hashable]) -> list[tuple[Hashable, Hashable]]:
        """(building of ``keep``, neighbouring grid) pairs across ``keep``'s boundary, in
        name order."""
        out = {(v, self.part[nb]) for v in keep for nb in self.graph[v]
               if nb in self.part and self.part[nb] != grid}
        return sorted(out, key=lambda e: (str(e[0]), str(e[1])))

    def inward(self, grid: Hashable, keep: set[Hashable]) -> list[tuple[Hashable, Hashable]]:
        """(building of a neighbouring grid next to ``keep``, its grid) pairs, in name order."""
        out = {(nb, self.part[nb]) for v in keep for nb in self.graph[v]
               if nb in self.part and self.part[nb] != grid}
        return sorted(out, key=lambda e: (str(e[0]), str(e[1])))

    def apply(self, steps: list[Step]) -> None:
        for v, src, dst in steps:
            self.members[src].discard(v)
            self.members[dst].add(v)
            self.load[src] -= self.w[v]
            self.load[dst] += self.w[v]
            self.part[v] = dst


def chain_repairs(graph: nx.Graph[Hashable], labels: dict[Hashable, Hashable], *,
                  mean: float, previous: dict[Hashable, Hashable],
                  limit: float = BALANCE_LIMIT, max_chains: int = 200,
                  budget: WorkBudget | None = None) -> dict[Hashable, Hashable]:
    """Repair the grids of ``labels`` (one group: node -> grid) beyond ``limit`` of ``mean``
    by ejection chains; a copy.

    Worst grid first, the chain with the least excess left on that grid, then the fewest
    households moved off their ``previous`` grid (BUILDING_COST more a building) is made.
    Every grid a chain touches stays within the limit (or no further beyond it than it was)
    and connected; only nodes of ``labels`` move, only between its grids. Where no chain
    helps (every neighbour's slack smaller than the buildings it could pass on), the grid and
    its neighbours are re-assigned by a CP-SAT model for the least excess, then the fewest
    households moved (:func:`_model_repair`), drawing on ``budget`` (MODEL_BUDGET units when
    None). A grid neither improves is left as it is, until a neighbouring grid changes.
    Ties go to names and the models' work is counted, not timed, so the result is the same
    in any process.
    """
    if mean <= 0:
        return dict(labels)
    chains = _Chains(graph, dict(labels), mean, previous, limit)
    budget = budget or WorkBudget(MODEL_BUDGET)
    tried: set[Hashable] = set()
    for _ in range(max_chains):
        bad = [g for g, total in chains.load.items()
               if g not in tried and total > 0 and chains.excess(total) > 0]
        if not bad:
            break
        grid = max(bad, key=lambda g: (chains.excess(chains.load[g]), str(g)))
        steps = _best_chain(chains, grid)
        if steps is None and budget.allows():
            steps = _model_repair(chains, grid, budget)
        if steps is None:
            tried.add(grid)
            continue
        chains.apply(steps)
        # Each repair lowers the total excess: this ends. A grid that failed is tried again
        # only when it or a neighbour changed.
        changed = {g for _, src, dst in steps for g in (src, dst)}
        tried -= changed | {chains.part[nb] for g in changed for v in chains.members[g]
                            for nb in chains.graph[v] if nb in chains.part}
    return chains.part


def _best_chain(chains: _Chains, grid: Hashable) -> list[Step] | None:
    """The steps of the best chain repairing ``grid`` (see :func:`chain_repairs`), or None."""
    heavy = chains.load[grid] > chains.hi
    before = chains.excess(chains.load[grid])
    mine = chains.members[grid]
    firsts: dict[float, list[_Link]] = defaultdict(list)
    if heavy:  # a building of the grid goes to a neighbour
        for v, q in chains.outward(grid, mine):
            after = chains.excess(chains.load[grid] - chains.w[v])
            if after < before - 1e-9 and chains.connected(mine - {v}):
                firsts[round(after, 6)].append(_Link(q, v, grid, chains.cost(v, q), None))
    else:  # a neighbour's building comes in
        for v, q in chains.inward(grid, mine):
            after = chains.excess(chains.load[grid] + chains.w[v])
            if after < before - 1e-9 and chains.connected(mine | {v}):
                firsts[round(after, 6)].append(_Link(q, v, grid, chains.cost(v, grid), None))
    for level in sorted(firsts)[:MAX_LEVELS]:
        end = _search(chains, firsts[level], heavy)
        if end is not None:
            return _steps(end, heavy)
    return None


def _search(chains: _Chains, starts: list[_Link], heavy: bool) -> _Link | None:
    """Cheapest chain from the first moves ``starts`` (Dijkstra over (grid, building)
    states): a link ends where its grid can take the building in (``heavy``) or let it go
    without anything in return; else the grid passes one on to (takes one from) a grid not
    yet on the chain."""
    sign = 1 if heavy else -1
    queue: list[tuple[float, int, int, _Link]] = []
    order = 0
    for link in starts:
        queue.append((link.cost, 1, order, link))
        order += 1
    heapq.heapify(queue)
    done: set[tuple[Hashable, Hashable]] = set()
    expanded = 0
    while queue and expanded < MAX_STATES:
        _, depth, _, link = heapq.heappop(queue)
        g, x = link.grid, link.building
        if (g, x) in done:
            continue
        done.add((g, x))
        expanded += 1
        mine = chains.members[g]
        alone = mine | {x} if heavy else mine - {x}
        if chains.fits(g, sign * chains.w[x]) and chains.connected(alone):
            return link
        if depth > MAX_CHAIN:
            continue
        on_chain = link.grids()
        pairs = (chains.outward(g, alone) if heavy else chains.inward(g, alone))
        for y, r in pairs:
            if r in on_chain or y == x:
                continue
            final = alone - {y} if heavy else alone | {y}
            change = sign * (chains.w[x] - chains.w[y])
            if not chains.fits(g, change) or not chains.connected(final):
                continue
            cost = link.cost + (chains.cost(y, r) if heavy else chains.cost(y, g))
            nxt = _Link(r, y, g, cost, link)
            heapq.heappush(queue, (cost, depth + 1, order, nxt))
            order += 1
    return None


def _steps(end: _Link, heavy: bool) -> list[Step]:
    """The moves of the chain ending at ``end``, as (building, from, to)."""
    out: list[Step] = []
    link: _Link | None = end
    while link is not None:
        if heavy:  # the building went from the grid before to this link's grid
            out.append((link.building, link.source, link.grid))
        else:  # the building came from this link's grid into the grid before
            out.append((link.building, link.grid, link.source))
        link = link.back
    return out[::-1]


# ---- the neighbourhood model -------------------------------------------------------------------

def _model_repair(chains: _Chains, grid: Hashable, budget: WorkBudget) -> list[Step] | None:
    """The moves re-assigning ``grid`` and the grids within one, two, three rings of it that
    lower their total excess beyond the limit (no grid further beyond it than before), with
    the fewest households moved off their previous grid, then the least cut; None when no
    model of a size allowed finds any.

    Each grid's anchor stays; where that leaves the neighbourhood beyond the limit, a model in
    which any building may stay is tried on small neighbourhoods. Of the rings' models, the
    one leaving the least excess over the largest neighbourhood wins, then the one moving
    fewest households: repairing ``grid`` with its near neighbours
    alone and a grid beyond the limit two rings off on its own later moved more than both at
    once. A ring whose model leaves that neighbourhood within the limit ends the search."""
    areas: list[list[Hashable]] = []
    for rings in MODEL_RINGS:
        grids = _rings(chains, grid, rings)
        if grids is None:
            break
        if len(grids) >= 2 and (not areas or len(grids) > len(areas[-1])):
            areas.append(grids)
    if not areas:
        return None
    whole = areas[-1]
    best: tuple[tuple[float, float], list[Step]] | None = None
    for grids in areas:
        size = sum(len(chains.members[g]) for g in grids)
        for anchored in (True, False):
            if not anchored and (_within(best) or size > MODEL_FREE_ROOTS):
                break
            steps = _NeighbourhoodModel(chains, grids, anchored).solve(budget)
            if not steps:
                continue
            key = (_excess_after(chains, whole, steps),
                   sum(chains.cost(v, d) for v, _, d in steps))
            if best is None or key < best[0]:
                best = (key, steps)
        if _within(best):
            break
    return None if best is None else best[1]


def _within(best: tuple[tuple[float, float], list[Step]] | None) -> bool:
    """Whether the best repair so far leaves its neighbourhood within the limit."""
    return best is not None and best[0][0] <= 1e-9


def _excess_after(chains: _Chains, grids: list[Hashable], steps: list[Step]) -> float:
    """The total excess of ``grids`` once ``steps`` are made."""
    load = {g: float(chains.load[g]) for g in grids}
    for v, src, dst in steps:
        load[src] -= chains.w[v]
        load[dst] += chains.w[v]
    return sum(chains.excess(x) for x in load.values())


def _rings(chains: _Chains, grid: Hashable, rings: int) -> list[Hashable] | None:
    """``grid`` and the grids within ``rings`` steps of it, in name order (``grid`` first),
    or None when too many for a model."""
    found = {grid}
    frontier = {grid}
    for _ in range(rings):
        frontier = {chains.part[nb] for g in frontier for v in chains.members[g]
                    for nb in chains.graph[v] if nb in chains.part} - found
        found |= frontier
    if (len(found) > MODEL_MAX_GRIDS
            or sum(len(chains.members[g]) for g in found) > MODEL_MAX_BUILDINGS):
        return None
    return sorted(found, key=lambda g: (g != grid, str(g)))


class _NeighbourhoodModel:
    """Every building of ``grids`` assigned to one of them (a grid within MODEL_REACH edges),
    each grid connected through its own buildings (a flow from a root: its anchor, which
    stays, when ``anchored``; any of its buildings else, a model many times slower), each
    grid's households within the limit or no further beyond it than now."""

    def __init__(self, chains: _Chains, grids: list[Hashable], anchored: bool = True) -> None:
        self.chains, self.grids = chains, grids
        self.work = MODEL_WORK if anchored else FREE_ROOTS_WORK * MODEL_WORK
        cp = self.cp = new_model()
        graph, w = chains.graph, chains.w
        self.nodes = sorted((v for g in grids for v in chains.members[g]), key=str)
        inside = set(self.nodes)
        index = {g: i for i, g in enumerate(grids)}
        home = {v: index[chains.part[v]] for v in self.nodes}
        near = nodes_within(graph, inside, MODEL_REACH)
        self.x = {v: {i: cp.new_bool_var("") for i in sorted({home[u] for u in near[v]})}
                  for v in self.nodes}
        for v in self.nodes:
            cp.add_exactly_one(self.x[v].values())
        self.edges = [(u, v, float(graph.edges[u, v].get("cost", 1.0))) for u in self.nodes
                      for v in sorted(graph[u], key=str) if v in inside and str(u) < str(v)]
        self._connect()
        if anchored:
            for i, g in enumerate(grids):
                self.cp.add(self.roots[i][self._anchor(g)] == 1)
        excesses = []
        for i, g in enumerate(grids):
            load = sum(w[v] * xv[i] for v, xv in self.x.items() if i in xv)
            now = chains.excess(chains.load[g])
            # Integer bounds: households within [lo, hi], widened to the present load.
            lo = min(chains.load[g], math.ceil(chains.lo - 1e-9))
            hi = max(chains.load[g], math.floor(chains.hi + 1e-9))
            cp.add_linear_constraint(load, lo, hi)
            exc = cp.new_int_var(0, math.ceil(now), "")
            cp.add(exc >= load - math.floor(chains.hi + 1e-9))
            cp.add(exc >= math.ceil(chains.lo - 1e-9) - load)
            excesses.append(exc)
        self.excess = sum(excesses)
        self.before = sum(max(0, chains.load[g] - math.floor(chains.hi + 1e-9),
                              math.ceil(chains.lo - 1e-9) - chains.load[g]) for g in grids)

    def _connect(self) -> None:
        """Each grid has one root among its buildings and reaches each of its other
        buildings by a flow from it through its own buildings: each takes in one unit more
        than it passes on."""
        cp, n = self.cp, len(self.nodes)
        self.roots: list[dict[Hashable, cp_model.IntVar]] = []
        for i in range(len(self.grids)):
            roots = {v: cp.new_bool_var("") for v in self.nodes if i in self.x[v]}
            self.roots.append(roots)
            cp.add_exactly_one(roots.values())
            inflow, outflow = grid_flows(cp, self.x, self.edges, i, n)
            for v, root in roots.items():
                cp.add(root <= self.x[v][i])
                cp.add(sum(inflow[v]) - sum(outflow[v]) >= self.x[v][i] - n * root)

    def _move_cost(self) -> cp_model.LinearExprT:
        """Households moved off their previous grid (BUILDING_COST more a building), as
        :meth:`_Chains.cost` counts them, first; the cut (metres, cheaper along streets)
        only between equal moves: each household weighs more than the whole cut."""
        chains, cp = self.chains, self.cp
        cuts: list[cp_model.LinearExprT] = []
        whole = 1
        for u, v, cost in self.edges:
            cut = cp.new_bool_var("")
            for i, var in self.x[u].items():
                cp.add(cut >= var - self.x[v].get(i, 0))
            cuts.append(round(cost) * cut)
            whole += round(cost)
        moves: list[cp_model.LinearExprT] = []
        for v, xv in self.x.items():
            here = self.grids.index(chains.part[v])
            for i, var in xv.items():
                if i != here:
                    moves.append(round(whole * chains.cost(v, self.grids[i])) * var)
        return sum([*moves, *cuts])

    def solve(self, budget: WorkBudget) -> list[Step] | None:
        """Phase 1: the least total excess; phase 2, with it fixed: the least move cost.
        The moves, or None when phase 1 lowers no excess."""
        if self.before <= 0:
            return None
        self.cp.minimize(self.excess)
        self._hint_present()
        status, solver = budget.solve(self.cp, self.work)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        least = int(solver.objective_value)
        if least >= self.before:
            return None
        self.cp.add(self.excess <= least)
        self.cp.clear_objective()
        self.cp.minimize(self._move_cost())
        self.cp.clear_hints()
        for var in [*(v for xv in self.x.values() for v in xv.values()),
                    *(v for roots in self.roots for v in roots.values())]:
            self.cp.add_hint(var, solver.value(var))
        status, solver = budget.solve(self.cp, self.work)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        steps = []
        for v, xv in self.x.items():
            dst = self.grids[next(i for i, var in xv.items() if solver.value(var))]
            if dst != self.chains.part[v]:
                steps.append((v, self.chains.part[v], dst))
        return steps or None


    def _anchor(self, grid: Hashable) -> Hashable:
        """The grid's building farthest inside (most neighbours in its grid, then the
        heaviest): the one a repair has least reason to move."""
        chains = self.chains
        return max(sorted(chains.members[grid], key=str),
                   key=lambda v: (sum(chains.part.get(nb) == grid for nb in chains.graph[v]),
                                  chains.w[v]))

    def _hint_present(self) -> None:
        """The present grids as the first solution (feasible: no grid changes), each rooted
        at its anchor."""
        for v, xv in self.x.items():
            for i, var in xv.items():
                self.cp.add_hint(var, self.grids[i] == self.chains.part[v])
        for i, g in enumerate(self.grids):
            root = self._anchor(g)
            for v, var in self.roots[i].items():
                self.cp.add_hint(var, v == root)
