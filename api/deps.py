"""What the routers share: FastAPI dependencies (database sessions, settings, the incident
rules and the grid index of the app, paging and bbox parameters) and the 202 answer of a
queued job. Dependencies that only read the app's state are ``async``: FastAPI runs a plain
function dependency in a worker thread, a trip that costs more than the function."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.errors import ApiError, domain_errors_answer
from api.schemas import JobOut
from api.services.basemap import BasemapStore
from api.services.grid_index import GridLocator
from api.services.incidents import rules_in_force
from api.services.jobs import job_out
from api.settings import Settings
from api.store.models import JobRow
from api.store.spatial import bbox_area_km2
from dispatch.incidents.rules import Rules


def read_session(request: Request) -> Iterator[Session]:
    """A read-only database session for one request."""
    with request.app.state.db.read_session() as session:
        yield session


def write_session(request: Request) -> Iterator[Session]:
    """A session whose transaction holds the write lock on SQLite; endpoints commit it."""
    with request.app.state.db.write_session() as session:
        yield session


async def settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


ReadDb = Annotated[Session, Depends(read_session)]
WriteDb = Annotated[Session, Depends(write_session)]
AppSettings = Annotated[Settings, Depends(settings)]


def read_gate(state) -> asyncio.Semaphore:
    """The process's gate for building GeoJSON collections (Settings.read_slots turns);
    made by the app's start in its event loop, else on first use."""
    gate = getattr(state, "read_gate", None)
    if gate is None:
        gate = state.read_gate = asyncio.Semaphore(state.settings.read_slots)
    return gate


async def read_slot(request: Request) -> AsyncIterator[None]:
    """Wait, in the event loop, for a turn to build a GeoJSON collection; held until the
    endpoint's function returns (not while its answer is sent)."""
    async with read_gate(request.app.state):
        yield


READ_SLOT = Depends(read_slot, scope="function")
"""The dependency of the endpoints that build whole GeoJSON collections (the grids, a plan's
buildings, OGC API items): a process builds ``Settings.read_slots`` of them at a time.
They are the service's heaviest frequent reads (1.7-4 ms of CPU each, in a worker thread);
with many at once the threads take turns on the one interpreter of the process, and the
report writer's thread and the event loop, which need it for a moment between statements
and answers, wait behind all of them (bench/load_results.md, 2026-12-04 17:50)."""


async def incident_rules(request: Request) -> Rules:
    """The categories and deadlines in force (Settings.incident_rules), loaded once."""
    state = request.app.state
    if getattr(state, "incident_rules", None) is None:
        state.incident_rules = rules_in_force(state.settings)
    return state.incident_rules


async def grid_locator(request: Request) -> GridLocator:
    """The app's cache of plan grids (api.services.grid_index)."""
    state = request.app.state
    if getattr(state, "grid_locator", None) is None:
        state.grid_locator = GridLocator()
    return state.grid_locator


def basemap_store(request: Request) -> BasemapStore:
    """The app's basemaps of datasets (api.services.basemap), made once per app."""
    state = request.app.state
    if getattr(state, "basemaps", None) is None:
        state.basemaps = BasemapStore(state.settings.data_dir)
    return state.basemaps


IncidentRules = Annotated[Rules, Depends(incident_rules)]
Grids = Annotated[GridLocator, Depends(grid_locator)]
Basemaps = Annotated[BasemapStore, Depends(basemap_store)]
# Where an incident error means the step is not allowed in the incident's stage (or no worker
# can take it): 409, not the table's 422 (an incident's actions, a worker going off duty).
STEP_NOT_ALLOWED = domain_errors_answer(409, "bad_transition")


def job_accepted(response: Response, job: JobRow) -> JobOut:
    """The answer to a request that queued ``job``: 202 (the endpoint's status) with its
    ``Location``, to poll."""
    response.headers["Location"] = f"/jobs/{job.id}"
    return job_out(job)


def check_limit(limit: int, settings: Settings) -> int:
    """``limit`` within 1..max_page_size (400 with a bilingual message otherwise)."""
    if limit < 1 or limit > settings.max_page_size:
        raise ApiError(400, "bad_limit",
                       f"每页数量 limit 应在 1 到 {settings.max_page_size} 之间，收到 {limit}",
                       f"limit must be between 1 and {settings.max_page_size}, got {limit}")
    return limit


def parse_bbox(text: str | None, settings: Settings) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` (WGS84) checked for form, order and area."""
    if text is None or text == "":
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 6:  # minx, miny, minz, maxx, maxy, maxz: the heights do not matter
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4:
        raise ApiError(400, "bad_bbox",
                       f"bbox 格式应为 最小经度,最小纬度,最大经度,最大纬度：{text}",
                       f"bbox must be minLon,minLat,maxLon,maxLat: {text}")
    minx, miny, maxx, maxy = values
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise ApiError(400, "bad_bbox", f"bbox 超出经纬度范围或顺序颠倒：{text}",
                       f"bbox outside lon/lat ranges or corners swapped: {text}")
    if minx > maxx:
        raise ApiError(400, "bad_bbox", "不支持跨越 180° 经线的 bbox",
                       "a bbox across the antimeridian is not supported")
    area = bbox_area_km2((minx, miny, maxx, maxy))
    if area > settings.max_bbox_km2:
        raise ApiError(400, "bbox_too_large",
                       f"bbox 面积 {area:.0f} km² 超过上限 {settings.max_bbox_km2:g} km²，"
                       "请缩小范围",
                       f"bbox covers {area:.0f} km², more than the limit of "
                       f"{settings.max_bbox_km2:g} km²: ask for a smaller area")
    return minx, miny, maxx, maxy


LevelQuery = Annotated[str | None, Query(
    description="层级 level asked for: community, street or district (with code)")]
LevelCodeQuery = Annotated[str | None, Query(
    description="层级代码 the level's code: a community's, a street's 9 digits, a district's 6 "
    "(GB/T 2260)", examples=["320106001"])]

BBoxQuery = Annotated[str | None, Query(
    description="minLon,minLat,maxLon,maxLat (WGS84)", examples=["118.77,32.03,118.79,32.05"])]
