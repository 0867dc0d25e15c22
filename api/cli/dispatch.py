"""``wangge assign``, ``wangge patrol`` and ``wangge party``: dispatch over a plan.

Each reads a plan (``wangge partition``'s PLAN.gpkg) and the study area's OSM file for the walk
network, and writes its result atomically; messages in Chinese with English alongside.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm


def register(sub) -> None:
    """Add ``assign``, ``patrol`` and ``party`` to an argparse subparsers object."""
    p = sub.add_parser("assign", help="分配网格员 assign grid workers to grids")
    _common(p)
    p.add_argument("--workers", required=True,
                   help="网格员 CSV: worker_id,name,lon,lat[,phone,role,max_grids,"
                   "max_households,skills,start,end]")
    p.add_argument("--previous", help="上次分配 previous assignment CSV (kept where possible)")
    p.add_argument("--levels", help="四级结构 write the four-level structure to this CSV")
    p.add_argument("--seconds", type=float, default=5.0, help="time limit (default 5)")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("patrol", help="巡查路线 street patrol route for every grid")
    _common(p)
    p.add_argument("--by", choices=["grid", "community"], default="grid",
                   help="grid: 网格员 each grid's worker (default); community: 网格巡查队 the "
                   "community's patrol team, every street of the community")
    p.add_argument("--workers", help="网格员 CSV (bases); with --assignment, or with role "
                   "'patrol' for --by community")
    p.add_argument("--assignment", help="网格员分配 CSV from wangge assign")
    p.add_argument("--shift-hours", type=float, default=2.0,
                   help="每班时长 hours per shift at 4 km/h (default 2)")
    p.add_argument("--gpx", help="GPX 输出目录 write one GPX per grid into this folder")
    p.set_defaults(func=cmd_patrol)

    p = sub.add_parser("party", help="党员责任区 party member responsibility zones")
    _common(p)
    p.add_argument("--members", required=True,
                   help="党员 CSV: member_id,name,building_id[,capacity]")
    p.set_defaults(func=cmd_party)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("plan", help="网格方案 PLAN.gpkg from wangge partition")
    p.add_argument("--area", required=True, help="街道数据 the OSM file the plan was made from")
    p.add_argument("--out", required=True, help="输出文件 output file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _load(args):
    """The walk network and the plan's layers in the network's metric CRS."""
    from dispatch.routing.network import WalkNetwork
    from gis.study_area import load_study_area
    from partition.plan_io import read_plan

    grids, buildings = read_plan(args.plan)
    area = load_study_area(args.area)
    net = WalkNetwork.from_graph(area.streets)
    return net, grids.to_crs(area.crs), buildings.to_crs(area.crs), area


def _report(args, summary: dict, text: str) -> None:
    print(json.dumps(summary, ensure_ascii=False, indent=2) if args.json else text)


def cmd_assign(args: argparse.Namespace) -> int:
    """``wangge assign``: one worker per grid and the four-level structure, as CSV."""
    from dispatch.staffing.people import read_workers
    from dispatch.staffing.workers import AssignmentError, assign_workers, four_levels

    net, grids, buildings, _ = _load(args)
    workers = read_workers(args.workers, net.crs)
    previous = None
    if args.previous:
        old = pd.read_csv(args.previous, dtype=str)
        previous = dict(zip(old["grid_id"], old["worker_id"], strict=True))
    try:
        result = assign_workers(net, grids, workers, previous=previous, seconds=args.seconds)
    except AssignmentError as exc:
        print(f"无法分配 cannot assign: {exc}", file=sys.stderr)
        return 2
    names = {w.worker_id: w.name for w in workers}
    result.insert(2, "name", result["worker_id"].map(names))
    result.to_csv(args.out, index=False, encoding="utf-8-sig")
    if args.levels:
        resident = buildings[buildings["households"] > 0]
        four_levels(net, grids, resident, workers, result).to_csv(
            args.levels, index=False, encoding="utf-8-sig")
    load = result.groupby("worker_id")["households"].sum()
    summary = {"grids": len(result), "workers": int(result["worker_id"].nunique()),
               "households_min": int(load.min()), "households_max": int(load.max()),
               "mean_walk_m": round(float(result["walk_m"].mean()), 1),
               "kept": int(result["kept"].sum()), "out": args.out}
    _report(args, summary, f"网格 grids {summary['grids']}, 网格员 workers "
            f"{summary['workers']}, 户数 households per worker {summary['households_min']}-"
            f"{summary['households_max']}, 平均步行 mean walk {summary['mean_walk_m']} m, "
            f"保留 kept {summary['kept']}\n已写入 written: {args.out}")
    return 0


def cmd_patrol(args: argparse.Namespace) -> int:
    """``wangge patrol``: a street patrol per grid (or community) from the workers' bases."""
    from dispatch.routing.patrol import community_areas, patrol_routes
    from dispatch.staffing.people import read_workers
    from gis.export import write_gpkg

    net, grids, _, area = _load(args)
    workers = read_workers(args.workers, net.crs) if args.workers else []
    if args.by == "community":
        grids = community_areas(grids)
        bases = _patrol_team_bases(grids, workers)
    else:
        bases = _worker_bases(workers, args.assignment)
    with tqdm(total=len(grids), desc="巡查路线 patrols", unit=args.by,
              disable=not sys.stderr.isatty()) as bar:
        routes = patrol_routes(net, grids, bases, shift_m=args.shift_hours * 4000.0,
                               progress=lambda _: bar.update())
    write_gpkg({"patrols": routes.to_crs(4326)}, args.out, area.attribution)
    if args.gpx:
        _write_gpx(Path(args.gpx), routes, net.crs)
    done = routes[routes["required_m"] > 0]
    summary = {"by": args.by, "grids": len(done), "km": round(done["length_m"].sum() / 1000, 2),
               "street_km": round(done["required_m"].sum() / 1000, 2),
               "proven_optimal": int(done["optimal"].sum()),
               "gap_to_bound_pct": round(100 * (done["length_m"].sum()
                                                / done["lower_bound_m"].sum() - 1), 2),
               "out": args.out}
    unit = "网格 grids" if args.by == "grid" else "社区 communities"
    _report(args, summary, f"巡查 patrols {summary['grids']} {unit}, {summary['km']} km "
            f"(街道 streets {summary['street_km']} km), 已证最优 proven optimal "
            f"{summary['proven_optimal']}, 距下界 gap to bound {summary['gap_to_bound_pct']}%"
            f"\n已写入 written: {args.out}")
    return 0


