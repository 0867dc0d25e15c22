"""``wangge import`` and ``wangge partition``: study area files to micro-grid plans.

Both read a study area (buildings, streets, communities; gis.study_area) with the same source
options; ``partition`` writes the plan as a GeoPackage (partition.plan_io). Bad input ends
with a message that names the file, the feature and what to do, exit status 2, and no output
file written.

A city: ``city-store`` streams a city-sized input into a store keyed by community
(gis.city_store); ``partition`` given a store, or ``--cluster`` (a Dask scheduler address,
``local`` for a LocalCluster; default $WANGGE_DASK_SCHEDULER), plans one community per task
(partition.city) with a progress bar over the communities.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import contextmanager

from tqdm import tqdm

from gis.barriers import ARTERIALS, BarrierOptions
from gis.households import FLOOR_AREA_PER_HOUSEHOLD_M2, HOUSEHOLD_SIZE, HouseholdOptions
from partition.metrics import BALANCE_LIMIT_PCT, DEFAULT_TARGET


def register(sub) -> None:
    """Add ``import`` and ``partition`` to an argparse subparsers object."""
    p = sub.add_parser("import", help="读取并检查数据 read and check a study area")
    _add_source_options(p)
    p.add_argument("--out", help="写出 GeoPackage write the layers to this .gpkg")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print JSON")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("partition", help="划分微网格 divide communities into micro-grids")
    _add_source_options(p)
    p.add_argument("--target-households", type=int, default=DEFAULT_TARGET,
                   help=f"每格目标户数 households per grid (default {DEFAULT_TARGET})")
    p.add_argument("--previous", help="原方案 previous PLAN.gpkg to re-balance")
    p.add_argument("--lock", help="锁定网格 grid codes to keep exactly, comma-separated")
    p.add_argument("--moves", help="调整清单 write the building-by-building moves as CSV")
    p.add_argument("--split-units", metavar="COLUMN",
                   help="按单元划分 divide buildings above the target by unit; COLUMN holds "
                   "each building's number of units (单元)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="精确求解预算 work the exact steps may spend in all, in about seconds of "
                        "one core, counted deterministically (default: 2 + 3 per 1,000 "
                        "buildings + 0.03 a grid beyond the first 50, at most 50 a "
                        "community, at most 25 + 3.5 per 1,000 buildings); the same seed "
                        "and limit give the same plan")
    p.add_argument("--strict-barriers", action="store_true",
                   help="不跨主干道合并小片 join no small pocket across an arterial road")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="并行进程数 processes dividing communities at once (default: CPU count; "
                        "the plan is the same for any number)")
    p.add_argument("--cluster", default=os.environ.get("WANGGE_DASK_SCHEDULER") or None,
                   help="Dask 集群 plan one community per task on a Dask scheduler "
                        "(tcp://HOST:8786) or 'local' for a LocalCluster of --workers workers "
                        "(default $WANGGE_DASK_SCHEDULER; without it, a city store is planned "
                        "in forked processes)")
    p.add_argument("--out", required=True, help="输出 PLAN.gpkg")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print JSON")
    p.set_defaults(func=cmd_partition)

    p = sub.add_parser("city-store", help="城市数据仓 stream a city-sized area into a store "
                       "keyed by community, for partition --cluster")
    _add_source_options(p)
    p.add_argument("--batch-size", type=int, default=50_000,
                   help="每批要素数 features read and written at a time (default 50000)")
    p.add_argument("--out", required=True, help="输出 CITY.gpkg")
    p.add_argument("--json", action="store_true", help="以 JSON 输出 print JSON")
    p.set_defaults(func=cmd_city_store)


def _add_source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="建筑数据 buildings: "
                   ".osm/.osm.bz2/.osm.pbf/.geojson/.gpkg/.shp/.zip; city-store also "
                   "reads a PostGIS table: postgresql://USER@HOST/DB?table=SCHEMA.NAME")
    p.add_argument("--streets", help="街道与障碍来源 OSM file, or road centre lines as a "
                   "file (highway or fclass, name, bridge, tunnel columns; for city-store "
                   "also a PostGIS table) for streets and barriers, when SOURCE has none")
    p.add_argument("--communities", help="社区边界 community polygons (code, name): a file, "
                   "or for city-store a PostGIS table")
    p.add_argument("--datum", default="wgs84", choices=["wgs84", "cgcs2000", "gcj02", "bd09"],
                   help="经纬度坐标系 lon/lat datum of vector input (default wgs84)")
    p.add_argument("--id-col", help="建筑编号列 building id column of vector input")
    p.add_argument("--households-col", default="households",
                   help="户数列 households column (default households)")
    p.add_argument("--households-csv", help="户数 CSV joined by building id")
    p.add_argument("--csv-id-col", default="building_id", help="CSV id column")
    p.add_argument("--csv-households-col", default="households", help="CSV households column")
    p.add_argument("--population-raster", help="人口栅格 population GeoTIFF (e.g. WorldPop)")
    p.add_argument("--household-size", type=float, default=HOUSEHOLD_SIZE,
                   help=f"户均人口 persons per household (default {HOUSEHOLD_SIZE})")
    p.add_argument("--flat-area", type=float, default=FLOOR_AREA_PER_HOUSEHOLD_M2,
                   help="户均建筑面积 gross floor area per household, m² "
                   f"(default {FLOOR_AREA_PER_HOUSEHOLD_M2:g})")
    p.add_argument("--arterials", default=",".join(ARTERIALS),
                   help=f"作为障碍的道路等级 highway values that are barriers "
                   f"(default {','.join(ARTERIALS)})")
    p.add_argument("--invalid", choices=["repair", "reject"], default="repair",
                   help="无效面 invalid polygons: repair (default) or reject")


def _options(args: argparse.Namespace) -> tuple[HouseholdOptions, BarrierOptions]:
    households = HouseholdOptions(
        households_col=args.households_col, csv_path=args.households_csv,
        csv_id_col=args.csv_id_col, csv_households_col=args.csv_households_col,
        raster_path=args.population_raster, household_size=args.household_size,
        floor_area_per_household_m2=args.flat_area,
    )
    barriers = BarrierOptions(arterials=tuple(a.strip() for a in args.arterials.split(",")
                                              if a.strip()))
    return households, barriers


def _load(args: argparse.Namespace, with_walk_graph: bool = True):
    from gis.study_area import load_study_area

    households, barriers = _options(args)
    with load_progress() as progress:
        return load_study_area(
            args.source, streets=args.streets, communities=args.communities, datum=args.datum,
            id_col=args.id_col, households=households, barriers=barriers, invalid=args.invalid,
            with_walk_graph=with_walk_graph, progress=progress,
        )


def load_progress():
    """A progress bar over load_study_area's steps."""
    from gis.study_area import LOAD_STEPS

    return step_progress(len(LOAD_STEPS))


