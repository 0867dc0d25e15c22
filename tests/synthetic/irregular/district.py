"""The entry of the irregular district generator: :func:`write_irregular_district`.

Steps, each drawing from seeded numpy Generators in a fixed order (same seed and style, same
file): a layout grown until it holds enough building candidates (:mod:`.layout`), cropped to
the smallest scaled copy of its area that holds the count; building tags; dirty data
(:mod:`.dirty`); communities that ignore the streets (:mod:`.communities`); then the OSM XML
(:mod:`.osm`, WGS84 lon/lat around 114.30 E, 30.55 N). Local metres until written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from shapely.geometry import Polygon

from tests.synthetic.irregular.buildings import (
    BLOCK_STYLES,
    DENSITY,
    building_tags,
    estimated_households,
    style_weights,
)
from tests.synthetic.irregular.communities import (
    add_hole,
    add_tiny,
    merge_two_parts,
    voronoi_communities,
)
from tests.synthetic.irregular.dirty import (
    dirty_copies,
    straddling_slabs,
    strip_some_tags,
)
from tests.synthetic.irregular.geometry import line_parts
from tests.synthetic.irregular.layout import Layout, crop, make_layout, network_features
from tests.synthetic.irregular.names import COMMUNITY_STEMS, community_names
from tests.synthetic.irregular.osm import OsmDocument

STYLES = ("curved", "radial", "organic", "riverside", "railway", "mixed")
COUNTY_CODE = "420106"  # 武昌区
# Feature names for the block styles present.
_STYLE_FEATURES = {"tower": "towers", "slab": "slabs", "villa": "villas", "lanes": "old_lanes",
                   "nonres": "non_residential", "courtyard": "courtyards"}


@dataclass
class IrregularDistrict:  # what was generated, for tests to check against
    path: Path
    buildings: int
    households: int  # sum of building:flats written (buildings without flats count 0)
    communities: int
    features: list[str] = field(default_factory=list)


def write_irregular_district(path: Path, seed: int, *, buildings: int = 800,
                             style: str | None = None) -> IrregularDistrict:
    """Write an irregular synthetic district as OSM XML and say what is in it.

    Deterministic in seed (and style): same seed, same file. ``buildings`` (>= 20) building
    footprints are written, dirty ones (duplicates, overlaps, slivers) included.
    """
    path = Path(path)
    if buildings < 20:
        raise ValueError(f"buildings must be >= 20, got {buildings}")
    pick = np.random.default_rng([seed, 7919])
    if style is None:
        style = STYLES[int(pick.integers(len(STYLES)))]
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    weights = style_weights(np.random.default_rng([seed, STYLES.index(style), 1]))

    n_dirty_budget = max(2, round(buildings * 0.03))
    n_main = buildings - n_dirty_budget
    rng, lay = _layout_holding(seed, style, n_main, weights)
    lay, keep = _crop_to_count(rng, lay, n_main)
    features = [*lay.features, *network_features(lay)]
    polys, tags_list, landuse_blocks, empty = _tag_buildings(rng, lay, keep, features)

    extra_polys, extra_tags, n_straddle = dirty_copies(rng, polys, tags_list, n_dirty_budget,
                                                       features)
    strip_some_tags(rng, tags_list, features)

    all_polys = polys + extra_polys
    all_tags = tags_list + extra_tags
    comm, comm_features = _draw_communities(rng, lay.area, all_polys, all_tags)
    # buildings across community boundaries: natural ones, and a few slabs placed on a border
    borders = shapely.union_all([shapely.boundary(g) for g in comm]).difference(
        lay.area.boundary.buffer(1))
    straddling_slabs(rng, lay.blocks, borders, all_polys, all_tags, n_straddle)
    # fill what is left of the budget with more duplicates, so the count is exact
    while len(all_polys) < buildings:
        i = int(rng.integers(len(polys)))
        all_polys.append(polys[i])
        all_tags.append(dict(tags_list[i]))
        if "duplicates" not in features:
            features.append("duplicates")
    straddling = int(np.sum(shapely.intersects(np.array(all_polys, dtype=object), borders)))
    if straddling:
        features.append("straddling")
    features += comm_features

    households = _write_osm(rng, path, lay, landuse_blocks, empty, all_polys, all_tags, comm)
    return IrregularDistrict(path=path, buildings=len(all_polys), households=households,
                             communities=len(comm), features=[f"style:{style}", *features])


def _layout_holding(seed: int, style: str, n_main: int,
                    weights: np.ndarray) -> tuple[np.random.Generator, Layout]:
    """A layout with at least ``n_main`` building candidates, its area grown until it holds
    them; with the Generator that drew it (the later steps go on drawing from it)."""
    density = 0.5 * sum(weights[i] * DENSITY[s] for i, s in enumerate(BLOCK_STYLES))
    radius = math.sqrt(n_main * 1.5 / density / math.pi)
    rng = np.random.default_rng([seed, STYLES.index(style), 2])
    lay = make_layout(rng, style, radius, weights)
    for _attempt in range(6):
        if len(lay.cand) >= n_main:
            break
        radius *= float(np.clip(math.sqrt(n_main * 1.5 / max(len(lay.cand), 1)), 1.15, 2.0))
        rng = np.random.default_rng([seed, STYLES.index(style), 2])
        lay = make_layout(rng, style, radius, weights)
    if len(lay.cand) < n_main:
        raise RuntimeError(f"could not place {n_main} buildings (seed {seed}, style {style})")
    return rng, lay


def _crop_to_count(rng, lay: Layout, n_main: int) -> tuple[Layout, np.ndarray]:
    """The layout cropped to the smallest scaled copy of the area that holds ``n_main``
    candidates, and which candidates are kept (exactly ``n_main``)."""

    def inside(f: float) -> np.ndarray:
        a = shapely.affinity.scale(lay.area, f, f, origin=(0, 0)).buffer(-4)
        shapely.prepare(a)
        return shapely.contains(a, lay.cand)

    lo, hi = 0.0, 1.0
    for _ in range(14):
        mid = (lo + hi) / 2
        if int(inside(mid).sum()) >= n_main:
            hi = mid
        else:
            lo = mid
    keep = inside(hi)
    surplus = int(keep.sum()) - n_main
    if surplus > 0:
        ring = np.flatnonzero(keep & ~inside(lo))
        keep[rng.choice(ring, surplus, replace=False)] = False
    return crop(lay, hi), keep


def _tag_buildings(
    rng, lay: Layout, keep: np.ndarray, features: list[str]
) -> tuple[list, list[dict[str, str]], set[int], list[int]]:
    """The kept footprints (courtyard blocks with their hole) and their tags, the blocks
    drawn as landuse=residential compounds and the empty blocks; appends what is present
    to ``features``."""
    nb = len(lay.blocks)
    polys = list(lay.cand[keep])
    bids = lay.cand_block[keep]
    per_block = np.bincount(bids, minlength=nb)
    landuse_share = rng.choice([0.0, 0.5, 0.9], p=[0.5, 0.3, 0.2])
    landuse_blocks = {int(b) for b in range(nb)
                      if BLOCK_STYLES[lay.block_style[b]] in ("slab", "tower")
                      and per_block[b] >= 4 and rng.random() < landuse_share}
    tags_list = []
    for poly, b in zip(polys, bids.tolist(), strict=True):
        st = BLOCK_STYLES[lay.block_style[b]]
        tags_list.append(building_tags(rng, st, lay.block_kind[b], poly, b in landuse_blocks))
    styles_used = {BLOCK_STYLES[lay.block_style[b]] for b in np.unique(bids)}
    features += [_STYLE_FEATURES[s] for s in BLOCK_STYLES
                 if s in styles_used and s in _STYLE_FEATURES]
    if any(BLOCK_STYLES[lay.block_style[b]] == "slab" and per_block[b] >= 4 for b in range(nb)):
        features.append("compounds")
    empty = [b for b in range(nb) if per_block[b] == 0]
    if empty:
        features.append("parks")
    if landuse_blocks:
        features.append("landuse_residential")
    # courtyard blocks get a hole: written as multipolygon relations
    for i, b in enumerate(bids.tolist()):
        if BLOCK_STYLES[lay.block_style[b]] == "courtyard":
            inset = rng.uniform(11, 14)
            inner = polys[i].buffer(-inset, join_style="mitre")
            if not inner.is_empty:
                polys[i] = Polygon(polys[i].exterior.coords, [inner.exterior.coords])
    return polys, tags_list, landuse_blocks, empty


def _draw_communities(rng, area: Polygon, all_polys: list,
                      all_tags: list[dict[str, str]]) -> tuple[list, list[str]]:
    """Communities of about 300-1,200 estimated households each (3-30 of them), Voronoi
    cells that ignore the streets, some awkward (two parts, a hole, a tiny one)."""
    hh_total = sum(estimated_households(t, p.area) for p, t in zip(all_polys, all_tags,
                                                                 strict=True))
    n_comm = int(np.clip(round(hh_total / rng.uniform(300, 1200)), 3, 30))
    n_comm = max(3, min(n_comm, len(all_polys) // 12))
    merge = 1 if n_comm >= 5 and rng.random() < 0.5 else 0
    comm = voronoi_communities(rng, area, n_comm + merge)
    comm_features: list[str] = []
    if merge:
        comm = merge_two_parts(rng, comm, comm_features)
    comm = add_hole(rng, comm, comm_features)
    if rng.random() < 0.4:
        comm, _tiny_idx = add_tiny(rng, comm, all_polys, all_tags, comm_features)
    return comm, comm_features


def _write_osm(rng, path: Path, lay: Layout, landuse_blocks: set[int], empty: list[int],
               all_polys: list, all_tags: list[dict[str, str]], comm: list) -> int:
    """Write the district; returns the sum of building:flats written."""
    osm = OsmDocument()
    for geom, tags in lay.separate:
        part = geom.intersection(lay.area.buffer(150))
        for ln in line_parts(part, 1):
            osm.way(ln.coords, tags, shared=False)
    for geom, tags in lay.streets:
        osm.way(geom.coords, tags, shared=True)
    for poly, tags in lay.water:
        osm.area(poly, tags, shared=False)
    for b in sorted(landuse_blocks):
        name = f"{rng.choice(COMMUNITY_STEMS)}{rng.choice(['小区', '花园', '苑', '家园'])}"
        osm.area(lay.blocks[b].simplify(0.3), {"landuse": "residential", "name": name},
                 shared=False)
    for b in empty:
        if BLOCK_STYLES[lay.block_style[b]] == "park" and rng.random() < 0.7:
            osm.area(lay.blocks[b].simplify(0.5), {"leisure": "park"}, shared=False)
    households = 0
    for poly, tags in zip(all_polys, all_tags, strict=True):
        osm.area(poly, tags, shared=False)
        households += int(tags.get("building:flats", 0))
    comm_names = community_names(rng, len(comm))
    street_code = int(rng.integers(1, 20))
    for k, (geom, name) in enumerate(zip(comm, comm_names, strict=True)):
        code = f"{COUNTY_CODE}{street_code:03d}{k + 1:03d}"
        osm.area(geom, {"place": "neighbourhood", "name": name, "ref": code}, shared=True)
    osm.write(path)
    return households
