"""Walking distances on the street network.

Everything here works on the study area's walk graph (``StudyArea.streets``): an osmnx
MultiDiGraph projected to a local metric CRS, node ``x``/``y`` in metres, edge ``length`` in
metres. A walk graph has both directions of every street, so walking is modelled on its
undirected form. Points off the network (bases, buildings, stops) are snapped to their nearest
node and the straight walk to that node is added to every distance.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry import LineString

from gis.errors import ArgumentError

WALK_SPEED_KMH = 4.0

# PyMatching's graph of the network's edges, the edges (node pairs) and their lengths in
# whole centimetres (WalkNetwork.cheapest_t_join).
_JoinGraph = tuple[Any, list[tuple[Hashable, Hashable]], np.ndarray]


@dataclass
class WalkNetwork:
    """An undirected walk graph with fast shortest paths.

    Attributes:
        graph: undirected simple graph; node ``x``/``y`` in metres; edge ``length`` (m),
            ``name`` (street name or ``""``) and ``geometry`` (LineString, metric CRS), the
            shortest of parallel edges kept.
        nodes: node ids in matrix order.
        index: node id -> position in ``nodes``.
        matrix: CSR adjacency with lengths in metres.
        crs: the graph's metric CRS.
    """

    graph: nx.Graph[Hashable]
    nodes: list[Hashable]
    index: dict[Hashable, int]
    matrix: csr_matrix
    crs: object
    _tree: cKDTree
    _join_graph: _JoinGraph | None = field(default=None, repr=False)

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph[Hashable] | nx.Graph[Hashable]) -> WalkNetwork:
        """Build from an osmnx walk graph (or any graph with node x/y and edge length)."""
        simple = _undirected_simple(graph)
        nodes = list(simple.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        rows: list[int] = []
        cols: list[int] = []
        lengths: list[float] = []
        for u, v, d in simple.edges(data=True):
            rows += [index[u], index[v]]
            cols += [index[v], index[u]]
            lengths += [d["length"]] * 2
        size = len(nodes)
        matrix = csr_matrix((lengths, (rows, cols)), shape=(size, size))
        xy = np.array([[simple.nodes[n]["x"], simple.nodes[n]["y"]] for n in nodes])
        tree = cKDTree(xy if size else np.zeros((0, 2)))
        return cls(simple, nodes, index, matrix, graph.graph.get("crs"), tree)

    def xy(self, node: Hashable) -> tuple[float, float]:
        """The node's position (m, the network's CRS)."""
        d = self.graph.nodes[node]
        return d["x"], d["y"]

    def snap(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> tuple[list[Hashable], np.ndarray]:
        """Nearest node of each point (metric coordinates) and the straight distance to it (m)."""
        if not self.nodes:
            raise ArgumentError("步行路网为空：没有可走的街道",
                                "the walk network is empty: no street to route on")
        dist, pos = self._tree.query(np.column_stack([np.asarray(xs), np.asarray(ys)]))
        return [self.nodes[i] for i in np.atleast_1d(pos)], np.atleast_1d(dist)

    def node_distances(self, sources: list[Hashable],
                       targets: list[Hashable] | None = None) -> np.ndarray:
        """Shortest walking distances (m) between nodes; ``inf`` where unconnected."""
        src = [self.index[n] for n in sources]
        full = dijkstra(self.matrix, directed=False, indices=np.unique(src))
        first = {s: i for i, s in enumerate(np.unique(src))}
        out: np.ndarray = full[[first[s] for s in src]]
        if targets is not None:
            out = out[:, [self.index[n] for n in targets]]
        return out

    def point_distances(self, xs: npt.ArrayLike, ys: npt.ArrayLike) -> np.ndarray:
        """Walking distance matrix (m) between points: to the network, along it, and off again."""
        nodes, off = self.snap(xs, ys)
        along = self.node_distances(nodes, nodes)
        dist: np.ndarray = along + off[:, None] + off[None, :]
        np.fill_diagonal(dist, 0.0)
        return dist

    def shortest_path(self, source: Hashable, target: Hashable) -> list[Hashable]:
        """Node path of the shortest walk between two nodes."""
        path: list[Hashable] = nx.shortest_path(self.graph, source, target, weight="length")
        return path

    def edge_geometry(self, u: Hashable, v: Hashable) -> LineString:
        """The geometry of edge u-v drawn from u to v."""
        line: LineString = self.graph.edges[u, v]["geometry"]
        start = np.asarray(line.coords[0])
        if np.hypot(*(start - self.xy(u))) > np.hypot(*(start - self.xy(v))):
            line = LineString(line.coords[::-1])
        return line

    def path_geometry(self, path: list[Hashable]) -> LineString | None:
        """One LineString along the streets of a node path; None for fewer than two nodes."""
        coords: list[tuple[float, ...]] = []
        for u, v in itertools.pairwise(path):
            part = list(self.edge_geometry(u, v).coords)
            coords += part if not coords else part[1:]
        return LineString(coords) if len(coords) >= 2 else None

    def cheapest_t_join(self, odd: list[Hashable]) -> tuple[list[tuple[Hashable, Hashable]], float]:
        """The cheapest set of streets whose odd-degree junctions are exactly ``odd``.

        Adding it to a set of streets with odd-degree junctions ``odd`` makes every junction
        even; its length is what the Chinese-postman bound adds to the streets' own. Solved
        exactly on the sparse network by PyMatching's blossom algorithm, with lengths floored
        to whole centimetres so that the returned length (m, of the floored lengths) is never
        above the true optimum: a valid lower bound.

        Returns:
            (edges as node pairs, each once; floored length in metres).
        """
        if not odd:
            return [], 0.0
        if len(odd) % 2:
            raise ValueError(f"a T-join needs an even number of junctions, got {len(odd)}")
        matching, edges, centimetres = self._t_join_graph()
        syndrome = np.zeros(len(self.nodes), dtype=np.uint8)
        syndrome[[self.index[n] for n in odd]] = 1
        try:
            chosen = np.flatnonzero(matching.decode(syndrome))
        except ValueError as err:  # PyMatching: some junctions cannot be paired
            raise ArgumentError("这些路口位于路网中互不连通的部分",
                                "the junctions lie in parts of the network that are not "
                                "connected") from err
        return [edges[i] for i in chosen], float(centimetres[chosen].sum()) / 100

    def _t_join_graph(self) -> _JoinGraph:
        if self._join_graph is None:
            import pymatching

            edges = list(self.graph.edges())
            centimetres = np.floor(np.array(
                [self.graph.edges[e]["length"] for e in edges]) * 100)
            matching = pymatching.Matching()
            for i, (u, v) in enumerate(edges):
                matching.add_edge(self.index[u], self.index[v], fault_ids={i},
                                  weight=float(centimetres[i]), merge_strategy="smallest-weight")
            self._join_graph = (matching, edges, centimetres)
        return self._join_graph

    def path_length(self, path: list[Hashable]) -> float:
        """Length (m) of a node path along the streets."""
        return float(sum(self.graph.edges[u, v]["length"]
                         for u, v in itertools.pairwise(path)))


def _street_name(data: dict[str, Any]) -> str:
    name = data.get("name") or data.get("ref") or ""
    if isinstance(name, list):  # osmnx keeps every name of a simplified edge
        name = name[0]
    return str(name)


def _undirected_simple(
    graph: nx.MultiDiGraph[Hashable] | nx.Graph[Hashable],
) -> nx.Graph[Hashable]:
    """The undirected simple form of a walk graph; parallel edges keep the shortest."""
    simple: nx.Graph[Hashable] = nx.Graph(crs=graph.graph.get("crs"))
    simple.add_nodes_from(graph.nodes(data=True))
    for u, v, data in graph.edges(data=True):
        if u == v:
            continue
        length = float(data["length"])
        if simple.has_edge(u, v) and simple.edges[u, v]["length"] <= length:
            continue
        geometry = data.get("geometry")
        if geometry is None:
            geometry = LineString([(graph.nodes[u]["x"], graph.nodes[u]["y"]),
                                   (graph.nodes[v]["x"], graph.nodes[v]["y"])])
        simple.add_edge(u, v, length=length, name=_street_name(data), geometry=geometry,
                        highway=data.get("highway"))
    return simple


def walk_seconds(metres: float | np.ndarray,
                 speed_kmh: float = WALK_SPEED_KMH) -> np.ndarray | np.floating[Any]:
    """Walking time in seconds for a distance in metres (a number for a number, an array
    for an array)."""
    seconds: np.ndarray | np.floating[Any] = np.asarray(metres) / (speed_kmh / 3.6)
    return seconds
