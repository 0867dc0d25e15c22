"""Building footprints from OSM or vector files, checked, repaired and classified.

Output columns (GeoDataFrame, EPSG:4326 lon/lat unless a function says otherwise):
``building_id`` (str, unique: "w123"/"r45" for OSM ways/relations, the file's id otherwise),
``building`` (the OSM building type, "yes" when unknown), ``name``, ``levels`` (floors),
``height`` (metres), ``flats`` (OSM building:flats), ``residential`` (bool) and the polygon.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError, Repair, warn_repair
from gis.osm import OsmExtract

# OSM building values that are homes (https://wiki.openstreetmap.org/wiki/Key:building).
RESIDENTIAL_TYPES = frozenset({
    "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
    "dormitory", "bungalow", "farm", "villa", "stilt_house", "houseboat",
})
# Tags that make a building=yes a shop, office, school ... rather than homes.
NON_RESIDENTIAL_KEYS = ("shop", "office", "amenity", "tourism", "craft", "industrial", "healthcare",
                        "public_transport", "railway")

POLYGON_TYPES = ("Polygon", "MultiPolygon")


def _number(value) -> float:
    """Parse OSM numbers like "12", "12.5", "12 m", "12;14" (first value); NaN if none."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return np.nan
    text = str(value).split(";")[0].strip().lower().removesuffix("m").strip()
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return np.nan


def buildings_from_osm(extract: OsmExtract) -> gpd.GeoDataFrame:
    """Building polygons of an OSM extract, with their tags parsed (EPSG:4326)."""
    rows = []
    for area in extract.areas:
        tags = area.tags
        if "building" not in tags or tags["building"] == "no":
            continue
        rows.append({
            "building_id": f"{area.osm_type}{area.osm_id}",
            "building": tags["building"],
            "name": tags.get("name"),
            "levels": _number(tags.get("building:levels")),
            "height": _number(tags.get("height")),
            "flats": _number(tags.get("building:flats")),
            "non_residential_tag": any(k in tags for k in NON_RESIDENTIAL_KEYS),
            "underground": _underground(tags),
            "geometry": area.geometry,
        })
    gdf = gpd.GeoDataFrame(rows, columns=[
        "building_id", "building", "name", "levels", "height", "flats",
        "non_residential_tag", "underground", "geometry"], geometry="geometry",
        crs="EPSG:4326")
    return gdf


def _underground(tags: dict[str, str]) -> bool:
    """Is an OSM building below ground (``location=underground``, or a negative ``layer``):
    a metro station or an underground mall, under streets and other buildings?"""
    return tags.get("location") == "underground" or _number(tags.get("layer")) < 0


UNDERGROUND_NOTE = ("underground buildings left out (location=underground or a negative "
                    "layer: metro stations, underground malls; they hold no homes and lie "
                    "under streets and other buildings) "
                    "(地下建筑已排除：location=underground 或 layer 为负，如地铁站、地下商场；"
                    "其中无住户，且位于街道和其他建筑之下)")


def drop_underground(gdf: gpd.GeoDataFrame, path: str | Path | None,
                     repairs: list[Repair]) -> gpd.GeoDataFrame:
    """:func:`buildings_from_osm`'s buildings above ground, without the ``underground``
    column; those left out are counted in ``repairs``. Planned as buildings, an underground
    station across a main road joined the grids on both sides of it (a window of the Nanjing
    extract: 新街口 station, 12,600 m2 under 中山南路)."""
    below = gdf["underground"].astype(bool)
    if below.any():
        repairs.append(Repair(None if path is None else str(path), UNDERGROUND_NOTE,
                              int(below.sum()), gdf.loc[below, "building_id"].tolist()[:5]))
    return gdf.loc[~below].drop(columns="underground")


def buildings_from_vector(
    gdf: gpd.GeoDataFrame, path: str | Path, *, id_col: str | None = None, first_row: int = 1
) -> gpd.GeoDataFrame:
    """Normalise a vector file's buildings to the columns above (CRS unchanged).

    ``id_col`` names the id column (default: the first of building_id, id, osm_id, OBJECTID,
    FID that exists, else row numbers counted from ``first_row``: a file read in batches
    passes the number of its batch's first row). OSM-style columns (building, building:levels,
    building:flats, height, name) are used when present.
    """
    out = gdf.copy()
    if id_col is None:
        id_col = next((c for c in ("building_id", "id", "osm_id", "OBJECTID", "FID")
                       if c in out.columns), None)
    elif id_col not in out.columns:
        raise InputError(
            path, f"there is no id column '{id_col}'",
            f"name one of the file's columns: {', '.join(map(str, out.columns[:20]))}",
            problem_zh=f"没有编号列“{id_col}”", hint_zh="请指定文件中已有的列名",
        )
    rows = np.arange(first_row, first_row + len(out))
    out["building_id"] = (out[id_col].astype(str) if id_col
                          else pd.Series(rows, index=out.index).astype(str))
    for col, src in (("levels", "building:levels"), ("flats", "building:flats"),
                     ("height", "height")):
        values = out[src] if src in out.columns else out.get(col)
        out[col] = [_number(v) for v in values] if values is not None else np.nan
    if "building" not in out.columns:
        out["building"] = "yes"
    out["building"] = out["building"].fillna("yes").astype(str)
    if "name" not in out.columns:
        out["name"] = None
    out["non_residential_tag"] = False
    return out


