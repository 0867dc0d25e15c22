"""Seeded synthetic Chinese-style urban districts written as OpenStreetMap XML: the entry.

Test and benchmark data, from a handful of buildings to 100,000+ (about 900 communities):
:func:`write_district_osm` draws the layout from one seeded random generator, plans it row by
row of superblocks and streams it to the file, so the same count and seed give the same file.

Coordinates: the district is laid out in local metres (x east, y north) on a plane whose origin
lies near the district centre. Before writing, the whole layout is turned by a small
seed-dependent angle (at most 10 degrees, so slab buildings stay roughly east-west) and each node
is converted to WGS84 lon/lat degrees (EPSG:4326) through an azimuthal equidistant projection
centred on ``origin``. Node coordinates are written with 7 decimals (about 1 cm).

Layout, from large to small, and the module that draws each part:

* a lattice of arterial roads (highway=trunk / primary / secondary) 400-700 m apart forming
  superblocks (街坊) (:mod:`~tests.synthetic.lattice`, :mod:`~tests.synthetic.streets`). At
  larger sizes a river or a railway may replace a lattice line; arterials cross it on bridges
  (:mod:`~tests.synthetic.barriers`). Nothing is built within the corridor of a lattice line.
* inside each superblock: 1-4 gated compounds (小区) separated by branch roads, strips of shops
  along arterials, a plot with the community service centre and a kindergarten, sometimes a
  school or an office plot (:mod:`~tests.synthetic.superblock`,
  :mod:`~tests.synthetic.amenities`).
* inside each compound: rows of south-facing slab buildings (板楼, 40-80 m long, 10-15 m deep)
  and point towers, row gaps 1.0-1.25 x the height of the row to the south (sunlight rule), served
  by service roads and footways that reach the surrounding streets through gates
  (:mod:`~tests.synthetic.compounds`).
* communities (社区) of one superblock or two neighbouring ones, grouped into street offices
  (街道), drawn as boundary relations along the arterial centre lines
  (:mod:`~tests.synthetic.communities`).

The tag conventions readers can rely on are listed in :func:`write_district_osm`.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from tests.synthetic.barriers import write_features
from tests.synthetic.communities import Admin, add_row, new_admin, write_boundaries
from tests.synthetic.lattice import Lattice, gap, new_lattice
from tests.synthetic.names import Names
from tests.synthetic.osm_writer import OsmWriter
from tests.synthetic.plan import Cell, PlanContext
from tests.synthetic.streets import LatticeNodes, write_arterials
from tests.synthetic.superblock import plan_cell, plan_small_district, trim, write_cell


@dataclass(frozen=True)
class DistrictSummary:
    """What :func:`write_district_osm` wrote.

    Attributes:
        n_buildings: building ways in the file (the requested count).
        n_residential: of those, building=residential or building=apartments.
        n_households_tagged: sum of the building:flats values written.
        n_communities: admin_level=10 boundary relations (社区).
        n_superblocks: lattice cells (街坊) that received buildings.
        bbox: (min_lon, min_lat, max_lon, max_lat) of all nodes, WGS84 degrees (EPSG:4326).
    """

    n_buildings: int
    n_residential: int
    n_households_tagged: int
    n_communities: int
    n_superblocks: int
    bbox: tuple[float, float, float, float]


def write_district_osm(
    path: str | os.PathLike[str],
    n_buildings: int,
    *,
    seed: int = 0,
    origin: tuple[float, float] = (118.78, 32.04),
    flats_tag_share: float = 0.8,
) -> DistrictSummary:
    """Write a synthetic district of ``n_buildings`` buildings as OSM XML.

    The same ``n_buildings`` and ``seed`` give a byte-identical file. The file is streamed: nodes,
    ways and relations go to temporary files as they are made and are joined at the end, so
    memory stays small at 100,000+ buildings.

    Args:
        path: output file; a name ending in ``.bz2`` (``.osm.bz2``) is written bz2-compressed,
            anything else as plain XML.
        n_buildings: number of building ways to write (>= 1); the file holds exactly this many.
        seed: layout seed.
        origin: (lon, lat) in WGS84 degrees near which the district is centred; also the centre
            of the azimuthal equidistant projection used to place it.
        flats_tag_share: share (0-1) of residential buildings tagged with building:flats.

    Returns:
        A :class:`DistrictSummary` of what was written.

    Tag conventions:
        * XML: ``<osm version="0.6" generator="wangge-synthetic">`` then ``<bounds>``, all nodes,
          all ways, all relations, ids positive, ascending and unique per element type,
          ``version="1"`` on every element.
        * Residential buildings: closed ways, building=residential | apartments,
          addr:housenumber "N栋" or "N幢" (numbered per compound). On ``flats_tag_share`` of
          them building:levels (6, 7, 11, 18, 26 or 33) and building:flats = units x levels x 2
          with units = max(1, length // 15 m); the others carry building:levels only, or
          (about a quarter of them) height=<levels x 3 m> only.
        * Other buildings: building=retail | commercial (shops, 1-3 levels), office, school,
          kindergarten, garages, and building=public for community service centres
          (amenity=community_centre, name "XX社区服务中心", one per community) and health
          stations (amenity=clinic, name "XX社区卫生服务站"). All carry building:levels.
        * Compounds: closed ways landuse=residential + name "XX小区" / "XX花园" / "XX苑" / ...
          Other plots: amenity=school (+ name), amenity=kindergarten (+ name),
          landuse=commercial, leisure=park, leisure=pitch. Buildings never cross plot edges.
        * Streets: highway=trunk | primary | secondary (arterials, with name, lanes; bridge=yes
          + layer=1 where they cross a river or railway), tertiary / residential (branch roads,
          named), service (compound roads, gate roads) and footway (lanes, pedestrian gates).
          Gate nodes carry barrier=gate; arterial crossings highway=traffic_signals. All of
          them share nodes at junctions and form one connected network.
        * Optional river: waterway=river line + natural=water, water=river closed way;
          optional railway: railway=rail. Both run along a superblock edge.
        * Communities: relations type=boundary, boundary=administrative, admin_level=10,
          name "XX社区", ref = 12-digit code COUNTY_CODE + 3-digit street + 3-digit community
          (e.g. 320106002001), members role=outer. Street offices: the same with
          admin_level=8, name "XX街道", ref = COUNTY_CODE + street + "000". Member ways are
          two-node ways tagged boundary=administrative + admin_level (8 where a street office
          border runs, else 10) between arterial crossing nodes, along the centre lines.

    Raises:
        ValueError: ``n_buildings`` < 1, ``flats_tag_share`` outside 0-1 or ``origin`` not a
            valid lon/lat.
    """
    if isinstance(n_buildings, bool) or not isinstance(n_buildings, int) or n_buildings < 1:
        raise ValueError(f"n_buildings must be a positive integer, got {n_buildings!r}")
    if not 0.0 <= flats_tag_share <= 1.0:
        raise ValueError(f"flats_tag_share must be within 0..1, got {flats_tag_share!r}")
    lon, lat = float(origin[0]), float(origin[1])
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 80.0):
        raise ValueError(f"origin must be (lon, lat) in degrees within +-80 lat, got {origin!r}")
    path = Path(path)
    compress = path.name.lower().endswith(".bz2")
    rng = random.Random(seed)
    # The order of the draws is the file: lattice, then admin names, then row by row.
    lattice = new_lattice(rng, n_buildings)
    admin = new_admin(rng, lattice)
    ctx = PlanContext(rng, lattice, Names(rng), float(flats_tag_share))
    return _write(ctx, admin, n_buildings, (lon, lat), path, compress)


def _write(
    ctx: PlanContext,
    admin: Admin,
    n: int,
    origin: tuple[float, float],
    path: Path,
    compress: bool,
) -> DistrictSummary:
    """Plan and write the district row by row of superblocks, then the arterials, rivers and
    railways and the boundaries along the rows that were built."""
    lattice = ctx.lattice
    est_height = lattice.est_rows * lattice.spacing
    w = OsmWriter(origin, lattice.rotation, (-lattice.xs[-1] / 2, -est_height / 2))
    nodes = LatticeNodes(lattice, w)
    stats = {"buildings": 0, "residential": 0, "flats": 0}
    try:
        remaining = n
        row = 0
        while remaining > 0:
            cells, remaining = _plan_row(ctx, row, remaining)
            if lattice.small:
                w.set_offset(-lattice.xs[-1] / 2, -lattice.ys[-1] / 2)
            add_row(admin, cells)
            for cell in cells:
                write_cell(cell, nodes, w, stats)
            w.flush_nodes()
            row += 1
            if row > 10 * (lattice.est_rows + 10):
                raise RuntimeError("synthetic district: layout does not fill up")
        write_arterials(lattice, nodes, admin.present, w)
        write_features(lattice, w)
        write_boundaries(admin, nodes, w)
        bbox = w.finish(path, compress)
    finally:
        w.close()
    return DistrictSummary(
        n_buildings=stats["buildings"],
        n_residential=stats["residential"],
        n_households_tagged=stats["flats"],
        n_communities=len(admin.communities),
        n_superblocks=len(admin.present),
        bbox=bbox,
    )


def _plan_row(ctx: PlanContext, row: int, remaining: int) -> tuple[list[Cell], int]:
    """The superblocks of one row, trimmed to the ``remaining`` count; returns them and the
    count still to place. A small district is one superblock grown to hold them all."""
    lattice = ctx.lattice
    if lattice.small:
        cell = plan_small_district(ctx, remaining)
        trim(cell, remaining)
        return [cell], 0
    _add_row_line(ctx.rng, lattice)
    cells = []
    for col in range(lattice.ncols):
        if remaining <= 0:
            break
        cell = plan_cell(ctx, col, row)
        cells.append(cell)
        remaining -= trim(cell, remaining)
    return cells, remaining


def _add_row_line(rng: random.Random, lattice: Lattice) -> None:
    """The next horizontal lattice line, one gap north of the last."""
    lattice.ys.append(lattice.ys[-1] + gap(rng, lattice.spacing))
