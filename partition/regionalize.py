"""Splitting one connected group of buildings into k balanced, contiguous, compact grids.

Two stages, in the manner of automatic zoning (AZP) and region growing:

1. *Recursive bisection*: a region grown across the group from one side (in several
   directions, a street crossed counting as extra distance) is cut where it holds the right
   share of households; both sides are connected by construction.
2. *Local search*: a boundary building moves to a neighbouring grid when that lowers
   ``balance + COMPACT_WEIGHT * compactness + CUT_WEIGHT * cut`` and its old grid stays
   connected. Balance is the sum of squared relative deviations from the mean grid size.

Coordinates are metres; weights are households.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import networkx as nx
import numpy as np

STREET_PENALTY_M = 40.0
COMPACT_WEIGHT = 0.05
CUT_WEIGHT = 0.05
MAX_PASSES = 60


DIRECTIONS = 8  # cut directions tried per bisection (each from both ends)


def _grow_order(graph: nx.Graph, nodes: set, proj: dict, start) -> list:
    """Nodes of ``nodes`` in the order a region grown from ``start`` takes them: always the
    reachable node lowest along the direction (a street crossed counts as extra distance)."""
    order, seen = [], {start}
    heap = [(proj[start], 0, start)]
    tie = 1
    while heap:
        _, _, v = heapq.heappop(heap)
        order.append(v)
        for nb, data in graph[v].items():
            if nb in nodes and nb not in seen:
                seen.add(nb)
                key = proj[nb] + (STREET_PENALTY_M if data["street"] else 0.0)
                heapq.heappush(heap, (key, tie, nb))
                tie += 1
    return order


def _best_prefix(graph: nx.Graph, order: list, w: dict, goal: float, unit: float) -> int:
    """Length of the prefix of ``order`` whose households come closest to ``goal``; among
    prefixes equally close (within 1% of a grid), the one with the cheapest cut."""
    inside: set = set()
    cum, cut = 0.0, 0.0
    best_len, best_key = 1, (math.inf, math.inf)
    for i, v in enumerate(order[:-1]):
        inside.add(v)
        cum += w[v]
        for nb, data in graph[v].items():
            cut += -data["cost"] if nb in inside else data["cost"]
        key = (round(abs(cum - goal) / (0.01 * unit)), cut)
        if key < best_key:
            best_len, best_key = i + 1, key
    return best_len


def bisect(graph: nx.Graph, nodes: list, k: int) -> dict:
    """Recursive bisection of connected ``nodes`` into ``k`` connected parts (node -> part).

    Each cut splits off k // 2 grids' worth of households by growing a region across the group
    from one side, in several directions, keeping the cut that is best balanced, then cheapest.
    """
    if k <= 1 or len(nodes) <= 1:
        return dict.fromkeys(nodes, 0)
    w = {n: graph.nodes[n]["households"] for n in nodes}
    total = sum(w.values())
    k1 = k // 2
    goal, unit = total * k1 / k, total / k
    members = set(nodes)
    best, best_key = None, (math.inf, math.inf)
    for i in range(DIRECTIONS):
        angle = math.pi * i / DIRECTIONS
        dx, dy = math.cos(angle), math.sin(angle)
        for sign in (1.0, -1.0):
            proj = {n: sign * (graph.nodes[n]["x"] * dx + graph.nodes[n]["y"] * dy)
                    for n in nodes}
            start = min(nodes, key=proj.__getitem__)
            order = _grow_order(graph, members, proj, start)
            cut_at = _best_prefix(graph, order, w, goal, unit)
            side_a = set(order[:cut_at])
            side_a |= _enclosed(graph, members - side_a)
            side_b = members - side_a
            if not side_a or not side_b:
                continue
            weight_a = sum(w[n] for n in side_a)
            cut = sum(d["cost"] for u in side_a for v, d in graph[u].items() if v in side_b)
            key = (round(abs(weight_a - goal) / (0.01 * unit)), cut)
            if key < best_key:
                best, best_key = side_a, key
    if best is None:
        return dict.fromkeys(nodes, 0)
    left = bisect(graph, [n for n in nodes if n in best], k1)
    right = bisect(graph, [n for n in nodes if n not in best], k - k1)
    out = dict(left)
    out.update({n: p + k1 for n, p in right.items()})
    return out


def _enclosed(graph: nx.Graph, rest: set) -> set:
    """Nodes of ``rest`` outside its largest connected part (cut off by the grown side)."""
    parts = list(nx.connected_components(graph.subgraph(rest)))
    if len(parts) <= 1:
        return set()
    largest = max(parts, key=len)
    return set().union(*(p for p in parts if p is not largest))


def _connected_without(graph: nx.Graph, members: set, v) -> bool:
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


def refine(graph: nx.Graph, assignment: dict, k: int, rng: np.random.Generator,
           *, previous: dict | None = None, move_weight: float = 0.0) -> dict:
    """Local search on ``assignment`` (node -> part label); returns an improved copy.

    With ``previous`` (node -> earlier label), moving a node off its earlier label costs
    ``move_weight`` x its households / mean grid size, and moving it back earns as much.
    Only nodes of ``assignment`` move, and only into parts of ``assignment``.
    """
    previous = previous or {}
    part = dict(assignment)
    members: dict[int, set] = defaultdict(set)
    for n, p in part.items():
        members[p].add(n)
    w = {n: graph.nodes[n]["households"] for n in part}
    xs = {n: graph.nodes[n]["x"] for n in part}
    ys = {n: graph.nodes[n]["y"] for n in part}
    load = {p: sum(w[n] for n in ms) for p, ms in members.items()}
    mean = sum(load.values()) / max(k, 1)
    if mean <= 0:
        return part
    count = {p: len(ms) for p, ms in members.items()}
    sx = {p: sum(xs[n] for n in ms) for p, ms in members.items()}
    sy = {p: sum(ys[n] for n in ms) for p, ms in members.items()}
    width = max(xs.values()) - min(xs.values())
    height = max(ys.values()) - min(ys.values())
    radius2 = max(width * height, 1.0) / max(k, 1) / math.pi  # squared radius of a mean grid
    edge_cost = sum(d["cost"] for _, _, d in graph.subgraph(part).edges(data=True)) or 1.0

    def delta(v, p, q) -> float:
        wv = w[v]
        bal = ((load[p] - wv - mean) ** 2 + (load[q] + wv - mean) ** 2
               - (load[p] - mean) ** 2 - (load[q] - mean) ** 2) / mean**2
        x, y = xs[v], ys[v]
        dq = (x - sx[q] / count[q]) ** 2 + (y - sy[q] / count[q]) ** 2
        dp = (x - sx[p] / count[p]) ** 2 + (y - sy[p] / count[p]) ** 2
        comp = (dq - dp) / radius2
        cut = 0.0
        for nb, data in graph[v].items():
            pn = part.get(nb)
            if pn == p:
                cut += data["cost"]
            elif pn == q:
                cut -= data["cost"]
        moved = 0.0
        if v in previous:
            # Buildings without households count as one: shops and schools should stay put too.
            moved = move_weight * max(wv, 1) / mean * ((previous[v] != q) - (previous[v] != p))
        return (bal + COMPACT_WEIGHT * comp / max(count[p], 1) + CUT_WEIGHT * cut / edge_cost
                + moved)

    for _ in range(MAX_PASSES):
        improved = False
        boundary = [v for v in part if any(part.get(nb, part[v]) != part[v] for nb in graph[v])]
        rng.shuffle(boundary)
        for v in boundary:
            p = part[v]
            options = {part[nb] for nb in graph[v] if nb in part and part[nb] != p}
            best, best_q = -1e-9, None
            for q in options:
                d = delta(v, p, q)
                if d < best:
                    best, best_q = d, q
            if best_q is None or not _connected_without(graph, members[p], v):
                continue
            q = best_q
            members[p].discard(v)
            members[q].add(v)
            load[p] -= w[v]
            load[q] += w[v]
            count[p] -= 1
            count[q] += 1
            sx[p] -= xs[v]
            sy[p] -= ys[v]
            sx[q] += xs[v]
            sy[q] += ys[v]
            part[v] = q
            improved = True
        if not improved:
            break
    return part


def split(graph: nx.Graph, nodes: list, k: int, *, seed: int = 0) -> dict:
    """Split connected ``nodes`` into ``k`` contiguous parts; node -> part (0..k-1)."""
    if k <= 1 or len(nodes) <= 1:
        return dict.fromkeys(nodes, 0)
    k = min(k, len(nodes))
    rng = np.random.default_rng(seed)
    return refine(graph, bisect(graph, nodes, k), k, rng)
