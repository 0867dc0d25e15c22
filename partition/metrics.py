"""Plan metrics and the checks of the hard rules.

Every function takes metric-CRS GeoDataFrames (metres, square metres). Deviation is relative
to the mean grid size of the grid's community, in percent.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.ops import polygonize, unary_union

from gis.barriers import barrier_lines, crossable

# Households per grid when the caller gives none (command line, service, benchmarks).
DEFAULT_TARGET = 300
# The balance rule: a grid's households within 15% of its community's mean grid size. Defined
# here only; the balancing steps, the plan summary, the maps' colours and the messages use it.
BALANCE_LIMIT_PCT = 15.0
BALANCE_LIMIT = BALANCE_LIMIT_PCT / 100  # the same as a share (0.15)


def polsby_popper(geoms: gpd.GeoSeries) -> pd.Series:
    """4 pi area / perimeter^2: 1 for a circle, near 0 for a sliver."""
    perim = geoms.length.replace(0, np.nan)
    return (4 * math.pi * geoms.area / perim**2).fillna(0.0)


SMALL_SHARE = 0.5  # a grid below this share of the target is sized by what cuts it off


def deviations(grids: gpd.GeoDataFrame, target: float | None = None) -> pd.Series:
    """Households' deviation from the community's mean grid size, percent.

    The mean is over the grids the plan sizes: not grids without households (land cut off by
    barriers), nor building grids (``kind`` "building": one building above the target, sized
    by the building), nor, given ``target``, grids below SMALL_SHARE of it (a few homes a
    river or railway cuts off, sized by that); those count only where a community has no
    other grid. Every grid's deviation is measured from that mean."""
    mean = grids["community"].map(community_means(grids, target))
    return ((grids["households"] - mean) / mean.replace(0, np.nan) * 100).fillna(0.0)


def community_means(grids: gpd.GeoDataFrame, target: float | None = None) -> pd.Series:
    """Per community, the mean households of the grids the plan sizes (see
    :func:`deviations`)."""
    counted = grids["households"] > 0
    regular = counted.copy()
    if "kind" in grids:
        regular &= grids["kind"] != "building"
    if target is not None:
        regular &= grids["households"] >= SMALL_SHARE * target
    has_regular = regular.groupby(grids["community"]).transform("any")
    counted = regular | (counted & ~has_regular)
    return grids["households"].where(counted).groupby(grids["community"]).mean()


def contiguous(graph: nx.Graph[Hashable], buildings: gpd.GeoDataFrame,
               crossing_grids: frozenset[Hashable] = frozenset()) -> pd.Series:
    """Per grid: are its buildings connected through its own cells (graph restricted to it)?
    Twins (footprints that overlap or share a wall, divided as one: partition.territory)
    are connected; grids in ``crossing_grids`` (a pocket joined across an open arterial
    road, partition.groups) may also connect across such a road."""
    out: dict[Hashable, bool] = {}
    crossings = graph.graph.get("crossings", [])
    twins = graph.graph.get("twins", [])
    for grid, members in buildings.groupby("grid_id").groups.items():
        inside = set(members)
        sub = nx.Graph(graph.subgraph(members))
        sub.add_edges_from((u, v) for u, v in twins if u in inside and v in inside)
        if grid in crossing_grids:
            sub.add_edges_from((u, v) for u, v, *_ in crossings if u in inside and v in inside)
        out[grid] = len(members) <= 1 or nx.is_connected(sub)
    return pd.Series(out, dtype=bool)


def polygon_pieces(geoms: gpd.GeoSeries, min_area: float) -> pd.Series:
    """Per polygon: its parts of at least ``min_area`` m² (1 for a grid in one piece)."""
    return pd.Series([sum(p.area >= min_area for p in shapely.get_parts(g)) for g in geoms],
                     index=geoms.index, dtype=int)


