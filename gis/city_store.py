"""A city-sized study area, read in batches and written once to a store keyed by community.

:func:`gis.study_area.load_study_area` holds a whole area in one process: right for a street
office, not for a city of millions of buildings. :func:`write_city_store` reads the input in
batches of ``batch_size`` features (buildings from GeoPackage, FlatGeobuf, Shapefile or GeoJSON
through GDAL's streaming reader, gis.vector_files.read_vector_batches; OSM XML/PBF, a province
extract too, through gis.osm_stream; PostGIS tables through a server-side cursor,
gis.postgis_source), runs on each batch the same steps as load_study_area
(repair, WGS84, residential, households, community of the representative point) and appends
it to the store. Only the communities and the residential landuse areas are held whole (they
are small); no step holds the city's buildings, streets or barriers. Two things need all
batches: duplicate building ids (a unique SQL index finds them at the end) and households from
a population raster, whose cells are shared by buildings of several batches (summed per cell
while the batches stream by, then applied to the stored buildings in a second pass; the raster
itself is read whole, as gis.households reads it). Counts per community are taken from the
store at the end. :func:`read_community`
then gives one community as a :class:`StudyArea` that partition plans exactly as it plans that
community in the whole-area load.

The store is ONE GeoPackage file (SQLite), layers:

* ``communities``: code, name, buildings, households, population (residential buildings only,
  as the import summary counts them), polygon;
* ``buildings``: every column load_study_area gives buildings (building_id, building, name,
  levels, height, flats, non_residential_tag, residential, floors, floor_area_m2, households,
  households_source, households_estimated, population, community, and a vector file's own
  columns); buildings whose representative point lies in no community are kept with
  community NULL (``keep_outside``) or only counted;
* ``streets``: one row per (street line, community) pair: community + the columns of
  gis.streets.street_lines (osm_id, highway, name);
* ``barriers``: one row per (barrier, community) pair: community + the columns of
  gis.barriers.barriers_from_osm (kind, osm_id, type, name);
* ``store_meta``: a key / value table: format version, source, the metric CRS, attribution,
  counts.

Geometry is stored in WGS84 (EPSG:4326), the project's storage rule, as read (never projected
and back); the metric CRS (gis.crs.local_metric_crs of the communities) is recorded so every
task projects the same way. ``buildings``, ``streets`` and ``barriers`` carry an SQL index on
``community``, so one community's rows are read with
``pyogrio.read_dataframe(store, layer=..., where="community = '...'")`` without a scan.

Why one indexed GeoPackage and not thousands of GeoParquet files (one per community): a street
office opens the one file in QGIS and sees its whole city, layers and all; SQLite appends batch
by batch in transactions while the input streams by, so nothing is gathered per community in
memory before writing; an index on ``community`` makes one community's read an index lookup
from any worker process that sees the file (a shared disk or a copy), with no partition layout
to agree on and no directory of small files for a file system or object store to list; and the
file is renamed into place only when complete. Many processes may read it at once; one writes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gis.barriers import BarrierOptions, barriers_from_osm
from gis.buildings import (
    buildings_from_osm,
    buildings_from_vector,
    check_duplicate_ids,
    classify_residential,
    drop_underground,
    repair_polygons,
)
from gis.communities import WHOLE_AREA_CODE, communities_from_osm, read_communities, whole_area
from gis.crs import WGS84, local_metric_crs, to_wgs84
from gis.errors import ArgumentError, InputError, Repair, check_file
from gis.export import atomically
from gis.households import (
    HouseholdOptions,
    assign_households,
    csv_households,
    raster_cells,
    raster_spread,
)
from gis.osm import ATTRIBUTION, OsmExtract, OsmReadReport, is_osm_path
from gis.osm_stream import is_feature, osm_batches, osm_context, read_relations
from gis.postgis_source import is_postgis_source, parse_source, read_table_batches, table_info
from gis.street_files import lines_extract
from gis.streets import StreetReport, street_lines
from gis.study_area import StudyArea, join_communities, residential_landuse
from gis.vector_files import is_vector_path, read_vector_batches, unknown_format_error

STORE_FORMAT = 1
# Streets and barriers belong to every community whose polygon, grown by this margin, they
# touch: partition needs the streets along a community's edge (grid boundaries follow them)
# and the barriers that cut it, which run on or just outside the edge; 50 m holds a wide road's
# centre line beside the boundary drawn along its kerb, and costs few extra rows.
STREET_MARGIN_M = 50.0
META_LAYER = "store_meta"
RASTER_TABLE = "_raster_cells"  # a working table, dropped before the store is complete
RASTER_CHUNK = 50_000  # buildings updated at a time from the raster
CRSLike = CRS | str


@dataclass
class _Counts:
    """What was read and written, counted batch by batch."""

    buildings_read: int = 0
    buildings: int = 0
    outside: int = 0
    street_rows: int = 0
    barrier_rows: int = 0
    batches: int = 0


def _gpkg_functions(con: sqlite3.Connection) -> None:
    """The SQL functions a GeoPackage's R-tree triggers name, for updates of attributes
    through plain sqlite3 (GDAL registers them itself): ST_IsEmpty from the blob's header
    (GeoPackage 1.3, flags byte bit 4); the envelope ones fire only when a geometry changes,
    which these updates never do."""

    def is_empty(blob: bytes | None) -> int | None:
        return None if blob is None else int(bool(blob[3] & 0x10))

    def unused(_blob: bytes | None) -> float:
        raise sqlite3.NotSupportedError("geometries are not updated through sqlite3")

    con.create_function("ST_IsEmpty", 1, is_empty, deterministic=True)
    for name in ("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):
        con.create_function(name, 1, unused, deterministic=True)


@dataclass
class _RasterPass:
    """Households from a population raster, in two passes: a raster cell's population is
    shared by all residential buildings of the cell, which batches do not hold whole. While
    batches stream by, the residential floor area of each cell is summed and each building's
    cell kept in a table of the store; then the buildings the raster gives households to
    (those that would otherwise be estimated) are updated in the store."""

    path: str
    values: np.ndarray | None = None  # population per cell, flat
    cell_area: np.ndarray | None = None  # residential floor area per cell, m^2
    seen: set[int] = field(default_factory=set)

    def add(self, store: Path, metric: gpd.GeoDataFrame) -> None:
        """Count one batch (metric CRS, after assign_households) and keep its cells."""
        values, cells = raster_cells(metric, self.path)
        if self.values is None:
            self.values, self.cell_area = values, np.zeros(len(values))
        assert self.cell_area is not None
        resid = metric["residential"].to_numpy(dtype=bool) & (cells >= 0)
        area = metric["floor_area_m2"].to_numpy()
        self.cell_area += np.bincount(cells[resid], weights=area[resid],
                                      minlength=len(self.cell_area))
        self.seen.update(np.unique(cells[resid]).tolist())
        with closing(sqlite3.connect(store)) as con, con:
            con.execute(f"CREATE TABLE IF NOT EXISTS {RASTER_TABLE} "
                        "(building_id TEXT PRIMARY KEY, cell INTEGER)")
            con.executemany(f"INSERT INTO {RASTER_TABLE} VALUES (?, ?)",
                            zip(metric["building_id"][resid].astype(str),
                                cells[resid].tolist(), strict=True))

    def apply(self, store: Path, opts: HouseholdOptions, repairs: list[Repair]) -> None:
        """Give the raster's households to the buildings whose households would otherwise be
        estimated (gis.households' order of sources), as assign_households does."""
        if self.values is None or self.cell_area is None:
            return
        query = (f"SELECT b.fid, b.floor_area_m2, r.cell FROM buildings b JOIN {RASTER_TABLE} r "
                 "ON r.building_id = b.building_id WHERE b.households_source = 'estimated'")
        with closing(sqlite3.connect(store)) as con, con:
            _gpkg_functions(con)
            rows = con.execute(query)
            while chunk := rows.fetchmany(RASTER_CHUNK):
                fid, area, cells = (np.array(col) for col in zip(*chunk, strict=True))
                pop = raster_spread(self.values, cells.astype(np.int64),
                                    area.astype(float), self.cell_area)
                hh = np.round(pop / opts.household_size)
                take = pop > 0
                con.executemany(
                    "UPDATE buildings SET households = ?, households_source = 'raster', "
                    "population = ? WHERE fid = ?",
                    zip(hh[take].astype(int).tolist(),
                        (hh[take] * opts.household_size).tolist(),
                        fid[take].tolist(), strict=True))
            con.execute(f"DROP TABLE {RASTER_TABLE}")
        unplaced = float(self.values.sum() - self.values[sorted(self.seen)].sum())
        if unplaced > 0:
            repairs.append(Repair(self.path, "raster population in cells without a "
                                  "residential building, not placed (无住宅的栅格人口未分配)",
                                  round(unplaced), []))


class _Store:
    """The layers of the store being written (a temporary file), appended batch by batch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: dict[str, list[str]] = {}

    def write(self, name: str, gdf: gpd.GeoDataFrame) -> None:
        """Write ``gdf`` (EPSG:4326) as layer ``name``: appended when it exists already."""
        first = name not in self.columns
        if first:
            self.columns[name] = list(gdf.columns)
        else:
            gdf = gdf.reindex(columns=self.columns[name])
        _append(self.path, name, gdf, append=not first)


def _append(path: Path, layer: str, gdf: gpd.GeoDataFrame, *, append: bool) -> None:
    """Write one batch to the store (the one place frames reach the file: tests count here).

    SQLite does not wait for the disk at each batch's commit (half the time of a batch of
    2,500 buildings here): the file is a temporary one, renamed into place only when complete,
    and synced to disk once before that (:func:`_sync`)."""
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=append,
                                geometry_type="LineString" if layer == "streets" else "Unknown",
                                promote_to_multi=False)
    finally:
        restore = {True: "ON", False: "OFF"}.get(before, before)  # read back as bool
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": restore})


def _sync(path: Path) -> None:
    """Flush ``path`` to disk, so that the store renamed into place is whole after a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _merge_repairs(repairs: list[Repair]) -> list[Repair]:
    """One repair per (file, what), counts summed over the batches."""
    merged: dict[tuple[str | None, str], Repair] = {}
    for r in repairs:
        key = (r.path, r.what)
        if key in merged:
            merged[key].count += r.count
            merged[key].examples = (merged[key].examples + r.examples)[:5]
        else:
            merged[key] = Repair(r.path, r.what, r.count, list(r.examples))
    return list(merged.values())