def check_duplicate_ids(gdf: gpd.GeoDataFrame, path: str | Path | None) -> None:
    """Raise when two buildings share a ``building_id``."""
    dup = gdf["building_id"].duplicated(keep=False)
    if dup.any():
        ids = gdf.loc[dup, "building_id"].unique()
        raise InputError(
            path,
            f"{len(ids)} building ids occur more than once (e.g. {', '.join(map(str, ids[:5]))})",
            "give every building a unique id, or name another id column",
            feature=f"building_id={ids[0]}",
            problem_zh=f"有 {len(ids)} 个建筑编号重复（如 {', '.join(map(str, ids[:5]))}）",
            hint_zh="请保证每栋建筑编号唯一，或指定另一列作为编号",
        )


def repair_polygons(
    gdf: gpd.GeoDataFrame,
    path: str | Path | None,
    *,
    invalid: str = "repair",
    id_col: str = "building_id",
    repairs: list[Repair] | None = None,
) -> gpd.GeoDataFrame:
    """Keep polygon features, making invalid ones (self-intersecting, bow-tie) valid.

    Args:
        invalid: "repair" (shapely.make_valid, keeping the polygonal part, with a warning that
            counts them) or "reject" (raise on the first invalid polygon).

    Raises:
        InputError: a feature is not a polygon, is empty, or is invalid with invalid="reject".
    """
    geoms = gdf.geometry
    missing = geoms.isna() | geoms.is_empty
    if missing.any():
        raise InputError(
            path, f"{int(missing.sum())} features have no geometry",
            "delete those features or draw their footprints",
            feature=_label(gdf, missing, id_col),
            problem_zh=f"{int(missing.sum())} 个要素没有几何图形", hint_zh="删除这些要素或补画轮廓",
        )
    not_poly = ~geoms.geom_type.isin(POLYGON_TYPES)
    if not_poly.any():
        kind = geoms[not_poly].iloc[0].geom_type
        raise InputError(
            path, f"{int(not_poly.sum())} features are {kind}s, not polygons",
            "buildings must be footprint polygons; export the footprint layer",
            feature=_label(gdf, not_poly, id_col),
            problem_zh=f"{int(not_poly.sum())} 个要素是 {kind} 而不是面",
            hint_zh="建筑必须是轮廓面，请导出建筑轮廓图层",
        )
    bad = ~geoms.is_valid
    if not bad.any():
        return gdf
    reason = shapely.is_valid_reason(geoms[bad].iloc[0])
    if invalid == "reject":
        raise InputError(
            path, f"{int(bad.sum())} polygons are invalid ({reason})",
            "fix them (QGIS: Vector > Geometry Tools > Fix Geometries) or import with repair",
            feature=_label(gdf, bad, id_col),
            problem_zh=f"{int(bad.sum())} 个面无效（{reason}）",
            hint_zh="请修复（QGIS：矢量 > 几何工具 > 修复几何）或以修复模式导入",
        )
    out = gdf.copy()
    fixed = shapely.make_valid(out.geometry[bad].values)
    out.loc[bad, out.geometry.name] = [_polygonal_part(g) for g in fixed]
    repair = Repair(str(path) if path else None,
                    f"invalid polygons repaired (无效面已修复; {reason})", int(bad.sum()),
                    [str(x) for x in out.loc[bad, id_col].head(5)]
                    if id_col in out.columns else [])
    warn_repair(repair)
    if repairs is not None:
        repairs.append(repair)
    empty = out.geometry.is_empty
    return out[~empty]


def _polygonal_part(geom):
    """The polygons of a make_valid result (which may add stray lines or points)."""
    if geom.geom_type in POLYGON_TYPES:
        return geom
    parts = [g for g in getattr(geom, "geoms", [geom]) if g.geom_type in POLYGON_TYPES]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _label(gdf: gpd.GeoDataFrame, mask: pd.Series, id_col: str) -> str:
    idx = mask[mask].index[0]
    if id_col in gdf.columns:
        return f"{id_col}={gdf.at[idx, id_col]}"
    return f"row {list(gdf.index).index(idx) + 1}"


def classify_residential(
    buildings: gpd.GeoDataFrame,
    residential_landuse: gpd.GeoSeries | None = None,
    *,
    residential_types: frozenset[str] = RESIDENTIAL_TYPES,
    override_col: str = "residential",
) -> gpd.GeoDataFrame:
    """Set the ``residential`` column (bool).

    A building is residential when its type is in ``residential_types``; a ``building=yes``
    counts too when it lies inside ``residential_landuse`` (OSM landuse=residential, the
    compound 小区 outline) and carries no shop/office/amenity tags. A user column
    ``override_col`` holding true/false wins where it is filled.
    """
    out = buildings.copy()
    btype = out["building"].fillna("yes").str.lower()
    residential = btype.isin(residential_types)
    if residential_landuse is not None and len(residential_landuse):
        reps = out.geometry.representative_point()
        landuse = residential_landuse.to_crs(out.crs) if residential_landuse.crs else (
            residential_landuse)
        inside = gpd.GeoDataFrame(geometry=reps).sjoin(
            gpd.GeoDataFrame(geometry=landuse.values, crs=out.crs), predicate="within"
        ).index.unique()
        in_landuse = out.index.isin(inside)
        residential |= (btype == "yes") & in_landuse & ~out["non_residential_tag"].astype(bool)
    if override_col in buildings.columns:
        given = buildings[override_col].map(_as_bool)
        residential = given.where(given.notna(), residential).astype(bool)
    out["residential"] = residential.astype(bool)
    return out


def _as_bool(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y", "t", "是", "住宅"):
        return True
    if text in ("0", "false", "no", "n", "f", "否", "非住宅"):
        return False
    return None
