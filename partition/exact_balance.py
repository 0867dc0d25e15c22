"""Exact re-splits of the neighbourhood of a grid that deviates too far.

The bisection and the single/chain moves of partition.regionalize leave a few grids beyond
BALANCE_LIMIT where large buildings (towers of ~200 households against a mean of ~300) make
every single move overshoot: a good split exists, but only as a rearrangement of several
neighbouring grids at once. For each such grid, :func:`repair_extremes` builds a CP-SAT model
of the grid and its neighbours (first one ring, then two), every building of them assigned to
one of these grids, each grid connected through its own buildings (a single-commodity flow
from an anchor building that stays), and solves it in two phases:

1. minimise the largest excess beyond BALANCE_LIMIT over these grids;
2. with that excess fixed, minimise the boundary cut (metres, cheaper along streets, as in
   partition.adjacency), the households' deviation from the mean, the households moved, the
   buildings' distance from their grid's former centre, and the pairs of grids that no
   straight line separates (their hulls would overlap).

A neighbourhood is rewritten only when phase 1 lowers the largest excess. Weights are
households; the mean is the community's mean grid size.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import networkx as nx
import numpy as np
import shapely
from ortools.sat.python import cp_model

from partition.adjacency import nodes_within
from partition.budget import WorkBudget, new_model
from partition.metrics import BALANCE_LIMIT

MAX_BUILDINGS = 120  # neighbourhood size (buildings) the model is built for
MAX_GRIDS = 14
RINGS = (1, 2)  # neighbourhoods tried: the grid and its neighbours, then theirs too
REACH = 2  # a building may join the grid of a building this many edges away
WORK = 1.0  # at most this many deterministic seconds per phase (partition.budget)
# The share of the budget left when repair_extremes starts that it may spend. The exact split
# of a whole group (partition.set_partition), which comes next, lowers a group's worst grid
# further per unit where it can list the group's candidate grids; with the whole budget the
# re-splits spent most of it first, on hundreds of small solves that found nothing
# (floor-area district of seed 22, 2,000 buildings: 13 free grids beyond 15%, 42 s of CPU;
# with a tenth: 3, 24 s; irregular 1206 (1,200 buildings): 7 and 3).
REPAIR_SHARE = 0.1
# What building and loading a model costs beyond CP-SAT's deterministic time, charged per solve:
# a phase-1 solve of these small models took 27 ms of CPU for 11 ms of deterministic time
# (floor-area district of seed 22), and a phase-2 model takes about 40 ms to build.
MODEL_UNITS = 0.02
# Phase 2 objective per unit: metres of cut boundary, households off the mean, households moved.
CUT_WEIGHT = 1
DEVIATION_WEIGHT = 1
MOVE_WEIGHT = 0.2
# ... and metres from a building to the centre its grid had (grids stay round and apart).
DISTANCE_WEIGHT = 1.0
# Two grids whose buildings no straight line separates (their hulls overlap) cost as much as
# this many metres of cut: phase 2 keeps grids apart where the balance allows it.
APART_WEIGHT = 500
APART_DIRECTIONS = 16  # separating lines tried, over the full circle
SCALE = 10  # objective coefficients are integers: tenths

L = TypeVar("L", bound=Hashable)  # a grid's label


def repair_extremes(graph: nx.Graph[Hashable], assignment: dict[Hashable, L], *,
                    movable: set[Hashable], mean: float, limit: float = BALANCE_LIMIT,
                    budget: WorkBudget | None = None) -> dict[Hashable, L]:
    """Grids of ``assignment`` (node -> label, one community) beyond ``limit`` of ``mean``
    re-split together with their neighbours where that lowers the worst excess; a copy.

    Only nodes in ``movable`` change grid, only between grids whose nodes are all movable;
    every grid stays connected. Worst grids first; a grid that cannot be improved is left.
    The models draw on REPAIR_SHARE of what ``budget`` has left (unlimited when None) and
    stop when that is spent; a neighbourhood that :func:`cannot_improve` is not modelled.
    """
    budget = budget or WorkBudget()
    own = budget.part(REPAIR_SHARE)
    try:
        return _repair(graph, assignment, movable, mean, limit, own)
    finally:
        budget.charge(own.spent)


def _repair(graph: nx.Graph[Hashable], assignment: dict[Hashable, L], movable: set[Hashable],
            mean: float, limit: float, budget: WorkBudget) -> dict[Hashable, L]:
    part = dict(assignment)
    members: dict[L, set[Hashable]] = defaultdict(set)
    for n, p in part.items():
        members[p].add(n)
    w = {n: int(graph.nodes[n]["households"]) for n in part}
    open_parts = {p for p, ms in members.items() if ms <= movable}
    allowed = int(limit * mean)

    def excess(p: L) -> int:
        return max(0, abs(sum(w[n] for n in members[p]) - round(mean)) - allowed)

    tried: set[L] = set()
    while True:
        bad = [p for p in open_parts if p not in tried and excess(p) > 0]
        if not bad or not budget.allows():
            return part
        p = max(bad, key=lambda q: (excess(q), str(q)))
        tried.add(p)
        best: tuple[int, _Model[L]] | None = None
        seen: list[L] = []
        for rings in RINGS:
            grids = _neighbourhood(graph, part, members, p, open_parts, rings)
            if grids is None:
                break
            if grids == seen:  # two rings reach no further than one: the same model
                continue
            seen = grids
            domain = _domain(graph, members, grids, w)
            if cannot_improve(graph, members, grids, w, round(mean), allowed, domain):
                continue  # phase 1 would find nothing: neither model nor solve
            model = _Model(graph, members, grids, w, round(mean), allowed, budget, domain)
            found = model.least_excess()
            if found is not None and (best is None or found < best[0]):
                best = (found, model)
            if found == 0:
                break
        new = None if best is None else best[1].best_quality(best[0])
        if new is None:
            continue
        for v, q in new.items():
            if part[v] != q:
                members[part[v]].discard(v)
                members[q].add(v)
                part[v] = q
        tried -= set(new.values())


def _neighbourhood(graph: nx.Graph[Hashable], part: dict[Hashable, L],
                   members: dict[L, set[Hashable]], p: L, open_parts: set[L],
                   rings: int) -> list[L] | None:
    """Grid p and the open grids within ``rings`` steps of it, or None when that is too big
    for the model."""
    grids = {p}
    frontier = {p}
    for _ in range(rings):
        nxt = {part[nb] for q in frontier for v in members[q] for nb in graph[v]
               if nb in part and part[nb] in open_parts} - grids
        grids |= nxt
        frontier = nxt
    if (len(grids) > MAX_GRIDS or len(grids) < 2
            or sum(len(members[q]) for q in grids) > MAX_BUILDINGS):
        return None
    return sorted(grids, key=lambda q: (q != p, str(q)))


@dataclass(frozen=True)
class _Domain:
    """A neighbourhood's buildings (sorted), the grids (indices) each may join (its own and
    those of buildings within REACH edges) and each grid's anchor (its largest building):
    what :func:`cannot_improve` and :class:`_Model` both work on."""

    nodes: list[Hashable]
    options: dict[Hashable, list[int]]
    anchors: list[Hashable]


def _domain(graph: nx.Graph[Hashable], members: dict[L, set[Hashable]], grids: list[L],
            w: dict[Hashable, int]) -> _Domain:
    nodes = sorted((v for q in grids for v in members[q]), key=str)
    home = {v: i for i, q in enumerate(grids) for v in members[q]}
    near = nodes_within(graph, set(nodes), REACH)
    return _Domain(nodes, {v: sorted({home[u] for u in near[v]}) for v in nodes},
                   [max(members[q], key=lambda v: (w[v], str(v))) for q in grids])


def cannot_improve(graph: nx.Graph[Hashable], members: dict[L, set[Hashable]],
                   grids: list[L], w: dict[Hashable, int], mean: int, allowed: int,
                   domain: _Domain | None = None) -> bool:
    """Whether no assignment the neighbourhood's model allows (:class:`_Model`: anchors
    kept, buildings within REACH of a grid, grids connected) lowers its worst excess, by
    two relaxations of it; False where neither proves it (then the model is solved).

    - Per grid: no connected set of the buildings that may join it, around its anchor,
      has a load within the excess of one household less than the worst (only loads up to
      that are listed);
    - all grids at once, connectivity dropped: the households cannot be shared out so that
      every grid's load is within it (a search over the buildings, largest first).

    Both stop after BOUND_STEPS steps, proving nothing. The floor-area district of seed 22
    (2,000 buildings): 335 of the 632 phase-1 solves that found nothing are skipped.
    ``domain``: :func:`_domain` of the neighbourhood, when already made."""
    excesses = [max(0, abs(sum(w[v] for v in members[q]) - mean) - allowed) for q in grids]
    before = max(excesses)
    if before == 0:
        return True
    lo, hi = mean - allowed - before + 1, mean + allowed + before - 1
    domain = domain or _domain(graph, members, grids, w)
    nodes, options, anchors = domain.nodes, domain.options, domain.anchors
    inside = set(nodes)
    adjacent = {v: sorted((u for u in graph[v] if u in inside), key=str) for v in nodes}
    steps = _Steps()
    try:
        for i, a in enumerate(anchors):
            others = set(anchors) - {a}
            joins = {v for v in nodes if i in options[v] and v not in others}
            if not _reaches(a, joins, adjacent, w, lo, hi, steps):
                return True
        return not _shares(nodes, options, anchors, w, lo, hi, steps)
    except _OutOfStepsError:
        return False


BOUND_STEPS = 2_000  # search steps of cannot_improve's relaxations per neighbourhood


class _OutOfStepsError(Exception):
    pass


class _Steps:
    """cannot_improve's step count: it gives up after BOUND_STEPS."""

    def __init__(self) -> None:
        self.count = 0

    def take(self) -> None:
        self.count += 1
        if self.count > BOUND_STEPS:
            raise _OutOfStepsError


