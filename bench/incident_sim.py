"""A simulated working day of incidents over the demo area: our dispatch against nearest-worker.

    python bench/incident_sim.py [--seeds 0 1 2 3 4] [--rate 200] [--seconds 0.3]

The demo study area (``pyrosm.get_data("test_pbf")``) is divided into micro-grids
(``partition.plan.make_plan``) and 10 grid workers, based at random homes, are assigned to them
(``dispatch.staffing.workers.assign_workers``). Reports arrive as a Poisson process, ``--rate``
a day, between 08:00 and 17:00 Beijing time on Wednesday 18 Nov 2026, at random buildings (70%)
or random points along the streets (30%), in weighted categories (micro-wishes are claimed by
volunteers, not dispatched, so they are left out). The simulation runs on until every incident
is closed (workers 08:00-17:00 each working day). Worker w3 goes off duty at 12:00 that day.

Both policies see the same reports, acceptance delays (立案 by the centre: emergencies at any
time, others in office hours, mean 10 min), service times (the category's time on site times
0.5 to 1.5) and verification delays (mean 20 min in office hours, then 结案):

- ``ours``: ``dispatch.incidents.dispatcher.Dispatcher``: the grid's worker unless off duty,
  overloaded or unable to arrive in time, else the best ranked by walking time, open load and
  deadline; the incident is inserted into that worker's remaining route with OR-Tools
  (``plan_visits``, the current order as the starting solution, deadline windows); an off-duty
  worker's incidents are re-dispatched the same way.
- ``nearest``: the on-duty worker nearest by walking from where they are, the incident appended
  to their queue (first come, first served, no routing); the same for re-dispatch.

Walking distance is measured along the walk network from where a worker is to each incident.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import time as clock
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyrosm

from dispatch.incidents.dispatcher import Dispatcher, WorkerStatus
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import Incident, merge_report, transition
from dispatch.incidents.rules import BEIJING, Rules, load_rules
from dispatch.routing.network import WalkNetwork, walk_seconds
from dispatch.staffing.workers import Worker, assign_workers, four_levels
from gis.study_area import load_study_area
from partition.plan import make_plan

DAY = datetime(2026, 11, 18, tzinfo=BEIJING)  # a Wednesday
WEIGHTS = {"environment": 0.30, "parking": 0.18, "public_facilities": 0.15, "noise": 0.10,
           "neighbour_dispute": 0.08, "public_order": 0.05, "stray_animals": 0.05,
           "building_safety": 0.04}
OFF_DUTY = ("w3", 12)  # worker, hour of the first day they leave
MAX_DAYS = 10


@dataclass
class Report:
    """One simulated report with its pre-drawn delays (the same for both policies)."""

    rid: str
    category: str
    lon: float
    lat: float
    x: float
    y: float
    at: datetime
    accept_delay_s: float
    service_s: int
    verify_delay_s: float


@dataclass
class WorkerSim:
    worker_id: str
    x: float
    y: float
    base: tuple[float, float]
    queue: list = field(default_factory=list)
    current: str | None = None
    free_at: datetime | None = None
    job: int = 0
    walked_m: float = 0.0
    off_until: datetime | None = None


def load_demo():
    """The demo study area, its plan and walk network (the same for every seed)."""
    area = load_study_area(pyrosm.get_data("test_pbf"))
    plan = make_plan(area)
    return area, plan, WalkNetwork.from_graph(area.streets)


def build_world(demo, seed: int):
    """10 workers at random homes and a grid leader, their assignment and the four levels."""
    area, plan, net = demo
    homes = plan.buildings[plan.buildings["grid_id"].notna()
                           & (plan.buildings["households"] > 0)]
    pts = homes.sample(11, random_state=seed).geometry.representative_point()
    workers = [Worker(f"w{i}", f"网格员{i}", p.x, p.y, max_grids=8, max_households=3000)
               for i, p in enumerate(pts[:10])]
    leader = Worker("L1", "网格长", pts.iloc[10].x, pts.iloc[10].y, role="grid_leader")
    assignment = assign_workers(net, plan.grids, workers, seconds=20)
    levels = four_levels(net, plan.grids, homes, [*workers, leader], assignment)
    return area, plan, net, workers, assignment, levels


def draw_reports(plan, net: WalkNetwork, rules: Rules, rate: float,
                 rng: np.random.Generator) -> list[Report]:
    """A Poisson number of reports at uniform times over 08:00-17:00."""
    n = rng.poisson(rate)
    times = np.sort(rng.uniform(8 * 3600, 17 * 3600, n))
    cats = rng.choice(list(WEIGHTS), n, p=np.array(list(WEIGHTS.values())) / sum(WEIGHTS.values()))
    buildings = plan.buildings[plan.buildings["grid_id"].notna()].geometry.representative_point()
    edges = list(net.graph.edges(data="geometry"))
    xs, ys = [], []
    for _ in range(n):
        if rng.random() < 0.7:
            p = buildings.iloc[rng.integers(len(buildings))]
        else:
            line = edges[rng.integers(len(edges))][2]
            p = line.interpolate(rng.random(), normalized=True)
        xs.append(p.x)
        ys.append(p.y)
    import geopandas as gpd

    lonlat = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=plan.grids.crs).to_crs(4326)
    reports = []
    for k in range(n):
        cat = rules.category(str(cats[k]))
        reports.append(Report(
            f"E{k:04d}", cat.category_id, lonlat.iloc[k].x, lonlat.iloc[k].y, xs[k], ys[k],
            DAY + timedelta(seconds=float(times[k])), rng.exponential(600),
            int(cat.service_min * 60 * rng.uniform(0.5, 1.5)), rng.exponential(1200)))
    return reports


class Simulation:
    """An event-driven day (and the days after it until all is closed) for one policy."""

    def __init__(self, policy: str, world, rules: Rules, reports: list[Report], seconds: float):
        _, plan, net, workers, assignment, levels = world
        self.policy, self.rules, self.net, self.seconds = policy, rules, net, seconds
        self.d = Dispatcher(net, plan.grids, assignment, workers, rules, levels=levels)
        self.workers = {w.worker_id: WorkerSim(w.worker_id, w.x, w.y, (w.x, w.y))
                        for w in workers}
        self.hours = {w.worker_id: w.hours for w in workers}
        self.reports = {r.rid: r for r in reports}
        self.incidents: list[Incident] = []
        self.by_id: dict[str, Incident] = {}
        self.pending: list[str] = []
        self.merged = 0
        self.escalated = 0
        self.events: list = []
        self.seq = itertools.count()
        for r in reports:
            self.push(r.at, "report", r.rid)
        off_worker, off_hour = OFF_DUTY
        self.push(DAY + timedelta(hours=off_hour), "off", off_worker)
        for day in range(MAX_DAYS):
            start = DAY + timedelta(days=day)
            if rules.calendar.is_working_day(start.date()):
                self.push(start + timedelta(hours=8), "shift", None)
            for hour in range(24):
                self.push(start + timedelta(hours=hour, minutes=59), "escalate", None)

    def push(self, at: datetime, kind: str, payload) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, payload))

    # ---- the office: reports, acceptance, verification ----------------------------------
    def office_time(self, at: datetime, delay_s: float, emergency: bool) -> datetime:
        if emergency:
            return at + timedelta(seconds=delay_s)
        return self.rules.calendar.add_working_time(at, delay_s / 3600)

    def on_report(self, now: datetime, rid: str) -> None:
        r = self.reports[rid]
        inc, merged = merge_report(self.incidents, rid, r.category, r.lon, r.lat, now,
                                   f"居民{rid}", self.rules)
        if merged:
            self.merged += 1
            return
        self.by_id[rid] = inc
        emergency = self.rules.category(r.category).emergency
        self.push(self.office_time(now, r.accept_delay_s, emergency), "accept", rid)

    def on_accept(self, now: datetime, rid: str) -> None:
        transition(self.by_id[rid], "accepted", "centre", "立案 accepted", now)
        self.assign(rid, now)

    def on_verify(self, now: datetime, rid: str) -> None:
        inc = self.by_id[rid]
        transition(inc, "verified", "centre", "核查 verified", now)
        transition(inc, "closed", "centre", "结案 closed", now)

    # ---- dispatch ----------------------------------------------------------------------
    def status(self) -> dict:
        out = {}
        for w in self.workers.values():
            out[w.worker_id] = WorkerStatus(w.worker_id, w.off_until is None, w.x, w.y,
                                            w.free_at if w.current else None)
        return out

    def assign(self, rid: str, now: datetime, exclude: frozenset = frozenset()) -> None:
        inc = self.by_id[rid]
        status = self.status()
        try:
            if self.policy == "ours":
                worker = self.d.dispatch(inc, self.incidents, status, now, exclude=exclude)
            else:
                ranking = self.d.rank(inc, self.incidents, status, now, exclude=exclude)
                if ranking.empty:
                    raise IncidentError("没有在岗的网格员", "no worker on duty")
                worker = ranking.sort_values("walk_m")["worker_id"].iloc[0]
                transition(inc, "dispatched", "centre", "就近派遣 nearest worker", now,
                           assignee=worker)
        except IncidentError:
            self.pending.append(rid)  # nobody on duty: dispatched at the next shift
            return
        w = self.workers[worker]
        if self.policy == "ours":
            self.route(w, rid, now, status)
        else:
            w.queue.append(rid)
        self.kick(w, now)

    def route(self, w: WorkerSim, rid: str, now: datetime, status: dict) -> None:
        """Insert ``rid`` into ``w``'s queue with OR-Tools, the current order as the start."""
        stops = [self.d.incident_stop(self.by_id[q], now) for q in w.queue]
        new = self.d.incident_stop(self.by_id[rid], now)
        plan = self.d.insert_into_route(w.worker_id, status, stops, list(w.queue), new, now,
                                        seconds=self.seconds)
        order = [v.stop_id for v in plan.routes[0].visits]
        w.queue = order + [q for q in [*w.queue, rid] if q not in set(order)]

    # ---- workers -----------------------------------------------------------------------
    def on_duty(self, w: WorkerSim, now: datetime) -> bool:
        if w.off_until is not None and now >= w.off_until:
            w.off_until = None
        start, end = self.hours[w.worker_id]
        secs = now.hour * 3600 + now.minute * 60 + now.second
        return (w.off_until is None and self.rules.calendar.is_working_day(now.date())
                and start <= secs < end)

    def kick(self, w: WorkerSim, now: datetime) -> None:
        """An idle worker on duty sets off to the next incident that fits in the shift."""
        if w.current is not None or not w.queue or not self.on_duty(w, now):
            return
        rid = w.queue[0]
        r = self.reports[rid]
        metres = self.walk(w.x, w.y, r.x, r.y)
        end = now + timedelta(seconds=float(walk_seconds(metres)) + r.service_s)
        if end.hour * 3600 + end.minute * 60 > self.hours[w.worker_id][1] or end.date() != \
                now.date():
            return  # not today: the next shift starts from the base
        w.queue.pop(0)
        transition(self.by_id[rid], "in_progress", w.worker_id, "处置 on the way", now)
        w.walked_m += metres
        w.x, w.y = r.x, r.y
        w.current, w.free_at, w.job = rid, end, w.job + 1
        self.push(end, "free", (w.worker_id, w.job))

    def on_free(self, now: datetime, payload) -> None:
        worker, job = payload
        w = self.workers[worker]
        if job != w.job or w.current is None:
            return  # the job was abandoned when the worker went off duty
        rid, w.current, w.free_at = w.current, None, None
        transition(self.by_id[rid], "handled", worker, "反馈 handled", now)
        self.push(self.office_time(now, self.reports[rid].verify_delay_s, False), "verify", rid)
        self.kick(w, now)

    def on_off(self, now: datetime, worker: str) -> None:
        """The worker leaves until the next morning; what they held goes to others (the job in
        hand too: in_progress -> dispatched)."""
        w = self.workers[worker]
        w.off_until = DAY + timedelta(days=1, hours=8)
        held = ([w.current] if w.current else []) + w.queue
        w.current, w.free_at, w.queue = None, None, []
        w.x, w.y = w.base
        status = self.status()
        if self.policy == "ours":
            moves = self.d.redispatch_off_duty(worker, self.incidents, status, now, "centre")
            for rid, to in zip(moves["incident_id"], moves["to_worker"], strict=True):
                self.route(self.workers[to], rid, now, status)
                self.kick(self.workers[to], now)
            return
        for rid in sorted(held, key=lambda q: self.by_id[q].close_by):
            ranking = self.d.rank(self.by_id[rid], self.incidents, status, now,
                                  exclude=frozenset({worker}))
            to = ranking.sort_values("walk_m")["worker_id"].iloc[0]
            transition(self.by_id[rid], "dispatched", "centre", "改派 nearest worker", now,
                       assignee=to)
            self.workers[to].queue.append(rid)
            self.kick(self.workers[to], now)

    def on_shift(self, now: datetime) -> None:
        """Morning: workers at their bases; what waited for a worker is dispatched."""
        for w in self.workers.values():
            if w.current is None:
                w.x, w.y = w.base
        waiting, self.pending = self.pending, []
        for rid in waiting:
            self.assign(rid, now)
        for w in self.workers.values():
            self.kick(w, now)

    def walk(self, x0, y0, x1, y1) -> float:
        nodes, off = self.net.snap([x0, x1], [y0, y1])
        return float(self.net.node_distances(nodes[:1], nodes[1:])[0, 0] + off.sum())

    def run(self) -> None:
        handlers = {"report": self.on_report, "accept": self.on_accept,
                    "verify": self.on_verify, "free": self.on_free, "off": self.on_off}
        while self.events:
            now, _, kind, payload = heapq.heappop(self.events)
            if kind == "shift":
                self.on_shift(now)
            elif kind == "escalate":
                self.escalated += len(self.d.escalate_overdue(self.incidents, now))
                if all(not i.is_open for i in self.incidents) and now > DAY + timedelta(
                        hours=18):
                    break
            else:
                handlers[kind](now, payload)

    def summary(self) -> dict:
        incs = self.incidents
        closed = [i for i in incs if i.closed_at() is not None]
        hours = [(i.closed_at() - i.reported_at).total_seconds() / 3600 for i in closed]
        accept = [(i.accepted_at() - i.reported_at).total_seconds() / 3600 for i in incs
                  if i.accepted_at() is not None]
        emergencies = [i for i in incs if self.rules.category(i.category).emergency]
        walked = sum(w.walked_m for w in self.workers.values())
        return {
            "policy": self.policy,
            "incidents": len(incs),
            "closed": len(closed),
            "closed_in_deadline_pct": 100 * sum(i.closed_at() <= i.close_by for i in closed)
            / max(len(incs), 1),
            "emergencies_in_2h_pct": 100 * sum(i.closed_at() is not None
                                               and i.closed_at() <= i.close_by
                                               for i in emergencies) / max(len(emergencies), 1),
            "walk_m_per_incident": walked / max(len(closed), 1),
            "accept_h": float(np.mean(accept)) if accept else float("nan"),
            "close_h": float(np.mean(hours)) if hours else float("nan"),
            "close_h_median": float(np.median(hours)) if hours else float("nan"),
            "escalated": self.escalated,
            "redispatched": sum(any(st.note.startswith("改派") for st in i.history)
                                for i in incs),
            "not_grid_worker_pct": 100 * sum(
                self.d.responsible.get(self.d.locate(i)) != _first_assignee(i) for i in incs)
            / max(len(incs), 1),
            "merged_reports": self.merged,
        }


