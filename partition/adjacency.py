"""The building adjacency graph that partitioning works on.

Two buildings are neighbours when their tessellation cells share a boundary within one region
(regions are bounded by barriers and community boundaries, see territory) and the line between
them crosses no barrier. An edge carries the shared length (metres) and whether that line
crosses a street: cutting a grid boundary there follows the street, cutting elsewhere runs
through a block.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from gis.barriers import barrier_lines

# Cost of cutting one metre of shared boundary that runs along a street, relative to a metre
# through a block: grid boundaries should follow streets.
STREET_CUT_COST = 0.2


def building_graph(
    buildings: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    streets: gpd.GeoSeries | None,
    barriers: gpd.GeoSeries | None = None,
) -> nx.Graph:
    """Adjacency graph of buildings (metric CRS).

    Args:
        buildings: with ``households`` and ``community``; index = node ids.
        cells: tessellation cells indexed like ``buildings``, with ``region``
            (partition.territory).
        streets: street centre lines (any lines, same CRS) or None.
        barriers: barrier lines and water polygons (same CRS) or None. Cells may touch across
            a barrier that ends inside a region; the line between two buildings that crosses
            one makes them no neighbours.

    Returns:
        Graph with node attributes ``households``, ``x``, ``y`` (representative point, m),
        ``community``, ``footprint`` (polygon); edge attributes ``length`` (shared
        boundary, m), ``street`` (bool) and ``cost`` (length, times STREET_CUT_COST along
        streets).
    """
    graph = nx.Graph()
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
    # Cells of neighbouring regions touch along the barrier between them: no neighbours.
    region = cells["region"].to_numpy()
    keep = (left < right) & (region[left] == region[right])
    left, right = left[keep], right[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(geoms[left]),
                                                 shapely.boundary(geoms[right])))
    touching = shared > 0.01
    left, right, shared = left[touching], right[touching], shared[touching]

    rep_xy = shapely.get_coordinates(reps.values)
    links = shapely.linestrings(np.stack([rep_xy[left], rep_xy[right]], axis=1))
    if barriers is not None and len(barriers) and len(left):
        hit, _ = shapely.STRtree(barrier_lines(barriers)).query(links, predicate="intersects")
        apart = np.zeros(len(left), dtype=bool)
        apart[np.unique(hit)] = True
        left, right, shared, links = left[~apart], right[~apart], shared[~apart], links[~apart]
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
