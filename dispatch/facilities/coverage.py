"""Walking distance from every home to the nearest facility of each type.

Homes are buildings with households; each is measured from its representative point, snapped
to its nearest walk-network node (dispatch.routing.network.WalkNetwork.snap, as routing does),
and so is each facility. Distance = the facility's straight walk to its node + the shortest
walk along the streets + the home's straight walk from its node. One multi-source Dijkstra a
type: a virtual source joined to every facility's node by the facility's snap length
(scipy.sparse.csgraph.dijkstra from it gives the distance to the nearest facility), truncated
at a limit when one is given.

All geometry in the walk network's metric CRS (metres); GeoDataFrames in any CRS are
reprojected to it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from scipy.sparse import csr_matrix, vstack
from scipy.sparse.csgraph import dijkstra
from shapely.geometry.base import BaseGeometry

from dispatch.facilities.types import FACILITY_TYPES, facility_type, walking_distance
from dispatch.routing.network import WalkNetwork
from gis.errors import ArgumentError

_EPS = 1e-9  # a zero-length edge would vanish from a sparse matrix


@dataclass
class SnappedPoints:
    """Points on the walk network: each one's node position (matrix index) and its straight
    walk to that node (m)."""

    node: np.ndarray
    offset: np.ndarray


def snap_points(net: WalkNetwork, frame: gpd.GeoDataFrame) -> SnappedPoints:
    """Snap ``frame``'s representative points (any CRS) to ``net``'s nodes."""
    if frame.crs is None:
        raise ArgumentError("图层没有坐标系", "the layer has no CRS")
    if len(frame) == 0:
        return SnappedPoints(np.zeros(0, dtype=np.int64), np.zeros(0))
    points = frame.to_crs(net.crs).geometry.representative_point()
    nodes, offset = net.snap(points.x.to_numpy(), points.y.to_numpy())
    return SnappedPoints(np.array([net.index[n] for n in nodes], dtype=np.int64),
                         np.asarray(offset, dtype=float))


def homes(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The buildings with households (column ``households`` > 0)."""
    if "households" not in buildings:
        raise ArgumentError("建筑图层缺少 households（户数）列",
                            "the buildings layer has no households column")
    return buildings[buildings["households"].fillna(0) > 0]


def nearest_distances(net: WalkNetwork, sources: SnappedPoints,
                      limit: float = np.inf) -> np.ndarray:
    """Walking distance (m) from the nearest of ``sources`` to every network node (including
    the sources' own snap walk); ``inf`` beyond ``limit`` or unreachable."""
    n = len(net.nodes)
    if len(sources.node) == 0 or n == 0:
        return np.full(n, np.inf)
    # The virtual source is node n: one row of edges to the facilities' nodes.
    # Duplicate entries of a CSR row are summed: keep the smallest offset per node.
    order = np.lexsort((sources.offset, sources.node))
    first = np.ones(len(order), dtype=bool)
    first[1:] = sources.node[order][1:] != sources.node[order][:-1]
    keep = order[first]
    row = csr_matrix((sources.offset[keep] + _EPS,
                      (np.zeros(len(keep), dtype=np.int64), sources.node[keep])),
                     shape=(1, n + 1))
    base = net.matrix.tocsr()
    grown = csr_matrix((base.data, base.indices, base.indptr), shape=(n, n + 1))
    graph = vstack([grown, row]).tocsr()
    dist = dijkstra(graph, directed=True, indices=[n], limit=limit)[0]
    out: np.ndarray = dist[:n]
    return out


