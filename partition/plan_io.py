"""Reading and writing plans as GeoPackages (layers ``grids`` and ``buildings``, WGS84 lon/lat).

``grids``: grid_id, code, community, households, population and the metrics of
partition.metrics, with the grid polygon. ``buildings``: the input attributes plus grid_id and
households, with the footprint. A table ``plan_summary`` holds the plan's figures as JSON and
``attribution`` the OpenStreetMap attribution when the data came from OSM.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from gis.errors import InputError, check_file
from gis.export import BUILDING_COLUMNS, write_gpkg
from partition.plan import Plan


def write_plan(plan: Plan, path: str | Path, attribution: str | None = None) -> Path:
    """Write ``plan`` to a GeoPackage atomically (nothing is left half-written on failure)."""
    layers = plan.layers_wgs84()
    cols = [c for c in BUILDING_COLUMNS if c in layers["buildings"].columns and c != "geometry"]
    layers["buildings"] = layers["buildings"][[*cols, "grid_id", "geometry"]]
    tables = {"plan_summary": pd.DataFrame({"summary": [json.dumps(plan.summary,
                                                                   ensure_ascii=False)]})}
    return write_gpkg(layers, path, attribution, tables=tables)


def read_plan(path: str | Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The ``grids`` and ``buildings`` layers of a plan GeoPackage (EPSG:4326).

    Raises:
        InputError: the file is missing, or is not a plan (no grids / buildings layer, no
            building_id or grid_id column).
    """
    path = check_file(path)
    try:
        with _quiet_extension():
            names = {name for name, _ in pyogrio.list_layers(path)}
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(path, f"not a GeoPackage ({exc})", "give a PLAN.gpkg written by "
                         "wangge partition", problem_zh="不是 GeoPackage 文件",
                         hint_zh="请提供 wangge partition 生成的 PLAN.gpkg") from exc
    if not {"grids", "buildings"} <= names:
        raise InputError(path, f"not a plan: layers {sorted(names)}, needs grids and buildings",
                         "give a PLAN.gpkg written by wangge partition",
                         problem_zh="不是网格方案文件（缺少 grids 或 buildings 图层）",
                         hint_zh="请提供 wangge partition 生成的 PLAN.gpkg")
    with _quiet_extension():
        grids = pyogrio.read_dataframe(path, layer="grids")
        buildings = pyogrio.read_dataframe(path, layer="buildings")
    for layer, frame, col in (("grids", grids, "grid_id"), ("buildings", buildings, "grid_id"),
                              ("buildings", buildings, "building_id")):
        if col not in frame.columns:
            raise InputError(path, f"layer {layer} has no column {col}",
                             "give a PLAN.gpkg written by wangge partition",
                             problem_zh=f"图层 {layer} 缺少列 {col}",
                             hint_zh="请提供 wangge partition 生成的 PLAN.gpkg")
    buildings["building_id"] = buildings["building_id"].astype(str)
    return grids, buildings


@contextmanager
def _quiet_extension() -> Iterator[None]:
    """GDAL quiet about a GeoPackage named without ``.gpkg``: ``--out plan`` writes such a file
    on purpose, and GDAL would warn on every open of it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non conformant file extension",
                                category=RuntimeWarning)
        yield