def overlap_area(geoms: gpd.GeoSeries) -> float:
    """Area (m²) where two of ``geoms`` overlap, pair by pair (a place under three counts
    thrice; for grids that should tile, any overlap is a fault)."""
    values = geoms.values
    tree = shapely.STRtree(values)
    a, b = tree.query(values, predicate="overlaps")
    keep = a < b
    if not keep.any():
        return 0.0
    return float(shapely.area(shapely.intersection(values[a[keep]], values[b[keep]])).sum())


def outside_own_grid(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                     tolerance: float = 0.01) -> pd.Series:
    """Per building with a grid: does it lie outside its grid's polygon, that is its
    representative point outside (``tolerance`` metres allowed) and less than half its
    footprint inside? (A footprint overlapping another building's may have its point in the
    other's cell.)"""
    placed = buildings[buildings["grid_id"].notna()]
    polygon = dict(zip(grids["grid_id"], grids.geometry, strict=True))
    shapes = np.array([polygon.get(g, shapely.Polygon()) for g in placed["grid_id"]],
                      dtype=object)
    feet = placed.geometry.values
    inside = shapely.dwithin(shapes, shapely.point_on_surface(feet), tolerance)
    out = np.flatnonzero(~inside)
    if len(out):
        share = shapely.area(shapely.intersection(shapes[out], feet[out])) / np.maximum(
            shapely.area(feet[out]), 1e-9)
        inside[out] = share >= 0.5
    return pd.Series(~inside, index=placed.index)


def community_violations(buildings: gpd.GeoDataFrame) -> pd.Series:
    """Per grid: does it hold buildings of more than one community?"""
    return buildings.groupby("grid_id")["community"].nunique() > 1


def barrier_violations(
    grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame,
    crossing_grids: frozenset[Hashable] = frozenset(),
) -> pd.Series:
    """Per grid: does a barrier cut its polygon into parts that each hold residential buildings?

    Independent of how the plan was made: the grid polygon is split along every barrier line
    (and water shore) that crosses it, and the residential buildings are located in the parts.
    Grids in ``crossing_grids`` (barrier exceptions, partition.groups) are checked against
    the barriers that are not open arterial roads.
    """
    out = pd.Series(False, index=grids["grid_id"].values)
    if barriers.empty:
        return out
    lines = barrier_lines(barriers.geometry)
    if crossing_grids and {"kind", "type"} <= set(barriers.columns):
        closed = barriers[~crossable(barriers["kind"], barriers["type"])]
        strict = barrier_violations(grids[grids["grid_id"].isin(crossing_grids)], buildings,
                                    closed)
        rest = barrier_violations(grids[~grids["grid_id"].isin(crossing_grids)], buildings,
                                  barriers)
        return pd.concat([strict, rest]).reindex(out.index)
    tree = shapely.STRtree(lines)
    resid = buildings[buildings["residential"]]
    points = resid.geometry.representative_point().values
    # Positions, not get_group: pandas 3 raises KeyError for the one group of a one-row
    # GeoSeries (an area with a single building with homes).
    by_grid = resid.groupby("grid_id").indices
    for grid_id, poly in zip(grids["grid_id"], grids.geometry, strict=True):
        hits = tree.query(poly, predicate="intersects")
        if len(hits) == 0 or grid_id not in by_grid:
            continue
        cut = shapely.intersection(lines[hits], poly)
        faces = list(polygonize(unary_union([poly.boundary, *cut])))
        faces = [f for f in faces if poly.contains(f.representative_point())]
        if len(faces) <= 1:
            continue
        pts = points[by_grid[grid_id]]
        occupied = {i for i, f in enumerate(faces) for p in pts if f.covers(p)}
        out[grid_id] = len(occupied) > 1
    return out


def hull_overlap_share(buildings: gpd.GeoDataFrame, group_col: str = "grid_id",
                       within: str | None = None) -> float:
    """Area covered by the convex hulls of two or more groups' buildings, as a share of the
    area covered by any hull (0 = groups do not interleave). With ``within`` (a column, e.g.
    "community"), only hulls of groups with the same value count as overlapping: grids of
    two communities interleave where the community boundary does, which no plan chooses."""
    hulls = buildings.groupby(group_col).geometry.apply(
        lambda g: shapely.convex_hull(shapely.union_all(g.values)))
    owner = None
    if within is not None:
        owner = buildings.groupby(group_col)[within].first().reindex(hulls.index).to_numpy()
    return overlap_share(hulls.values, owner)


