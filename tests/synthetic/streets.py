"""Streets of the synthetic district: arterials along the lattice and the roads inside it.

Arterials (highway=trunk / primary / secondary, named, with lanes) run along the lattice lines
beside the superblocks that were built, split into ways every 3 superblocks, at name sections
(北路 / 路 / 南路) and at bridges over rivers and railways (bridge=yes + layer=1). Crossings of
two arterials carry highway=traffic_signals. Branch roads, compound roads and gate roads
planned inside a superblock (:class:`~tests.synthetic.plan.Axial`) end on a lattice edge at a
node shared with the arterial (:class:`LatticeNodes`), so all streets form one connected
network. Local metres.
"""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from tests.synthetic.lattice import ROAD_LANES, Lattice

if TYPE_CHECKING:
    from tests.synthetic.osm_writer import OsmWriter
    from tests.synthetic.plan import Cell, Edge

# highway=* values written by the generator that pedestrians may use (all of them).
WALKABLE_HIGHWAYS = frozenset(
    {"trunk", "primary", "secondary", "tertiary", "residential", "service", "footway"}
)
_SNAP_M = 3.0  # junctions on an arterial closer than this share a node, metres
_SIGNAL_TAGS = {"highway": "traffic_signals"}


class LatticeNodes:
    """Nodes on the lattice lines, each written once and shared by every way that meets it."""

    def __init__(self, lattice: Lattice, w: OsmWriter) -> None:
        self.lattice = lattice
        self.w = w
        self._crossings: dict[tuple[int, int], int] = {}
        # Per lattice edge: (position along it, node id), sorted.
        self.on_edges: dict[Edge, list[tuple[float, int]]] = {}

    def crossing(self, i: int, j: int) -> int:
        """The node where vertical line ``i`` crosses horizontal line ``j``."""
        nid = self._crossings.get((i, j))
        if nid is None:
            lattice = self.lattice
            both_roads = lattice.is_road("v", i) and lattice.is_road("h", j)
            tags = _SIGNAL_TAGS if both_roads else None
            nid = self.w.node(lattice.xs[i], lattice.ys[j], tags)
            self._crossings[(i, j)] = nid
        return nid

    def on_edge(self, edge: Edge, along: float) -> int:
        """The node at ``along`` on a lattice edge, shared by everything that meets it there."""
        lst = self.on_edges.setdefault(edge, [])
        i = bisect.bisect_left(lst, (along, -1))
        for j in (i - 1, i):
            if 0 <= j < len(lst) and abs(lst[j][0] - along) <= _SNAP_M:
                return lst[j][1]
        axis, idx, _ = edge
        c = self.lattice.coord(axis, idx)
        nid = self.w.node(c, along) if axis == "v" else self.w.node(along, c)
        lst.insert(i, (along, nid))
        return nid


def write_local_roads(cell: Cell, nodes: LatticeNodes, w: OsmWriter) -> None:
    """Write the roads planned inside a superblock; their ends on a lattice edge are shared."""
    local: dict[tuple[float, float], int] = {}
    point_tags = cell.point_tags
    for ax in cell.lines:
        refs: list[int] = []
        for pos in sorted(ax.pts):
            edge = ax.ends.get(pos)
            if edge is not None:
                nid = nodes.on_edge(edge, ax.c)
            else:
                key = (ax.c, pos) if ax.vertical else (pos, ax.c)
                known = local.get(key)
                if known is None:
                    known = w.node(key[0], key[1], point_tags.get(key))
                    local[key] = known
                nid = known
            if not refs or refs[-1] != nid:
                refs.append(nid)
        if len(refs) >= 2:
            w.way(refs, ax.tags)


def write_arterials(
    lattice: Lattice, nodes: LatticeNodes, present: set[tuple[int, int]], w: OsmWriter
) -> None:
    """Write the arterials along the edges of the superblocks in ``present`` (col, row)."""
    nrows = len(lattice.ys) - 1
    for i in range(lattice.ncols + 1):
        if lattice.is_road("v", i):
            segs = [r for r in range(nrows) if (i - 1, r) in present or (i, r) in present]
            _write_arterial(lattice, nodes, w, "v", i, segs)
    for j in range(nrows + 1):
        if lattice.is_road("h", j):
            segs = [c for c in range(lattice.ncols) if (c, j - 1) in present or (c, j) in present]
            _write_arterial(lattice, nodes, w, "h", j, segs)


