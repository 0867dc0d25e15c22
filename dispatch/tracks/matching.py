"""Map matching: which streets of the walk network a cleaned GPS track walked.

The matcher is leuvenmapmatching's ``DistanceMatcher`` (KU Leuven DTAI, Apache-2.0, on PyPI):
a hidden Markov model after Newson and Krumm (2009) whose states are the network's segments,
emission the distance from a fix to a segment (Gaussian, ``obs_noise``), transition the
difference between the distance walked along the network and the distance between fixes,
with non-emitting states to cross short segments between two fixes. Why this one:

- it runs on an in-memory map built from our own walk graph in its metric CRS (no server, no
  download, no second copy of the network); its only dependencies are numpy and scipy;
- mappymatch 0.7.1 (NREL) needs igraph, matplotlib and an osmnx download or its own network
  format, and its LCSS matcher is made for vehicle traces on road networks; Valhalla's matcher
  (pyvalhalla) needs a tile build of the OSM data, a second network to keep in step with ours.

What is ours: the walk graph turned into the matcher's map (every vertex of a street's
geometry a node, so curved streets match as drawn), the split of a track into pieces the
matcher can follow (at gaps and where it stops early), joining matched pieces by the shortest
walk between them, and the walked length of every street (:class:`MatchResult`).

Coordinates are the walk network's metric CRS (m); times seconds.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections import defaultdict
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from leuvenmapmatching.map.inmem import InMemMap
from leuvenmapmatching.matcher.distance import DistanceMatcher, DistanceMatching

from dispatch.routing.network import WalkNetwork

Edge = tuple[Hashable, Hashable]

OBS_NOISE_M = 15.0  # standard deviation of a fix around the street (m)
MAX_DIST_M = 60.0  # fixes further than this from every street do not match (m)
MIN_WALKED_SHARE = 0.5  # a street counts walked when this share of it was matched
MAX_LATTICE_WIDTH = 8
SIMPLIFY_M = 2.0  # street geometry simplified this far for the matcher's map (m)

_LOG = logging.getLogger("be.kuleuven.cs.dtai.mapmatching")
_LOG.setLevel(logging.WARNING)


def edge_key(u: Hashable, v: Hashable) -> Edge:
    """A street's node pair in a fixed order (streets are undirected)."""
    return (u, v) if str(u) <= str(v) else (v, u)


class _MetricMap(InMemMap):  # type: ignore[misc]
    """leuvenmapmatching's in-memory map in metres, with its point/segment distances in plain
    float arithmetic: the library's own (``util.dist_euclidean``) compare scalars through
    ``numpy.isclose``, which took 40% of the matching time; the results are the same
    (tests/dispatch/test_tracks.py compares them). The map's distance functions are its
    documented extension point (``BaseMap.use_latlon`` sets them)."""

    def __init__(self, name: str) -> None:
        super().__init__(name, use_latlon=False, use_rtree=True, index_edges=True)
        self.distance_point_to_segment = point_to_segment
        self.distance_segment_to_segment = segment_to_segment


def _project(s1: tuple[float, float], s2: tuple[float, float], p: tuple[float, float],
             delta: float = 0.0) -> tuple[tuple[float, float], float]:
    dx, dy = s2[0] - s1[0], s2[1] - s1[1]
    if abs(dx) <= 1e-8 and abs(dy) <= 1e-8:
        return s1, 0.0
    t = ((p[0] - s1[0]) * dx + (p[1] - s1[1]) * dy) / (dx * dx + dy * dy)
    t = max(delta, min(1 - delta, t))
    return (s1[0] + t * dx, s1[1] + t * dy), t


def point_to_segment(p: tuple[float, float], s1: tuple[float, float],
                     s2: tuple[float, float], delta: float = 0.0
                     ) -> tuple[float, tuple[float, float], float]:
    """leuvenmapmatching.util.dist_euclidean.distance_point_to_segment without numpy:
    (distance, projected point, relative position on the segment)."""
    q, t = _project(s1, s2, p, delta)
    return math.hypot(q[0] - p[0], q[1] - p[1]), q, t