def _line_batches(source: str | Path, batch_size: int, datum: str, repairs: list[Repair],
                  temp_dir: Path) -> Iterator[OsmExtract]:
    """The streets (an OSM file, or vector lines with OSM-like columns from a file or a
    PostGIS table) in batches."""
    if is_postgis_source(source):
        table = parse_source(str(source))
        batches, shown = read_table_batches(table, batch_size=batch_size), table.label
    else:
        path = check_file(source)
        if is_osm_path(path):
            yield from osm_batches(path, read_relations(path), batch_size=batch_size,
                                   temp_dir=temp_dir)
            return
        batches, shown = read_vector_batches(path, batch_size=batch_size), str(path)
    row = 1
    for gdf in batches:
        wgs = to_wgs84(gdf, shown, datum=datum, repairs=repairs)
        yield lines_extract(wgs, shown, first_row=row, node=False, repairs=repairs)
        row += len(gdf)


def _by_community(layer: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None,
                  crs: CRSLike | None) -> gpd.GeoDataFrame:
    """``layer`` (EPSG:4326) with ``community`` first: one row per community whose zone
    (polygon grown by STREET_MARGIN_M, metric CRS) it touches; all in the one community when
    ``zones`` is None (the whole area, which load_study_area does not clip either)."""
    if zones is None:
        return layer.assign(community=WHOLE_AREA_CODE)[["community", *layer.columns]]
    if layer.empty:
        return layer.assign(community=pd.Series(dtype=object))[["community", *layer.columns]]
    metric = gpd.GeoDataFrame(geometry=layer.geometry.to_crs(crs).values, index=layer.index,
                              crs=crs)
    pairs = metric.sjoin(zones[["code", "geometry"]], predicate="intersects", how="inner")
    pairs = pairs.assign(_row=pairs.index).sort_values(["_row", "code"], kind="stable")
    out = layer.loc[pairs.index].copy()
    out.insert(0, "community", pairs["code"].values)
    return out.reset_index(drop=True)


