"""``wangge demo``: the embedded demo data (a real OSM extract) imported, partitioned and
written out, then the service run on it, its store filled on first run (api.services.demo)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from api.cli.partition import format_plan_summary, load_progress, peak_memory_mb, step_progress

if TYPE_CHECKING:
    from partition.plan import Plan

DEFAULT_DEMO_DIR = "wangge-demo"


def register(sub) -> None:
    """Add ``demo`` to an argparse subparsers object."""
    p = sub.add_parser("demo", help="在内置演示数据上运行服务 run the service on the embedded "
                       "demo data")
    p.add_argument("--out", default=DEFAULT_DEMO_DIR, help=f"输出目录 (default {DEFAULT_DEMO_DIR})")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--no-serve", action="store_true",
                   help="只写出文件不启动服务 write the files, do not start the service")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """``wangge demo``: import the bundled demo district and plan it, writing layers and a
    summary; then, unless ``--no-serve``, serve it. Served, the plan written out is the one
    the store holds (planned on first run), so the district is planned once."""
    from api.services.demo import demo_source
    from gis.export import study_area_layers, write_geojson, write_gpkg
    from gis.study_area import format_summary, load_study_area

    out = Path(args.out)
    source = demo_source()
    print(f"演示数据 demo data: {source}")
    with load_progress() as progress:
        area = load_study_area(source, progress=progress)
    layers = study_area_layers(area)
    out.mkdir(parents=True, exist_ok=True)
    write_gpkg(layers, out / "study_area.gpkg", area.attribution)
    for name, gdf in layers.items():
        write_geojson(gdf, out / f"{name}.geojson", area.attribution)
    summary = area.summary()
    print(format_summary(summary))
    from partition.plan_io import write_plan

    started = time.perf_counter()
    if args.no_serve:
        from partition.plan import make_plan

        with step_progress(5) as advance:
            plan = make_plan(area, progress=advance)
        filled: dict = {}
    else:
        filled, plan = _fill_store(out / "data")
    write_plan(plan, out / "plan.gpkg", area.attribution)
    write_geojson(plan.grids, out / "grids.geojson", area.attribution)
    plan_summary = dict(plan.summary, seconds=round(time.perf_counter() - started, 2),
                        peak_memory_mb=peak_memory_mb(), out=str(out / "plan.gpkg"))
    summary["plan"] = plan_summary
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2),
                                      encoding="utf-8")
    print(format_plan_summary(plan_summary))
    print(f"输出目录 outputs written to: {out.resolve()}")
    print(area.attribution)
    if args.no_serve:
        return 0
    return _serve_demo(out / "data", args.host, args.port, filled.get("admin_token"))


def _fill_store(data_dir: Path) -> tuple[dict, Plan]:
    """Fill the demo store on first run (plan, workers, assignments, patrols); the store's
    active plan (EPSG:4326) with what was filled."""
    from api.services.demo import demo_service
    from api.settings import Settings
    from api.store.db import Database
    from api.store.plans import active_plan, as_partition_plan

    print("准备演示服务 preparing the demo service (first run: plan, workers, routes) ...",
          flush=True)
    filled = demo_service(data_dir)
    settings = Settings.from_env(data_dir)
    db = Database(settings.url, settings.sqlite_synchronous)
    try:
        with db.read_session() as session:
            row = active_plan(session)
            if row is None:  # demo_service activates its plan: a store changed under it
                raise RuntimeError(f"no active plan in {data_dir}")
            return filled, as_partition_plan(session, row)
    finally:
        db.dispose()


def _serve_demo(data_dir: Path, host: str, port: int, admin_token: str | None) -> int:
    """Serve the filled demo store."""
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    if admin_token:
        print(f"管理员令牌 admin token (shown once): {admin_token}")
    print(f"网格服务 Wangge service: http://{host}:{port}/docs  地图 maps: "
          f"http://{host}:{port}/maps/grids  (Ctrl+C 停止 to stop)", flush=True)
    uvicorn.run(create_app(Settings.from_env(data_dir)), host=host, port=port,
                log_level="warning")
    return 0
