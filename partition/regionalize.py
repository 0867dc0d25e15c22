"""Splitting one connected group of buildings into k balanced, contiguous, compact grids.

1. *Recursive bisection* (:func:`bisect`): straight cuts in several directions, placed where
   the households divide in the right proportion, between footprints rather than through
   them, and along streets where that costs no balance; pieces a cut leaves disconnected
   change side, so every grid is connected.
2. *Trimming* (:func:`balance_extremes`): single boundary buildings move between
   neighbouring grids while that lowers the worst deviation beyond BALANCE_LIMIT.
3. *Local search* (:func:`refine`, used when re-balancing): a boundary building moves to a
   neighbouring grid when that lowers balance beyond a tolerance plus the cost of leaving its
   previous grid, and its old grid stays connected.

Coordinates are metres; weights are households.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterator
from typing import TypeVar

import networkx as nx
import numpy as np
import shapely

from partition.metrics import BALANCE_LIMIT

MAX_PASSES = 60


DIRECTIONS = 16  # cut directions tried per bisection (each from both ends)
NO_EXTENT = 1e12  # footprint extent of buildings that do not count (finite: no inf arithmetic)
REPAIRED_CANDIDATES = 8  # straight cuts repaired and compared per bisection
BALANCE_STEP = 0.02  # cuts within this share of a grid (per grid of the smaller side) of each
# other count as equally balanced

L = TypeVar("L", bound=Hashable)  # a part's label: its index, or a grid code
# How good a cut is, smaller first (see _cut_key).
CutKey = tuple[float, float, float, float, float, float]


class _Arrays:
    """A group's graph as arrays (local indices): positions (m), households, edges, costs."""

    def __init__(self, graph: nx.Graph[Hashable], nodes: list[Hashable]) -> None:
        self.nodes = list(nodes)
        index = {n: i for i, n in enumerate(self.nodes)}
        self.x = np.array([graph.nodes[n]["x"] for n in self.nodes])
        self.y = np.array([graph.nodes[n]["y"] for n in self.nodes])
        self.w = np.array([graph.nodes[n]["households"] for n in self.nodes], dtype=float)
        # In the order of ``nodes`` (not the graph's): sums over edges come out the same
        # wherever the group's graph came from.
        edges = [(i, j, graph.edges[u, self.nodes[j]]["cost"])
                 for i, u in enumerate(self.nodes)
                 for j in sorted(index[v] for v in graph[u] if index.get(v, -1) > i)]
        arr = np.array(edges, dtype=float).reshape(-1, 3)
        self.u = arr[:, 0].astype(np.int64)
        self.v = arr[:, 1].astype(np.int64)
        self.cost = arr[:, 2]
        self.lo, self.hi = _footprint_extents(graph, self.nodes, self.w > 0)