def _reaches(root: Hashable, joins: set[Hashable], adjacent: dict[Hashable, list[Hashable]],
             w: dict[Hashable, int], lo: int, hi: int, steps: _Steps) -> bool:
    """Whether some connected set of ``joins`` holding ``root`` has a load within [lo, hi]:
    each connected set of load at most ``hi`` listed once (a set grows only by neighbours
    not yet ruled out for it; households are never negative)."""

    def grow(load: int, frontier: list[Hashable], banned: set[Hashable]) -> bool:
        steps.take()
        if load >= lo:
            return True
        for k, v in enumerate(frontier):
            if load + w[v] > hi:
                continue
            ruled_out = banned | set(frontier[:k + 1])
            rest = frontier[k + 1:]
            later = set(rest)
            extra = [u for u in adjacent[v] if u in joins and u not in ruled_out
                     and u not in later]
            if grow(load + w[v], rest + extra, ruled_out):
                return True
        return False

    if w[root] > hi:
        return False
    return grow(w[root], [u for u in adjacent[root] if u in joins], {root})


def _shares(nodes: list[Hashable], options: dict[Hashable, list[int]], anchors: list[Hashable],
            w: dict[Hashable, int], lo: int, hi: int, steps: _Steps) -> bool:
    """Whether the households of ``nodes`` can be shared out, each building to one of its
    ``options`` (anchors to their own grid), with every grid's load within [lo, hi]."""
    loads = [w[a] for a in anchors]
    if max(loads) > hi:
        return False
    fixed = set(anchors)
    items = sorted((v for v in nodes if v not in fixed and w[v] > 0), key=lambda v: (-w[v], str(v)))
    # households still to come that may join each grid, from each item on
    reach = [[0] * len(anchors) for _ in range(len(items) + 1)]
    for t in range(len(items) - 1, -1, -1):
        reach[t] = list(reach[t + 1])
        for i in options[items[t]]:
            reach[t][i] += w[items[t]]
    left = [0] * (len(items) + 1)
    for t in range(len(items) - 1, -1, -1):
        left[t] = left[t + 1] + w[items[t]]
    failed: set[tuple[int, tuple[int, ...]]] = set()

    def place(t: int) -> bool:
        steps.take()
        if t == len(items):
            return min(loads) >= lo
        key = (t, tuple(loads))
        if key in failed:
            return False
        short = [max(0, lo - load) for load in loads]
        if (sum(short) > left[t]
                or any(s > r for s, r in zip(short, reach[t], strict=True))):
            failed.add(key)
            return False
        v = items[t]
        for i in options[v]:
            if loads[i] + w[v] <= hi:
                loads[i] += w[v]
                found = place(t + 1)
                loads[i] -= w[v]
                if found:
                    return True
        failed.add(key)
        return False

    return place(0)


