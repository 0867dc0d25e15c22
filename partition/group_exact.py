"""A whole group split exactly by a flow model: a split with every grid within the balance
limit, or the proof that there is none.

The other bounds of a group's deviation see building sizes (subset sums, the division into
whole grids: partition.metrics.deviation_lower_bound), the buildings next to each building
(adjacency_bounds, connected_sets_bound) and, where they are few, every connected set near the
mean (partition.set_partition). Where connectivity forces the deviation over a longer reach
(irregular district 1304: a railway group of 119 buildings whose three grids cannot all be
drawn within 15% of the mean, although its households could be summed that way) none of them
sees it, and the plan counted the grid as free.

:func:`prove_group` models the whole group with CP-SAT, one model per grid count: every node
in exactly one of k grids, each grid connected through its own nodes (a flow from the grid's
first node, partition.exact_balance.grid_flows), grids ordered by their first node (no
symmetric copies), each grid's households within the limit of the community's mean.

- Proofs use a relaxation: only the nodes with households, two of them adjacent where they
  touch directly or through nodes without households (as partition.set_partition does). Any
  real split gives a split of the relaxation, so what the relaxation rules out no plan has;
  it is smaller, and proofs come sooner (1304's group: 0.4 units instead of 0.9).
- Where the relaxation allows the limit at the plan's count, the whole group (every node,
  household-less buildings and pockets included, as partition.groups draws it) is solved: a
  split with every grid within the limit, then the least boundary cut from it (CUT_WORK),
  which the caller uses (it is untangled and checked like every other split).
- Where it does not: every count the group could have is tried, the other groups keeping the
  counts the plan gives them (their mean follows the count): the counts whose division could
  be within the limit are modelled, the rest are beyond it by division alone. When none
  allows the limit, the proof holds whatever the count: every split of the group has a grid
  beyond the limit. The bound returned is the least, over the counts, of what is proven at
  each: the division's deviation where it is beyond; the least deviation beyond the limit in
  whole households at a modelled count; where the plan's count is the only one modelled, the
  highest level a short bisection between the limit and the plan's worst proves infeasible.

What the proof marks (partition.divide): one grid, the plan's worst of the group, is not free
(its deviation bound is the group's bound); the group's other grids keep the bounds they had.
Only one grid beyond the limit is proven, not more.

Deterministic: models built in the nodes' order, one worker, deterministic work
(partition.budget): the same budget gives the same result on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx
from ortools.sat.python import cp_model

from partition.budget import WorkBudget, new_model
from partition.exact_balance import grid_flows
from partition.metrics import BALANCE_LIMIT
from partition.set_partition import neighbours_with_households

# Groups the model is built for, by its size: the group's nodes with households x grids.
# Up to FIRST_PAIRS it runs before the neighbourhood re-splits (partition.divide), which would
# spend the group's work first (irregular 1206: groups of 14-27 nodes and 5-9 grids had none
# left; the model splits them within 15% in 0.2-0.4 units; 1304's railway group, 78 x 3, is
# proven in 0.4); up to MAX_PAIRS after them, with what they left (districts of blocks of
# flats, groups of 30-36 nodes and 10-12 grids: nothing concluded in 0.5 units, and run
# first it left the re-splits that manage them short; groups of 50-70 nodes and 18-26
# grids: nothing found or proven in 4 units).
FIRST_PAIRS = 250
MAX_PAIRS = 600
# Groups above FIRST_PAIRS of at most PROOF_GRIDS grids get, before the re-splits, a try
# at the proof alone (the relaxation's models, no split built) with PROOF_SHARE of their
# work: irregular 1709's group of 182 nodes and 3 grids is proven in 0.04 units, where the
# re-splits and set partitioning spent all of its 0.4 before the model's turn came. Groups
# of more grids are left to the re-splits (floor-area 71's groups of 30-36 nodes and 10-12
# grids: 5 free grids beyond 15% became 6 with every group tried).
PROOF_SHARE = 0.1
PROOF_GRIDS = 4
WORK = 4.0  # at most this many deterministic seconds per solve (partition.budget)
FIND_WORK = 1.0  # ... for building it on the whole group from the relaxation's
CUT_WORK = 0.5  # deterministic seconds for the least cut of a split found
LEVELS = 3  # solves bisecting the least worst deviation once a group is proven forced,
LEVEL_WORK = 0.5  # each of at most this many deterministic seconds,
RESOLUTION = 0.01  # ... until the levels proven infeasible and feasible are this close


@dataclass
class GroupProof:
    """What :func:`prove_group` found.

    ``labels``: node -> 0..k-1, a split at the plan's count with every grid within the limit
    (None: none found); :meth:`compact` lowers its boundary cut. ``bound``: percent, proven:
    every split of the group, at any count, has a grid deviating at least this much from the
    mean its count gives (None: nothing proven beyond the limit)."""

    labels: dict[Hashable, int] | None = None
    bound: float | None = None
    model: _FlowModel | None = None  # the model ``labels`` came from
    window: tuple[int, int] = (0, 0)  # the households each grid may hold

    def compact(self, graph: nx.Graph[Hashable], budget: WorkBudget) -> dict[Hashable, int]:
        """``labels`` with the least boundary cut CUT_WORK finds (the graph's edge ``cost``:
        metres, cheaper along streets) among splits with every grid within the limit."""
        if self.model is None or self.labels is None:
            raise ValueError("no split to compact")
        self.model.least_cut(graph, *self.window, budget)
        return self.model.labels or self.labels


def fits(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int,
         most: int = MAX_PAIRS) -> bool:
    """Whether the model is built for a group of ``nodes`` in ``k`` grids: its nodes with
    households x k at most ``most`` (MAX_PAIRS, or FIRST_PAIRS)."""
    return k >= 2 and k * sum(graph.nodes[v]["households"] > 0 for v in nodes) <= most


def prove_group(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int,
                means: dict[int, float], present: dict[Hashable, Hashable],
                budget: WorkBudget, limit: float = BALANCE_LIMIT,
                elsewhere: Mapping[int, float] | None = None, find: bool = True) -> GroupProof:
    """Split group ``nodes`` (connected) into ``k`` connected grids each within ``limit`` of
    ``means[k]``, or prove that no count allows that.

    ``means``: grid count -> the community's mean grid size when this group has that many
    grids (the other groups as the plan has them), for every count from 1 to the group's
    buildings with households. ``present``: today's split (node -> label, ``k`` grids):
    the worst deviation known to be reachable. ``elsewhere``: grid count -> the deviation
    (a share) some grid of the community's other groups is proven to have from that
    count's mean: a count other than ``k`` where it is beyond ``limit`` needs no model,
    since every plan at that count has a grid beyond the limit too (irregular district
    1709: a group of 720 households is within 15% at 2 grids, where the community's other
    group, 231 households alone, is 27% off the mean). ``find``: build a split where the
    relaxation allows one (else only proofs are sought).

    The proofs are made on a relaxation (only the nodes with households, two of them
    adjacent when they touch directly or through nodes without households, as
    partition.set_partition does): smaller, so proofs come sooner, and what it rules out no
    real split has. A split is built on the whole group, where the relaxation allows one.
    """
    nodes = sorted(nodes, key=str)
    w = {v: int(graph.nodes[v]["households"]) for v in nodes}
    total = sum(w.values())
    inside = set(nodes)
    adjacent = {v: [u for u in graph[v] if u in inside] for v in nodes}
    near = neighbours_with_households(adjacent, w)
    positive = [v for v in nodes if w[v] > 0]
    # The counts whose division allows the limit (the others are beyond it whatever the
    # split), each with its model, made when first needed.
    # The other groups' bound at each count; at the plan's count this group's own grids
    # must be the ones proven beyond the limit (the grid marked is this group's).
    other = {count: (elsewhere or {}).get(count, 0.0) if count != k else 0.0
             for count in means}
    counts = [count for count in sorted(means) if count <= len(positive)
              and abs(total / count - means[count]) <= limit * means[count]
              and other[count] <= limit]
    relaxed: dict[int, _FlowModel] = {}

    def model(count: int) -> _FlowModel:
        if count not in relaxed:
            relaxed[count] = _FlowModel(near, positive, w, count)
        return relaxed[count]

    lo, hi = _window(means[k], limit)
    if k in counts:
        status = model(k).within(lo, hi, budget)
        if status is None or (status and not find):
            return GroupProof()
        if status:
            # The relaxation's grids as they are, the nodes without households to place;
            # else (two grids need the same of them) every node free, from that guess.
            whole = _FlowModel(adjacent, nodes, w, k, fixed=model(k).labels)
            found = whole.within(lo, hi, budget, FIND_WORK)
            if found is False:
                whole = _FlowModel(adjacent, nodes, w, k)
                whole.hint_first(model(k).labels or {})
                found = whole.within(lo, hi, budget, FIND_WORK)
            if not found:
                return GroupProof()
            return GroupProof(labels=whole.labels, model=whole, window=(lo, hi))
    # No split at the plan's count: none at any other count either? Then the least worst
    # deviation at each count (at the counts not modelled, their division's).
    for count in counts:
        if count != k and model(count).within(*_window(means[count], limit),
                                              budget) is not False:
            return GroupProof()  # a split within the limit there, or not known
    loads: dict[Hashable, int] = {}
    for v in nodes:
        loads[present[v]] = loads.get(present[v], 0) + w[v]
    bounds: list[float] = []
    for count, mean in sorted(means.items()):
        if count not in counts:
            bounds.append(max(abs(total / count - mean) / mean, other[count]))
        elif counts == [k]:  # the plan's count alone decides: bisect there
            reached = max(abs(load - mean) for load in loads.values()) / mean
            bounds.append(relaxed[k].least_worst(mean, limit, reached, budget))
        else:  # proven beyond the limit
            bounds.append(_beyond(mean, limit))
    return GroupProof(bound=100.0 * min(bounds))


def _window(mean: float, limit: float) -> tuple[int, int]:
    """The households a grid within ``limit`` of ``mean`` may hold."""
    return math.ceil((1 - limit) * mean - 1e-9), math.floor((1 + limit) * mean + 1e-9)


def _beyond(mean: float, level: float) -> float:
    """The least relative deviation from ``mean`` of a whole number of households outside
    the window of ``level`` (:func:`_window`): what a grid proven beyond it deviates at
    least."""
    lo, hi = _window(mean, level)
    return min(hi + 1 - mean, mean - lo + 1) / mean


class _FlowModel:
    """Every node in one of k grids, each grid with a root (its first node in ``nodes``
    order), every other node of a grid taking in one unit of flow more than it passes on,
    through nodes of the grid only. Without ``fixed``, the roots are in increasing order (no
    symmetric copies: the proofs); with it (node -> grid), those nodes are in those grids."""

    def __init__(self, adjacent: Mapping[Hashable, Iterable[Hashable]],
                 nodes: list[Hashable], w: dict[Hashable, int], k: int,
                 fixed: dict[Hashable, int] | None = None) -> None:
        cp = self.cp = new_model()
        self.nodes, self.w, self.k = nodes, w, k
        n = len(nodes)
        root: dict[Hashable, dict[int, cp_model.IntVar | int]]
        if fixed is not None:
            self.x, root = self._fixed(fixed)
        else:
            self.x, root = self._ordered()
        inside = set(nodes)
        self.edges = edges = [(u, v, 0.0) for u in nodes
                              for v in sorted(adjacent[u], key=str)
                              if v in inside and str(u) < str(v)]
        for i in range(k):
            inflow, outflow = grid_flows(cp, self.x, edges, i, n)
            for v in nodes:
                if i in self.x[v]:
                    cp.add(sum(inflow[v]) - sum(outflow[v])
                           >= self.x[v][i] - (n + 1) * root[v][i])
        self.loads = [sum(w[v] * xv[i] for v, xv in self.x.items() if i in xv)
                      for i in range(k)]
        self.labels: dict[Hashable, int] | None = None

    def _ordered(self) -> tuple[dict[Hashable, dict[int, cp_model.IntVar]],
                                dict[Hashable, dict[int, cp_model.IntVar | int]]]:
        """Grid i's root is its first node; roots in increasing order (the proofs)."""
        cp, nodes, k = self.cp, self.nodes, self.k
        index = {v: j for j, v in enumerate(nodes)}
        # Grid i's first node is at least the i-th node: node j may join grids 0..j only.
        x = {v: {i: cp.new_bool_var("") for i in range(min(k, index[v] + 1))}
             for v in nodes}
        for v in nodes:
            cp.add_exactly_one(x[v].values())
        # seen[j][i]: some node up to the j-th is in grid i; the root of grid i is the node
        # where that first holds; grid i's root comes after grid i - 1's.
        seen: list[dict[int, cp_model.IntVar]] = []
        root: dict[Hashable, dict[int, cp_model.IntVar | int]] = {}
        for j, v in enumerate(nodes):
            row: dict[int, cp_model.IntVar] = {}
            root[v] = {}
            for i, var in x[v].items():
                before = seen[j - 1].get(i) if j else None
                s = cp.new_bool_var("")
                cp.add(s >= var)
                if before is not None:
                    cp.add(s >= before)
                    cp.add(s <= before + var)
                    r = cp.new_bool_var("")
                    cp.add(r <= var)
                    cp.add(r <= 1 - before)
                    cp.add(r >= var - before)
                else:
                    cp.add(s <= var)
                    r = var
                root[v][i] = r
                if i > 0:
                    cp.add(s <= row[i - 1])
                row[i] = s
            if j:
                for i, s in seen[j - 1].items():
                    if i not in row:  # grid i was not open to this node: same as before
                        row[i] = s
            seen.append(row)
        for i in range(k):
            cp.add(seen[-1][i] == 1)  # every grid holds a node
        return x, root

    def _fixed(self, fixed: dict[Hashable, int]) -> tuple[
            dict[Hashable, dict[int, cp_model.IntVar]],
            dict[Hashable, dict[int, cp_model.IntVar | int]]]:
        """The nodes of ``fixed`` (node -> grid) in their grids, the first of each its root;
        the other nodes free (building a split the relaxation found)."""
        cp, nodes, k = self.cp, self.nodes, self.k
        x = {v: {i: cp.new_bool_var("") for i in range(k)} for v in nodes}
        for v in nodes:
            cp.add_exactly_one(x[v].values())
        firsts: dict[int, Hashable] = {}
        for v in nodes:
            if v in fixed:
                cp.add(x[v][fixed[v]] == 1)
                firsts.setdefault(fixed[v], v)
        root: dict[Hashable, dict[int, cp_model.IntVar | int]] = {
            v: {i: int(firsts.get(i) == v) for i in range(k)} for v in nodes}
        return x, root

    def hint_first(self, labels: dict[Hashable, int]) -> None:
        """A split of (some of) the nodes as the solver's first guess, its grids
        renumbered by their first node here."""
        order: dict[int, int] = {}
        for v in self.nodes:
            if v in labels:
                order.setdefault(labels[v], len(order))
        for v, xv in self.x.items():
            if v in labels:
                for i, var in xv.items():
                    self.cp.add_hint(var, order[labels[v]] == i)

    def within(self, lo: int, hi: int, budget: WorkBudget,
               cap: float = WORK) -> bool | None:
        """Whether a split has every grid's households in [lo, hi] (None: not known within
        WORK or the budget); keeps the split found in ``labels``."""
        cp = self.cp.clone()
        for load in self.loads:
            cp.add_linear_constraint(load, lo, hi)
        status, solver = budget.solve(cp, cap)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.labels = {v: next(i for i, var in xv.items() if solver.boolean_value(var))
                           for v, xv in self.x.items()}
            return True
        return False if status == cp_model.INFEASIBLE else None

    def least_cut(self, graph: nx.Graph[Hashable], lo: int, hi: int,
                  budget: WorkBudget) -> None:
        """From ``labels`` (a split with every grid's households in [lo, hi]), the split of
        least boundary cut (the graph's edge ``cost``: metres, cheaper along streets) that
        CUT_WORK finds, into ``labels``: grids as compact as the flow model can make them,
        before the untangling (partition.untangle) draws their hulls apart."""
        if self.labels is None:
            return
        cp = self.cp.clone()
        for load in self.loads:
            cp.add_linear_constraint(load, lo, hi)
        terms = []
        for u, v, _ in self.edges:
            cut = cp.new_bool_var("")
            for i, var in self.x[u].items():
                cp.add(cut >= var - self.x[v].get(i, 0))
            for i, var in self.x[v].items():
                if i not in self.x[u]:
                    cp.add(cut >= var)
            terms.append(max(1, round(graph.edges[u, v]["cost"])) * cut)
        cp.minimize(sum(terms))
        cp.clear_hints()
        for v, xv in self.x.items():
            for i, var in xv.items():
                cp.add_hint(var, self.labels[v] == i)
        status, solver = budget.solve(cp, CUT_WORK)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            self.labels = {v: next(i for i, var in xv.items() if solver.boolean_value(var))
                           for v, xv in self.x.items()}

    def least_worst(self, mean: float, limit: float, reached: float,
                    budget: WorkBudget) -> float:
        """A proven lower bound on the largest relative deviation from ``mean`` of any split,
        which the caller has proven to exceed ``limit``: the highest level a bisection
        between ``limit`` and ``reached`` (a split is known there: the plan's worst) proves
        infeasible, in at most LEVELS solves."""
        low, high = _beyond(mean, limit), reached
        for _ in range(LEVELS):
            level = (low + high) / 2
            window = _window(mean, level)
            # Every grid holds households there (the relaxation has none without).
            if high - low < RESOLUTION or window[0] < 1:
                break
            found = self.within(*window, budget, LEVEL_WORK)
            if found is None:
                break
            if found:
                high = level
            else:
                low = _beyond(mean, level)
        return low
