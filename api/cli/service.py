"""``wangge serve``, ``wangge token create`` and ``wangge organisations import``: the
service's command line.

api.cli adds these with ``register(sub)``; ``python -m api.cli.service`` runs them
on their own.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from api.settings import DEFAULT_DATA_DIR, Settings
from api.store.models import ROLES


def _data_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help=f"数据目录 data folder (default $WANGGE_DATA_DIR or "
                   f"./{DEFAULT_DATA_DIR}); the database is $WANGGE_DATABASE_URL if set")


def register(sub) -> None:
    """Add ``serve`` and ``token`` to an argparse subparsers object."""
    p = sub.add_parser("serve", help="启动服务 run the web service (API, OGC API, docs)")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="服务进程数 service processes (default: the CPU count, "
                   f"{os.cpu_count() or 1} here); one of them runs the jobs")
    _data_dir_option(p)
    p.set_defaults(func=cmd_serve)

    token = sub.add_parser("token", help="访问令牌 API tokens").add_subparsers(
        dest="token_command", required=True)
    p = token.add_parser("create", help="创建令牌 issue a token (printed once)")
    p.add_argument("--role", required=True, choices=ROLES,
                   help="角色 admin (街道办) | planner (规划) | worker (网格员) | reporter (上报) "
                   "| volunteer (志愿者)")
    p.add_argument("--name", default="", help="名称 who or what the token is for")
    p.add_argument("--worker", type=int, help="网格员编号 worker id (role worker)")
    p.add_argument("--organisation", type=int,
                   help="承办单位编号 organisation id (role organisation)")
    p.add_argument("--volunteer", type=int, help="志愿者编号 volunteer id (role volunteer)")
    p.add_argument("--street", type=int, help="街道编号 street id: an admin or planner of "
                   "that street's communities only (GET /levels lists the ids)")
    _data_dir_option(p)
    p.set_defaults(func=cmd_token_create)
    p = token.add_parser("revoke", help="吊销令牌 revoke a token by id")
    p.add_argument("id", type=int)
    _data_dir_option(p)
    p.set_defaults(func=cmd_token_revoke)

    orgs = sub.add_parser("organisations", help="承办单位 organisations incidents are "
                          "referred to").add_subparsers(dest="organisations_command",
                                                        required=True)
    p = orgs.add_parser("import", help="导入承办单位 import organisations from GeoJSON or "
                        "GeoPackage (one feature per area: code, name, kind, categories, "
                        "accept, handle, category_deadlines, phone); by code: created or "
                        "updated; a bad feature imports nothing")
    p.add_argument("file", help="GeoJSON / GeoPackage / zipped Shapefile")
    p.add_argument("--layer", help="GeoPackage 图层 layer (default: the first)")
    _data_dir_option(p)
    p.set_defaults(func=cmd_organisations_import)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(args.data_dir)


def _database(settings: Settings):
    from api.store.db import Database

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.url, settings.sqlite_synchronous)
    db.upgrade()
    return db


def cmd_serve(args: argparse.Namespace) -> int:
    """``wangge serve``: run the HTTP service (uvicorn) with ``--workers`` processes."""
    import uvicorn

    from api.app import SERVE_PID_ENV, create_app

    if args.workers < 1:
        print("--workers 至少为 1 / --workers must be at least 1", file=sys.stderr)
        return 2
    settings = _settings(args)
    print(f"网格服务 Wangge service: http://{args.host}:{args.port}/docs "
          f"(数据 data: {settings.data_dir.resolve()}, {args.workers} 进程 processes)",
          flush=True)
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning",
                    access_log=False)
        return 0
    # Migrate once here, not in N processes at once; each worker builds the app from the
    # environment (api.app.app_from_env) and one of them runs the jobs (api.jobs.runner).
    _database(settings).dispose()
    os.environ["WANGGE_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ[SERVE_PID_ENV] = str(os.getpid())  # the workers end with this process
    uvicorn.run("api.app:app_from_env", factory=True, workers=args.workers, host=args.host,
                port=args.port, log_level="warning", access_log=False)
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    """``wangge token create``: issue a token for a role; the secret is printed once."""
    from api.auth import issue_token

    db = _database(_settings(args))
    try:
        with db.writing() as session:
            token, secret = issue_token(session, args.role, args.name, worker_id=args.worker,
                                        organisation_id=args.organisation,
                                        volunteer_id=args.volunteer, street_id=args.street)
            token_id = token.id
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        db.dispose()
    scope = f", 街道 street {args.street}" if args.street is not None else ""
    print(f"令牌 token {token_id} ({args.role}{scope}) — 仅显示一次 shown only once:")
    print(secret)
    print("使用 use: Authorization: Bearer <token>")
    return 0


def cmd_organisations_import(args: argparse.Namespace) -> int:
    """``wangge organisations import``: organisations into the service's store, all or
    none; prints what was created and updated."""
    from api.store.organisations import save_specs
    from dispatch.incidents.referral import ORG_KINDS, read_organisations
    from dispatch.incidents.rules import load_rules
    from gis.errors import WanggeError

    settings = _settings(args)
    try:
        specs = read_organisations(args.file, load_rules(settings.incident_rules), args.layer)
    except WanggeError as exc:
        print(exc.bilingual(), file=sys.stderr)
        return 2
    db = _database(settings)
    try:
        with db.writing() as session:
            created, updated = save_specs(session, specs)
    finally:
        db.dispose()
    print(f"新建 created {len(created)}，更新 updated {len(updated)}")
    for spec in specs:
        zh, en = ORG_KINDS[spec.kind]
        print(f"  {spec.code}\t{spec.name}\t{zh} {en}\t{';'.join(sorted(spec.categories))}"
              f"\t{len(getattr(spec.area, 'geoms', [spec.area]))} 个范围 areas")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """``wangge token revoke``: revoke a token by id."""
    from api.auth import revoke_token

    db = _database(_settings(args))
    try:
        with db.writing() as session:
            done = revoke_token(session, args.id)
    finally:
        db.dispose()
    if not done:
        print(f"令牌 {args.id} 不存在或已吊销 / token {args.id} not found or already revoked",
              file=sys.stderr)
        return 2
    print(f"已吊销 revoked token {args.id}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service commands alone (serve, token); returns the exit status."""
    parser = argparse.ArgumentParser(prog="wangge", description="Wangge service commands")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
