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
   beyond BALANCE_LIMIT are then trimmed by single moves (regionalize.balance_extremes).

A grid keeps its code when it keeps its label (most of its buildings); new grids get the next
free sequence number of their community.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable

import networkx as nx
import numpy as np
import pandas as pd

from partition.adjacency import connected_parts
from partition.metrics import BALANCE_LIMIT
from partition.regionalize import balance_extremes, bisect, refine, split
from partition.untangle import untangle

MOVE_WEIGHT = 0.1
# Deviations within this share of the mean grid size are left alone when re-balancing.
TOLERANCE = 0.10


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
                    seed: int = 0, mean: float | None = None) -> dict[Hashable, Hashable]:
    """Labels for one connected group of non-locked buildings.

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
    return balance_extremes(graph, labels, mean=mean, stop_below=BALANCE_LIMIT)


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
