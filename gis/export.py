"""Writing a study area to GeoPackage and GeoJSON, in WGS84 lon/lat (EPSG:4326).

Files are written to a temporary name in the target folder and renamed into place only when
complete, so a failure never leaves a half-written file. Exports of OSM-derived data carry the
attribution (gis.osm.ATTRIBUTION).
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gis.study_area import StudyArea

BUILDING_COLUMNS = [
    "building_id", "building", "name", "levels", "height", "flats", "residential", "community",
    "households", "households_source", "households_estimated", "duplicate_of", "floors",
    "floor_area_m2", "population", "geometry",
]


def street_edges(area: StudyArea) -> gpd.GeoDataFrame:
    """The walk graph's edges as lines (EPSG:4326): u, v, osmid, name, highway, length (m)."""
    if area.streets.number_of_edges() == 0:
        return gpd.GeoDataFrame(columns=["u", "v", "name", "highway", "length", "geometry"],
                                geometry="geometry", crs="EPSG:4326")
    import osmnx as ox  # seconds to import: only loaded where streets are exported

    edges = ox.graph_to_gdfs(area.streets, nodes=False).reset_index()
    for col in ("osmid", "name", "highway"):
        if col in edges.columns:  # lists where simplification merged ways
            edges[col] = edges[col].map(lambda v: ";".join(map(str, v))
                                        if isinstance(v, list) else v)
    keep = [c for c in ("u", "v", "key", "osmid", "name", "highway", "length", "geometry")
            if c in edges.columns]
    return edges[keep].to_crs("EPSG:4326")


def study_area_layers(area: StudyArea) -> dict[str, gpd.GeoDataFrame]:
    """The study area's layers in EPSG:4326, keyed by layer name."""
    buildings = area.buildings[[c for c in BUILDING_COLUMNS if c in area.buildings.columns]]
    return {
        "buildings": buildings.to_crs("EPSG:4326"),
        "streets": street_edges(area),
        "barriers": area.barriers.to_crs("EPSG:4326"),
        "communities": area.communities.to_crs("EPSG:4326"),
        # parks and woods, for the basemap of maps made from the file (gis.basemap)
        **({"green": area.green.to_crs("EPSG:4326")}
           if area.green is not None and len(area.green) else {}),
    }


@contextmanager
def atomically(path: Path, suffix: str | None = None):
    """Yield a temporary path beside ``path`` (ending in ``suffix``, default ``path``'s); it
    replaces ``path`` only if the block completes, and is removed either way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix,
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: str | Path,
               attribution: str | None = None,
               tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write ``layers`` (and non-spatial ``tables``) to one GeoPackage atomically;
    ``attribution`` goes in a table of its own named ``attribution``. A ``path`` without the
    ``.gpkg`` extension is written as given (GDAL warns about such a name, so the temporary
    file has the extension)."""
    path = Path(path)
    tables = dict(tables or {})
    if attribution:
        tables["attribution"] = pd.DataFrame({"attribution": [attribution]})
    with atomically(path, ".gpkg") as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG")
        for name, table in tables.items():
            pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")
    return path


def geojson_dict(gdf: gpd.GeoDataFrame, attribution: str | None = None) -> dict:
    """A GeoJSON FeatureCollection (RFC 7946: EPSG:4326 lon/lat, counter-clockwise outer rings)
    with the attribution as a foreign member."""
    wgs = gdf.to_crs("EPSG:4326")
    wgs = wgs.set_geometry(shapely.orient_polygons(wgs.geometry.values, exterior_cw=False))
    data = json.loads(wgs.to_json(drop_id=True))
    if attribution:
        data["attribution"] = attribution
    return data


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path, attribution: str | None = None) -> Path:
    """Write ``gdf`` as RFC 7946 GeoJSON, atomically."""
    path = Path(path)
    with atomically(path) as tmp:
        tmp.write_text(json.dumps(geojson_dict(gdf, attribution), ensure_ascii=False),
                       encoding="utf-8")
    return path
