"""maps.geometry.packed_polygons: the editor page's footprints packed as integers, decoded here
as wangge-editor.js decodes them, against the GeoJSON the other maps draw of the same rows."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from gis.errors import ArgumentError
from maps.geometry import feature_collection, packed_polygons


def decode(text: str) -> dict[str, tuple[float, list[np.ndarray]]]:
    """building id -> (value, rings as (n, 2) arrays of lon/lat, not closed)."""
    packed = json.loads(text)
    deltas = np.asarray(packed["coords"], dtype=np.int64).reshape(-1, 2)
    coords = (np.cumsum(deltas, axis=0) + np.asarray(packed["origin"])) / packed["scale"]
    sizes = iter(packed["sizes"])
    at = 0
    out = {}
    for ident, value, n_rings in zip(packed["ids"], packed["values"], packed["rings"],
                                     strict=True):
        rings = []
        for _ in range(n_rings):
            size = next(sizes)
            rings.append(coords[at:at + size])
            at += size
        out[ident] = (value, rings)
    assert at == len(coords) and next(sizes, None) is None
    return out


def geojson_rings(geometry: dict) -> list[np.ndarray]:
    polygons = ([geometry["coordinates"]] if geometry["type"] == "Polygon"
                else geometry["coordinates"])
    return [np.asarray(ring)[:-1] for polygon in polygons for ring in polygon]


@pytest.fixture
def buildings() -> gpd.GeoDataFrame:
    """Four footprints in a metric CRS (UTM 50N, Nanjing): a square, one with a courtyard,
    two blocks as one multipolygon, and a row without geometry."""
    x, y = 668_000.0, 3_547_000.0
    courtyard = Polygon(box(x + 50, y, x + 80, y + 30).exterior.coords,
                        [box(x + 60, y + 10, x + 70, y + 20).exterior.coords])
    two = MultiPolygon([box(x + 100, y, x + 110, y + 12), box(x + 115, y, x + 127.3, y + 9.1)])
    return gpd.GeoDataFrame(
        {"building_id": ["b1", "b2", "b3", "b4"], "households": [12, 40.0, None, 3]},
        geometry=[box(x, y, x + 20.4, y + 14.7), courtyard, two, None], crs="EPSG:32650")


def test_packed_footprints_are_the_geojson_geometry(buildings):
    packed = decode(packed_polygons(buildings, "building_id", "households", tolerance_m=0.5))
    geojson = json.loads(feature_collection(buildings, ["building_id"], tolerance_m=0.5))
    assert list(packed) == ["b1", "b2", "b3"]  # the row without geometry is left out
    assert [v for v, _ in packed.values()] == [12, 40, 0]  # missing -> 0, whole numbers
    for feature in geojson["features"]:
        _, rings = packed[feature["properties"]["building_id"]]
        expected = geojson_rings(feature["geometry"])
        assert len(rings) == len(expected)
        for got, want in zip(rings, expected, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-9)
    # the courtyard is a hole: the even-odd rule over the rings gives the polygon back
    _, rings = packed["b2"]
    polygon = Polygon(rings[0], rings[1:])
    assert polygon.is_valid and len(rings) == 2
    expected = buildings.to_crs("EPSG:4326").geometry.iloc[1]
    assert shapely.equals_exact(shapely.normalize(polygon), shapely.normalize(expected),
                                tolerance=2e-6)
    assert len(packed["b3"][1]) == 2  # two blocks, one ring each


def test_packed_footprints_empty_and_bad_input(buildings):
    for frame in (buildings.iloc[:0], buildings.iloc[3:]):
        assert decode(packed_polygons(frame, "building_id", "households")) == {}
    with pytest.raises(ArgumentError, match="households"):
        packed_polygons(buildings.drop(columns="households"), "building_id", "households")