def segment_to_segment(f1: tuple[float, float], f2: tuple[float, float],
                       t1: tuple[float, float], t2: tuple[float, float]
                       ) -> tuple[float, tuple[float, float], tuple[float, float], float, float]:
    """leuvenmapmatching.util.dist_euclidean.distance_segment_to_segment without numpy:
    (distance, point on f, point on t, relative position on f, on t)."""
    x1, y1 = f1
    x2, y2 = f2
    x3, y3 = t1
    x4, y4 = t2
    n = (y4 - y3) * (x2 - x1) - (x4 - x3) * (y2 - y1)
    if abs(n) <= 1e-8:
        n = 0.0001  # parallel: as the library does, a point far away
    u_f = ((x4 - x3) * (y1 - y3) - (y4 - y3) * (x1 - x3)) / n
    u_t = ((x2 - x1) * (y1 - y3) - (y2 - y1) * (x1 - x3)) / n
    xi, yi = x1 + u_f * (x2 - x1), y1 + u_f * (y2 - y1)
    changed_t = u_t > 1 or u_t < 0
    changed_f = u_f > 1 or u_f < 0
    u_t = min(1.0, max(0.0, u_t))
    u_f = min(1.0, max(0.0, u_f))
    if not changed_t and not changed_f:
        return 0.0, (xi, yi), (xi, yi), u_f, u_t
    xf, yf = x1 + u_f * (x2 - x1), y1 + u_f * (y2 - y1)
    xt, yt = x3 + u_t * (x4 - x3), y3 + u_t * (y4 - y3)
    if changed_t and changed_f:
        if (xf - xi) ** 2 + (yf - yi) ** 2 > (xt - xi) ** 2 + (yt - yi) ** 2:
            changed_t = False
        else:
            changed_f = False
    if changed_t:
        pt = (xt, yt)
        pf, u_f = _project(f1, f2, pt)
    else:
        pf = (xf, yf)
        pt, u_t = _project(t1, t2, pf)
    return math.hypot(pf[0] - pt[0], pf[1] - pt[1]), pf, pt, u_f, u_t


class _QuietMatching(DistanceMatching):  # type: ignore[misc]
    """The matcher's lattice entry, printed only when its logger is on: unless Python runs
    with -O, the library formats every entry for a debug message (``str(m_next)``,
    ``repr_static``) whether the message is logged or not, a quarter of the matching time.

    Its hash is its lattice key's (node or segment, observation, non-emitting step) instead of
    a string formatted from the same fields (``cname``) at every set insertion: entries
    compare by identity, so any hash is valid, and an integer tuple's does not change with
    the process's string-hash seed."""

    __slots__ = ()

    def __str__(self, label_width: int | None = None) -> str:
        if _LOG.isEnabledFor(logging.DEBUG):
            return str(super().__str__(label_width))
        return ""

    @staticmethod
    def repr_static(fields: tuple[object, ...], label_width: int | None = None) -> str:
        if _LOG.isEnabledFor(logging.DEBUG):
            return str(DistanceMatching.repr_static(fields, label_width))
        return ""

    def __hash__(self) -> int:
        e = self.edge_m
        return hash((e.l1, e.l2, self.obs, self.obs_ne))


@dataclass
class MatchMap:
    """The walk network as the matcher's map: every vertex of a street's geometry a node.

    Attributes:
        net: the walk network (metric CRS).
        inmem: leuvenmapmatching's map, locations (y, x) in metres.
        segment_edge: matcher segment (node ids a, b, both orders) -> the street (edge_key).
        segment_length: the same key -> length of the segment (m).
        graph_node: matcher node id -> the walk graph's node (only for street ends).
        matcher_node: walk graph node -> matcher node id.
    """

    net: WalkNetwork
    inmem: InMemMap
    segment_edge: dict[tuple[int, int], Edge]
    segment_length: dict[tuple[int, int], float]
    graph_node: dict[int, Hashable]
    matcher_node: dict[Hashable, int]

    @classmethod
    def from_network(cls, net: WalkNetwork) -> MatchMap:
        """Build the matcher's map of ``net`` (a few tenths of a second for 1,000 streets)."""
        inmem = _MetricMap("walk")
        matcher_node = {n: i for i, n in enumerate(net.nodes)}
        graph_node = {i: n for n, i in matcher_node.items()}
        for n, i in matcher_node.items():
            x, y = net.xy(n)
            inmem.add_node(i, (y, x))
        next_id = len(matcher_node)
        segment_edge: dict[tuple[int, int], Edge] = {}
        segment_length: dict[tuple[int, int], float] = {}
        for u, v in net.graph.edges():
            coords = list(net.edge_geometry(u, v).simplify(SIMPLIFY_M).coords)
            ids = [matcher_node[u]]
            for x, y in coords[1:-1]:
                inmem.add_node(next_id, (y, x))
                ids.append(next_id)
                next_id += 1
            ids.append(matcher_node[v])
            key = edge_key(u, v)
            for (a, b), (p, q) in zip(itertools.pairwise(ids), itertools.pairwise(coords),
                                      strict=True):
                if a == b:
                    continue
                inmem.add_edge(a, b)
                inmem.add_edge(b, a)
                length = float(np.hypot(q[0] - p[0], q[1] - p[1]))
                for pair in ((a, b), (b, a)):
                    segment_edge[pair] = key
                    segment_length[pair] = length
        inmem.setup_index()
        return cls(net, inmem, segment_edge, segment_length, graph_node, matcher_node)


