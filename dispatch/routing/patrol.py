"""Street patrols: walk every street of a grid from the worker's base and back.

This is the rural postman problem on the undirected walk network. Frederickson's heuristic
comes first: the grid's streets, linked by the shortest connections between their parts (a
minimum spanning tree), made even by the cheapest T-join of their odd-degree junctions
(``WalkNetwork.cheapest_t_join``, exact), then walked as an Euler circuit from the base. When
the streets form one piece with the base, that walk meets the Chinese-postman bound and is
optimal. Otherwise an exact integer model (OR-Tools CP-SAT) chooses how many extra passes (0-2)
each street gets so that every junction has even degree, minimising metres walked, with
connectivity added as cuts (at least two passes across the edge of every part that is cut off)
until the chosen streets form one walk with the base. On networks of up to 5,000 streets the
model sees all of them and its proven bound is reported with the route; on larger ones it sees
a band around the grid and claims no bound. The shorter of the two walks is kept.

The Chinese-postman bound is reported too: the streets' own length plus the cheapest T-join of
their odd-degree junctions over the whole network. It ignores that a grid's streets may lie in
several pieces that must be linked, so on such grids even the optimum lies above it.
A grid's streets include those along its boundary (:func:`grid_streets`).
Lengths are metres, coordinates the walk graph's metric CRS.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from ortools.sat.python import cp_model
from shapely.geometry import LineString, MultiPoint
from shapely.geometry.base import BaseGeometry

from dispatch.routing.network import WalkNetwork, walk_seconds

SHIFT_HOURS = 2.0
WHOLE_NETWORK_EDGES = 5000  # up to this size the exact model sees every street
BAND_M = 300.0  # on larger networks, the streets this far from the grid's streets
EXACT_SECONDS = 2.0  # time for the exact model per grid
BOUNDARY_M = 10.0  # streets this close along a grid's boundary are its streets too
MAX_CUT_ROUNDS = 500

Edge = tuple[Hashable, Hashable]  # a street as the pair of its end nodes


@dataclass
class PatrolRoute:
    """A closed street patrol from a base node.

    Attributes:
        base: the base's nearest network node, where every day starts and ends.
        required: the streets to patrol, as node pairs.
        nodes: the closed walk as a node sequence (first and last are ``base``).
        length_m: length of the walk (m).
        required_m: length of the streets themselves (m).
        lower_bound_m: the best lower bound known (m): the exact model's proven bound where it
            ran, else the Chinese-postman bound.
        postman_bound_m: the Chinese-postman lower bound (m).
        optimal: the exact model proved this route the shortest over the nearby streets.
        days: the walk cut into shifts, each a closed node sequence from the base.
    """

    base: Hashable
    required: list[Edge]
    nodes: list[Hashable]
    length_m: float
    required_m: float
    lower_bound_m: float
    postman_bound_m: float
    optimal: bool
    days: list[list[Hashable]] = field(default_factory=list)

    @property
    def gap_to_bound(self) -> float:
        """How much longer than the lower bound the route is, as a fraction (0.03 = 3%)."""
        return self.length_m / self.lower_bound_m - 1 if self.lower_bound_m else 0.0


def grid_streets(net: WalkNetwork, polygon: BaseGeometry,
                 boundary_m: float = BOUNDARY_M) -> list[Edge]:
    """The streets a grid's worker patrols (node pairs): those whose midpoint lies in
    ``polygon`` (metric CRS) and those running along its boundary, every point within
    ``boundary_m`` of it.

    Grid boundaries follow streets, so a boundary street's midpoint falls on one side or the
    other by a few centimetres; without the second rule a grid's streets would lose their
    ring and fall apart into pieces that the patrol must link by walking through the
    neighbours' streets anyway. A boundary street is thus patrolled from both sides.
    """
    edges: list[tuple[Hashable, Hashable, LineString]] = list(net.graph.edges(data="geometry"))
    if not edges:
        return []
    lines = [g for _, _, g in edges]
    mids = shapely.line_interpolate_point(lines, 0.5, normalized=True)
    inside = shapely.covers(polygon, mids)
    if boundary_m > 0:
        inside |= shapely.covers(polygon.buffer(boundary_m), lines)
    return [(u, v) for (u, v, _), keep in zip(edges, inside, strict=True) if keep]


def _odd_nodes(multi: nx.MultiGraph[Hashable]) -> list[Hashable]:
    return sorted((n for n, d in multi.degree() if d % 2), key=str)


def postman_lower_bound(net: WalkNetwork, required: list[Edge]) -> float:
    """Streets' length plus the cheapest T-join of their odd-degree junctions (m)."""
    _, extra = net.cheapest_t_join(_odd_nodes(nx.MultiGraph(required)))
    return _length(net, required) + extra