def _no_buildings(path: str | Path) -> InputError:
    return InputError(path, "the data holds no building polygons",
                      "export an area with buildings (building=*)",
                      problem_zh="数据中没有建筑面", hint_zh="请导出包含建筑（building=*）的区域")


def _crs_of_bounds(bounds: tuple[float, float, float, float] | None, crs: object,
                   path: str | Path) -> CRS:
    if bounds is None or not np.all(np.isfinite(bounds)):
        raise _no_buildings(path)
    box = gpd.GeoDataFrame(geometry=[shapely.box(*bounds)], crs=crs or WGS84)
    return local_metric_crs(box)


def write_city_store(
    source: str | Path,
    out: str | Path,
    *,
    communities: str | Path | None = None,
    streets: str | Path | None = None,
    datum: str = "wgs84",
    id_col: str | None = None,
    households: HouseholdOptions | None = None,
    barriers: BarrierOptions | None = None,
    invalid: str = "repair",
    batch_size: int = 50_000,
    progress: Callable[[str], None] | None = None,
    keep_outside: bool = True,
) -> dict[str, object]:
    """Read a city-sized study area in batches and write it to the store ``out`` (.gpkg).

    Args:
        source: buildings as OSM (.osm/.osm.bz2/.osm.pbf; streets, barriers and communities
            come from it too), GeoPackage, FlatGeobuf, Shapefile, zipped Shapefile, GeoJSON,
            or a PostGIS table (``postgresql://user@host/db?table=schema.name``,
            gis.postgis_source).
        out: the store to write (replaced only when complete).
        communities: communities (code, name) as a polygon file or PostGIS table; else the
            OSM communities of the source, else the whole area as one community
            (gis.communities.whole_area).
        streets: streets and barriers when ``source`` has none: an OSM file, or lines with
            OSM-like columns (highway, railway, waterway, name, tunnel, ...) as a vector file
            or PostGIS table.
        datum, id_col, households, barriers, invalid: as for load_study_area. A population
            raster (``households.raster_path``) is applied in a second pass over the store
            (:class:`_RasterPass`): a cell is shared by buildings of several batches.
        batch_size: features read and written at a time (buildings, or buildings + lines).
        progress: called with the name of each step and batch as it starts.
        keep_outside: store buildings in no community (community NULL); else only count them.

    Returns:
        Counts: buildings (stored), residential, households, population, communities,
        buildings_outside_communities, street_rows, barrier_rows, batches, repairs, crs ...

    Raises:
        InputError: bad input, naming file and feature; nothing is written.
        ArgumentError: options this reader cannot honour.
    """
    step = progress or (lambda _name: None)
    table = parse_source(str(source)) if is_postgis_source(source) else None
    path: str | Path = table.label if table else check_file(source)
    out = Path(out)
    if table is None and not (is_osm_path(path) or is_vector_path(path)):
        raise unknown_format_error(Path(path))
    if batch_size < 1:
        raise ArgumentError(f"batch_size 必须为正数：{batch_size}",
                            f"batch_size must be positive, got {batch_size}")
    raster = None
    if households is not None and households.raster_path:
        raster = _RasterPass(households.raster_path)
        households = replace(households, raster_path=None)  # estimates, then the raster
    is_osm = table is None and is_osm_path(path)
    repairs: list[Repair] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".city-store-") as work_dir, \
            atomically(out) as tmp:
        work = Path(work_dir)
        step("社区 communities")
        relations = read_relations(Path(path)) if is_osm else None
        context = osm_context(Path(path), relations, temp_dir=work) if relations else None
        comm: gpd.GeoDataFrame | None = None
        if communities:
            comm = read_communities(communities, datum=datum, repairs=repairs)
        elif context is not None and context.communities:
            comm = communities_from_osm(context.extract(Path(path)))
        if comm is not None and comm.empty:
            comm = None
        crs: CRS | None = None  # a zipped Shapefile without communities: from its 1st batch
        if comm is not None:
            crs = local_metric_crs(comm)
        elif context is not None:
            crs = _crs_of_bounds(context.bounds, WGS84, path)
        elif table is not None:
            table_crs, bounds = table_info(table)
            crs = _crs_of_bounds(bounds, table_crs, path)
        elif Path(path).suffix.lower() != ".zip":
            info = pyogrio.read_info(str(path), force_total_bounds=True)
            crs = _crs_of_bounds(info["total_bounds"], info["crs"], path)
        ingest = _Ingest(
            path=path, store=_Store(tmp), step=step, crs=crs, communities=comm,
            landuse=residential_landuse(context.extract(Path(path))) if context else None,
            datum=datum, households=households, barriers=barriers, invalid=invalid,
            keep_outside=keep_outside, repairs=repairs, raster=raster)
        report = OsmReadReport()
        if relations is not None:
            for extract in osm_batches(Path(path), relations, batch_size=batch_size,
                                       report=report, temp_dir=work):
                raw = drop_underground(buildings_from_osm(extract), path, repairs)
                if len(raw):
                    ingest.buildings(raw, vector=False)
                if not streets:
                    ingest.lines(extract)
        else:
            row = 1
            batches = (read_table_batches(table, batch_size=batch_size) if table
                       else read_vector_batches(path, batch_size=batch_size))
            for gdf in batches:
                ingest.buildings(buildings_from_vector(gdf, path, id_col=id_col, first_row=row),
                                 vector=True)
                row += len(gdf)
        if ingest.counts.buildings_read == 0:
            raise _no_buildings(path)
        if streets:
            step("街道 streets")
            for extract in _line_batches(streets, batch_size, datum, repairs, work):
                ingest.lines(extract)

        step("社区 communities")
        _ensure_layers(ingest.store)
        _index(tmp, path)
        if raster is not None:
            step("户数 households (raster)")
            raster.apply(tmp, households or HouseholdOptions(), repairs)
        if households is not None and households.csv_path:
            repairs = _csv_unmatched(repairs, households, tmp)
        stats = _community_stats(tmp)
        n_communities = ingest.write_communities(stats)
        with closing(sqlite3.connect(tmp)) as con, con:
            con.execute("CREATE INDEX communities_code ON communities (code)")
        notes = (context.report.lines() if context else []) + report.lines()
        summary = ingest.summary(out, stats, n_communities, repairs,
                                 [f"{path}: {n}" for n in notes])
        _write_meta(tmp, summary, CRS.from_user_input(ingest.crs),
                    ATTRIBUTION if is_osm or streets else None)
        _sync(tmp)
    return summary


