"""Every bad-input case gets a clear message naming the file, the feature and what to do,
and nothing is written."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely

from api.cli import main
from gis.errors import DataRepairWarning, InputError
from gis.households import HouseholdOptions
from gis.study_area import load_study_area
from tests.gis.osm_files import write_osm

NANJING_SQUARE = [(118.780, 32.040), (118.7802, 32.040), (118.7802, 32.0402), (118.780, 32.0402)]


def _square(dx: float = 0.0, size: float = 0.0002) -> shapely.Polygon:
    x, y = 118.780 + dx, 32.040
    return shapely.box(x, y, x + size, y + size)


def _buildings(tmp_path, geoms, **cols) -> str:
    path = tmp_path / "buildings.geojson"
    data = {"id": [str(i + 1) for i in range(len(geoms))], "building": "residential", **cols}
    gpd.GeoDataFrame(data, geometry=geoms, crs="EPSG:4326").to_file(path, driver="GeoJSON")
    return str(path)


def test_empty_file(tmp_path):
    for name in ("empty.osm", "empty.geojson", "empty.osm.pbf"):
        path = tmp_path / name
        path.write_bytes(b"")
        with pytest.raises(InputError, match="empty") as err:
            load_study_area(path)
        assert str(path) in str(err.value)
        assert "文件为空" in err.value.message("zh")


def test_unknown_format(tmp_path):
    path = tmp_path / "buildings.xlsx"
    path.write_bytes(b"PK\x03\x04 not a map")
    with pytest.raises(InputError, match=r"unknown file format '.xlsx'.*GeoJSON"):
        load_study_area(path)


def test_not_osm_data(tmp_path):
    path = tmp_path / "broken.osm"
    path.write_text("this is not xml", encoding="utf-8")
    with pytest.raises(InputError, match="not readable as OSM data"):
        load_study_area(path)


def test_osm_without_buildings(tmp_path):
    path = write_osm(tmp_path / "roads.osm", '<node id="1" lat="32.04" lon="118.78"/>'
                     '<node id="2" lat="32.05" lon="118.78"/>'
                     '<way id="1"><nd ref="1"/><nd ref="2"/>'
                     '<tag k="highway" v="residential"/></way>')
    with pytest.raises(InputError, match="no building polygons"):
        load_study_area(path)


def test_self_intersecting_polygons_are_repaired_with_a_count(tmp_path):
    bowtie = shapely.Polygon([(118.780, 32.040), (118.7802, 32.0402), (118.7802, 32.040),
                              (118.780, 32.0402)])
    path = _buildings(tmp_path, [bowtie, bowtie, _square(0.001)])
    with pytest.warns(DataRepairWarning, match=r"invalid polygons repaired.*Self-intersection"):
        area = load_study_area(path)
    assert area.buildings.geometry.is_valid.all()
    assert len(area.buildings) == 3
    repair = area.repairs[0]
    assert repair.count == 2 and repair.examples == ["1", "2"]


def test_self_intersecting_polygons_rejected_when_asked(tmp_path):
    bowtie = shapely.Polygon([(118.780, 32.040), (118.7802, 32.0402), (118.7802, 32.040),
                              (118.780, 32.0402)])
    path = _buildings(tmp_path, [_square(), bowtie])
    with pytest.raises(InputError, match=r"feature building_id=2: 1 polygons are invalid"):
        load_study_area(path, invalid="reject")


def test_swapped_lon_lat(tmp_path):
    swapped = shapely.box(32.040, 118.780, 32.0402, 118.7802)
    path = _buildings(tmp_path, [swapped, shapely.box(32.05, 118.78, 32.0502, 118.7802)])
    with pytest.raises(InputError, match="look swapped") as err:
        load_study_area(path)
    assert "building_id=1" in str(err.value)
    assert "经纬度似乎写反了" in err.value.message("zh")


def test_coordinates_out_of_range(tmp_path):
    far = shapely.box(500.0, 32.04, 500.001, 32.041)
    path = _buildings(tmp_path, [_square(), far])
    with pytest.raises(InputError, match="out of lon/lat range") as err:
        load_study_area(path)
    assert "building_id=2" in str(err.value)


def test_projected_values_without_crs(tmp_path):
    path = tmp_path / "nocrs.geojson"
    geo = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "a"},
         "geometry": shapely.geometry.mapping(shapely.box(40500000, 3545000, 40500020, 3545020))}]}
    path.write_text(json.dumps(geo), encoding="utf-8")
    with pytest.raises(InputError, match="give the file its CRS"):
        load_study_area(path)


def test_duplicate_ids(tmp_path):
    path = tmp_path / "dup.geojson"
    gpd.GeoDataFrame({"id": ["A1", "A2", "A1"]},
                     geometry=[_square(), _square(0.001), _square(0.002)],
                     crs="EPSG:4326").to_file(path, driver="GeoJSON")
    with pytest.raises(InputError, match=r"building_id=A1.*1 building ids occur more than once"):
        load_study_area(path)


@pytest.mark.parametrize("value, message", [
    (-5, r"building_id=2: column 'households' is negative \(-5"),
    ("many", r"building_id=2: column 'households' 'many' is not a number"),
    (1e20, r"building_id=2: column 'households' is 1e\+20, more than 100,000 in one building"),
])
def test_bad_households(tmp_path, value, message):
    path = _buildings(tmp_path, [_square(), _square(0.001)], households=[10, value])
    with pytest.raises(InputError, match=message):
        load_study_area(path)


def test_bad_households_csv(tmp_path):
    path = _buildings(tmp_path, [_square(), _square(0.001)])
    csv = tmp_path / "hh.csv"
    csv.write_text("building_id,households\n1,10\n1,12\n", encoding="utf-8")
    with pytest.raises(InputError, match="building id '1' occurs 2 times"):
        load_study_area(path, households=HouseholdOptions(csv_path=str(csv)))
    csv.write_text("bid,hh\n1,10\n", encoding="utf-8")
    with pytest.raises(InputError, match="no column 'building_id'"):
        load_study_area(path, households=HouseholdOptions(csv_path=str(csv)))


def test_points_are_not_buildings(tmp_path):
    path = _buildings(tmp_path, [shapely.Point(118.78, 32.04), _square()])
    with pytest.raises(InputError, match=r"building_id=1: 1 features are Points, not polygons"):
        load_study_area(path)


def test_communities_without_code_column(tmp_path):
    buildings = _buildings(tmp_path, [_square()])
    comm = tmp_path / "comm.geojson"
    gpd.GeoDataFrame({"title": ["x"]}, geometry=[_square(size=0.01)],
                     crs="EPSG:4326").to_file(comm, driver="GeoJSON")
    with pytest.raises(InputError, match="no community code column"):
        load_study_area(buildings, communities=comm)


def test_cli_reports_bad_input_and_writes_nothing(tmp_path, capsys):
    path = _buildings(tmp_path, [_square(), _square(0.001)], households=[10, -1])
    out = tmp_path / "out.gpkg"
    assert main(["import", path, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "户数" in err and "households must be 0 or more" in err
    assert not out.exists()
    assert list(tmp_path.glob(".out.gpkg*")) == []
