"""Community (社区) boundaries: from a polygon file, from OSM, or the whole area as one.

Output: a GeoDataFrame (EPSG:4326 lon/lat) with ``code`` (str, unique; the 12-digit statistical
area code 统计用区划代码 when the data has it), ``name`` and the polygon.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from gis.buildings import repair_polygons
from gis.crs import to_wgs84
from gis.errors import InputError, Repair
from gis.osm import OsmExtract
from gis.postgis_source import is_postgis_source, parse_source, read_table
from gis.vector_files import read_vector

CODE_COLUMNS = ("code", "CODE", "community_code", "区划代码", "社区代码", "代码", "ref", "id")
NAME_COLUMNS = ("name", "NAME", "community", "社区名称", "社区", "名称")
# OSM: China maps communities (社区/村) at admin_level 10; some mappers use place polygons.
COMMUNITY_ADMIN_LEVELS = ("10",)
COMMUNITY_PLACES = ("neighbourhood", "quarter")
WHOLE_AREA_CODE = "000000000000"


def read_communities(
    path: str | Path,
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    datum: str = "wgs84",
    repairs: list[Repair] | None = None,
) -> gpd.GeoDataFrame:
    """Community polygons from a GeoJSON / GeoPackage / Shapefile or a PostGIS table
    (``postgresql://...?table=...``, gis.postgis_source; any CRS in, EPSG:4326 out).

    The code and name columns are found by name (``code``, ``区划代码``, ``name``,
    ``社区名称`` ...) unless given.

    Raises:
        InputError: no code column, duplicate codes, non-polygons, bad coordinates.
    """
    if is_postgis_source(path):
        table = parse_source(str(path))
        raw, path = read_table(table), table.label
    else:
        raw = read_vector(path)
    code_col = code_col or next((c for c in CODE_COLUMNS if c in raw.columns), None)
    name_col = name_col or next((c for c in NAME_COLUMNS if c in raw.columns), None)
    if code_col is None or code_col not in raw.columns:
        raise InputError(
            path, f"no community code column (looked for {', '.join(CODE_COLUMNS)})",
            "add a column 'code' with each community's code, or name the column",
            problem_zh="没有社区代码列", hint_zh="请增加“code”列填写社区代码，或指定代码列名",
        )
    out = gpd.GeoDataFrame({
        "code": raw[code_col].astype(str).str.strip(),
        "name": raw[name_col].astype(str) if name_col in raw.columns else raw[code_col].astype(str),
    }, geometry=raw.geometry.values, crs=raw.crs)
    dup = out["code"].duplicated(keep=False)
    if dup.any():
        code = out.loc[dup, "code"].iloc[0]
        raise InputError(path, f"community code '{code}' occurs {int(dup.sum())} times",
                         "give every community its own code (merge parts into one multipolygon)",
                         feature=f"code={code}", problem_zh=f"社区代码“{code}”重复",
                         hint_zh="每个社区一个代码（多个部分请合并为一个多面）")
    out = repair_polygons(out, path, id_col="code", repairs=repairs)
    return to_wgs84(out, path, datum=datum, repairs=repairs)


def communities_from_osm(
    extract: OsmExtract, admin_levels: tuple[str, ...] = COMMUNITY_ADMIN_LEVELS
) -> gpd.GeoDataFrame:
    """Community polygons of an OSM extract (EPSG:4326): boundary=administrative at
    ``admin_levels`` or place=neighbourhood/quarter areas. Code: ``ref`` else the OSM id."""
    rows = []
    for area in extract.areas:
        t = area.tags
        admin = t.get("boundary") == "administrative" and t.get("admin_level") in admin_levels
        if not (admin or t.get("place") in COMMUNITY_PLACES):
            continue
        rows.append({"code": t.get("ref") or f"{area.osm_type}{area.osm_id}",
                     "name": t.get("name") or t.get("ref") or f"{area.osm_type}{area.osm_id}",
                     "geometry": shapely.make_valid(area.geometry)})
    gdf = gpd.GeoDataFrame(rows, columns=["code", "name", "geometry"], geometry="geometry",
                           crs="EPSG:4326")
    return gdf.drop_duplicates("code")


def whole_area(*layers: gpd.GeoDataFrame, margin_m: float = 30.0) -> gpd.GeoDataFrame:
    """One community covering all features of ``layers`` (EPSG:4326): their convex hull grown
    by ``margin_m`` metres, for data that comes without community boundaries."""
    parts = [layer.to_crs("EPSG:4326").geometry for layer in layers if len(layer)]
    if not parts:
        raise ValueError("whole_area needs at least one non-empty layer")
    merged = gpd.GeoSeries(shapely.union_all([p.union_all() for p in parts]), crs="EPSG:4326")
    metric = merged.estimate_utm_crs()
    hull = merged.to_crs(metric).convex_hull.buffer(margin_m).to_crs("EPSG:4326")
    return gpd.GeoDataFrame({"code": [WHOLE_AREA_CODE], "name": ["全部区域 (whole area)"]},
                            geometry=hull.values, crs="EPSG:4326")