@dataclass
class MatchResult:
    """What a track walked on the network.

    Attributes:
        walked_m: street (edge_key) -> metres of it the matched path covers (at most its
            length; a street walked twice counts once).
        path: matched node sequences of the walk graph, one per piece the track fell into.
        matched_points: fixes the matcher placed on a street.
        unmatched_points: fixes it could not place (too far from every street, or where it
            lost the way); their pieces are matched from the next fix on.
        pieces: pieces the track was matched in.
        seconds: matching time (s).
    """

    walked_m: dict[Edge, float] = field(default_factory=dict)
    path: list[list[Hashable]] = field(default_factory=list)
    matched_points: int = 0
    unmatched_points: int = 0
    pieces: int = 0
    seconds: float = 0.0

    def walked_edges(self, net: WalkNetwork, min_share: float = MIN_WALKED_SHARE) -> set[Edge]:
        """Streets whose matched share reaches ``min_share`` of their length."""
        return {e for e, metres in self.walked_m.items()
                if metres >= min_share * net.graph.edges[e]["length"] - 1e-6}


def match_track(mmap: MatchMap, xy: npt.ArrayLike, piece: npt.ArrayLike | None = None, *,
                obs_noise_m: float = OBS_NOISE_M, max_dist_m: float = MAX_DIST_M) -> MatchResult:
    """Match a cleaned, thinned track (:mod:`dispatch.tracks.cleaning`) to the walk network.

    Args:
        mmap: the network's matcher map (:meth:`MatchMap.from_network`).
        xy: fixes in the network's metric CRS, shape (n, 2), in time order.
        piece: a piece number per fix (gaps and jumps start a new piece; pieces are matched
            apart); default one piece.
        obs_noise_m: standard deviation of a fix around its street (m).
        max_dist_m: fixes further from every street are left unmatched (m).
    """
    started = time.perf_counter()
    points = np.asarray(xy, dtype=float).reshape(-1, 2)
    pieces = np.zeros(len(points), dtype=int) if piece is None else np.asarray(piece)
    result = MatchResult()
    walked: dict[tuple[int, int], None] = {}
    for p in np.unique(pieces):
        chunk = points[pieces == p]
        start = 0
        while start < len(chunk):
            matcher = DistanceMatcher(
                mmap.inmem, max_dist=max_dist_m, max_dist_init=max_dist_m,
                obs_noise=obs_noise_m, obs_noise_ne=obs_noise_m * 2,
                dist_noise=obs_noise_m, non_emitting_states=True,
                non_emitting_length_factor=0.75, max_lattice_width=MAX_LATTICE_WIDTH,
                avoid_goingback=True, matching=_QuietMatching)
            path = [(y, x) for x, y in chunk[start:]]
            _, last = matcher.match(path)
            nodes = matcher.path_pred_onlynodes if matcher.lattice_best else []
            if len(nodes) >= 2:
                result.pieces += 1
                matched = last + 1
                result.matched_points += matched
                for a, b in itertools.pairwise(nodes):
                    walked[(a, b) if a < b else (b, a)] = None
                result.path.append(_graph_path(mmap, nodes))
            else:
                matched = 1
                result.unmatched_points += 1
            start += max(matched, 1)
    for (a, b) in walked:
        if (a, b) in mmap.segment_edge:
            key = mmap.segment_edge[(a, b)]
            result.walked_m[key] = result.walked_m.get(key, 0.0) + mmap.segment_length[(a, b)]
    for key, metres in result.walked_m.items():
        result.walked_m[key] = min(metres, float(mmap.net.graph.edges[key]["length"]))
    result.seconds = time.perf_counter() - started
    return result


def _graph_path(mmap: MatchMap, nodes: list[int]) -> list[Hashable]:
    """The walk graph's nodes a matcher node sequence passes (street ends only)."""
    out: list[Hashable] = []
    for n in nodes:
        g = mmap.graph_node.get(n)
        if g is not None and (not out or out[-1] != g):
            out.append(g)
    return out


def segment_counts(result: MatchResult) -> dict[Edge, int]:
    """How many matched pieces touch each street (for detours walked more than once)."""
    counts: dict[Edge, int] = defaultdict(int)
    for e in result.walked_m:
        counts[e] += 1
    return counts