def _first_assignee(incident: Incident):
    return next((s.assignee for s in incident.history if s.action == "dispatched"), None)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                    help="one simulated day per seed (worker bases and reports)")
    ap.add_argument("--rate", type=float, default=200, help="reports a day (Poisson mean)")
    ap.add_argument("--seconds", type=float, default=0.3,
                    help="OR-Tools time for each insertion (deterministic step budget)")
    args = ap.parse_args(argv)
    started = clock.perf_counter()
    demo = load_demo()
    rules = load_rules()
    print(f"demo area: {len(demo[1].grids)} grids, 10 workers, Poisson {args.rate:g} reports "
          f"on {DAY:%Y-%m-%d}; load {clock.perf_counter() - started:.1f} s")
    rows = []
    for seed in args.seeds:
        world = build_world(demo, seed)
        reports = draw_reports(demo[1], demo[2], rules, args.rate,
                               np.random.default_rng(seed))
        for policy in ("ours", "nearest"):
            t0 = clock.perf_counter()
            sim = Simulation(policy, world, rules, reports, args.seconds)
            sim.run()
            rows.append({"seed": seed, **sim.summary(),
                         "run_s": round(clock.perf_counter() - t0, 1)})
    table = pd.DataFrame(rows)
    fmt = {"float_format": lambda v: f"{v:.2f}"}
    print("\nper seed:")
    print(table.set_index(["seed", "policy"]).to_string(**fmt))
    print(f"\nmean over seeds {' '.join(map(str, args.seeds))}:")
    print(table.drop(columns="seed").groupby("policy", sort=False).mean().T.to_string(**fmt))
    print(f"\ntotal {clock.perf_counter() - started:.0f} s")
    return table


if __name__ == "__main__":
    main()
