"""PostGIS tables as input: buildings, communities or street lines read from a database.

A city's data often lives in PostGIS already (a surveying bureau's building table, the civil
affairs bureau's community polygons). A table is named by a URL, the database's SQLAlchemy URL
with the table in its query::

    postgresql://user@host:5432/city?table=public.buildings
    postgresql://user@host/city?table=buildings&geometry=footprint

``table`` may carry its schema (default ``public``); ``geometry`` names the geometry column
when the table has several (else its one geometry column). Rows come out in the table's own
CRS (its SRID) as :func:`gis.vector_files.read_vector_batches` gives a file's, batch by batch
through a server-side cursor, so memory holds one batch and not the table; ordered by the
primary key when the table has one, so the same table gives the same batches.

Written here rather than read through GDAL because pyogrio's wheels carry no PostgreSQL
driver; SQLAlchemy and psycopg2 are the service's own dependencies already.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import geopandas as gpd
import pandas as pd
from pyproj import CRS
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from gis.errors import ArgumentError, InputError
from gis.vector_files import _from_wkb, check_coordinates

SCHEMES = ("postgresql:", "postgresql+psycopg2:", "postgres:")
WKB_COLUMN = "__wangge_wkb"


def is_postgis_source(source: object) -> bool:
    """Whether ``source`` names a PostGIS table (a postgresql:// URL), not a file."""
    return isinstance(source, str) and source.lower().startswith(SCHEMES)


@dataclass(frozen=True)
class PostgisTable:
    """A table of a PostGIS database.

    Attributes:
        url: the database's SQLAlchemy URL (without the table parameters).
        schema, table: where the rows are.
        geometry: the geometry column, or None for the table's only one.
    """

    url: str
    schema: str
    table: str
    geometry: str | None = None

    @property
    def label(self) -> str:
        """How messages name the table: host, database and table, no password."""
        u = make_url(self.url)
        host = f"{u.host or 'localhost'}{f':{u.port}' if u.port else ''}"
        return f"postgresql://{host}/{u.database}?table={self.schema}.{self.table}"

    def __str__(self) -> str:
        return self.label


def parse_source(source: str) -> PostgisTable:
    """The table a ``postgresql://...?table=...`` URL names.

    Raises:
        ArgumentError: no ``table`` parameter.
    """
    parts = urlsplit(source)
    query = dict(parse_qsl(parts.query))
    name = query.pop("table", "").strip()
    geometry = query.pop("geometry", None)
    if not name:
        raise ArgumentError(
            f"PostGIS 数据源需指定表：{source.split('?')[0]}?table=模式.表名",
            f"a PostGIS source needs its table: {source.split('?')[0]}?table=schema.name")
    schema, _, table = name.rpartition(".")
    scheme = parts.scheme.lower()
    if scheme in ("postgres", "postgresql"):  # the driver this project installs
        scheme = "postgresql+psycopg2"
    url = urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))
    return PostgisTable(url, schema or "public", table, geometry or None)


def _error(t: PostgisTable, problem: str, hint: str, problem_zh: str, hint_zh: str,
           feature: str | None = None) -> InputError:
    return InputError(t.label, problem, hint, feature=feature, problem_zh=problem_zh,
                      hint_zh=hint_zh)


def _connection_error(t: PostgisTable, exc: Exception) -> InputError:
    reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0][:200]
    return _error(t, f"cannot read the database ({reason})",
                  "check the host, port, database, user and that PostGIS is installed",
                  f"无法读取数据库（{reason}）",
                  "检查主机、端口、数据库名、用户，以及是否已安装 PostGIS")


def _geometry_column(conn: Connection, t: PostgisTable) -> tuple[str, int]:
    """The geometry column and its SRID (PostGIS's geometry_columns view)."""
    rows = conn.execute(text(
        "SELECT f_geometry_column, srid FROM geometry_columns "
        "WHERE f_table_schema = :schema AND f_table_name = :table ORDER BY f_geometry_column"),
        {"schema": t.schema, "table": t.table}).all()
    if t.geometry is not None:
        rows = [r for r in rows if r[0] == t.geometry]
    if not rows:
        what = f"column {t.geometry}" if t.geometry else "table"
        raise _error(t, f"no such geometry {what}",
                     "check the table name (schema.name) and its geometry column",
                     f"没有该几何{'列' if t.geometry else '表'}", "检查表名（模式.表名）及其几何列")
    if len(rows) > 1:
        names = ", ".join(r[0] for r in rows)
        raise _error(t, f"the table has several geometry columns ({names})",
                     "name one in the URL: &geometry=COLUMN",
                     f"该表有多个几何列（{names}）", "在地址中指定一个：&geometry=列名")
    return str(rows[0][0]), int(rows[0][1])


