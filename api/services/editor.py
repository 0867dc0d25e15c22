"""The plan editor: a draft plan changed by hand, edit by edit (issue #16).

Every edit (move buildings to a neighbouring grid, split a grid, merge two, lock or unlock
grids, re-balance the unlocked rest) is checked by partition.edits against the hard rules and,
when allowed, written in one transaction: the buildings' grid codes, the touched grids'
figures and polygons (the union of their buildings' tessellation cells), the deviations of
their communities, the plan's ``version`` (+1) and an :class:`~api.store.models.EditRow`
appended to the draft's list. Every request names the version it was made on; another
version gets 409 ``stale_version`` (two people editing one draft see a conflict, never a
silent overwrite). Undo and redo walk the list (an undone edit is applied inverted, a new edit
drops the undone ones).

What the checks need is built once per dataset and kept: the building adjacency graph and
the cells (partition.plan.build_territory on the dataset's study area), pickled under
``data_dir/editor-cache`` (every service process and the job processes share it) by the
partition that made a plan of the dataset (it builds the same territory: api.jobs.partition)
or else on first use, and held in memory by :class:`EditorCache`, with each plan's building
-> grid map at its version. When a draft is made, its state, grid polygons, footprints and
editor page are made in the background (:func:`prepare`), so that the first open does not
wait for them.
Only draft plans are edited (an active or archived plan: 409).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import pickle
import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.services.basemap import BasemapStore
from api.services.plans import plan_row
from api.settings import Settings
from api.store import models as m
from api.store.plans import active_plan_id, diff_plans
from gis.errors import ArgumentError
from partition import edits
from partition.edits import Edit, EditContext, EditRuleError, GridStats, PlanState

if TYPE_CHECKING:
    from partition.plan import Territory

log = logging.getLogger(__name__)
CACHE_FOLDER = "editor-cache"
CACHE_FORMAT = 2  # bumped when what the pickle holds changes (1: read and rewritten)
FOOTPRINTS_FORMAT = 1  # bumped when the packed footprints change
BASEMAP_FORMAT = 1  # bumped when the editor's kept basemap changes
PAGES_KEPT = 8  # editor pages (and footprints) a process keeps: 10,000 buildings ~1 MB


@dataclass
class Ground:
    """What a dataset's plans are edited on: the edit context (its target is the plan's),
    each building's cell (metric CRS) and the transformer to WGS84."""

    ctx: EditContext
    cells: dict[str, BaseGeometry]
    crs: str

    @property
    def to_wgs84(self) -> Transformer:
        """Metric CRS -> EPSG:4326 lon/lat."""
        found: Transformer | None = self.__dict__.get("_transformer")
        if found is None:
            found = Transformer.from_crs(CRS.from_user_input(self.crs), "EPSG:4326",
                                         always_xy=True)
            self.__dict__["_transformer"] = found
        return found

    def context(self, target: int) -> EditContext:
        """The edit context for plans of ``target`` households per grid (kept, with the
        lookups it builds on first use)."""
        kept: dict[int, EditContext] = self.__dict__.setdefault("_contexts", {})
        if target not in kept:
            kept[target] = replace(self.ctx, target=target)
        return kept[target]

    # Pickled with its geometries (the cells and the graph's footprints, 20,000 of them at
    # 10,000 buildings) as two arrays of WKB, decoded by one shapely call each on reading:
    # unpickling them one object at a time took most of the first open's ground read.
    def __getstate__(self) -> dict[str, Any]:
        graph = self.ctx.graph.copy()  # the nodes' attribute dicts copied: footprints out
        nodes = [n for n, data in graph.nodes(data=True) if "footprint" in data]
        footprints = [graph.nodes[n].pop("footprint") for n in nodes]
        ids = list(self.cells)
        return {"format": 2, "ctx": replace(self.ctx, graph=graph), "crs": self.crs,
                "cell_ids": ids,
                "cells_wkb": shapely.to_wkb(np.array([self.cells[b] for b in ids],
                                                     dtype=object)),
                "footprint_nodes": nodes,
                "footprints_wkb": shapely.to_wkb(np.array(footprints, dtype=object))}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("format") != 2:  # written before (format 1): the fields themselves
            self.__dict__.update(state)
            return
        ctx: EditContext = state["ctx"]
        nodes = ctx.graph.nodes
        for n, geom in zip(state["footprint_nodes"], shapely.from_wkb(state["footprints_wkb"]),
                           strict=True):
            nodes[n]["footprint"] = geom
        self.__dict__.update({"ctx": ctx, "crs": state["crs"], "cells": dict(zip(
            state["cell_ids"], shapely.from_wkb(state["cells_wkb"]), strict=True))})


@dataclass
class _PlanEntry:
    version: int
    state: PlanState
    lock: threading.Lock = field(default_factory=threading.Lock)


class EditorCache:
    """One process's grounds (per dataset) and plan states (per plan, at a version)."""

    def __init__(self) -> None:
        self.grounds: dict[int, Ground] = {}
        self.plans: dict[int, _PlanEntry] = {}
        self.lock = threading.Lock()
        self.plan_locks: dict[Hashable, threading.Lock] = {}
        self.pages: dict[tuple[int, str], str] = {}  # (plan, language) -> editor page
        self.footprints: dict[int, bytes] = {}  # plan -> packed footprints (JSON)
        # plan -> (version, grid code -> GeoJSON Feature text of its polygon, for display)
        self.grid_features: dict[int, tuple[int, dict[str, str]]] = {}

    def plan_lock(self, plan_id: Hashable) -> threading.Lock:
        """The lock serialising this process's edits of one plan (or any other key's
        work: a dataset's ground, a plan's page)."""
        with self.lock:
            return self.plan_locks.setdefault(plan_id, threading.Lock())


