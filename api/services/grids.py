"""Grids as GeoJSON (RFC 7946), buildings of a plan, and who serves each grid.

Workers see only the grids they are assigned to in the active plan, a street's admins and
planners those of its communities (api.services.scope); any caller may ask for one community,
street or district. GeoJSON comes out as text assembled from stored features (api.geojson),
WGS84 lon/lat.

A plan's grids change only while it is a draft (api.services.editor); once active or
archived, each process keeps the text of their features (geometry and figures: about 4.5 KB a
grid) and a request reads only which grids it gets and who is assigned to them, then joins
the texts: the same bytes, about a tenth of the CPU (a plan's 180 grids in 3 ms instead of
30). The cache is keyed by the database, the plan's id and its creation time.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.geojson import collection_bytes, dumps, features_json
from api.schemas import AssignmentIn, AssignmentOut
from api.services.plans import plan_row
from api.services.scope import LevelFilter, grids_clause, out_of_scope, visible_communities
from api.store.models import AssignmentRow, GridRow, PlanBuildingRow, PlanRow, WorkerRow
from api.store.plans import active_plan as stored_active_plan
from api.store.plans import building_records, grid_records, grid_workers
from api.store.spatial import bbox_filter

METRES_PER_DEGREE = 111_320.0  # of latitude; longitude degrees are shorter, so finer
BBox = tuple[float, float, float, float]


def active_plan(session: Session) -> PlanRow:
    """The active plan; 404 when none is active."""
    plan = stored_active_plan(session)
    if plan is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案", "no plan is active yet")
    return plan


def own_grid_ids(session: Session, principal: Principal, plan_id: int) -> list[int]:
    """Ids of the grids of ``plan_id`` that a worker is assigned to."""
    return list(session.scalars(select(AssignmentRow.grid_id).where(
        AssignmentRow.plan_id == plan_id, AssignmentRow.worker_id == principal.worker_id)))


def _members(plan: PlanRow) -> dict:
    return {"attribution": plan.attribution} if plan.attribution else {}


def _simplified(geoms: list, simplify_m: float | None) -> list:
    if not simplify_m:
        return geoms
    array = shapely.simplify(np.array(geoms, dtype=object), simplify_m / METRES_PER_DEGREE,
                             preserve_topology=True)
    return list(shapely.orient_polygons(array, exterior_cw=False))


def _grids_geojson(session: Session, plan: PlanRow, bbox: BBox | None, *where,
                   simplify_m: float | None = None) -> bytes:
    dialect = session.get_bind().dialect.name
    clauses = [c for c in (*where, bbox_filter(GridRow, bbox, dialect) if bbox else None)
               if c is not None]
    clause = None
    for c in clauses:
        clause = c if clause is None else clause & c
    if plan.status != "draft" and not simplify_m:
        return _cached_collection(session, plan, clause)
    props, geoms = grid_records(session, plan.id, clause)
    return collection_bytes(features_json(props, _simplified(geoms, simplify_m)),
                            _members(plan))


@dataclass(frozen=True)
class _Feature:
    """A grid's Feature as text, but for its assigned worker: ``head`` ends inside its
    properties, :meth:`text` closes them with the worker (as grid_records sets them)."""

    head: str
    props: dict | None  # when its own properties name a worker: joined as a dict instead

    def text(self, worker: tuple[int | None, str | None]) -> str:
        if self.props is not None:
            props = {**self.props}
            props["worker_id"], props["worker"] = worker
            return f"{self.head}{dumps(props)}}}"
        return f'{self.head},"worker_id":{dumps(worker[0])},"worker":{dumps(worker[1])}}}}}'


_FEATURES: dict[tuple, dict[int, _Feature]] = {}  # (database, plan, created) -> grid id -> text
_FEATURES_LOCK = threading.Lock()
MAX_CACHED_PLANS = 8
_BODIES: dict[tuple, bytes] = {}  # (database, plan, created, attribution, grids) -> answer
MAX_CACHED_BODIES = 16


def _plan_features(session: Session, plan: PlanRow) -> dict[int, _Feature]:
    """The features of a plan that is not a draft, by grid id, made once per process."""
    key = (str(session.get_bind().engine.url), plan.id, plan.created_at)
    with _FEATURES_LOCK:
        cached = _FEATURES.get(key)
    if cached is not None:
        return cached
    ids = list(session.scalars(select(GridRow.id).where(GridRow.plan_id == plan.id)
                               .order_by(GridRow.code)))
    props, geoms = grid_records(session, plan.id)
    features = {}
    for grid_id, text, record in zip(ids, features_json(props, geoms), props, strict=True):
        static = {k: v for k, v in record.items() if k not in ("worker_id", "worker")}
        if len(static) == len(record) - 2 and list(record)[-2:] == ["worker_id", "worker"]:
            head = text[:text.rindex(',"properties":')] + ',"properties":' + \
                dumps(static)[:-1]
            features[grid_id] = _Feature(head, None)
        else:  # the grid's own properties have these keys: keep their places
            head = text[:text.rindex(',"properties":')] + ',"properties":'
            features[grid_id] = _Feature(head, record)
    with _FEATURES_LOCK:
        if len(_FEATURES) >= MAX_CACHED_PLANS:
            _FEATURES.clear()
        _FEATURES[key] = features
    return features


def _cached_collection(session: Session, plan: PlanRow, clause) -> bytes:
    """The FeatureCollection of the plan's grids matching ``clause``, in code order (what
    features_json makes of grid_records), from the cache: the features' texts, and the
    whole answer while the same grids have the same workers."""
    features = _plan_features(session, plan)
    query = select(GridRow.id).where(GridRow.plan_id == plan.id).order_by(GridRow.code)
    if clause is not None:
        query = query.where(clause)
    ids = list(session.scalars(query))
    workers = grid_workers(session, plan.id)
    chosen = tuple((i, workers.get(i, (None, None))) for i in ids)
    key = (str(session.get_bind().engine.url), plan.id, plan.created_at, plan.attribution,
           chosen)
    with _FEATURES_LOCK:
        body = _BODIES.get(key)
    if body is None:
        body = collection_bytes([features[i].text(w) for i, w in chosen], _members(plan))
        with _FEATURES_LOCK:
            if len(_BODIES) >= MAX_CACHED_BODIES:
                _BODIES.clear()
            _BODIES[key] = body
    return body


_BUILDINGS: dict[tuple, dict[int, str]] = {}  # (database, plan, created, ids) -> row id -> text
MAX_CACHED_BUILDINGS = 200_000  # building texts a process keeps (about 600 bytes each)


def building_features(session: Session, plan_id: int, rows: list[int], *,
                      ids: bool) -> list[str]:
    """The Feature texts of the building rows ``rows`` of a plan, in id order (what
    features_json makes of building_records; with the building id as the Feature's id if
    ``ids``). A plan that is no longer a draft never changes: each process keeps the texts
    it made of its buildings (an OGC API page of 100 in about a third of the CPU)."""
    b = PlanBuildingRow
    plan = session.execute(select(PlanRow.status, PlanRow.created_at)
                           .where(PlanRow.id == plan_id)).one_or_none()

    def made(wanted: list[int]) -> list[str]:
        props, geoms = building_records(session, plan_id, b.id.in_(wanted))
        return features_json(props, geoms, [str(p["building_id"]) for p in props]
                             if ids else None)

    if plan is None or plan.status == "draft" or not rows:
        return made(rows)
    key = (str(session.get_bind().engine.url), plan_id, plan.created_at, ids)
    with _FEATURES_LOCK:
        texts = _BUILDINGS.setdefault(key, {})
        missing = [i for i in rows if i not in texts]
    if missing:
        found = list(session.scalars(select(b.id).where(b.plan_id == plan_id,
                                                        b.id.in_(missing)).order_by(b.id)))
        new = dict(zip(found, made(found), strict=True))
        with _FEATURES_LOCK:
            if sum(map(len, _BUILDINGS.values())) + len(new) > MAX_CACHED_BUILDINGS:
                _BUILDINGS.clear()
            _BUILDINGS.setdefault(key, {}).update(new)
        texts = {**texts, **new}
    return [texts[i] for i in sorted(rows) if i in texts]


def active_grids(session: Session, who: Principal, bbox: BBox | None,
                 simplify_m: float | None, asked: LevelFilter | None = None) -> bytes:
    """The active plan's grids as a FeatureCollection (a worker: their own; a street's
    admin: its communities'), of the level ``asked`` for."""
    plan = active_plan(session)
    own = (GridRow.id.in_(own_grid_ids(session, who, plan.id)) if who.role == "worker"
           else None)
    return _grids_geojson(session, plan, bbox, own,
                          grids_clause(visible_communities(who, asked)), simplify_m=simplify_m)


