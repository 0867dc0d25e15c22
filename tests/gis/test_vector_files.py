"""Vector formats, Chinese attribute encodings and coordinate systems."""

from __future__ import annotations

import zipfile

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.chinese_coords import wgs84_to_bd09, wgs84_to_gcj02
from gis.errors import InputError
from gis.study_area import load_study_area
from gis.vector_files import read_vector, read_vector_batches

NAMES = ["鼓楼区华侨路社区1栋", "玄武区梅园新村2幢", "秦淮区淮海路3号楼"]


def _frame(crs="EPSG:4326") -> gpd.GeoDataFrame:
    geoms = [shapely.box(118.780 + i * 0.001, 32.040, 118.7804 + i * 0.001, 32.0402)
             for i in range(3)]
    return gpd.GeoDataFrame({"id": ["a", "b", "c"], "name": NAMES, "building": "residential",
                             "households": [30, 42, 18]}, geometry=geoms, crs=crs)


def _gbk_shapefile(tmp_path, keep_cpg: bool):
    path = tmp_path / "buildings.shp"
    _frame().to_file(path, driver="ESRI Shapefile", encoding="GBK")
    raw = path.with_suffix(".dbf").read_bytes()
    assert "鼓楼区".encode("gbk") in raw  # really GBK bytes on disk
    cpg = path.with_suffix(".cpg")
    if keep_cpg:
        cpg.write_text("GBK", encoding="ascii")
    elif cpg.exists():
        cpg.unlink()
    return path


@pytest.mark.parametrize("keep_cpg", [True, False], ids=["with-cpg", "no-cpg-detected"])
def test_gbk_shapefile(tmp_path, keep_cpg):
    path = _gbk_shapefile(tmp_path, keep_cpg)
    gdf = read_vector(path)
    assert list(gdf["name"]) == NAMES


def test_zipped_gbk_shapefile_without_cpg(tmp_path):
    shp = _gbk_shapefile(tmp_path, keep_cpg=False)
    archive = tmp_path / "buildings.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for ext in (".shp", ".shx", ".dbf", ".prj"):
            zf.write(shp.with_suffix(ext), f"data/buildings{ext}")
    area = load_study_area(archive)
    assert sorted(area.buildings["name"]) == sorted(NAMES)
    assert list(area.buildings["households_source"]) == ["given"] * 3


def test_geopackage_with_households_column(tmp_path):
    path = tmp_path / "b.gpkg"
    _frame().to_file(path, layer="buildings", driver="GPKG")
    area = load_study_area(path)
    assert area.buildings["households"].tolist() == [30, 42, 18]
    assert not area.buildings["households_estimated"].any()


@pytest.mark.parametrize("epsg", [4490, 4549, 4527])
def test_cgcs2000_geographic_and_gauss_krueger(tmp_path, epsg):
    # 4490: CGCS2000 lon/lat; 4549: 3-degree GK CM 120E; 4527: 3-degree GK zone 39 (with zone
    # number in x), both covering Nanjing.
    original = _frame()
    path = tmp_path / "b.gpkg"
    original.to_crs(epsg).to_file(path, driver="GPKG")
    area = load_study_area(path)
    back = area.layer_wgs84("buildings")
    for a, b in zip(original.geometry, back.geometry, strict=True):
        assert np.allclose(shapely.get_coordinates(a.normalize()),
                           shapely.get_coordinates(b.normalize()), atol=1e-7)