def _write_arterial(
    lattice: Lattice, nodes: LatticeNodes, w: OsmWriter, axis: str, idx: int, segs: list[int]
) -> None:
    """Write one arterial: its runs of edges, split into ways every 3 superblocks, at name
    sections (北路 / 路 / 南路) and at bridges."""
    if not segs:
        return
    cls = lattice.line_class(axis, idx)
    base = lattice.line_name(axis, idx)
    along = lattice.ys if axis == "v" else lattice.xs
    # Name sections for long 路.
    total = len(segs)
    sections: list[float] = []
    if base.endswith("路") and cls != "trunk" and total >= 6:
        sections = [along[segs[0] + round(total / 3)], along[segs[0] + round(2 * total / 3)]]
    if axis == "v":
        section_names = [base[:-1] + "南路", base, base[:-1] + "北路"]
    else:
        section_names = [base[:-1] + "西路", base, base[:-1] + "东路"]
    for run in _runs(segs):
        seq, bridges = _run_nodes(lattice, nodes, w, axis, idx, run, sections)
        piece: list[tuple[float, int]] = []
        for n_i, (pos, nid, brk) in enumerate(seq):
            piece.append((pos, nid))
            if (brk and len(piece) > 1) or n_i == len(seq) - 1:
                if len(piece) > 1:
                    mid = (piece[0][0] + piece[-1][0]) / 2
                    section = sum(1 for b in sections if mid > b) if sections else 1
                    tags = {
                        "highway": cls,
                        "name": section_names[section] if sections else base,
                        "lanes": ROAD_LANES[cls],
                    }
                    if any(lo <= mid <= hi for lo, hi in bridges):
                        tags["bridge"] = "yes"
                        tags["layer"] = "1"
                    w.way([n for _, n in piece], tags)
                piece = [(pos, nid)]


def _runs(segs: list[int]) -> list[list[int]]:
    """Consecutive edge indices grouped into runs: [1, 2, 4] -> [[1, 2], [4]]."""
    runs: list[list[int]] = []
    for s in segs:
        if runs and runs[-1][-1] == s - 1:
            runs[-1].append(s)
        else:
            runs.append([s])
    return runs


def _run_nodes(
    lattice: Lattice,
    nodes: LatticeNodes,
    w: OsmWriter,
    axis: str,
    idx: int,
    run: list[int],
    sections: list[float],
) -> tuple[list[tuple[float, int, bool]], list[tuple[float, float]]]:
    """The nodes of one run of an arterial as (position, node id, way breaks here), bridge
    ends included, and the bridges' (start, end) positions along the line, metres."""
    c = lattice.coord(axis, idx)
    cross_axis = "h" if axis == "v" else "v"
    along = lattice.ys if axis == "v" else lattice.xs

    def node_xy(pos: float) -> int:
        return w.node(c, pos) if axis == "v" else w.node(pos, c)

    def crossing(s: int) -> int:
        return nodes.crossing(idx, s) if axis == "v" else nodes.crossing(s, idx)

    seq: list[tuple[float, int, bool]] = []
    for k, s in enumerate(run):
        pos = along[s]
        nid = crossing(s)
        seq.append((pos, nid, k % 3 == 0 or pos in sections))
        edge = (axis, idx, s)
        seq.extend((p, nid2, False) for p, nid2 in nodes.on_edges.get(edge, []))
    last = run[-1] + 1
    seq.append((along[last], crossing(last), True))
    start, end = seq[0][0], seq[-1][0]
    bridges: list[tuple[float, float]] = []
    for (f_axis, f_idx), feature in sorted(lattice.features.items()):
        if f_axis != cross_axis or f_idx >= len(along):
            continue
        f = along[f_idx]
        bh = feature.bridge_hw
        if start < f < end:
            seq = [(p, n, b and not f - bh < p < f + bh) for p, n, b in seq]
            seq.append((f - bh, node_xy(f - bh), True))
            seq.append((f + bh, node_xy(f + bh), True))
            bridges.append((f - bh, f + bh))
        elif f == end:
            seq = [e for e in seq if e[0] < f - bh]
            seq.append((f - bh, node_xy(f - bh), True))
        elif f == start:
            seq = [e for e in seq if e[0] > f + bh]
            seq.append((f + bh, node_xy(f + bh), True))
        seq.sort(key=lambda e: e[0])
    return seq, bridges
