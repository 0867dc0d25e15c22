"""A whole city's plan: one task per community, on a Dask cluster or forked processes.

:func:`plan_city` reads a city store (gis.city_store: one GeoPackage keyed by community) and
plans each community as a task of its own (:func:`plan_community`): the task reads only its
community (``read_community``), runs :func:`partition.plan.make_plan` on it in one process, and
writes the community's layers as GeoParquet parts beside the output. No process holds the
city: a task holds one community, the client holds the task reports and one batch of parts
while it assembles the plan GeoPackage (:func:`assemble`), batch by batch.

Where the tasks run:

* ``cluster=None``: forked processes of this machine (partition.parallel.imap_forked), no
  scheduler to start: the default.
* ``cluster="local"``: a Dask ``LocalCluster`` of ``workers`` single-threaded worker processes.
* ``cluster="tcp://host:8786"`` (or a ``distributed.Client``): that Dask scheduler's workers,
  which must see the store and the output's folder at the same paths (a shared disk).

Dask is used, not a home-made scheduler, because it gives what a cluster needs and this module
should not rewrite: retries of a task whose worker died (``retries``; the scheduler re-runs
the tasks of a lost worker), workers on other machines, and a dashboard. Tasks are submitted
largest community first, a few per worker thread at a time (a sliding window: the scheduler
holds no more than that, and a worker's memory holds one community per thread).

The plan is the same for any number of workers, with or without a cluster, and the same as
``make_plan`` on the whole area: each community gets its share of the city's work budget
(partition.budget.share by households, the share it gets in a whole-area plan), grid codes are the
community code plus a sequence numbered within the community, and the parts are assembled in
community code order whatever order the tasks finished in. A community that fails is reported
(``CityPlanResult.failures``, the summary's ``failed_communities``) and the rest are written.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import resource
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely
from pyproj import CRS

from gis.city_store import read_community, store_meta
from gis.export import BUILDING_COLUMNS, atomically
from partition.budget import default_units, share
from partition.metrics import BALANCE_LIMIT_PCT, DEFAULT_TARGET
from partition.parallel import imap_forked

IN_FLIGHT_PER_THREAD = 2  # tasks the scheduler holds per worker thread at a time
RETRIES = 2  # re-runs of a task whose worker died
ASSEMBLE_ROWS = 50_000  # rows of parts written to the plan GeoPackage at a time
LAYERS = ("grids", "buildings", "barrier_exceptions")
WGS84_CRS = CRS.from_epsg(4326)
Progress = Callable[[dict[str, Any], int, int], object]


@dataclass(frozen=True)
class TaskSpec:
    """What one community's task needs: plain values, cheap to send to a worker."""

    store: str
    code: str
    parts: str  # the folder the task writes its layers to
    target: int
    seed: int
    units: float | None  # the community's share of the city's work budget (partition.budget)
    strict_barriers: bool = False


@dataclass
class CityPlanResult:
    """The written plan, its summary, one report per community task, and the failures."""

    out: Path
    summary: dict[str, Any]
    tasks: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


def community_sizes(store: str | Path) -> dict[str, int]:
    """Buildings per community in the store (all of them, as the plan's territory counts)."""
    with closing(sqlite3.connect(f"file:{Path(store)}?mode=ro", uri=True)) as con:
        rows = con.execute("SELECT community, COUNT(*) FROM buildings "
                           "WHERE community IS NOT NULL GROUP BY community").fetchall()
    return {str(code): int(n) for code, n in rows}


def community_households(store: str | Path) -> dict[str, int]:
    """Households per community in the store, each building's counted in whole numbers as
    the plan counts them (partition.divide.community_households)."""
    with closing(sqlite3.connect(f"file:{Path(store)}?mode=ro", uri=True)) as con:
        rows = con.execute("SELECT community, SUM(CAST(households AS INTEGER)) FROM buildings "
                           "WHERE community IS NOT NULL GROUP BY community").fetchall()
    return {str(code): int(n or 0) for code, n in rows}


def city_tasks(store: str | Path, parts: Path, *, target: int = DEFAULT_TARGET, seed: int = 0,
               time_limit: float | None = None,
               strict_barriers: bool = False) -> list[TaskSpec]:
    """One task per community with buildings, largest first (ties by code); ``time_limit`` is
    the whole city's work budget (None: partition.budget.default_units of its buildings and
    communities)."""
    sizes = community_sizes(store)
    households = community_households(store)
    codes = sorted(sizes, key=lambda c: (-sizes[c], c))
    total = (default_units(sum(sizes.values()), [households.get(c, 0) for c in sorted(sizes)],
                           target) if time_limit is None else time_limit)
    # The share each community gets in the whole-area plan (partition.divide), exactly.
    units = share(total, [households.get(c, 0) for c in codes])
    return [TaskSpec(str(store), code, str(parts), target, seed, u, strict_barriers)
            for code, u in zip(codes, units, strict=True)]


