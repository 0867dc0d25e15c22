"""The groups of buildings a community is divided into, and pockets joined across roads.

Barriers and community boundaries cut a community's buildings into connected groups (the
building graph's components, partition.adjacency); each group is divided on its own. A group
too small for a grid of its own (below half the target: a few houses or a school between two
arterial roads) would become an absurd grid. Where only open arterial roads (primary,
secondary: they have crossings) separate such a *pocket* from another group of the same
community, it joins that group whole, across the road: it is contracted into one node linked
to the buildings facing it, so the grid that takes it holds it entire, and the crossing is
listed as a barrier exception. Railways, rivers, water and motorways are never crossed, and
``strict`` (``wangge partition --strict-barriers``) crosses nothing.

Buildings with more households than the target are grids of their own (楼栋网格) and are in
no group. Weights are households; positions metres.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TypeVar

import networkx as nx
import shapely
from shapely.geometry.base import BaseGeometry

from partition.adjacency import STREET_CUT_COST, RoadCrossing, connected_parts, induced_graph
from partition.metrics import SMALL_SHARE as POCKET_SHARE  # a group below it is a pocket

L = TypeVar("L")  # a label (grid id, or the index of a part)
Road = tuple[str | None, str | None]  # an arterial road's type and name
# Join costs (per target) this close to the least are alike: of those groups a pocket joins
# the one whose hull of homes it stretches least over the other groups'. A window of the
# Nanjing extract (3_4 of bench/window_bench.py): a pocket of 135 households spoilt a group
# of 244 by 23 households and a row of 2,647 by 29, joined the 244, and that grid's hull
# spanned a compound of 326 households (hull overlap 5.2%; 0.73% joined to the row). Not
# as far as irregular 2900's 0.08 of a target, where the hull apart brought two grids from
# +-5.7% to +-14.5% (bench/partition_results.md, helper hull, 2026-12-05).
NEAR_JOIN = 0.05


@dataclass
class Crossing:
    """A pocket (``members``: nodes of the community's graph) joined across an open arterial
    road; ``road_type`` and ``road_name`` of the longest shared boundary."""

    members: list[Hashable]
    households: int
    road_type: str | None
    road_name: str | None


@dataclass
class CommunityGroups:
    """One community ready for division: ``graph`` is its buildings' graph with pockets
    contracted; ``groups`` are (nodes of ``graph``, households); ``exceptions``: every pocket
    joined across a road, in the order joined (a pocket may join a pocket)."""

    community: object
    graph: nx.Graph[Hashable]
    building_grids: list[Hashable]
    groups: list[tuple[list[Hashable], int]]
    # pocket node -> its buildings
    contracted: dict[Hashable, list[Hashable]] = field(default_factory=dict)
    exceptions: list[Crossing] = field(default_factory=list)

    def expand(self, labels: dict[Hashable, L]) -> dict[Hashable, L]:
        """Labels of ``graph``'s nodes -> labels of buildings (pockets give theirs to every
        member)."""
        out: dict[Hashable, L] = {}
        for v, label in labels.items():
            out.update(dict.fromkeys(self.contracted.get(v, [v]), label))
        return out


def community_groups(graph: nx.Graph[Hashable], community: object, members: list[Hashable],
                     target: int, strict: bool = False) -> CommunityGroups:
    """The groups of ``community``'s buildings ``members`` (nodes of ``graph``), pockets below
    POCKET_SHARE x ``target`` households joined across open arterial roads unless
    ``strict``."""
    work = induced_graph(graph, members)
    _fold_twins(work, graph.graph.get("twins", []))
    hh = {b: work.nodes[b]["households"] for b in work}
    big = sorted((b for b in work if hh[b] > target), key=str)
    small = [b for b in work if hh[b] <= target]
    comps = connected_parts(work, small)
    if strict:
        return CommunityGroups(community, work, big,
                               [(c, sum(hh[b] for b in c)) for c in comps], _folded(work))
    # Crossings name buildings; a copy folded into another crosses as that one.
    alias = {b: v for v, inside in _folded(work).items() for b in inside}
    crossings: list[RoadCrossing] = [(alias.get(u, u), alias.get(v, v), *rest)
                                     for u, v, *rest in graph.graph.get("crossings", [])]
    # A building grid across the road may take a pocket too (it is then a grid of homes).
    homes = {b: work.nodes[b]["footprint"] for b in work
             if hh[b] > 0 and work.nodes[b].get("footprint") is not None}
    merged, pockets = _join_pockets(crossings, comps + [[b] for b in big], hh, target, homes)
    exceptions = []
    for pocket, into, road in pockets:
        _contract(work, pocket, into, crossings)
        exceptions.append(Crossing(pocket, sum(hh[b] for b in pocket), *road))
    contracted = _folded(work)
    owner = {b: v for v, inside in contracted.items() for b in inside}
    groups = []
    alone = set(big)
    for nodes in merged:
        if len(nodes) == 1 and nodes[0] in alone:
            continue  # a building grid that took no pocket
        kept = {owner.get(b, b) for b in nodes}
        big_here = alone & set(nodes)
        if big_here and sum(hh[b] for b in nodes) == sum(hh[b] for b in big_here):
            # A building grid that took only pockets without homes: still a building grid
            # (counted apart from the mean, one grid); the pockets are a group without
            # households, which joins it (a window of the Nanjing extract: a tower of 1,358
            # households with 216 such buildings was a group of 5 grids, and the mean the
            # community's grids were sized and bound against counted it as five).
            groups.append((sorted(kept - big_here, key=str), 0))
            continue
        alone -= set(nodes)
        groups.append((sorted(kept, key=str), sum(hh[b] for b in nodes)))
    return CommunityGroups(community, work, sorted(alone, key=str), groups, contracted,
                           exceptions)


def _folded(work: nx.Graph[Hashable]) -> dict[Hashable, list[Hashable]]:
    """Nodes standing for several buildings (pockets, twins) -> their buildings."""
    return {v: work.nodes[v]["members"] for v in work if "members" in work.nodes[v]}


def twin_roots(twins: list[tuple[Hashable, Hashable]]) -> dict[Hashable, Hashable]:
    """(building, the building it is divided with) pairs -> building -> the one its set of
    copies is divided as (the first by name of each connected set: a -> b, b -> a and
    c -> b are one set)."""
    copies: nx.Graph[Hashable] = nx.Graph(twins)
    return {v: min(comp, key=str) for comp in nx.connected_components(copies)
            for v in sorted(comp, key=str)}


def _fold_twins(work: nx.Graph[Hashable], twins: list[tuple[Hashable, Hashable]]) -> None:
    """A footprint mapped twice (or overlapping another, partition.territory) is divided as
    one building: the copy is folded into the other (its households added, ``members``
    listing both)."""
    roots = twin_roots(twins)
    for twin, partner in roots.items():
        if twin == partner or twin not in work or partner not in work:
            continue  # the copies lie in different communities: each stays
        data = work.nodes[partner]
        data["households"] += work.nodes[twin]["households"]
        data["members"] = [*data.get("members", [partner]),
                           *work.nodes[twin].get("members", [twin])]
        for nb, edge in work[twin].items():
            if nb != partner and not work.has_edge(partner, nb):
                work.add_edge(partner, nb, **edge)
        work.remove_node(twin)


def _join_pockets(
    crossings: list[RoadCrossing], comps: list[list[Hashable]], hh: dict[Hashable, int],
    target: int, homes: dict[Hashable, BaseGeometry] | None = None,
) -> tuple[list[list[Hashable]], list[tuple[list[Hashable], list[Hashable], Road]]]:
    """Merge each pocket, smallest first, into the group across an open road whose grids it
    spoils least (:func:`_join_cost`, within NEAR_JOIN of the least), then whose hull of
    homes it stretches least over the other groups' (:func:`_hull_growth`; ``homes``:
    footprints of the buildings with homes), then that spoils least, then the longest
    shared boundary. Returns the merged groups and, in merge order,
    (pocket's buildings, the group's buildings it joined, (road type, name))."""
    root = {b: i for i, c in enumerate(comps) for b in c}
    nodes = {i: list(c) for i, c in enumerate(comps)}
    total = {i: sum(hh[b] for b in c) for i, c in enumerate(comps)}
    # Groups holding a building above the target: its grid cannot shed what joins it.
    whole = {i for i, c in enumerate(comps) if any(hh[b] > target for b in c)}
    hulls: dict[int, BaseGeometry] = {}  # group -> hull of homes, made when a tie needs it
    # group pair -> (length, type, name)
    links: dict[tuple[int, int], list[tuple[float, str | None, str | None]]] = defaultdict(list)
    for u, v, length, road_type, road_name in crossings:
        if u in root and v in root and root[u] != root[v]:
            a, b = sorted((root[u], root[v]))
            links[a, b].append((length, road_type, road_name))
    pockets: list[tuple[list[Hashable], list[Hashable], Road]] = []
    stuck: set[int] = set()
    while True:
        small = [i for i in nodes if total[i] < POCKET_SHARE * target and i not in stuck]
        if not small:
            break
        p = min(small, key=lambda i: (total[i], i))
        near = {(b if a == p else a): sum(x[0] for x in found)
                for (a, b), found in links.items() if p in (a, b)}
        if not near:
            stuck.add(p)
            continue
        cost = {i: _join_cost(total[i], total[p], target, i in whole) for i in near}
        least = min(cost.values())
        alike = [i for i in near if cost[i] <= least + NEAR_JOIN]
        growth = dict.fromkeys(alike, 0.0)
        if len(alike) > 1 and any(b in (homes or {}) for b in nodes[p]):
            for i in nodes:
                if i not in hulls:
                    hulls[i] = _hull_of(nodes[i], homes or {})
            growth = {i: _hull_growth(p, i, hulls) for i in alike}
        q = min(alike, key=lambda i: (growth[i], cost[i], -near[i], i))
        key = _pair(p, q)
        road = max(links[key], key=lambda x: x[0])[1:]
        pockets.append((list(nodes[p]), list(nodes[q]), road))
        _merge(p, q, nodes, total, links)
        if p in whole:
            whole.add(q)
        if p in hulls and q in hulls:
            hulls[q] = shapely.convex_hull(shapely.union_all([hulls[q], hulls.pop(p)]))
        else:
            hulls.pop(p, None)
            hulls.pop(q, None)
        stuck.discard(q)
    return [sorted(c, key=str) for c in nodes.values()], pockets


def _hull_of(nodes: list[Hashable], homes: dict[Hashable, BaseGeometry]) -> BaseGeometry:
    """The convex hull of the footprints with homes among ``nodes`` (empty without)."""
    feet = [homes[b] for b in nodes if b in homes]
    return shapely.convex_hull(shapely.union_all(feet)) if feet else shapely.Polygon()


def _hull_growth(p: int, q: int, hulls: dict[int, BaseGeometry]) -> float:
    """Area (m2) by which the hull of homes of groups ``p`` and ``q`` joined covers more of
    the other groups' hulls than the two apart: of the groups a pocket spoils alike, it
    joins the one whose grid then does not reach round another group (irregular
    2903: a pocket of 24 households between two groups of 353 and 358 joined the one whose
    hull then covered 32,420 m2 of the other's)."""
    joined = shapely.convex_hull(shapely.union_all([hulls[p], hulls[q]]))
    box = shapely.envelope(joined)
    others = [h for r, h in sorted(hulls.items())
              if r not in (p, q) and not h.is_empty and h.intersects(box)]
    if not others:
        return 0.0
    grown = shapely.area(shapely.intersection(joined, others)).sum()
    before = (shapely.area(shapely.intersection(hulls[p], others)).sum()
              + shapely.area(shapely.intersection(hulls[q], others)).sum())
    return float(grown - before)


def _split_error(households: float, target: int) -> float:
    """How far from ``target`` the grids of a group of ``households`` must be on average,
    at the best whole number of grids (a pocket joins where that is least)."""
    k = max(1, math.floor(households / target))
    return min(abs(households / c - target) for c in (k, k + 1)) / target


def _join_cost(group: float, pocket: float, target: int, whole: bool = False) -> float:
    """How much a pocket of ``pocket`` households spoils the grids of the group of ``group``
    it joins: the households by which they come further off the target (at the best whole
    number of grids, :func:`_households_off`), per target. A pocket joins where it spoils
    least, not where the grids end nearest the target: a group already off gets the pocket
    that brings it nearer, and a group just on the target is not pushed off (irregular 1205:
    a pocket joining the group wrapped round a ring road made that grid's hull cover the
    ring; 1706). A group that is itself a pocket, or a pocket without homes, is judged by
    how near the target the two come (:func:`_split_error`). A group holding a building
    above the target (``whole``) is spoilt by all the pocket's households: that building's
    grid takes them and cannot shed them (a window of the Nanjing extract: a pocket of
    135 households joined a tower estimated at 1,358, because 1,493 is nearer five grids of
    300 than 1,358 is, and made a grid of 1,493 households)."""
    if pocket <= 0:
        return _split_error(group + pocket, target)
    if whole:
        return pocket / target
    if group < POCKET_SHARE * target:
        return _split_error(group + pocket, target)
    return (_households_off(group + pocket, target) - _households_off(group, target)) / target


def _households_off(households: float, target: int) -> float:
    """Households by which ``households`` is off a whole number (at least 1) of grids of
    ``target``, at the nearest such number."""
    k = max(1, math.floor(households / target))
    return min(abs(households - c * target) for c in (k, k + 1))


def _pair(a: int, b: int) -> tuple[int, int]:
    """The key of the link between groups ``a`` and ``b`` (the smaller first)."""
    return (a, b) if a <= b else (b, a)


def _merge(p: int, q: int, nodes: dict[int, list[Hashable]], total: dict[int, int],
           links: dict[tuple[int, int], list[tuple[float, str | None, str | None]]]) -> None:
    """Group ``p`` joins group ``q``: buildings, households and road links."""
    nodes[q] += nodes.pop(p)
    total[q] += total.pop(p)
    for (a, b) in [key for key in links if p in key]:
        found = links.pop((a, b))
        other = b if a == p else a
        if other != q:
            links.setdefault(_pair(q, other), []).extend(found)


def _contract(work: nx.Graph[Hashable], pocket: list[Hashable], into: list[Hashable],
              crossings: list[RoadCrossing]) -> None:
    """Replace ``pocket``'s buildings (or the pocket nodes holding them) in ``work`` by one
    node linked across the road to the buildings of ``into`` facing it."""
    pocket_set = set(pocket)
    # In the order of the nodes as str (a set's order would change the pocket's centre in
    # its last digits and the order of its edges from one process to the next).
    present = sorted((v for v in work if v in pocket_set or _holds(work, v, pocket_set)),
                     key=str)
    members = [b for v in present for b in work.nodes[v].get("members", [v])]
    node = f"pocket:{min(members, key=str)}:{len(members)}"  # nested pockets grow
    data = [work.nodes[v] for v in present]
    weight = [max(d["households"], 1) for d in data]
    # The footprint of its buildings with homes: what the plan's hulls are made of (a school
    # or a market in the pocket drew the hull of the grid taking it far over its
    # neighbours', which the untangling then took for overlap: Nanjing's grid 9.19, 164,218
    # m2 of homes' hull, was 614,240 m2). Without homes, all of them.
    feet = [d for d in data if d.get("footprint") is not None]
    homes = [d for d in feet if d["households"] > 0] or feet
    work.add_node(node, households=sum(d["households"] for d in data),
                  community=data[0]["community"], members=sorted(members, key=str),
                  x=sum(d["x"] * w for d, w in zip(data, weight, strict=True)) / sum(weight),
                  y=sum(d["y"] * w for d, w in zip(data, weight, strict=True)) / sum(weight),
                  footprint=shapely.union_all([d["footprint"] for d in homes]))
    facing = set(into)
    gone = set(present)
    owner = {b: v for v in work if v not in gone
             for b in work.nodes[v].get("members", [v])}
    inside = set(members)
    for u, v, length, _type, _name in crossings:
        for a, b in ((u, v), (v, u)):
            if a in inside and b in facing and b in owner:
                old = work.get_edge_data(node, owner[b], {"length": 0.0})["length"]
                total = old + length
                work.add_edge(node, owner[b], length=total, street=True,
                              cost=total * STREET_CUT_COST)
    for v in present:
        for nb, edge in work[v].items():
            if nb not in gone and not work.has_edge(node, nb):
                work.add_edge(node, nb, **edge)
    work.remove_nodes_from(present)


def _holds(work: nx.Graph[Hashable], v: Hashable, pocket: set[Hashable]) -> bool:
    return any(b in pocket for b in work.nodes[v].get("members", ()))
