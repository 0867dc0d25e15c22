"""``wangge facilities coverage`` and ``wangge facilities site``: walking coverage of
neighbourhood facilities over a study area, and where k new ones serve the most households.

Both read the study area (OSM: buildings with households and the walk network) and the
facilities (``--facilities FILE``, default the area's own OSM amenities; dispatch.facilities).
``site`` writes the proposed sites as GeoJSON, atomically; messages in Chinese with English.
"""

from __future__ import annotations

import argparse
import json

from dispatch.facilities.types import FACILITY_TYPES


def register(sub) -> None:
    """Add ``facilities coverage`` and ``facilities site`` to an argparse subparsers object."""
    group = sub.add_parser("facilities", help="设施步行覆盖与选址 facility coverage and siting")
    commands = group.add_subparsers(dest="facilities_command", required=True)

    p = commands.add_parser("coverage", help="各类设施步行覆盖 households within a walk, by type")
    _common(p)
    p.add_argument("--type", action="append", choices=list(FACILITY_TYPES),
                   help="设施类型 facility type (repeatable; default all)")
    p.set_defaults(func=cmd_coverage)

    p = commands.add_parser("site", help="新设施选址 where k new facilities serve the most")
    _common(p)
    p.add_argument("--type", required=True, choices=list(FACILITY_TYPES),
                   help="设施类型 facility type")
    p.add_argument("-k", type=int, required=True, help="新增数量 how many new facilities")
    p.add_argument("--sites", help="候选地点 candidate sites (CSV lon,lat / GeoJSON points); "
                   "default: street nodes")
    p.add_argument("--max-candidates", type=int, default=2000,
                   help="街道节点候选上限 street-node candidates at most (default 2000)")
    p.add_argument("--seconds", type=float, default=60.0, help="time limit (default 60)")
    p.add_argument("--out", required=True, help="输出 GeoJSON of the proposed sites")
    p.set_defaults(func=cmd_site)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("area", help="研究区 the study area (OSM file with buildings and streets)")
    p.add_argument("--facilities", help="设施文件 facilities (CSV, GeoJSON, GeoPackage, OSM); "
                   "default: the area's OSM amenities")
    p.add_argument("--distance", type=float,
                   help="步行距离（米） walking distance, m (default by type)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _load(args):
    from dispatch.facilities.reading import facilities_from_osm, read_facilities
    from dispatch.routing.network import WalkNetwork
    from gis.osm import is_osm_path
    from gis.study_area import load_study_area

    area = load_study_area(args.area)
    net = WalkNetwork.from_graph(area.streets)
    if args.facilities:
        facilities = read_facilities(args.facilities)
    elif is_osm_path(args.area):
        facilities = facilities_from_osm(args.area)
    else:
        from gis.errors import ArgumentError

        raise ArgumentError("研究区不是 OSM 文件：请用 --facilities 指定设施文件",
                            "the area is no OSM file: give the facilities with --facilities")
    return area, net, facilities


def cmd_coverage(args: argparse.Namespace) -> int:
    """``wangge facilities coverage``: per type, households within and beyond the walk."""
    from dispatch.facilities.coverage import facility_coverage
    from dispatch.facilities.types import walking_distance

    area, net, facilities = _load(args)
    types = args.type or list(FACILITY_TYPES)
    result = facility_coverage(net, area.buildings, facilities, types=types,
                               distances={t: walking_distance(t, args.distance) for t in types})
    rows = [c.summary() for c in result.values()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    for r in rows:
        print(f"{r['name_zh']} {r['name_en']}: {r['facilities']} 处 facilities, 步行 walk "
              f"{r['distance_m']:g} 米 m: 覆盖 covered {r['households_covered']} 户 households "
              f"({r['share_covered']:.1%}), 超出 beyond {r['households_beyond']} 户 in "
              f"{r['buildings_beyond']} 栋 buildings")
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    """``wangge facilities site``: k new sites, proven best or with the gap, as GeoJSON."""
    import geopandas as gpd
    import shapely

    from dispatch.facilities import siting
    from dispatch.facilities.types import walking_distance
    from gis.export import write_geojson

    area, net, facilities = _load(args)
    distance = walking_distance(args.type, args.distance)
    if args.sites:
        from dispatch.facilities.reading import read_sites

        candidates = siting.point_candidates(net, read_sites(args.sites))
    else:
        candidates = siting.street_candidates(net, args.max_candidates)
    existing = facilities[facilities["type"] == args.type]
    result = siting.site_facilities(net, area.buildings, existing, candidates, args.k, distance,
                                    time_limit_s=args.seconds)
    sites = gpd.GeoDataFrame(
        {"rank": list(range(1, len(result.chosen) + 1)), "type": args.type,
         "households_new": result.gains},
        geometry=shapely.points(candidates.x[result.chosen], candidates.y[result.chosen]),
        crs=net.crs).to_crs("EPSG:4326")
    write_geojson(sites, args.out, area.attribution)
    total = result.households or 1
    summary = {"type": args.type, "distance_m": distance, "k": args.k,
               "households": result.households, "covered_before": result.covered_before,
               "covered_after": result.covered_after,
               "greedy_covered_after": result.greedy_covered_after, "status": result.status,
               "gap": round(result.gap, 6), "seconds": round(result.seconds, 2),
               "gains": result.gains, "out": args.out}
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0
    print(f"{FACILITY_TYPES[args.type].zh} {args.type}: 新增 {len(result.chosen)} 处 new sites, "
          f"覆盖 served {result.covered_before} → {result.covered_after} 户 households "
          f"({result.covered_before / total:.1%} → {result.covered_after / total:.1%}); "
          f"贪心 greedy {result.greedy_covered_after}; {result.status}, gap {result.gap:.2%}, "
          f"{result.seconds:.1f} s\n已写入 written: {args.out}")
    return 0