def plan_community(spec: TaskSpec) -> dict[str, Any]:
    """Plan one community and write its layers to ``spec.parts``; never raises.

    Returns the task's report: community, buildings, grids, seconds (wall), peak_rss_mb (of
    the process so far), worker, pid, the community's plan summary, and ``failure`` (None, or
    community / step / error / error_zh when it could not be planned)."""
    from partition.plan import make_plan

    started = time.perf_counter()
    report: dict[str, Any] = {"community": spec.code, "buildings": 0, "grids": 0,
                              "worker": _worker_name(), "pid": os.getpid(), "failure": None,
                              "summary": {}}
    try:
        area = read_community(spec.store, spec.code)
        plan = make_plan(area, spec.target, seed=spec.seed, workers=1, time_limit=spec.units,
                         strict_barriers=spec.strict_barriers)
        _write_parts(plan.layers_wgs84(), Path(spec.parts), spec.code)
        report.update(buildings=len(plan.buildings), grids=len(plan.grids),
                      summary=plan.summary)
        if plan.failures:
            report["failure"] = plan.failures[0]
    except Exception as error:  # one community's failure must not stop the city
        report["failure"] = {"community": spec.code, "step": "task",
                             "error": f"{type(error).__name__}: {error}"}
    report["seconds"] = round(time.perf_counter() - started, 3)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"process-{os.getpid()}"


def _part_path(parts: Path, code: str, layer: str) -> Path:
    return parts / f"{code}.{layer}.parquet"


def _write_parts(layers: dict[str, gpd.GeoDataFrame], parts: Path, code: str) -> None:
    """Each layer as ``<code>.<layer>.parquet``, renamed into place when written: a task run
    again after its worker died overwrites, never appends."""
    parts.mkdir(parents=True, exist_ok=True)
    for layer, gdf in layers.items():
        if layer == "buildings":
            cols = [c for c in BUILDING_COLUMNS if c in gdf.columns and c != "geometry"]
            gdf = gdf[[*cols, "grid_id", "geometry"]]
        final = _part_path(parts, code, layer)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        gdf.reset_index(drop=True).to_parquet(tmp)
        os.replace(tmp, final)


def plan_city(store: str | Path, out: str | Path, *, target: int = DEFAULT_TARGET,
              seed: int = 0, time_limit: float | None = None, cluster: Any = None,
              workers: int = 1, strict_barriers: bool = False,
              progress: Progress | None = None) -> CityPlanResult:
    """Plan every community of the city store ``store`` and write the plan GeoPackage ``out``
    (layers grids, buildings, barrier_exceptions and the plan_summary table, as
    partition.plan_io.write_plan writes; WGS84).

    Args:
        store: a city store (gis.city_store.write_city_store).
        out: the plan's .gpkg, written atomically.
        target: households per grid.
        seed, time_limit: as make_plan's; ``time_limit`` is the whole city's budget.
        cluster: None (forked processes here), "local" (a Dask LocalCluster), a scheduler
            address ("tcp://host:8786") or a ``distributed.Client``.
        workers: processes (no cluster) or LocalCluster workers; ignored for an address.
        strict_barriers: as make_plan's.
        progress: called after each task with (its report, tasks done, tasks in all).

    The parts are kept in ``<out>.parts/`` until the plan is written, then removed.
    """
    started = time.perf_counter()
    out = Path(out)
    parts = out.with_name(out.name + ".parts")
    tasks = city_tasks(store, parts, target=target, seed=seed, time_limit=time_limit,
                       strict_barriers=strict_barriers)
    reports: dict[str, dict[str, Any]] = {}
    runner = (_run_on_dask(tasks, cluster, workers) if cluster is not None
              else imap_forked(plan_community, tasks, workers))
    for report in runner:
        reports[report["community"]] = report
        if progress is not None:
            progress(report, len(reports), len(tasks))
    ordered = [reports[code] for code in sorted(reports)]
    failures = [r["failure"] for r in ordered if r["failure"] is not None]
    written = [r["community"] for r in ordered if r["grids"]]
    summary = city_summary(ordered, target, store)
    summary["planning_seconds"] = round(time.perf_counter() - started, 2)  # the tasks' phase
    attribution = store_meta(store)["attribution"]
    assemble(parts, written, out, summary, attribution if isinstance(attribution, str) else None,
             store)
    for code in written:
        for layer in LAYERS:
            _part_path(parts, code, layer).unlink(missing_ok=True)
    if parts.exists() and not any(parts.iterdir()):
        parts.rmdir()
    summary["assembly_seconds"] = round(time.perf_counter() - started
                                        - summary["planning_seconds"], 2)
    return CityPlanResult(out, summary, ordered, failures)


