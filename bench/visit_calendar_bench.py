"""Visit calendar benchmark: a community of about 3,000 households and 10 grid workers over
8 weeks, our CP-SAT calendar against the nearest-due-first baseline.

    python bench/visit_calendar_bench.py [--budget 1.5] [--processes 2] [--only NAME]

Inputs (real buildings; the visit classes and last visits are simulated, no such data is
public): ``nanjing-A`` (tuning: the parameters in dispatch/schedule/calendar.py were set on
it), ``nanjing-B`` (another 3,000 households of the same extract, not looked at while
tuning), ``beijing`` (every residential building of the Xitucheng extract: 2,612 households)
and ``synthetic`` (a generated district, tests/synthetic). Each is cut into grids of a tenth of
its households (partition.plan.make_plan), one worker per grid, based at the building
nearest the grid's centre. Classes: 2% key persons, 8% older people living alone, 3%
households in difficulty, 10% migrants, the rest ordinary, drawn per building (seeded); last
visits uniform over each class's period before the start (a steady state). Work days Monday to
Friday, 2027-01-01 a holiday, one worker on leave for a week; shift 08:30-17:30, half of it for
visits.

Columns: due visits and the share scheduled by their due date; the largest deviation of a
day's load from its worker's mean daily load (the worst worker) and the mean over workers of
each one's largest; the time of all 10 calendars (wall clock, ``--processes`` at once); the
walk of every day's route (OR-Tools, the same router and step budget for both) in km and per
household visit. The baseline fills each work day with the visits due soonest, up to the same
mean daily visiting minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.routing.network import WalkNetwork  # noqa: E402
from dispatch.routing.visits import Stop  # noqa: E402
from dispatch.schedule.calendar import (  # noqa: E402
    Calendar,
    make_groups,
    nearest_due_first,
    plan_calendars,
    work_days,
)
from dispatch.schedule.classes import CLASSES  # noqa: E402
from dispatch.schedule.day_route import plan_day  # noqa: E402
from gis.study_area import load_study_area  # noqa: E402
from partition.plan import make_plan  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
START = date(2026, 12, 7)
WEEKS = 8
HOLIDAYS = [date(2027, 1, 1)]
SHARES = {"key_person": 0.02, "elderly_alone": 0.08, "difficulty": 0.03, "migrant": 0.10}
WORKERS = 10
SHIFT = (8 * 3600 + 1800, 17 * 3600 + 1800)


def subset(area, households: int, centre_quantile: float):
    """Residential buildings nearest a point of the area until ``households`` are reached."""
    b = area.buildings[area.buildings["residential"] & (area.buildings["households"] > 0)]
    c = b.geometry.centroid
    cx = float(np.quantile(c.x, centre_quantile))
    cy = float(np.quantile(c.y, 0.5))
    order = np.argsort(np.hypot(c.x - cx, c.y - cy).to_numpy())
    take = order[: int(np.searchsorted(np.cumsum(b["households"].to_numpy()[order]),
                                       households)) + 1]
    return dataclasses.replace(area, buildings=b.iloc[np.sort(take)].copy())


def classes_for(buildings: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Simulated visit classes and steady-state last visits per building."""
    rng = np.random.default_rng(seed)
    rows = []
    keys = [*SHARES, "ordinary"]
    probs = [*SHARES.values(), 1 - sum(SHARES.values())]
    for rec in buildings.itertuples():
        counts = rng.multinomial(int(rec.households), probs)
        for key, n in zip(keys, counts, strict=True):
            if n:
                back = int(rng.integers(1, CLASSES[key].period_days + 1))
                rows.append({"building_id": rec.building_id, "visit_class": key,
                             "households": int(n), "x": rec.x, "y": rec.y,
                             "last_visit": START - timedelta(days=back)})
    return pd.DataFrame(rows)