@dataclass
class _Ingest:
    """The steps of load_study_area run on one batch at a time, appending to the store."""

    path: str | Path  # a file, or a PostGIS table's label
    store: _Store
    step: Callable[[str], None]
    crs: CRS | None  # metric; None until the first batch gives it
    communities: gpd.GeoDataFrame | None  # EPSG:4326; None: the whole area, made at the end
    landuse: gpd.GeoSeries | None  # residential landuse (classify_residential), EPSG:4326
    datum: str
    households: HouseholdOptions | None
    barriers: BarrierOptions | None
    invalid: str
    keep_outside: bool
    repairs: list[Repair]
    raster: _RasterPass | None = None
    counts: _Counts = field(default_factory=_Counts)
    hull: list[shapely.Geometry] = field(default_factory=list)  # whole area: buildings' hull
    _metric: gpd.GeoDataFrame | None = None
    _zones: gpd.GeoDataFrame | None = None

    def _set_crs(self, crs: CRS) -> None:
        self.crs = crs
        if self.communities is not None:
            self._metric = self.communities.to_crs(crs)
            self._zones = self._metric[["code"]].set_geometry(
                self._metric.buffer(STREET_MARGIN_M))

    def __post_init__(self) -> None:
        if self.crs is not None:
            self._set_crs(self.crs)

    def buildings(self, raw: gpd.GeoDataFrame, *, vector: bool) -> None:
        """Repair, bring to WGS84 (vector input), classify, count households of, join to
        communities and append one batch of buildings (gis.buildings columns, EPSG:4326 or
        the file's CRS)."""
        c = self.counts
        c.buildings_read += len(raw)
        self.step(f"建筑 buildings {c.buildings_read - len(raw) + 1}-{c.buildings_read}")
        b = repair_polygons(raw, self.path, invalid=self.invalid, repairs=self.repairs)
        if vector:
            b = to_wgs84(b, self.path, datum=self.datum, repairs=self.repairs)
        if b.empty:
            return
        if self.crs is None:
            self._set_crs(local_metric_crs(b))
        near = None
        if self.landuse is not None:
            near = self.landuse.iloc[self.landuse.sindex.query(shapely.box(*b.total_bounds))]
        b = classify_residential(b, near)
        metric = assign_households(b.to_crs(self.crs), self.households, path=self.path,
                                   repairs=self.repairs)
        if self._metric is None:
            self.hull = [shapely.convex_hull(shapely.union_all([*self.hull, *b.geometry]))]
            metric["community"] = WHOLE_AREA_CODE  # a representative point is in the hull
        else:
            metric = join_communities(metric, self._metric)
        # Stored as read (WGS84), never projected and back: reads give the load's coordinates.
        stored = metric.set_geometry(b.geometry.values, crs=WGS84)
        inside = stored["community"].notna()
        c.outside += int((~inside).sum())
        if not self.keep_outside:
            stored, inside = stored[inside], inside[inside]
        c.batches += 1
        c.buildings += len(stored)
        if len(stored):
            self.store.write("buildings", stored)
        if self.raster is not None:
            self.raster.add(self.store.path, metric)

    def lines(self, extract: OsmExtract) -> None:
        """Append the street lines and barriers of one batch, a row per community near."""
        if not extract.ways and not any(is_feature(a.tags) for a in extract.areas):
            return
        lines = _by_community(street_lines(extract), self._zones, self.crs)
        bars = _by_community(barriers_from_osm(extract, self.barriers), self._zones, self.crs)
        self.counts.street_rows += len(lines)
        self.counts.barrier_rows += len(bars)
        if len(lines):
            self.store.write("streets", lines)
        if len(bars):
            self.store.write("barriers", bars)

    def write_communities(self, stats: pd.DataFrame) -> int:
        """Write the communities layer with their ``stats`` (:func:`_community_stats`); the
        number of communities."""
        comm = self.communities
        if comm is None:
            comm = whole_area(gpd.GeoDataFrame(geometry=self.hull, crs=WGS84))
        mine = stats.reindex(comm["code"].astype(str)).fillna(0)
        self.store.write("communities", gpd.GeoDataFrame(
            {"code": comm["code"].values, "name": comm["name"].values,
             "buildings": mine["buildings"].astype(int).values,
             "households": mine["households"].astype(int).values,
             "population": mine["population"].round(1).values},
            geometry=comm.geometry.values, crs=WGS84))
        return len(comm)

    def summary(self, out: Path, stats: pd.DataFrame, communities: int,
                repairs: list[Repair], notes: list[str]) -> dict[str, object]:
        """What write_city_store returns (and store_meta keeps); household counts are of the
        residential buildings inside communities, as the import summary counts them."""
        c = self.counts
        return {
            "source": str(self.path),
            "store": str(out),
            "buildings": c.buildings,
            "buildings_read": c.buildings_read,
            "residential": int(stats["residential"].sum()),
            "households": int(stats["households"].sum()),
            "households_estimated": int(stats["households_estimated"].sum()),
            "population": round(float(stats["population"].sum())),
            "communities": communities,
            "buildings_outside_communities": c.outside,
            "street_rows": c.street_rows,
            "barrier_rows": c.barrier_rows,
            "batches": c.batches,
            "repairs": [str(r) for r in _merge_repairs(repairs)] + notes,
            "crs": CRS.from_user_input(self.crs).to_string(),
        }