def overlap_share(hulls: np.ndarray, owner: np.ndarray | None = None) -> float:
    """Area covered by two or more of ``hulls`` (geometries), as a share of the area any of
    them covers; with ``owner`` (a value per hull), only hulls with the same owner count as
    overlapping. Hulls without area (one building, points in a line) are left out."""
    keep_area = shapely.area(hulls) > 0
    hulls = hulls[keep_area]
    if len(hulls) < 2:
        return 0.0
    a, b = shapely.STRtree(hulls).query(hulls, predicate="intersects")
    keep = a < b
    if owner is not None:
        owner = owner[keep_area]
        keep &= owner[a] == owner[b]
    pieces = shapely.intersection(hulls[a[keep]], hulls[b[keep]])
    overlap = shapely.union_all(pieces).area if len(pieces) else 0.0
    return float(overlap / shapely.union_all(hulls).area)


def deviation_lower_bound(sizes: list[int], mean: float) -> float:
    """A lower bound (percent) on the largest deviation any grid of this group must have.

    Two facts bound it, and the larger holds: every grid's households are a sum of whole
    buildings, so some grid of the group holds a subset sum s of ``sizes`` and no subset sum
    closer to ``mean`` exists than the best one (:func:`subset_sum_bound`); and the group
    (cut off by barriers) is divided among a whole number k of grids, one of which holds at
    least, and one at most, the group's total / k, so some grid deviates at least
    |total / k - mean| for the best k (:func:`division_bound`).
    """
    return max(subset_sum_bound(sizes, mean), division_bound(sizes, mean))


def subset_sum_bound(sizes: list[int], mean: float) -> float:
    """The least deviation (percent) from ``mean`` of any sum of some of ``sizes`` (the
    households of a group's buildings): every grid of the group holds such a sum, so each
    of its grids deviates at least this much, not only one."""
    sizes = [int(s) for s in sizes if s > 0]
    if not sizes or mean <= 0:
        return 0.0
    reachable = 1  # bit i set: some subset of sizes sums to i
    for s in sizes:
        reachable |= reachable << s
    sums = [i for i, bit in enumerate(bin(reachable)[:1:-1]) if bit == "1" and i > 0]
    return 100.0 * min(abs(s - mean) for s in sums) / mean


