"""Reading GIS vector files (GeoJSON, GeoPackage, FlatGeobuf, Shapefile, zipped Shapefile).

Chinese data often comes as Shapefiles whose attribute table (.dbf) is GBK/GB18030-encoded,
sometimes without a .cpg file saying so. The encoding is taken, in this order, from the caller,
the .cpg file, and a check of the .dbf bytes (UTF-8 if they decode as UTF-8, else GB18030);
a .cpg that says UTF-8 over a table that only decodes as GB18030 (a common mislabel) gives way
to the bytes.

A zipped Shapefile is checked before anything is unpacked (entries, sizes, their total and
compression ratios: a small zip may hold gigabytes of zeros), then its Shapefile is streamed
to a temporary folder beside the zip and read from there.

Every geometry read is checked: one GEOS cannot build (a ring not closed, a ring of fewer
than 4 points) or with a coordinate that is not a finite number (NaN, Infinity: GDAL reads
them from GeoJSON) is refused with an :class:`~gis.errors.InputError` naming its feature,
before any geometry operation sees it.
"""

from __future__ import annotations

import codecs
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.errors import InputError, check_file

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".fgb", ".shp", ".zip")
DBF_SAMPLE_BYTES = 4 * 1024 * 1024  # of a .dbf read to detect its encoding
ZIP_MAX_ENTRIES = 1_000
ZIP_MAX_TOTAL_BYTES = 512 * 1024 * 1024  # unpacked, all entries together
ZIP_MAX_RATIO = 100  # unpacked / packed size of one entry ...
ZIP_RATIO_FROM_BYTES = 1024 * 1024  # ... once it unpacks to more than this
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
COPY_CHUNK = 1024 * 1024


def is_vector_path(path: str | Path) -> bool:
    """True when ``path`` names a vector format that :func:`read_vector` reads."""
    return str(path).lower().endswith(VECTOR_SUFFIXES)


def unknown_format_error(path: Path) -> InputError:
    """The error for a file whose format is none of those Wangge reads."""
    return InputError(
        path,
        f"unknown file format '{''.join(path.suffixes) or path.name}'",
        "give OSM (.osm, .osm.bz2, .osm.pbf), GeoJSON (.geojson), GeoPackage (.gpkg), "
        "FlatGeobuf (.fgb), Shapefile (.shp with .dbf/.shx/.prj) or a zipped Shapefile (.zip)",
        problem_zh=f"无法识别的文件格式“{''.join(path.suffixes) or path.name}”",
        hint_zh="请提供 OSM（.osm、.osm.bz2、.osm.pbf）、GeoJSON、GeoPackage、FlatGeobuf、"
                "Shapefile 或压缩的 Shapefile",
    )


def _head(path: Path, size: int = DBF_SAMPLE_BYTES) -> bytes | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        return f.read(size)


def dbf_encoding(shp_path: Path) -> str | None:
    """The encoding of a Shapefile's attribute table, or None to let GDAL decide.

    Reads the .cpg file when there is one; else returns "UTF-8" when the .dbf records decode
    as UTF-8 and "GB18030" (a superset of GBK and GB2312) when they decode only as that.
    Only the first DBF_SAMPLE_BYTES of the .dbf are looked at.
    """
    return detect_encoding(_head(shp_path.with_suffix(".cpg"), 1024),
                           _head(shp_path.with_suffix(".dbf")))