@contextmanager
def step_progress(total: int):
    """A tqdm bar (on stderr, when it is a terminal) advanced by calling the yielded function
    with the name of each step as it starts."""
    with tqdm(total=total, unit="step", disable=None, leave=False) as bar:
        seen: list[str] = []

        def advance(name: str) -> None:
            if seen:
                bar.update(1)
            seen.append(name)
            bar.set_description(name)

        yield advance


def cmd_import(args: argparse.Namespace) -> int:
    """``wangge import``: read a study area, print its import report, optionally write its
    layers."""
    from gis.export import study_area_layers, write_gpkg
    from gis.study_area import format_summary

    started = time.perf_counter()
    area = _load(args)
    summary = area.summary()
    if args.out:
        write_gpkg(study_area_layers(area), args.out, area.attribution)
        summary["out"] = str(args.out)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(format_summary(summary))
        if args.out:
            print(f"已写入 written: {args.out}")
        if area.attribution:
            print(area.attribution)
    return 0


def _write_store(args: argparse.Namespace, out: str) -> dict[str, object]:
    from gis.city_store import write_city_store

    households, barriers = _options(args)
    with tqdm(unit="batch", disable=None, leave=False) as bar:
        def progress(name: str) -> None:
            bar.update(1)
            bar.set_description(name[:60])

        return write_city_store(
            args.source, out, communities=args.communities, streets=args.streets,
            datum=args.datum, id_col=args.id_col, households=households, barriers=barriers,
            invalid=args.invalid, batch_size=getattr(args, "batch_size", 50_000),
            progress=progress)


