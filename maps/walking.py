"""Walking distance over street centre lines from the nearest of several service points.

Used by the coverage map to find buildings farther than a set walk from every service point.
Distances are metres in the local UTM zone: along the streets, plus the straight walk from a
building or service point to its nearest street junction or end.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.crs import local_metric_crs


def walk_distance_m(streets: gpd.GeoDataFrame, sources: gpd.GeoDataFrame,
                    targets: gpd.GeoDataFrame) -> np.ndarray:
    """For each row of ``targets``, the walking distance in metres from the nearest ``sources``
    point along ``streets`` (lines; the network is made of their end points, so give
    lines split at junctions, as gis.export.street_edges does). ``inf`` where unreachable.

    All inputs in any defined CRS; targets are measured from their representative point.
    """
    if len(targets) == 0:
        return np.zeros(0)
    if len(sources) == 0 or len(streets) == 0:
        return np.full(len(targets), np.inf)
    # Keep a projected CRS as given (metres assumed, as gis/ produces); else the UTM zone.
    crs = streets.crs if streets.crs.is_projected else local_metric_crs(streets)
    lines = streets.to_crs(crs).geometry
    lines = lines[lines.notna() & ~lines.is_empty].explode(index_parts=False)
    starts = shapely.get_coordinates(shapely.get_point(lines.values, 0))
    ends = shapely.get_coordinates(shapely.get_point(lines.values, -1))
    # Junctions are end points that coincide to 0.1 m.
    keys = np.round(np.vstack([starts, ends]), 1)
    nodes, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    n_lines = len(lines)
    u, v = inverse[:n_lines], inverse[n_lines:]
    length = shapely.length(lines.values)
    n = len(nodes)
    tree = cKDTree(nodes)
    src_pts = shapely.get_coordinates(sources.to_crs(crs).geometry.representative_point().values)
    src_snap, src_node = tree.query(src_pts)
    # One extra node joined to every source's nearest junction by its snap length: a single
    # Dijkstra from it gives the distance from the nearest source.
    src_node = np.asarray(src_node)  # query of 2-D points: arrays (the stubs allow scalars)
    rows = np.concatenate([u, v, np.full(len(src_node), n)])
    cols = np.concatenate([v, u, src_node])
    weights = np.concatenate([length, length, src_snap]) + 1e-9  # zero weights vanish in sparse
    # Parallel streets between two junctions: keep the shortest (a sparse matrix would sum them).
    order = np.lexsort((weights, cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, weights = rows[first], cols[first], weights[first]
    graph = coo_matrix((weights, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    # scipy takes a single int as indices; scipy-stubs only list arrays of them.
    dist = dijkstra(graph, directed=True, indices=n)  # type: ignore[call-overload]
    tgt_pts = shapely.get_coordinates(targets.to_crs(crs).geometry.representative_point().values)
    tgt_snap, tgt_node = tree.query(tgt_pts)
    return dist[tgt_node] + tgt_snap
