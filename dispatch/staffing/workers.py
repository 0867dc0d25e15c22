"""Grid workers (网格员) assigned to grids, and the four-level structure they work in.

The assignment is an OR-Tools CP-SAT model: every grid gets exactly one responsible worker who
has the skills it needs; a worker holds at most ``max_grids`` grids and ``max_households``
households; the objective adds, in metres, the walk from each worker's base to their grids, the
spread of households between workers (``BALANCE_M_PER_HOUSEHOLD`` per household away from the
mean) and, when re-running after a change, ``KEEP_M`` for every grid that changes hands, so that
existing assignments stay where they can.

The four levels used in practice: community (社区) -> grid leader (网格长, one per community) ->
grid workers (网格员, one per grid) and building micro-grid workers (楼栋微网格员, one per
residential building) -> the community's patrol team (网格巡查队).
Distances are walking metres; positions are in the walk network's metric CRS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
from ortools.sat.python import cp_model

from dispatch.routing.network import WalkNetwork
from gis.errors import WanggeError

BALANCE_M_PER_HOUSEHOLD = 2.0
KEEP_M = 2000.0
ROLES = ("grid_worker", "grid_leader", "building_worker", "patrol")
DAY_S = 24 * 3600


def clock_seconds(text: str) -> int:
    """Seconds after 00:00 of "HH:MM" (00:00 to 24:00), as workers' hours are written.

    Raises:
        ValueError: not a time of day.
    """
    hours, sep, minutes = text.strip().partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(text)
    seconds = int(hours) * 3600 + int(minutes) * 60
    if int(minutes) > 59 or seconds > DAY_S:
        raise ValueError(text)
    return seconds


@dataclass
class Worker:
    """A grid worker.

    Attributes:
        worker_id: the caller's id.
        name, phone: as shown to users.
        x, y: base (home or service station), metric CRS (m).
        role: one of ``ROLES``.
        max_grids: most grids (or, for building workers, buildings) held.
        max_households: most households held.
        skills: what the worker can handle; a grid's ``skills`` column lists what it needs.
        hours: working hours (s from 00:00).
    """

    worker_id: object
    name: str
    x: float
    y: float
    role: str = "grid_worker"
    phone: str = ""
    max_grids: int = 3
    max_households: int = 1200
    skills: frozenset[str] = field(default_factory=frozenset)
    hours: tuple[int, int] = (8 * 3600, 17 * 3600)


class AssignmentError(WanggeError, ValueError):
    """The workers cannot cover the grids (too few, too little capacity, missing skills), or
    party members cannot be given households (dispatch.staffing.party)."""


def _walk_from_bases(net: WalkNetwork, workers: list[Worker], xs: npt.ArrayLike,
                     ys: npt.ArrayLike) -> np.ndarray:
    """Walking metres from each worker's base (rows) to each point (columns)."""
    nodes_w, off_w = net.snap([w.x for w in workers], [w.y for w in workers])
    nodes_p, off_p = net.snap(xs, ys)
    walk: np.ndarray = net.node_distances(nodes_w, nodes_p) + off_w[:, None] + off_p[None, :]
    return walk