def _crs(t: PostgisTable, srid: int) -> CRS:
    if srid <= 0:
        raise _error(t, "the geometry column has no SRID",
                     "set it, e.g. SELECT UpdateGeometrySRID('schema', 'table', 'geom', 4326)",
                     "几何列没有设置 SRID",
                     "请设置，例如 SELECT UpdateGeometrySRID('模式', '表', '几何列', 4326)")
    return CRS.from_epsg(srid)


def _columns(conn: Connection, t: PostgisTable, geometry: str) -> tuple[list[str], list[str]]:
    """The table's plain columns (not geometry or geography) and its primary key's."""
    plain = [r[0] for r in conn.execute(text(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type ty ON ty.oid = a.atttypid "
        "WHERE n.nspname = :schema AND c.relname = :table AND a.attnum > 0 "
        "AND NOT a.attisdropped AND ty.typname NOT IN ('geometry', 'geography') "
        "ORDER BY a.attnum"), {"schema": t.schema, "table": t.table})]
    key = [r[0] for r in conn.execute(text(
        "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE n.nspname = :schema AND c.relname = :table AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int[], a.attnum::int)"),
        {"schema": t.schema, "table": t.table})]
    return [c for c in plain if c != geometry], key


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_info(t: PostgisTable) -> tuple[CRS, tuple[float, float, float, float] | None]:
    """The table's CRS and the bounds of its geometries in it (None: no rows).

    Raises:
        InputError: the database cannot be read, no such table, no SRID.
    """
    engine = create_engine(t.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            geometry, srid = _geometry_column(conn, t)
            box = conn.execute(text(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
                f"ST_Extent({_quoted(geometry)}) AS e FROM "
                f"{_quoted(t.schema)}.{_quoted(t.table)}) s")).one()
    except SQLAlchemyError as exc:
        raise _connection_error(t, exc) from exc
    finally:
        engine.dispose()
    bounds = None if box[0] is None else (float(box[0]), float(box[1]), float(box[2]),
                                          float(box[3]))
    return _crs(t, srid), bounds


def read_table_batches(source: str | PostgisTable, *,
                       batch_size: int = 50_000) -> Iterator[gpd.GeoDataFrame]:
    """The table's rows, at most ``batch_size`` at a time, in its own CRS: every plain
    column and the geometry (``geometry``), ordered by the primary key when there is one.

    Raises:
        InputError: the database cannot be read, no such table, no SRID, no rows, a geometry
            that cannot be built or with a coordinate that is not a number (naming its row).
    """
    t = source if isinstance(source, PostgisTable) else parse_source(source)
    engine = create_engine(t.url, poolclass=NullPool)
    count = 0
    try:
        with engine.connect() as conn:
            geometry, srid = _geometry_column(conn, t)
            crs = _crs(t, srid)
            plain, key = _columns(conn, t, geometry)
            select = ", ".join([*map(_quoted, plain),
                                f"ST_AsBinary({_quoted(geometry)}) AS {WKB_COLUMN}"])
            order = f" ORDER BY {', '.join(map(_quoted, key))}" if key else ""
            result = conn.execution_options(stream_results=True, yield_per=batch_size).execute(
                text(f"SELECT {select} FROM {_quoted(t.schema)}.{_quoted(t.table)}{order}"))
            for rows in result.partitions(batch_size):
                frame = pd.DataFrame(rows, columns=[*plain, WKB_COLUMN])
                wkb = frame.pop(WKB_COLUMN).map(lambda v: None if v is None else bytes(v))
                geoms = _from_wkb(wkb.to_numpy(dtype=object), t.label, count + 1)
                check_coordinates(geoms, t.label, count + 1)
                count += len(frame)
                yield gpd.GeoDataFrame(frame, geometry=geoms, crs=crs)
    except SQLAlchemyError as exc:
        raise _connection_error(t, exc) from exc
    finally:
        engine.dispose()
    if count == 0:
        raise _error(t, "the table has no rows", "check the table, or load its data first",
                     "表中没有数据", "检查表名，或先导入数据")


def read_table(source: str | PostgisTable) -> gpd.GeoDataFrame:
    """The whole table (a small one: communities), in its own CRS."""
    batches = list(read_table_batches(source))
    return gpd.GeoDataFrame(pd.concat(batches, ignore_index=True), crs=batches[0].crs)
