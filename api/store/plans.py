"""Plans in the store: saving a partition.plan.Plan, reading its layers back, diffs.

Everything is WGS84 lon/lat; polygons are stored with counter-clockwise outer rings
(RFC 7946). A plan is written in the caller's one transaction: grids, buildings and the plan
row appear together or not at all.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from api.store import models as m
from api.store.spatial import decode_geometries, raw_geometry
from partition.plan import Plan as PartitionPlan

GRID_COLUMNS = ("grid_id", "code", "community", "households", "population", "buildings",
                "deviation_pct", "area_m2", "geometry")
BUILDING_COLUMNS = ("building_id", "grid_id", "community", "households", "population",
                    "residential", "geometry")


def _plain(value):
    """A JSON-safe Python value (numpy scalars unwrapped, NaN as None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _bbox_columns(geoms: np.ndarray) -> dict[str, np.ndarray]:
    bounds = shapely.bounds(geoms)
    return {"minx": bounds[:, 0], "miny": bounds[:, 1], "maxx": bounds[:, 2],
            "maxy": bounds[:, 3]}


def _rows(frame: gpd.GeoDataFrame, fixed: tuple[str, ...], renames: dict[str, str],
          plan_id: int) -> list[dict]:
    geoms = shapely.orient_polygons(frame.geometry.values, exterior_cw=False)
    boxes = _bbox_columns(geoms)
    extra = [c for c in frame.columns if c not in fixed and c != frame.geometry.name]
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    rows = []
    for i, rec in enumerate(records):
        row = {renames.get(c, c): _plain(rec.get(c)) for c in fixed if c != "geometry"}
        row.pop("grid_id_drop", None)
        row["properties"] = {c: _plain(rec[c]) for c in extra}
        row["geom"] = geoms[i]
        row.update({k: float(v[i]) for k, v in boxes.items()})
        row["plan_id"] = plan_id
        rows.append(row)
    return rows


def save_plan(session: Session, plan: PartitionPlan, *, dataset_id: int, name: str,
              params: dict, attribution: str | None, job_id: int | None) -> m.PlanRow:
    """Add ``plan`` (its grids and buildings) to ``session``; the caller commits."""
    row = m.PlanRow(dataset_id=dataset_id, name=name, status="draft",
                 target_households=plan.target, seed=params.get("seed", 0),
                 previous_plan_id=params.get("previous_plan_id"),
                 locked=list(params.get("locked", [])),
                 summary={k: _plain(v) for k, v in plan.summary.items()},
                 attribution=attribution, job_id=job_id)
    session.add(row)
    session.flush()
    layers = plan.layers_wgs84()
    grids = layers["grids"]
    grid_rows = _rows(grids, GRID_COLUMNS, {"grid_id": "grid_id_drop"}, row.id)
    for r in grid_rows:
        r["households"] = int(r["households"] or 0)
        r["buildings"] = int(r["buildings"] or 0)
    buildings = layers["buildings"]
    building_rows = _rows(buildings, BUILDING_COLUMNS, {"grid_id": "grid_code"}, row.id)
    for r in building_rows:
        r["building_id"] = str(r["building_id"])
        r["households"] = int(r["households"] or 0)
        r["residential"] = bool(r["residential"])
        r["grid_code"] = None if r["grid_code"] in (None, "None", "nan") else str(r["grid_code"])
    if grid_rows:
        session.execute(insert(m.GridRow), grid_rows)
    if building_rows:
        session.execute(insert(m.PlanBuildingRow), building_rows)
    return row


def grid_records(session: Session, plan_id: int, where=None) -> tuple[list[dict], list]:
    """A plan's grids as (properties, geometries), with the workers assigned to them."""
    g = m.GridRow
    query = select(g.id, g.code, g.community, g.households, g.population, g.buildings,
                   g.deviation_pct, g.area_m2, g.properties, raw_geometry(g.geom)) \
        .where(g.plan_id == plan_id).order_by(g.code)
    if where is not None:
        query = query.where(where)
    grids = session.execute(query).all()
    workers = grid_workers(session, plan_id)
    records = []
    for r in grids:
        rec = {"grid_id": r.code, "code": r.code, "community": r.community,
               "households": r.households, "population": r.population,
               "buildings": r.buildings, "deviation_pct": r.deviation_pct,
               "area_m2": r.area_m2, **r.properties}
        rec["worker_id"], rec["worker"] = workers.get(r.id, (None, None))
        records.append(rec)
    return records, decode_geometries([r.geom for r in grids])


def active_plan(session: Session) -> m.PlanRow | None:
    """The active plan (one at most), None when no plan is active."""
    return session.scalar(select(m.PlanRow).where(m.PlanRow.status == "active"))


def active_plan_id(session: Session) -> int | None:
    """The id of the active plan, None when no plan is active."""
    return session.scalar(select(m.PlanRow.id).where(m.PlanRow.status == "active"))


def grids_frame(session: Session, plan_id: int, where=None) -> gpd.GeoDataFrame:
    """A plan's grids (EPSG:4326) with their stored metrics and assigned workers."""
    records, geoms = grid_records(session, plan_id, where)
    return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:4326")


def grid_workers(session: Session, plan_id: int) -> dict[int, tuple[int, str]]:
    """The worker (id, name) assigned to each grid of the plan, by grid id."""
    rows = session.execute(select(m.AssignmentRow.grid_id, m.WorkerRow.id, m.WorkerRow.name)
                           .join(m.WorkerRow, m.WorkerRow.id == m.AssignmentRow.worker_id)
                           .where(m.AssignmentRow.plan_id == plan_id,
                                  m.AssignmentRow.role == "worker"))
    return {gid: (wid, name) for gid, wid, name in rows}


def building_records(session: Session, plan_id: int, where=None) -> tuple[list[dict], list]:
    """A plan's buildings as (properties, geometries) with their grid codes."""
    b = m.PlanBuildingRow
    query = select(b.building_id, b.grid_code, b.community, b.households, b.population,
                   b.residential, b.properties, raw_geometry(b.geom)) \
        .where(b.plan_id == plan_id).order_by(b.id)
    if where is not None:
        query = query.where(where)
    rows = session.execute(query).all()
    records = [{"building_id": r.building_id, "grid_id": r.grid_code, "community": r.community,
                "households": r.households, "population": r.population,
                "residential": r.residential, **r.properties} for r in rows]
    return records, decode_geometries([r.geom for r in rows])


def buildings_frame(session: Session, plan_id: int, where=None) -> gpd.GeoDataFrame:
    """A plan's buildings (EPSG:4326) with their grid codes."""
    records, geoms = building_records(session, plan_id, where)
    return gpd.GeoDataFrame(records, geometry=geoms, crs="EPSG:4326")


def as_partition_plan(session: Session, plan: m.PlanRow) -> PartitionPlan:
    """The stored plan as a partition.plan.Plan (EPSG:4326) for partition.plan_io."""
    return PartitionPlan(grids=grids_frame(session, plan.id).drop(columns=["worker_id",
                                                                           "worker"]),
                         buildings=buildings_frame(session, plan.id), crs="EPSG:4326",
                         target=plan.target_households, summary=dict(plan.summary))


def diff_plans(session: Session, a: int, b: int) -> dict:
    """What changed from plan ``a`` to plan ``b``: buildings moved (and their households),
    new and removed; grids kept (same code and buildings), changed, new and gone."""
    def buildings(plan_id):
        return {bid: (grid, hh) for bid, grid, hh in session.execute(
            select(m.PlanBuildingRow.building_id, m.PlanBuildingRow.grid_code,
                   m.PlanBuildingRow.households).where(m.PlanBuildingRow.plan_id == plan_id))}

    def grids(plan_id):
        return dict(session.execute(select(m.GridRow.code, m.GridRow.households)
                                    .where(m.GridRow.plan_id == plan_id)).all())

    before, after = buildings(a), buildings(b)
    moves = []
    for bid, (grid_b, hh) in after.items():
        if bid not in before:
            moves.append({"building_id": bid, "from_grid": None, "to_grid": grid_b,
                          "households": hh, "change": "new"})
        elif before[bid][0] != grid_b:
            moves.append({"building_id": bid, "from_grid": before[bid][0], "to_grid": grid_b,
                          "households": hh, "change": "moved"})
    for bid, (grid_a, hh) in before.items():
        if bid not in after:
            moves.append({"building_id": bid, "from_grid": grid_a, "to_grid": None,
                          "households": hh, "change": "removed"})
    members_a: dict = {}
    members_b: dict = {}
    for bid, (g, _) in before.items():
        members_a.setdefault(g, set()).add(bid)
    for bid, (g, _) in after.items():
        members_b.setdefault(g, set()).add(bid)
    grids_a, grids_b = grids(a), grids(b)
    changes = []
    kept = 0
    for code in sorted(set(grids_a) | set(grids_b)):
        if code not in grids_b:
            change = "gone"
        elif code not in grids_a:
            change = "new"
        elif members_a.get(code, set()) != members_b.get(code, set()):
            change = "changed"
        else:
            kept += 1
            continue
        changes.append({"code": code, "change": change, "households_before": grids_a.get(code),
                        "households_after": grids_b.get(code)})
    moved = [x for x in moves if x["change"] == "moved"]
    count = {c: sum(x["change"] == c for x in changes) for c in ("changed", "new", "gone")}
    return {"plan_a": a, "plan_b": b, "buildings_moved": len(moved),
            "households_moved": sum(x["households"] for x in moved),
            "buildings_new": sum(x["change"] == "new" for x in moves),
            "buildings_removed": sum(x["change"] == "removed" for x in moves),
            "grids_kept": kept, "grids_changed": count["changed"], "grids_new": count["new"],
            "grids_gone": count["gone"], "grids": changes, "moves": moves}