def cmd_city_store(args: argparse.Namespace) -> int:
    """``wangge city-store``: stream a city-sized study area into a store keyed by
    community (gis.city_store)."""
    started = time.perf_counter()
    summary = dict(_write_store(args, args.out), out=str(args.out),
                   seconds=round(time.perf_counter() - started, 2))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        s = summary
        print(f"城市数据仓 city store: {args.out} ({s['crs']})")
        print(f"社区 communities {s['communities']}, 建筑 buildings {s['buildings']} (住宅 "
              f"residential {s['residential']}, 社区外 outside communities "
              f"{s['buildings_outside_communities']}), 户数 households {s['households']} "
              f"(估算 estimated {s['households_estimated']}), 人口 population {s['population']}")
        print(f"街道行 street rows {s['street_rows']}, 障碍行 barrier rows {s['barrier_rows']}, "
              f"批次 batches {s['batches']}, 修复 repairs {len(s['repairs'])}; "  # type: ignore[arg-type]
              f"用时 {s['seconds']} s")
    return 0


def cmd_partition(args: argparse.Namespace) -> int:
    """``wangge partition``: make (or re-balance) a grid plan and write it as GeoPackage."""
    from gis.city_store import is_city_store
    from partition.plan import make_plan, rule_violations
    from partition.plan_io import read_plan, write_plan

    started = time.perf_counter()
    if args.cluster or is_city_store(args.source):
        return _partition_city(args, started)
    previous = read_plan(args.previous) if args.previous else None
    locked = frozenset(x.strip() for x in (args.lock or "").split(",") if x.strip())
    if locked and previous is None:
        print("--lock 需要 --previous / --lock needs --previous", file=sys.stderr)
        return 2
    area = _load(args, with_walk_graph=False)  # grids need street lines, not routing
    with step_progress(5) as advance:
        try:
            plan = make_plan(area, args.target_households, seed=args.seed, previous=previous,
                             locked=locked, split_units=args.split_units, progress=advance,
                             workers=args.workers, time_limit=args.time_limit,
                             strict_barriers=args.strict_barriers)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    write_plan(plan, args.out, area.attribution)
    if plan.moves is not None and args.moves:
        plan.moves.to_csv(args.moves, index=False, encoding="utf-8-sig")
    summary = dict(plan.summary, seconds=round(time.perf_counter() - started, 2),
                   peak_memory_mb=peak_memory_mb(), out=str(args.out))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(format_plan_summary(summary))
        if area.attribution:
            print(area.attribution)
    _print_failures(plan.failures)
    if plan.failures:
        return 3  # the plan is incomplete
    return 1 if any(rule_violations(plan).values()) else 0


def _out_of_budget_lines(groups: list[dict], shown: int = 5) -> list[str]:
    """The groups whose work ran out, the largest first: their community, grids and the
    deviation their bound proves, and how to give them more."""
    lines = []
    for g in sorted(groups, key=lambda g: -g["buildings"])[:shown]:
        codes = g.get("grid_codes") or []
        listed = ", ".join(codes[:4]) + (f" … (+{len(codes) - 4})" if len(codes) > 4 else "")
        bound = ("" if g.get("bound_pct") is None
                 else f"; 已证明下限 proven bound {g['bound_pct']}%")
        lines.append(f"  社区 community {g['community']}: {g['grids']} 个网格 grids "
                     f"({listed}), 已用 spent {g['units_spent']}{bound}")
    if len(groups) > shown:
        lines.append(f"  … 另有 {len(groups) - shown} 组 / {len(groups) - shown} more "
                     "(--json: all of them)")
    if groups:
        lines.append("  更多计算时间可减少超出15%的网格 / more work can leave fewer grids beyond "
                     "15%: --time-limit SECONDS")
    return lines


def _partition_city(args: argparse.Namespace, started: float) -> int:
    """``wangge partition`` of a city store, or of any input with --cluster (written to a
    store beside the plan first): one community per task (partition.city)."""
    from gis.city_store import is_city_store
    from partition.city import plan_city

    refused = [opt for opt, value in (("--previous", args.previous), ("--lock", args.lock),
                                      ("--split-units", args.split_units)) if value]
    if refused:
        print(f"城市分任务划分暂不支持 {', '.join(refused)}；请不带 --cluster 在一台机器上运行。"
              f" / {', '.join(refused)} cannot be used when planning a city store or with "
              "--cluster; run without --cluster on one machine.", file=sys.stderr)
        return 2
    store = args.source
    if not is_city_store(store):
        store = f"{args.out}.store.gpkg"
        _write_store(args, store)
    with tqdm(unit="community", disable=None, leave=False) as bar:
        def progress(report: dict, done: int, total: int) -> None:
            bar.total = total
            bar.update(1)
            bar.set_description(str(report["community"]))

        result = plan_city(store, args.out, target=args.target_households, seed=args.seed,
                           time_limit=args.time_limit, cluster=args.cluster,
                           workers=args.workers, strict_barriers=args.strict_barriers,
                           progress=progress)
    summary = dict(result.summary, seconds=round(time.perf_counter() - started, 2),
                   peak_memory_mb=max([peak_memory_mb(),
                                       *(float(t.get("peak_rss_mb") or 0) for t in result.tasks)]),
                   out=str(args.out), store=str(store))
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    else:
        print(format_plan_summary(summary))
        where = f"Dask {args.cluster}" if args.cluster else "local processes 本机进程"
        print(f"任务 tasks {summary['tasks']} ({where}), 数据仓 store {store}")
    _print_failures(result.failures)
    if result.failures:
        return 3
    hard = ("residential_without_grid", "non_contiguous", "barrier_violations",
            "community_violations", "multi_piece_grids", "buildings_outside_grid")
    return 1 if any(summary.get(k) for k in hard) else 0