def _decodes(data: bytes, encoding: str) -> bool:
    """True when ``data`` (possibly cut in the middle of a character) decodes."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _records(dbf: bytes | None) -> bytes | None:
    """The record bytes of a .dbf (or of its first bytes), None when there are none."""
    if dbf is None or len(dbf) < 32:
        return None
    return dbf[int.from_bytes(dbf[8:10], "little"):]


def _from_bytes(records: bytes | None) -> str | None:
    if records is None or records.isascii():
        return None
    if _decodes(records, "utf-8"):
        return "UTF-8"
    return "GB18030" if _decodes(records, "gb18030") else None


def detect_encoding(cpg: bytes | None, dbf: bytes | None) -> str | None:
    """The attribute encoding from a .cpg file's bytes, else from the .dbf's bytes (all of
    them or the first ones)."""
    if cpg is not None:
        declared = _normalise_codepage(cpg.decode("ascii", errors="replace").strip()) or None
        if declared == "UTF-8" and _from_bytes(_records(dbf)) == "GB18030":
            return "GB18030"  # a GBK table whose .cpg says UTF-8
        return declared
    if dbf is None or len(dbf) < 32:
        return None
    if dbf[29] in (0x4D, 0x7A):  # dBase language driver ids for GBK / PRC GBK
        return "GB18030"
    return _from_bytes(_records(dbf))


def _normalise_codepage(name: str) -> str:
    upper = name.upper().replace("-", "").replace("_", "")
    if upper in ("936", "CP936", "GBK", "GB2312", "GB18030", "ANSI936"):
        return "GB18030"
    if upper in ("UTF8", "65001"):
        return "UTF-8"
    return name


def _zip_error(path: Path, problem: str, problem_zh: str, entry: str | None = None
               ) -> InputError:
    limit_mb = ZIP_MAX_TOTAL_BYTES // 1024 // 1024
    return InputError(
        path, problem,
        f"zip only the Shapefile's .shp, .shx, .dbf, .prj (and .cpg) files, together no "
        f"more than {limit_mb} MB unpacked, or send the .shp files or a GeoPackage instead",
        feature=entry, problem_zh=problem_zh,
        hint_zh=f"压缩包中只放 Shapefile 的 .shp、.shx、.dbf、.prj（和 .cpg）文件，"
                f"解压后合计不超过 {limit_mb} MB；或改为上传 GeoPackage")


def check_zip_entries(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a zip whose entries are too many, too large together, or packed suspiciously
    tightly (a zip bomb), from its directory alone: nothing is unpacked."""
    if len(infos) > ZIP_MAX_ENTRIES:
        raise _zip_error(path, f"the zip holds {len(infos)} entries, more than {ZIP_MAX_ENTRIES}",
                         f"压缩包中有 {len(infos)} 个文件，超过上限 {ZIP_MAX_ENTRIES}")
    total = 0
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_FROM_BYTES and ratio > ZIP_MAX_RATIO:
            raise _zip_error(
                path, f"{info.filename} unpacks {ratio:.0f} times larger than it is packed "
                f"({info.file_size / 1024 / 1024:.0f} MB), more than the limit of "
                f"{ZIP_MAX_RATIO} (a zip bomb?)",
                f"{info.filename} 的压缩比为 {ratio:.0f} 倍（解压后 "
                f"{info.file_size / 1024 / 1024:.0f} MB），超过上限 {ZIP_MAX_RATIO} 倍"
                "（疑似压缩炸弹）",
                entry=info.filename)
        total += info.file_size
        if total > ZIP_MAX_TOTAL_BYTES:
            raise _zip_error(
                path, f"the zip unpacks to more than {ZIP_MAX_TOTAL_BYTES // 1024 // 1024} MB",
                f"压缩包解压后超过 {ZIP_MAX_TOTAL_BYTES // 1024 // 1024} MB", entry=info.filename)


def _the_shapefile(path: Path, names: list[str]) -> str:
    shps = [n for n in names if n.lower().endswith(".shp")]
    if len(shps) != 1:
        raise InputError(
            path,
            f"the zip holds {len(shps)} .shp files; exactly one is needed",
            "put one Shapefile (its .shp, .shx, .dbf, .prj, .cpg) in the zip",
            problem_zh=f"压缩包中有 {len(shps)} 个 .shp 文件，需要恰好一个",
            hint_zh="每个压缩包只放一个 Shapefile（.shp、.shx、.dbf、.prj、.cpg）",
        )
    return shps[0]