def _worker_bases(workers: list, assignment: str | None) -> dict:
    """grid_id -> the base (metric) of the worker the assignment CSV gives it."""
    if not assignment or not workers:
        return {}
    where = {w.worker_id: (w.x, w.y) for w in workers}
    chosen = pd.read_csv(assignment, dtype=str)
    return {g: where[w] for g, w in zip(chosen["grid_id"], chosen["worker_id"], strict=True)
            if w in where}


def _patrol_team_bases(communities, workers: list) -> dict:
    """Community -> the base of the patrol team member (role ``patrol``) nearest its centre."""
    team = [w for w in workers if w.role == "patrol"]
    if not team:
        return {}
    xy = np.array([(w.x, w.y) for w in team])
    bases = {}
    for community, area in zip(communities["grid_id"], communities.geometry, strict=True):
        c = area.centroid
        nearest = int(np.argmin(np.hypot(xy[:, 0] - c.x, xy[:, 1] - c.y)))
        bases[community] = tuple(xy[nearest])
    return bases


def _write_gpx(folder: Path, routes, crs) -> None:
    from dispatch.routing.route_output import gpx

    folder.mkdir(parents=True, exist_ok=True)
    for grid_id, line in zip(routes["grid_id"], routes.geometry, strict=True):
        if not line.is_empty:
            (folder / f"{grid_id}.gpx").write_text(gpx(f"巡查 {grid_id}", line, [], crs),
                                                   encoding="utf-8")


def cmd_party(args: argparse.Namespace) -> int:
    """``wangge party``: households shared among party members near them, and their zones."""
    from dispatch.staffing.party import assign_households, zone_polygons
    from dispatch.staffing.people import read_members
    from gis.export import write_gpkg

    net, grids, buildings, area = _load(args)
    members = read_members(args.members)
    try:
        assignment, gaps = assign_households(net, buildings, members, grids)
    except ValueError as exc:
        print(f"无法分配 cannot assign: {exc}", file=sys.stderr)
        return 2
    zones = zone_polygons(buildings, grids, assignment, members)
    write_gpkg({"zones": zones.to_crs(4326)}, args.out, area.attribution,
               tables={"households": assignment, "gaps": gaps})
    summary = {"members": len(members), "zones": len(zones),
               "households_assigned": int(assignment["households"].sum()),
               "households_without_member": int(gaps["households"].sum()), "out": args.out}
    _report(args, summary, f"党员 members {summary['members']}, 责任区 zones {summary['zones']}, "
            f"已覆盖户数 households covered {summary['households_assigned']}, 未覆盖 gap "
            f"{summary['households_without_member']}\n已写入 written: {args.out}")
    return 0