def ground_of(territory: Territory, crs: Any) -> Ground:
    """The ground of a territory (partition.plan.build_territory) in metric ``crs``."""
    ctx = EditContext.from_territory(territory.graph, territory.buildings, 0)
    ids = {k: str(v) for k, v in territory.buildings["building_id"].items()}
    cells = {ids[k]: g for k, g in territory.cells.geometry.items() if k in ids}
    return Ground(ctx, cells, CRS.from_user_input(crs).to_wkt())


def _build_ground(settings: Settings, dataset: m.DatasetRow) -> Ground:
    from api.services.datasets import load_dataset
    from partition.plan import build_territory

    area = load_dataset(settings, dataset)
    return ground_of(build_territory(area), area.crs)


def ground(settings: Settings, cache: EditorCache, dataset: m.DatasetRow) -> Ground:
    """The dataset's ground: from memory, else the pickle, else built (and pickled)."""
    found = cache.grounds.get(dataset.id)
    if found is not None:
        return found
    with cache.plan_lock(-dataset.id):  # one build per dataset at a time
        found = cache.grounds.get(dataset.id)
        if found is None:
            found = _read_or_build(settings, dataset)
            cache.grounds[dataset.id] = found
    return found


def _ground_path(settings: Settings, dataset_id: int, version: int = CACHE_FORMAT) -> Path:
    return Path(settings.data_dir) / CACHE_FOLDER / f"dataset-{dataset_id}-v{version}.pickle"


