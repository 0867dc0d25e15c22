"""Dispatching incidents to grid workers on the walk network.

A report's position finds its grid in the active plan (point in polygon) and so the worker
responsible for it (``dispatch.staffing.workers.assign_workers``). When that worker is off duty,
overloaded or cannot reach the place before the deadline, the workers on duty are ranked by
walking time from where they are (``dispatch.routing.network.WalkNetwork``), their open load
and the deadline; the incident is then inserted into the chosen worker's route for today with
the OR-Tools visit router (``dispatch.routing.visits.plan_visits``, today's route as the
starting solution).
When a worker goes off duty their open incidents are dispatched again, and overdue incidents are
escalated to the grid leader of their community (``dispatch.staffing.workers.four_levels``).

Positions of incidents are WGS84 lon/lat; grids, bases and routing work in the walk network's
metric CRS (m); walking times are seconds at ``WALK_SPEED_KMH``; clock times are Beijing time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer
from shapely.geometry import Point

from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import WITH_WORKER, Incident, add_note, transition
from dispatch.incidents.rules import Rules, beijing
from dispatch.routing.network import WALK_SPEED_KMH, WalkNetwork, walk_seconds
from dispatch.routing.visits import Stop, VisitPlan, Walker, plan_visits
from dispatch.staffing.workers import Worker

MAX_OPEN = 8  # open incidents a worker holds before counting as overloaded
LOAD_WEIGHT_S = 900  # each open incident counts as 15 minutes more walking
LATE_PENALTY_S = 24 * 3600  # a worker who would miss the deadline ranks after those who would not


@dataclass
class WorkerStatus:
    """A worker right now: on duty or not, where (metric CRS, m; None = at the base) and busy
    until when (None = free)."""

    worker_id: Hashable
    on_duty: bool = True
    x: float | None = None
    y: float | None = None
    busy_until: datetime | None = None


Status = dict[Hashable, WorkerStatus]  # worker id -> what they are doing now


def locate_grid(grids: gpd.GeoDataFrame, x: float, y: float) -> Hashable | None:
    """The ``grid_id`` of the grid covering point (x, y) (the grids' CRS); None outside all.

    A point on a shared boundary goes to the first grid in table order."""
    point = Point(x, y)
    for pos in grids.sindex.query(point, predicate="intersects", sort=True):
        if grids.geometry.iloc[pos].covers(point):
            grid_id: Hashable = grids["grid_id"].iloc[pos]
            return grid_id
    return None


def seconds_of_day(at: datetime) -> int:
    """Seconds since 00:00 Beijing time of ``at``'s day."""
    local = beijing(at)
    return local.hour * 3600 + local.minute * 60 + local.second


class Dispatcher:
    """Dispatch for one active plan.

    Args:
        net: the walk network (metric CRS).
        grids: the plan's grids (``grid_id``, polygons in ``net``'s CRS).
        assignment: grid_id -> worker_id (``assign_workers``).
        workers: the workers (bases in the metric CRS).
        rules: categories and deadlines.
        levels: ``four_levels`` rows (community -> leader) for escalation.
        max_open: open incidents beyond which a worker is overloaded.
    """

    def __init__(self, net: WalkNetwork, grids: gpd.GeoDataFrame, assignment: pd.DataFrame,
                 workers: list[Worker], rules: Rules, *, levels: pd.DataFrame | None = None,
                 max_open: int = MAX_OPEN, speed_kmh: float = WALK_SPEED_KMH) -> None:
        self.net, self.grids, self.rules = net, grids, rules
        self.workers = {w.worker_id: w for w in workers}
        self.responsible = dict(zip(assignment["grid_id"], assignment["worker_id"],
                                    strict=True))
        self.max_open, self.speed_kmh = max_open, speed_kmh
        self._to_metric = Transformer.from_crs("EPSG:4326", grids.crs, always_xy=True)
        self._leaders = _leaders(levels) if levels is not None else {}

    def to_metric(self, lon: float, lat: float) -> tuple[float, float]:
        """WGS84 lon/lat -> metric x/y (m) of the plan's CRS."""
        x, y = self._to_metric.transform(lon, lat)
        return float(x), float(y)

    def locate(self, incident: Incident) -> Hashable | None:
        """The grid of ``incident`` (also stored on it as ``grid_id``)."""
        incident.grid_id = locate_grid(self.grids, *self.to_metric(incident.lon, incident.lat))
        return incident.grid_id

    def open_load(self, incidents: list[Incident]) -> dict[Hashable, int]:
        """Open incidents held per worker (dispatched or in progress)."""
        load = dict.fromkeys(self.workers, 0)
        for i in incidents:
            if i.stage in WITH_WORKER and i.assignee in load:
                load[i.assignee] += 1
        return load

    def on_duty(self, worker_id: Hashable, status: Status, now: datetime) -> bool:
        """On duty: not marked off and within the worker's hours."""
        s = status.get(worker_id)
        start, end = self.workers[worker_id].hours
        return (s is None or s.on_duty) and start <= seconds_of_day(now) < end

    def rank(self, incident: Incident, incidents: list[Incident], status: Status,
             now: datetime, *, exclude: frozenset[Hashable] = frozenset()) -> pd.DataFrame:
        """Workers on duty ranked for ``incident``, best first.

        Returns:
            DataFrame: worker_id, walk_m (from where the worker is), walk_s, wait_s (until the
            current job ends), open_load, eta (arrival, Beijing time), meets_deadline (arrival
            plus the category's service time before ``close_by``), overloaded, score (s:
            wait + walk + LOAD_WEIGHT_S per open incident + LATE_PENALTY_S when late).
            Overloaded workers come last.
        """
        now = beijing(now)
        ids = [w for w in self.workers if w not in exclude and self.on_duty(w, status, now)]
        if not ids:
            return pd.DataFrame(columns=["worker_id", "walk_m", "walk_s", "wait_s", "open_load",
                                         "eta", "meets_deadline", "overloaded", "score"])
        walk = self.walk_metres_to(incident, [self._position(w, status) for w in ids])
        load = self.open_load(incidents)
        service = timedelta(minutes=self.rules.category(incident.category).service_min)
        rows = []
        for w, metres in zip(ids, walk, strict=True):
            busy = status[w].busy_until if w in status else None
            wait = max(0.0, (beijing(busy) - now).total_seconds()) if busy else 0.0
            secs = float(walk_seconds(metres, self.speed_kmh))
            eta = now + timedelta(seconds=wait + secs)
            meets = eta + service <= incident.close_by
            rows.append({"worker_id": w, "walk_m": round(float(metres), 1),
                         "walk_s": round(secs), "wait_s": round(wait), "open_load": load[w],
                         "eta": eta, "meets_deadline": meets,
                         "overloaded": load[w] >= self.max_open,
                         "score": wait + secs + LOAD_WEIGHT_S * load[w]
                         + (0 if meets else LATE_PENALTY_S)})
        table = pd.DataFrame(rows)
        return table.sort_values(["overloaded", "score", "walk_m"], kind="stable",
                                 ignore_index=True)

    def choose(self, incident: Incident, incidents: list[Incident], status: Status,
               now: datetime, *,
               exclude: frozenset[Hashable] = frozenset()) -> tuple[Hashable, str]:
        """(worker_id, reason): the grid's worker when on duty, not overloaded and in time,
        else the best ranked.

        Raises:
            IncidentError: no worker on duty.
        """
        grid = incident.grid_id if incident.grid_id is not None else self.locate(incident)
        ranking = self.rank(incident, incidents, status, now, exclude=exclude)
        if ranking.empty:
            raise IncidentError("没有在岗的网格员可派遣", "no worker on duty to dispatch to")
        own = self.responsible.get(grid)
        mine = ranking[ranking["worker_id"] == own]
        if len(mine) and not mine["overloaded"].iloc[0] and mine["meets_deadline"].iloc[0]:
            return own, "网格责任人 grid's worker"
        why = ("不在网格内 outside the plan" if own is None
               else "责任人离岗 grid's worker off duty" if mine.empty
               else "责任人超负荷 grid's worker overloaded" if mine["overloaded"].iloc[0]
               else "责任人无法按时到达 grid's worker cannot arrive in time")
        return ranking["worker_id"].iloc[0], why

    def dispatch(self, incident: Incident, incidents: list[Incident], status: Status,
                 now: datetime, who: str = "system", *,
                 exclude: frozenset[Hashable] = frozenset()) -> Hashable:
        """Choose a worker and move ``incident`` (accepted or returned) to ``dispatched``."""
        worker, why = self.choose(incident, incidents, status, now, exclude=exclude)
        transition(incident, "dispatched", who, f"派遣 dispatched: {why}", now, assignee=worker)
        return worker

    def redispatch_off_duty(self, worker_id: Hashable, incidents: list[Incident],
                            status: Status, now: datetime,
                            who: str = "system") -> pd.DataFrame:
        """Mark ``worker_id`` off duty and dispatch their open incidents (dispatched or in
        progress; claimed micro-wishes stay with their claimant) to others, most urgent first.

        Returns:
            DataFrame: incident_id, from_worker, to_worker, reason.
        """
        status.setdefault(worker_id, WorkerStatus(worker_id)).on_duty = False
        mine = sorted((i for i in incidents if i.assignee == worker_id
                       and i.stage in WITH_WORKER
                       and not self.rules.category(i.category).claimed),
                      key=lambda i: i.close_by)
        rows = []
        for inc in mine:
            to, why = self.choose(inc, incidents, status, now, exclude=frozenset({worker_id}))
            transition(inc, "dispatched", who, f"改派 re-dispatched, {worker_id} 离岗 off duty: "
                       f"{why}", now, assignee=to)
            rows.append({"incident_id": inc.incident_id, "from_worker": worker_id,
                         "to_worker": to, "reason": why})
        return pd.DataFrame(rows, columns=["incident_id", "from_worker", "to_worker", "reason"])

    def escalate_overdue(self, incidents: list[Incident], now: datetime,
                         who: str = "system") -> pd.DataFrame:
        """Escalate every overdue open incident not escalated yet to its community's grid
        leader (网格长): ``escalated_to`` is set and an ``escalate`` step written.

        Returns:
            DataFrame: incident_id, grid_id, community, leader, overdue_h.
        """
        rows = []
        for inc in incidents:
            if inc.escalated_to is not None or not inc.overdue(now):
                continue
            grid = inc.grid_id if inc.grid_id is not None else self.locate(inc)
            community, leader = self._leaders.get(grid, (None, None))
            if leader is None:
                continue
            late_h = (beijing(now) - inc.deadline).total_seconds() / 3600
            inc.escalated_to = leader
            add_note(inc, "escalate", who, f"超期 {late_h:.1f} 小时，上报网格长 {leader} / "
                     f"overdue by {late_h:.1f} h, escalated to grid leader {leader}", now)
            rows.append({"incident_id": inc.incident_id, "grid_id": grid,
                         "community": community, "leader": leader,
                         "overdue_h": round(late_h, 2)})
        return pd.DataFrame(rows, columns=["incident_id", "grid_id", "community", "leader",
                                           "overdue_h"])

    def incident_stop(self, incident: Incident, now: datetime) -> Stop:
        """The incident as a mandatory visit stop: service time of its category and, when its
        deadline falls today and can still be met, an arrival window ending in time."""
        x, y = self.to_metric(incident.lon, incident.lat)
        service = self.rules.category(incident.category).service_min * 60
        window = None
        if beijing(incident.close_by).date() == beijing(now).date():
            latest = seconds_of_day(incident.close_by) - service
            if latest > seconds_of_day(now):
                window = (seconds_of_day(now), latest)
        return Stop(incident.incident_id, x, y, service, window, None, incident.category)

    def insert_into_route(self, worker_id: Hashable, status: Status, stops: list[Stop],
                          route: list[object],
                          new: Stop | None, now: datetime, *,
                          seconds: float = 1.0) -> VisitPlan:
        """Insert stop ``new`` into ``worker_id``'s route for the rest of today.

        Args:
            stops: the stops still to visit today; ``route`` their ids in the planned order,
                the starting solution of the search.
            new: the incident's stop (:meth:`incident_stop`); None re-plans ``stops`` from
                ``now`` (after one was taken out of the route).
            now: the route starts at the worker's position when they are free (the end of the
                current job) and ends by the end of their hours.

        Returns:
            The worker's new route; stops that no longer fit today are in ``dropped``.
        """
        w = self.workers[worker_id]
        x, y = self._position(worker_id, status)
        s = status.get(worker_id)
        start = beijing(now) if s is None or s.busy_until is None else max(
            beijing(now), beijing(s.busy_until))
        begin = min(max(seconds_of_day(start), w.hours[0]), w.hours[1])
        walker = Walker(worker_id, x, y, (begin, w.hours[1]), w.name)
        every = list(stops) if new is None else [*stops, new]
        return plan_visits(self.net, [walker], every, seconds=seconds,
                           deterministic=True, speed_kmh=self.speed_kmh,
                           initial_routes=[list(route)])

    def _position(self, worker_id: Hashable, status: Status) -> tuple[float, float]:
        s = status.get(worker_id)
        if s is not None and s.x is not None and s.y is not None:
            return s.x, s.y
        w = self.workers[worker_id]
        return w.x, w.y

    def walk_metres_to(self, incident: Incident, points: list[tuple[float, float]]) -> np.ndarray:
        """Walking metres from each point to the incident."""
        ix, iy = self.to_metric(incident.lon, incident.lat)
        nodes, off = self.net.snap([p[0] for p in points] + [ix], [p[1] for p in points] + [iy])
        along = self.net.node_distances(nodes[:-1], nodes[-1:])[:, 0]
        walk: np.ndarray = along + off[:-1] + off[-1]
        return walk


def _leaders(levels: pd.DataFrame) -> dict[Hashable, tuple[Hashable, Hashable | None]]:
    """grid_id -> (community, grid leader) from ``four_levels`` rows."""
    leader = dict(levels.loc[levels["level"] == "community", ["unit", "worker_id"]]
                  .itertuples(index=False, name=None))
    grids = levels.loc[levels["level"] == "grid", ["unit", "parent"]]
    return {g: (c, leader.get(c)) for g, c in grids.itertuples(index=False, name=None)}