class _Model(Generic[L]):
    """CP-SAT model of a neighbourhood: one grid per building, grids connected, their loads.

    A building may join only grids it is within REACH edges of (its own included): the
    rearrangements that help are local, and the model stays small."""

    def __init__(self, graph: nx.Graph[Hashable], members: dict[L, set[Hashable]],
                 grids: list[L], w: dict[Hashable, int], mean: int, allowed: int,
                 budget: WorkBudget, domain: _Domain) -> None:
        cp = self.cp = new_model()
        self.budget = budget
        self.grids, self.members, self.w, self.graph = grids, members, w, graph
        self.centres = [_centre(graph, members[q]) for q in grids]
        self.nodes = domain.nodes
        inside = set(self.nodes)
        self.edges = [(u, v, graph.edges[u, v]["cost"]) for u in self.nodes for v in graph[u]
                      if v in inside and str(u) < str(v)]
        # building -> grid index -> whether it is in that grid (one variable per grid, made
        # in the order of the grids: the model is the same in every process)
        self.x = {v: {i: cp.new_bool_var("") for i in domain.options[v]} for v in self.nodes}
        for v in self.nodes:
            cp.add_exactly_one(self.x[v].values())
        self._connect(anchors=domain.anchors)
        total = sum(w[v] for v in self.nodes) + mean
        self.deviation: list[cp_model.IntVar] = []
        excesses: list[cp_model.IntVar] = []
        for i in range(len(grids)):
            load = sum(w[v] * xv[i] for v, xv in self.x.items() if i in xv)
            dev = cp.new_int_var(0, total, "")
            cp.add(dev >= load - mean)
            cp.add(dev >= mean - load)
            exc = cp.new_int_var(0, total, "")
            cp.add(exc >= dev - allowed)
            self.deviation.append(dev)
            excesses.append(exc)
        self.worst = cp.new_int_var(0, total, "")
        cp.add_max_equality(self.worst, excesses)
        self.before = max(max(0, abs(sum(w[v] for v in members[q]) - mean) - allowed)
                          for q in grids)

    def _connect(self, anchors: list[Hashable]) -> None:
        """Each grid keeps its anchor (its largest building: grids keep their identity, and
        the model has no symmetric copies) and reaches every other of its buildings by a
        flow through its own buildings: each takes in one unit more than it passes on."""
        cp, n = self.cp, len(self.nodes)
        for i, a in enumerate(anchors):
            cp.add(self.x[a][i] == 1)
        for i, a in enumerate(anchors):
            inflow, outflow = grid_flows(cp, self.x, self.edges, i, n)
            for v in self.nodes:
                if v != a and i in self.x[v]:
                    cp.add(sum(inflow[v]) - sum(outflow[v]) >= self.x[v][i])

    def least_excess(self) -> int | None:
        """The smallest worst excess (households) found, when below the present one."""
        self.cp.minimize(self.worst)
        status, solver = self.budget.solve(self.cp, WORK, MODEL_UNITS)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        worst = int(solver.value(self.worst))
        if worst >= self.before:
            return None
        self._hint(solver)
        return worst

    def best_quality(self, worst: int) -> dict[Hashable, L] | None:
        """Node -> grid with the worst excess at most ``worst`` and the least cut, deviation
        and moves (phase 2)."""
        self.cp.add(self.worst <= worst)
        self.cp.clear_objective()
        self.cp.minimize(self._quality())
        status, solver = self.budget.solve(self.cp, WORK, MODEL_UNITS)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None
        return {v: self.grids[next(i for i, var in xv.items() if solver.value(var))]
                for v, xv in self.x.items()}

    def _quality(self) -> cp_model.LinearExprT:
        """Phase 2 objective (tenths): cut metres, deviation, households moved, distance
        from the grids' former centres, pairs of grids no straight line separates."""
        cp = self.cp
        terms: list[cp_model.LinearExprT] = []
        for u, v, cost in self.edges:
            cut = cp.new_bool_var("")
            for i, var in self.x[u].items():
                cp.add(cut >= var - self.x[v].get(i, 0))
            terms.append(round(SCALE * CUT_WEIGHT * cost) * cut)
        terms += [SCALE * DEVIATION_WEIGHT * d for d in self.deviation]
        for i, q in enumerate(self.grids):
            for v in sorted(self.members[q], key=str):
                terms.append(round(SCALE * MOVE_WEIGHT * max(self.w[v], 1))
                             * (1 - self.x[v][i]))
        for v, xv in self.x.items():
            for i, var in xv.items():
                cx, cy = self.centres[i]
                dist = math.hypot(self.graph.nodes[v]["x"] - cx, self.graph.nodes[v]["y"] - cy)
                terms.append(round(SCALE * DISTANCE_WEIGHT * dist) * var)
        terms += [round(SCALE * APART_WEIGHT) * (1 - apart) for apart in self._apart()]
        return sum(terms)

    def _apart(self) -> list[cp_model.LinearExprT]:
        """Per pair of grids some building could join either of, a bool that is true only
        when a straight line (one of APART_DIRECTIONS) separates the two grids' residential
        footprints, so their hulls do not overlap."""
        cp = self.cp
        angles = [2 * math.pi * d / APART_DIRECTIONS for d in range(APART_DIRECTIONS)]
        lo: dict[Hashable, np.ndarray] = {}
        hi: dict[Hashable, np.ndarray] = {}
        for v in self.nodes:
            foot = self.graph.nodes[v].get("footprint")
            if self.w[v] <= 0 or foot is None:
                continue
            xy = shapely.get_coordinates(foot)
            proj = np.cos(angles)[:, None] * xy[:, 0] + np.sin(angles)[:, None] * xy[:, 1]
            lo[v] = np.floor(10 * proj.min(axis=1)).astype(int)
            hi[v] = np.ceil(10 * proj.max(axis=1)).astype(int)
        if not lo:
            return []
        low = int(min(a.min() for a in lo.values()))
        high = int(max(a.max() for a in hi.values()))
        pairs = {(i, j) for xv in self.x.values() for i in xv for j in xv if i < j}
        out: list[cp_model.LinearExprT] = []
        for i, j in sorted(pairs):
            line = cp.new_int_var(low, high, "")
            sides = [cp.new_bool_var("") for _ in angles]
            cp.add_at_most_one(sides)
            for d, side in enumerate(sides):
                for v in lo:
                    if i in self.x[v]:
                        cp.add(line >= int(hi[v][d])).only_enforce_if([self.x[v][i], side])
                    if j in self.x[v]:
                        cp.add(line <= int(lo[v][d])).only_enforce_if([self.x[v][j], side])
            out.append(sum(sides))
        return out

    def _hint(self, solver: cp_model.CpSolver) -> None:
        self.cp.clear_hints()
        for xv in self.x.values():
            for var in xv.values():
                self.cp.add_hint(var, solver.value(var))


