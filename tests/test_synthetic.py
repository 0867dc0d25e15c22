"""Tests for tests.synthetic, the seeded synthetic district generator (OSM XML).

Geometry checks run in metres on an azimuthal equidistant projection centred on the default
origin (118.78 E, 32.04 N); the file itself is WGS84 lon/lat (EPSG:4326).
"""

from __future__ import annotations

import bz2
import itertools
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import osmium
import pytest
import shapely
from pyproj import Transformer
from shapely.strtree import STRtree

from tests.synthetic import (
    COUNTY_CODE,
    HOUSEHOLDS_PER_UNIT_FLOOR,
    WALKABLE_HIGHWAYS,
    DistrictSummary,
    write_district_osm,
)

ARTERIALS = {"trunk", "primary", "secondary"}
RESIDENTIAL = {"residential", "apartments"}
# Seed whose 3000-building district has both a river and a railway (checked below).
FEATURE_SEED = 5

_TO_METRES = Transformer.from_crs(
    "EPSG:4326", "+proj=aeqd +lat_0=32.04 +lon_0=118.78 +datum=WGS84 +units=m", always_xy=True
)


def _metres(geoms: list) -> np.ndarray:
    """Project WGS84 shapely geometries to local metres."""

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = _TO_METRES.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), fn)


@dataclass
class Parsed:
    """What the tests need from one file, collected in one pyosmium pass."""

    order_ok: bool = True
    missing_refs: int = 0
    unclosed: list[int] = field(default_factory=list)
    building_tags: dict[int, dict[str, str]] = field(default_factory=dict)
    buildings: dict[int, object] = field(default_factory=dict)  # way id -> polygon (metres)
    compounds: list = field(default_factory=list)  # landuse=residential polygons
    communities: list[tuple[dict[str, str], object]] = field(default_factory=list)
    streets: list[tuple[dict[str, str], object]] = field(default_factory=list)
    water: list = field(default_factory=list)
    highways: list[tuple[dict[str, str], list[int], object]] = field(default_factory=list)
    railways: list = field(default_factory=list)
    rivers: list = field(default_factory=list)
    n_nodes: int = 0
    lonlat_range: tuple[float, float, float, float] | None = None


def parse(path: Path) -> Parsed:
    out = Parsed()
    wkb = osmium.geom.WKBFactory()
    rank = {"n": 0, "w": 1, "r": 2}
    last_rank, last_id = -1, 0
    lons, lats = [], []
    area_rows: list[tuple[str, dict[str, str], str]] = []
    line_rows: list[tuple[str, dict[str, str], list[int], list[tuple[float, float]]]] = []
    for obj in osmium.FileProcessor(str(path)).with_locations().with_areas():
        if obj.is_area():
            tags = dict(obj.tags)
            kind = None
            if obj.from_way() and "building" in tags:
                kind = f"b{obj.orig_id()}"
            elif obj.from_way() and tags.get("landuse") == "residential":
                kind = "compound"
            elif obj.from_way() and tags.get("natural") == "water":
                kind = "water"
            elif not obj.from_way() and tags.get("boundary") == "administrative":
                kind = f"admin{tags.get('admin_level')}"
            if kind is not None:
                area_rows.append((kind, tags, wkb.create_multipolygon(obj)))
            continue
        t = obj.type_str()
        if (rank[t], obj.id) <= (last_rank, last_id) or obj.id <= 0:
            out.order_ok = False
        last_rank, last_id = rank[t], obj.id
        if t == "n":
            out.n_nodes += 1
            lons.append(obj.location.lon)
            lats.append(obj.location.lat)
        elif t == "w":
            tags = dict(obj.tags)
            refs = [n.ref for n in obj.nodes]
            locs = []
            for n in obj.nodes:
                if n.location.valid():
                    locs.append((n.location.lon, n.location.lat))
                else:
                    out.missing_refs += 1
            polygon_like = "building" in tags or "landuse" in tags or "amenity" in tags
            polygon_like = polygon_like or "natural" in tags or "leisure" in tags
            if polygon_like and (refs[0] != refs[-1] or len(refs) < 4):
                out.unclosed.append(obj.id)
            if "building" in tags:
                out.building_tags[obj.id] = tags
            for key in ("highway", "railway", "waterway"):
                if key in tags:
                    line_rows.append((key, tags, refs, locs))
    out.lonlat_range = (min(lons), min(lats), max(lons), max(lats))
    geoms = _metres([shapely.from_wkb(g) for _, _, g in area_rows])
    for (kind, tags, _), geom in zip(area_rows, geoms, strict=True):
        if kind.startswith("b"):
            out.buildings[int(kind[1:])] = geom
        elif kind == "compound":
            out.compounds.append(geom)
        elif kind == "water":
            out.water.append(geom)
        elif kind == "admin10":
            out.communities.append((tags, geom))
        elif kind == "admin8":
            out.streets.append((tags, geom))
    lines = _metres([shapely.LineString(locs) for _, _, _, locs in line_rows])
    for (key, tags, refs, _), line in zip(line_rows, lines, strict=True):
        if key == "highway":
            out.highways.append((tags, refs, line))
        elif key == "railway":
            out.railways.append(line)
        else:
            out.rivers.append(line)
    return out


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> tuple[Path, DistrictSummary, Parsed]:
    path = tmp_path_factory.mktemp("synthetic") / "district_3000.osm"
    summary = write_district_osm(path, 3000, seed=FEATURE_SEED)
    return path, summary, parse(path)


