"""Streets from a vector line file (gis.street_files): junctions, classes, barriers."""

from __future__ import annotations

import geopandas as gpd
import shapely

from gis.barriers import barriers_from_osm
from gis.errors import InputError
from gis.street_files import streets_from_vector
from gis.streets import walk_graph
from gis.study_area import load_study_area

UTM50N = "EPSG:32650"  # Nanjing's UTM zone, metres
X0, Y0 = 660000, 3546000


def _line(*points):
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in points])


def _streets(tmp_path, **columns):
    """Four unclassed streets meeting without shared vertices: B crosses A, C ends 0.6 m
    short of A (drawn short), B ends on the primary road D; E is a bridge over A; and a
    park polygon."""
    geoms = [_line((0, 0), (400, 0)), _line((200, -200), (200, 300)),
             _line((100, 0.6), (100, 150)), _line((0, 300), (400, 300)),
             _line((300, -100), (300, 100)),
             shapely.box(X0 + 10, Y0 + 10, X0 + 90, Y0 + 90)]
    base = {"name": [None, None, None, "中山路", "跨河桥", "公园"],
            "highway": [None, None, None, "primary", None, None],
            "bridge": [None, None, None, None, "yes", None]}
    base.update(columns)
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame(base, geometry=geoms, crs=UTM50N).to_file(path, layer="roads")
    return path


def test_lines_meet_where_they_cross_or_end_on_another(tmp_path):
    repairs: list = []
    extract = streets_from_vector(_streets(tmp_path), repairs=repairs)
    _, report = walk_graph(extract, largest_only=False)
    # A, B, C and D are one network; the bridge E passes over A without meeting it.
    assert report.components == 2
    assert report.km > 1.0
    notes = {r.what: r.count for r in repairs}
    assert any("without a class" in w and "居住区道路" in w and n == 4 for w, n in notes.items())
    assert any("ignored" in w and n == 1 for w, n in notes.items())
    barriers = barriers_from_osm(extract)  # D in two pieces: B ends on it
    assert barriers[["kind", "type", "name"]].drop_duplicates().values.tolist() == [
        ["road", "primary", "中山路"]]


def test_geofabrik_columns(tmp_path):
    path = _streets(tmp_path, highway=[None] * 6,
                    fclass=["residential", "footway", "service", "primary", "rail", None],
                    bridge=["F", "F", "F", "F", "T", None])
    repairs: list = []
    extract = streets_from_vector(path, repairs=repairs)
    kinds = sorted(set(barriers_from_osm(extract)["kind"]))
    assert kinds == ["railway", "road"]
    tags = {w.tags.get("name"): w.tags for w in extract.ways}
    assert "bridge" not in tags["中山路"] and tags["跨河桥"]["bridge"] == "yes"
    assert not any("without a class" in r.what for r in repairs)


def test_study_area_with_a_street_layer(tmp_path):
    buildings = tmp_path / "buildings.gpkg"
    gpd.GeoDataFrame({"building_id": ["a", "b"], "building": "residential"},
                     geometry=[shapely.box(X0 + 20, Y0 + 20, X0 + 60, Y0 + 40),
                               shapely.box(X0 + 220, Y0 + 20, X0 + 260, Y0 + 40)],
                     crs=UTM50N).to_file(buildings, layer="b")
    area = load_study_area(buildings, streets=_streets(tmp_path))
    assert len(area.street_lines) >= 5
    assert area.street_report.nodes > 0 and area.street_report.components == 2
    assert set(area.barriers["kind"]) == {"road"}
    assert area.attribution is None  # not OSM data


def test_a_street_file_without_lines_is_refused(tmp_path):
    path = tmp_path / "blocks.geojson"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs="EPSG:4326").to_file(path)
    try:
        streets_from_vector(path)
    except InputError as error:
        assert "no lines" in str(error) and "线要素" in str(error)
    else:
        raise AssertionError("a polygon file was taken as streets")