def _length(net: WalkNetwork, edges: list[Edge]) -> float:
    return float(sum(net.graph.edges[u, v]["length"] for u, v in edges))


def _add_path(multi: nx.MultiGraph[Hashable], net: WalkNetwork, a: Hashable,
              b: Hashable) -> None:
    path = net.shortest_path(a, b)
    multi.add_edges_from(itertools.pairwise(path))


def _connect_parts(multi: nx.MultiGraph[Hashable], net: WalkNetwork) -> None:
    """Link the parts of ``multi`` by the shortest connections of a spanning tree over them."""
    parts = [sorted(p, key=str) for p in nx.connected_components(multi)]
    if len(parts) < 2:
        return
    # Distance from every part to every node, then the closest pair of nodes between parts.
    links: nx.Graph[int] = nx.Graph()
    for i, part in enumerate(parts):
        dist = net.node_distances(part)
        for j in range(i + 1, len(parts)):
            cols = [net.index[n] for n in parts[j]]
            sub = dist[:, cols]
            a, b = np.unravel_index(np.argmin(sub), sub.shape)
            if np.isfinite(sub[a, b]):
                links.add_edge(i, j, weight=sub[a, b], ends=(part[a], parts[j][b]))
    for i, j in nx.minimum_spanning_edges(links, data=False):
        _add_path(multi, net, *links.edges[i, j]["ends"])


def _drop_extra_passes(multi: nx.MultiGraph[Hashable]) -> None:
    """Remove pairs of passes over an edge walked three or more times (parity is kept)."""
    counts = Counter(tuple(sorted((u, v), key=str)) for u, v in multi.edges())
    for (u, v), n in counts.items():
        while n >= 3:
            multi.remove_edge(u, v)
            multi.remove_edge(u, v)
            n -= 2


def _edge_key(u: Hashable, v: Hashable) -> Edge:
    return (u, v) if str(u) <= str(v) else (v, u)


def _band_edges(net: WalkNetwork, nodes: set[Hashable], band_m: float | None) -> list[Edge]:
    """Street edges within ``band_m`` of the hull of ``nodes``; all of them for None."""
    if band_m is None:
        return [_edge_key(u, v) for u, v in net.graph.edges()]
    hull = MultiPoint([net.xy(n) for n in nodes]).convex_hull.buffer(band_m)
    xy = np.array([net.xy(n) for n in net.nodes])
    near = shapely.contains_xy(hull, xy[:, 0], xy[:, 1])
    keep = {n for n, k in zip(net.nodes, near, strict=True) if k} | nodes
    return [_edge_key(u, v) for u, v in net.graph.subgraph(keep).edges()]


def _exact_extra_passes(net: WalkNetwork, required: list[Edge], base: Hashable,
                        seconds: float) -> tuple[list[Edge] | None, float]:
    """Optimal extra passes, and the proven lower bound (m).

    Returns (edges to walk once more, each listed per pass; bound). The edges are None when the
    model did not prove a connected optimum within ``seconds``; the bound is then the last
    proven one (0 when none). Networks of up to ``WHOLE_NETWORK_EDGES`` streets are modelled
    whole, so the bound holds for any walk. On larger ones the model sees the streets within
    ``BAND_M`` of the grid's (four times that when those cannot link them): the route is then
    the best within the band and no bound is claimed, since a walk leaving it could be shorter.
    """
    if net.graph.number_of_edges() <= WHOLE_NETWORK_EDGES:
        extra, bound, _ = _exact_in_band(net, required, base, seconds, None)
        return extra, bound
    extra = None
    for band_m in (BAND_M, 4 * BAND_M):
        extra, _, linked = _exact_in_band(net, required, base, seconds, band_m)
        if linked:
            break
    return extra, 0.0


