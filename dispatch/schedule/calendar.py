"""The visit calendar of one grid worker or party member over several weeks.

A periodic assignment problem solved with OR-Tools CP-SAT. The households a worker is
responsible for come in *groups*: the households of one class in one building (cut into chunks
a trip can serve, ``chunk_min`` minutes of visiting at most). A group visited on day ``t`` is
next due on ``t + period``; every visit due inside the horizon is one *occurrence* to place on
one of the worker's work days (not a weekly rest day, day off or public holiday).

Model (per worker, so that 10 workers are 10 small models):

- ``x[o, d]``: occurrence ``o`` is on work day ``d``; exactly one day each, inside its window.
  Windows come from the latest feasible chain (each visit as late as its due date allows),
  which fixes how many visits are due, and from the end of the horizon (the last visit's next
  due date falls after it); consecutive visits of a group are at most ``period`` days apart
  and at least ``ceil(period / 2)`` (or the tightest gap the latest chain needs).
- buildings near each other form *clusters* (complete-linkage clustering of the buildings'
  positions, at most ``cluster_m`` metres across, scipy); ``y[c, d]``: cluster ``c`` is
  visited on day ``d``, which costs the walk to it (one way from the base, in minutes,
  ``approach_min``): a day's load is its visiting minutes plus its clusters' approaches.
- balance: each day's load against its share of the horizon's load (the share of the day's
  working minutes, :class:`WorkDay`): the largest deviation and the sum of deviations are
  minimised, and a day's load beyond its capacity is penalised heavily; then the approaches
  (fewer, nearer clusters a day: spatially compact days).
- party members (``min_weekly``): at least that many households a week, a shortfall penalised.

The start (a levelled earliest-due-first sweep, :func:`_start`) is levelled further by a
local search on the model's own objective (:func:`_level`: moving a visit, adding or dropping
an early one, shifting the first or last visits of a group's chain; simulated annealing over
a fixed number of seeded moves), and CP-SAT starts from the result as its hint: alone,
CP-SAT hardly improved on the start within its budget, as levelling a day often needs a
group's whole chain of weekly visits moved at once. The early visits (groups due within
``LOOKAHEAD_DAYS`` after the horizon) fill the last days, as a worker re-planning week after
week would; :func:`advance` records the worked days for the next calendar.
:func:`peak_bound` is what the input forces: the busiest day's visiting minutes that no
calendar keeping every visit on time can go below (visits already due in the first days).

The daily band (``band_pct``, ±15% of the worker's mean day): when the levelled calendar is
outside it, the model's linear relaxation (:func:`_relaxation`, HiGHS) proves the deviation
the input forces at least (``Calendar.forced_pct``: every band below it is infeasible for any
calendar keeping the model's rules) and gives days within the band that a second levelling
aims at; CP-SAT can then try bands as a hard constraint (``band_tries``, bisection).

The solver runs on one core with a deterministic time budget (``max_deterministic_time``), so
the same input gives the same calendar; :func:`plan_calendars` runs workers' models in parallel
processes. The baseline, :func:`nearest_due_first`, fills each work day with the visits due
soonest up to the same daily load, the greedy loop the CP-SAT model is measured against.

Why by hand: the periodic structure (chains of visits per group, clusters, balance against
shifts) is ours; OR-Tools does the search.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from dispatch.schedule.classes import CLASSES
from gis.errors import ArgumentError

CLUSTER_M = 150.0  # buildings of one cluster lie at most this far apart (m)
CHUNK_MIN = 30  # most visiting minutes one trip to a building makes for one class
VISIT_SHARE = 0.5  # share of a shift given to household visits (the rest: incidents, patrol)
WALK_M_PER_MIN = 4000 / 60  # 4 km/h
OVER_CAPACITY_WEIGHT = 1000  # per minute of a day's load above its capacity
MAX_DEV_WEIGHT = 5  # per minute of the largest deviation from a day's share
BAND = 0.08  # deviations up to this share of a day's target cost SUM_DEV_WEIGHT only
BAND_WEIGHT = 20  # per minute of deviation beyond the band
SUM_DEV_WEIGHT = 2  # per minute of each day's deviation
APPROACH_WEIGHT = 1  # per minute of walking to a cluster
SHORTFALL_WEIGHT = 500  # per household a party member visits below min_weekly in a week
LOOKAHEAD_DAYS = 21  # groups due this soon after the horizon may be visited early in it
EXTRA_WEIGHT = 1  # per minute of an early visit that is not yet due
LEVEL_MOVES = 40_000  # moves the levelling search tries at most (about 0.6 s of Python)
LEVEL_SHIFTS = (-3, -2, -1, 1, 2, 3)  # work days a part of a group's chain is shifted by
LEVEL_T0, LEVEL_T1 = 60.0, 0.5  # the annealing's temperature, first and last move
DEFAULT_BUDGET_S = 2.0  # CP-SAT deterministic time per worker
TARGET_BAND_PCT = 15.0  # every work day's load within this share of the worker's mean (%)
BAND_TRIES = 0  # hard-band CP-SAT solves when the calendar is outside TARGET_BAND_PCT (found
# nothing at 0.2-0.5 deterministic s in the benchmark: bench/visit_calendar_results.md)
BAND_STEP_PCT = 1.0  # the bisection of the band stops at this precision (%)
RELAX_AIM = 0.5  # the second levelling aims at this share of the band (the relaxation's days)
RELEVEL_SHARE = 0.5  # the second levelling's moves, a share of the first's (1.0: no better)
# The wall-clock guard of a solve, in multiples of its deterministic budget: far above it, so
# that the deterministic limit decides and calendars repeat on a loaded machine (3x tripped
# under load average 8 in CI: two runs of one input gave different calendars), as
# partition.budget's guard.
WALL_GUARD = 100
WORKERS = 1  # CP-SAT on one thread: its deterministic limit is kept (4 interleaved
# subsolvers overshot a 0.3 limit fivefold, 17 s on this loaded machine)


@dataclass(frozen=True)
class Group:
    """Households of one class in one building, visited together.

    Attributes:
        group_id: unique within the worker's calendar (``building_id/class/chunk``).
        building_id: the building.
        visit_class: a key of :data:`dispatch.schedule.classes.CLASSES`.
        households: how many households.
        x, y: the building's position (m, metric CRS).
        last_visit: the day they were last visited; None when not known (then spread evenly
            over the first period, see :func:`make_groups`).
        period_days: override of the class's period (party members); None: the class's.
    """

    group_id: str
    building_id: str
    visit_class: str
    households: int
    x: float
    y: float
    last_visit: date | None = None
    period_days: int | None = None

    @property
    def period(self) -> int:
        """The longest gap between two visits (days)."""
        return self.period_days or CLASSES[self.visit_class].period_days

    @property
    def minutes(self) -> int:
        """Visiting minutes of one visit to the whole group."""
        return self.households * CLASSES[self.visit_class].service_min


@dataclass(frozen=True)
class WorkDay:
    """A day the worker works: the date and the minutes it offers for visits."""

    day: date
    capacity_min: int


@dataclass
class ScheduledVisit:
    """One visit of a group on a day; ``due`` its latest day within the frequency."""

    group_id: str
    building_id: str
    visit_class: str
    households: int
    day: date
    due: date
    cluster: int
    early: bool = False  # not due in the horizon: an early visit that saves one after it

    @property
    def late(self) -> bool:
        """Visited after its due date (only when already overdue when planned)."""
        return self.day > self.due


@dataclass
class Calendar:
    """A worker's visit calendar.

    Attributes:
        worker_id: the caller's id.
        visits: the scheduled visits, by day.
        loads: minutes of visiting plus approach walking per work day.
        due: visits due in the horizon (each group's chain).
        overdue_at_start: of those, visits already past due when planned (scheduled on the
            first days they can be).
        status: CP-SAT's status name ("OPTIMAL", "FEASIBLE"; "GREEDY" for the baseline).
        seconds: wall time of the solve.
        weekly_shortfall: households below ``min_weekly`` per week (party members).
        band_pct: the band asked for (%, :data:`TARGET_BAND_PCT`); None: not searched.
        forced_pct: a proven lower bound of the largest deviation from the mean day (%) of
            any calendar that keeps every visit on time and the model's other rules: what
            the input forces (the optimum of the model's linear relaxation, or a band CP-SAT
            proved infeasible). None: not computed (the calendar is within ``band_pct``).
    """

    worker_id: object
    visits: list[ScheduledVisit]
    loads: dict[date, int]
    due: int
    overdue_at_start: int = 0
    status: str = ""
    seconds: float = 0.0
    weekly_shortfall: list[int] = field(default_factory=list)
    band_pct: float | None = None
    forced_pct: float | None = None

    @property
    def scheduled_pct(self) -> float:
        """Due visits placed on or before their due date (those overdue at the start: on the
        first work days), in percent."""
        if not self.due:
            return 100.0
        on_time = (sum(1 for v in self.visits if not v.late and not v.early)
                   + self.overdue_at_start)
        return 100.0 * min(on_time, self.due) / self.due

    @property
    def max_deviation_pct(self) -> float:
        """Largest deviation of a day's load from the worker's mean daily load (%)."""
        return _deviation(list(self.loads.values()))

    @property
    def band_forced(self) -> bool:
        """CP-SAT proved that the input allows no calendar within ``band_pct``."""
        return (self.band_pct is not None and self.forced_pct is not None
                and self.forced_pct >= self.band_pct)

    def frame(self) -> pd.DataFrame:
        """The visits as a table (one row per visit)."""
        return pd.DataFrame([v.__dict__ for v in self.visits],
                            columns=["group_id", "building_id", "visit_class", "households",
                                     "day", "due", "cluster", "early"])


def work_days(start: date, weeks: int, *, weekdays: Iterable[int] | None = None,
              days_off: Iterable[date] = (), holidays: Iterable[date] = (),
              workdays: Iterable[date] = (), shift_min: int = 8 * 60,
              visit_share: float = VISIT_SHARE) -> list[WorkDay]:
    """The worker's work days in ``weeks`` weeks from ``start``.

    Args:
        start: the first day of the horizon.
        weeks: its length in weeks.
        weekdays: ISO weekdays worked (1 = Monday); None: Monday to Friday.
        days_off: the worker's own days off (leave).
        holidays: public holidays (法定节假日), off even on a working weekday.
        workdays: make-up working days (调休上班), worked even on a weekend.
        shift_min: minutes of the shift.
        visit_share: the share of the shift given to visits.
    """
    days = set(weekdays or range(1, 6))
    off = set(days_off) | set(holidays)
    extra = set(workdays)
    out = []
    for i in range(weeks * 7):
        d = start + timedelta(days=i)
        if d in off or (d.isoweekday() not in days and d not in extra):
            continue
        out.append(WorkDay(d, round(shift_min * visit_share)))
    return out


def make_groups(buildings: pd.DataFrame, *, chunk_min: int = CHUNK_MIN,
                start: date | None = None, period_cap: int | None = None) -> list[Group]:
    """Cut each building's households of each class into groups a trip can serve.

    Args:
        buildings: one row per building and class: ``building_id, visit_class, households,
            x, y`` and optionally ``last_visit`` (date or None).
        chunk_min: most visiting minutes per group.
        start: groups without a last visit get one spread evenly over the period before this
            day (in order along the buildings' positions), so that a new calendar does not
            put every household on one due day: the first calendar's start, or any fixed day
            (the service: the day the plan went live) so that later calendars agree. Required
            when a last visit is missing.
        period_cap: the longest period (party members: short enough for their weekly
            minimum).

    Returns:
        The groups, ``building_id/class/chunk`` as id.
    """
    groups: list[Group] = []
    unknown: list[int] = []
    ordered = buildings.sort_values(["y", "x", "building_id"], kind="stable")
    for rec in ordered.to_dict("records"):
        cls = CLASSES[rec["visit_class"]]
        households = int(rec["households"])
        size = max(1, chunk_min // cls.service_min)
        last = rec.get("last_visit")
        last = None if last is None or (isinstance(last, float) and math.isnan(last)) else last
        period = min(cls.period_days, period_cap) if period_cap else None
        for k, first in enumerate(range(0, households, size)):
            if last is None:
                unknown.append(len(groups))
            groups.append(Group(f"{rec['building_id']}/{cls.key}/{k}", str(rec["building_id"]),
                                cls.key, min(size, households - first), float(rec["x"]),
                                float(rec["y"]), last, period))
    if unknown:
        if start is None:
            raise ArgumentError("缺少上次走访日期时需给出日历的开始日期",
                                "give the calendar's start day when last visits are missing")
        # ranks among every group of a period (not only the unknown ones), so that a group
        # keeps its spread day when others' last visits become known
        by_class: dict[int, list[int]] = defaultdict(list)
        for i, g in enumerate(groups):
            by_class[g.period].append(i)
        missing = set(unknown)
        for period, members in by_class.items():
            for rank, i in enumerate(members):
                if i not in missing:
                    continue
                back = period - int(rank * period / len(members))
                g = groups[i]
                groups[i] = Group(g.group_id, g.building_id, g.visit_class, g.households,
                                  g.x, g.y, start - timedelta(days=back), g.period_days)
    return groups


def clusters(xy: np.ndarray, cluster_m: float = CLUSTER_M) -> np.ndarray:
    """Cluster labels (0..k-1) of points (m): complete linkage, at most ``cluster_m`` across."""
    if len(xy) == 0:
        return np.zeros(0, dtype=int)
    if len(xy) == 1:
        return np.zeros(1, dtype=int)
    labels = fcluster(linkage(xy, method="complete"), t=cluster_m, criterion="distance")
    _, dense = np.unique(labels, return_inverse=True)
    return np.asarray(dense, dtype=int)


@dataclass
class _Occurrence:
    group: int
    due: int  # day index of the due date (may be < 0: overdue)
    lo: int
    hi: int
    days: list[int]  # work-day positions allowed
    min_gap: int  # fewest days after the group's previous visit
    max_gap: int = 0  # most days after the group's previous visit (the period, or more
    # when days off leave no work day within it)
    optional: bool = False  # an early visit that saves a due one just after the horizon
    horizon_lo: int = 0  # earliest day when the optional visit after it is absent


def _chains(groups: Sequence[Group], start: date, days: list[WorkDay]
            ) -> tuple[list[_Occurrence], int]:
    """Each group's due visits in the horizon with their windows; and how many were overdue
    at the start (and cannot be on time)."""
    horizon = (days[-1].day - start).days + 1 if days else 0
    index = np.array([(d.day - start).days for d in days])
    occurrences: list[_Occurrence] = []
    overdue = 0
    for gi, g in enumerate(groups):
        assert g.last_visit is not None
        period = g.period
        due = (g.last_visit - start).days + period
        latest: list[tuple[int, int]] = []  # (due, day index)
        prev = -1
        while due < horizon:
            fits = index[(index > prev) & (index <= due)]
            if len(fits):
                t = int(fits[-1])
            else:
                later = index[index > prev]
                if not len(later):
                    break
                t = int(later[0])
                overdue += 1
            latest.append((due, t))
            prev, due = t, t + period
        next_due = latest[-1][1] + period if latest else due
        extra = next_due < horizon + LOOKAHEAD_DAYS
        if not latest and not extra:
            continue
        gaps = [b[1] - a[1] for a, b in itertools.pairwise(latest)]
        min_gap = min([math.ceil(period / 2), *gaps]) if gaps else math.ceil(period / 2)
        n = len(latest)
        total = n + (1 if extra else 0)
        lows = [max(0, horizon - period * (total - j)) for j in range(n)]
        for j in range(1, n):
            lows[j] = max(lows[j], lows[j - 1] + min_gap)
        for j, (due_j, hi) in enumerate(latest):
            lo = min(lows[j], hi)
            allowed = [k for k, d in enumerate(index) if lo <= d <= hi]
            gap_j = latest[j][1] - latest[j - 1][1] if j else period
            occurrences.append(_Occurrence(gi, due_j, lo, hi, allowed, min_gap,
                                           max(period, gap_j), horizon_lo=(max(lo, horizon - period)
                                                       if extra and j == n - 1 else lo)))
        if extra:
            lo = max(horizon - period,
                     lows[-1] + min_gap if n else due - period + min_gap)
            allowed = [k for k, d in enumerate(index) if lo <= d]
            if allowed:
                occurrences.append(_Occurrence(gi, next_due, lo, horizon - 1, allowed,
                                               min_gap, period, optional=True))
    return occurrences, overdue


def plan_calendar(worker_id: object, groups: Sequence[Group], days: Sequence[WorkDay],
                  start: date, *, base: tuple[float, float] | None = None,
                  cluster_m: float = CLUSTER_M, min_weekly: int = 0,
                  budget_s: float = DEFAULT_BUDGET_S, time_limit_s: float | None = None,
                  level_moves: int = LEVEL_MOVES, band_pct: float | None = TARGET_BAND_PCT,
                  band_budget_s: float | None = None, band_tries: int = BAND_TRIES,
                  log: bool = False) -> Calendar:
    """The visit calendar of one worker.

    Args:
        worker_id: the caller's id.
        groups: the worker's household groups (:func:`make_groups`), each with a last visit.
        days: the worker's work days in the horizon (:func:`work_days`), in order.
        start: the first day of the horizon.
        base: where the worker starts (m, metric CRS); None: the groups' centre.
        cluster_m: the largest distance across a cluster (m).
        min_weekly: households to visit each week at least (party members: 5).
        budget_s: CP-SAT's deterministic time (about seconds of one core); the same input
            and budget give the same calendar.
        time_limit_s: a wall-clock safety limit of each solve (default: WALL_GUARD × its
            budget + 1).
        level_moves: most moves the levelling search (:func:`_level`) tries on the start
            before CP-SAT (0: none); a count, not a time, so that the answer is repeatable.
        band_pct: when the calendar's largest deviation from the mean day is above this
            (%), the band is searched as a hard constraint (:func:`_band_search`): this band,
            then the smallest one CP-SAT finds a calendar for; None: no such search.
        band_budget_s: CP-SAT's deterministic time for each band tried (default:
            ``budget_s``).
        band_tries: most bands CP-SAT tries (0: the relaxation's bound and second
            levelling only).
        log: print CP-SAT's search log.

    Returns:
        The :class:`Calendar`.

    Raises:
        ArgumentError: no work day in the horizon while visits are due.
    """
    started = time.perf_counter()
    days = sorted(days, key=lambda d: d.day)
    occurrences, overdue = _chains(groups, start, list(days))
    if groups and not days:
        raise ArgumentError(f"{worker_id} 在日历期间没有工作日，无法安排走访：请检查工作日和休息日",
                            f"{worker_id} has no work day in the horizon to visit households: "
                            "check the work days and days off")
    xy = np.array([[g.x, g.y] for g in groups]) if groups else np.zeros((0, 2))
    label = clusters(xy, cluster_m)
    n_clusters = int(label.max()) + 1 if len(label) else 0
    origin = np.array(base) if base is not None else (xy.mean(axis=0) if len(xy) else None)
    approach = np.zeros(n_clusters, dtype=int)
    for c in range(n_clusters):
        centre = xy[label == c].mean(axis=0)
        approach[c] = 1 + round(float(np.hypot(*(centre - origin))) * 1.3 / WALK_M_PER_MIN)
    offsets = [(d.day - start).days for d in days]
    minutes = [groups[o.group].minutes for o in occurrences]
    base_work = sum(m for m, o in zip(minutes, occurrences, strict=True) if not o.optional)
    first = _start(occurrences, offsets, groups, days, label, base_work, approach)
    opened = {(int(label[occurrences[oi].group]), k) for oi, k in first.items()}
    hinted = _start(occurrences, offsets, groups, days, label,  # the work with approaches
                    sum(minutes[oi] for oi in first) + sum(int(approach[c]) for c, _ in opened),
                    approach)
    # each day's share of the horizon's work: visiting minutes plus the approaches of the
    # start, in proportion to the day's capacity
    used = {(int(label[occurrences[oi].group]), k) for oi, k in hinted.items()}
    work = sum(minutes[oi] for oi in hinted) + sum(int(approach[c]) for c, _ in used)
    total_cap = sum(d.capacity_min for d in days) or 1
    targets = [round(work * d.capacity_min / total_cap) for d in days]
    if level_moves:
        hinted = _level(hinted, occurrences, offsets, groups, days, label, approach, targets,
                        level_moves)
    problem = _Problem(occurrences, groups, days, offsets, label, approach, targets,
                       min_weekly)
    bound: float | None = None
    if (band_pct is not None and level_moves and days
            and _deviation(problem.from_start(hinted).loads) > band_pct):
        # the levelled start is outside the band: what the input forces, proven by the
        # linear relaxation; then the relaxation's days within the band (or the bound),
        # with the fewest early visits, as the days' targets of a second levelling
        bound = _proven(_relaxation(problem)[0])
        _, profile = _relaxation(problem, max(bound + BAND_STEP_PCT, band_pct * RELAX_AIM))
        if profile:
            aimed = [round(v) for v in profile]
            again = _level(hinted, occurrences, offsets, groups, days, label, approach, aimed,
                           int(level_moves * RELEVEL_SHARE))
            if _deviation(problem.from_start(again).loads) < _deviation(
                    problem.from_start(hinted).loads):
                hinted, problem.targets = again, aimed

    def solve(hint: dict[int, int], band: float | None, budget: float) -> _Solution:
        return problem.solve(hint, band, budget, time_limit_s or WALL_GUARD * budget + 1, log)

    solution = solve(hinted, None, budget_s)
    if not solution.solved:  # the budget ran out before the search began (presolve of a
        # large model on a loaded machine): the start keeps every rule (_start, _repair), so
        # it is the answer
        solution = problem.from_start(hinted)
    forced = None
    if band_pct is not None and days and _deviation(solution.loads) > band_pct:
        if bound is None:
            bound = _proven(_relaxation(problem)[0])
        solution, forced = _band_search(solve, solution, band_pct,
                                        band_budget_s or budget_s, bound, band_tries)
    visits = []
    for oi, k in solution.chosen.items():
        occ = occurrences[oi]
        g = groups[occ.group]
        visits.append(ScheduledVisit(g.group_id, g.building_id, g.visit_class, g.households,
                                     days[k].day, start + timedelta(days=occ.due),
                                     int(label[occ.group]), occ.optional))
    visits.sort(key=lambda v: (v.day, v.cluster, v.building_id, v.group_id))
    return Calendar(worker_id, visits, {d.day: solution.loads[k] for k, d in enumerate(days)},
                    sum(1 for o in occurrences if not o.optional), overdue, solution.status,
                    round(time.perf_counter() - started, 3), solution.weekly_short,
                    band_pct=band_pct, forced_pct=forced)


def _deviation(loads: Sequence[int]) -> float:
    """Largest deviation of a day's load from the mean of the loads (%)."""
    values = np.asarray(loads, dtype=float)
    if not len(values) or values.mean() == 0:
        return 0.0
    return float(np.abs(values / values.mean() - 1).max() * 100)


@dataclass
class _Solution:
    chosen: dict[int, int]  # occurrence -> work-day position (absent optional: not a key)
    loads: list[int]
    weekly_short: list[int]
    status: str  # CP-SAT's status name, "START" for the start itself
    solved: bool = True


def _band_search(solve: Callable[[dict[int, int], float | None, float], _Solution],
                 best: _Solution, band_pct: float, budget: float, bound: float,
                 tries: int) -> tuple[_Solution, float]:
    """The smallest band of the daily loads around their mean that CP-SAT finds a calendar
    for, as a hard constraint (every work day within ``band`` % of the mean of the work
    days, the measure itself): ``band_pct`` first, or the proven ``bound`` when above it;
    when CP-SAT finds nothing within ``budget`` (or proves the band infeasible), bisection
    between the largest band that failed and the best calendar's deviation, at most
    ``tries`` solves of ``budget`` deterministic seconds, each hinted with the best calendar
    so far.

    Returns:
        The best calendar (``best`` when no band helped), and the largest band proven
        infeasible: ``bound`` or a band CP-SAT proved infeasible.
    """
    proven = bound
    low, high = max(bound, band_pct - BAND_STEP_PCT), _deviation(best.loads)
    band = band_pct if bound < band_pct else _mid(low, high)
    for _ in range(tries):
        if band >= high:
            break
        found = solve(best.chosen, band, budget)
        if found.status == "INFEASIBLE":
            proven = max(proven, band)
        if found.solved and _deviation(found.loads) < high:
            best, high = found, _deviation(found.loads)
            if high <= band_pct:
                break
        else:
            low = max(low, band)
        if high - low <= BAND_STEP_PCT:
            break
        band = _mid(low, high)
    return best, proven


def _proven(bound: float) -> float:
    """The relaxation's band rounded down to 0.1% (below HiGHS's tolerance): still a bound."""
    return max(0.0, math.floor((bound - 1e-6) * 10) / 10)


def _mid(low: float, high: float) -> float:
    """The band half-way between a failed one and a found one, in whole steps."""
    band = math.floor((low + high) / 2 / BAND_STEP_PCT) * BAND_STEP_PCT
    return band if band > low else low + BAND_STEP_PCT


def _relaxation(problem: _Problem, band: float | None = None
                ) -> tuple[float, list[float]]:
    """The model's linear relaxation (each visit split over its window's days, clusters
    opened in part, the gaps of a group's chain on the visits' mean days; the early visits'
    gaps dropped): without ``band``, the smallest band (%) around the mean day that it
    keeps every work day within; a lower bound, so that every band below it is proven
    infeasible for the calendar itself. With ``band`` (%), every day within it and the
    least total load (fewest early visits). The deviation relative to the mean is a
    linear-fractional program, made linear by the Charnes-Cooper transformation (every
    variable divided by the horizon's total load, ``t`` = 1 / total); solved by HiGHS
    (deterministic).

    Returns:
        The band (%), and the days' loads of the relaxed solution (minutes; empty when it
        has none).
    """
    occurrences, offsets = problem.occurrences, problem.offsets
    n_days = len(offsets)
    if not n_days or not occurrences:
        return 0.0, []
    label, approach, minutes = problem.label, problem.approach, problem.minutes
    xo: list[int] = []  # per x variable: occurrence, day
    xk: list[int] = []
    for oi, occ in enumerate(occurrences):
        for k in occ.days:
            xo.append(oi)
            xk.append(k)
    n_x = len(xo)
    xo_a, xk_a = np.array(xo), np.array(xk)
    xc = label[[occurrences[oi].group for oi in xo]]
    pairs, yi = np.unique(np.stack([xc, xk_a]), axis=1, return_inverse=True)
    yi = np.asarray(yi).ravel()
    n_y = pairs.shape[1]
    t_col, p_col = n_x + n_y, n_x + n_y + 1
    n_col = p_col + 1
    x_min = np.array(minutes, dtype=float)[xo_a]
    y_app = approach[pairs[0]].astype(float)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    ub: list[float] = []
    eq_rows: list[np.ndarray] = []
    eq_cols: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    beq: list[float] = []
    n_ub = n_eq = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | list[float], eq: bool,
            rhs: np.ndarray | list[float]) -> None:
        nonlocal n_ub, n_eq
        (eq_rows if eq else rows).append(np.asarray(r))
        (eq_cols if eq else cols).append(np.asarray(c))
        (eq_vals if eq else vals).append(np.asarray(v, dtype=float))
        (beq if eq else ub).extend(np.atleast_1d(rhs).tolist())

    # each due visit once, an early one at most once: sum_k x - t (= or <=) 0
    optional = np.array([o.optional for o in occurrences])
    for flag in (False, True):
        sel = optional[xo_a] == flag
        occ_ids = np.flatnonzero(optional == flag)
        if not len(occ_ids):
            continue
        rank = np.full(len(occurrences), -1)
        rank[occ_ids] = np.arange(len(occ_ids))
        base = n_eq if not flag else n_ub
        r = np.concatenate([base + rank[xo_a[sel]], base + np.arange(len(occ_ids))])
        c = np.concatenate([np.flatnonzero(sel), np.full(len(occ_ids), t_col)])
        v = np.concatenate([np.ones(int(sel.sum())), -np.ones(len(occ_ids))])
        add(r, c, v, not flag, np.zeros(len(occ_ids)))
        if flag:
            n_ub += len(occ_ids)
        else:
            n_eq += len(occ_ids)
    # a visit opens its cluster that day: x - y <= 0; y - t <= 0
    add(n_ub + np.repeat(np.arange(n_x), 2),
        np.stack([np.arange(n_x), n_x + yi], axis=1).ravel(),
        np.tile([1.0, -1.0], n_x), False, np.zeros(n_x))
    n_ub += n_x
    add(n_ub + np.repeat(np.arange(n_y), 2),
        np.stack([n_x + np.arange(n_y), np.full(n_y, t_col)], axis=1).ravel(),
        np.tile([1.0, -1.0], n_y), False, np.zeros(n_y))
    n_ub += n_y
    # the loads: their total is 1 (the scale), and n * load_k - 1 within +-p
    load_cols = np.concatenate([np.arange(n_x), n_x + np.arange(n_y)])
    load_day = np.concatenate([xk_a, pairs[1]])
    load_val = np.concatenate([x_min, y_app])
    add(np.full(len(load_cols), n_eq), load_cols, load_val, True, [1.0])
    n_eq += 1
    for sign in (1.0, -1.0):
        add(np.concatenate([n_ub + load_day, n_ub + np.arange(n_days)]),
            np.concatenate([load_cols, np.full(n_days, p_col)]),
            np.concatenate([sign * n_days * load_val, -np.ones(n_days)]), False,
            np.full(n_days, sign))
        n_ub += n_days
    # the gaps between a group's consecutive due visits: gap * t <= pos_b - pos_a <= most * t
    first_col: dict[int, int] = {}
    for j, oi in enumerate(xo):
        first_col.setdefault(oi, j)
    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        if not occ.optional:
            chains[occ.group].append(oi)
    for items in chains.values():
        for a, b in itertools.pairwise(items):
            ca = first_col[a] + np.arange(len(occurrences[a].days))
            cb = first_col[b] + np.arange(len(occurrences[b].days))
            pa = np.array([offsets[k] for k in occurrences[a].days], dtype=float)
            pb = np.array([offsets[k] for k in occurrences[b].days], dtype=float)
            c = np.concatenate([cb, ca, [t_col]])
            add(np.full(len(c), n_ub), c,
                np.concatenate([-pb, pa, [occurrences[b].min_gap]]), False, [0.0])
            add(np.full(len(c), n_ub + 1), c,
                np.concatenate([pb, -pa, [-occurrences[b].max_gap]]), False, [0.0])
            n_ub += 2
    a_ub = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_ub, n_col)).tocsr()
    a_eq = coo_matrix((np.concatenate(eq_vals), (np.concatenate(eq_rows),
                                                  np.concatenate(eq_cols))),
                      shape=(n_eq, n_col)).tocsr()
    cost = np.zeros(n_col)
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * n_col
    if band is None:
        cost[p_col] = 1.0
    else:
        cost[t_col] = -1.0  # the largest t: the least total load
        bounds[p_col] = (0.0, band / 100)
    # HiGHS takes sparse matrices (scipy's stubs list dense arrays only)
    found = linprog(cost, A_ub=a_ub, b_ub=np.array(ub),  # type: ignore[call-overload]
                    A_eq=a_eq, b_eq=np.array(beq), bounds=bounds, method="highs")
    if found.status != 0 or found.x[t_col] <= 0:
        return (0.0 if band is None else band), []
    sol = found.x
    loads = np.bincount(load_day, weights=load_val * sol[load_cols], minlength=n_days)
    return max(0.0, float(sol[p_col]) * 100), (loads / sol[t_col]).tolist()


