"""Service settings: where data lives, which database, limits and CORS.

Read from the environment (``WANGGE_*``) with :meth:`Settings.from_env`; tests build them
directly. Sizes are in bytes, areas in km², counts in features or vertices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "wangge-data"


@dataclass(frozen=True)
class Settings:
    """What :func:`api.app.create_app` needs.

    Attributes:
        data_dir: folder for the SQLite file, uploaded datasets and exports; created on start.
        database_url: SQLAlchemy URL; None means the embedded SQLite file
            ``data_dir/wangge.db`` (WAL mode). PostgreSQL + PostGIS in production.
        cors_origins: origins allowed by CORS; empty (the default) allows none.
        max_upload_bytes: largest dataset or CSV upload.
        max_body_bytes: largest body of any other request (JSON, forms).
        max_vertices: most vertices in one geometry sent to the API.
        max_bbox_km2: largest area a bbox query may cover.
        max_page_size: largest ``limit`` of a list or items request.
        job_workers: partition jobs run at the same time (one process each).
        max_jobs_per_user: jobs one token may have queued or running; more get 429.
        max_jobs: jobs queued or running for everyone together; more get 429.
        job_retry_after_s: the Retry-After (seconds) of those 429 answers.
        sqlite_synchronous: SQLite ``synchronous`` pragma (WAL mode). NORMAL (the default):
            a committed transaction survives the death of any process (kill -9), the last
            ones may be lost in a power cut or OS crash; FULL syncs every commit and
            survives those too, at the cost of one fsync per write.
        db_pool_size: database connections each service process keeps open.
        db_max_overflow: connections it may open beyond those under load (the pool plus
            this should cover the 40 threads that run a process's requests; on PostgreSQL
            times the workers, within the server's max_connections).
        token_cache_s: seconds a process remembers a valid token (0: look it up every
            time); a token revoked in another process (the CLI, another worker) stops
            working within this time, in the same process at once.
        map_assets_dir: a folder already gathered by ``maps.ensure_assets`` to serve at
            /static/maps/ (shared by several services); None: ``data_dir/map-assets``,
            gathered on start.
        incident_rules: a JSON file of incident categories and deadlines
            (dispatch.incidents.rules.load_rules); None: the defaults.
        public_base_url: the address residents reach the service at (``https://...``, no
            trailing slash), for the absolute links and QR codes of the public notices and
            posters (api.services.public); None: the address of the request.
        hotline: the street office's telephone number for reports, printed on the public
            notices (None: none printed).
        dask_scheduler: a Dask scheduler's address (``tcp://host:8786``, or ``local`` for a
            LocalCluster in the job's process); partition jobs of datasets of at least
            ``cluster_min_buildings`` buildings then plan one community per task there
            (partition.city). None (the default): every job runs in its own process here.
        cluster_min_buildings: the smallest dataset sent to the cluster; smaller ones are
            planned faster in one process than the store and the tasks cost.
        read_slots: GeoJSON collections (grids, a plan's buildings, OGC API items) each
            process builds at the same time; more wait their turn in the event loop
            (api.deps.read_slot). One (the default): a process's Python runs one thread at a
            time anyway, and every further reading thread only makes its report writer and
            event loop wait longer for the interpreter at each statement and each answer
            (bench/load_results.md, 2026-12-04 17:50: with 10 readers on SQLite,
            248-264 reports/s with up to 40 reading threads, 323-472 with one a process).
        switch_interval_ms: how long a thread of a service process may keep the interpreter
            while another waits for it (``sys.setswitchinterval``; Python's default is 5
            ms). The report writer and the event loop give it up at every statement and
            every wait, and each time they take it back they may wait this long behind a
            reading thread; 1 ms (the default) shortens those waits.
    """

    data_dir: Path = field(default_factory=lambda: Path(DEFAULT_DATA_DIR))
    database_url: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_upload_bytes: int = 200 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024
    max_vertices: int = 10_000
    max_bbox_km2: float = 2_500.0
    max_page_size: int = 10_000
    job_workers: int = 1
    max_jobs_per_user: int = 3
    max_jobs: int = 20
    job_retry_after_s: int = 30
    sqlite_synchronous: str = "NORMAL"
    db_pool_size: int = 10
    db_max_overflow: int = 30
    token_cache_s: float = 5.0
    map_assets_dir: Path | None = None
    incident_rules: str | None = None
    public_base_url: str | None = None
    hotline: str | None = None
    dask_scheduler: str | None = None
    cluster_min_buildings: int = 20_000
    read_slots: int = 1
    switch_interval_ms: float = 1.0

    def __post_init__(self) -> None:
        if self.read_slots < 1:
            raise ValueError("WANGGE_READ_SLOTS 至少为 1 / must be at least 1")
        if not self.switch_interval_ms > 0:
            raise ValueError("WANGGE_SWITCH_INTERVAL_MS 须大于 0 / must be above 0")

    @property
    def url(self) -> str:
        """The database URL in use."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'wangge.db').resolve()}"

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from ``WANGGE_*`` environment variables; ``data_dir`` and keyword
        arguments win over them."""
        env = os.environ
        origins = tuple(o.strip() for o in env.get("WANGGE_CORS_ORIGINS", "").split(",")
                        if o.strip())
        values: dict[str, Any] = dict(
            data_dir=Path(data_dir or env.get("WANGGE_DATA_DIR", DEFAULT_DATA_DIR)),
            database_url=env.get("WANGGE_DATABASE_URL") or None,
            cors_origins=origins,
            max_upload_bytes=int(float(env.get("WANGGE_MAX_UPLOAD_MB", 200)) * 1024 * 1024),
            max_body_bytes=int(float(env.get("WANGGE_MAX_BODY_KB", 1024)) * 1024),
            max_vertices=int(env.get("WANGGE_MAX_VERTICES", 10_000)),
            max_bbox_km2=float(env.get("WANGGE_MAX_BBOX_KM2", 2_500)),
            max_page_size=int(env.get("WANGGE_MAX_PAGE_SIZE", 10_000)),
            job_workers=int(env.get("WANGGE_JOB_WORKERS", 1)),
            max_jobs_per_user=int(env.get("WANGGE_MAX_JOBS_PER_USER", 3)),
            max_jobs=int(env.get("WANGGE_MAX_JOBS", 20)),
            job_retry_after_s=int(env.get("WANGGE_JOB_RETRY_AFTER_S", 30)),
            sqlite_synchronous=env.get("WANGGE_SQLITE_SYNCHRONOUS", "NORMAL").upper(),
            db_pool_size=int(env.get("WANGGE_DB_POOL_SIZE", 10)),
            db_max_overflow=int(env.get("WANGGE_DB_MAX_OVERFLOW", 30)),
            token_cache_s=float(env.get("WANGGE_TOKEN_CACHE_S", 5)),
            map_assets_dir=Path(env["WANGGE_MAP_ASSETS"])
            if env.get("WANGGE_MAP_ASSETS") else None,
            incident_rules=env.get("WANGGE_INCIDENT_RULES") or None,
            dask_scheduler=env.get("WANGGE_DASK_SCHEDULER") or None,
            cluster_min_buildings=int(env.get("WANGGE_CLUSTER_MIN_BUILDINGS", 20_000)),
            public_base_url=(env.get("WANGGE_PUBLIC_BASE_URL") or "").rstrip("/") or None,
            hotline=env.get("WANGGE_HOTLINE") or None,
            read_slots=int(env.get("WANGGE_READ_SLOTS", 1)),
            switch_interval_ms=float(env.get("WANGGE_SWITCH_INTERVAL_MS", 1.0)),
        )
        values.update(overrides)
        return cls(**values)