def assign_workers(net: WalkNetwork, grids: gpd.GeoDataFrame, workers: list[Worker], *,
                   previous: Mapping[Any, object] | None = None, seconds: float = 5.0,
                   deterministic: bool = False) -> pd.DataFrame:
    """Assign one worker to each grid.

    Args:
        net: the walk network.
        grids: ``grid_id``, ``households`` and polygons in the network's CRS; optional
            ``skills`` (an iterable of required skills per grid).
        workers: candidates; only role ``grid_worker`` ones are used.
        previous: grid_id -> worker_id of the plan in force; kept where possible.
        seconds: CP-SAT time limit.
        deterministic: one search thread, so equal inputs give equal assignments (when the
            search ends by proving its optimum, not by the time limit).

    Returns:
        DataFrame: grid_id, worker_id, households, walk_m (base to the grid's centre), kept
        (same worker as before).

    Raises:
        AssignmentError: no feasible assignment, with the reason when it is a simple one.
    """
    staff = [w for w in workers if w.role == "grid_worker"]
    if not staff:
        raise AssignmentError("没有可分配的网格员（角色 grid_worker）",
                              "no grid worker (role grid_worker) to assign")
    previous = previous or {}
    centres = grids.geometry.representative_point()
    walk = _walk_from_bases(net, staff, centres.x.values, centres.y.values)
    households = grids["households"].round().astype(int).to_numpy()
    needs = grids["skills"] if "skills" in grids.columns else [()] * len(grids)
    total = int(households.sum())
    if sum(w.max_households for w in staff) < total:
        room = sum(w.max_households for w in staff)
        raise AssignmentError(f"共 {total} 户，网格员最多只能负责 {room} 户：请增加网格员或提高 "
                              "max_households",
                              f"{total} households but the workers can hold only {room}: add "
                              "workers or raise their max_households")
    if sum(w.max_grids for w in staff) < len(grids):
        room = sum(w.max_grids for w in staff)
        raise AssignmentError(f"共 {len(grids)} 个网格，网格员最多只能负责 {room} 个：请增加网格员",
                              f"{len(grids)} grids but the workers can hold only {room}: add "
                              "workers")

    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}  # (worker, grid) -> assigned
    for g, need in enumerate(needs):
        for w, worker in enumerate(staff):
            if set(need or ()) <= set(worker.skills) and np.isfinite(walk[w, g]):
                x[w, g] = model.new_bool_var(f"x{w}_{g}")
        options = [x[w, g] for w in range(len(staff)) if (w, g) in x]
        if not options:
            grid = grids["grid_id"].iloc[g]
            raise AssignmentError(f"网格 {grid}：没有网格员具备技能 {sorted(need)} 或能到达该网格",
                                  f"grid {grid}: no worker has the skills {sorted(need)} or can "
                                  "reach it")
        model.add_exactly_one(options)
    mean = total / len(staff)
    spread: list[cp_model.IntVar] = []
    for w, worker in enumerate(staff):
        mine = [(g, var) for (ww, g), var in x.items() if ww == w]
        load = sum(int(households[g]) * var for g, var in mine)
        model.add(sum(var for _, var in mine) <= worker.max_grids)
        model.add(load <= worker.max_households)
        dev = model.new_int_var(0, total, f"dev{w}")
        model.add_abs_equality(dev, load - round(mean))
        spread.append(dev)
    grid_ids = list(grids["grid_id"])
    cost = [round(walk[w, g]) * var for (w, g), var in x.items()]
    keep = [round(KEEP_M) * (1 - var) for (w, g), var in x.items()
            if previous.get(grid_ids[g]) == staff[w].worker_id]
    model.minimize(sum(cost) + sum(keep) + round(BALANCE_M_PER_HOUSEHOLD) * sum(spread))

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1 if deterministic else 2
    solver.parameters.random_seed = 0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise AssignmentError("没有满足网格员上限和技能的分配方案：请增加网格员或提高 max_grids / "
                              "max_households",
                              "no assignment satisfies the workers' limits and skills: add "
                              "workers or raise max_grids / max_households")
    rows = []
    for (w, g), var in x.items():
        if solver.value(var):
            rows.append({"grid_id": grid_ids[g], "worker_id": staff[w].worker_id,
                         "households": int(households[g]), "walk_m": round(walk[w, g], 1),
                         "kept": previous.get(grid_ids[g]) == staff[w].worker_id})
    return pd.DataFrame(rows).sort_values("grid_id").reset_index(drop=True)