def active_grid(session: Session, who: Principal, code: str) -> str:
    """One grid of the active plan as a Feature (403 for a worker not assigned to it)."""
    plan = active_plan(session)
    grid = session.scalar(select(GridRow).where(GridRow.plan_id == plan.id,
                                                GridRow.code == code))
    if grid is None:
        raise not_found("网格", "grid", code)
    if who.role == "worker" and grid.id not in own_grid_ids(session, who, plan.id):
        raise ApiError(403, "forbidden", "网格员只能查看本人负责的网格",
                       "a worker may only see the grids assigned to them")
    check_grid_in_scope(session, who, grid)
    feature = json.loads(features_json(*grid_records(session, plan.id,
                                                     GridRow.id == grid.id))[0])
    if plan.attribution:
        feature["attribution"] = plan.attribution
    return json.dumps(feature, ensure_ascii=False)


def check_grid_in_scope(session: Session, who: Principal, grid: GridRow) -> None:
    """403 when ``grid`` lies outside the communities of the caller's street."""
    codes = visible_communities(who)
    if codes is not None and session.scalar(
            select(GridRow.id).where(GridRow.id == grid.id, GridRow.community.in_(codes))) is None:
        raise out_of_scope("网格", "grid")


def plan_grids(session: Session, who: Principal, plan_id: int, bbox: BBox | None,
               simplify_m: float | None) -> bytes:
    """A plan's grids as a FeatureCollection (a street's staff: its communities')."""
    return _grids_geojson(session, plan_row(session, plan_id), bbox,
                          grids_clause(visible_communities(who)), simplify_m=simplify_m)


