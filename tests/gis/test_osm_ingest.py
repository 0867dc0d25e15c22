"""Reading real OSM data: the Nanjing extract, the demo PBF, and extracts cut by a bbox."""

from __future__ import annotations

import osmium
import osmnx as ox
import pytest

from gis.osm import read_osm
from gis.streets import is_walkable, walk_graph
from gis.study_area import load_study_area
from tests.gis.osm_files import cut_by_bbox


def test_nanjing_buildings_match_the_file(nanjing_area):
    b = nanjing_area.buildings
    # SOURCES.md: 1,277 building polygons, 1,270 ways and 7 multipolygon relations; 6 ways
    # are underground (layer=-1, metro stations: 新街口, 上海路, 大行宫, 浮桥, 常府街),
    # left out with a note.
    assert len(b) == 1271
    assert b["building_id"].str.startswith("w").sum() == 1264
    assert b["building_id"].str.startswith("r").sum() == 7
    assert not b["building_id"].isin(["w860727738", "w860727755"]).any()
    (note,) = [r for r in nanjing_area.repairs if "underground" in r.what]
    assert note.count == 6 and "地下建筑" in note.what
    assert b.geometry.is_valid.all()
    assert b.crs.is_projected and b.crs.axis_info[0].unit_name == "metre"


def test_nanjing_walk_graph_matches_osmnx_on_walkable_ways(nanjing_path):
    extract = read_osm(nanjing_path)
    graph, report = walk_graph(extract, largest_only=False)
    # SOURCES.md: graph_from_xml on the walkable highway ways alone gives 566 nodes, 1,468
    # edges in 43 components; the largest has 456 nodes and 81.6 km of street.
    assert (len(graph), graph.number_of_edges(), report.components) == (566, 1468, 43)
    largest, report = walk_graph(extract)
    assert len(largest) == 456
    assert report.km == pytest.approx(81.6, abs=0.1)
    assert report.nodes_dropped == 110


def test_walk_graph_has_no_building_outline_nodes(nanjing_path):
    extract = read_osm(nanjing_path)
    graph, _ = walk_graph(extract, largest_only=False)
    walk_nodes = {n for way in extract.ways if is_walkable(way.tags)
                  for run in way.runs for n, _, _ in run}
    outline_nodes = {
        node.ref for way in osmium.FileProcessor(str(nanjing_path), osmium.osm.WAY)
        if "building" in way.tags for node in way.nodes
    }
    assert set(graph.nodes) <= walk_nodes
    assert len(outline_nodes - walk_nodes) > 5000
    assert not (set(graph.nodes) & (outline_nodes - walk_nodes))


def test_walk_filter_follows_osmnx_walk_rules():
    assert is_walkable({"highway": "footway"})
    assert is_walkable({"highway": "residential"})
    assert is_walkable({"highway": "service"})
    assert not is_walkable({"highway": "motorway"})
    assert not is_walkable({"highway": "motorway_link"})
    assert not is_walkable({"highway": "cycleway"})
    assert not is_walkable({"highway": "residential", "access": "private"})
    assert not is_walkable({"highway": "path", "foot": "no"})
    assert not is_walkable({"highway": "pedestrian", "area": "yes"})
    assert not is_walkable({"building": "yes"})


def test_nanjing_barriers_and_households(nanjing_area):
    kinds = nanjing_area.barriers["kind"].value_counts()
    assert kinds["road"] > 0 and kinds["waterway"] > 0
    # Underground subway lines are no barrier on the ground.
    assert not (nanjing_area.barriers["type"] == "subway").any()
    b = nanjing_area.buildings
    resid = b[b["residential"]]
    assert (resid["households"] > 0).all()
    assert resid["households_estimated"].all()  # the file has no building:flats
    assert (b.loc[~b["residential"], "households"] == 0).all()
    assert resid["population"].sum() == pytest.approx(resid["households"].sum() * 2.62)


def test_demo_pbf_is_a_cut_extract_and_loads(demo_area):
    area = demo_area
    assert len(area.buildings) > 2000
    assert area.buildings["residential"].sum() > 1000
    assert area.street_report.nodes > 200
    notes = " ".join(area.osm_notes)
    assert "node references point outside the file" in notes


@pytest.mark.parametrize("suffix", [".osm", ".osm.pbf", ".osm.bz2"])
def test_bbox_cut_extract_crashes_osmnx_but_not_us(nanjing_path, tmp_path, suffix):
    cut = tmp_path / f"cut{suffix}"
    cut_by_bbox(nanjing_path, cut, (118.775, 32.040, 118.785, 32.050))
    if suffix == ".osm":
        with pytest.raises(ValueError, match="missing nodes"):
            ox.graph_from_xml(cut)
    area = load_study_area(cut)
    assert 0 < len(area.buildings) < 1277
    assert area.street_report.nodes > 0
    assert any("point outside the file" in n for n in area.osm_notes)
    assert area.buildings.geometry.is_valid.all()


def test_communities_and_households_from_synthetic_osm(tmp_path):
    from tests.synthetic import write_district_osm

    path = tmp_path / "district.osm.bz2"
    summary = write_district_osm(path, 600, seed=3)
    area = load_study_area(path)
    assert len(area.buildings) == summary.n_buildings
    assert area.buildings["residential"].sum() == summary.n_residential
    # Communities: admin_level=10 boundary relations, coded by their ref.
    assert len(area.communities) == summary.n_communities
    assert area.communities["code"].str.fullmatch(r"320106\d{6}").all()
    assert area.buildings["community"].notna().all()
    # building:flats is taken as given, the rest estimated from floors and footprint.
    by_source = area.buildings.groupby("households_source")["households"].sum()
    assert by_source["osm_flats"] == summary.n_households_tagged
    assert by_source["estimated"] > 0
