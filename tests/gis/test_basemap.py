"""The basemap's layers taken from real OSM data (gis.basemap)."""

import geopandas as gpd
import shapely

from gis.basemap import BASEMAP_LAYERS, basemap_layers, green_areas, road_rank
from gis.osm import read_osm


def test_nanjing_basemap_has_named_streets_water_green_and_rails(nanjing_area, nanjing_path):
    layers = nanjing_area.basemap()
    assert tuple(layers) == BASEMAP_LAYERS
    assert all(layer.crs.to_epsg() == 4326 for layer in layers.values())
    roads = layers["roads"]
    # central Nanjing: named arterials such as 中山路 and lanes without names
    assert roads["name"].notna().sum() > 100
    assert any("中山" in str(n) for n in roads["name"].dropna())
    assert set(roads["rank"]) == {1, 2, 3}
    assert len(layers["buildings"]) == len(nanjing_area.buildings)
    assert len(layers["communities"]) == len(nanjing_area.communities)
    # green and water as the extract tags them, polygons only
    extract = read_osm(nanjing_path)
    tagged_green = [a for a in extract.areas if a.tags.get("leisure") == "park"]
    assert tagged_green and len(layers["green"]) >= len(tagged_green)
    for name in ("green", "water", "buildings", "communities"):
        kinds = set(shapely.get_type_id(layers[name].geometry.values))
        assert kinds <= {3, 6}, (name, kinds)
    assert set(shapely.get_type_id(layers["roads"].geometry.values)) <= {1, 5}


def test_road_ranks_follow_osm_classes():
    assert road_rank("primary") == road_rank("trunk_link") == 1
    assert road_rank("residential") == road_rank("tertiary") == 2
    assert road_rank("footway") == road_rank(None) == 3
    assert road_rank("service;secondary") == 1  # a merged way takes its highest class


def test_missing_layers_are_empty_not_an_error():
    layers = basemap_layers()
    assert tuple(layers) == BASEMAP_LAYERS and all(len(v) == 0 for v in layers.values())
    assert len(green_areas(None)) == 0
    # a layer in a metric CRS comes back in lon/lat
    metric = shapely.LineString([(500000, 3540000), (500100, 3540000)])
    line = gpd.GeoDataFrame({"highway": ["primary"], "name": ["中山路"]}, geometry=[metric],
                            crs="EPSG:32650")
    roads = basemap_layers(streets=line)["roads"]
    assert roads.crs.to_epsg() == 4326 and 116.9 < roads.geometry.iloc[0].coords[0][0] < 117.1