# ---- Dask -----------------------------------------------------------------------------------

@contextmanager
def dask_client(cluster: Any, workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster`` ("local", an address or a Client), closed
    after (a LocalCluster too) unless it was given."""
    from distributed import Client, LocalCluster

    if isinstance(cluster, Client):
        yield cluster
        return
    if cluster == "local":
        with LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR) as lc, \
                Client(lc) as client:
            yield client
        return
    with Client(str(cluster), timeout="30s") as client:
        yield client


def _run_on_dask(tasks: list[TaskSpec], cluster: Any, workers: int) -> Iterator[dict[str, Any]]:
    """The tasks' reports as they finish, at most IN_FLIGHT_PER_THREAD tasks per worker thread
    submitted at a time, largest first; a task whose worker died is re-run (RETRIES)."""
    from distributed import as_completed

    with dask_client(cluster, workers) as client:
        threads = max(1, sum(client.nthreads().values()))
        pending = iter(tasks)

        def submit(spec: TaskSpec) -> Any:
            return client.submit(plan_community, spec, key=f"wangge-community-{spec.code}",
                                 retries=RETRIES, pure=False)

        first = [submit(s) for _, s in zip(range(IN_FLIGHT_PER_THREAD * threads), pending,
                                           strict=False)]
        queue = as_completed(first)
        for future in queue:
            report = future.result()
            future.release()
            yield report
            nxt = next(pending, None)
            if nxt is not None:
                queue.add(submit(nxt))


# ---- assembly -------------------------------------------------------------------------------

def assemble(parts: Path, codes: Iterable[str], out: Path, summary: dict[str, Any],
             attribution: str | None, store: str | Path | None = None) -> Path:
    """Write the plan GeoPackage ``out`` from the parts of ``codes`` (in that order),
    ASSEMBLE_ROWS rows at a time, plus the store's buildings outside every community (no
    grid) and the plan_summary and attribution tables; atomically."""
    codes = list(codes)
    with atomically(out) as tmp:
        for layer in LAYERS:
            batches = _part_batches(parts, codes, layer)
            if layer == "buildings" and store is not None:
                batches = itertools.chain(batches, _outside_buildings(store))
            _write_batches(tmp, layer, batches)
        tables = {"plan_summary": pd.DataFrame({"summary": [json.dumps(summary,
                                                                       ensure_ascii=False)]})}
        if attribution:
            tables["attribution"] = pd.DataFrame({"attribution": [attribution]})
        for name, table in tables.items():
            pyogrio.write_dataframe(table, tmp, layer=name, driver="GPKG")
    return out


def _part_batches(parts: Path, codes: list[str], layer: str) -> Iterator[gpd.GeoDataFrame]:
    """The parts of ``layer``, concatenated into frames of about ASSEMBLE_ROWS rows.

    Parts are read as Arrow tables and turned into one frame a batch: a GeoDataFrame a part
    (pyproj parsing each file's CRS, pandas building each frame) cost 20-100 ms a part, most of
    the assembly's time."""
    tables: list[pa.Table] = []
    rows = 0
    for code in codes:
        path = _part_path(parts, code, layer)
        if not path.exists():
            continue
        table = pq.read_table(path).replace_schema_metadata(None)
        if table.num_rows == 0:
            continue
        tables.append(table)
        rows += table.num_rows
        if rows >= ASSEMBLE_ROWS:
            yield _frame(tables)
            tables, rows = [], 0
    if tables:
        yield _frame(tables)


def _frame(tables: list[pa.Table]) -> gpd.GeoDataFrame:
    """One WGS84 frame of parts' tables (as _write_parts writes them: WKB geometry)."""
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    geometry = shapely.from_wkb(frame.pop("geometry").to_numpy())
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=WGS84_CRS))