class _Problem:
    """The CP-SAT model of one worker's calendar, built for one hint and band at a time."""

    def __init__(self, occurrences: list[_Occurrence], groups: Sequence[Group],
                 days: Sequence[WorkDay], offsets: list[int], label: np.ndarray,
                 approach: np.ndarray, targets: list[int], min_weekly: int) -> None:
        self.occurrences, self.groups, self.days = occurrences, groups, days
        self.offsets, self.label, self.approach = offsets, label, approach
        self.targets, self.min_weekly = targets, min_weekly
        self.minutes = [groups[o.group].minutes for o in occurrences]
        self.weeks = offsets[-1] // 7 + 1 if offsets and min_weekly > 0 else 0

    def from_start(self, chosen: dict[int, int]) -> _Solution:
        """The start itself as the answer (it keeps every rule)."""
        loads = [0] * len(self.days)
        opened: set[tuple[int, int]] = set()
        for oi, k in chosen.items():
            loads[k] += self.minutes[oi]
            opened.add((int(self.label[self.occurrences[oi].group]), k))
        for c, k in opened:
            loads[k] += int(self.approach[c])
        short = [max(0, self.min_weekly - sum(self.groups[self.occurrences[oi].group].households
                                              for oi, k in chosen.items()
                                              if self.offsets[k] // 7 == w))
                 for w in range(self.weeks)]
        return _Solution(dict(chosen), loads, short, "START", solved=True)

    def solve(self, hinted: dict[int, int], band: float | None, budget_s: float,
              wall_s: float, log: bool = False) -> _Solution:
        """Solve with ``hinted`` as a complete hint, every day's load within ``band`` % of
        the mean of the days' loads when given (a hard constraint); ``solved`` False when
        CP-SAT found no calendar (its status: INFEASIBLE when it proved there is none)."""
        occurrences, groups, days = self.occurrences, self.groups, self.days
        offsets, label, approach, targets = self.offsets, self.label, self.approach, self.targets
        minutes, min_weekly = self.minutes, self.min_weekly
        model = cp_model.CpModel()
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        by_day: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        cluster_day: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        chain: dict[int, list[tuple[int, cp_model.LinearExpr]]] = defaultdict(list)
        present: dict[int, cp_model.IntVar] = {}
        horizon = offsets[-1] + 1 if offsets else 0
        for oi, occ in enumerate(occurrences):
            lits = []
            for k in occ.days:
                var = model.new_bool_var(f"x{oi}_{k}")
                x[oi, k] = var
                lits.append(var)
                by_day[k].append((oi, var))
                cluster_day[int(label[occ.group]), k].append(var)
            if occ.optional:
                present[oi] = model.new_bool_var(f"p{oi}")
                model.add(sum(lits) == present[oi])
            else:
                model.add_exactly_one(lits)
            chain[occ.group].append((oi, cp_model.LinearExpr.weighted_sum(
                [x[oi, k] for k in occ.days], [offsets[k] for k in occ.days])))
        for gi, times in chain.items():
            period = groups[gi].period
            for (_, a), (oi, b) in itertools.pairwise(times):
                gap, most = occurrences[oi].min_gap, occurrences[oi].max_gap
                if oi in present:  # an absent optional visit is at day 0: no constraint then
                    model.add(b - a <= most).only_enforce_if(present[oi])
                    model.add(b - a >= gap).only_enforce_if(present[oi])
                else:
                    model.add(b - a <= most)
                    model.add(b - a >= gap)
            last_oi, _last_t = times[-1]
            if last_oi in present and len(times) > 1:
                # without the early visit, the last due one covers the end of the horizon
                model.add(times[-2][1] >= horizon - period).only_enforce_if(
                    present[last_oi].Not())
        y: dict[tuple[int, int], cp_model.IntVar] = {}
        for (c, k), lits in cluster_day.items():
            var = model.new_bool_var(f"y{c}_{k}")
            y[c, k] = var
            for lit in lits:
                model.add_implication(lit, var)
        for oi, occ in enumerate(occurrences):
            for k in occ.days:
                model.add_hint(x[oi, k], k == hinted.get(oi, -1))
            if oi in present:
                model.add_hint(present[oi], oi in hinted)
        used = {(int(label[occurrences[oi].group]), k) for oi, k in hinted.items()}
        for key, var in y.items():
            model.add_hint(var, key in used)
        upper = sum(minutes) + int(approach.sum()) + 1
        loads, devs, objective = [], [], []
        # the start's value of every variable, so that the hint is complete
        hint_load = [0] * len(days)
        for oi, k in hinted.items():
            hint_load[k] += minutes[oi]
        for c, k in used:
            hint_load[k] += int(approach[c])
        hint_dev = [abs(v - t) for v, t in zip(hint_load, targets, strict=True)]
        max_dev = model.new_int_var(0, upper, "max_dev")
        model.add_hint(max_dev, max(hint_dev, default=0))
        for k, d in enumerate(days):
            load = model.new_int_var(0, upper, f"load{k}")
            model.add(load == sum(minutes[oi] * var for oi, var in by_day[k])
                      + sum(int(approach[c]) * var for (c, kk), var in y.items() if kk == k))
            loads.append(load)
            target = targets[k]
            dev = model.new_int_var(0, upper, f"dev{k}")
            model.add(dev >= load - target)
            model.add(dev >= target - load)
            model.add(max_dev >= dev)
            devs.append(dev)
            model.add_hint(load, hint_load[k])
            model.add_hint(dev, hint_dev[k])
            if target + upper // max(len(days), 1) > d.capacity_min:  # the day could overflow
                over = model.new_int_var(0, upper, f"over{k}")
                model.add(over >= load - d.capacity_min)
                objective.append(OVER_CAPACITY_WEIGHT * over)
                model.add_hint(over, max(0, hint_load[k] - d.capacity_min))
            band_k = model.new_int_var(0, upper, f"band{k}")  # beyond the tolerated band
            model.add(band_k >= dev - int(BAND * target))
            objective.append(BAND_WEIGHT * band_k)
            model.add_hint(band_k, max(0, hint_dev[k] - int(BAND * target)))
        if band is not None and loads:
            # every day within the band around the mean of the days: n·load_k against the
            # sum of the loads, in hundredths of a percent (integers)
            n, total = len(loads), cp_model.LinearExpr.sum(loads)
            scale = round(band * 100)
            for load in loads:
                model.add(10_000 * n * load <= (10_000 + scale) * total)
                model.add(10_000 * n * load >= (10_000 - scale) * total)
        objective += [MAX_DEV_WEIGHT * max_dev, SUM_DEV_WEIGHT * cp_model.LinearExpr.sum(devs)]
        objective += [EXTRA_WEIGHT * minutes[oi] * p for oi, p in present.items()]
        objective.append(APPROACH_WEIGHT * cp_model.LinearExpr.weighted_sum(
            list(y.values()), [int(approach[c]) for c, _ in y]))
        shortfalls = []
        for w in range(self.weeks):
            ks = [k for k, off in enumerate(offsets) if off // 7 == w]
            short = model.new_int_var(0, min_weekly, f"short{w}")
            visited = sum(groups[occurrences[oi].group].households * var
                          for k in ks for oi, var in by_day[k])
            model.add(visited + short >= min_weekly)
            shortfalls.append(short)
            objective.append(SHORTFALL_WEIGHT * short)
            done = sum(groups[occurrences[oi].group].households
                       for oi, k in hinted.items() if k in ks)
            model.add_hint(short, max(0, min_weekly - done))
        model.minimize(sum(objective))

        solver = cp_model.CpSolver()
        solver.parameters.num_workers = WORKERS
        solver.parameters.interleave_search = True
        solver.parameters.max_deterministic_time = budget_s
        solver.parameters.max_time_in_seconds = wall_s
        solver.parameters.random_seed = 0
        solver.parameters.log_search_progress = log
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return _Solution({}, [], [], solver.status_name(status), solved=False)
        chosen = {oi: next(k for k in occ.days if solver.value(x[oi, k]))
                  for oi, occ in enumerate(occurrences)
                  if oi not in present or solver.value(present[oi])}
        return _Solution(chosen, [int(solver.value(v)) for v in loads],
                         [int(solver.value(v)) for v in shortfalls], solver.status_name(status))


def _start(occurrences: list[_Occurrence], offsets: list[int], groups: Sequence[Group],
           days: Sequence[WorkDay], label: np.ndarray, work: float,
           approach: np.ndarray | None = None) -> dict[int, int]:
    """A feasible, levelled start for the search (occurrence -> work-day position).

    Sweeps the work days in order: first the visits that cannot wait (their window, narrowed
    by the group's previous visit, ends before the next work day), then, up to the day's
    share of ``work``, visits whose window is open, those in a cluster the day already
    visits first, then by the end of their window; an optional early visit only once its
    group's due ones are placed. Placing a group's last due visit before the end of the
    horizon minus its period makes its optional visit due. A day's load counts the approach
    to each cluster it opens (``approach``, minutes per cluster), as the model does.
    """
    horizon = offsets[-1] + 1 if offsets else 0
    total_cap = sum(d.capacity_min for d in days) or 1
    queue: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        queue[occ.group].append(oi)
    position = {gi: 0 for gi in queue}
    previous: dict[int, int] = {}
    chosen: dict[int, int] = {}
    required: set[int] = set()
    # caps[k]: the capacity of the days before position k
    caps = np.concatenate([[0], np.cumsum([d.capacity_min for d in days])])
    day_set = set(offsets)

    def next_fits(nxt: int, off: int) -> bool:
        occ = occurrences[nxt]
        lo = max(occ.lo, off + occ.min_gap)
        hi = min(occ.hi if not occ.optional else horizon - 1, off + occ.max_gap)
        return hi >= horizon or any(d in day_set for d in range(lo, hi + 1))

    for k, off in enumerate(offsets):
        next_off = offsets[k + 1] if k + 1 < len(offsets) else horizon + 10**6
        target = work * days[k].capacity_min / total_cap
        open_now: list[tuple[int, int, int]] = []  # (end, occurrence, must)
        for gi, items in queue.items():
            if position[gi] >= len(items):
                continue
            oi = items[position[gi]]
            occ = occurrences[oi]
            prev = previous.get(gi)
            lo = occ.lo if prev is None else max(occ.lo, prev + occ.min_gap)
            hi = occ.hi if prev is None else min(occ.hi, prev + occ.max_gap)
            if off < lo or k not in occ.days:
                continue
            must = 0 if occ.optional and oi not in required else 1 if next_off > hi else 0
            if (not must and position[gi] + 1 < len(items)
                    and not next_fits(items[position[gi] + 1], off)):
                continue  # the group's next visit would find no work day in its gap
            open_now.append((hi, oi, must))
        load = 0.0
        today: set[int] = set()

        def place(oi: int, k: int, off: int, today: set[int]) -> int:
            """Put ``oi`` on day ``k``; the minutes it adds to the day."""
            gi = occurrences[oi].group
            extra = (int(approach[int(label[gi])])
                     if approach is not None and int(label[gi]) not in today else 0)
            chosen[oi] = k
            previous[gi] = off
            position[gi] += 1
            today.add(int(label[gi]))
            items = queue[gi]
            if (position[gi] < len(items) and occurrences[items[position[gi]]].optional
                    and off < horizon - groups[gi].period):
                required.add(items[position[gi]])
            return groups[gi].minutes + extra

        # the lowest level at which every open visit meets its due date (EDF levelling),
        # scaled to the day's capacity
        need, cum = 0.0, 0.0
        for hi, oi, _ in sorted(open_now):
            if occurrences[oi].optional and oi not in required:
                continue
            cum += groups[occurrences[oi].group].minutes
            until = max(int(np.searchsorted(offsets, hi, side="right")), k + 1)
            span = caps[until] - caps[k]
            need = max(need, cum * days[k].capacity_min / max(span, 1))
        for _, oi, must in sorted(open_now):
            if must:
                load += place(oi, k, off, today)
        rest = [(hi, oi) for hi, oi, must in open_now if not must
                and (not occurrences[oi].optional or oi in required
                     or off >= horizon - LOOKAHEAD_DAYS)]
        rest.sort()
        while rest and load < need:  # the most urgent first, up to the level
            load += place(rest.pop(0)[1], k, off, today)
        while rest and load < target:  # then places the day already goes to
            rest.sort(key=lambda e: (int(label[occurrences[e[1]].group]) not in today,
                                     occurrences[e[1]].optional and e[1] not in required,
                                     e[0]))
            _, oi = rest.pop(0)
            if load + groups[occurrences[oi].group].minutes > target * 1.1 and load > 0:
                continue
            load += place(oi, k, off, today)
    _repair(chosen, queue, occurrences, offsets, horizon, groups)
    return chosen


def _level(chosen: dict[int, int], occurrences: list[_Occurrence], offsets: list[int],
           groups: Sequence[Group], days: Sequence[WorkDay], label: np.ndarray,
           approach: np.ndarray, targets: list[int], max_moves: int) -> dict[int, int]:
    """Level the start's days by local search before CP-SAT (which gets the result as hint).

    CP-SAT alone improves little on the start within its budget: levelling a day often
    needs a whole chain of a group's visits moved at once (weekly visits, 8 of them in 8
    weeks, at most 7 days apart), a move its search rarely finds. This search draws, with a
    seeded generator, a group and a move: one of its visits to another allowed day, an
    early visit in or out, or its first or last ``j`` visits shifted together by
    ``LEVEL_SHIFTS`` work days; a move that keeps every rule of the model (windows, gaps,
    the end of the horizon) is kept when it lowers the model's own objective (the same
    weights: deviation from each day's target, largest deviation, the band, capacity,
    approaches, early visits), or raises it by ``delta`` with probability
    ``exp(-delta / T)``, ``T`` cooling from ``LEVEL_T0`` to ``LEVEL_T1`` (simulated
    annealing); the best state seen is returned. Deterministic: ``max_moves`` draws, no
    clock.

    Returns:
        The improved start (occurrence -> work-day position); absent optional visits are
        not keys.
    """
    n_days = len(days)
    if not n_days or not occurrences:
        return chosen
    horizon = offsets[-1] + 1
    allowed = [set(o.days) for o in occurrences]
    minutes = [groups[o.group].minutes for o in occurrences]
    cluster = [int(label[o.group]) for o in occurrences]
    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        chains[occ.group].append(oi)
    at: dict[int, int | None] = {oi: chosen.get(oi) for oi in range(len(occurrences))}
    count: dict[tuple[int, int], int] = defaultdict(int)
    loads = [0] * n_days
    for oi, k in chosen.items():
        loads[k] += minutes[oi]
        if count[cluster[oi], k] == 0:
            loads[k] += int(approach[cluster[oi]])
        count[cluster[oi], k] += 1
    caps = [d.capacity_min for d in days]
    bands = [int(BAND * t) for t in targets]

    devs = [abs(v - t) for v, t in zip(loads, targets, strict=True)]

    def day_cost(k: int, load: int) -> int:
        dev = load - targets[k]
        dev = devs[k] = dev if dev > 0 else -dev
        cost = SUM_DEV_WEIGHT * dev
        if dev > bands[k]:
            cost += BAND_WEIGHT * (dev - bands[k])
        if load > caps[k]:
            cost += OVER_CAPACITY_WEIGHT * (load - caps[k])
        return cost

    costs = [day_cost(k, v) for k, v in enumerate(loads)]
    # the cost beyond the days' own: early visits, and the approaches once more (they are in
    # the loads too), as the model's objective counts them
    fixed = (EXTRA_WEIGHT * sum(minutes[oi] for oi in chosen if occurrences[oi].optional)
             + APPROACH_WEIGHT * sum(int(approach[c]) for (c, _), n in count.items() if n))
    walks = [int(a) for a in approach]

    def total() -> int:
        return sum(costs) + MAX_DEV_WEIGHT * max(devs) + fixed

    def move(oi: int, k: int | None) -> None:
        nonlocal fixed
        old = at[oi]
        c = cluster[oi]
        if old is not None:
            count[c, old] -= 1
            walk = walks[c] if count[c, old] == 0 else 0
            loads[old] -= minutes[oi] + walk
            fixed -= APPROACH_WEIGHT * walk
            costs[old] = day_cost(old, loads[old])
        if k is not None:
            walk = walks[c] if count[c, k] == 0 else 0
            loads[k] += minutes[oi] + walk
            fixed += APPROACH_WEIGHT * walk
            count[c, k] += 1
            costs[k] = day_cost(k, loads[k])
        if occurrences[oi].optional:
            fixed += EXTRA_WEIGHT * minutes[oi] * ((k is not None) - (old is not None))
        at[oi] = k

    def chain_ok(gi: int) -> bool:
        items = chains[gi]
        placed = []
        for oi in items:
            k = at[oi]
            if k is None:
                if not occurrences[oi].optional:
                    return False
                continue
            if k not in allowed[oi]:
                return False
            placed.append((oi, offsets[k]))
        for (_, ta), (oi, tb) in itertools.pairwise(placed):
            if not occurrences[oi].min_gap <= tb - ta <= occurrences[oi].max_gap:
                return False
        last = items[-1]
        if occurrences[last].optional and at[last] is None and len(items) > 1:
            k = at[items[-2]]
            return k is not None and offsets[k] >= horizon - groups[gi].period
        return True

    def attempt(gi: int, changes: list[tuple[int, int | None]], best: int) -> int | None:
        """Apply ``changes``; keep them when the chain stays valid and the cost drops."""
        before = [(oi, at[oi]) for oi, _ in changes]
        for oi, k in changes:
            move(oi, k)
        if chain_ok(gi):
            cost = total()
            if cost < best:
                return cost
        for oi, k in reversed(before):
            move(oi, k)
        return None

    rng = np.random.default_rng(0)
    group_ids = list(chains)
    best = current = total()
    best_at = dict(at)
    temps = np.geomspace(LEVEL_T0, LEVEL_T1, max_moves)
    draws = rng.random((max_moves, 5))
    for tried in range(max_moves):
        r = draws[tried]
        gi = group_ids[int(r[0] * len(group_ids))]
        items = chains[gi]
        changes: list[tuple[int, int | None]]
        if r[1] < 0.4:  # one visit to another allowed day, or an early visit in or out
            oi = items[int(r[2] * len(items))]
            options: list[int | None] = list(occurrences[oi].days)
            if occurrences[oi].optional:
                options.append(None)
            changes = [(oi, options[int(r[3] * len(options))])]
        else:  # the first or the last visits of the chain, shifted together
            present = [oi for oi in items if at[oi] is not None]
            if not present:
                continue
            j = 1 + int(r[2] * len(present))
            part = present[:j] if r[1] < 0.7 else present[-j:]
            step = LEVEL_SHIFTS[int(r[3] * len(LEVEL_SHIFTS))]
            shifted = [(oi, int(at[oi]) + step) for oi in part]  # type: ignore[arg-type]
            if not all(0 <= k < n_days for _, k in shifted):
                continue
            changes = list(shifted)
        if all(at[oi] == to for oi, to in changes):
            continue
        before = [(oi, at[oi]) for oi, _ in changes]
        for oi, to in changes:
            move(oi, to)
        if chain_ok(gi):
            cost = total()
            if cost <= current or r[4] < math.exp((current - cost) / temps[tried]):
                current = cost
                if cost < best:
                    best, best_at = cost, dict(at)
                continue
        for oi, to in reversed(before):
            move(oi, to)
    return {oi: k for oi, k in best_at.items() if k is not None}


def _repair(chosen: dict[int, int], queue: dict[int, list[int]],
            occurrences: list[_Occurrence], offsets: list[int], horizon: int,
            groups: Sequence[Group]) -> None:
    """Groups whose start breaks a rule (days off can leave a visit no work day within its
    gap) go back to their latest chain, which keeps every rule by construction."""
    at = {off: k for k, off in enumerate(offsets)}
    for gi, items in queue.items():
        placed = [(oi, offsets[chosen[oi]]) for oi in items if oi in chosen]
        ok = all(not (occurrences[oi].optional is False and oi not in chosen) for oi in items)
        for (_, ta), (oi, tb) in itertools.pairwise(placed):
            ok = ok and occurrences[oi].min_gap <= tb - ta <= occurrences[oi].max_gap
        last = items[-1]
        if ok and occurrences[last].optional and last not in chosen and len(placed):
            ok = placed[-1][1] >= horizon - groups[gi].period
        if ok:
            continue
        for oi in items:
            chosen.pop(oi, None)
            if not occurrences[oi].optional:
                chosen[oi] = at[occurrences[oi].hi]


def advance(groups: Sequence[Group], visits: Iterable[ScheduledVisit], until: date
            ) -> list[Group]:
    """The groups after the visits before ``until`` were made: each group's last visit is its
    latest such visit (or stays as it was). Rolling the calendar: plan, work its first
    days, record them with this, plan again from ``until``."""
    last: dict[str, date] = {}
    for v in visits:
        if v.day < until and (v.group_id not in last or v.day > last[v.group_id]):
            last[v.group_id] = v.day
    return [replace(g, last_visit=last[g.group_id]) if g.group_id in last else g
            for g in groups]


def peak_bound(groups: Sequence[Group], days: Sequence[WorkDay], start: date) -> float:
    """A lower bound of the busiest day's visiting minutes that any calendar keeping every
    due visit on time has: the largest mean, over runs of consecutive work days, of the
    visits that can fall nowhere else (their windows, narrowed along each group's chain of
    gaps, inside the run). At the start of a first calendar these are the visits already
    due: a building's households last visited on one day and due in the first days. Walks
    not counted; minutes."""
    days = sorted(days, key=lambda d: d.day)
    occurrences, _ = _chains(groups, start, list(days))
    offsets = np.array([(d.day - start).days for d in days])
    if not len(offsets):
        return 0.0
    lo = [int(offsets[o.days[0]]) if o.days else 0 for o in occurrences]
    hi = [int(offsets[o.days[-1]]) if o.days else 0 for o in occurrences]

    def up(t: int) -> int:  # the first work day on or after t
        j = int(np.searchsorted(offsets, t))
        return int(offsets[j]) if j < len(offsets) else 10**6

    def down(t: int) -> int:  # the last work day on or before t
        j = int(np.searchsorted(offsets, t, side="right")) - 1
        return int(offsets[j]) if j >= 0 else -10**6

    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        if not occ.optional:
            chains[occ.group].append(oi)
    for _ in range(3):  # the gaps narrow the windows both ways
        for items in chains.values():
            for a, b in itertools.pairwise(items):
                gap, most = occurrences[b].min_gap, occurrences[b].max_gap
                lo[b] = max(lo[b], up(lo[a] + gap))
                hi[a] = min(hi[a], down(hi[b] - gap))
                lo[a] = max(lo[a], up(lo[b] - most))
                hi[b] = min(hi[b], down(hi[a] + most))
    where = {int(t): k for k, t in enumerate(offsets)}
    must = np.zeros((len(offsets), len(offsets)))  # [first, last] work day of the window
    for items in chains.values():
        for oi in items:
            if lo[oi] in where and hi[oi] in where and lo[oi] <= hi[oi]:
                must[where[lo[oi]], where[hi[oi]]] += groups[occurrences[oi].group].minutes
    n = len(offsets)
    best = 0.0
    for a in range(n):
        total = 0.0
        for b in range(a, n):
            total += must[a:b + 1, b].sum()
            best = max(best, total / (b - a + 1))
    return float(best)


def load_of(visits: Iterable[ScheduledVisit], groups: Sequence[Group], days: Sequence[WorkDay],
            base: tuple[float, float] | None = None, cluster_m: float = CLUSTER_M
            ) -> dict[date, int]:
    """Each work day's load (visiting minutes plus approach walks to its clusters) of a list
    of visits, counted as :func:`plan_calendar` counts it; for comparing calendars."""
    by_id = {g.group_id: i for i, g in enumerate(groups)}
    xy = np.array([[g.x, g.y] for g in groups]) if groups else np.zeros((0, 2))
    label = clusters(xy, cluster_m)
    origin = np.array(base) if base is not None else xy.mean(axis=0)
    loads = {d.day: 0 for d in days}
    seen: set[tuple[date, int]] = set()
    for v in visits:
        gi = by_id[v.group_id]
        c = int(label[gi])
        loads[v.day] += groups[gi].minutes
        if (v.day, c) not in seen:
            seen.add((v.day, c))
            centre = xy[label == c].mean(axis=0)
            loads[v.day] += 1 + round(float(np.hypot(*(centre - origin))) * 1.3
                                          / WALK_M_PER_MIN)
    return loads


def nearest_due_first(worker_id: object, groups: Sequence[Group], days: Sequence[WorkDay],
                      start: date, *, base: tuple[float, float] | None = None,
                      daily_min: float | None = None) -> Calendar:
    """The baseline: each work day, the visits due soonest until the day's load is reached.

    Every group's next due date is its last visit plus its period; on each work day the
    groups due before the next work day are visited (they cannot wait), then more groups in
    order of due date (ties: in the input's order) while the day's visiting minutes stay
    below ``daily_min``; a visit resets the group's due date. Only visits due inside the
    horizon are taken.

    Args:
        daily_min: the visiting minutes aimed at each day; default: the visiting minutes of
            the due visits of the latest chain divided by the work days (the same work as
            :func:`plan_calendar` places).
    """
    started = time.perf_counter()
    days = sorted(days, key=lambda d: d.day)
    occurrences, overdue = _chains(groups, start, list(days))
    horizon = (days[-1].day - start).days + 1 if days else 0
    if daily_min is None:
        work = sum(groups[o.group].minutes for o in occurrences if not o.optional)
        daily_min = work / max(len(days), 1)
    due = [(g.last_visit - start).days + g.period for g in groups if g.last_visit is not None]
    visits = []
    offsets = [(d.day - start).days for d in days]
    for k, d in enumerate(days):
        next_day = offsets[k + 1] if k + 1 < len(days) else horizon
        order = sorted((due[i], i) for i in range(len(groups)) if due[i] < horizon)
        load = 0.0
        for when, i in order:
            must = when < next_day
            if not must and load + groups[i].minutes > daily_min:
                if load >= daily_min:
                    break
                continue
            g = groups[i]
            visits.append(ScheduledVisit(g.group_id, g.building_id, g.visit_class, g.households,
                                         d.day, start + timedelta(days=when), 0))
            load += g.minutes
            due[i] = offsets[k] + g.period
    loads = load_of(visits, groups, days, base)
    return Calendar(worker_id, visits, loads, sum(1 for o in occurrences if not o.optional),
                    overdue, "GREEDY",
                    round(time.perf_counter() - started, 3))


def _solve_one(args: tuple) -> Calendar:  # type: ignore[type-arg]
    worker_id, groups, days, start, kwargs = args
    return plan_calendar(worker_id, groups, days, start, **kwargs)


def plan_calendars(jobs: Sequence[tuple[object, Sequence[Group], Sequence[WorkDay],
                                        dict[str, object]]],
                   start: date, *, processes: int = 1) -> list[Calendar]:
    """Calendars of several workers, each its own model (workers share no household).

    Args:
        jobs: per worker: id, groups, work days, and keywords of :func:`plan_calendar`.
        start: the first day of the horizon.
        processes: models solved at once (separate processes; 1: in this process).

    Returns:
        The calendars in the order of ``jobs``; the same for any number of processes.
    """
    tasks = [(w, list(g), list(d), start, kw) for w, g, d, kw in jobs]
    if processes <= 1 or len(tasks) <= 1:
        return [_solve_one(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        return list(pool.map(_solve_one, tasks))