def plan_buildings(session: Session, who: Principal, plan_id: int, bbox: BBox | None,
                   grid: str | None, limit: int, offset: int) -> bytes:
    """A page of a plan's buildings with their grid codes, as a FeatureCollection (a
    street's staff: in its communities)."""
    plan = plan_row(session, plan_id)
    query = select(PlanBuildingRow.id).where(PlanBuildingRow.plan_id == plan.id)
    codes = visible_communities(who)
    if codes is not None:
        query = query.where(PlanBuildingRow.community.in_(codes))
    if bbox:
        query = query.where(bbox_filter(PlanBuildingRow, bbox, session.get_bind().dialect.name))
    if grid:
        query = query.where(PlanBuildingRow.grid_code == grid)
    ids = list(session.scalars(query.order_by(PlanBuildingRow.id).limit(limit).offset(offset)))
    return collection_bytes(building_features(session, plan.id, ids, ids=False),
                            _members(plan))


def assign(session: Session, who: Principal, plan_id: int, code: str,
           body: AssignmentIn) -> AssignmentOut:
    """Make ``body.worker_id`` the grid's worker or leader (by hand; a street's admin: in its
    communities); committed."""
    plan_row(session, plan_id)
    grid = session.scalar(select(GridRow).where(GridRow.plan_id == plan_id,
                                                GridRow.code == code))
    if grid is None:
        raise not_found("网格", "grid", code)
    check_grid_in_scope(session, who, grid)
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


def plan_assignments(session: Session, plan_id: int) -> list[AssignmentOut]:
    """The worker assignments of plan ``plan_id`` with their grid codes, by code."""
    plan_row(session, plan_id)
    rows = session.execute(select(AssignmentRow, GridRow.code)
                           .join(GridRow, GridRow.id == AssignmentRow.grid_id)
                           .where(AssignmentRow.plan_id == plan_id).order_by(GridRow.code))
    return [AssignmentOut.model_validate(a).model_copy(update={"grid_code": c})
            for a, c in rows]