def _exact_in_band(net: WalkNetwork, required: list[Edge], base: Hashable, seconds: float,
                   band_m: float | None) -> tuple[list[Edge] | None, float, bool]:
    """One exact model over the streets within ``band_m`` (None: all); the flag is False when
    the streets cannot link the grid's."""
    required_keys = {_edge_key(u, v) for u, v in required}
    edges = _band_edges(net, {n for e in required for n in e} | {base}, band_m)
    model = cp_model.CpModel()
    passes = {e: model.new_int_var(0, 2, "") for e in edges}
    incident: dict[Hashable, list[cp_model.IntVar]] = {}
    for e in edges:
        for n in e:
            incident.setdefault(n, []).append(passes[e])
    required_degree = Counter(n for e in required_keys for n in e)
    for n, terms in incident.items():
        half = model.new_int_var(0, len(terms) + required_degree[n], "")
        model.add(sum(terms) + required_degree[n] == 2 * half)
    # Lengths floored to decimetres, so the proven bound never exceeds the true optimum.
    decimetres = {e: int(net.graph.edges[e]["length"] * 10) for e in edges}
    model.minimize(sum(decimetres[e] * passes[e] for e in edges))

    def cut_off(parts: list[set[Hashable]]) -> None:
        for part in parts:
            model.add(sum(passes[e] for e in edges if (e[0] in part) != (e[1] in part)) >= 2)

    support: nx.Graph[Hashable] = nx.Graph(list(required_keys))
    support.add_node(base)
    parts = list(nx.connected_components(support))
    if len(parts) > 1:
        cut_off(parts)
    bound = 0.0
    deadline = seconds
    for _ in range(MAX_CUT_ROUNDS):
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.max_time_in_seconds = max(deadline, 0.01)
        status = solver.solve(model)
        deadline -= solver.wall_time
        if status == cp_model.INFEASIBLE:
            return None, 0.0, False  # the band cannot link the grid's streets
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, bound, True
        bound = max(bound, solver.best_objective_bound / 10)
        chosen = [e for e in edges for _ in range(solver.value(passes[e]))]
        support = nx.Graph(list(required_keys) + chosen)
        support.add_node(base)
        parts = list(nx.connected_components(support))
        if len(parts) == 1:
            return (chosen if status == cp_model.OPTIMAL else None), bound, True
        if deadline <= 0:
            return None, bound, True
        cut_off(parts)
    return None, bound, True


def _heuristic_extra_passes(net: WalkNetwork, required: list[Edge],
                            base: Hashable) -> list[Edge]:
    """Frederickson: connect the parts by a spanning tree, then the cheapest T-join."""
    multi: nx.MultiGraph[Hashable] = nx.MultiGraph(required)
    multi.add_node(base)
    _connect_parts(multi, net)
    join, _ = net.cheapest_t_join(_odd_nodes(multi))
    multi.add_edges_from(join)
    _drop_extra_passes(multi)
    extra = Counter(_edge_key(u, v) for u, v in multi.edges())
    extra.subtract(_edge_key(u, v) for u, v in required)
    return [e for e, n in extra.items() for _ in range(n)]


def patrol_route(net: WalkNetwork, required: list[Edge], base_xy: tuple[float, float],
                 shift_m: float | None = None, exact_seconds: float = EXACT_SECONDS
                 ) -> PatrolRoute:
    """The patrol over ``required`` streets from the base at ``base_xy`` (metric CRS) and back.

    Args:
        net: the walk network.
        required: street edges to cover, e.g. from :func:`grid_streets`.
        base_xy: the worker's base (home or service station), snapped to the nearest node.
        shift_m: longest walk per day (m); default 2 h at 4 km/h. Longer routes are cut into
            days, each from the base and back.
        exact_seconds: time for the exact model; 0 uses the heuristic alone.
    """
    (base,), _ = net.snap([base_xy[0]], [base_xy[1]])
    shift_m = shift_m if shift_m is not None else SHIFT_HOURS * 4000.0
    if not required:
        return PatrolRoute(base, [], [base], 0.0, 0.0, 0.0, 0.0, True, [[base]])
    required = [_edge_key(u, v) for u, v in required]
    required_m = _length(net, required)
    postman = postman_lower_bound(net, required)
    # Frederickson's heuristic first: when its walk meets the postman bound (streets in one
    # piece with the base), it is optimal and the exact model is not needed.
    extra = _heuristic_extra_passes(net, required, base)
    length = required_m + _length(net, extra)
    proven, optimal_by_model = 0.0, False
    if length > _with_tolerance(postman, required, extra) and exact_seconds > 0:
        exact, proven = _exact_extra_passes(net, required, base, exact_seconds)
        optimal_by_model = exact is not None
        if exact is not None and required_m + _length(net, exact) < length:
            extra = exact
    multi: nx.MultiGraph[Hashable] = nx.MultiGraph(required + extra)
    multi.add_node(base)
    walk = [base] + [v for _, v in nx.eulerian_circuit(multi, source=base)]
    length = net.path_length(walk)
    bound = max(postman, required_m + proven)
    optimal = optimal_by_model or length <= _with_tolerance(bound, required, extra)
    return PatrolRoute(base, required, walk, length, required_m, bound, postman, optimal,
                       split_days(net, walk, shift_m))


