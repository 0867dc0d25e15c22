"""The FastAPI application: ``create_app(settings)``.

On start it creates the data folder, migrates the database (``alembic upgrade head``) and
starts the job runner; on stop it stops the runner (running jobs are marked interrupted).
Several processes may serve the same store (``wangge serve --workers N``, the factory
:func:`app_from_env`): one of them runs the jobs (api.jobs.runner.RunnerLease).
OpenAPI docs at /docs (Swagger UI served from the swagger-ui-bundle package, api.web);
OGC API - Features under /ogc; security headers on every answer (api.web).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware

from api.auth import TokenCache
from api.errors import (
    ApiError,
    api_error_handler,
    domain_error_handler,
    overflow_error_handler,
    unicode_error_handler,
    validation_error_handler,
)
from api.guard import RequestGuard
from api.jobs.runner import JobRunner, die_with
from api.map_assets import AssetFiles, map_assets_folder
from api.routers import (
    dashboard,
    datasets,
    dispatch,
    editor,
    facilities,
    feedback,
    grids,
    incidents,
    indicators,
    levels,
    maps,
    ogc,
    open311,
    organisations,
    people,
    plans,
    posters,
    public,
    routes,
    tracks,
    visits,
    volunteers,
    wishes,
)
from api.settings import Settings
from api.store.db import Database
from api.web import SecurityHeaders, install_docs
from gis.errors import WanggeError

SERVE_PID_ENV = "WANGGE_SERVE_PID"  # the pid of ``wangge serve``, for its worker processes
WORKER_GRACE_S = 10.0  # a worker's graceful shutdown once wangge serve is gone, at most
DESCRIPTION = """网格化管理服务 Wangge service: datasets, micro-grid plans, grids, workers,
party members, incidents, jobs, and OGC API - Features (/ogc).
Authenticate with `Authorization: Bearer <token>` (`wangge token create --role ROLE`)."""


def create_app(settings: Settings | None = None, *, start_jobs: bool = True) -> FastAPI:
    """The service for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.url, settings.sqlite_synchronous, settings.db_pool_size,
                      settings.db_max_overflow)
        db.upgrade()
        app.state.db = db
        app.state.settings = settings
        app.state.read_gate = asyncio.Semaphore(settings.read_slots)  # api.deps.read_slot
        runner = JobRunner(db, settings)
        app.state.jobs = runner
        runner.lead()  # runs jobs unless another process of this service does
        if start_jobs:
            runner.start()
        # The ~270,000 objects of the loaded modules and the app will live as long as the
        # process: out of the collector's sight, a full collection pauses the process for
        # about 1 ms instead of 140 (every such pause was the tail of the reports' latency)
        gc.freeze()
        sys.setswitchinterval(settings.switch_interval_ms / 1000)  # Settings.switch_interval_ms
        try:
            yield
        finally:
            runner.stop()
            db.dispose()

    app = FastAPI(title="Wangge 网格", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, docs_url=None, redoc_url=None)  # /docs: api.web
    app.state.tokens = TokenCache(settings.token_cache_s)
    app.add_middleware(RequestGuard, settings=settings)  # inside CORS: its answers get CORS headers
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(SecurityHeaders)  # outermost: every answer gets its headers
    # Starlette types a handler as taking any Exception; each of these takes its own kind.
    app.add_exception_handler(ApiError, api_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(WanggeError, domain_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError,
                              validation_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(OverflowError, overflow_error_handler)  # type: ignore[arg-type]
    app.add_exception_handler(UnicodeError, unicode_error_handler)  # type: ignore[arg-type]
    # Incidents first: the routes are tried in order (220 us for POST /incidents behind the
    # 44 routes of the routers before it), and reports are the most frequent request; no
    # router before it had a path of its.
    for module in (incidents, datasets, plans, editor, grids, people, feedback,
                   organisations, posters, indicators, open311, routes, tracks, dispatch,
                   facilities, visits, dashboard, maps, volunteers, wishes, levels,
                   public):
        app.include_router(module.router)
    app.include_router(public.office)
    app.mount("/static/maps", AssetFiles(directory=map_assets_folder(settings), check_dir=False),
              name="map-assets")
    app.include_router(ogc.router, prefix="/ogc")
    install_docs(app)
    return app


def app_from_env() -> FastAPI:
    """The service configured from ``WANGGE_*`` (the factory each worker process of
    ``wangge serve --workers N`` calls). With ``WANGGE_SERVE_PID`` (set by ``wangge serve``
    for its workers), this process ends with that one: SIGTERM (a graceful shutdown) when
    it dies, kill -9 included, and an exit 10 s later at the latest."""
    serve_pid = os.environ.get(SERVE_PID_ENV)
    if serve_pid and int(serve_pid) != os.getpid():
        die_with(int(serve_pid), signal.SIGTERM, WORKER_GRACE_S)
    return create_app(Settings.from_env())