@dataclass
class TypeCoverage:
    """How one facility type serves the homes.

    Attributes:
        type: the facility type key.
        distance_m: the walking distance within which a home counts as served (m).
        facilities: how many facilities of the type there are (on the network).
        walk_m: per home (in the order given), the walk to the nearest facility (m; ``inf``
            when none is reachable).
        households: per home, its households.
    """

    type: str
    distance_m: float
    facilities: int
    walk_m: np.ndarray
    households: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """Per home, whether it is within the distance."""
        mask: np.ndarray = self.walk_m <= self.distance_m
        return mask

    def summary(self) -> dict[str, float | int | str]:
        """Counts for reports: homes and households covered and beyond, share covered."""
        total = float(self.households.sum())
        served = float(self.households[self.covered].sum())
        kind = FACILITY_TYPES[self.type]
        return {"type": self.type, "name_zh": kind.zh, "name_en": kind.en,
                "distance_m": self.distance_m, "facilities": self.facilities,
                "buildings": len(self.walk_m),
                "buildings_beyond": int((~self.covered).sum()),
                "households": int(total), "households_covered": int(served),
                "households_beyond": int(total - served),
                "share_covered": round(served / total, 4) if total else 1.0}


def facility_coverage(net: WalkNetwork, buildings: gpd.GeoDataFrame,
                      facilities: gpd.GeoDataFrame, *,
                      distances: dict[str, float] | None = None,
                      types: list[str] | None = None) -> dict[str, TypeCoverage]:
    """For each facility type, the walk from every home to its nearest facility.

    Args:
        net: the walk network (metric CRS).
        buildings: homes and other buildings, any CRS, with ``households``; only those with
            households are measured (see :func:`homes`), in their order.
        facilities: points (any CRS) with a ``type`` column.
        distances: walking distance (m) per type; the type's default otherwise.
        types: the types to measure (default: all known types).

    Returns:
        type key -> :class:`TypeCoverage`.
    """
    if "type" not in facilities:
        raise ArgumentError("设施图层缺少 type（类型）列",
                            "the facilities layer has no type column")
    distances = distances or {}
    wanted = types if types is not None else list(FACILITY_TYPES)
    home = homes(buildings)
    snapped = snap_points(net, home)
    weights = home["households"].to_numpy(dtype=float)
    out = {}
    for key in wanted:
        facility_type(key)
        limit = walking_distance(key, distances.get(key))
        mine = facilities[facilities["type"] == key]
        node_dist = nearest_distances(net, snap_points(net, mine))
        walk = node_dist[snapped.node] + snapped.offset
        out[key] = TypeCoverage(key, limit, len(mine), walk, weights)
    return out


def node_ids(net: WalkNetwork, positions: np.ndarray) -> list[Hashable]:
    """Network node ids at matrix positions."""
    return [net.nodes[int(i)] for i in positions]


def catchment(net: WalkNetwork, facilities: gpd.GeoDataFrame, distance_m: float,
              width_m: float = 20.0) -> gpd.GeoSeries:
    """The streets within ``distance_m`` of walking from the nearest of ``facilities``, as
    one polygon (the walked street lines, cut where the walk runs out, buffered by
    ``width_m`` on each side), in the network's CRS; empty when there is no facility."""
    import shapely
    from shapely.ops import substring

    snapped = snap_points(net, facilities)
    dist = nearest_distances(net, snapped, limit=distance_m)
    pieces: list[BaseGeometry] = []
    for u, v in net.graph.edges():
        du, dv = dist[net.index[u]], dist[net.index[v]]
        if not (np.isfinite(du) or np.isfinite(dv)):
            continue
        line = net.edge_geometry(u, v)
        length = line.length
        reach_u = max(0.0, distance_m - du) if np.isfinite(du) else 0.0
        reach_v = max(0.0, distance_m - dv) if np.isfinite(dv) else 0.0
        if reach_u + reach_v >= length:
            pieces.append(line)
            continue
        if reach_u > 0:
            pieces.append(substring(line, 0, reach_u))
        if reach_v > 0:
            pieces.append(substring(line, length - reach_v, length))
    if not pieces:
        return gpd.GeoSeries([], crs=net.crs)
    area = shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), width_m,
                                            quad_segs=4))
    return gpd.GeoSeries([area], crs=net.crs)
