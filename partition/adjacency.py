"""The building adjacency graph that partitioning works on.

Two buildings are neighbours when their tessellation cells share a boundary within one region
(regions are bounded by barriers and community boundaries, see territory) and the line between
them crosses no barrier. An edge carries the shared length (metres) and whether that line
crosses a street: cutting a grid boundary there follows the street, cutting elsewhere runs
through a block.

Buildings whose cells touch across an open arterial road (partition.groups: primary and
secondary roads, not railways, rivers or motorways) of the same community are no neighbours
either, but the pairs are kept in ``graph.graph["crossings"]``: a pocket too small for a grid
of its own may be joined across such a road.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import cast

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.barriers import barrier_lines, crossable
from partition.territory import split_polygon

# Cost of cutting one metre of shared boundary that runs along a street, relative to a metre
# through a block: grid boundaries should follow streets.
STREET_CUT_COST = 0.2

# graph.graph["crossings"]: (building, building across the road, shared boundary m, road
# type, road name).
RoadCrossing = tuple[Hashable, Hashable, float, str | None, str | None]


def building_graph(
    buildings: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    streets: gpd.GeoSeries | None,
    barriers: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
) -> nx.Graph[Hashable]:
    """Adjacency graph of buildings (metric CRS).

    Args:
        buildings: with ``households`` and ``community``; index = node ids.
        cells: tessellation cells indexed like ``buildings``, with ``region``
            (partition.territory).
        streets: street centre lines (any lines, same CRS) or None.
        barriers: barrier lines and water polygons (same CRS) or None; a GeoDataFrame
            with ``kind``, ``type`` and ``name`` (gis.barriers) also gives the crossings.
            Cells may touch across a barrier that ends inside a region; the line between two
            buildings that crosses one makes them no neighbours.

    Returns:
        Graph with node attributes ``households``, ``x``, ``y`` (representative point, m),
        ``community``, ``footprint`` (polygon); edge attributes ``length`` (shared
        boundary, m), ``street`` (bool) and ``cost`` (length, times STREET_CUT_COST along
        streets); ``graph.graph["crossings"]``: (u, v, shared length m, road type, road name)
        for buildings of one community whose cells touch across open arterial roads only;
        ``graph.graph["twins"]``: (building, the building whose cell it shares), for
        footprints mapped twice (partition.territory).
    """
    graph: nx.Graph[Hashable] = nx.Graph()
    # Nodes, edges and crossings in the order of the buildings' keys as str: the graph (and
    # every plan made on it) depends neither on the order of ``buildings`` nor on hashing,
    # and a building's neighbours come in the same order in any area holding them.
    order = np.argsort(np.array([str(k) for k in buildings.index], dtype=object), kind="stable")
    buildings = buildings.iloc[order]
    cells = cells.reindex(buildings.index)
    reps = buildings.geometry.representative_point()
    for key, hh, comm, pt, geom in zip(buildings.index, buildings["households"],
                                       buildings["community"], reps, buildings.geometry,
                                       strict=True):
        graph.add_node(key, households=int(hh), community=comm, x=pt.x, y=pt.y,
                       footprint=geom)

    geoms = cells.geometry.values
    keys = cells.index.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    left, right = left[left < right], right[left < right]
    pairs = np.lexsort((right, left))
    left, right = left[pairs], right[pairs]
    common = shapely.intersection(shapely.boundary(geoms[left]), shapely.boundary(geoms[right]))
    shared = _length_on_land(common, barriers)
    touching = shared > 0.01
    left, right, shared = left[touching], right[touching], shared[touching]
    rep_xy = shapely.get_coordinates(reps.values)
    # An array of lines (the stubs cannot tell an array of coordinates from one line's).
    links = cast("npt.NDArray[np.object_]",
                 shapely.linestrings(np.stack([rep_xy[left], rep_xy[right]], axis=1)))

    # Cells of neighbouring regions touch along the barrier between them: no neighbours.
    region = cells["region"].to_numpy()
    apart = region[left] != region[right]
    lines, open_road, road_type, road_name = _barrier_table(barriers)
    crossed: dict[int, list[int]] = {}  # link -> lines it crosses
    if len(lines) and len(left):
        hit, line = shapely.STRtree(lines).query(links, predicate="intersects")
        apart[np.unique(hit)] = True
        for i, j in zip(hit, line, strict=True):
            crossed.setdefault(int(i), []).append(int(j))
        # Twins (partition.territory) are divided as one whatever runs between them.
        host = np.arange(len(keys))
        if "twin" in cells:
            at = {k: j for j, k in enumerate(keys)}
            for b, t in cells["twin"].dropna().items():
                if b in at and t in at:
                    host[at[b]] = at[t]
        for i, cut in _cut_between(geoms, rep_xy, left, right, links, lines,
                                   apart | (host[left] == host[right])):
            apart[i] = True
            crossed[i] = cut
    community = buildings["community"].to_numpy()
    # The road named is the first by type and name of those crossed (not the first in the
    # barriers' order, which differs between a whole area and one community of it).
    road = {i: min(found, key=lambda j: (str(road_type[j]), str(road_name[j])))
            for i, found in crossed.items()}
    graph.graph["crossings"] = [
        (keys[left[i]], keys[right[i]], float(shared[i]), road_type[road[i]],
         road_name[road[i]])
        for i in np.flatnonzero(apart).tolist()
        if i in crossed and all(open_road[j] for j in crossed[i])
        and community[left[i]] == community[right[i]] and shared[i] > 1.0]
    keep = ~apart
    left, right, shared, links = left[keep], right[keep], shared[keep], links[keep]
    if "twin" in cells:
        graph.graph["twins"] = [(b, t) for b, t in cells["twin"].dropna().items()]
    street = np.zeros(len(left), dtype=bool)
    if streets is not None and len(streets) and len(left):
        hit, _ = shapely.STRtree(streets.values).query(links, predicate="intersects")
        street[np.unique(hit)] = True
    cost = np.where(street, shared * STREET_CUT_COST, shared)
    graph.add_edges_from(
        (keys[a], keys[b], {"length": float(s), "street": bool(st), "cost": float(c)})
        for a, b, s, st, c in zip(left, right, shared, street, cost, strict=True)
    )
    return graph


def _cut_between(cells: npt.NDArray[np.object_], rep_xy: npt.NDArray[np.float64],
                 left: npt.NDArray[np.intp], right: npt.NDArray[np.intp],
                 links: npt.NDArray[np.object_], lines: npt.NDArray[np.object_],
                 apart: npt.NDArray[np.bool_]) -> list[tuple[int, list[int]]]:
    """The pairs not yet ``apart`` whose two cells, cut along the barrier lines that cross
    them, hold their buildings' points in different pieces, with those lines.

    A barrier that ends inside a region does not cut the region, but it can run right across
    two touching cells between their buildings while the straight line between the
    buildings passes round its end, outside the two cells (irregular district 2800: a grid
    of two buildings on either side of a secondary road). A grid of the two would have its
    polygon cut by the road, which metrics.barrier_violations counts, as a street office
    would."""
    cell, line = shapely.STRtree(lines).query(cells, predicate="intersects")
    # Only lines through a cell's inside can cut it, not those along its edge (most roads).
    inside = shapely.relate_pattern(cells[cell], lines[line], "T********")
    cell, line = cell[inside], line[inside]
    if not len(cell):
        return []
    crossing: dict[int, list[int]] = {}
    for c, j in zip(cell, line, strict=True):
        crossing.setdefault(int(c), []).append(int(j))
    crossed = np.zeros(len(cells), dtype=bool)
    crossed[list(crossing)] = True
    pairs = np.flatnonzero(~apart & (crossed[left] | crossed[right]))
    # The line between the buildings crosses no barrier (else they are apart): where it
    # runs inside the two cells, they are in one piece.
    off = shapely.difference(shapely.difference(links[pairs], cells[left[pairs]]),
                             cells[right[pairs]])
    out = []
    for i in pairs[shapely.length(off) > 1e-6]:
        a, b = int(left[i]), int(right[i])
        near = sorted(set(crossing.get(a, [])) | set(crossing.get(b, [])))
        if not _same_piece(shapely.union(cells[a], cells[b]), lines[near],
                                    rep_xy[a], rep_xy[b]):
            out.append((int(i), near))
    return out


def _same_piece(poly: BaseGeometry, lines: npt.NDArray[np.object_],
                p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> bool:
    """Whether points ``p`` and ``q`` lie in one piece of ``poly`` cut along ``lines``
    (lines that end inside it cut nothing)."""
    faces = split_polygon(poly, list(lines))
    if len(faces) <= 1:
        return True
    first, second = shapely.points(p), shapely.points(q)
    return any(f.covers(first) and f.covers(second) for f in faces)


def _length_on_land(common: npt.NDArray[np.object_],
                    barriers: gpd.GeoSeries | gpd.GeoDataFrame | None) -> npt.NDArray[np.float64]:
    """Length (m) of each shared cell boundary outside water areas.

    Cells cover the water of their region too, so two buildings on one bank can have cells
    that touch only in the river, the line between the buildings running over land held by
    other cells; a grid of the two would be drawn in two lobes joined across the water (its
    polygon cut by the shore, a barrier violation). Boundaries shared only in water do not
    make neighbours.
    """
    lengths = shapely.length(common)
    if barriers is None or not len(barriers) or not len(common):
        return lengths
    geoms = np.asarray(barriers.geometry.values, dtype=object)
    water = geoms[shapely.get_type_id(geoms) >= 3]
    if not len(water):
        return lengths
    pair, area = shapely.STRtree(water).query(common, predicate="intersects")
    for i in np.unique(pair):
        wet = shapely.union_all(water[area[pair == i]])
        lengths[i] = shapely.length(shapely.difference(common[i], wet))
    return lengths


def connected_parts(graph: nx.Graph[Hashable],
                    nodes: Iterable[Hashable]) -> list[list[Hashable]]:
    """The connected components of ``graph`` on ``nodes``, each sorted and in the order of
    their first node, as str: networkx gives a small subgraph's nodes in the order of a set,
    which varies with the hash seed, and the order often decides which part gets which grid
    or code."""
    found = [sorted(c, key=str) for c in nx.connected_components(graph.subgraph(nodes))]
    return sorted(found, key=lambda c: str(c[0]))


def nodes_within(graph: nx.Graph[Hashable], nodes: set[Hashable],
                 steps: int) -> dict[Hashable, set[Hashable]]:
    """For each of ``nodes``, the nodes within ``steps`` edges of it (itself included),
    walking only through ``nodes``."""
    out: dict[Hashable, set[Hashable]] = {}
    for v in nodes:
        seen = {v}
        frontier = {v}
        for _ in range(steps):
            frontier = {nb for u in frontier for nb in graph[u] if nb in nodes} - seen
            seen |= frontier
        out[v] = seen
    return out


def induced_graph(graph: nx.Graph[Hashable], nodes: Iterable[Hashable]) -> nx.Graph[Hashable]:
    """A copy of the subgraph of ``graph`` on ``nodes``, nodes and edges added in the order
    of the nodes as str (not in ``graph``'s order nor in a set's): the same graph, neighbours
    in the same order, for the same nodes and edges however ``graph`` was built. Node, edge
    and graph attributes are copied (shallow), as ``nx.Graph(graph.subgraph(nodes))`` does."""
    keep = sorted(set(nodes), key=str)
    inside = set(keep)
    rank = {v: i for i, v in enumerate(keep)}
    out: nx.Graph[Hashable] = nx.Graph()
    out.graph.update(graph.graph)
    out.add_nodes_from((v, graph.nodes[v]) for v in keep)
    out.add_edges_from((u, v, graph.edges[u, v]) for u in keep
                       for v in sorted((v for v in graph[u] if v in inside and rank[v] > rank[u]),
                                       key=rank.__getitem__))
    return out


def _barrier_table(
    barriers: gpd.GeoSeries | gpd.GeoDataFrame | None,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.bool_], npt.NDArray[np.object_],
           npt.NDArray[np.object_]]:
    """Barrier lines (water areas by their shores) and, per line, whether it is an open
    arterial road, its type and its name (a bare GeoSeries: all closed, unnamed)."""
    if barriers is None or not len(barriers):
        empty = np.array([], dtype=object)
        return empty, np.array([], dtype=bool), empty, empty
    geoms = np.asarray(barriers.geometry.values, dtype=object)
    if isinstance(barriers, gpd.GeoDataFrame) and {"kind", "type"} <= set(barriers.columns):
        open_road = crossable(barriers["kind"], barriers["type"])
        types = barriers["type"].astype(str).to_numpy(dtype=object)
        names = barriers.get("name", pd.Series(None, index=barriers.index)).to_numpy(
            dtype=object)
    else:
        open_road = np.zeros(len(geoms), dtype=bool)
        types = names = np.full(len(geoms), None, dtype=object)
    # barrier_lines puts lines first, then the shores of polygons, in order.
    polys = shapely.get_type_id(geoms) >= 3
    order = np.concatenate([np.flatnonzero(~polys), np.flatnonzero(polys)])
    return barrier_lines(geoms), open_road[order], types[order], names[order]
