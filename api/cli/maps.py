"""``wangge map VIEW --out FILE`` and ``wangge assets install``.

``wangge map`` writes one view of maps/ as a standalone HTML file that opens from disk with
Leaflet and its plugins in a folder beside it (FILE's stem + ``_files``): no request goes to
any other host unless a basemap is asked for with ``--tiles``. It reads only through maps/ and
the gis/partition readers.
"""

from __future__ import annotations

import argparse
import sys

from gis.errors import WanggeError
from partition.metrics import BALANCE_LIMIT_PCT

VIEWS = ("grids", "party-zones", "incidents", "route", "coverage", "compare")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``map`` and ``assets`` commands to the ``wangge`` sub-command parser."""
    p = sub.add_parser("map", help="生成地图 write a map as a standalone HTML file")
    p.add_argument("view", choices=VIEWS, help="地图 view: " + ", ".join(VIEWS))
    p.add_argument("--out", required=True, help="输出 HTML file (assets go beside it)")
    p.add_argument("--plan", help="网格方案 PLAN.gpkg (wangge partition)")
    p.add_argument("--old-plan", help="原方案 the earlier PLAN.gpkg (compare)")
    p.add_argument("--area", help="研究区 study area .gpkg from wangge import --out "
                   "(communities, barriers, streets; drawn as the basemap)")
    p.add_argument("--workers", help="网格员 CSV: worker_id,name,grids (codes separated by ;)")
    p.add_argument("--zones", help="党员责任区 zones file: member_id,name,grid_id,households")
    p.add_argument("--incidents", help="事件 incidents file: incident_id,category,stage,"
                   "deadline,overdue")
    p.add_argument("--route", help="路线 route GeoJSON (see maps.inputs)")
    p.add_argument("--service-points", help="服务点 points file (name)")
    p.add_argument("--walk-limit", type=float, default=500.0,
                   help="步行距离上限 walking distance limit, m (default 500)")
    p.add_argument("--tolerance-pct", type=float, default=BALANCE_LIMIT_PCT,
                   help="户数偏差容限 deviation beyond which a grid is a gap, %% "
                   f"(default {BALANCE_LIMIT_PCT:g})")
    p.add_argument("--lang", choices=["zh", "en"], default="zh", help="语言 language")
    p.add_argument("--tiles", help="底图 basemap: osm, tianditu, gaode or a URL template "
                   "(default: none, fully offline)")
    p.add_argument("--tiles-key", help="底图密钥 basemap key (Tianditu)")
    p.set_defaults(func=cmd_map)

    assets = sub.add_parser("assets", help="地图资源 map scripts and styles").add_subparsers(
        dest="assets_command", required=True)
    p = assets.add_parser("install", help="安装 gather Leaflet and its plugins (PyPI, npm)")
    p.add_argument("--data-dir", help="数据目录 data folder (default ~/.cache/wangge)")
    p.add_argument("--force", action="store_true", help="重新安装 reinstall")
    p.set_defaults(func=cmd_assets_install)


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if not getattr(args, n)]
    if missing:
        raise ValueError(f"地图 {args.view} 需要 {' '.join(missing)} / the {args.view} map "
                         f"needs {' '.join(missing)}")


def _build(args: argparse.Namespace):
    import maps
    from gis.basemap import basemap_layers
    from gis.vector_files import read_vector
    from maps.inputs import read_area_layers, read_route, read_workers
    from partition.plan_io import read_plan

    maps.MapOptions(tiles=args.tiles, tiles_key=args.tiles_key).provider()  # bad --tiles: first
    area = read_area_layers(args.area) if args.area else {}
    # the study area's own streets, water, green and buildings under the map: no tiles needed
    basemap = basemap_layers(**{k: area.get(k) for k in ("streets", "barriers", "green",
                                                          "buildings", "communities")})
    options = maps.MapOptions(lang=args.lang, tiles=args.tiles, tiles_key=args.tiles_key,
                              basemap=basemap if area else None)
    workers = read_workers(args.workers) if args.workers else None
    grids, buildings = read_plan(args.plan) if args.plan else (None, None)
    zones = read_vector(args.zones) if args.zones else None
    incidents = read_vector(args.incidents) if args.incidents else None
    if args.view == "grids":
        _need(args, "plan")
        return maps.grid_plan_map(grids, buildings, workers=workers,
                                  communities=area.get("communities"),
                                  barriers=area.get("barriers"), streets=area.get("streets"),
                                  options=options)
    if args.view == "party-zones":
        _need(args, "zones")
        return maps.party_zones_map(zones, grids=grids, buildings=buildings, options=options)
    if args.view == "incidents":
        _need(args, "incidents")
        return maps.incidents_map(incidents, grids=grids, options=options)
    if args.view == "route":
        _need(args, "route")
        route = read_route(args.route)
        return maps.route_map(route.stops, route.path, patrol=route.patrol,
                              distance_m=route.distance_m, duration_s=route.duration_s,
                              worker_name=route.worker_name, streets=area.get("streets"),
                              options=options)
    if args.view == "coverage":
        _need(args, "plan")
        points = read_vector(args.service_points) if args.service_points else None
        return maps.coverage_map(grids, buildings, workers=workers, zones=zones,
                                 service_points=points, streets=area.get("streets"),
                                 walk_limit_m=args.walk_limit, incidents=incidents,
                                 tolerance_pct=args.tolerance_pct, options=options)
    _need(args, "plan", "old_plan")
    old_grids, old_buildings = read_plan(args.old_plan)
    return maps.compare_map(old_grids, grids, old_buildings, buildings, options=options)


def cmd_map(args: argparse.Namespace) -> int:
    """Write the view; exit 2 with a bilingual message on bad input."""
    from maps import save_standalone

    try:
        out = save_standalone(_build(args), args.out)
    except ValueError as exc:  # bad arguments (gis.errors.ArgumentError) and bad input
        print(exc.bilingual() if isinstance(exc, WanggeError) else str(exc), file=sys.stderr)
        return 2
    print(f"已写入 written: {out} (+ {out.stem}_files/)")
    return 0


def cmd_assets_install(args: argparse.Namespace) -> int:
    """Gather Leaflet (PyPI) and the npm plugins into the assets folder; print where."""
    from maps import AssetsError, install_assets

    try:
        folder = install_assets(args.data_dir, force=args.force)
    except AssetsError as exc:
        print(exc.bilingual(), file=sys.stderr)
        return 2
    print(f"地图资源 map assets: {folder}")
    return 0