def _nearest_unique(cost: np.ndarray) -> np.ndarray:
    """Row index chosen for each column: one row per column, each row used at most once when
    there are enough rows (min-cost assignment), else rows reused by nearest."""
    from scipy.optimize import linear_sum_assignment

    if cost.shape[0] >= cost.shape[1]:
        rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e12))
        chosen = np.empty(cost.shape[1], dtype=int)
        chosen[cols] = rows
        return chosen
    nearest: np.ndarray = np.argmin(cost, axis=0)
    return nearest


def four_levels(net: WalkNetwork, grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                workers: list[Worker], assignment: pd.DataFrame) -> pd.DataFrame:
    """The four-level structure as a tree of responsibilities.

    Args:
        grids: ``grid_id``, ``community`` and polygons (metric CRS).
        buildings: residential buildings with ``building_id`` and ``grid_id`` (metric CRS).
        workers: all workers; roles decide their level.
        assignment: from :func:`assign_workers`.

    Returns:
        DataFrame of (level, unit, parent, worker_id): level ``community`` (unit = community,
        worker = its grid leader, nearest by walking, one community each while leaders last),
        ``grid`` (unit = grid_id, parent = community), ``building`` (unit = building_id, parent
        = grid_id, worker = the nearest building worker, at most ``max_grids`` buildings each,
        or the grid's worker when there is none) and ``patrol`` (unit = community, one row per
        patrol team member, each in the community nearest their base).
    """
    rows: list[tuple[str, object, object, object]] = []
    communities = grids.dissolve("community")
    centres = communities.geometry.representative_point()
    leaders = [w for w in workers if w.role == "grid_leader"]
    grid_worker = dict(zip(assignment["grid_id"], assignment["worker_id"], strict=True))
    if leaders:
        walk = _walk_from_bases(net, leaders, centres.x.values, centres.y.values)
        for c, li in zip(communities.index, _nearest_unique(walk), strict=True):
            rows.append(("community", c, None, leaders[li].worker_id))
    else:  # no leader named: the worker holding most households in the community leads it
        lead = assignment.merge(grids[["grid_id", "community"]]).groupby(
            ["community", "worker_id"])["households"].sum().reset_index()
        for c, part in lead.groupby("community"):
            rows.append(("community", c, None, part.loc[part["households"].idxmax(),
                                                        "worker_id"]))
    for grid_id, community in zip(grids["grid_id"], grids["community"], strict=True):
        rows.append(("grid", grid_id, community, grid_worker.get(grid_id)))
    rows += _building_rows(net, buildings, workers, grid_worker)
    patrol = [w for w in workers if w.role == "patrol"]
    if patrol:
        walk = _walk_from_bases(net, patrol, centres.x.values, centres.y.values)
        for w, c in zip(patrol, np.argmin(walk, axis=1), strict=True):
            rows.append(("patrol", communities.index[c], None, w.worker_id))
    return pd.DataFrame(rows, columns=["level", "unit", "parent", "worker_id"])


def _building_rows(net: WalkNetwork, buildings: gpd.GeoDataFrame, workers: list[Worker],
                   grid_worker: dict[object, object]) -> list[tuple[str, object, object, object]]:
    helpers = [w for w in workers if w.role == "building_worker"]
    points = buildings.geometry.representative_point()
    chosen = np.full(len(buildings), -1)
    if helpers:
        walk = _walk_from_bases(net, helpers, points.x.values, points.y.values)
        # Each building worker repeated max_grids times, so capacity becomes unique slots.
        slots = np.repeat(np.arange(len(helpers)), [w.max_grids for w in helpers])
        if len(slots) >= len(buildings):
            chosen = slots[_nearest_unique(walk[slots])]
    rows = []
    for i, (bid, gid) in enumerate(zip(buildings["building_id"], buildings["grid_id"],
                                       strict=True)):
        worker = helpers[chosen[i]].worker_id if chosen[i] >= 0 else grid_worker.get(gid)
        rows.append(("building", bid, gid, worker))
    return rows