def instance(name: str, area, seed: int):
    """Per worker: groups, work days, base."""
    target = int(area.buildings["households"].sum() / WORKERS)
    plan = make_plan(area, target=target)
    blds = plan.buildings.merge(area.buildings[["building_id"]], on="building_id")
    cent = blds.geometry.centroid
    blds = blds.assign(x=cent.x, y=cent.y)
    classes = classes_for(blds, seed)
    jobs = []
    for w, (grid, part) in enumerate(blds.groupby("grid_id")):
        rows = classes[classes["building_id"].isin(part["building_id"])]
        if rows.empty:
            continue
        cx, cy = part["x"].mean(), part["y"].mean()
        home = part.iloc[int(np.argmin(np.hypot(part["x"] - cx, part["y"] - cy)))]
        leave = [START + timedelta(days=14 + i) for i in range(5)] if w == 0 else []
        days = work_days(START, WEEKS, holidays=HOLIDAYS, days_off=leave,
                         shift_min=(SHIFT[1] - SHIFT[0]) // 60)
        jobs.append((f"{name}:{grid}", make_groups(rows, start=START), days,
                     (float(home["x"]), float(home["y"]))))
    return plan, jobs


def walk_km(net: WalkNetwork, cal: Calendar, groups, base) -> float:
    """Sum of every day's routed walk (one stop per building, its households' minutes)."""
    by_id = {g.group_id: g for g in groups}
    total = 0
    for _, day in cal.frame().groupby("day"):
        stops: dict[str, Stop] = {}
        for gid in day["group_id"]:
            g = by_id[gid]
            s = stops.setdefault(g.building_id, Stop(g.building_id, g.x, g.y, 0))
            s.service_s += g.minutes * 60
        route = plan_day(net, cal.worker_id, base, list(stops.values()),
                         shift=(SHIFT[0], 23 * 3600), steps=5 * len(stops) + 20)
        total += route.distance_m
    return total / 1000


def run(name: str, area, budget: float, processes: int, seed: int) -> list:
    plan, jobs = instance(name, area, seed)
    net = WalkNetwork.from_graph(area.streets)
    households = int(plan.buildings["households"].sum())
    started = time.perf_counter()
    cals = plan_calendars([(w, g, d, {"base": b, "budget_s": budget}) for w, g, d, b in jobs],
                          START, processes=processes)
    seconds = time.perf_counter() - started
    rows = []
    base_cals = []
    for w, g, d, b in jobs:
        base_cals.append(nearest_due_first(w, g, d, START, base=b))
    for label, cs, secs in (("CP-SAT", cals, seconds), ("nearest-due-first", base_cals,
                                                       sum(c.seconds for c in base_cals))):
        due = sum(c.due for c in cs)
        on_time = sum(c.scheduled_pct * c.due / 100 for c in cs)
        devs = [c.max_deviation_pct for c in cs]
        visits = sum(v.households for c in cs for v in c.visits)
        km = sum(walk_km(net, c, g, b) for c, (_, g, _, b) in zip(cs, jobs, strict=True))
        rows.append([name, label, households, len(jobs), due,
                     round(100 * on_time / max(due, 1), 1), round(max(devs), 1),
                     round(float(np.mean(devs)), 1), round(secs, 1), visits, round(km, 1),
                     round(1000 * km / max(visits, 1))])
    return rows


def areas(only: str | None):
    wanted = [("nanjing-A", DATA / "nanjing_xinjiekou.osm", 3000, 0.25),
              ("nanjing-B", DATA / "nanjing_xinjiekou.osm", 3000, 0.8),
              ("beijing", DATA / "beijing_xitucheng.osm", 10**6, 0.5),
              ("synthetic", None, 3000, 0.5)]
    loaded: dict[object, object] = {}
    for name, path, households, q in wanted:
        if only and only != name:
            continue
        if path is None:
            from tests.synthetic import write_district_osm

            path = Path(tempfile.mkdtemp()) / "district.osm"
            write_district_osm(path, 130, seed=3)
        elif not path.exists():
            print(f"skip {name}: {path} not found")
            continue
        if path not in loaded:
            loaded[path] = load_study_area(path)
        yield name, subset(loaded[path], households, q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2,
                        help="CP-SAT deterministic time per worker")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    rows = []
    for seed, (name, area) in enumerate(areas(args.only)):
        rows += run(name, area, args.budget, args.processes, seed)
        print(f"{name}:", rows[-2:], flush=True)
    print(tabulate(rows, headers=["input", "calendar", "households", "workers", "due visits",
                                  "on time %", "max day dev %", "mean worker max dev %",
                                  "time s", "household visits", "walk km", "m / visit"],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