def _community_stats(tmp: Path) -> pd.DataFrame:
    """Per community code: buildings, residential, households, households_estimated and
    population (of residential buildings), counted in the store."""
    query = (
        "SELECT community AS code, COUNT(*) AS buildings, SUM(residential) AS residential, "
        "SUM(CASE WHEN residential THEN households ELSE 0 END) AS households, "
        "SUM(CASE WHEN residential AND households_estimated THEN households ELSE 0 END) "
        "AS households_estimated, "
        "SUM(CASE WHEN residential THEN population ELSE 0 END) AS population "
        "FROM buildings WHERE community IS NOT NULL GROUP BY community")
    with closing(sqlite3.connect(tmp)) as con:
        stats = pd.read_sql_query(query, con)
    return stats.astype({"code": str}).set_index("code").astype(float)


def _ensure_layers(store: _Store) -> None:
    """Create the layers no batch wrote (no streets, say), empty, with their columns."""
    empty = {
        "buildings": ["building_id", "community", "residential", "households", "population",
                      "households_estimated", "households_source"],
        "streets": ["community", "osm_id", "highway", "name"],
        "barriers": ["community", "kind", "osm_id", "type", "name"],
    }
    for name, columns in empty.items():
        if name not in store.columns:
            frame = gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in columns},
                                     geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
            store.write(name, frame)


