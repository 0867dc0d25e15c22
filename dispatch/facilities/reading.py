"""Reading facilities: OSM amenities mapped to our types, and files with a type column.

Out comes a GeoDataFrame of points in EPSG:4326 lon/lat with columns ``type`` (a key of
:data:`dispatch.facilities.types.FACILITY_TYPES`), ``name`` (may be empty), ``source``
(``osm`` or ``file``) and ``source_ref`` (``node/123``, ``way/45``, or the file's row number).
Areas (a clinic drawn as a building) become their representative point.

OSM tags (https://wiki.openstreetmap.org/wiki/Key:amenity) to types, first match wins:

- garbage_point: amenity=waste_disposal, recycling, waste_transfer_station (not
  waste_basket: a litter bin is no household collection point);
- canteen: amenity=canteen; amenity=social_facility + social_facility=soup_kitchen;
- activity_room: amenity=community_centre, social_centre; amenity=social_facility +
  social_facility=day_care (elderly day care, 日间照料中心);
- service_station: amenity=townhall (Chinese residents' committees and community service
  stations are mostly tagged so; so are district governments, which then count too);
  amenity=social_facility (any other kind); office=government + government=social_services;
- clinic: amenity=clinic, doctors, hospital; healthcare=clinic, doctor, centre, hospital.

Files: GeoJSON, GeoPackage, Shapefile (gis.vector_files) with points or polygons and a type
column, or CSV with ``lon``, ``lat`` and ``type`` columns (UTF-8 or GBK, as Excel saves). The
type column is ``type`` (or ``类型``) and holds a key (``clinic``) or the Chinese name
(``卫生服务站``); the name column is ``name`` (or ``名称``). Every problem raises
:class:`gis.errors.InputError` naming the file and the row, in Chinese and English, before
anything is returned.

The OSM pass is a second, small osmium pass here (gis.osm reads what partitioning needs:
buildings, lines, areas, and no amenity nodes).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from shapely.geometry import Point

from dispatch.facilities.types import FACILITY_TYPES
from gis.crs import to_wgs84
from gis.errors import InputError, check_file
from gis.osm import is_osm_path
from gis.vector_files import is_vector_path, read_vector

COLUMNS = ["type", "name", "source", "source_ref"]
TYPE_COLUMNS = ("type", "类型", "facility_type")
NAME_COLUMNS = ("name", "名称", "name:zh")
MAX_FACILITIES = 50_000

_AMENITY = {"waste_disposal": "garbage_point", "recycling": "garbage_point",
            "waste_transfer_station": "garbage_point", "canteen": "canteen",
            "community_centre": "activity_room", "social_centre": "activity_room",
            "townhall": "service_station", "clinic": "clinic", "doctors": "clinic",
            "hospital": "clinic"}
_SOCIAL = {"soup_kitchen": "canteen", "day_care": "activity_room"}
_HEALTHCARE = {"clinic": "clinic", "doctor": "clinic", "centre": "clinic", "hospital": "clinic"}
_BY_NAME = {**{k: k for k in FACILITY_TYPES}, **{t.zh: k for k, t in FACILITY_TYPES.items()},
            **{t.en: k for k, t in FACILITY_TYPES.items()}}


def osm_facility_type(tags: dict[str, str]) -> str | None:
    """Our facility type for an OSM element's tags, or None when it is none of them."""
    amenity = tags.get("amenity", "")
    if amenity == "social_facility":
        return _SOCIAL.get(tags.get("social_facility", ""), "service_station")
    if amenity in _AMENITY:
        return _AMENITY[amenity]
    if tags.get("healthcare") in _HEALTHCARE:
        return _HEALTHCARE[tags["healthcare"]]
    if tags.get("office") == "government" and tags.get("government") == "social_services":
        return "service_station"
    return None


def _name(tags: dict[str, str]) -> str:
    return tags.get("name:zh") or tags.get("name") or tags.get("name:en") or ""