def _copy_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, path: Path) -> None:
    """Stream one entry to ``target``, never writing more than its directory promised."""
    written = 0
    with zf.open(info) as src, target.open("wb") as out:
        while chunk := src.read(COPY_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise _zip_error(path, f"{info.filename} is larger than the zip says",
                                 f"{info.filename} 的实际大小与压缩包目录不符",
                                 entry=info.filename)
            out.write(chunk)


def unzip_shapefile(path: Path, folder: Path) -> Path:
    """Check the zip, stream its one Shapefile's parts into ``folder``; the .shp there."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            check_zip_entries(path, infos)
            shp = _the_shapefile(path, [i.filename for i in infos])
            stem = shp[:-4].lower()
            name = Path(shp).stem or "data"
            for info in infos:
                base, dot, ext = info.filename.rpartition(".")
                if base.lower() == stem and f".{ext.lower()}" in SHAPEFILE_PARTS:
                    _copy_entry(zf, info, folder / f"{name}{dot}{ext.lower()}", path)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise InputError(
            path,
            "not a valid zip archive",
            "zip the Shapefile's .shp, .shx, .dbf, .prj (and .cpg) files again",
            problem_zh="不是有效的 zip 压缩包",
            hint_zh="请重新压缩 Shapefile 的 .shp、.shx、.dbf、.prj（和 .cpg）文件",
        ) from exc
    return folder / f"{name}.shp"


def read_vector(
    path: str | Path, *, layer: str | None = None, encoding: str | None = None
) -> gpd.GeoDataFrame:
    """Read a vector file as it is, in the file's own CRS.

    Args:
        path: .geojson/.json, .gpkg, .shp or a .zip holding one Shapefile.
        layer: the layer of a GeoPackage (default: the first).
        encoding: the attribute encoding of a Shapefile; detected when None.

    Raises:
        InputError: missing, empty or unreadable file, unknown format, no features, a
            geometry that cannot be built or with a coordinate that is not a number.
    """
    path = check_file(path)
    if not is_vector_path(path):
        raise unknown_format_error(path)

    if path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=".unzip-") as folder:
            shp = unzip_shapefile(path, Path(folder))
            return _read(path, shp, f"{path.name}/{shp.name}", layer,
                         encoding or dbf_encoding(shp))
    if path.suffix.lower() == ".shp" and encoding is None:
        encoding = dbf_encoding(path)
    return _read(path, path, path.name, layer, encoding)


def _read_error(path: Path, source: Path, shown: str, exc: Exception) -> InputError:
    """The error for a file GDAL cannot read; it names the file as ``shown``."""
    text = str(exc).replace(str(source), shown).replace(str(source.parent) + "/", "")
    return InputError(
        path,
        f"could not be read as {path.suffix.lstrip('.')} ({text})",
        "open it in QGIS to check it, or export it again",
        problem_zh=f"无法读取（{text}）",
        hint_zh="请在 QGIS 中打开检查，或重新导出",
    )


def _no_features_error(path: Path) -> InputError:
    return InputError(
        path,
        "the file holds no features",
        "check that the right layer was exported and that it has features",
        problem_zh="文件中没有任何要素",
        hint_zh="检查导出的图层是否正确、是否包含要素",
    )


def _read(path: Path, source: Path, shown: str, layer: str | None,
          encoding: str | None) -> gpd.GeoDataFrame:
    """Read ``source`` (``path`` itself or what was unpacked from it); messages name the
    file as ``shown``, never the server's folders."""
    kwargs = {"layer": layer} if layer else {}
    if encoding:
        kwargs["encoding"] = encoding
    try:
        gdf = pyogrio.read_dataframe(str(source), **kwargs)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise _read_error(path, source, shown, exc) from exc
    except shapely.errors.GEOSException as exc:
        # read again, on this error only, to name the feature (GDAL gives the WKB as is)
        _from_wkb(pyogrio.raw.read(str(source), columns=[], **kwargs)[2], path)
        raise _bad_geometry_error(path, None, f"a geometry cannot be built ({_reason(exc)})",
                                  f"有几何图形无法构建（{_reason(exc)}）") from exc
    if len(gdf) == 0:
        raise _no_features_error(path)
    check_coordinates(gdf.geometry.values, path)
    return gdf


def _reason(exc: Exception) -> str:
    return str(exc).removeprefix("IllegalArgumentException: ")


def _bad_geometry_error(path: str | Path, row: int | None, problem: str,
                        problem_zh: str) -> InputError:
    return InputError(
        path, problem,
        "give every coordinate as a number of degrees or metres and close every ring (its "
        "last point is its first, 4 points at least); check the file in QGIS (Vector > "
        "Geometry Tools > Check Validity) or export it again",
        feature=None if row is None else f"#{row}", problem_zh=problem_zh,
        hint_zh="每个坐标须为数值（度或米），每个环须闭合（末点即首点，至少 4 个点）；请在 QGIS 中"
        "检查（矢量 > 几何工具 > 检查有效性）或重新导出")


def _from_wkb(wkb: np.ndarray, path: str | Path, first_row: int = 1) -> np.ndarray:
    """Geometries from the WKB GDAL read; a geometry GEOS cannot build (a ring not closed or
    of fewer than 4 points) is an InputError naming its feature (1-based, from
    ``first_row``)."""
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates: check_coordinates names them
            return shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as exc:
        with np.errstate(invalid="ignore"):
            built = shapely.from_wkb(wkb, on_invalid="ignore")
        failed = np.flatnonzero(~pd.isna(wkb) & shapely.is_missing(built))
        row = first_row + int(failed[0]) if len(failed) else None
        raise _bad_geometry_error(path, row, f"the geometry cannot be built ({_reason(exc)})",
                                  f"几何图形无法构建（{_reason(exc)}）") from exc


def check_coordinates(geometries: np.ndarray, path: str | Path, first_row: int = 1) -> None:
    """Refuse geometries with a coordinate that is not a finite number (NaN, Infinity, as a
    GeoJSON file may hold): an InputError naming the first such feature (1-based, from
    ``first_row``).

    Raises:
        InputError: a coordinate is NaN or infinite.
    """
    coords, index = shapely.get_coordinates(geometries, return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    row = first_row + int(index[first])
    value = ", ".join(f"{v}" for v in coords[first])
    n = int(np.unique(index[bad]).size)
    raise _bad_geometry_error(
        path, row, f"a coordinate is not a number ({value}), in {n} feature{'s' * (n > 1)}",
        f"坐标不是数值（{value}），共 {n} 个要素")


def read_vector_batches(
    path: str | Path, *, batch_size: int = 50_000, layer: str | None = None,
    encoding: str | None = None,
) -> Iterator[gpd.GeoDataFrame]:
    """Read a vector file as :func:`read_vector` does, in batches of at most ``batch_size``
    features (in the file's own CRS), so that memory holds one batch, not the file.

    GDAL streams GeoPackage, FlatGeobuf and Shapefile features; its GeoJSON driver parses the
    whole document first, so a city-sized input is better given in one of the others.

    Raises:
        InputError: missing, empty or unreadable file, unknown format, no features, a
            geometry that cannot be built or with a coordinate that is not a number.
    """
    path = check_file(path)
    if not is_vector_path(path):
        raise unknown_format_error(path)
    with ExitStack() as stack:
        source, shown = path, path.name
        if path.suffix.lower() == ".zip":
            folder = stack.enter_context(
                tempfile.TemporaryDirectory(dir=path.parent, prefix=".unzip-"))
            source = unzip_shapefile(path, Path(folder))
            shown = f"{path.name}/{source.name}"
        if source.suffix.lower() == ".shp" and encoding is None:
            encoding = dbf_encoding(source)
        kwargs: dict[str, object] = {"layer": layer} if layer else {}
        if encoding:
            kwargs["encoding"] = encoding
        try:
            meta, reader = stack.enter_context(pyogrio.open_arrow(
                str(source), batch_size=batch_size, use_pyarrow=True, **kwargs))
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise _read_error(path, source, shown, exc) from exc
        geometry = meta["geometry_name"] or "wkb_geometry"
        count = 0
        for batch in reader:
            if batch.num_rows == 0:
                continue
            frame = batch.to_pandas()
            geoms = _from_wkb(frame.pop(geometry).values, path, count + 1)
            check_coordinates(geoms, path, count + 1)
            count += len(frame)
            yield gpd.GeoDataFrame(frame, geometry=geoms, crs=meta["crs"])
        if count == 0:
            raise _no_features_error(path)