def _csv_unmatched(repairs: list[Repair], opts: HouseholdOptions, tmp: Path) -> list[Repair]:
    """Replace the per-batch notes of CSV rows matching no building by one for the store."""
    assert opts.csv_path is not None
    kept = [r for r in repairs if not (r.path == opts.csv_path and "CSV" in r.what)]
    table = csv_households(opts.csv_path, opts.csv_id_col, opts.csv_households_col)
    with closing(sqlite3.connect(tmp)) as con, con:
        ids = {row[0] for row in con.execute("SELECT building_id FROM buildings")}
    missing = [str(x) for x in table.index if str(x) not in ids]
    if missing:
        kept.append(Repair(opts.csv_path, "CSV rows whose building id matches no building, "
                           "ignored (CSV 中编号无对应建筑，已忽略)", len(missing), missing[:5]))
    return kept


def _index(tmp: Path, path: str | Path) -> None:
    """SQL indexes on ``community``, and a unique one on ``building_id`` (which finds
    duplicate ids across batches without holding them).

    Raises:
        InputError: two buildings share an id.
    """
    with closing(sqlite3.connect(tmp)) as con, con:
        for layer in ("buildings", "streets", "barriers"):
            con.execute(f'CREATE INDEX "{layer}_community" ON "{layer}" (community)')
        try:
            con.execute("CREATE UNIQUE INDEX buildings_building_id ON buildings (building_id)")
        except sqlite3.IntegrityError:
            dup = pd.read_sql_query(
                "SELECT building_id FROM buildings WHERE building_id IN (SELECT building_id "
                "FROM buildings GROUP BY building_id HAVING COUNT(*) > 1)", con)
            check_duplicate_ids(dup, path)
            raise