def facilities_from_osm(path: str | Path) -> gpd.GeoDataFrame:
    """The facilities of an OSM file (.osm, .osm.bz2, .osm.pbf), EPSG:4326 points.

    Raises:
        InputError: the file is missing, empty or not OSM data.
    """
    path = check_file(path)
    records: list[dict[str, str]] = []
    points: list[Point] = []
    try:
        reader = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in reader:
            tags = dict(obj.tags)
            kind = osm_facility_type(tags) if tags else None
            if kind is None:
                continue
            point: Point | None = None
            if isinstance(obj, osmium.osm.Node):
                if obj.location.valid():
                    point, ref = Point(obj.location.lon, obj.location.lat), f"node/{obj.id}"
            elif isinstance(obj, osmium.osm.Area):
                ref = (f"way/{obj.orig_id()}" if obj.from_way()
                       else f"relation/{obj.orig_id()}")
                rings = [[(n.lon, n.lat) for n in ring] for ring in obj.outer_rings()]
                polys = [shapely.Polygon(r) for r in rings if len(r) >= 4]
                if polys:
                    point = shapely.MultiPolygon(polys).representative_point()
            elif isinstance(obj, osmium.osm.Way):
                locs = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                closed = len(obj.nodes) >= 4 and obj.nodes[0].ref == obj.nodes[-1].ref
                if locs and not closed:  # closed ways come again as areas
                    ref = f"way/{obj.id}"
                    point = (shapely.LineString(locs).interpolate(0.5, normalized=True)
                             if len(locs) > 1 else Point(locs[0]))
            if point is not None:
                records.append({"type": kind, "name": _name(tags), "source": "osm",
                                "source_ref": ref})
                points.append(point)
    except RuntimeError as exc:
        raise InputError(path, f"not readable as OSM data ({exc})",
                         "give an OSM XML (.osm) or PBF (.osm.pbf) file",
                         problem_zh=f"无法作为 OSM 数据读取（{exc}）",
                         hint_zh="请提供 OSM XML 或 PBF 文件") from exc
    frame = gpd.GeoDataFrame(records, columns=COLUMNS, geometry=points, crs="EPSG:4326")
    return frame.drop_duplicates("source_ref").reset_index(drop=True)


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name.lower() in lower:
            return str(lower[name.lower()])
    return None


def _bad(path: Path, row: int | None, problem: str, problem_zh: str, hint: str,
         hint_zh: str) -> InputError:
    return InputError(path, problem, hint, feature=None if row is None else f"row {row}",
                      problem_zh=problem_zh, hint_zh=hint_zh)


def _types(frame: pd.DataFrame, path: Path, first_row: int) -> list[str]:
    column = _column(frame, TYPE_COLUMNS)
    known = ", ".join(FACILITY_TYPES)
    if column is None:
        raise _bad(path, None, "there is no type column",
                   "缺少设施类型列（type 或 类型）",
                   f"add a column 'type' with one of {known} for every facility",
                   f"添加 type 列，每个设施填写 {known} 之一（或中文名称）")
    out = []
    for i, value in enumerate(frame[column].tolist()):
        key = _BY_NAME.get(str(value).strip()) if value is not None else None
        if key is None:
            raise _bad(path, i + first_row, f"unknown facility type {value!r}",
                       f"未知的设施类型 {value!r}",
                       f"use one of {known}",
                       f"请填写 {known} 之一，或其中文名称")
        out.append(key)
    return out


def _names(frame: pd.DataFrame) -> list[str]:
    column = _column(frame, NAME_COLUMNS)
    if column is None:
        return [""] * len(frame)
    return ["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip()[:200]
            for v in frame[column].tolist()]


def _read_csv(path: Path) -> gpd.GeoDataFrame:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise _bad(path, None, "the CSV encoding is not recognised", "CSV 编码无法识别",
                   "save it as UTF-8 or GBK", "请另存为 UTF-8 或 GBK 编码")
    rows = list(csv.DictReader(io.StringIO(text)))
    frame = pd.DataFrame(rows)
    lon, lat = _column(frame, ("lon", "lng", "经度", "x")), _column(frame, ("lat", "纬度", "y"))
    if not rows or lon is None or lat is None:
        raise _bad(path, None, "the CSV needs a header with lon and lat columns",
                   "CSV 需要表头，并包含 lon、lat（经度、纬度）列",
                   "add the columns lon, lat (WGS84 degrees) and type",
                   "请添加 lon、lat（WGS84 经纬度）和 type 列")
    points = []
    for i, (x, y) in enumerate(zip(frame[lon], frame[lat], strict=True)):
        try:
            point = Point(float(x), float(y))
        except (TypeError, ValueError):
            raise _bad(path, i + 2, f"lon/lat {x!r}, {y!r} are not numbers",
                       f"经纬度 {x!r}, {y!r} 不是数字", "give decimal degrees",
                       "请填写十进制度数") from None
        if not point.is_valid or not np.isfinite([point.x, point.y]).all():
            raise _bad(path, i + 2, f"lon/lat {x!r}, {y!r} are not finite numbers",
                       f"经纬度 {x!r}, {y!r} 不是有限数值", "give decimal degrees",
                       "请填写十进制度数")
        points.append(point)
    return gpd.GeoDataFrame(frame, geometry=points, crs=None)


