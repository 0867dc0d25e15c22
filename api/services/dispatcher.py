"""The ``dispatch.incidents.dispatcher.Dispatcher`` of the active plan, built from the store.

The walk network comes from the plan's dataset (gis.study_area with its walk graph) and is
cached per process and dataset, since building it takes seconds; grids, assignments and
workers are read afresh for every dispatch, so an edit takes effect at once. Grid ids are the
grid codes; worker ids the store's. A worker's base is their stored point, else a point inside
the first grid they hold; workers with neither are not candidates.

The roster comes from the store (api.services.worker_hours): a worker is available when marked
on duty, today (Beijing time) is one of their work days and not one of their days off, and now
lies in their shift; the Dispatcher gets their shift as their hours (round the clock when none
is set), so routes for the rest of today end with the shift.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.services.worker_hours import available, shift_seconds
from api.settings import Settings
from api.store import models as m
from api.store.plans import active_plan as stored_active_plan
from api.store.plans import grids_frame
from dispatch.incidents.dispatcher import Dispatcher, WorkerStatus
from dispatch.incidents.rules import Rules
from dispatch.routing.network import WalkNetwork
from dispatch.staffing.workers import Worker as DispatchWorker

_networks: dict[tuple[str, int], WalkNetwork] = {}
_lock = threading.Lock()


def walk_network(settings: Settings, dataset: m.DatasetRow) -> WalkNetwork:
    """The walk network of ``dataset`` (metric CRS), built once per process."""
    key = (str(Path(settings.data_dir).resolve()), dataset.id)
    with _lock:
        if key not in _networks:
            from gis.households import HouseholdOptions
            from gis.study_area import load_study_area

            opts = dict(dataset.options or {})
            households = HouseholdOptions(households_col=opts.pop("households_col",
                                                                  "households"))
            area = load_study_area(Path(settings.data_dir) / dataset.path,
                                   households=households, with_walk_graph=True, **opts)
            _networks[key] = WalkNetwork.from_graph(area.streets)
        return _networks[key]


def active_plan(session: Session) -> m.PlanRow:
    """The active plan; 409 when none is active (nothing to dispatch with)."""
    plan = stored_active_plan(session)
    if plan is None:
        raise ApiError(409, "no_active_plan", "尚无启用的网格方案，无法派遣",
                       "there is no active plan to dispatch with")
    return plan


def plan_workers(session: Session, plan_id: int, crs) -> tuple[list[DispatchWorker],
                                                                 pd.DataFrame]:
    """The plan's workers with bases in ``crs`` and its grid -> worker table."""
    rows = session.execute(select(m.GridRow.code, m.GridRow.geom, m.AssignmentRow.worker_id)
                           .join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
                           .where(m.AssignmentRow.plan_id == plan_id,
                                  m.AssignmentRow.role == "worker").order_by(m.GridRow.code)).all()
    assignment = pd.DataFrame([(code, wid) for code, _, wid in rows],
                              columns=["grid_id", "worker_id"])
    first_grid: dict[int, Point] = {}  # worker -> a point of their first grid
    for _, geom, wid in rows:
        first_grid.setdefault(wid, geom.representative_point())
    import geopandas as gpd

    workers = []
    for w in session.scalars(select(m.WorkerRow).order_by(m.WorkerRow.id)):
        base = w.geom if w.geom is not None else first_grid.get(w.id)
        if base is None:
            continue
        point = gpd.GeoSeries([base], crs="EPSG:4326").to_crs(crs).iloc[0]
        workers.append(DispatchWorker(w.id, w.name, point.x, point.y, phone=w.phone or "",
                                      hours=shift_seconds(w)))
    return workers, assignment


def leader_levels(session: Session, plan_id: int) -> pd.DataFrame:
    """The four-level rows escalation needs (dispatch.staffing.workers.four_levels' columns): each
    community's grid leader (网格长: the first leader assigned to one of its grids, by code)
    and each grid's community."""
    grids = session.execute(select(m.GridRow.code, m.GridRow.community).where(
        m.GridRow.plan_id == plan_id).order_by(m.GridRow.code)).all()
    leaders = session.execute(
        select(m.GridRow.community, m.AssignmentRow.worker_id)
        .join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
        .where(m.AssignmentRow.plan_id == plan_id, m.AssignmentRow.role == "leader")
        .order_by(m.GridRow.code)).all()
    rows, seen = [], set()
    for community, worker_id in leaders:
        if community not in seen:
            seen.add(community)
            rows.append({"level": "community", "unit": community, "parent": None,
                         "worker_id": worker_id})
    rows += [{"level": "grid", "unit": code, "parent": community, "worker_id": None}
             for code, community in grids]
    return pd.DataFrame(rows, columns=["level", "unit", "parent", "worker_id"], dtype=object)


def dispatcher(session: Session, settings: Settings, rules: Rules) -> Dispatcher:
    """The dispatcher of the active plan, with its grid leaders for escalation."""
    plan = active_plan(session)
    net = walk_network(settings, session.get_one(m.DatasetRow, plan.dataset_id))
    grids = grids_frame(session, plan.id)[["grid_id", "geometry"]].to_crs(net.crs)
    workers, assignment = plan_workers(session, plan.id, net.crs)
    if not workers:
        raise ApiError(409, "no_workers", "没有可派遣的网格员（无驻点也无负责网格）",
                       "no worker to dispatch to (none has a base or a grid)")
    return Dispatcher(net, grids, assignment, workers, rules,
                      levels=leader_levels(session, plan.id))


def roster(session: Session, now: datetime) -> dict[int, WorkerStatus]:
    """Every worker's status at ``now``: available by the on-duty flag, work days, days off
    and shift (api.services.worker_hours.available)."""
    return {w.id: WorkerStatus(w.id, on_duty=available(w, now))
            for w in session.scalars(select(m.WorkerRow))}