def _write_ground(path: Path, found: Ground) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump(found, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def _read_or_build(settings: Settings, dataset: m.DatasetRow) -> Ground:
    path = _ground_path(settings, dataset.id)
    before = _ground_path(settings, dataset.id, 1)
    if path.exists():
        with path.open("rb") as f:
            found = pickle.load(f)  # our own file, in the data folder
    elif before.exists():  # the format before: read (it reads the same) and written anew
        with before.open("rb") as f:
            found = pickle.load(f)
        _write_ground(path, found)
    else:
        found = _build_ground(settings, dataset)
        _write_ground(path, found)
    return found


def ground_saved(settings: Settings, dataset_id: int) -> bool:
    """Whether the ground of dataset ``dataset_id`` is pickled already."""
    return _ground_path(settings, dataset_id).exists()


def save_ground(settings: Settings, dataset_id: int, territory: Territory, crs: Any) -> bool:
    """Pickle the ground of dataset ``dataset_id`` from the territory a partition has just
    built on it (the same partition.plan.build_territory of the same study area), unless
    it is there already: the first editor of a plan on the dataset then reads it instead
    of building it again. Returns whether it was written."""
    path = _ground_path(settings, dataset_id)
    if path.exists():
        return False
    _write_ground(path, ground_of(territory, crs))
    return True


def prepare(db, settings: Settings, cache: EditorCache, plan_id: int,
            basemaps: BasemapStore | None = None, lang: str = "zh") -> None:
    """Ready what opening the editor of ``plan_id`` needs, ahead of the first open (run
    after a draft is made): the ground of its dataset (read, or built), the draft's state,
    grid polygons and footprints, and its page in ``lang``."""
    with db.read_session() as session:
        plan = session.get(m.PlanRow, plan_id)
        if plan is None:
            return
        if plan.status != "draft":
            ground(settings, cache, session.get_one(m.DatasetRow, plan.dataset_id))
            return
        try:
            # in the order the browser asks: the page, then its state, footprints and grids
            editor_page(session, settings, cache, plan_id, lang, basemaps)
            with cache.plan_lock(plan_id):
                load(session, settings, cache, plan_id)
            footprints(session, settings, cache, plan_id)
            grid_features(session, cache, plan_id)
        except Exception:  # the first open makes them (and says what is wrong)
            log.exception("editor of plan %s not made ready ahead", plan_id)


# ---- loading a plan ---------------------------------------------------------------------------

def draft_row(session: Session, plan_id: int) -> m.PlanRow:
    """The plan (404), which must be a draft (409 otherwise)."""
    plan = plan_row(session, plan_id)
    if plan.status != "draft":
        raise ApiError(409, "not_draft",
                       f"方案 {plan_id} 是{'启用' if plan.status == 'active' else '归档'}方案，"
                       "不能修改：请先复制为草稿（POST /plans/{id}/draft）",
                       f"plan {plan_id} is {plan.status}, not a draft: copy it into a draft "
                       "first (POST /plans/{id}/draft)")
    return plan


def _load_state(session: Session, plan: m.PlanRow, ctx: EditContext) -> PlanState:
    rows = session.execute(select(m.PlanBuildingRow.building_id, m.PlanBuildingRow.grid_code)
                           .where(m.PlanBuildingRow.plan_id == plan.id,
                                  m.PlanBuildingRow.grid_code.is_not(None)))
    grid_of = {str(b): str(g) for b, g in rows}
    kinds: dict[str, str] = {}
    communities: dict[str, str] = {}
    for code, community, props in session.execute(
            select(m.GridRow.code, m.GridRow.community, m.GridRow.properties)
            .where(m.GridRow.plan_id == plan.id)):
        kinds[code] = str((props or {}).get("kind") or "residential")
        communities[code] = str(community)
    state = PlanState(grid_of, kinds, communities, set(plan.locked or []) & set(kinds))
    edits.allow_crossings(ctx, state)
    state.weigh(ctx)
    return state


@dataclass
class Loaded:
    """A draft plan ready to edit: its row, ground, context and state at ``plan.version``."""

    plan: m.PlanRow
    ground: Ground
    ctx: EditContext
    state: PlanState


def load(session: Session, settings: Settings, cache: EditorCache, plan_id: int,
         draft: bool = True) -> Loaded:
    """The plan with its ground and its state (from the cache when at the plan's version)."""
    plan = draft_row(session, plan_id) if draft else plan_row(session, plan_id)
    base = cache.grounds.get(plan.dataset_id) or ground(
        settings, cache, session.get_one(m.DatasetRow, plan.dataset_id))
    ctx = base.context(plan.target_households)
    entry = cache.plans.get(plan.id)
    if entry is None or entry.version != plan.version:
        with cache.plan_lock(("state", plan.id)):  # the page's requests: read it once
            entry = cache.plans.get(plan.id)
            if entry is None or entry.version != plan.version:
                entry = _PlanEntry(plan.version, _load_state(session, plan, ctx))
                cache.plans[plan.id] = entry
    return Loaded(plan, base, ctx, entry.state)


# ---- what an answer holds -----------------------------------------------------------------

def _stats_json(s: GridStats) -> dict[str, Any]:
    return {"code": s.code, "community": s.community, "kind": s.kind,
            "households": s.households, "population": s.population, "buildings": s.buildings,
            "deviation_pct": s.deviation_pct, "locked": s.locked}


def summary(stats: list[GridStats]) -> dict[str, Any]:
    """The plan's figures: grids, households, max and mean |deviation| of residential grids
    with households, the grids beyond the balance limit."""
    sized = [abs(s.deviation_pct) for s in stats if s.kind == "residential" and s.households]
    return {"grids": len(stats), "households": sum(s.households for s in stats),
            "max_deviation_pct": round(max(sized, default=0.0), 2),
            "mean_deviation_pct": round(sum(sized) / len(sized), 2) if sized else 0.0,
            "beyond_limit": edits.beyond_limit(stats)}


def union_cells(cells: list[BaseGeometry]) -> BaseGeometry:
    """The union of tessellation cells. Cells tile the ground without overlaps and share
    their edges vertex for vertex, so GEOS's coverage union (which only drops the shared
    edges) gives the union several times faster than a general overlay; when the cells are
    not such a coverage (the result is invalid or its area is not the cells' sum), the
    general union is taken."""
    if len(cells) == 1:
        return cells[0]
    arr = np.asarray(cells, dtype=object)
    try:
        whole = shapely.coverage_union_all(arr)
    except shapely.errors.GEOSException:
        return shapely.union_all(arr)
    total = float(shapely.area(arr).sum())
    if not whole.is_valid or abs(whole.area - total) > 1e-9 * max(total, 1.0):
        return shapely.union_all(arr)
    return whole


def _polygon(ground_: Ground, members: Iterable[str]) -> tuple[BaseGeometry | None, float]:
    """The union of ``members``' cells in WGS84, and its area (m²)."""
    cells = [ground_.cells[b] for b in members if b in ground_.cells]
    if not cells:
        return None, 0.0
    whole = union_cells(cells)
    t = ground_.to_wgs84
    return (shapely.orient_polygons(shapely.transform(whole, lambda xy: _xy(t, xy)),
                                    exterior_cw=False), float(whole.area))


def _xy(t: Transformer, xy):
    x, y = t.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def state_out(session: Session, loaded: Loaded) -> dict[str, Any]:
    """The editor's view of the draft: plan, version, grids with figures and worker (the
    draft's assignment, else the active plan's worker of the grid's code), each building's
    grid (building_id -> grid code), what can be undone and redone."""
    plan = loaded.plan
    stats = edits.grid_stats(loaded.ctx, loaded.state)
    active = active_plan_id(session)
    # a grid keeps its worker through a redraw unless the draft assigns another
    workers = {**(_workers(session, active) if active is not None else {}),
               **_workers(session, plan.id)}
    grids = [{**_stats_json(s), "worker": workers.get(s.code)} for s in stats]
    buildings = dict(sorted(loaded.state.grid_of.items()))
    undo, redo = _undo_redo(session, plan.id)
    return {"plan_id": plan.id, "name": plan.name, "status": plan.status,
            "version": plan.version, "target_households": plan.target_households,
            "summary": summary(stats), "grids": grids, "buildings": buildings,
            "can_undo": undo is not None, "can_redo": redo is not None,
            "active_plan_id": active}


def _workers(session: Session, plan_id: int) -> dict[str, str]:
    """Grid code -> worker name of a plan's grids (assignments, role worker)."""
    rows = session.execute(select(m.GridRow.code, m.WorkerRow.name)
                           .join(m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id)
                           .join(m.WorkerRow, m.WorkerRow.id == m.AssignmentRow.worker_id)
                           .where(m.GridRow.plan_id == plan_id,
                                  m.AssignmentRow.role == "worker"))
    return {code: name for code, name in rows}


def _undo_redo(session: Session, plan_id: int) -> tuple[m.EditRow | None, m.EditRow | None]:
    last = session.scalar(select(m.EditRow).where(m.EditRow.plan_id == plan_id,
                                                  m.EditRow.state == "applied")
                          .order_by(m.EditRow.seq.desc()).limit(1))
    nxt = session.scalar(select(m.EditRow).where(m.EditRow.plan_id == plan_id,
                                                 m.EditRow.state == "undone")
                         .order_by(m.EditRow.seq).limit(1))
    return last, nxt


def _can_undo_redo(session: Session, plan_id: int) -> tuple[bool, bool]:
    """Whether the draft has an edit to undo (one applied) and to redo (one undone): one
    query for both, no edit read."""
    states = set(session.scalars(select(m.EditRow.state).distinct().where(
        m.EditRow.plan_id == plan_id, m.EditRow.state.in_(("applied", "undone")))))
    return "applied" in states, "undone" in states


def _light(geoms: Any) -> np.ndarray:
    """Grid polygons (WGS84) made light to draw: simplified by about 1 m (1e-5 degree,
    Douglas-Peucker, which GEOS keeps valid and is ~10 times faster than the topology
    preserving simplifier on grids of a few hundred vertices) and rounded to 1e-6 degree
    (10 cm); a polygon the simplification would empty is kept as it was."""
    geoms = np.asarray(geoms, dtype=object)
    light = shapely.simplify(geoms, 1e-5, preserve_topology=False)
    lost = shapely.is_empty(light) & ~shapely.is_empty(geoms)
    light = np.where(lost, geoms, light)
    return shapely.transform(light, lambda xy: np.round(xy, 6))


def _features(codes: list[str], geoms: list[BaseGeometry | None]) -> dict[str, str]:
    """Grid code -> its polygon as a GeoJSON Feature text for the page (see :func:`_light`;
    a grid without polygon: geometry null)."""
    out: dict[str, str] = {}
    present = [i for i, g in enumerate(geoms) if g is not None and not g.is_empty]
    texts = (shapely.to_geojson(_light([geoms[i] for i in present])) if present
             else np.array([], dtype=object))
    by_index = dict(zip(present, texts, strict=True))
    for i, code in enumerate(codes):
        head = '{"type":"Feature","properties":' + json.dumps({"code": code},
                                                              ensure_ascii=False)
        out[code] = head + ',"geometry":' + str(by_index.get(i, "null")) + "}"
    return out


def grid_features(session: Session, cache: EditorCache, plan_id: int) -> bytes:
    """The draft's grid polygons as a GeoJSON FeatureCollection (WGS84, light for display),
    kept per plan version and updated by every edit of this process."""
    from api.store.spatial import decode_geometries, raw_geometry

    plan = draft_row(session, plan_id)
    kept = cache.grid_features.get(plan_id)
    if kept is None or kept[0] != plan.version:
        with cache.plan_lock(("grids", plan_id)):  # one build per plan at a time
            kept = cache.grid_features.get(plan_id)
            if kept is None or kept[0] != plan.version:
                g = m.GridRow
                rows = session.execute(select(g.code, raw_geometry(g.geom))
                                       .where(g.plan_id == plan_id).order_by(g.code)).all()
                kept = (plan.version, _features([r.code for r in rows],
                                                decode_geometries([r.geom for r in rows])))
                cache.grid_features[plan_id] = kept
    return ('{"type":"FeatureCollection","features":[' + ",".join(kept[1].values())
            + "]}").encode()


# ---- writing an edit -----------------------------------------------------------------------

def _check_version(session: Session, plan: m.PlanRow, version: int) -> int:
    """Take the next version, only from ``version`` (409 ``stale_version`` otherwise)."""
    result = cast("CursorResult[Any]", session.execute(
        update(m.PlanRow).where(m.PlanRow.id == plan.id, m.PlanRow.version == version)
        .values(version=version + 1)))
    done = result.rowcount
    if done != 1:
        session.rollback()
        current = session.scalar(select(m.PlanRow.version).where(m.PlanRow.id == plan.id))
        raise ApiError(409, "stale_version",
                       f"草稿已被修改（您的版本 {version}，当前版本 {current}）：请刷新后再编辑，"
                       "以免覆盖他人的修改",
                       f"the draft has changed (your version {version}, now {current}): "
                       "reload it before editing, so as not to overwrite someone else's edits",
                       version=current)
    return version + 1


# what an edit writes of a touched grid
GRID_WRITTEN = ("households", "population", "buildings", "deviation_pct", "area_m2", "geom",
                "minx", "miny", "maxx", "maxy", "properties")


def write_edit(session: Session, loaded: Loaded, edit: Edit
               ) -> tuple[PlanState, list[GridStats], dict[str, BaseGeometry | None]]:
    """Write ``edit`` of the loaded plan in ``session`` (caller commits): buildings' grids,
    touched grids (figures, polygons, made, removed), the deviations that changed and the
    plan's locks. Returns the new state, every grid's figures and the touched grids'
    polygons (WGS84)."""
    plan, ground_, ctx = loaded.plan, loaded.ground, loaded.ctx
    before = {s.code: s.deviation_pct for s in edits.grid_stats(ctx, loaded.state)}
    after = loaded.state.copy()
    after.apply(edit)
    if edit.changes:
        table = cast(Table, m.PlanBuildingRow.__table__)
        session.execute(
            update(table)
            .where(table.c.plan_id == plan.id, table.c.building_id == bindparam("b_id"))
            .values(grid_code=bindparam("b_grid")),
            [{"b_id": b, "b_grid": dst} for b, _src, dst in edit.changes])
    stats = edits.grid_stats(ctx, after)
    by_code = {s.code: s for s in stats}
    touched = {g for _, s_, d in edit.changes for g in (s_, d)}
    gone = [g for g in touched if g not in after.members]
    if gone:
        session.execute(delete(m.GridRow).where(m.GridRow.plan_id == plan.id,
                                                m.GridRow.code.in_(gone)))
    kept = sorted(touched - set(gone))
    grids = cast(Table, m.GridRow.__table__)
    stored = dict(session.execute(select(grids.c.code, grids.c.properties).where(
        grids.c.plan_id == plan.id, grids.c.code.in_(kept))).all()) if kept else {}
    polygons: dict[str, BaseGeometry | None] = {}
    changed, made = [], []
    for code in kept:  # written as rows (Core), not as ORM objects flushed one by one
        s = by_code[code]
        polygons[code], area = _polygon(ground_, after.members[code])
        poly = polygons[code]
        box = (poly.bounds if poly is not None and not poly.is_empty
               else (None, None, None, None))
        values = {"households": s.households, "population": s.population,
                  "buildings": s.buildings, "deviation_pct": s.deviation_pct,
                  "area_m2": round(area, 1), "geom": poly,
                  **dict(zip(("minx", "miny", "maxx", "maxy"), box, strict=True)),
                  "properties": {**(stored.get(code) or {}), "kind": s.kind, "edited": True}}
        if code in stored:
            changed.append({f"v_{k}": v for k, v in values.items()} | {"v_code": code})
        else:
            made.append(values | {"plan_id": plan.id, "code": code, "community": s.community})
    if changed:
        session.execute(
            update(grids).where(grids.c.plan_id == plan.id,
                                grids.c.code == bindparam("v_code"))
            .values({c: bindparam(f"v_{c}", type_=grids.c[c].type) for c in GRID_WRITTEN}),
            changed)
    if made:
        session.execute(insert(grids), made)
    moved_mean = [{"d_code": c, "d_dev": s.deviation_pct} for c, s in by_code.items()
                  if c not in touched and before.get(c) != s.deviation_pct]
    if moved_mean:  # a split or merge changes the community's mean
        session.execute(update(grids).where(grids.c.plan_id == plan.id,
                                            grids.c.code == bindparam("d_code"))
                        .values(deviation_pct=bindparam("d_dev")), moved_mean)
    if edit.lock or edit.unlock:
        plan.locked = sorted(after.locked)
    return after, stats, polygons


def _stale(loaded: Loaded, version: int) -> None:
    if loaded.plan.version != version:
        raise ApiError(409, "stale_version",
                       f"草稿已被修改（您的版本 {version}，当前版本 {loaded.plan.version}）："
                       "请刷新后再编辑，以免覆盖他人的修改",
                       f"the draft has changed (your version {version}, now "
                       f"{loaded.plan.version}): reload it before editing, so as not to "
                       "overwrite someone else's edits", version=loaded.plan.version)


def _refused(exc: EditRuleError) -> ApiError:
    return ApiError(422, "edit_refused", exc.zh, exc.en, rule=exc.rule,
                    buildings=exc.buildings, grids=exc.grids)


def commit_edit(session: Session, cache: EditorCache, loaded: Loaded, edit: Edit,
                version: int, author: int | None, kind: str,
                undo_of: m.EditRow | None = None, redo_of: m.EditRow | None = None
                ) -> dict[str, Any]:
    """Write ``edit`` made on ``version`` and record it; commits. Returns the answer."""
    plan = loaded.plan
    new_version = _check_version(session, plan, version)
    after, stats, polygons = write_edit(session, loaded, edit)
    if undo_of is not None:
        undo_of.state = "undone"
    elif redo_of is not None:
        redo_of.state = "applied"
    else:
        session.execute(update(m.EditRow).where(m.EditRow.plan_id == plan.id,
                                                m.EditRow.state == "undone")
                        .values(state="dropped"))
        seq = 1 + (session.scalar(select(m.EditRow.seq).where(m.EditRow.plan_id == plan.id)
                                  .order_by(m.EditRow.seq.desc()).limit(1)) or 0)
        session.add(m.EditRow(plan_id=plan.id, seq=seq, kind=kind, payload=edit.to_json(),
                              version=new_version, author_id=author))
    session.flush()
    can_undo, can_redo = _can_undo_redo(session, plan.id)
    session.commit()
    cache.plans[plan.id] = _PlanEntry(new_version, after)
    kept = cache.grid_features.get(plan.id)
    if kept is not None and kept[0] == version:
        features = dict(kept[1])
        for code in edit.removed:
            features.pop(code, None)
        features.update(_features(list(polygons), list(polygons.values())))
        cache.grid_features[plan.id] = (new_version, features)
    by_code = {s.code: s for s in stats}
    touched = after.touched(edit) | set(edit.removed)
    grids = []
    for code in sorted(touched):
        if code in by_code:
            s = by_code[code]
            poly = (polygons[code] if code in polygons
                    else _polygon(loaded.ground, after.members[code])[0])
            grids.append({**_stats_json(s), "geometry": shapely.geometry.mapping(poly)
                          if poly is not None else None})
    return {"version": new_version, "kind": kind,
            "changes": [{"building_id": b, "from_grid": s_, "to_grid": d}
                        for b, s_, d in edit.changes],
            "created": sorted(edit.created), "removed": sorted(edit.removed),
            "grids": grids, "deviations": {s.code: s.deviation_pct for s in stats},
            "summary": summary(stats), "can_undo": can_undo, "can_redo": can_redo}


EDIT_KINDS = ("move", "split", "merge", "lock", "unlock")


def make_edit(loaded: Loaded, kind: str, buildings: list[str], grid: str | None,
              other: str | None, grids: list[str]) -> Edit:
    """The edit asked for, checked (422 ``edit_refused`` with the rule and where)."""
    ctx, state = loaded.ctx, loaded.state
    try:
        if kind == "move":
            return edits.move(ctx, state, buildings, _need(grid, "grid"))
        if kind == "split":
            return edits.split(ctx, state, _need(grid, "grid"))
        if kind == "merge":
            return edits.merge(ctx, state, _need(grid, "grid"), _need(other, "other"))
        if kind in ("lock", "unlock"):
            codes = grids or ([grid] if grid else [])
            if not codes:
                raise ArgumentError("锁定/解锁需指定网格 grids", "lock and unlock need grids")
            return edits.lock(state, codes, kind == "lock")
    except EditRuleError as exc:
        raise _refused(exc) from exc
    raise ArgumentError(f"未知的编辑类型 {kind!r}：应为 {', '.join(EDIT_KINDS)}",
                        f"unknown edit kind {kind!r}: one of {', '.join(EDIT_KINDS)}")


def _need(value: str | None, name: str) -> str:
    if not value:
        raise ArgumentError(f"此编辑需要字段 {name}", f"this edit needs the field {name}")
    return value


def edit(session: Session, settings: Settings, cache: EditorCache, plan_id: int,
         version: int, kind: str, author: int | None, buildings: list[str] | None = None,
         grid: str | None = None, other: str | None = None,
         grids: list[str] | None = None) -> dict[str, Any]:
    """Check and write one edit of the draft (committed)."""
    with cache.plan_lock(plan_id):
        loaded = load(session, settings, cache, plan_id)
        _stale(loaded, version)
        change = make_edit(loaded, kind, buildings or [], grid, other, grids or [])
        if not (change.changes or change.lock or change.unlock):
            raise ApiError(422, "edit_refused", "此编辑不改变任何内容",
                           "this edit changes nothing", rule="no_change", buildings=[],
                           grids=grids or [])
        return commit_edit(session, cache, loaded, change, version, author, kind)


def undo(session: Session, settings: Settings, cache: EditorCache, plan_id: int,
         version: int, author: int | None, redo: bool = False) -> dict[str, Any]:
    """Undo the last applied edit (or, ``redo``, apply the first undone one again)."""
    with cache.plan_lock(plan_id):
        loaded = load(session, settings, cache, plan_id)
        _stale(loaded, version)
        last, nxt = _undo_redo(session, plan_id)
        row = nxt if redo else last
        if row is None:
            what = ("重做", "redo") if redo else ("撤销", "undo")
            raise ApiError(409, f"nothing_to_{what[1]}", f"没有可{what[0]}的编辑",
                           f"there is no edit to {what[1]}")
        stored = Edit.from_json(row.payload)
        change = stored if redo else stored.inverse()
        return commit_edit(session, cache, loaded, change, version, author,
                           "redo" if redo else "undo",
                           undo_of=None if redo else row, redo_of=row if redo else None)


def history(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """The draft's edits in order, with their state and size."""
    plan_row(session, plan_id)
    rows = session.scalars(select(m.EditRow).where(m.EditRow.plan_id == plan_id)
                           .order_by(m.EditRow.seq))
    return [{"seq": r.seq, "kind": r.kind, "state": r.state, "version": r.version,
             "buildings": len(r.payload.get("changes", [])), "author_id": r.author_id,
             "created_at": r.created_at} for r in rows]


# ---- a draft from a plan; the diff -------------------------------------------------------------

def copy_to_draft(session: Session, plan_id: int, name: str | None,
                  settings: Settings | None = None) -> m.PlanRow:
    """A new draft plan holding the plan's grids and buildings (committed); with
    ``settings``, the plan's kept footprints are the draft's too."""
    src = plan_row(session, plan_id)
    row = m.PlanRow(dataset_id=src.dataset_id, name=name or f"{src.name} 草稿 draft",
                    status="draft", target_households=src.target_households, seed=src.seed,
                    previous_plan_id=src.id, locked=[], summary=dict(src.summary or {}),
                    attribution=src.attribution, job_id=None)
    session.add(row)
    session.flush()
    for model in (m.GridRow, m.PlanBuildingRow):
        cols = [c.name for c in model.__table__.columns if c.name not in ("id", "plan_id")]
        table = cast(Table, model.__table__)
        session.execute(insert(table).from_select(
            ["plan_id", *cols],
            select(bindparam("new_plan", row.id), *[table.c[c] for c in cols])
            .where(table.c.plan_id == src.id)))
    session.commit()
    if settings is not None:
        _share_footprints(settings, src, row)
    return row


DIFF_COLUMNS = ("building_id", "change", "households", "from_grid", "to_grid", "from_worker",
                "to_worker")


def diff_with_active(session: Session, plan_id: int) -> dict[str, Any]:
    """What the draft changes against the active plan: buildings and households changing
    grid, grids changed, new and gone, and whose worker changes (a grid's worker: the
    draft's assignment, else the active plan's worker of the same code)."""
    plan_row(session, plan_id)
    active = active_plan_id(session)
    if active is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案，无可对比",
                       "there is no active plan to compare with")
    out = diff_plans(session, active, plan_id)
    before = _workers(session, active)
    after = {**before, **_workers(session, plan_id)}
    draft_grids = set(session.scalars(select(m.GridRow.code)
                                      .where(m.GridRow.plan_id == plan_id)))
    for move_ in out["moves"]:
        move_["from_worker"] = before.get(move_["from_grid"])
        move_["to_worker"] = (after.get(move_["to_grid"])
                              if move_["to_grid"] in draft_grids else None)
    changed = []
    for g in out["grids"]:
        w_before = before.get(g["code"])
        w_after = after.get(g["code"]) if g["change"] != "gone" else None
        g["worker_before"], g["worker_after"] = w_before, w_after
        if g["change"] in ("new", "gone") or w_before != w_after:
            changed.append(g["code"])
    moved_workers = {(x["from_worker"], x["to_worker"]) for x in out["moves"]
                     if x["from_worker"] != x["to_worker"]}
    out["grids_worker_changed"] = changed
    out["buildings_worker_changed"] = sum(x["from_worker"] != x["to_worker"]
                                          for x in out["moves"])
    out["worker_pairs"] = len(moved_workers)
    return out


def diff_csv(session: Session, plan_id: int) -> str:
    """The diff's buildings as CSV (UTF-8 with BOM, as Excel opens it) for the public
    notice: building, change, households, grid and worker before and after."""
    out = diff_with_active(session, plan_id)
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow(["楼栋 building_id", "变化 change", "户数 households", "原网格 from_grid",
                     "新网格 to_grid", "原网格员 from_worker", "新网格员 to_worker"])
    for x in out["moves"]:
        writer.writerow([x.get(c) if x.get(c) is not None else "" for c in DIFF_COLUMNS])
    return buf.getvalue()


# ---- the page ---------------------------------------------------------------------------------

def _bounds(session: Session, plan_id: int) -> list[list[float]] | None:
    """[[south, west], [north, east]] around the plan's buildings that have a grid (WGS84
    degrees), from the bounding boxes stored beside their geometries: one aggregate query,
    no geometry read."""
    b = m.PlanBuildingRow
    box = session.execute(select(func.min(b.minx), func.min(b.miny), func.max(b.maxx),
                                 func.max(b.maxy))
                          .where(b.plan_id == plan_id, b.grid_code.is_not(None))).one()
    if any(v is None for v in box):
        return None
    minx, miny, maxx, maxy = (float(v) for v in box)
    return [[miny, minx], [maxy, maxx]]


def _footprints_path(settings: Settings, plan: m.PlanRow) -> Path:
    """Where the packed footprints of ``plan`` are kept (the plan's id and creation time
    in the name: a store made anew in the same folder never reads another plan's)."""
    return (Path(settings.data_dir) / CACHE_FOLDER
            / f"plan-{plan.id}-{_stamp(plan.created_at)}-footprints-v{FOOTPRINTS_FORMAT}.json")


def _build_footprints(session: Session, plan_id: int) -> bytes:
    """The plan's footprints packed (maps.geometry.packed_polygons). Only what the page
    draws is read: the buildings with a grid, their ids, households and geometries."""
    import geopandas as gpd

    from api.store.spatial import decode_geometries, raw_geometry
    from maps.base import MapOptions
    from maps.geometry import packed_polygons

    b = m.PlanBuildingRow
    rows = session.execute(select(b.building_id, b.households, raw_geometry(b.geom))
                           .where(b.plan_id == plan_id, b.grid_code.is_not(None))
                           .order_by(b.id)).all()
    buildings = gpd.GeoDataFrame(
        {"building_id": [r.building_id for r in rows],
         "households": [r.households for r in rows]},
        geometry=decode_geometries([r.geom for r in rows]), crs="EPSG:4326")
    options = MapOptions()
    return packed_polygons(buildings, "building_id", "households",
                           tolerance_m=options.tolerance_m, datum=options.datum).encode()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save_footprints(db, settings: Settings, plan_id: int) -> bool:
    """Write the packed footprints of plan ``plan_id`` beside the editor's grounds, unless
    they are there already (run once a plan is stored: every draft copied from it starts
    with them, so its first editor page reads them instead of making them). Returns
    whether they were written."""
    with db.read_session() as session:
        plan = session.get(m.PlanRow, plan_id)
        if plan is None:
            return False
        path = _footprints_path(settings, plan)
        if path.exists():
            return False
        _write_bytes(path, _build_footprints(session, plan_id))
    return True


def _share_footprints(settings: Settings, source: m.PlanRow, draft: m.PlanRow) -> None:
    """The draft copied from ``source`` has its buildings, so its footprints: the
    source's file, when kept, is linked (or copied) under the draft's name."""
    import shutil

    src = _footprints_path(settings, source)
    if not src.exists():
        return
    dst = _footprints_path(settings, draft)
    tmp = dst.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except OSError:  # made on first use instead
        log.exception("footprints of plan %s not shared with draft %s", source.id, draft.id)


def _footprints(session: Session, settings: Settings, cache: EditorCache,
                plan: m.PlanRow) -> bytes:
    """The draft's footprints (packed): kept by this process, else read from the file
    kept for the plan (:func:`save_footprints`), else made (and kept in both). A draft's
    buildings never change, only their grids."""
    found = cache.footprints.get(plan.id)
    if found is not None:
        return found
    with cache.plan_lock(("footprints", plan.id)):  # one build per plan at a time
        found = cache.footprints.get(plan.id)
        if found is not None:
            return found
        path = _footprints_path(settings, plan)
        try:
            found = path.read_bytes()
        except OSError:
            found = _build_footprints(session, plan.id)
            try:
                _write_bytes(path, found)
            except OSError:
                log.exception("footprints of plan %s not kept", plan.id)
        with cache.lock:
            _keep(cache.footprints, plan.id, found)
    return found


def _keep(kept: dict, key: Any, value: Any) -> None:
    """Put ``value`` in ``kept`` under ``key``, dropping the oldest beyond PAGES_KEPT."""
    while len(kept) >= PAGES_KEPT:
        kept.pop(next(iter(kept)))
    kept[key] = value


def footprints(session: Session, settings: Settings, cache: EditorCache,
               plan_id: int) -> bytes:
    """The draft's building footprints for the editor page: JSON packed by
    maps.geometry.packed_polygons (ids: building_id, values: households; WGS84, 1e-6
    degree integers, simplified by half a metre)."""
    return _footprints(session, settings, cache, draft_row(session, plan_id))


def _stamp(made: datetime) -> str:
    """A creation time as digits (UTC), for file names that a store made anew in the same
    folder (ids counted again from 1) never takes for its own."""
    if made.tzinfo is not None:
        made = made.astimezone(UTC).replace(tzinfo=None)
    return f"{made:%Y%m%d%H%M%S%f}"


def _basemap_path(settings: Settings, dataset: m.DatasetRow,
                  bounds: list[list[float]] | None) -> Path:
    """Where the editor's basemap of ``dataset`` around ``bounds`` is kept."""
    from maps.base import MapOptions
    from maps.editor import BASEMAP_SKIP

    options = MapOptions()
    key = json.dumps([bounds, options.tolerance_m, options.datum, BASEMAP_SKIP,
                      BASEMAP_FORMAT])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return (Path(settings.data_dir) / CACHE_FOLDER
            / f"dataset-{dataset.id}-{_stamp(dataset.created_at)}-basemap-{digest}.json")


def _editor_basemap(session: Session, settings: Settings, basemaps: BasemapStore,
                    plan: m.PlanRow, bounds: list[list[float]] | None) -> dict[str, str]:
    """The editor page's basemap (maps.basemap.basemap_data, without buildings) of the
    draft's dataset around ``bounds``: read from the file kept for the dataset and those
    bounds (every plan of a dataset has the same), else made from the dataset's basemap
    layers and kept. Making it is most of making the page (~150 ms of CPU at 10,000
    buildings), so that a new draft's first page does not wait for it."""
    from maps.base import MapOptions
    from maps.basemap import basemap_data
    from maps.editor import BASEMAP_SKIP

    dataset = session.get_one(m.DatasetRow, plan.dataset_id)
    path = _basemap_path(settings, dataset, bounds)
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    options = MapOptions()
    layers = basemaps.for_dataset(dataset)
    data = basemap_data(layers, bounds, datum=options.datum, tolerance_m=options.tolerance_m,
                        skip=BASEMAP_SKIP) if layers else {}
    try:
        _write_bytes(path, json.dumps(data, ensure_ascii=False).encode())
    except OSError:
        log.exception("editor basemap of dataset %s not kept", dataset.id)
    return data


def save_basemap(db, settings: Settings, plan_id: int) -> None:
    """Make and keep the editor's basemap around plan ``plan_id``'s buildings (run once a
    plan is stored, as :func:`save_footprints`), unless it is kept already."""
    from api.services.basemap import BasemapStore

    with db.read_session() as session:
        plan = session.get(m.PlanRow, plan_id)
        if plan is not None:
            _editor_basemap(session, settings, BasemapStore(settings.data_dir), plan,
                            _bounds(session, plan_id))


def editor_page(session: Session, settings: Settings, cache: EditorCache, plan_id: int,
                lang: str, basemaps: BasemapStore | None = None) -> str:
    """The editor page of a draft plan (maps.editor), over its dataset's basemap as every
    map page (api.services.maps; the basemap read from the file kept for the dataset, see
    :func:`_editor_basemap`). The page holds only what editing does not change (the
    basemap; the page reads the rest from the API, the footprints included), so it is
    made once per plan and language and kept by this process."""
    import maps
    from maps.base import MapOptions
    from maps.editor import editor_map

    plan = draft_row(session, plan_id)
    key = (plan_id, lang)
    page = cache.pages.get(key)
    if page is not None:
        return page
    with cache.plan_lock(("page", *key)):  # one build per page at a time
        page = cache.pages.get(key)
        if page is None:
            bounds = _bounds(session, plan_id)
            data = (_editor_basemap(session, settings, basemaps, plan, bounds)
                    if basemaps is not None else None)
            page = maps.page_html(editor_map(bounds, plan_id=plan_id, name=plan.name,
                                             options=MapOptions(lang=lang),
                                             basemap_data=data))
            with cache.lock:
                _keep(cache.pages, key, page)
    return page


# ---- re-balancing (a job) --------------------------------------------------------------------

def start_rebalance(session: Session, runner, plan_id: int, version: int, seed: int,
                    token_id: int | None) -> m.JobRow:
    """Queue the re-balancing of the draft's unlocked grids from ``version`` (409 when stale
    or not a draft)."""
    plan = draft_row(session, plan_id)
    if plan.version != version:
        raise ApiError(409, "stale_version",
                       f"草稿已被修改（您的版本 {version}，当前版本 {plan.version}）：请刷新",
                       f"the draft has changed (your version {version}, now {plan.version}):"
                       " reload it", version=plan.version)
    return runner.submit("plan_rebalance", {"plan_id": plan_id, "version": version,
                                            "seed": seed, "token_id": token_id}, token_id)


def rebalance_edit(loaded: Loaded, seed: int,
                   progress: Callable[[int, int], object] | None = None) -> Edit:
    """The re-balancing of the loaded draft's unlocked grids, as one edit."""
    return edits.rebalance(loaded.ctx, loaded.state, seed, progress)
