"""Communities (社区) and street offices (街道) of the synthetic district.

A community is one superblock or two neighbouring ones of a row (when together they hold at
most ``_PAIR_MAX`` buildings); street offices are blocks of ``bw`` x ``bh`` superblocks, at
most about 90 of them. Both are written as boundary relations (admin_level=10 / 8) whose member
ways are two-node ways along the arterial centre lines, between lattice crossings. Codes follow
统计用区划代码: ``COUNTY_CODE`` + 3-digit street office + 3-digit community.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tests.synthetic.names import COMMUNITY_STEMS, COMMUNITY_SUFFIXES, ROAD_STEMS, cn_number

if TYPE_CHECKING:
    from tests.synthetic.lattice import Lattice
    from tests.synthetic.osm_writer import OsmWriter
    from tests.synthetic.plan import Cell, Edge
    from tests.synthetic.streets import LatticeNodes

# 统计用区划代码 of the county-level district the codes are minted under (南京市鼓楼区).
COUNTY_CODE = "320106"
# Two neighbouring superblocks form one community when together they have at most _PAIR_MAX
# buildings and the smaller has fewer than _PAIR_SMALL.
_PAIR_MAX = 180
_PAIR_SMALL = 95


@dataclass(slots=True, eq=False)
class Community:
    cells: list[tuple[int, int]]  # (col, row) of its superblocks
    name: str
    ref: str
    street: int


@dataclass(slots=True, eq=False)
class StreetOffice:
    name: str
    ref: str
    cells: list[tuple[int, int]] = field(default_factory=list)
    n_communities: int = 0


@dataclass(eq=False)
class Admin:
    """The district's communities and street offices, filled row by row."""

    bw: int  # street office width, superblocks
    bh: int  # street office height, superblocks
    community_names: list[str]
    street_stems: list[str]
    offices: dict[tuple[int, int], StreetOffice] = field(default_factory=dict)
    communities: list[Community] = field(default_factory=list)
    present: set[tuple[int, int]] = field(default_factory=set)  # superblocks written


def new_admin(rng: random.Random, lattice: Lattice) -> Admin:
    """Draw the street office size and shuffle the name pools."""
    bw, bh = rng.choice((2, 4)), rng.choice((2, 3))
    while math.ceil(lattice.ncols / bw) * math.ceil(lattice.est_rows * 1.2 / bh) > 90:
        if bw <= bh:
            bw += 2
        else:
            bh += 1
    community_names = [
        s + suf
        for s in COMMUNITY_STEMS
        for suf in COMMUNITY_SUFFIXES
        if not (suf and s.endswith(suf))
    ]
    rng.shuffle(community_names)
    street_stems = list(ROAD_STEMS)
    rng.shuffle(street_stems)
    return Admin(bw, bh, community_names, street_stems)


def add_row(admin: Admin, cells: list[Cell]) -> None:
    """Group a row of planned superblocks into communities and name their service centres
    (the first centre of a community is its 社区服务中心, the others 卫生服务站)."""
    counts = [c.count() for c in cells]
    i = 0
    while i < len(cells):
        group = [cells[i]]
        if (
            i + 1 < len(cells)
            and cells[i].col // admin.bw == cells[i + 1].col // admin.bw
            and counts[i] + counts[i + 1] <= _PAIR_MAX
            and min(counts[i], counts[i + 1]) < _PAIR_SMALL
        ):
            group.append(cells[i + 1])
        i += len(group)
        comm, office = _new_community(admin, group)
        for cell in group:
            office.cells.append((cell.col, cell.row))
            admin.present.add((cell.col, cell.row))
        _name_centres(comm, group)