def _footprint_extents(graph: nx.Graph[Hashable], nodes: list[Hashable],
                       counted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cut direction, the extent (m) of each building's footprint along it: arrays of
    shape (2 * DIRECTIONS, n). Buildings not ``counted`` (no households) get an empty extent,
    so they never make a cut unclean."""
    angles = np.pi * np.arange(2 * DIRECTIONS) / DIRECTIONS
    n = len(nodes)
    lo = np.full((len(angles), n), NO_EXTENT)
    hi = np.full((len(angles), n), -NO_EXTENT)
    geoms = [graph.nodes[v].get("footprint") for v in nodes]
    if any(g is None for g in geoms):
        xy = np.array([[graph.nodes[v]["x"], graph.nodes[v]["y"]] for v in nodes])
        owner = np.arange(n)
    else:
        xy, owner = shapely.get_coordinates(geoms, return_index=True)
    proj = np.cos(angles)[:, None] * xy[:, 0] + np.sin(angles)[:, None] * xy[:, 1]
    for i in range(len(angles)):
        np.minimum.at(lo[i], owner, proj[i])
        np.maximum.at(hi[i], owner, proj[i])
    lo[:, ~counted] = NO_EXTENT
    hi[:, ~counted] = -NO_EXTENT
    return lo, hi


def _component_labels(n: int, u: np.ndarray, v: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Connected-component label (0..c-1) of each of n nodes, using the edges where ``same``.

    Label propagation with pointer jumping: for the small graphs of one group this is many
    times faster than building a sparse matrix for scipy."""
    labels = smallest_reachable(n, u[same], v[same])
    return np.unique(labels, return_inverse=True)[1]


def smallest_reachable(n: int, su: np.ndarray, sv: np.ndarray) -> np.ndarray:
    """For each of n nodes, the smallest node index in its piece of the graph with edges
    (su, sv): label propagation with pointer jumping."""
    labels = np.arange(n)
    # Both ends of every edge at once: one scatter a round (the graphs are small, and a
    # round's cost is mostly numpy's per-call overhead).
    ends, others = np.concatenate([su, sv]), np.concatenate([sv, su])
    while True:
        new = labels.copy()
        np.minimum.at(new, ends, labels[others])
        new = new[new]
        if (new == labels).all():
            return labels
        labels = new


def _repair(w: np.ndarray, eu: np.ndarray, ev: np.ndarray,
            in_a: np.ndarray) -> tuple[np.ndarray, float]:
    """Make both sides connected: pieces cut off from their side's main part change side.

    Returns the repaired side mask and the households that changed side."""
    moved = 0.0
    for _ in range(4):
        labels = _component_labels(len(w), eu, ev, in_a[eu] == in_a[ev])
        weight = np.bincount(labels, weights=w + 1e-3)
        side_of = np.zeros(len(weight), dtype=bool)
        side_of[labels] = in_a
        flip = np.zeros(len(weight), dtype=bool)
        for side in (True, False):
            comps = np.flatnonzero(side_of == side)
            if len(comps) > 1:
                flip[comps] = True
                flip[comps[np.argmax(weight[comps])]] = False
        if not flip.any():
            break
        moved += float(weight[flip].sum())
        in_a = in_a ^ flip[labels]
    return in_a, moved


def _straight_cuts(x: np.ndarray, y: np.ndarray, w: np.ndarray, lo: np.ndarray,
                   hi: np.ndarray, eu: np.ndarray, ev: np.ndarray, cost: np.ndarray,
                   goal: float, unit: float) -> tuple[np.ndarray, list[CutKey]]:
    """The best straight cut across each of the 2 x DIRECTIONS directions, all at once.

    Along each direction the nodes are sorted and every prefix is a candidate side A; the
    chosen prefix comes within BALANCE_STEP of a grid of ``goal`` households, then has the
    least footprint overlap across the cut, then the nearest balance, then the cheapest cut.
    Directions across the group's long axis rank first among equally good cuts.
    Returns side-A masks (directions x nodes) and each cut's key (see :func:`_cut_key`).
    """
    n = len(w)
    angles = np.pi * np.arange(2 * DIRECTIONS) / DIRECTIONS
    proj = np.cos(angles)[:, None] * x + np.sin(angles)[:, None] * y
    order = np.argsort(proj, axis=1, kind="stable")
    rows = np.arange(len(angles))[:, None]
    rank = np.empty_like(order)
    rank[rows, order] = np.arange(n)
    # cut[d, L-1] = cost of the edges with exactly one end among the first L nodes.
    first_end = np.minimum(rank[:, eu], rank[:, ev]) + 1
    last_end = np.maximum(rank[:, eu], rank[:, ev]) + 1
    flat = np.bincount((rows * (n + 1) + first_end).ravel(), np.broadcast_to(
        cost, first_end.shape).ravel(), minlength=len(angles) * (n + 1))
    flat -= np.bincount((rows * (n + 1) + last_end).ravel(), np.broadcast_to(
        cost, last_end.shape).ravel(), minlength=len(angles) * (n + 1))
    cut = np.cumsum(flat.reshape(len(angles), n + 1), axis=1)[:, 1:n]
    error = np.abs(np.cumsum(w[order], axis=1)[:, :-1] - goal) / unit
    # Depth (m) by which footprints of the first L reach past those of the rest.
    hi_sorted = np.take_along_axis(hi, order, axis=1)
    lo_sorted = np.take_along_axis(lo, order, axis=1)
    reach = (np.maximum.accumulate(hi_sorted, axis=1)[:, :-1]
             - np.minimum.accumulate(lo_sorted[:, ::-1], axis=1)[:, ::-1][:, 1:])
    overlap = np.round(np.clip(reach, 0, None))
    coarse = np.floor(error / BALANCE_STEP)
    # Cuts across the group's long axis keep grids compact (no long strips).
    off_axis = np.floor(_angle_from_long_axis(x, y, w, angles) / (np.pi / 8))
    masks = np.zeros((len(angles), n), dtype=bool)
    keys: list[CutKey] = []
    for d in range(len(angles)):
        at = int(np.lexsort((cut[d], error[d], overlap[d], coarse[d]))[0])
        masks[d] = rank[d] <= at
        keys.append((coarse[d, at], overlap[d, at], off_axis[d], 0.0, error[d, at],
                     cut[d, at]))
    return masks, keys


def _angle_from_long_axis(x: np.ndarray, y: np.ndarray, w: np.ndarray,
                          angles: np.ndarray) -> np.ndarray:
    """Angle (0..pi/2) between each direction and the long axis of the points."""
    weights = w + 1e-3
    mx, my = np.average(x, weights=weights), np.average(y, weights=weights)
    cxx = np.average((x - mx) ** 2, weights=weights)
    cyy = np.average((y - my) ** 2, weights=weights)
    cxy = np.average((x - mx) * (y - my), weights=weights)
    axis = 0.5 * math.atan2(2 * cxy, cxx - cyy)
    diff = np.mod(angles - axis, np.pi)
    angle: np.ndarray = np.minimum(diff, np.pi - diff)
    return angle


def _cut_key(in_a: np.ndarray, w: np.ndarray, lo: np.ndarray, hi: np.ndarray, eu: np.ndarray,
             ev: np.ndarray, cost: np.ndarray, goal: float, unit: float, moved: float,
             off_axis: float) -> CutKey:
    """How good a cut is, smaller first: balance (in BALANCE_STEP buckets), footprint overlap
    across it (m), how far it is from cutting across the long axis (22.5 degree steps),
    households moved to repair it, exact balance, cost of the cut."""
    error = abs(w[in_a].sum() - goal) / unit
    overlap = max(0.0, float(np.max(hi[in_a], initial=-NO_EXTENT)
                             - np.min(lo[~in_a], initial=NO_EXTENT)))
    return (math.floor(error / BALANCE_STEP), round(overlap), off_axis, moved, error,
            float(cost[in_a[eu] != in_a[ev]].sum()))


def _bisect_arrays(g: _Arrays, idx: np.ndarray, k: int, out: np.ndarray, first: int) -> None:
    """Write parts first .. first+k-1 into ``out`` for the connected nodes ``idx``."""
    if k <= 1 or len(idx) <= 1:
        out[idx] = first
        return
    pos = np.full(len(g.x), -1)
    pos[idx] = np.arange(len(idx))
    keep = (pos[g.u] >= 0) & (pos[g.v] >= 0)
    eu, ev, cost = pos[g.u[keep]], pos[g.v[keep]], g.cost[keep]
    x, y, w = g.x[idx], g.y[idx], g.w[idx]
    k1 = k // 2
    # Balance is judged per grid: an error of e grids' households is shared by the
    # min(k1, k - k1) grids of the smaller side, so cuts high in the tree may miss the goal by
    # more and pick cleaner lines (measured with partition.untangle: hull overlap Nanjing
    # 1.9% -> 1.5%, synthetic 10k 1.3% -> 1.2%, mean deviation below 5%; a steeper share,
    # min(...)**1.5, broke the demo's balance).
    goal = w.sum() * k1 / k
    unit = max(w.sum() / k, 1e-9) * min(k1, k - k1)
    # Rank the straight cuts first; only the most promising are repaired and compared.
    masks, keys = _straight_cuts(x, y, w, g.lo[:, idx], g.hi[:, idx], eu, ev, cost, goal,
                                 unit)
    ranked = sorted(range(len(keys)), key=keys.__getitem__)
    best: np.ndarray | None = None
    best_key: CutKey | None = None
    for i in ranked[:REPAIRED_CANDIDATES]:
        in_a = masks[i]
        in_a, moved = _repair(w, eu, ev, in_a)
        if in_a.all() or not in_a.any():
            continue
        key = _cut_key(in_a, w, g.lo[i, idx], g.hi[i, idx], eu, ev, cost, goal, unit, moved,
                       keys[i][2])
        if best_key is None or key < best_key:
            best, best_key = in_a, key
    if best is None:
        out[idx] = first
        return
    _bisect_arrays(g, idx[best], k1, out, first)
    _bisect_arrays(g, idx[~best], k - k1, out, first + k1)


def bisect(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int) -> dict[Hashable, int]:
    """Recursive bisection of connected ``nodes`` into ``k`` connected parts (node -> part).

    Each cut splits off k // 2 grids' worth of households with a straight line (buildings
    ordered along one of several directions), so the two sides' hulls do not overlap; pieces
    a straight cut leaves disconnected go to the other side. The best balanced cut wins, then
    the one that needed the fewest such repairs, then the cheapest (along streets).
    """
    if k <= 1 or len(nodes) <= 1:
        return dict.fromkeys(nodes, 0)
    g = _Arrays(graph, nodes)
    out = np.zeros(len(nodes), dtype=np.int64)
    _bisect_arrays(g, np.arange(len(nodes)), k, out, 0)
    return dict(zip(g.nodes, out.tolist(), strict=True))


def _connected_without(graph: nx.Graph[Hashable], members: set[Hashable], v: Hashable) -> bool:
    """True when ``members - {v}`` is non-empty and connected in ``graph``."""
    rest = members - {v}
    if not rest:
        return False
    start = next(iter(rest))
    seen = {start}
    stack = [start]
    while stack:
        u = stack.pop()
        for nb in graph[u]:
            if nb in rest and nb not in seen:
                seen.add(nb)
                stack.append(nb)
    return len(seen) == len(rest)


def refine(graph: nx.Graph[Hashable], assignment: dict[Hashable, L], k: int,
           rng: np.random.Generator, *, previous: dict[Hashable, Hashable],
           move_weight: float, tolerance: float) -> dict[Hashable, L]:
    """Local search for re-balancing ``assignment`` (node -> part label); an improved copy.

    A boundary node moves to a neighbouring part when that lowers balance + moves: balance
    counts each part's relative deviation from the mean beyond ``tolerance``, squared; moving
    a node off its ``previous`` label costs ``move_weight`` x its households / mean (at least
    one household: shops and schools should stay put too), moving it back earns as much.
    Parts stay connected; only nodes of ``assignment`` move, only into its parts.
    """
    part = dict(assignment)
    members: dict[L, set[Hashable]] = defaultdict(set)
    for n, p in part.items():
        members[p].add(n)
    w: dict[Hashable, int] = {n: graph.nodes[n]["households"] for n in part}
    load = {p: sum(w[n] for n in ms) for p, ms in members.items()}
    mean = sum(load.values()) / max(k, 1)
    if mean <= 0:
        return part

    def excess(total: float) -> float:
        return max(0.0, abs(total - mean) / mean - tolerance) ** 2

    def delta(v: Hashable, p: L, q: L) -> float:
        bal = (excess(load[p] - w[v]) + excess(load[q] + w[v])
               - excess(load[p]) - excess(load[q]))
        moved = 0.0
        if v in previous:
            moved = move_weight * max(w[v], 1) / mean * ((previous[v] != q) - (previous[v] != p))
        return bal + moved

    for _ in range(MAX_PASSES):
        improved = False
        boundary = [v for v in part if any(part.get(nb, part[v]) != part[v] for nb in graph[v])]
        rng.shuffle(boundary)
        for v in boundary:
            p = part[v]
            options = sorted({part[nb] for nb in graph[v] if nb in part and part[nb] != p},
                             key=str)
            best = -1e-9
            best_q: L | None = None
            for q in options:
                d = delta(v, p, q)
                if d < best:
                    best, best_q = d, q
            if best_q is None or not _connected_without(graph, members[p], v):
                continue
            members[p].discard(v)
            members[best_q].add(v)
            load[p] -= w[v]
            load[best_q] += w[v]
            part[v] = best_q
            improved = True
        if not improved:
            break
    return part


def balance_extremes(graph: nx.Graph[Hashable], assignment: dict[Hashable, L], *,
                     mean: float | None = None, stop_below: float = 0.0,
                     max_rounds: int = 10_000) -> dict[Hashable, L]:
    """Trim the worst deviations: move single boundary buildings between neighbouring grids
    whenever that lowers the larger deviation of the two, worst grid first, keeping every grid
    connected, until the worst deviation from ``mean`` (default: the parts' own mean; the
    community's when given) is within ``stop_below`` (relative). Among the moves, the one
    leaving the pair best balanced wins, then the building nearest the receiving grid."""
    part = dict(assignment)
    members: dict[L, set[Hashable]] = defaultdict(set)
    for n, p in part.items():
        members[p].add(n)
    w: dict[Hashable, int] = {n: graph.nodes[n]["households"] for n in part}
    load = {p: float(sum(w[n] for n in ms)) for p, ms in members.items()}
    mean = mean or sum(load.values()) / len(load)
    if mean <= 0 or len(load) < 2:
        return part
    stuck: set[L] = set()
    for _ in range(max_rounds):
        open_parts = [p for p in load if p not in stuck]
        if not open_parts:
            break
        p = max(open_parts, key=lambda q: abs(load[q] - mean))
        worst = abs(load[p] - mean)
        if worst <= stop_below * mean:
            break
        best: tuple[tuple[float, float], Hashable, L, L] | None = None
        # Candidates in the order of their names (sets iterate in hash order; the first of
        # equally good moves wins).
        for v in sorted(members[p] if load[p] > mean else
                        {nb for u in members[p] for nb in graph[u]
                         if nb in part and part[nb] != p}, key=str):
            src = part[v]
            for nb in graph[v]:
                dst = part.get(nb)
                if dst is None or dst == src or (src != p and dst != p):
                    continue
                after = max(abs(load[src] - w[v] - mean), abs(load[dst] + w[v] - mean))
                if after >= worst - 1e-9:
                    continue
                dist = _distance_to_centre(graph, v, members[dst])
                if ((best is None or (after, dist) < best[0])
                        and _connected_without(graph, members[src], v)):
                    best = ((after, dist), v, src, dst)
        moves = [best[1:]] if best is not None else _chain_move(graph, part, members, load, w,
                                                                 p, mean, worst)
        if not moves:
            stuck.add(p)
            continue
        for v, src, dst in moves:
            members[src].discard(v)
            members[dst].add(v)
            load[src] -= w[v]
            load[dst] += w[v]
            part[v] = dst
        stuck.clear()
    return part


def _chain_move(graph: nx.Graph[Hashable], part: dict[Hashable, L],
                members: dict[L, set[Hashable]], load: dict[L, float], w: dict[Hashable, int],
                p: L, mean: float, worst: float) -> list[tuple[Hashable, L, L]]:
    """Two moves in a row where no single one helps grid ``p``: a building goes between ``p``
    and a neighbour q, which passes the difference on to (or takes it from) a third grid r.
    Returns [(building, from, to), ...], empty when no chain brings the largest deviation of
    the three grids below ``worst``; every grid stays connected."""
    heavy = load[p] > mean
    best: tuple[float, list[tuple[Hashable, L, L]]] | None = None
    for v, q in _boundary_moves(graph, part, members[p], {p}, heavy):
        sign = 1 if heavy else -1  # heavy: v goes p -> q; light: v comes q -> p
        p_after, q_after = load[p] - sign * w[v], load[q] + sign * w[v]
        if abs(p_after - mean) >= worst - 1e-9:
            continue
        q_members = members[q] | {v} if heavy else members[q] - {v}
        for u, r in _boundary_moves(graph, part, q_members, {q, p}, heavy):
            q_end, r_end = q_after - sign * w[u], load[r] + sign * w[u]
            after = max(abs(p_after - mean), abs(q_end - mean), abs(r_end - mean))
            if after >= worst - 1e-9 or (best is not None and after >= best[0]):
                continue
            if _chain_connected(graph, members, p, q, r, v, u, heavy):
                best = (after, [(v, p, q), (u, q, r)] if heavy else [(v, q, p), (u, r, q)])
    return [] if best is None else best[1]


def _boundary_moves(graph: nx.Graph[Hashable], part: dict[Hashable, L], nodes: set[Hashable],
                    skip: set[L], outgoing: bool) -> Iterator[tuple[Hashable, L]]:
    """Distinct (building, grid) pairs across the edge of ``nodes``: one of ``nodes`` going to
    a neighbouring grid not in ``skip`` (``outgoing``), or a building of such a grid next to
    ``nodes`` coming in."""
    seen: set[tuple[Hashable, L]] = set()
    for u in sorted(nodes, key=str):
        for nb in graph[u]:
            other = part.get(nb)
            if other is None or other in skip:
                continue
            pair = (u, other) if outgoing else (nb, other)
            if pair not in seen:
                seen.add(pair)
                yield pair


def _chain_connected(graph: nx.Graph[Hashable], members: dict[L, set[Hashable]], p: L, q: L,
                     r: L, v: Hashable, u: Hashable, heavy: bool) -> bool:
    if heavy:  # v: p -> q, u: q -> r
        return (u != v and _connected_without(graph, members[p], v)
                and _connected_without(graph, members[q] | {v}, u))
    # v: q -> p, u: r -> q
    return (_connected_without(graph, members[q] | {u}, v)
            and _connected_without(graph, members[r], u))


def _distance_to_centre(graph: nx.Graph[Hashable], v: Hashable, nodes: set[Hashable]) -> float:
    """Metres from ``v`` to the mean position of ``nodes`` (summed exactly: the same in any
    order of the set)."""
    cx = math.fsum(graph.nodes[m]["x"] for m in nodes) / len(nodes)
    cy = math.fsum(graph.nodes[m]["y"] for m in nodes) / len(nodes)
    return math.hypot(graph.nodes[v]["x"] - cx, graph.nodes[v]["y"] - cy)


def split(graph: nx.Graph[Hashable], nodes: list[Hashable], k: int,
          mean: float | None = None) -> dict[Hashable, int]:
    """Split connected ``nodes`` into ``k`` contiguous parts; node -> part (0..k-1):
    recursive bisection, then deviations from ``mean`` (the community's mean grid size;
    default the group's own) beyond BALANCE_LIMIT trimmed (:func:`balance_extremes`)."""
    k = min(k, len(nodes))
    if k <= 1:
        return dict.fromkeys(nodes, 0)
    # Trimming below the limit too was measured to cost more hull overlap than it gains.
    return balance_extremes(graph, bisect(graph, nodes, k), mean=mean,
                            stop_below=BALANCE_LIMIT)