def _write_meta(tmp: Path, summary: dict[str, object], crs: CRS,
                attribution: str | None) -> None:
    meta = {
        "format_version": str(STORE_FORMAT),
        "source": str(summary["source"]),
        "crs": crs.to_string(),
        "crs_wkt": crs.to_wkt(),
        "attribution": attribution or "",
        "street_margin_m": str(STREET_MARGIN_M),
        "counts": json.dumps({k: v for k, v in summary.items()
                              if k not in ("source", "store", "repairs", "crs")}),
        "repairs": json.dumps(summary["repairs"], ensure_ascii=False),
    }
    table = pd.DataFrame({"key": list(meta), "value": list(meta.values())})
    pyogrio.write_dataframe(table, tmp, layer=META_LAYER, driver="GPKG")


def is_city_store(path: str | Path) -> bool:
    """True for a .gpkg file that holds the ``store_meta`` table of a city store."""
    p = Path(path)
    if p.suffix.lower() != ".gpkg" or not p.is_file():
        return False
    try:
        with closing(sqlite3.connect(f"file:{p}?mode=ro", uri=True)) as con:
            row = con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                              (META_LAYER,)).fetchone()
    except sqlite3.Error:
        return False
    return row is not None


def _check_store(store: str | Path) -> Path:
    path = check_file(store)
    if not is_city_store(path):
        raise InputError(path, "not a city store (no store_meta table)",
                         "write the store with gis.city_store.write_city_store first",
                         problem_zh="不是城市数据仓（缺少 store_meta 表）",
                         hint_zh="请先用 write_city_store 生成数据仓")
    return path


