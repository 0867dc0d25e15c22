"""Reading GIS vector files (GeoJSON, GeoPackage, Shapefile, zipped Shapefile) into GeoDataFrames.

Chinese data often comes as Shapefiles whose attribute table (.dbf) is GBK/GB18030-encoded,
sometimes without a .cpg file saying so. The encoding is taken, in this order, from the caller,
the .cpg file, and a check of the .dbf bytes (UTF-8 if they decode as UTF-8, else GB18030).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio

from gis.errors import InputError, check_file

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")


def is_vector_path(path: str | Path) -> bool:
    """True when ``path`` names a vector format that :func:`read_vector` reads."""
    return str(path).lower().endswith(VECTOR_SUFFIXES)


def unknown_format_error(path: Path) -> InputError:
    return InputError(
        path,
        f"unknown file format '{''.join(path.suffixes) or path.name}'",
        "give OSM (.osm, .osm.bz2, .osm.pbf), GeoJSON (.geojson), GeoPackage (.gpkg), "
        "Shapefile (.shp with .dbf/.shx/.prj) or a zipped Shapefile (.zip)",
        problem_zh=f"无法识别的文件格式“{''.join(path.suffixes) or path.name}”",
        hint_zh="请提供 OSM（.osm、.osm.bz2、.osm.pbf）、GeoJSON、GeoPackage、"
                "Shapefile 或压缩的 Shapefile",
    )


def dbf_encoding(shp_path: Path) -> str | None:
    """The encoding of a Shapefile's attribute table, or None to let GDAL decide.

    Reads the .cpg file when there is one; else returns "UTF-8" when the .dbf records decode
    as UTF-8 and "GB18030" (a superset of GBK and GB2312) when they decode only as that.
    """
    cpg, dbf = shp_path.with_suffix(".cpg"), shp_path.with_suffix(".dbf")
    return detect_encoding(cpg.read_bytes() if cpg.exists() else None,
                           dbf.read_bytes() if dbf.exists() else None)


def detect_encoding(cpg: bytes | None, dbf: bytes | None) -> str | None:
    """The attribute encoding from a .cpg file's bytes, else from the .dbf's bytes."""
    if cpg is not None:
        return _normalise_codepage(cpg.decode("ascii", errors="replace").strip()) or None
    if dbf is None or len(dbf) < 32:
        return None
    if dbf[29] in (0x4D, 0x7A):  # dBase language driver ids for GBK / PRC GBK
        return "GB18030"
    records = dbf[int.from_bytes(dbf[8:10], "little"):]
    if records.isascii():
        return None
    for encoding in ("utf-8", "gb18030"):
        try:
            records.decode(encoding)
            return "GB18030" if encoding == "gb18030" else "UTF-8"
        except UnicodeDecodeError:
            continue
    return None


def _normalise_codepage(name: str) -> str:
    upper = name.upper().replace("-", "").replace("_", "")
    if upper in ("936", "CP936", "GBK", "GB2312", "GB18030", "ANSI936"):
        return "GB18030"
    if upper in ("UTF8", "65001"):
        return "UTF-8"
    return name


def _shapefile_in_zip(path: Path) -> tuple[str, str | None]:
    """The one .shp inside a zip, and its attribute encoding."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            shps = [n for n in names if n.lower().endswith(".shp")]
            if len(shps) == 1:
                stem = shps[0][:-4]
                members = {n.lower(): n for n in names}

                def member(ext: str) -> bytes | None:
                    name = members.get((stem + ext).lower())
                    return zf.read(name) if name else None

                return shps[0], detect_encoding(member(".cpg"), member(".dbf"))
    except zipfile.BadZipFile as exc:
        raise InputError(
            path,
            "not a valid zip archive",
            "zip the Shapefile's .shp, .shx, .dbf, .prj (and .cpg) files again",
            problem_zh="不是有效的 zip 压缩包",
            hint_zh="请重新压缩 Shapefile 的 .shp、.shx、.dbf、.prj（和 .cpg）文件",
        ) from exc
    if len(shps) != 1:
        raise InputError(
            path,
            f"the zip holds {len(shps)} .shp files; exactly one is needed",
            "put one Shapefile (its .shp, .shx, .dbf, .prj, .cpg) in the zip",
            problem_zh=f"压缩包中有 {len(shps)} 个 .shp 文件，需要恰好一个",
            hint_zh="每个压缩包只放一个 Shapefile（.shp、.shx、.dbf、.prj、.cpg）",
        )


def read_vector(
    path: str | Path, *, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file as it is, in the file's own CRS.

    Args:
        path: .geojson/.json, .gpkg, .shp or a .zip holding one Shapefile.
        layer: the layer of a GeoPackage (default: the first).
        encoding: the attribute encoding of a Shapefile; detected when None.

    Raises:
        InputError: missing, empty or unreadable file, unknown format, no features.
    """
    path = check_file(path)
    if not is_vector_path(path):
        raise unknown_format_error(path)

    source = str(path)
    if path.suffix.lower() == ".zip":
        shp, detected = _shapefile_in_zip(path)
        source = f"/vsizip/{path}/{shp}"
        encoding = encoding or detected
    elif path.suffix.lower() == ".shp" and encoding is None:
        encoding = dbf_encoding(path)
    kwargs = {"layer": layer} if layer else {}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        gdf = pyogrio.read_dataframe(source, **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InputError(
            path,
            f"could not be read as {path.suffix.lstrip('.')} ({exc})",
            "open it in QGIS to check it, or export it again",
            problem_zh=f"无法读取（{exc}）",
            hint_zh="请在 QGIS 中打开检查，或重新导出",
        ) from exc
    if len(gdf) == 0:
        raise InputError(
            path,
            "the file holds no features",
            "check that the right layer was exported and that it has features",
            problem_zh="文件中没有任何要素",
            hint_zh="检查导出的图层是否正确、是否包含要素",
        )
    return gdf
