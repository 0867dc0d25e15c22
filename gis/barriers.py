"""Barriers that grid boundaries must respect: arterial roads, railways, rivers and canals, water.

Lines (roads, railways, waterways) and polygons (water areas: natural=water,
waterway=riverbank) from an OSM extract, in EPSG:4326 lon/lat. Ways in tunnels or culverts
are no barrier on the ground and are left out; bridges and viaducts are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from gis.osm import OsmExtract

ARTERIALS = ("motorway", "trunk", "primary", "secondary")
RAILWAYS = ("rail", "light_rail", "narrow_gauge", "subway", "monorail", "preserved")
WATERWAYS = ("river", "canal")
UNDERGROUND = ("yes", "culvert", "building_passage", "covered")
# Roads that nothing crosses on foot in daily work; the other arterial roads (primary,
# secondary, and any road the user adds) have crossings, so a small pocket may be joined
# across them (partition.groups).
CLOSED_ROADS = ("motorway", "trunk")


@dataclass(frozen=True)
class BarrierOptions:
    """Which OSM features count as barriers. ``*_link`` ramps of an arterial count with it."""

    arterials: tuple[str, ...] = ARTERIALS
    railways: tuple[str, ...] = RAILWAYS
    waterways: tuple[str, ...] = WATERWAYS
    water_areas: bool = True


def _kind(tags: dict[str, str], opts: BarrierOptions) -> str | None:
    if tags.get("tunnel") in UNDERGROUND or tags.get("covered") == "yes":
        return None
    highway = tags.get("highway", "").removesuffix("_link")
    if highway in opts.arterials:
        return "road"
    if tags.get("railway") in opts.railways:
        return "railway"
    if tags.get("waterway") in opts.waterways:
        return "waterway"
    return None


def barriers_from_osm(
    extract: OsmExtract, options: BarrierOptions | None = None
) -> gpd.GeoDataFrame:
    """Barrier lines and water polygons of an extract (EPSG:4326).

    Columns: ``kind`` ("road", "railway", "waterway", "water"), ``osm_id``, ``type`` (the tag
    value, e.g. "primary"), ``name`` and the geometry (LineString or (Multi)Polygon).
    """
    opts = options or BarrierOptions()
    rows: list[dict[str, object]] = []
    for way in extract.ways:
        kind = _kind(way.tags, opts)
        if kind is None:
            continue
        value = way.tags.get("highway") or way.tags.get("railway") or way.tags.get("waterway")
        for run in way.runs:
            rows.append({"kind": kind, "osm_id": f"w{way.osm_id}", "type": value,
                         "name": way.tags.get("name"),
                         "geometry": shapely.LineString([(x, y) for _, x, y in run])})
    if opts.water_areas:
        for area in extract.areas:
            t = area.tags
            if t.get("natural") == "water" or t.get("waterway") == "riverbank":
                rows.append({"kind": "water", "osm_id": f"{area.osm_type}{area.osm_id}",
                             "type": t.get("water") or t.get("waterway") or "water",
                             "name": t.get("name"), "geometry": shapely.make_valid(area.geometry)})
    return gpd.GeoDataFrame(rows, columns=["kind", "osm_id", "type", "name", "geometry"],
                            geometry="geometry", crs="EPSG:4326")


def crossable(kinds, types) -> np.ndarray:
    """Per barrier (``kind`` and OSM ``type`` columns): an open arterial road, which a pocket
    of buildings may be joined across, rather than a railway, river, water or closed road."""
    kinds = np.asarray(kinds, dtype=object)
    roads = np.array([str(t).removesuffix("_link") for t in types], dtype=object)
    return (kinds == "road") & ~np.isin(roads, CLOSED_ROADS)


def barrier_lines(geometries) -> np.ndarray:
    """The barrier lines of ``geometries`` (a GeoSeries or array, any CRS): lines as they are,
    water areas by their shores (polygon boundaries)."""
    geoms = np.asarray(getattr(geometries, "values", geometries), dtype=object)
    polys = shapely.get_type_id(geoms) >= 3
    return np.concatenate([geoms[~polys], shapely.boundary(geoms[polys])])
