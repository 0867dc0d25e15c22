"""Visit calendar benchmark: a community of about 3,000 households and 10 grid workers over
8 weeks, our CP-SAT calendar against the nearest-due-first baseline.

    python bench/visit_calendar_bench.py [--budget 0.2] [--processes 2] [--only NAME]
        [--calendars CP-SAT,CP-SAT no band,CP-SAT before,nearest-due-first]
        [--modes one plan,rolling] [--band-tries 3] [--no-walk] [--seed N]
        [--past-weeks 4] [--no-carry] [--history building|trip|rows]
        [--row-households 10]

Inputs (real buildings; the visit classes and last visits are simulated, no such data is
public): ``nanjing-A`` (tuning: the parameters in dispatch/schedule/calendar.py were set on
it), ``nanjing-B`` (another 3,000 households of the same extract, not looked at while
tuning), ``beijing`` (every residential building of the Xitucheng extract: 2,612 households)
and ``synthetic`` (a generated district, tests/synthetic). Each is cut into grids of a tenth of
its households (partition.plan.make_plan), one worker per grid, based at the building
nearest the grid's centre. Classes: 2% key persons, 8% older people living alone, 3%
households in difficulty, 10% migrants, the rest ordinary, drawn per building (seeded); last
visits uniform over each class's period before the start (a steady state), one for all of a
building's households of a class (as the classes' CSV gives them: a big building's households
then fall due together); ``--history trip``: one per trip (group) instead, as a steady state of
the service's own calendars, which record visits per group; ``--history rows``: what a classes'
CSV gives from paper records that say when each batch of a building's households was last
visited: each building's households of a class split into batches of about
``ROW_HOUSEHOLDS``, each with its own last visit (uniform over the period before the start;
batches drawn on the same day are one row), written as the CSV, read back through
``read_visit_classes`` and ``household_classes`` (the import path). Work days Monday to
Friday, 2027-01-01 a holiday, one worker on leave for a week; shift 08:30-17:30, half of it for
visits.

Calendars: ``CP-SAT`` (the start, the levelling search, CP-SAT; for a worker outside ±15%
the band search: the relaxation's proven bound, a second levelling aimed at the relaxation's
days, ``--band-tries`` CP-SAT solves with the band as a hard constraint, the polish against
the calendar's own mean, CP-SAT re-packing windows of days, and for a worker still outside
with nothing proven, the band as hard constraints for ranges of the calendar's total (a
proof that no total allows ±15%, or a calendar within it), the chain relaxation (a proof, or
level days rounded to new starts, levelled against their mean), then the whole-horizon band
model: a calendar within ±15% or the proof that none exists; a tenth of its budget for a
calendar more than 3 points beyond the band), ``CP-SAT no band model`` (the same without
the last three: ``exact_budget_s=0, roundings=0, proof_budget_s=0``),
``CP-SAT no polish`` (without the last three: ``polish_moves=0, repack_rounds=0``),
``CP-SAT no band`` (the same without the band search, ``band_pct=None``), ``CP-SAT
before`` (without the levelling search either: ``level_moves=0``) and
``nearest-due-first`` (each work day the visits due soonest, up to the same mean daily
visiting minutes).

Measures:

- ``one plan``: one 8-week calendar from the simulated history (a first calendar, from paper
  records); every work day of it counted.
- ``rolling``: what a worker works when the calendar is re-planned every Monday from the
  visits done (the service re-plans from ``POST /visits/done``): the simulated history is put
  ``WARM_WEEKS`` weeks earlier, each Monday an 8-week calendar is planned and its first week
  worked; the 8 measured weeks' worked days are counted. Each re-plan is given, as the
  service can give it from the visits recorded as done and the calendar it stores, the loads
  of the days worked in the ``--past-weeks`` weeks before it (``past_loads``: its days aim
  at their level) and the calendar it replaces (``previous``: its start; ``--no-carry``
  without); ``--past-weeks 0 --no-carry`` is the measure before these. Due visits and on
  time from each
  group's last visit at the start through the worked visits (a due date with no work day
  since the last visit, as a week of leave, is met on the first work day after it).

Columns: due visits and the share made by their due date; the largest deviation of a
worked day's load (visiting minutes plus the walk to each cluster of buildings opened that
day) from its worker's mean over their work days (the worst worker), the mean over workers
of each one's largest, and how many workers' largest is above 15%: of those, how many are
proven forced (``forced_pct`` at least 15%: the linear relaxation's bound, a band CP-SAT
proved infeasible, or the proofs of the band's exact models, ``exact_band == "proven"``,
counted apart: the band for every range of the calendar's total, the whole-horizon band
model) and how many not (one plan only); the time of all
calendars (wall clock, ``--processes`` at once; rolling: the slowest weekly re-planning) and
their CPU time (this process and the calendars' processes; rolling: the re-planning that took
the most, which the machine's load moves less than the wall clock), and the most CPU time
of one worker's calendar (``Calendar.cpu_s``; rolling: of one worker's re-plan), below which
the wall clock of ``--processes`` 2 cannot go; the
walk of every day's route (OR-Tools, the same router and step budget for both) in km and per
household visit (one plan only: routing every day of every calendar takes minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.routing.network import WalkNetwork  # noqa: E402
from dispatch.routing.visits import Stop  # noqa: E402
from dispatch.schedule.calendar import (  # noqa: E402
    BAND_TRIES,
    CHUNK_MIN,
    LEVEL_MOVES,
    Calendar,
    advance,
    make_groups,
    nearest_due_first,
    peak_bound,
    plan_calendars,
    work_days,
)
from dispatch.schedule.classes import (  # noqa: E402
    CLASSES,
    household_classes,
    read_visit_classes,
)
from dispatch.schedule.day_route import plan_day  # noqa: E402
from gis.study_area import load_study_area  # noqa: E402
from partition.plan import make_plan  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
START = date(2026, 12, 7)
WEEKS = 8
HOLIDAYS = [date(2027, 1, 1)]
SHARES = {"key_person": 0.02, "elderly_alone": 0.08, "difficulty": 0.03, "migrant": 0.10}
WORKERS = 10
WARM_WEEKS = 4  # weeks of weekly re-planning before the measured ones (rolling)
PAST_WEEKS = 4  # rolling: each re-plan is given the worked days of this many weeks before
# it (past_loads; 0: none, each plan levels against its own horizon's mean)
CALENDARS = ("CP-SAT", "CP-SAT no band model", "CP-SAT no polish", "CP-SAT no band",
             "CP-SAT before", "nearest-due-first")
MODES = ("one plan", "rolling")
HISTORIES = ("building", "trip", "rows")  # --history: the simulated last visits (instance)
ROW_HOUSEHOLDS = 10  # --history rows: households of a batch with one last visit, about
# calendars whose days are routed
WALKED = ("CP-SAT", "CP-SAT no band model", "CP-SAT no polish", "nearest-due-first")
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


def by_trip(groups: list, seed: int) -> list:
    """The groups with a last visit drawn for each trip (uniform over its period before
    the start, seeded), where :func:`classes_for` gives one to all of a building's
    households of a class: a steady state of a calendar that visits a building's trips on
    different days, as the service's own calendars do once visits are recorded per group
    (``--history trip``). The classes and households are the same."""
    rng = np.random.default_rng([seed, 1])
    return [dataclasses.replace(g, last_visit=START - timedelta(
        days=int(rng.integers(1, g.period + 1)))) for g in groups]


def batch_rows(classes: pd.DataFrame, seed: int,
               batch: int = ROW_HOUSEHOLDS) -> pd.DataFrame:
    """The rows of a classes' CSV from paper records by batch (``--history rows``): each
    building's households of a class (:func:`classes_for`) split into ``ceil(n / batch)``
    batches of sizes as even as can be, each last visited on a day drawn uniform over the
    class's period before the start (seeded); batches drawn on the same day are one row (the
    CSV refuses a building, class and day twice). The households per building and class are
    the same."""
    rng = np.random.default_rng([seed, 2])
    rows = []
    for rec in classes.itertuples():
        n, k = int(rec.households), math.ceil(int(rec.households) / batch)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        days: dict[date, int] = {}
        for size in sizes:
            day = START - timedelta(days=int(rng.integers(1, CLASSES[rec.visit_class]
                                                            .period_days + 1)))
            days[day] = days.get(day, 0) + size
        rows += [{"building_id": rec.building_id, "visit_class": rec.visit_class,
                  "households": m, "last_visit": day.isoformat()}
                 for day, m in sorted(days.items())]
    return pd.DataFrame(rows, columns=["building_id", "visit_class", "households",
                                       "last_visit"])


def through_csv(rows: pd.DataFrame, buildings: pd.DataFrame) -> pd.DataFrame:
    """``rows`` written as a classes' CSV and read back as the service imports it
    (``read_visit_classes`` checked against the buildings' households, then
    ``household_classes``), with the buildings' ``x, y``."""
    households = buildings.set_index(buildings["building_id"].astype(str))["households"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "visit_classes.csv"
        rows.to_csv(path, index=False)
        read = read_visit_classes(path, buildings=households)
    table = household_classes(households, read)
    xy = buildings.assign(building_id=buildings["building_id"].astype(str)).set_index(
        "building_id")[["x", "y"]]
    return table.join(xy, on="building_id")


def instance(name: str, area, seed: int, chunk_min: int = CHUNK_MIN,
             history: str = "building", row_households: int = ROW_HOUSEHOLDS):
    """Per worker: groups (trips of at most ``chunk_min`` minutes), work days, base.
    ``history``: "building" (one last visit to all of a building's households of a class,
    as the classes' CSV gives it, :func:`classes_for`), "trip" (one per trip,
    :func:`by_trip`) or "rows" (one per batch of about ``ROW_HOUSEHOLDS`` households, through
    the CSV: :func:`batch_rows`, :func:`through_csv`; ``row_households``: a batch's
    households, about)."""
    target = int(area.buildings["households"].sum() / WORKERS)
    plan = make_plan(area, target=target)
    blds = plan.buildings.merge(area.buildings[["building_id"]], on="building_id")
    cent = blds.geometry.centroid
    blds = blds.assign(x=cent.x, y=cent.y)
    classes = classes_for(blds, seed)
    if history == "rows":
        classes = through_csv(batch_rows(classes, seed, row_households), blds)
    jobs = []
    for w, (grid, part) in enumerate(blds.groupby("grid_id")):
        rows = classes[classes["building_id"].isin(part["building_id"])]
        if rows.empty:
            continue
        cx, cy = part["x"].mean(), part["y"].mean()
        home = part.iloc[int(np.argmin(np.hypot(part["x"] - cx, part["y"] - cy)))]
        leave = [START + timedelta(days=14 + i) for i in range(5)] if w == 0 else []
        days = days_for(START, leave)
        groups = make_groups(rows, start=START, chunk_min=chunk_min)
        if history == "trip":
            groups = by_trip(groups, seed * 1000 + w)
        jobs.append((f"{name}:{grid}", groups, days,
                     (float(home["x"]), float(home["y"])), leave))
    return plan, jobs


def days_for(start: date, leave: list[date]) -> list:
    """A worker's work days in the ``WEEKS`` weeks from ``start``."""
    return work_days(start, WEEKS, holidays=HOLIDAYS, days_off=leave,
                     shift_min=(SHIFT[1] - SHIFT[0]) // 60)


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


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the calendars' processes)."""
    own, kids = (resource.getrusage(resource.RUSAGE_SELF),
                 resource.getrusage(resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def plan_all(jobs, start: date, calendar: str, budget: float, processes: int,
             level_moves: int, band_tries: int = BAND_TRIES,
             pasts: list[list[int]] | None = None, previous: list[list] | None = None
             ) -> tuple[list[Calendar], float]:
    """Every worker's calendar from ``start`` (``jobs``: id, groups, days, base, leave) with
    one of ``CALENDARS``; and the wall time of all of them. ``pasts``: per job, the loads of
    the worked days before ``start`` (a re-plan's ``past_loads``); ``previous``: per job,
    the calendar the re-plan replaces (its visits)."""
    started = time.perf_counter()
    if calendar == "nearest-due-first":
        cals = [nearest_due_first(w, g, d, start, base=b) for w, g, d, b, _ in jobs]
    else:
        moves = 0 if calendar == "CP-SAT before" else level_moves
        band = (15.0 if calendar in ("CP-SAT", "CP-SAT no band model", "CP-SAT no polish")
                else None)
        last: dict[str, float] = {}
        if calendar != "CP-SAT":
            last.update(exact_budget_s=0, roundings=0, proof_budget_s=0)
        if calendar not in ("CP-SAT", "CP-SAT no band model"):
            last.update(polish_moves=0, repack_rounds=0)
        pasts = pasts or [[] for _ in jobs]
        previous = previous or [[] for _ in jobs]
        cals = plan_calendars([(w, g, d, {"base": b, "budget_s": budget,
                                          "level_moves": moves, "band_pct": band,
                                          "band_tries": band_tries, "past_loads": past,
                                          "previous": prev, **last})
                               for (w, g, d, b, _), past, prev
                               in zip(jobs, pasts, previous, strict=True)],
                              start, processes=processes)
    return cals, time.perf_counter() - started


def on_time(groups, visits, days, end: date) -> tuple[int, int]:
    """Visits that came due before ``end`` and visits made by their due date, following each
    group from its last visit through ``visits``; a due date with no work day since the
    previous visit (leave, holidays) is met on the first work day after it."""
    workdays = sorted(d.day for d in days)
    made: dict[str, list[date]] = {}
    for v in visits:
        made.setdefault(v.group_id, []).append(v.day)
    due_n = kept = 0
    for g in groups:
        last = g.last_visit
        later = sorted(made.get(g.group_id, []))
        while True:
            due = last + timedelta(days=g.period)
            if due >= end:
                break
            due_n += 1
            if not any(last < d <= due for d in workdays):
                due = next((d for d in workdays if d > due), due)
            nxt = next((d for d in later if d > last), None)
            if nxt is not None and nxt <= due:
                kept += 1
                last = nxt
            else:
                last = due if nxt is None else nxt
    return due_n, kept


def rolling(jobs, calendar: str, budget: float, processes: int, level_moves: int,
            band_tries: int = BAND_TRIES, past_weeks: int = PAST_WEEKS, carry: bool = True):
    """Weekly re-planning, as the service re-plans from the visits recorded as done: the
    simulated history is put ``WARM_WEEKS`` weeks before the start, then every Monday a
    ``WEEKS``-week calendar is planned and its first week is worked (and recorded), given
    the loads of the days worked in the ``past_weeks`` weeks before it and (``carry``)
    the calendar it replaces. Returns
    the worked visits and day loads of the ``WEEKS`` measured weeks per worker, the state at
    the start, and the longest re-planning time of those weeks."""
    state = [(w, [dataclasses.replace(g, last_visit=g.last_visit
                                      - timedelta(weeks=WARM_WEEKS)) for g in gs], d, b, leave)
             for w, gs, d, b, leave in jobs]
    worked: list[tuple[list, dict]] = [([], {}) for _ in jobs]
    history: list[dict] = [{} for _ in jobs]  # every worked day's load, warm weeks too
    previous: list[list] = [[] for _ in jobs]
    at_start = None
    slowest = 0.0
    cpu = 0.0  # CPU seconds of the re-planning that took the most CPU
    worker_cpu = 0.0  # the most CPU seconds of one worker's re-plan
    for week in range(-WARM_WEEKS, WEEKS):
        start = START + timedelta(weeks=week)
        until = start + timedelta(weeks=1)
        if week == 0:
            at_start = [gs for _, gs, _, _, _ in state]
        now = [(w, gs, days_for(start, leave), b, leave) for w, gs, _, b, leave in state]
        since = start - timedelta(weeks=past_weeks)
        pasts = [[x for d, x in sorted(h.items()) if since <= d] for h in history]
        used = cpu_seconds()
        cals, secs = plan_all(now, start, calendar, budget, processes, level_moves,
                              band_tries, pasts, previous if carry else None)
        used = cpu_seconds() - used
        previous = [cal.visits for cal in cals]
        for h, cal in zip(history, cals, strict=True):
            h.update({d: x for d, x in cal.loads.items() if d < until})
        if week >= 0:
            slowest, cpu = max(slowest, secs), max(cpu, used)
            worker_cpu = max([worker_cpu, *(c.cpu_s for c in cals)])
            for (visits, loads), cal in zip(worked, cals, strict=True):
                visits += [v for v in cal.visits if v.day < until]
                loads.update({d: x for d, x in cal.loads.items() if d < until})
        state = [(w, advance(gs, cal.visits, until), d, b, leave)
                 for (w, gs, d, b, leave), cal in zip(now, cals, strict=True)]
    return worked, at_start, slowest, cpu, worker_cpu


def deviation(loads: dict) -> float:
    """Largest deviation of a day's load from the mean over the worker's work days (%)."""
    values = np.array(list(loads.values()), dtype=float)
    if not len(values) or values.mean() == 0:
        return 0.0
    return float(np.abs(values / values.mean() - 1).max() * 100)


def run(name: str, area, budget: float, processes: int, seed: int, level_moves: int,
        calendars: list[str], modes: list[str], walk: bool = True,
        band_tries: int = BAND_TRIES, chunk_min: int = CHUNK_MIN,
        past_weeks: int = PAST_WEEKS, carry: bool = True, history: str = "building",
        row_households: int = ROW_HOUSEHOLDS) -> list:
    plan, jobs = instance(name, area, seed, chunk_min, history, row_households)
    net = WalkNetwork.from_graph(area.streets)
    households = int(plan.buildings["households"].sum())
    end = START + timedelta(weeks=WEEKS)
    rows = []
    for mode in modes:
        for label in calendars:
            if mode == "one plan":
                cpu = cpu_seconds()
                cs, secs = plan_all(jobs, START, label, budget, processes, level_moves,
                                    band_tries)
                cpu = cpu_seconds() - cpu
                worker_cpu = max((c.cpu_s for c in cs), default=0.0)
                due = sum(c.due for c in cs)
                kept = sum(c.scheduled_pct * c.due / 100 for c in cs)
                devs = [c.max_deviation_pct for c in cs]
                worked = [(c.visits, c.loads) for c in cs]
                # workers above 15% whose band is proven out of reach (forced_pct: the
                # relaxation's bound or the whole-horizon band model's), and by the model
                forced = [c.band_forced for c in cs if c.max_deviation_pct > 15]
                proof: tuple[float, float] = (
                    sum(forced), sum(c.exact_band == "proven" for c in cs
                                     if c.max_deviation_pct > 15))
                if label.startswith("CP-SAT") and label != "CP-SAT before":
                    # what the input forces: peak_bound (the first days' due visits) against
                    # the calendar's mean, and the band search's proven bound (CP-SAT only)
                    peak = [100 * (peak_bound(g, d, START) / np.mean(list(c.loads.values()))
                                   - 1) for c, (_, g, d, _, _) in zip(cs, jobs, strict=True)]
                    print(f"{name} one plan {label}, per worker: max day dev %",
                          [round(x, 1) for x in devs], "proven at least %",
                          [c.forced_pct for c in cs], "band model",
                          [c.exact_band for c in cs], "peak_bound %",
                          [round(x) for x in peak], "CPU s", [round(c.cpu_s, 1) for c in cs],
                          flush=True)
            else:
                worked, at_start, secs, cpu, worker_cpu = rolling(
                    jobs, label, budget, processes, level_moves, band_tries, past_weeks, carry)
                counts = [on_time(gs, visits, days_for(START, job[4]), end)
                          for gs, (visits, _), job in zip(at_start, worked, jobs, strict=True)]
                due, kept = sum(c[0] for c in counts), sum(c[1] for c in counts)
                devs = [deviation(loads) for _, loads in worked]
                proof = (math.nan, math.nan)
            visits = sum(v.households for vs, _ in worked for v in vs)
            km = math.nan  # routing every day takes minutes: the one plan's, as before
            if mode == "one plan" and label in WALKED and walk:
                km = sum(walk_km(net, Calendar(w, vs, loads, 0), g, b)
                         for (vs, loads), (w, g, _, b, _) in zip(worked, jobs, strict=True))
            rows.append([name, mode, label, households, len(jobs), due,
                         round(100 * kept / max(due, 1), 1), round(max(devs), 1),
                         round(float(np.mean(devs)), 1),
                         sum(d > 15 for d in devs), proof[0], proof[1],
                         sum(d > 15 for d in devs) - proof[0], round(secs, 1),
                         round(cpu, 1), round(worker_cpu, 1), visits,
                         round(km, 1),
                         round(1000 * km / max(visits, 1)) if km == km else math.nan])
            print(rows[-1], flush=True)
    return rows


def areas(only: str | None, seed: int | None = None):
    wanted = [("nanjing-A", DATA / "nanjing_xinjiekou.osm", 3000, 0.25),
              ("nanjing-B", DATA / "nanjing_xinjiekou.osm", 3000, 0.8),
              ("beijing", DATA / "beijing_xitucheng.osm", 10**6, 0.5),
              ("synthetic", None, 3000, 0.5)]
    loaded: dict[object, object] = {}
    draw = seed
    for seed, (name, path, households, q) in enumerate(wanted):
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
        yield name, seed if draw is None else draw, subset(loaded[path], households, q)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.2,
                        help="CP-SAT deterministic time per worker")
    parser.add_argument("--level-moves", type=int, default=LEVEL_MOVES,
                        help="moves of the levelling search per worker (0: none)")
    parser.add_argument("--band-tries", type=int, default=BAND_TRIES,
                        help="hard-band CP-SAT solves per worker outside ±15%% (0: none)")
    parser.add_argument("--chunk-min", type=int, default=CHUNK_MIN,
                        help="most visiting minutes of one trip to a building for one class")
    parser.add_argument("--past-weeks", type=int, default=PAST_WEEKS,
                        help="rolling: worked weeks each re-plan is given (0: none)")
    parser.add_argument("--no-carry", action="store_true",
                        help="rolling: re-plan without the calendar each re-plan replaces")
    parser.add_argument("--no-walk", action="store_true",
                        help="skip routing the days (the walk columns)")
    parser.add_argument("--history", choices=HISTORIES, default=HISTORIES[0],
                        help="the simulated last visits: one per building and class "
                        "(default), one per trip, or one per batch of a building's households "
                        "of a class (rows of the classes' CSV, read back through its reader)")
    parser.add_argument("--row-households", type=int, default=ROW_HOUSEHOLDS,
                        help="--history rows: households of a batch with one last visit, "
                        "about")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--only", default=None)
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the simulated classes and last visits (default: the "
                        "input's place in the list; another seed: another input)")
    parser.add_argument("--calendars", default=",".join(CALENDARS),
                        help=f"comma-separated, of {', '.join(CALENDARS)}")
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of {', '.join(MODES)}")
    args = parser.parse_args()
    rows = []
    for name, seed, area in areas(args.only, args.seed):
        rows += run(name, area, args.budget, args.processes, seed, args.level_moves,
                    args.calendars.split(","), args.modes.split(","), not args.no_walk,
                    args.band_tries, args.chunk_min, args.past_weeks, not args.no_carry,
                    args.history, args.row_households)
    # Imported here: the tests import this module's history helpers with the test extras
    # only, which do not install tabulate (a bench extra).
    from tabulate import tabulate

    print(tabulate(rows, headers=["input", "measure", "calendar", "households", "workers",
                                  "due visits", "on time %", "max day dev %",
                                  "mean worker max dev %", "workers > 15 %",
                                  "> 15 % proven forced", "of which by the band models",
                                  "> 15 % not proven", "time s", "CPU s",
                                  "slowest worker CPU s", "household visits", "walk km",
                                  "m / visit"],
                   tablefmt="github"))


if __name__ == "__main__":
    main()
