"""The vector basemap under every map (maps.basemap): street labels, clipping, the page."""

import geopandas as gpd
import pytest
import shapely

import maps
from maps.basemap import LABEL_SPACING_M, basemap_layer, clip_layers, street_labels

UTM50 = "EPSG:32650"  # Nanjing's zone


def _roads(lines, names, ranks):
    return gpd.GeoDataFrame({"name": names, "rank": ranks}, geometry=lines,
                            crs=UTM50).to_crs("EPSG:4326")


def test_a_street_cut_into_ways_is_labelled_along_its_whole_length():
    # 1,000 m east-west cut into five ways, 300 m north-south, and a 40 m stub
    x0, y0 = 500_000, 3_540_000
    pieces = [shapely.LineString([(x0 + 200 * i, y0), (x0 + 200 * (i + 1), y0)])
              for i in range(5)]
    north = shapely.LineString([(x0 - 500, y0), (x0 - 500, y0 + 300)])
    stub = shapely.LineString([(x0 + 2000, y0), (x0 + 2040, y0)])
    roads = _roads([*pieces, north, stub], ["中山路"] * 5 + ["北京西路", "小巷"],
                   [1] * 5 + [2, 3])
    labels = street_labels(roads).to_crs(UTM50)
    east = labels[labels["name"] == "中山路"]
    assert len(east) == int(1000 // LABEL_SPACING_M)  # merged: not one per way
    assert east["angle"].abs().max() < 1 and set(east["rank"]) == {1}
    gap = abs(east.geometry.x.iloc[1] - east.geometry.x.iloc[0])
    assert gap == pytest.approx(LABEL_SPACING_M, abs=1)
    # a north-south street reads from the top down; one label on a short street
    (angle,) = labels.loc[labels["name"] == "北京西路", "angle"]
    assert angle == pytest.approx(90, abs=1)
    assert "小巷" not in set(labels["name"])  # too short to carry its name


def test_basemap_is_clipped_around_the_map_and_drawn_offline(nanjing_area):
    layers = nanjing_area.basemap()
    buildings = nanjing_area.layer_wgs84("buildings")
    centre = buildings.geometry.union_all().centroid
    bounds = [[centre.y - 0.002, centre.x - 0.002], [centre.y + 0.002, centre.x + 0.002]]
    near = clip_layers(layers, bounds)
    assert 0 < len(near["roads"]) < len(layers["roads"])
    assert 0 < len(near["buildings"]) < len(layers["buildings"])
    assert basemap_layer({}, bounds) is None

    incidents = gpd.GeoDataFrame({"incident_id": [1], "category": ["noise"],
                                  "stage": ["reported"]}, geometry=[centre], crs="EPSG:4326")
    page = maps.page_html(maps.incidents_map(
        incidents, options=maps.MapOptions(basemap=layers)))
    assert "wangge.basemap(" in page
    named = [str(n) for n in near["roads"]["name"].dropna()]
    assert named and any(n in page for n in named)
    assert "http://" not in page.replace("http://www.w3.org", "")  # no tile or CDN request
    # with tiles configured the basemap is there but starts hidden
    tiled = maps.page_html(maps.incidents_map(
        incidents, options=maps.MapOptions(basemap=layers, tiles="osm")))
    assert "wangge.basemap(" in tiled


def test_grid_map_draws_its_own_buildings_not_the_basemaps(demo_area, demo_plan):
    grids, buildings = demo_plan.grids, demo_plan.buildings
    layers = demo_area.basemap()
    m = maps.grid_plan_map(grids, buildings, options=maps.MapOptions(basemap=layers))
    base = [e for e in m._children.values() if type(e).__name__ == "BasemapLayer"]
    assert len(base) == 1 and "buildings" not in base[0].data and "roads" in base[0].data