def store_meta(store: str | Path) -> dict[str, object]:
    """The store's metadata: format_version (int), source, crs (e.g. "EPSG:32650"), crs_wkt,
    attribution (None when there is none), street_margin_m, counts (dict), repairs (list)."""
    path = _check_store(store)
    table = pyogrio.read_dataframe(path, layer=META_LAYER, read_geometry=False)
    raw = dict(zip(table["key"], table["value"], strict=True))
    meta: dict[str, object] = dict(raw)
    meta["format_version"] = int(raw["format_version"])
    meta["street_margin_m"] = float(raw["street_margin_m"])
    meta["counts"] = json.loads(raw["counts"])
    meta["repairs"] = json.loads(raw.get("repairs") or "[]")
    meta["attribution"] = raw.get("attribution") or None
    return meta


def store_communities(store: str | Path) -> gpd.GeoDataFrame:
    """The ``communities`` layer (code, name, buildings, households, population), EPSG:4326."""
    path = _check_store(store)
    return pyogrio.read_dataframe(path, layer="communities")


def _quote(code: str) -> str:
    return "'" + str(code).replace("'", "''") + "'"


def _read_layer(path: Path, layer: str, where: str, crs: CRS) -> gpd.GeoDataFrame:
    """Rows of ``layer`` matching ``where`` in file order, in ``crs``, numbered from 0."""
    gdf = pyogrio.read_dataframe(path, layer=layer, where=where, fid_as_index=True)
    gdf = gdf.sort_index().reset_index(drop=True)
    if gdf.crs is None:
        gdf = gdf.set_crs(WGS84)
    return gdf.to_crs(crs)


def read_community(store: str | Path, code: str) -> StudyArea:
    """One community of the store as a study area in the store's metric CRS: its buildings,
    the streets and barriers within STREET_MARGIN_M of it, the one community polygon; the
    street graph empty (as load_study_area(with_walk_graph=False)).

    Raises:
        InputError: ``store`` is not a city store.
        ArgumentError: the store has no community ``code``.
    """
    path = _check_store(store)
    meta = store_meta(path)
    crs = CRS.from_user_input(meta["crs"] if str(meta["crs"]).startswith("EPSG:")
                              else meta["crs_wkt"])
    where = f"community = {_quote(code)}"
    comm = _read_layer(path, "communities", f"code = {_quote(code)}", crs)
    if comm.empty:
        raise ArgumentError(f"数据仓中没有社区“{code}”", f"the store has no community '{code}'")
    buildings = _read_layer(path, "buildings", where, crs)
    lines = _read_layer(path, "streets", where, crs).drop(columns="community")
    bars = _read_layer(path, "barriers", where, crs).drop(columns="community")
    # barriers_from_osm lists lines first, then water areas; batches interleave them.
    bars = bars.iloc[np.argsort(bars["kind"].eq("water").values, kind="stable")]
    bars = bars.reset_index(drop=True)
    return StudyArea(
        source=str(path), crs=crs, buildings=buildings,
        streets=nx.MultiDiGraph(crs=crs), street_report=StreetReport(0, 0, 0, 0, 0.0, 0, 0.0),
        barriers=bars, communities=comm[["code", "name", "geometry"]], street_lines=lines,
        attribution=meta["attribution"] if isinstance(meta["attribution"], str) else None,
    )
