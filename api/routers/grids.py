"""Grids as GeoJSON (RFC 7946), buildings of a plan, and who serves each grid
(api.services.grids). Workers see only the grids they are assigned to in the active plan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import AssignmentsEdit, GridsRead, PlansRead
from api.deps import (
    READ_SLOT,
    AppSettings,
    BBoxQuery,
    LevelCodeQuery,
    LevelQuery,
    ReadDb,
    WriteDb,
    check_limit,
    parse_bbox,
)
from api.geojson import geojson_response
from api.schemas import AssignmentIn, AssignmentOut
from api.services import grids
from api.services.scope import level_filter

router = APIRouter(tags=["grids 网格"])
SimplifyQuery = Annotated[float | None, Query(
    ge=0, le=50, description="简化 simplify outlines for display: tolerance in metres")]


@router.get("/grids", response_class=Response, summary="启用方案的网格 grids of the active "
            "plan, GeoJSON (a worker gets their own)",
            dependencies=[READ_SLOT])
def active_grids(session: ReadDb, who: GridsRead, settings: AppSettings,
                 bbox: BBoxQuery = None,
                 simplify: SimplifyQuery = None, level: LevelQuery = None,
                 code: LevelCodeQuery = None):
    return geojson_response(grids.active_grids(session, who, parse_bbox(bbox, settings),
                                               simplify, level_filter(session, level, code)))


@router.get("/grids/{code}", response_class=Response,
            summary="启用方案的一个网格 one grid of the active plan, GeoJSON Feature")
def active_grid(code: str, session: ReadDb, who: GridsRead):
    return geojson_response(grids.active_grid(session, who, code))


@router.get("/plans/{plan_id}/grids", response_class=Response,
            summary="方案的网格 a plan's grids, GeoJSON FeatureCollection",
            dependencies=[READ_SLOT])
def plan_grids(plan_id: int, session: ReadDb, who: PlansRead, settings: AppSettings,
               bbox: BBoxQuery = None, simplify: SimplifyQuery = None):
    return geojson_response(grids.plan_grids(session, who, plan_id,
                                             parse_bbox(bbox, settings), simplify))


@router.get("/plans/{plan_id}/buildings", response_class=Response,
            summary="方案的建筑 a plan's buildings with grid codes, GeoJSON",
            dependencies=[READ_SLOT])
def plan_buildings(plan_id: int, session: ReadDb, who: PlansRead, settings: AppSettings,
                   bbox: BBoxQuery = None, grid: str | None = None, limit: int = 1000,
                   offset: int = Query(0, ge=0)):
    return geojson_response(grids.plan_buildings(
        session, who, plan_id, parse_bbox(bbox, settings), grid, check_limit(limit, settings),
        offset))


@router.put("/plans/{plan_id}/grids/{code}/assignment", response_model=AssignmentOut,
            summary="指派网格员 assign a worker (or grid leader) to a grid")
def assign(plan_id: int, code: str, body: AssignmentIn, session: WriteDb,
           who: AssignmentsEdit):
    return grids.assign(session, who, plan_id, code, body)


@router.get("/plans/{plan_id}/assignments", response_model=list[AssignmentOut],
            summary="方案的网格员指派 assignments of a plan")
def plan_assignments(plan_id: int, session: ReadDb, who: PlansRead):
    return grids.plan_assignments(session, plan_id)