def division_bound(sizes: list[int], mean: float, least_grid: float = 0.0) -> float:
    """The least deviation (percent) from ``mean`` of the group's total divided among a
    whole number of grids: one grid of the group deviates at least this much.

    ``least_grid``: the fewest households a grid of the group may hold when it has more
    than one (SMALL_SHARE of the target: a grid below it needs a barrier to every
    neighbour, and none crosses a group), which caps the count: a community of pockets
    whose mean is a few dozen households cannot have its pocket of 70 split into two."""
    sizes = [int(s) for s in sizes if s > 0]
    if not sizes or mean <= 0:
        return 0.0
    total = sum(sizes)
    most = max(1, min(len(sizes), int(total // least_grid) if least_grid > 0 else len(sizes)))
    # |total / k - mean| falls then rises with k: the best k is next to total / mean.
    near = int(total // mean)
    counts = {min(max(k, 1), most) for k in (near, near + 1)}
    return 100.0 * min(abs(total / k - mean) for k in counts) / mean


def adjacency_bounds(graph: nx.Graph[Hashable], nodes: list[Hashable],
                     mean: float) -> dict[Hashable, float]:
    """Per building of a group (``nodes``, connected, no grid beyond them), a lower bound
    (percent) on the deviation of whichever grid holds it, from the buildings next to it.

    A grid is connected: the grid holding building v is v alone (with buildings without
    households) or reaches, through buildings without households, some other building with
    households; its load is then at least v's households plus the smallest such neighbour's
    (delta). So it deviates at least min(|h_v - mean|, max(0, h_v + delta - mean)). This
    sees what sizes alone cannot: a 156-household building whose only neighbours hold 264 and
    282 households is in a grid of 156 or of 420 and more, 45% off a mean of 286.
    """
    if mean <= 0:
        return dict.fromkeys(nodes, 0.0)
    inside = set(nodes)
    w: dict[Hashable, int] = {v: graph.nodes[v]["households"] for v in nodes}
    out: dict[Hashable, float] = {}
    for v in nodes:
        if w[v] <= 0:
            out[v] = 0.0
            continue
        delta = _smallest_next(graph, v, inside, w)
        alone = abs(w[v] - mean)
        joined = math.inf if delta is None else max(0.0, w[v] + delta - mean)
        out[v] = 100.0 * min(alone, joined) / mean
    return out


def _smallest_next(graph: nx.Graph[Hashable], v: Hashable, inside: set[Hashable],
                   w: dict[Hashable, int]) -> float | None:
    """The fewest households of a building with households reachable from v through
    buildings without households (None: there is none)."""
    seen, stack = {v}, [v]
    best: int | None = None
    while stack:
        for u in graph[stack.pop()]:
            if u in inside and u not in seen:
                seen.add(u)
                if w[u] > 0:
                    best = w[u] if best is None else min(best, w[u])
                else:
                    stack.append(u)
    return best


def connected_sets_bound(graph: nx.Graph[Hashable], v: Hashable, inside: set[Hashable],
                         mean: float, limit: float, cap: float = 2.0,
                         max_sets: int = 500) -> float | None:
    """The least deviation (percent) of any connected set of ``inside`` holding building v:
    a lower bound on the deviation of the grid that holds v, tighter than
    :func:`adjacency_bounds` (which looks one building further only).

    Sets are grown from {v} one neighbour at a time while their households stay within
    ``cap`` x ``limit`` above the mean; those beyond deviate more than that anyway. Returns
    None, knowing nothing better, when some set comes within ``limit`` of the mean or there
    are more than ``max_sets`` sets to look at.
    """
    nodes = graph.nodes
    ceiling = mean * (1 + cap * limit)
    start = frozenset([v])
    seen = {start}
    frontier: list[tuple[frozenset[Hashable], int]] = [(start, nodes[v]["households"])]
    best = ceiling - mean
    while frontier:
        grown: list[tuple[frozenset[Hashable], int]] = []
        for members, load in frontier:
            best = min(best, abs(load - mean))
            if best <= limit * mean:
                return None
            for u in {nb for m in members for nb in graph[m] if nb in inside} - members:
                after = load + nodes[u]["households"]
                if after <= ceiling:
                    bigger = members | {u}
                    if bigger not in seen:
                        seen.add(bigger)
                        grown.append((bigger, after))
            if len(seen) > max_sets:
                return None
        frontier = grown
    return 100.0 * best / mean


def least_deviation_sum(building_grids: list[int], group_totals: list[float], grids: int,
                        mean: float) -> float:
    """The least sum of |households - mean| (households) over a community's ``grids`` grids
    with households that the hard rules allow.

    A building above the target is a grid of its own and deviates |size - mean| whatever
    else happens; a group cut off by barriers (total T) is divided among k >= 1 grids of
    its own, whose deviations add up to at least |T - k x mean|; the remaining grids are
    shared among the groups. |T - k x mean| is convex in k, so handing out the grids one at
    a time to the group whose sum falls most is optimal.
    """
    fixed = sum(abs(size - mean) for size in building_grids)
    spare = grids - len(building_grids) - len(group_totals)
    if spare < 0 or mean <= 0:
        return fixed  # fewer grids than groups: not a plan the rules allow at this count
    counts = [1] * len(group_totals)
    for _ in range(spare if group_totals else 0):
        gain = [abs(t - k * mean) - abs(t - (k + 1) * mean)
                for t, k in zip(group_totals, counts, strict=True)]
        counts[int(np.argmax(gain))] += 1
    return fixed + sum(abs(t - k * mean) for t, k in zip(group_totals, counts, strict=True))