def _new_community(admin: Admin, group: list[Cell]) -> tuple[Community, StreetOffice]:
    """A community of the superblocks in ``group``, numbered within its street office."""
    number, office = _office_for(admin, group[0].col, group[0].row)
    office.n_communities += 1
    k = len(admin.communities)
    names = admin.community_names
    stem = names[k % len(names)]
    if k >= len(names):
        stem += cn_number(k // len(names) + 1)
    comm = Community(
        [(cell.col, cell.row) for cell in group],
        f"{stem}社区",
        f"{COUNTY_CODE}{number:03d}{office.n_communities:03d}",
        number,
    )
    admin.communities.append(comm)
    return comm, office


def _name_centres(comm: Community, group: list[Cell]) -> None:
    centre_named = False
    for cell in group:
        for b in cell.nonres:
            if b.role == "centre" and b.keep:
                if not centre_named:
                    b.tags["amenity"] = "community_centre"
                    b.tags["name"] = f"{comm.name}服务中心"
                    centre_named = True
                else:
                    b.tags["amenity"] = "clinic"
                    b.tags["healthcare"] = "clinic"
                    b.tags["name"] = f"{comm.name}卫生服务站"


def _office_for(admin: Admin, col: int, row: int) -> tuple[int, StreetOffice]:
    """The street office of superblock (col, row), made on first use, and its number."""
    key = (row // admin.bh, col // admin.bw)
    office = admin.offices.get(key)
    if office is None:
        number = len(admin.offices) + 1
        k = number - 1
        stems = admin.street_stems
        stem = stems[k % len(stems)]
        if k >= len(stems):
            stem += cn_number(k // len(stems) + 1)
        office = StreetOffice(f"{stem}路街道", f"{COUNTY_CODE}{number:03d}000")
        admin.offices[key] = office
    return int(office.ref[6:9]), office


def write_boundaries(admin: Admin, nodes: LatticeNodes, w: OsmWriter) -> None:
    """Write the boundary ways, then the community and street office relations."""
    office_outlines = {office: outline(office.cells) for office in admin.offices.values()}
    on_office_border = {e for ring in office_outlines.values() for e in ring}
    edge_ways: dict[Edge, int] = {}

    def way_for(edge: Edge) -> int:
        wid = edge_ways.get(edge)
        if wid is None:
            axis, idx, s = edge
            if axis == "v":
                a, b = nodes.crossing(idx, s), nodes.crossing(idx, s + 1)
            else:
                a, b = nodes.crossing(s, idx), nodes.crossing(s + 1, idx)
            level = "8" if edge in on_office_border else "10"
            wid = w.way([a, b], {"boundary": "administrative", "admin_level": level})
            edge_ways[edge] = wid
        return wid

    rings = [outline(comm.cells) for comm in admin.communities]
    for ring in rings:
        for e in ring:
            way_for(e)
    for comm, ring in zip(admin.communities, rings, strict=True):
        w.relation(
            [("way", way_for(e), "outer") for e in ring],
            _boundary_tags("10", comm.name, comm.ref),
        )
    for office, ring in office_outlines.items():
        w.relation(
            [("way", way_for(e), "outer") for e in ring],
            _boundary_tags("8", office.name, office.ref),
        )


def _boundary_tags(admin_level: str, name: str, ref: str) -> dict[str, str]:
    return {
        "type": "boundary",
        "boundary": "administrative",
        "admin_level": admin_level,
        "name": name,
        "ref": ref,
    }


def outline(cells: list[tuple[int, int]]) -> list[Edge]:
    """Lattice edges around a set of cells (col, row), in ring order.

    Edge keys: ("h", j, i) runs from crossing (i, j) to (i + 1, j); ("v", i, j) from (i, j) to
    (i, j + 1).
    """
    count: Counter = Counter()
    for c, r in cells:
        count.update((("h", r, c), ("h", r + 1, c), ("v", c, r), ("v", c + 1, r)))
    edges = [e for e, k in count.items() if k == 1]

    def ends(e: Edge) -> tuple[tuple[int, int], tuple[int, int]]:
        axis, idx, s = e
        return ((s, idx), (s + 1, idx)) if axis == "h" else ((idx, s), (idx, s + 1))

    at: dict[tuple[int, int], list[Edge]] = {}
    for e in edges:
        for v in ends(e):
            at.setdefault(v, []).append(e)
    if any(len(v) != 2 for v in at.values()):
        return sorted(edges)  # not a simple ring; members unordered
    ring = [min(edges)]
    vertex = ends(ring[0])[1]
    while len(ring) < len(edges):
        a, b = at[vertex]
        nxt = b if a == ring[-1] else a
        ring.append(nxt)
        e0, e1 = ends(nxt)
        vertex = e1 if e0 == vertex else e0
    return ring