def read_facilities(path: str | Path, *, datum: str = "wgs84") -> gpd.GeoDataFrame:
    """Facilities from a file: OSM (amenities, see the table above), GeoJSON, GeoPackage,
    Shapefile or CSV (lon, lat, type, name).

    Args:
        path: the file.
        datum: the lon/lat datum of a vector or CSV file: wgs84, cgcs2000, gcj02 or bd09.

    Returns:
        Points in EPSG:4326 with columns type, name, source, source_ref.

    Raises:
        InputError: unknown format, no facilities, a row without geometry, an unknown type,
            coordinates out of range; naming the file and the row.
    """
    path = check_file(path)
    if is_osm_path(path):
        found = facilities_from_osm(path)
        if found.empty:
            raise _bad(path, None, "the OSM data holds no facility of a known type",
                       "OSM 数据中没有可识别类型的设施",
                       "check the area, or give a file with a type column",
                       "请检查区域，或提供带 type 列的设施文件")
        return found
    first_row = 1
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
        first_row = 2  # row 1 is the header
    elif is_vector_path(path):
        frame = read_vector(path)
    else:
        raise _bad(path, None, f"unsupported file type {path.suffix!r}",
                   f"不支持的文件类型 {path.suffix!r}",
                   "give .osm, .osm.pbf, .geojson, .gpkg, .shp, .zip or .csv",
                   "请提供 .osm、.osm.pbf、.geojson、.gpkg、.shp、.zip 或 .csv 文件")
    if len(frame) > MAX_FACILITIES:
        raise _bad(path, None, f"more than {MAX_FACILITIES} facilities",
                   f"设施超过 {MAX_FACILITIES} 个", "split the file", "请拆分文件")
    if len(frame) == 0:
        raise _bad(path, None, "the file holds no facilities", "文件中没有任何设施",
                   "check the export", "请检查导出的数据")
    geoms = frame.geometry.values
    empty = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(empty):
        raise _bad(path, int(empty[0]) + first_row, "a facility has no geometry",
                   "设施没有几何（位置）", "give every facility a point or polygon",
                   "请为每个设施提供点或面")
    types = _types(frame, path, first_row)
    names = _names(frame)
    frame = gpd.GeoDataFrame(geometry=frame.geometry.values, crs=frame.crs)
    frame = to_wgs84(frame, path, datum=datum)
    points = frame.geometry.representative_point().values
    return gpd.GeoDataFrame(
        {"type": types, "name": names, "source": "file",
         "source_ref": [f"row {i + first_row}" for i in range(len(types))]},
        geometry=points, crs="EPSG:4326")


def read_sites(path: str | Path, *, datum: str = "wgs84") -> gpd.GeoDataFrame:
    """Candidate sites from a file: CSV with lon, lat columns, or GeoJSON, GeoPackage,
    Shapefile points (or polygons: their representative point); EPSG:4326 points.

    Raises:
        InputError: unknown format, no sites, a row without a usable position.
    """
    path = check_file(path)
    if path.suffix.lower() == ".csv":
        frame = _read_csv(path)
    elif is_vector_path(path):
        frame = read_vector(path)
    else:
        raise _bad(path, None, f"unsupported file type {path.suffix!r}",
                   f"不支持的文件类型 {path.suffix!r}",
                   "give .csv (lon, lat), .geojson, .gpkg, .shp or .zip",
                   "请提供 .csv（lon、lat）、.geojson、.gpkg、.shp 或 .zip 文件")
    if len(frame) == 0 or len(frame) > MAX_FACILITIES:
        raise _bad(path, None, f"give 1 to {MAX_FACILITIES} sites, got {len(frame)}",
                   f"候选地点应为 1 到 {MAX_FACILITIES} 个，收到 {len(frame)} 个",
                   "check the file", "请检查文件")
    geoms = frame.geometry.values
    empty = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if len(empty):
        raise _bad(path, int(empty[0]) + 1, "a site has no geometry", "候选地点没有位置",
                   "give every site a point", "请为每个候选地点提供点位")
    frame = to_wgs84(gpd.GeoDataFrame(geometry=geoms, crs=frame.crs), path, datum=datum)
    return gpd.GeoDataFrame(geometry=frame.geometry.representative_point().values,
                            crs="EPSG:4326")