def _with_tolerance(bound_m: float, required: list[Edge], extra: list[Edge]) -> float:
    """``bound_m`` plus what flooring each street's length to centimetres may have cut off:
    a walk within it is optimal."""
    return bound_m + 0.01 * (len(required) + len(extra))


def split_days(net: WalkNetwork, walk: list[Hashable], shift_m: float) -> list[list[Hashable]]:
    """Cut a closed walk into days of at most ``shift_m`` metres, each from the base and back.

    A day ends at the last node from which the walk back to the base still fits; a single
    street longer than a shift makes a day of its own.
    """
    base = walk[0]
    back = net.node_distances([base])[0]  # undirected: distance to the base = from it
    days: list[list[Hashable]] = []
    start = 0
    while start < len(walk) - 1:
        lead = net.shortest_path(base, walk[start])
        used = net.path_length(lead)
        end = start
        while end < len(walk) - 1:
            step = net.graph.edges[walk[end], walk[end + 1]]["length"]
            if end > start and used + step + back[net.index[walk[end + 1]]] > shift_m:
                break
            used += step
            end += 1
        home = net.shortest_path(walk[end], base)
        days.append(lead[:-1] + walk[start:end + 1] + home[1:])
        start = end
    return days


def community_areas(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each community's area (its grids merged), with ``grid_id`` = the community, for
    :func:`patrol_routes`: the route of the community's patrol team (网格巡查队), which walks
    every street of the community."""
    areas = grids[["community", "geometry"]].dissolve("community").reset_index()
    areas["grid_id"] = areas["community"]
    return areas[["grid_id", "community", "geometry"]]


def patrol_routes(net: WalkNetwork, grids: gpd.GeoDataFrame,
                  bases: dict[Hashable, tuple[float, float]], shift_m: float | None = None,
                  progress: Callable[[Hashable], object] | None = None) -> gpd.GeoDataFrame:
    """One patrol per grid.

    Args:
        net: the walk network.
        grids: grid polygons with ``grid_id``, in the network's metric CRS.
        bases: grid_id -> (x, y) of the responsible worker's base (metric CRS); grids without
            one start from the network node nearest their centroid.
        shift_m: longest walk per day (m), default 2 h at 4 km/h.
        progress: called with each grid_id when its route is done.

    Returns:
        GeoDataFrame in the network's CRS: grid_id, length_m, required_m, lower_bound_m,
        postman_bound_m, optimal, gap_pct (to lower_bound_m), days, minutes (at 4 km/h),
        geometry (the walk as a LineString).
    """
    rows = []
    for grid_id, polygon in zip(grids["grid_id"], grids.geometry, strict=True):
        required = grid_streets(net, polygon)
        base_xy = bases.get(grid_id, (polygon.centroid.x, polygon.centroid.y))
        route = patrol_route(net, required, base_xy, shift_m)
        rows.append({
            "grid_id": grid_id, "length_m": round(route.length_m, 1),
            "required_m": round(route.required_m, 1),
            "lower_bound_m": round(route.lower_bound_m, 1),
            "postman_bound_m": round(route.postman_bound_m, 1), "optimal": route.optimal,
            "gap_pct": round(100 * route.gap_to_bound, 2), "days": len(route.days),
            "minutes": round(float(walk_seconds(route.length_m)) / 60, 1),
            "geometry": net.path_geometry(route.nodes) or LineString(),
        })
        if progress:
            progress(grid_id)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)
