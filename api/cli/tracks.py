"""``wangge track import``: a worker's GPS track into the store, measured against their route.

The same as ``POST /routes/{id}/tracks`` (api.services.tracks), run on the data folder's store
by someone who holds it (the office): the route by id, or by worker, day and kind.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from api.cli.service import _data_dir_option, _database, _settings


def register(sub) -> None:
    """Add ``track import`` to an argparse subparsers object."""
    track = sub.add_parser("track", help="巡查轨迹 GPS tracks").add_subparsers(
        dest="track_command", required=True)
    p = track.add_parser("import", help="导入轨迹 import a GPS track (GPX 1.1 or GeoJSON) for "
                         "a worker's route and print what it shows")
    p.add_argument("file", type=Path, help="轨迹文件 the track (.gpx, .geojson)")
    p.add_argument("--route", type=int, help="路线编号 route id")
    p.add_argument("--worker", type=int, help="网格员编号 worker id (with --day)")
    p.add_argument("--day", type=date.fromisoformat, help="日期 day, YYYY-MM-DD")
    p.add_argument("--kind", choices=("patrol", "visits"), default="patrol",
                   help="路线类型 route kind (default patrol)")
    p.add_argument("--datum", default="wgs84",
                   help="坐标系 wgs84 (GPS) | gcj02 (高德/腾讯/微信) | bd09 (百度)")
    _data_dir_option(p)
    p.set_defaults(func=cmd_track_import)


def _route_id(db, args: argparse.Namespace) -> int | None:
    from sqlalchemy import select

    from api.store import models as m

    if args.route is not None:
        return int(args.route)
    if args.worker is None or args.day is None:
        return None
    with db.read_session() as session:
        found = session.scalar(select(m.RouteRow.id).where(
            m.RouteRow.worker_id == args.worker, m.RouteRow.day == args.day,
            m.RouteRow.kind == args.kind).order_by(m.RouteRow.id.desc()))
    return None if found is None else int(found)


def cmd_track_import(args: argparse.Namespace) -> int:
    """``wangge track import``: store the track and print its figures (zh / en)."""
    from api.auth import Principal
    from api.errors import ApiError
    from api.services.tracks import upload_track
    from gis.errors import check_file

    settings = _settings(args)
    path = check_file(args.file)
    db = _database(settings)
    try:
        route_id = _route_id(db, args)
        if route_id is None:
            print("请给出 --route，或 --worker 与 --day（该日须有路线）\n"
                  "give --route, or --worker and --day (a day with a route)", file=sys.stderr)
            return 2
        office = Principal(token_id=0, role="admin", name="wangge track import")
        try:
            track = upload_track(db, settings, office, route_id, path.read_bytes(), path.name,
                                 args.datum)
        except ApiError as exc:
            print(f"{exc.zh}\n{exc.en}", file=sys.stderr)
            return 2
    finally:
        db.dispose()
    f = track.figures
    dropped = ", ".join(f"{k} {v}" for k, v in track.dropped.items() if v)
    coverage = "—" if track.coverage is None else f"{track.coverage:.1%}"
    print(f"轨迹 track {track.id}: route {track.route_id}, worker {track.worker_id}, "
          f"{track.day}, {f.get('start')} – {f.get('end')}")
    print(f"  点 points {track.raw_points}; 剔除 dropped: {dropped or 'none'}")
    print(f"  巡查覆盖率 coverage {coverage} of {track.planned_m:.0f} m planned; "
          f"走过 walked {track.walked_m:.0f} m; 计划外 detours {f.get('detour_m', 0):.0f} m")
    for s in f.get("missed_streets", [])[:10]:
        print(f"  漏巡 missed: {s['name']} {s['length_m']:.0f} m")
    for g in f.get("grids", []):
        ok = "达标 patrolled" if g["patrolled"] else "不足 short"
        print(f"  网格 grid {g['code']}: {g['minutes']:.0f} min, {ok}")
    for s in f.get("stops", []):
        got = f"到达 reached {s['arrival']}" if s["reached"] else "未到达 not reached"
        print(f"  站点 stop {s['name'] or s['ref']}: {got}")
    return 0
