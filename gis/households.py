"""Households and population per building.

Households of a residential building come from the first of these that has a value:

1. ``given``: a column the user names (default ``households``);
2. ``osm_flats``: the OSM tag ``building:flats``;
3. ``csv``: a CSV file joined on ``building_id``;
4. ``raster``: a population raster (GeoTIFF such as WorldPop) spread over the residential
   buildings of each cell in proportion to floor area, divided by the household size;
5. ``estimated``: floor area / :data:`FLOOR_AREA_PER_HOUSEHOLD_M2`, where floor area is the
   footprint area times the floors: ``building:levels``, else ``height`` / :data:`STOREY_HEIGHT_M`,
   else :data:`DEFAULT_LEVELS` for the building type.

Sources 4 and 5 set ``households_estimated``. A footprint mapped twice (two outlines
overlapping by :data:`DUPLICATE_IOU` or more of their union) is one building: households that
come from the footprint itself (``osm_flats``, ``estimated``) are counted once, on the first
copy by id; the other copies get 0 (``households_source`` "duplicate") and ``duplicate_of``
names the copy that keeps them. Households the user gave (``given``, ``csv``) or spread from
a raster (the copies split the cell's people) are kept on every copy. Population =
households x household size (default :data:`HOUSEHOLD_SIZE`). Areas are in square metres:
the buildings must be in a projected, metric CRS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError, Repair

# Mean household size of China, 2020 census (第七次全国人口普查: 2.62 persons per household).
HOUSEHOLD_SIZE = 2.62
# Gross floor area (建筑面积, shared stairs and walls included) per household, m^2: a typical
# urban Chinese flat is 70-110 m^2 of gross area.
FLOOR_AREA_PER_HOUSEHOLD_M2 = 90.0
STOREY_HEIGHT_M = 3.0
# Floors assumed when a building has neither building:levels nor height.
DEFAULT_LEVELS: dict[str, float] = {
    "apartments": 6, "residential": 6, "dormitory": 5, "yes": 4,
    "house": 2, "detached": 2, "semidetached_house": 2, "terrace": 2, "villa": 3, "farm": 2,
    "bungalow": 1, "stilt_house": 1, "houseboat": 1,
}
FALLBACK_LEVELS = 3.0
# Households given for one building beyond this are an error in the column (the largest
# residential blocks hold a few thousand homes); Infinity or 1e300 fit no integer either.
MAX_HOUSEHOLDS = 100_000
# Two footprints whose intersection is at least this share of their union are one building
# mapped twice (two mappers' outlines of one block differ by a metre or two; neighbours that
# merely touch or overlap by an eave share far less).
DUPLICATE_IOU = 0.9
# Sources whose households are a property of the footprint: a second copy repeats them.
FOOTPRINT_SOURCES = ("osm_flats", "estimated")


@dataclass(frozen=True)
class HouseholdOptions:
    """How households and population are found. See the module docstring for the order."""

    households_col: str = "households"
    csv_path: str | None = None
    csv_id_col: str = "building_id"
    csv_households_col: str = "households"
    raster_path: str | None = None
    household_size: float = HOUSEHOLD_SIZE
    floor_area_per_household_m2: float = FLOOR_AREA_PER_HOUSEHOLD_M2


def floors(buildings: gpd.GeoDataFrame) -> pd.Series:
    """Floors per building: levels, else height / 3 m, else the default for its type."""
    by_height = (buildings["height"] / STOREY_HEIGHT_M).round().clip(lower=1)
    by_type = buildings["building"].str.lower().map(DEFAULT_LEVELS).fillna(FALLBACK_LEVELS)
    levels = buildings["levels"].where(buildings["levels"] > 0)
    return levels.fillna(by_height).fillna(by_type).astype(float)


def _numeric_households(values: pd.Series, ids: pd.Series, path, what: str) -> pd.Series:
    """Parse a households column, refusing text, negative numbers and more than
    :data:`MAX_HOUSEHOLDS` (Infinity included) with the feature named."""
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.notna() & numbers.isna() & (values.astype(str).str.strip() != "")
    if text.any():
        i = text[text].index[0]
        raise InputError(
            path, f"{what} '{values[i]}' is not a number ({int(text.sum())} such values)",
            "write households as whole numbers (leave the cell empty when unknown)",
            feature=f"building_id={ids[i]}",
            problem_zh=f"{what}“{values[i]}”不是数字（共 {int(text.sum())} 处）",
            hint_zh="户数请填写整数（未知时留空）",
        )
    negative = numbers < 0
    if negative.any():
        i = negative[negative].index[0]
        raise InputError(
            path, f"{what} is negative ({numbers[i]:g}; {int(negative.sum())} such values)",
            "households must be 0 or more",
            feature=f"building_id={ids[i]}",
            problem_zh=f"{what}为负数（{numbers[i]:g}，共 {int(negative.sum())} 处）",
            hint_zh="户数必须大于或等于 0",
        )
    too_many = numbers > MAX_HOUSEHOLDS
    if too_many.any():  # Infinity or 1e300 too, which no integer holds
        i = too_many[too_many].index[0]
        raise InputError(
            path, f"{what} is {numbers[i]:g}, more than {MAX_HOUSEHOLDS:,} in one building "
            f"({int(too_many.sum())} such values)",
            "check the column: it holds households per building",
            feature=f"building_id={ids[i]}",
            problem_zh=f"{what}为 {numbers[i]:g}，单栋超过 {MAX_HOUSEHOLDS} 户"
            f"（共 {int(too_many.sum())} 处）",
            hint_zh="请检查该列：应为每栋建筑的户数",
        )
    return numbers.round()


def csv_households(path: str, id_col: str, hh_col: str) -> pd.Series:
    """Households indexed by building id, read from a CSV file (UTF-8 or GB18030).

    Raises:
        InputError: missing file or columns, duplicate ids, households not numbers.
    """
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        raise InputError(p, "households CSV is missing or empty",
                         "give a CSV with a building id column and a households column",
                         problem_zh="户数 CSV 文件不存在或为空",
                         hint_zh="请提供含建筑编号列和户数列的 CSV")
    try:
        table = pd.read_csv(p, dtype={id_col: str}, encoding="utf-8-sig")
    except UnicodeDecodeError:
        table = pd.read_csv(p, dtype={id_col: str}, encoding="gb18030")
    for col in (id_col, hh_col):
        if col not in table.columns:
            raise InputError(p, f"no column '{col}' (columns: {', '.join(table.columns)})",
                             "name the id and households columns of the CSV",
                             problem_zh=f"缺少列“{col}”", hint_zh="请指定 CSV 的编号列和户数列")
    dup = table[id_col].duplicated(keep=False)
    if dup.any():
        raise InputError(p, f"building id '{table.loc[dup, id_col].iloc[0]}' occurs "
                            f"{int(dup.sum())} times", "keep one row per building",
                         feature=f"{id_col}={table.loc[dup, id_col].iloc[0]}",
                         problem_zh="建筑编号重复", hint_zh="每栋建筑只保留一行")
    values = _numeric_households(table[hh_col], table[id_col], p, "households")
    return pd.Series(values.values, index=table[id_col].values)


def raster_cells(buildings: gpd.GeoDataFrame, raster_path: str) -> tuple[np.ndarray, np.ndarray]:
    """The raster's values (population per cell, flat, negatives as 0) and, per building, the
    flat index of the cell holding its representative point (-1 outside the raster)."""
    import rasterio

    with rasterio.open(raster_path) as src:
        band = src.read(1, masked=True)
        pts = buildings.geometry.representative_point().to_crs(src.crs)
        rows, cols = rasterio.transform.rowcol(src.transform, pts.x.values, pts.y.values)
        rows, cols = np.asarray(rows), np.asarray(cols)
        inside = (rows >= 0) & (rows < src.height) & (cols >= 0) & (cols < src.width)
        values = np.ma.filled(band.astype(float), 0.0)
    values[values < 0] = 0.0  # nodata written as negative numbers in some products
    cells = np.where(inside, rows * values.shape[1] + cols, -1)
    return values.ravel(), cells.astype(np.int64)


def raster_spread(values: np.ndarray, cells: np.ndarray, floor_area: np.ndarray,
                  cell_area: np.ndarray) -> np.ndarray:
    """Population per building: its cell's value (``values``, by flat ``cells`` index; -1 for
    none) times its share of the cell's residential floor area (``cell_area``, m^2 per cell).
    Buildings that take no share (not residential, outside) are given 0 by the caller."""
    out = np.zeros(len(cells))
    ok = cells >= 0
    total = cell_area[cells[ok]]
    out[ok] = np.divide(floor_area[ok], total, out=np.zeros(int(ok.sum())),
                        where=total > 0) * values[cells[ok]]
    return out


def raster_population(buildings: gpd.GeoDataFrame, raster_path: str) -> tuple[pd.Series, float]:
    """Spread a population raster over residential buildings by floor area.

    Each cell's population goes to the residential buildings whose representative point falls
    in it, shared by floor area (m^2). Returns the population per building and the population
    of cells that held no residential building (it cannot be placed and is reported).
    """
    values, cells = raster_cells(buildings, raster_path)
    resid = buildings["residential"].to_numpy(dtype=bool) & (cells >= 0)
    area = (buildings.geometry.area * floors(buildings)).to_numpy()
    cells = np.where(resid, cells, -1)
    cell_area = np.bincount(cells[resid], weights=area[resid], minlength=len(values))
    pop = pd.Series(raster_spread(values, cells, area, cell_area), index=buildings.index)
    placed = np.unique(cells[resid])
    unplaced = float(values.sum() - values[placed].sum())
    return pop, unplaced


def assign_households(
    buildings: gpd.GeoDataFrame,
    options: HouseholdOptions | None = None,
    *,
    path: str | Path | None = None,
    repairs: list[Repair] | None = None,
) -> gpd.GeoDataFrame:
    """Add ``households``, ``households_source``, ``households_estimated``, ``floors``,
    ``floor_area_m2`` and ``population`` to residential buildings (0 for the others).

    Args:
        buildings: in a projected CRS (metres), with the columns of gis.buildings.
        options: where households come from; defaults as documented above.
        path: the buildings' file, for error messages.

    Raises:
        InputError: non-numeric or negative households in the column or the CSV.
    """
    opts = options or HouseholdOptions()
    if buildings.crs is None or not buildings.crs.is_projected:
        raise ValueError("assign_households needs buildings in a projected CRS (metres)")
    out = buildings.copy()
    out["floors"] = floors(out)
    out["floor_area_m2"] = out.geometry.area * out["floors"]
    hh = pd.Series(np.nan, index=out.index)
    source = pd.Series(None, index=out.index, dtype=object)

    def fill(values: pd.Series, name: str) -> None:
        take = hh.isna() & values.notna()
        hh[take] = values[take]
        source[take] = name

    if opts.households_col in out.columns:
        given = _numeric_households(out[opts.households_col], out["building_id"], path,
                                    f"column '{opts.households_col}'")
        # Homes given by the user make a building residential whatever its tags say.
        out.loc[given > 0, "residential"] = True
        fill(given, "given")
    resid = out["residential"].astype(bool)
    fill(out["flats"].where(resid & (out["flats"] >= 0)).round(), "osm_flats")
    if opts.csv_path:
        table = csv_households(opts.csv_path, opts.csv_id_col, opts.csv_households_col)
        unmatched = int((~table.index.isin(out["building_id"])).sum())
        if unmatched and repairs is not None:
            repairs.append(Repair(opts.csv_path, "CSV rows whose building id matches no "
                                  "building, ignored (CSV 中编号无对应建筑，已忽略)", unmatched,
                                  [str(x) for x in table.index[~table.index.isin(
                                      out["building_id"])][:5]]))
        fill(out["building_id"].map(table).where(resid), "csv")
    if opts.raster_path:
        pop, unplaced = raster_population(out, opts.raster_path)
        fill((pop / opts.household_size).round().where(resid & (pop > 0)), "raster")
        if unplaced > 0 and repairs is not None:
            repairs.append(Repair(opts.raster_path, "raster population in cells without a "
                                  "residential building, not placed (无住宅的栅格人口未分配)",
                                  round(unplaced), []))
    estimate = (out["floor_area_m2"] / opts.floor_area_per_household_m2).round().clip(lower=1)
    fill(estimate.where(resid), "estimated")

    out["households"] = hh.fillna(0).astype(int)
    out["households_source"] = source.where(resid, None)
    out = _count_copies_once(out, path, repairs)
    out["households_estimated"] = out["households_source"].isin(["raster", "estimated"]) & resid
    out["population"] = out["households"] * opts.household_size
    return out


def duplicate_footprints(buildings: gpd.GeoDataFrame,
                         min_iou: float = DUPLICATE_IOU) -> list[list[int]]:
    """Sets of row positions whose footprints are one building mapped twice or more: each
    pair overlaps by at least ``min_iou`` of its union (any CRS; the ratio has no unit).
    Sets are sorted, and so is the list."""
    geoms = buildings.geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if not len(left):
        return []
    inter = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    union = shapely.area(geoms[left]) + shapely.area(geoms[right]) - inter
    same = inter >= min_iou * np.maximum(union, 1e-12)
    copies: nx.Graph[int] = nx.Graph(
        zip(left[same].tolist(), right[same].tolist(), strict=True))
    return sorted(sorted(c) for c in nx.connected_components(copies))


def _count_copies_once(out: gpd.GeoDataFrame, path: str | Path | None,
                       repairs: list[Repair] | None) -> gpd.GeoDataFrame:
    """Households drawn from a footprint kept on one copy of a footprint mapped twice."""
    out["duplicate_of"] = pd.Series(None, index=out.index, dtype=object)
    ids = out["building_id"].astype(str).to_numpy()
    source = out["households_source"].to_numpy()
    zeroed: list[str] = []
    for rows in duplicate_footprints(out):
        rows = sorted(rows, key=lambda r: ids[r])
        derived = [r for r in rows if source[r] in FOOTPRINT_SOURCES]
        given = [r for r in rows if r not in derived and out["households"].iat[r] > 0]
        keeper = given[0] if given else (derived[0] if derived else rows[0])
        drop = derived if given else derived[1:]
        for r in rows:
            if r != keeper:
                out.iat[r, out.columns.get_loc("duplicate_of")] = ids[keeper]
        for r in drop:
            out.iat[r, out.columns.get_loc("households")] = 0
            out.iat[r, out.columns.get_loc("households_source")] = "duplicate"
            zeroed.append(ids[r])
    if zeroed and repairs is not None:
        repairs.append(Repair(
            str(path) if path else None,
            "footprints mapped twice: their households counted once "
            "(重复绘制的建筑轮廓：户数只计一次)", len(zeroed), zeroed[:5]))
    return out