def _print_failures(failures: list[dict]) -> None:
    for failure in failures:
        print(f"社区 {failure['community']} 划分失败，未生成网格；其余社区已写出。请检查该社区的"
              f"边界与建筑数据后重新运行。/ community {failure['community']} could not be "
              f"divided ({failure['step']}: {failure['error']}); it has no grids, the other "
              f"communities were written. Check its boundary and buildings, then run again.",
              file=sys.stderr)


def peak_memory_mb() -> float:
    """Peak resident memory (MB) of this process plus its largest worker process: an upper
    bound, since forked workers share their parent's pages until they write them."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + workers) / 1024, 1)


def format_plan_summary(s: dict) -> str:
    """A plan's summary as the command line prints it."""
    lines = [
        f"网格方案 plan: {s['out']}",
        f"社区 communities {s['communities']}, 网格 grids {s['grids']} "
        f"(楼栋网格 building grids {s['building_grids']}), 户数 households {s['households']}, "
        f"目标 target {s['target_households']}/grid",
        f"户数偏差 deviation: max {s['max_deviation_pct']}%, mean {s['mean_deviation_pct']}%; "
        f"building sizes force at least {s['deviation_lower_bound_pct']}% (建筑规模下限)",
        f"  可均衡网格 free grids {s['free_grids']}: max {s['max_deviation_free_pct']}%, "
        f"mean {s['mean_deviation_free_pct']}%, beyond {BALANCE_LIMIT_PCT:g}% "
        f"{s['free_grids_over_limit']} (超出{BALANCE_LIMIT_PCT:g}%); 平均偏差下限 mean at least "
        f"{s['mean_deviation_lower_bound_pct']}%",
        f"紧凑度 Polsby-Popper mean {s['mean_polsby_popper']}; 沿街边界 boundary on streets "
        f"{100 * s['street_boundary_share']:.1f}%; 凸包重叠 hull overlap {s['hull_overlap_pct']}%",
        f"硬性规则 hard rules: residential without grid {s['residential_without_grid']}, "
        f"non-contiguous {s['non_contiguous']}, barrier {s['barrier_violations']}, "
        f"community {s['community_violations']}, multi-piece {s['multi_piece_grids']}, "
        f"buildings outside their grid {s['buildings_outside_grid']}",
        f"网格类型 kinds: residential {s['residential_grids']}, building {s['building_grids']}, "
        f"专属 dedicated {s['dedicated_grids']}; 小网格 small (< half target) "
        f"{s['small_grids']}; 跨主干道 barrier exceptions {s['barrier_exceptions']}; "
        f"重叠 overlap {s['grid_overlap_m2']} m2",
    ]
    if s.get("groups_out_of_budget"):
        lines.append(f"计算预算用尽 work budget ({s['work_budget']}) ran out in "
                     f"{s['groups_out_of_budget']} groups (best plan found so far kept)")
        lines += _out_of_budget_lines(s.get("out_of_budget") or [])
    if "households_moved" in s:
        lines.append(
            f"调整 re-balance: {s['buildings_moved']} buildings / {s['households_moved']} "
            f"households moved, {s['buildings_new']} new, {s['buildings_removed']} removed; "
            f"grids kept {s['grids_kept']}, new {s['grids_new']}, gone {s['grids_gone']}")
    lines.append(f"用时 {s['seconds']} s, 峰值内存 peak memory {s['peak_memory_mb']} MB")
    return "\n".join(lines)
