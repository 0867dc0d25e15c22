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

from collections.abc import Hashable
from typing import Any, cast

import geopandas as gpd
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from gis.barriers import barrier_lines, crossable

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
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[left]),
                                                 shapely.boundary(geoms[right])))
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
    crossed: dict[np.integer[Any], list[np.integer[Any]]] = {}  # link -> lines it crosses
    if len(lines) and len(left):
        hit, line = shapely.STRtree(lines).query(links, predicate="intersects")
        apart[np.unique(hit)] = True
        for i, j in zip(hit, line, strict=True):
            crossed.setdefault(i, []).append(j)
    community = buildings["community"].to_numpy()
    graph.graph["crossings"] = [
        (keys[left[i]], keys[right[i]], float(shared[i]), road_type[crossed[i][0]],
         road_name[crossed[i][0]])
        for i in np.flatnonzero(apart)
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