@pytest.mark.parametrize("datum, forward", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_vendor_offsets_are_removed(tmp_path, datum, forward):
    original = _frame()
    shifted = original.copy()
    shifted.geometry = shapely.transform(
        original.geometry.values, lambda xy: np.column_stack(forward(xy[:, 0], xy[:, 1])))
    path = tmp_path / "gaode.geojson"
    shifted.to_file(path, driver="GeoJSON")
    # Read as if WGS84 the footprints sit hundreds of metres off; with the datum they line up.
    wrong = load_study_area(path).layer_wgs84("buildings")
    right = load_study_area(path, datum=datum).layer_wgs84("buildings")
    metric = original.estimate_utm_crs()
    offset = wrong.to_crs(metric).centroid.distance(original.to_crs(metric).centroid)
    error = right.to_crs(metric).centroid.distance(original.to_crs(metric).centroid)
    assert offset.min() > 100
    assert error.max() < 0.1


def test_communities_from_a_polygon_file(tmp_path):
    buildings = tmp_path / "b.gpkg"
    _frame().to_file(buildings, driver="GPKG")
    comm = tmp_path / "communities.shp"
    west = shapely.box(118.779, 32.039, 118.7805, 32.041)
    east = shapely.box(118.7805, 32.039, 118.783, 32.041)
    gpd.GeoDataFrame({"区划代码": ["320106002001", "320106002002"],
                      "社区名称": ["华侨路社区", "五台山社区"]},
                     geometry=[west, east], crs="EPSG:4326").to_file(
        comm, driver="ESRI Shapefile", encoding="GBK")
    area = load_study_area(buildings, communities=comm)
    assert list(area.communities["name"]) == ["华侨路社区", "五台山社区"]
    assert list(area.buildings["community"]) == ["320106002001", "320106002002",
                                                 "320106002002"]


def _features(geometries: list[str]) -> str:
    """A GeoJSON FeatureCollection of geometries given as raw JSON text (NaN and Infinity as
    some tools write them)."""
    features = [f'{{"type":"Feature","properties":{{"id":{i}}},"geometry":{g}}}'
                for i, g in enumerate(geometries)]
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


@pytest.mark.parametrize("coordinate", ["NaN", "Infinity", "-Infinity"])
def test_a_coordinate_that_is_not_a_number_is_refused_naming_its_feature(tmp_path, coordinate):
    """GDAL reads NaN and Infinity from GeoJSON; GEOS cannot work with them (a 500 in the
    service before): refused when read, whole or in batches, naming the feature."""
    rings = ["[[118.78,32.04],[118.781,32.04],[118.781,32.041],[118.78,32.04]]"] * 5
    rings[3] = f"[[118.78,32.04],[{coordinate},32.04],[118.781,32.041],[118.78,32.04]]"
    path = tmp_path / "b.geojson"
    path.write_text(_features([f'{{"type":"Polygon","coordinates":[{r}]}}' for r in rings]))
    for read in (read_vector, lambda p: list(read_vector_batches(p, batch_size=2))):
        with pytest.raises(InputError) as err:
            read(path)
        assert err.value.feature == "#4" and "not a number" in err.value.message("en")
        assert "坐标不是数值" in err.value.message("zh")


def test_a_ring_not_closed_is_refused_naming_its_feature(tmp_path):
    path = tmp_path / "b.geojson"
    path.write_text(_features(["null", '{"type":"Point","coordinates":[118.78,32.04]}',
                               '{"type":"Polygon","coordinates":[[[118.78,32.04],'
                               '[118.781,32.04],[118.781,32.041]]]}']))
    for read in (read_vector, lambda p: list(read_vector_batches(p, batch_size=2))):
        with pytest.raises(InputError) as err:
            read(path)
        assert err.value.feature == "#3", err.value.message("en")
        assert "cannot be built" in err.value.message("en")
        assert "closed" in err.value.message("en") and "闭合" in err.value.message("zh")


def test_footprints_without_types_are_homes_with_a_note(tmp_path):
    """A layer of bare outlines (no building type, no residential column, no households):
    before, every footprint was taken for a non-residential building and the plan had no
    household at all."""
    path = tmp_path / "outlines.gpkg"
    _frame().drop(columns=["building", "households"]).to_file(path, layer="b", driver="GPKG")
    area = load_study_area(path, with_walk_graph=False)
    assert area.buildings["residential"].all()
    assert (area.buildings["households"] > 0).all()
    assert area.buildings["households_estimated"].all()
    assert any("every footprint counted as residential" in str(r) and "住宅" in str(r)
               for r in area.repairs)


def test_a_residential_column_marks_the_others(tmp_path):
    path = tmp_path / "outlines.gpkg"
    frame = _frame().drop(columns=["building", "households"])
    frame["residential"] = ["是", "否", "1"]
    frame.to_file(path, layer="b", driver="GPKG")
    area = load_study_area(path, with_walk_graph=False)
    assert area.buildings.set_index("building_id")["residential"].to_dict() == {
        "a": True, "b": False, "c": True}
    assert not any("every footprint" in str(r) for r in area.repairs)
