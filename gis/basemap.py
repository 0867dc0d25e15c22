"""The layers of a light vector basemap, taken from the study area's own data.

Maps must be readable with no tile server (offline machines, and many users in China who
cannot reach OSM's tiles): streets with their names, water, green areas, railways, building
outlines and community boundaries are drawn from the data the study area was read from
(maps.basemap draws them). All layers are in WGS84 lon/lat (EPSG:4326), lines and polygons
only; label points are made by the map, not here.

Layers (:data:`BASEMAP_LAYERS`):

- ``green``: parks, gardens, grass, woods (polygons; column ``kind``);
- ``water``: water areas (polygons) and ``waterways``: rivers and canals (lines; ``name``);
- ``railways``: lines (``name``);
- ``roads``: street centre lines (``name``, ``rank``: 1 arterial, 2 street, 3 lane or path);
- ``buildings``: outlines; ``communities``: community polygons (``name``).
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.osm import OsmExtract

BASEMAP_LAYERS = ("green", "water", "waterways", "railways", "roads", "buildings",
                  "communities")
WGS84 = "EPSG:4326"

GREEN_TAGS = {
    "landuse": ("grass", "forest", "meadow", "park", "recreation_ground", "village_green",
                "cemetery", "orchard", "farmland", "allotments"),
    "leisure": ("park", "garden", "pitch", "playground", "golf_course", "nature_reserve"),
    "natural": ("wood", "scrub", "grassland", "heath", "wetland"),
}
ARTERIAL_ROADS = ("motorway", "trunk", "primary", "secondary")
STREET_ROADS = ("tertiary", "unclassified", "residential", "living_street", "road")


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=WGS84)


def _green_kind(tags: Mapping[str, str]) -> str | None:
    for key, values in GREEN_TAGS.items():
        if tags.get(key) in values:
            return f"{key}={tags[key]}"
    return None


def green_areas(extract: OsmExtract | None) -> gpd.GeoDataFrame:
    """Green polygons of an OSM extract (EPSG:4326): parks, gardens, grass, woods.

    Columns: ``osm_id``, ``kind`` (the tag that made it green, e.g. ``leisure=park``).
    """
    if extract is None:
        return _empty(["osm_id", "kind"])
    rows = []
    for area in extract.areas:
        kind = _green_kind(area.tags)
        if kind is not None and area.geometry.geom_type in ("Polygon", "MultiPolygon"):
            rows.append({"osm_id": f"{area.osm_type}{area.osm_id}", "kind": kind,
                         "geometry": area.geometry})
    if not rows:
        return _empty(["osm_id", "kind"])
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84)


def road_rank(highway: object) -> int:
    """1 for arterial roads, 2 for ordinary streets, 3 for lanes, paths and the rest.

    ``highway`` is an OSM highway value; ``*_link`` ramps rank with their road, and a list
    joined by ";" (osmnx merged ways) takes its highest rank.
    """
    values = str(highway or "").split(";")
    ranks = []
    for value in values:
        base = value.strip().removesuffix("_link")
        ranks.append(1 if base in ARTERIAL_ROADS else 2 if base in STREET_ROADS else 3)
    return min(ranks)


def _wgs84(layer: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if layer is None or layer.empty:
        return None
    return layer.to_crs(WGS84) if layer.crs is not None else layer.set_crs(WGS84)


def _column(layer: gpd.GeoDataFrame, name: str) -> pd.Series:
    if name in layer.columns:
        return layer[name].astype(object).where(layer[name].notna(), None)
    return pd.Series([None] * len(layer), index=layer.index, dtype=object)


def _lines(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    kinds = shapely.get_type_id(layer.geometry.values)
    return layer[np.isin(kinds, (1, 5))]  # LineString, MultiLineString


def _polygons(layer: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    kinds = shapely.get_type_id(layer.geometry.values)
    return layer[np.isin(kinds, (3, 6))]  # Polygon, MultiPolygon


def _frame(layer: gpd.GeoDataFrame, **columns: pd.Series) -> gpd.GeoDataFrame:
    data = {name: values.to_numpy() for name, values in columns.items()}
    return gpd.GeoDataFrame(data, geometry=layer.geometry.to_numpy(), crs=WGS84)


def basemap_layers(*, streets: gpd.GeoDataFrame | None = None,
                   barriers: gpd.GeoDataFrame | None = None,
                   green: gpd.GeoDataFrame | None = None,
                   buildings: gpd.GeoDataFrame | None = None,
                   communities: gpd.GeoDataFrame | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The basemap's layers (see the module docstring) from a study area's layers.

    Args:
        streets: street centre lines in any CRS: ``highway``, ``name`` (gis.streets'
            ``street_lines`` or the ``streets`` layer of ``wangge import --out``).
        barriers: gis.barriers' layer: ``kind`` (railway, waterway, water, road), ``name``.
        green: :func:`green_areas`.
        buildings: building footprints (any columns).
        communities: community polygons: ``name``.

    Returns:
        Every layer of :data:`BASEMAP_LAYERS`, in EPSG:4326, empty where the input has none.
    """
    out = {name: _empty([]) for name in BASEMAP_LAYERS}
    if (lines := _wgs84(streets)) is not None:
        lines = _lines(lines)
        out["roads"] = _frame(lines, name=_column(lines, "name"),
                              rank=_column(lines, "highway").map(road_rank).astype(int))
    if (bars := _wgs84(barriers)) is not None:
        kind = _column(bars, "kind")
        rails = _lines(bars[kind == "railway"])
        out["railways"] = _frame(rails, name=_column(rails, "name"))
        rivers = _lines(bars[kind == "waterway"])
        out["waterways"] = _frame(rivers, name=_column(rivers, "name"))
        water = _polygons(bars[kind == "water"])
        out["water"] = _frame(water, name=_column(water, "name"))
    if (parks := _wgs84(green)) is not None:
        parks = _polygons(parks)
        out["green"] = _frame(parks, kind=_column(parks, "kind"))
    if (footprints := _wgs84(buildings)) is not None:
        footprints = _polygons(footprints)
        out["buildings"] = gpd.GeoDataFrame(geometry=footprints.geometry.to_numpy(), crs=WGS84)
    if (comm := _wgs84(communities)) is not None:
        comm = _polygons(comm)
        out["communities"] = _frame(comm, name=_column(comm, "name"))
    return out
