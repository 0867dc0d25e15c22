"""Grids as GeoJSON (RFC 7946), buildings of a plan, and who serves each grid.

Workers see only the grids they are assigned to in the active plan.
"""

from __future__ import annotations

import json
from typing import Annotated

import numpy as np
import shapely
from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, allowed
from api.deps import AppSettings, BBoxQuery, ReadDb, WriteDb, check_limit, parse_bbox
from api.errors import ApiError, not_found
from api.geojson import collection_bytes, features_json, geojson_response
from api.schemas import AssignmentIn, AssignmentOut
from api.store.models import AssignmentRow, GridRow, PlanBuildingRow, PlanRow, WorkerRow
from api.store.plans import building_records, grid_records
from api.store.spatial import bbox_filter

router = APIRouter(tags=["grids 网格"])
def active_plan(session: Session) -> PlanRow:
    plan = session.scalar(select(PlanRow).where(PlanRow.status == "active"))
    if plan is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案", "no plan is active yet")
    return plan


def own_grid_ids(session: Session, principal: Principal, plan_id: int) -> list[int]:
    """Ids of the grids of ``plan_id`` that a worker is assigned to."""
    return list(session.scalars(select(AssignmentRow.grid_id).where(
        AssignmentRow.plan_id == plan_id, AssignmentRow.worker_id == principal.worker_id)))


def _plan(session: Session, plan_id: int) -> PlanRow:
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise not_found("网格方案", "plan", plan_id)
    return plan


def _members(plan: PlanRow) -> dict:
    return {"attribution": plan.attribution} if plan.attribution else {}


METRES_PER_DEGREE = 111_320.0  # of latitude; longitude degrees are shorter, so finer
SimplifyQuery = Annotated[float | None, Query(
    ge=0, le=50, description="简化 simplify outlines for display: tolerance in metres")]


def _simplified(geoms: list, simplify_m: float | None) -> list:
    if not simplify_m:
        return geoms
    array = shapely.simplify(np.array(geoms, dtype=object), simplify_m / METRES_PER_DEGREE,
                             preserve_topology=True)
    return list(shapely.orient_polygons(array, exterior_cw=False))


def _grids_geojson(session: Session, plan: PlanRow, bbox, where=None,
                   simplify_m: float | None = None) -> bytes:
    dialect = session.get_bind().dialect.name
    clauses = [c for c in (where, bbox_filter(GridRow, bbox, dialect) if bbox else None)
               if c is not None]
    clause = None
    for c in clauses:
        clause = c if clause is None else clause & c
    props, geoms = grid_records(session, plan.id, clause)
    return collection_bytes(features_json(props, _simplified(geoms, simplify_m)),
                            _members(plan))


@router.get("/grids", response_class=Response, summary="启用方案的网格 grids of the active "
            "plan, GeoJSON (a worker gets their own)")
def active_grids(session: ReadDb, who: allowed("grids.read"), settings: AppSettings,
                 bbox: BBoxQuery = None,
                 simplify: SimplifyQuery = None):
    plan = active_plan(session)
    where = GridRow.id.in_(own_grid_ids(session, who, plan.id)) if who.role == "worker" else None
    return geojson_response(_grids_geojson(session, plan, parse_bbox(bbox, settings), where,
                                           simplify))


@router.get("/grids/{code}", response_class=Response,
            summary="启用方案的一个网格 one grid of the active plan, GeoJSON Feature")
def active_grid(code: str, session: ReadDb, who: allowed("grids.read")):
    plan = active_plan(session)
    grid = session.scalar(select(GridRow).where(GridRow.plan_id == plan.id, GridRow.code == code))
    if grid is None:
        raise not_found("网格", "grid", code)
    if who.role == "worker" and grid.id not in own_grid_ids(session, who, plan.id):
        raise ApiError(403, "forbidden", "网格员只能查看本人负责的网格",
                       "a worker may only see the grids assigned to them")
    feature = json.loads(features_json(*grid_records(session, plan.id, GridRow.id == grid.id))[0])
    if plan.attribution:
        feature["attribution"] = plan.attribution
    return geojson_response(json.dumps(feature, ensure_ascii=False))


@router.get("/plans/{plan_id}/grids", response_class=Response,
            summary="方案的网格 a plan's grids, GeoJSON FeatureCollection")
def plan_grids(plan_id: int, session: ReadDb, who: allowed("plans.read"), settings: AppSettings,
               bbox: BBoxQuery = None, simplify: SimplifyQuery = None):
    plan = _plan(session, plan_id)
    return geojson_response(_grids_geojson(session, plan, parse_bbox(bbox, settings),
                                           simplify_m=simplify))


@router.get("/plans/{plan_id}/buildings", response_class=Response,
            summary="方案的建筑 a plan's buildings with grid codes, GeoJSON")
def plan_buildings(plan_id: int, session: ReadDb, who: allowed("plans.read"), settings: AppSettings,
                   bbox: BBoxQuery = None, grid: str | None = None, limit: int = 1000,
                   offset: int = Query(0, ge=0)):
    plan = _plan(session, plan_id)
    check_limit(limit, settings)
    box = parse_bbox(bbox, settings)
    query = select(PlanBuildingRow.id).where(PlanBuildingRow.plan_id == plan.id)
    if box:
        query = query.where(bbox_filter(PlanBuildingRow, box, session.get_bind().dialect.name))
    if grid:
        query = query.where(PlanBuildingRow.grid_code == grid)
    ids = list(session.scalars(query.order_by(PlanBuildingRow.id).limit(limit).offset(offset)))
    records = building_records(session, plan.id, PlanBuildingRow.id.in_(ids))
    return geojson_response(collection_bytes(features_json(*records), _members(plan)))


@router.put("/plans/{plan_id}/grids/{code}/assignment", response_model=AssignmentOut,
            summary="指派网格员 assign a worker (or grid leader) to a grid")
def assign(plan_id: int, code: str, body: AssignmentIn, session: WriteDb,
           who: allowed("assignments.edit")):
    _plan(session, plan_id)
    grid = session.scalar(select(GridRow).where(GridRow.plan_id == plan_id, GridRow.code == code))
    if grid is None:
        raise not_found("网格", "grid", code)
    if session.get(WorkerRow, body.worker_id) is None:
        raise not_found("网格员", "worker", body.worker_id)
    row = session.scalar(select(AssignmentRow).where(
        AssignmentRow.plan_id == plan_id, AssignmentRow.grid_id == grid.id,
        AssignmentRow.role == body.role))
    if row is None:
        row = AssignmentRow(plan_id=plan_id, grid_id=grid.id, role=body.role)
        session.add(row)
    row.worker_id, row.source = body.worker_id, "manual"
    session.flush()
    out = AssignmentOut.model_validate(row).model_copy(update={"grid_code": code})
    session.commit()
    return out


@router.get("/plans/{plan_id}/assignments", response_model=list[AssignmentOut],
            summary="方案的网格员指派 assignments of a plan")
def plan_assignments(plan_id: int, session: ReadDb, who: allowed("plans.read")):
    _plan(session, plan_id)
    rows = session.execute(select(AssignmentRow, GridRow.code)
                           .join(GridRow, GridRow.id == AssignmentRow.grid_id)
                           .where(AssignmentRow.plan_id == plan_id).order_by(GridRow.code))
    return [AssignmentOut.model_validate(a).model_copy(update={"grid_code": c})
            for a, c in rows]