def _centre(graph: nx.Graph[Hashable], nodes: Iterable[Hashable]) -> tuple[float, float]:
    """Mean position (m), summed exactly: the same in any order of ``nodes``."""
    xs = [graph.nodes[v]["x"] for v in nodes]
    ys = [graph.nodes[v]["y"] for v in nodes]
    return math.fsum(xs) / len(xs), math.fsum(ys) / len(ys)


def grid_flows(cp: cp_model.CpModel, x: dict[Hashable, dict[int, cp_model.IntVar]],
               edges: list[tuple[Hashable, Hashable, float]], i: int,
               n: int) -> tuple[dict[Hashable, list[cp_model.IntVar]],
                                dict[Hashable, list[cp_model.IntVar]]]:
    """Flow variables (0..``n``) of grid ``i`` on both directions of each of ``edges``
    whose two ends may join it (``x[node][i]``), non-zero only where both do: per node, the
    flows into it and out of it, for a connectivity constraint."""
    inflow: dict[Hashable, list[cp_model.IntVar]] = defaultdict(list)
    outflow: dict[Hashable, list[cp_model.IntVar]] = defaultdict(list)
    for u, v, _ in edges:
        if i not in x[u] or i not in x[v]:
            continue
        for s, t in ((u, v), (v, u)):
            f = cp.new_int_var(0, n, "")
            cp.add(f <= n * x[s][i])
            cp.add(f <= n * x[t][i])
            outflow[s].append(f)
            inflow[t].append(f)
    return inflow, outflow