def _outside_buildings(store: str | Path) -> Iterator[gpd.GeoDataFrame]:
    """The store's buildings in no community, with an empty grid_id, in batches."""
    where = "community IS NULL"
    with pyogrio.open_arrow(store, layer="buildings", where=where, batch_size=ASSEMBLE_ROWS,
                            use_pyarrow=True) as (meta, reader):
        for batch in reader:
            frame = batch.to_pandas()
            geom = gpd.GeoSeries.from_wkb(frame.pop(meta["geometry_name"] or "wkb_geometry"),
                                          crs=WGS84_CRS)
            gdf = gpd.GeoDataFrame(frame, geometry=geom)
            cols = [c for c in BUILDING_COLUMNS if c in gdf.columns and c != "geometry"]
            gdf = gdf[cols].assign(grid_id=None).set_geometry(geom)
            if len(gdf):
                yield gdf


def _write_batches(path: Path, layer: str, batches: Iterable[gpd.GeoDataFrame]) -> None:
    """Append the batches to ``layer`` of ``path``; the first batch sets the columns."""
    columns: list[str] | None = None
    for batch in batches:
        if columns is None:
            columns = list(batch.columns)
        else:
            batch = batch.reindex(columns=columns)
        pyogrio.write_dataframe(batch, path, layer=layer, driver="GPKG",
                                append=layer_exists(path, layer), promote_to_multi=False,
                                geometry_type="Unknown")


def layer_exists(path: Path, layer: str) -> bool:
    """Whether the GeoPackage ``path`` has the table ``layer`` (False when no file)."""
    if not path.exists():
        return False
    with closing(sqlite3.connect(path)) as con:
        return con.execute("SELECT 1 FROM gpkg_contents WHERE table_name = ?",
                           (layer,)).fetchone() is not None


# ---- summary --------------------------------------------------------------------------------

SUMMED = ("grids", "buildings", "residential_buildings", "households",
          "residential_without_grid", "free_grids", "free_grids_over_limit", "non_contiguous",
          "barrier_violations", "community_violations", "multi_piece_grids", "grid_overlap_m2",
          "buildings_outside_grid", "building_grids", "dedicated_grids", "residential_grids",
          "small_grids", "small_grids_joinable", "barrier_exceptions", "groups_out_of_budget",
          "work_budget")
MAXED = ("max_deviation_pct", "deviation_lower_bound_pct", "max_deviation_free_pct")
# Means over grids, weighted by each community's grids of the kind the figure counts.
WEIGHTED = {"mean_deviation_pct": "grids", "mean_deviation_lower_bound_pct": "grids",
            "mean_deviation_free_pct": "free_grids", "mean_polsby_popper": "grids",
            "street_boundary_share": "grids", "hull_overlap_pct": "grids"}


def city_summary(reports: list[dict[str, Any]], target: int,
                 store: str | Path | None = None) -> dict[str, Any]:
    """The city plan's figures from its communities' summaries: counts summed, maxima taken,
    means weighted by the communities' grids (figures between communities, such as
    hull_overlap_all_pct, are not computed at city scale)."""
    sums = [r["summary"] for r in reports if r["summary"]]
    summary: dict[str, Any] = {"communities": len(sums), "target_households": target}
    for key in SUMMED:
        summary[key] = float(np.sum([s.get(key, 0) for s in sums]))
        if float(summary[key]).is_integer() and key not in ("grid_overlap_m2", "work_budget"):
            summary[key] = int(summary[key])
    summary["grid_overlap_m2"] = round(summary["grid_overlap_m2"], 1)
    summary["work_budget"] = round(summary["work_budget"], 2)
    for key in MAXED:
        summary[key] = max((float(s.get(key, 0.0)) for s in sums), default=0.0)
    for key, weight in WEIGHTED.items():
        w = np.array([s.get(weight, 0) for s in sums], dtype=float)
        v = np.array([s.get(key, 0.0) for s in sums], dtype=float)
        digits = 4 if key in ("mean_polsby_popper", "street_boundary_share") else 2
        summary[key] = round(float((w * v).sum() / w.sum()), digits) if w.sum() else 0.0
    summary["residential_outside_communities"] = (_outside_residential(store)
                                                  if store is not None else 0)
    summary["failed_communities"] = sum(r["failure"] is not None for r in reports)
    summary["failures"] = [r["failure"] for r in reports if r["failure"] is not None]
    summary["tasks"] = len(reports)
    summary["balance_limit_pct"] = BALANCE_LIMIT_PCT
    return summary


def _outside_residential(store: str | Path) -> int:
    with closing(sqlite3.connect(f"file:{Path(store)}?mode=ro", uri=True)) as con:
        row = con.execute("SELECT COUNT(*) FROM buildings WHERE community IS NULL "
                          "AND residential").fetchone()
    return int(row[0])