def _building_arrays(parsed: Parsed) -> tuple[list[int], np.ndarray]:
    ids = sorted(parsed.buildings)
    return ids, np.asarray([parsed.buildings[i] for i in ids], dtype=object)


# ---- determinism and counts ------------------------------------------------------------------


def test_same_seed_same_bytes_and_bz2(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.osm", tmp_path / "b.osm", tmp_path / "c.osm"
    write_district_osm(a, 400, seed=11)
    write_district_osm(b, 400, seed=11)
    write_district_osm(c, 400, seed=12)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    z = tmp_path / "a.osm.bz2"
    write_district_osm(z, 400, seed=11)
    assert z.read_bytes()[:3] == b"BZh"
    assert bz2.decompress(z.read_bytes()) == a.read_bytes()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("n", [5, 200])
def test_small_counts(tmp_path: Path, n: int) -> None:
    path = tmp_path / f"d{n}.osm"
    summary = write_district_osm(path, n, seed=3)
    parsed = parse(path)
    assert abs(summary.n_buildings - n) <= max(1, 0.03 * n)
    assert len(parsed.building_tags) == summary.n_buildings == len(parsed.buildings)
    assert parsed.missing_refs == 0 and not parsed.unclosed and parsed.order_ok
    assert summary.n_communities >= 1 and len(parsed.communities) == summary.n_communities
    if n == 5:
        assert len(parsed.compounds) == 1  # one small compound
        assert summary.n_residential >= 3
    _assert_walkable(parsed)
    inside = STRtree([g for _, g in parsed.communities])
    idx, _ = inside.query(_building_arrays(parsed)[1], predicate="within")
    assert sorted(Counter(idx.tolist()).values()) == [1] * len(parsed.buildings)


def test_counts_and_summary(district) -> None:
    path, summary, parsed = district
    assert abs(summary.n_buildings - 3000) <= 90
    assert len(parsed.building_tags) == summary.n_buildings
    residential = [t for t in parsed.building_tags.values() if t["building"] in RESIDENTIAL]
    assert summary.n_residential == len(residential)
    assert 0.75 <= summary.n_residential / summary.n_buildings <= 0.95
    flats = sum(int(t.get("building:flats", 0)) for t in residential)
    assert summary.n_households_tagged == flats > 0
    assert summary.n_communities == len(parsed.communities)
    assert summary.n_superblocks >= summary.n_communities
    lon0, lat0, lon1, lat1 = summary.bbox
    assert parsed.lonlat_range == pytest.approx((lon0, lat0, lon1, lat1), abs=1e-7)
    assert lon0 < 118.78 < lon1 and lat0 < 32.04 < lat1
    head = path.read_text(encoding="utf-8")[:400]
    assert '<osm version="0.6" generator="wangge-synthetic">' in head
    bounds = re.search(
        r'<bounds minlat="([\d.]+)" minlon="([\d.]+)" maxlat="([\d.]+)" '
        r'maxlon="([\d.]+)"/>',
        head,
    )
    assert bounds is not None
    got = [float(v) for v in bounds.groups()]
    assert got == pytest.approx([lat0, lon0, lat1, lon1], abs=1e-7)


# ---- file structure ------------------------------------------------------------------------


def test_structure(district) -> None:
    _, _, parsed = district
    assert parsed.order_ok  # nodes, then ways, then relations; ids positive and ascending
    assert parsed.missing_refs == 0
    assert parsed.unclosed == []


def test_buildings_valid_and_disjoint(district) -> None:
    _, _, parsed = district
    ids, polys = _building_arrays(parsed)
    assert len(ids) == len(parsed.building_tags)
    assert all(shapely.is_valid(polys)) and all(shapely.area(polys) > 50.0)
    tree = STRtree(polys)
    a, b = tree.query(polys, predicate="intersects")
    assert [(ids[i], ids[j]) for i, j in zip(a, b, strict=True) if i != j] == []


def test_buildings_clear_of_roads_rail_water(district) -> None:
    _, _, parsed = district
    _, polys = _building_arrays(parsed)
    arterials = [g for t, _, g in parsed.highways if t["highway"] in ARTERIALS]
    assert arterials
    for name, geoms in (
        ("arterial", arterials),
        ("any highway", [g for _, _, g in parsed.highways]),
        ("railway", parsed.railways),
        ("river", parsed.rivers),
        ("water", parsed.water),
    ):
        if not geoms:
            continue
        hits, _ = STRtree(geoms).query(polys, predicate="intersects")
        assert len(hits) == 0, f"{len(hits)} buildings touch a {name}"


def test_feature_seed_has_river_and_railway(district) -> None:
    _, _, parsed = district
    assert parsed.railways and parsed.rivers and parsed.water
    bridges = [t for t, _, _ in parsed.highways if t.get("bridge") == "yes"]
    assert bridges and all(t["highway"] in ARTERIALS for t in bridges)


def test_every_building_in_exactly_one_community(district) -> None:
    _, _, parsed = district
    _, polys = _building_arrays(parsed)
    tree = STRtree([g for _, g in parsed.communities])
    idx, _ = tree.query(polys, predicate="within")
    counts = Counter(idx.tolist())
    assert len(counts) == len(polys) and set(counts.values()) == {1}
    # Street offices (admin_level=8) cover every building too.
    idx, _ = STRtree([g for _, g in parsed.streets]).query(polys, predicate="within")
    assert len(set(idx.tolist())) == len(polys)


def test_residential_buildings_inside_their_compound(district) -> None:
    _, _, parsed = district
    ids, polys = _building_arrays(parsed)
    res = [i for i, bid in enumerate(ids) if parsed.building_tags[bid]["building"] in RESIDENTIAL]
    idx, _ = STRtree(parsed.compounds).query(polys[res], predicate="within")
    counts = Counter(idx.tolist())
    assert len(counts) == len(res) and set(counts.values()) == {1}


def test_community_tags(district) -> None:
    _, summary, parsed = district
    n = summary.n_buildings
    assert 0.6 * n / 110 <= len(parsed.communities) <= 1.5 * n / 110
    refs = [t["ref"] for t, _ in parsed.communities]
    assert len(set(refs)) == len(refs)
    assert all(re.fullmatch(COUNTY_CODE + r"\d{3}\d{3}", r) and not r.endswith("000") for r in refs)
    names = [t["name"] for t, _ in parsed.communities]
    assert len(set(names)) == len(names) and all(s.endswith("社区") for s in names)
    centres = Counter(
        t["name"] for t in parsed.building_tags.values() if t.get("name", "").endswith("服务中心")
    )
    assert set(centres) <= {f"{s}服务中心" for s in names}
    assert len(centres) >= 0.9 * len(names) and set(centres.values()) == {1}
    street_refs = [t["ref"] for t, _ in parsed.streets]
    assert street_refs and all(r.endswith("000") for r in street_refs)
    assert {r[:9] for r in refs} == {r[:9] for r in street_refs}


def test_residential_tags(district) -> None:
    _, _, parsed = district
    res = [t for t in parsed.building_tags.values() if t["building"] in RESIDENTIAL]
    with_flats = [t for t in res if "building:flats" in t]
    assert 0.7 <= len(with_flats) / len(res) <= 0.9
    for t in with_flats:
        flats, levels = int(t["building:flats"]), int(t["building:levels"])
        assert flats > 0 and str(flats) == t["building:flats"]
        assert flats % (levels * HOUSEHOLDS_PER_UNIT_FLOOR) == 0
    assert {int(t["building:levels"]) for t in res if "building:levels" in t} <= {
        6,
        7,
        11,
        18,
        26,
        33,
    }
    assert any("height" in t and "building:levels" not in t for t in res)
    assert any("building:levels" in t and "building:flats" not in t for t in res)
    assert all(re.fullmatch(r"\d+[栋幢]", t["addr:housenumber"]) for t in res)
    kinds = Counter(t["building"] for t in parsed.building_tags.values())
    assert kinds["retail"] + kinds["commercial"] > 0 and kinds["public"] > 0


def _assert_walkable(parsed: Parsed) -> Counter:
    """Walkable ways form one connected graph within 60 m of every residential building."""
    walk = [(t, refs, g) for t, refs, g in parsed.highways if t["highway"] in WALKABLE_HIGHWAYS]
    graph = nx.Graph()
    for _, refs, _ in walk:
        graph.add_edges_from(itertools.pairwise(refs))
    assert nx.is_connected(graph)
    ids, polys = _building_arrays(parsed)
    res = [i for i, bid in enumerate(ids) if parsed.building_tags[bid]["building"] in RESIDENTIAL]
    tree = STRtree([g for _, _, g in walk])
    reached, _ = tree.query_nearest(polys[res], max_distance=60.0, all_matches=False)
    assert len(set(reached.tolist())) == len(res)
    return Counter(t["highway"] for t, _, _ in walk)


def test_walk_network_connected_and_reaches_homes(district) -> None:
    _, _, parsed = district
    kinds = _assert_walkable(parsed)
    assert kinds["service"] > 0 and kinds["footway"] > 0 and kinds["tertiary"] > 0


def test_flats_share_parameter(tmp_path: Path) -> None:
    path = tmp_path / "none.osm"
    summary = write_district_osm(path, 150, seed=2, flats_tag_share=0.0)
    assert summary.n_households_tagged == 0
    assert "building:flats" not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_buildings": 0},
        {"n_buildings": 10, "flats_tag_share": 1.5},
        {"n_buildings": 10, "origin": (200.0, 32.0)},
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        write_district_osm(tmp_path / "x.osm", **kwargs)


@pytest.mark.slow
def test_100k_buildings_under_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "big.osm"
    start = time.perf_counter()
    summary = write_district_osm(path, 100_000, seed=1)
    elapsed = time.perf_counter() - start
    assert elapsed < 60.0, f"took {elapsed:.1f} s"
    assert abs(summary.n_buildings - 100_000) <= 3000
    assert 600 <= summary.n_communities <= 1300
    assert 0.75 <= summary.n_residential / summary.n_buildings <= 0.95
    count = sum(
        1 for obj in osmium.FileProcessor(str(path), osmium.osm.WAY) if "building" in obj.tags
    )
    assert count == summary.n_buildings
