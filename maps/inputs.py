"""Reading the maps' inputs from files, for ``wangge map`` and for anyone without the service.

Formats (the contracts the service's dispatch and incident code also follow):

* workers CSV: ``worker_id,name,grids`` with grids as grid codes separated by ";";
* party zones, incidents, service points: any vector file gis.vector_files reads (GeoJSON,
  GeoPackage, Shapefile), with the columns each view documents;
* a route: GeoJSON FeatureCollection with the foreign members ``worker_id``, ``worker_name``,
  ``distance_m`` (metres) and ``duration_s`` (seconds), and features whose property ``kind``
  is "stop" (seq, name, arrival; Point), "path" (LineString legs in travel order, by ``seq``)
  or "patrol" (LineString);
* a study area: the GeoPackage ``wangge import --out`` writes (layers communities, barriers,
  streets).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from gis.errors import InputError, check_file
from gis.vector_files import read_vector

AREA_LAYERS = ("communities", "barriers", "streets", "buildings", "green")


def read_workers(path: str | Path) -> pd.DataFrame:
    """Workers from a CSV (UTF-8, or GBK/GB18030 as Chinese spreadsheets save it).

    Raises:
        InputError: missing file, or no worker_id / name / grids column.
    """
    path = check_file(path)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(path, dtype=str, encoding=encoding).fillna("")
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputError(path, "not UTF-8 or GB18030 text", "save the CSV as UTF-8",
                         problem_zh="不是 UTF-8 或 GB18030 编码", hint_zh="请另存为 UTF-8 CSV")
    missing = [c for c in ("worker_id", "name", "grids") if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns {', '.join(missing)}",
                         "give columns worker_id,name,grids (grid codes separated by ;)",
                         problem_zh=f"缺少列 {', '.join(missing)}",
                         hint_zh="需要列 worker_id,name,grids（网格编码以 ; 分隔）")
    return frame


def read_area_layers(path: str | Path) -> dict[str, gpd.GeoDataFrame]:
    """The communities, barriers, streets, buildings and green layers of a study-area GeoPackage
    (those present).

    Raises:
        InputError: missing or unreadable file.
    """
    path = check_file(path)
    try:
        names = {name for name, _ in pyogrio.list_layers(path)}
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(path, f"not a GeoPackage ({exc})", "give the .gpkg wangge import wrote",
                         problem_zh="不是 GeoPackage 文件",
                         hint_zh="请提供 wangge import --out 生成的 .gpkg") from exc
    return {name: read_vector(path, layer=name) for name in AREA_LAYERS if name in names}


@dataclass
class RouteFile:
    """A route read from GeoJSON (see the module's docstring)."""

    stops: gpd.GeoDataFrame
    path: gpd.GeoDataFrame
    patrol: gpd.GeoDataFrame | None
    worker_id: str | None
    worker_name: str | None
    distance_m: float | None
    duration_s: float | None


def read_route(path: str | Path) -> RouteFile:
    """A route GeoJSON file.

    Raises:
        InputError: not JSON, no stops or no path.
    """
    path = check_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        features = gpd.GeoDataFrame.from_features(data["features"], crs="EPSG:4326")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(path, f"not a route GeoJSON ({exc})",
                         "give a FeatureCollection of stop, path and patrol features",
                         problem_zh="不是路线 GeoJSON",
                         hint_zh="请提供含 stop、path、patrol 要素的 FeatureCollection") from exc
    kind = features.get("kind", pd.Series("", index=features.index))
    stops, legs = features[kind == "stop"], features[kind == "path"]
    if len(stops) == 0 or len(legs) == 0:
        raise InputError(path, "a route needs stop and path features",
                         'mark features with "kind": "stop" / "path" / "patrol"',
                         problem_zh="路线需要 stop 与 path 要素",
                         hint_zh='请以 "kind": "stop" / "path" / "patrol" 标注要素')
    if "seq" in legs:
        legs = legs.sort_values("seq")
    patrol = features[kind == "patrol"]
    number = lambda key: float(data[key]) if data.get(key) is not None else None  # noqa: E731
    return RouteFile(stops=stops, path=legs, patrol=patrol if len(patrol) else None,
                     worker_id=data.get("worker_id"), worker_name=data.get("worker_name"),
                     distance_m=number("distance_m"), duration_s=number("duration_s"))
