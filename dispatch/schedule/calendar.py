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

The start (a levelled earliest-due-first sweep, :func:`~dispatch.schedule.levelling.sweep_start`)
is levelled further by a local search on the model's own objective
(:func:`~dispatch.schedule.levelling.level`: moving a visit, adding or dropping an early one,
shifting the first or last visits of a group's chain; simulated annealing over a fixed number
of seeded moves), and CP-SAT starts from the result as its hint: alone, CP-SAT hardly improved
on the start within its budget, as levelling a day often needs a group's whole chain of weekly
visits moved at once. The early visits (groups due within ``LOOKAHEAD_DAYS`` after the
horizon) fill the last days, as a worker re-planning week after week would; :func:`advance`
records the worked days for the next calendar. :func:`~dispatch.schedule.bounds.peak_bound` is
what the input forces: the busiest day's visiting minutes that no calendar keeping every visit
on time can go below (visits already due in the first days).

The daily band (``band_pct``, ±15% of the worker's mean day): when the levelled calendar is
outside it, the model's linear relaxation
(:func:`~dispatch.schedule.bounds.relaxation`, HiGHS) proves the deviation
the input forces at least (``Calendar.forced_pct``: every band below it is infeasible for any
calendar keeping the model's rules) and gives days within the band that a second levelling
aims at. CP-SAT's calendar, still outside it, is then levelled against its own mean day
(the measure; the model and the levellings aim at fixed day targets, which the calendar's
mean leaves when the input forces some days up): an annealing with moves aimed at the
busiest and quietest days, swaps and ejection chains
(:func:`~dispatch.schedule.levelling.polish`), then CP-SAT re-packing windows of days
around the worst one (:func:`~dispatch.schedule.neighbourhood.repack`). CP-SAT can also try
bands as a hard constraint (``band_tries``, bisection; off by default). A calendar still
outside the band with nothing proven beyond it gets the chain relaxation
(:func:`~dispatch.schedule.bounds.chain_relaxation`: each group's visits one whole path of
days, tighter than the relaxation, which keeps the gaps only between mean days; a proof
where it reaches the band), and its level days, rounded to one chain per group
(``roundings`` starts), are levelled against their mean (:func:`_from_chains`): the polish
and re-packing from the model's calendar stall in a valley that the relaxation's chains,
spread over the whole horizon, do not have. Before the chain relaxation, the band as hard
constraints for ranges of the calendar's total (:meth:`_Problem.band_by_total`: with the
total in a range each day has fixed bounds, and CP-SAT proves a band that the visits due at
the start and whole visits force, where the relaxations split them, or finds a calendar
within it; either makes the rest needless). Then, still outside, the
whole-horizon band model
(:meth:`_Problem.exact_band`): the band is linear once the calendar's total ``T`` is a
variable (``n * load_k`` within ``(1 ± band) * T``), so one CP-SAT model of the whole horizon
either finds a calendar within it (large neighbourhood search from the calendar, minimising
the largest excess beyond the band) or, where its bound says so, proves that none exists with
every visit on one whole day (``Calendar.exact_band``); in a first plan, a calendar more than
``EXACT_MARGIN_PCT`` beyond the band gets ``EXACT_FAR_BUDGET_S`` only (from there it found
no calendar within the band: its proofs, on small inputs, come in presolve).

A weekly re-plan can be given what came before it: the loads of the days worked
(``past_loads``: the days aim at the level of those days and the horizon's together, and the
band is measured against it, :class:`~dispatch.schedule.horizon.Past`; a plan's own horizon
counts only the visits its latest chains make due and drifts from week to week) and the
calendar it replaces (``previous``: each group starts where that calendar had it,
:func:`_carried`, so the start is the previous plan's levelled, polished calendar rather than
a new sweep levelled from scratch).

The solver runs on one core with a deterministic time budget (``max_deterministic_time``), so
the same input gives the same calendar; :func:`plan_calendars` runs workers' models in parallel
processes. The baseline, :func:`nearest_due_first`, fills each work day with the visits due
soonest up to the same daily load, the greedy loop the CP-SAT model is measured against.

Modules: :mod:`~dispatch.schedule.horizon` (the groups, work days, each group's due visits
with their windows, the objective's weights), :mod:`~dispatch.schedule.levelling` (the start
and its levellings), :mod:`~dispatch.schedule.neighbourhood` (the re-packing),
:mod:`~dispatch.schedule.bounds` (what the input forces), this one (the CP-SAT model, the band
search, the calendars of several workers, the baseline).

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
from functools import partial

import numpy as np
import pandas as pd
from ortools.sat.python import cp_model

from dispatch.schedule.bounds import chain_relaxation, peak_bound, proven, relaxation
from dispatch.schedule.horizon import (
    APPROACH_WEIGHT,
    BAND,
    BAND_WEIGHT,
    CHUNK_MIN,
    CLUSTER_M,
    EXTRA_WEIGHT,
    LOOKAHEAD_DAYS,
    MAX_DEV_WEIGHT,
    NO_PAST,
    OVER_CAPACITY_WEIGHT,
    SHORTFALL_WEIGHT,
    SUM_DEV_WEIGHT,
    VISIT_SHARE,
    WALK_M_PER_MIN,
    Group,
    Occurrence,
    Past,
    WorkDay,
    clusters,
    deviation,
    due_chains,
    make_groups,
    work_days,
)
from dispatch.schedule.levelling import (
    LEVEL_MOVES,
    POLISH_MOVES,
    _Placement,
    level,
    polish,
    sweep_start,
)
from dispatch.schedule.neighbourhood import ROUNDS, Windows, repack, wall_guard
from gis.errors import ArgumentError

# re-exported: the calendar's callers (api.services.visits, the benchmark, tests) import the
# inputs and bounds from here
__all__ = [
    "CHUNK_MIN", "CLUSTER_M", "LEVEL_MOVES", "LOOKAHEAD_DAYS", "VISIT_SHARE", "Calendar",
    "Group", "ScheduledVisit", "WorkDay", "advance", "clusters", "load_of", "make_groups",
    "nearest_due_first", "peak_bound", "plan_calendar", "plan_calendars", "work_days",
]

DEFAULT_BUDGET_S = 2.0  # CP-SAT deterministic time per worker
TARGET_BAND_PCT = 15.0  # every work day's load within this share of the worker's mean (%)
BAND_TRIES = 0  # hard-band CP-SAT solves when the calendar is outside TARGET_BAND_PCT (found
# nothing at 0.2-0.5 deterministic s in the benchmark: bench/visit_calendar_results.md)
BAND_STEP_PCT = 1.0  # the bisection of the band stops at this precision (%)
RELAX_AIM = 0.5  # the second levelling aims at this share of the band (the relaxation's days)
RELEVEL_SHARE = 0.5  # the second levelling's moves, a share of the first's (1.0: no better)
BAND_PASSES = 2  # rounds of polish and re-packing against the calendar's mean (2 x 10,000
# moves and 8 windows levelled nanjing-A better than 1 x 20,000 and 12, in about the same time)
EXACT_BUDGET_S = 1.0  # CP-SAT deterministic time of the whole-horizon band model (a worker
# still outside the band with nothing proven beyond it)
ROUNDINGS = 3  # starts rounded from the chain relaxation (chain_relaxation: the largest
# flow, then draws) levelled against the mean, while the calendar is outside the band
EXACT_MARGIN_PCT = 3.0  # in a first plan the band model has its whole budget for a calendar
# within this many points of the band only: it found calendars from 15.0-17.3% off and none
# from further, and proved none on a real input (bench/visit_calendar_results.md), at 5-6 CPU
# s a worker; further off, EXACT_FAR_BUDGET_S (about 0.4 CPU s): the proofs of small inputs
# come in its presolve
EXACT_FAR_BUDGET_S = 0.1
PROOF_BUDGET_S = 1.2  # CP-SAT deterministic time of the band's proof by the calendar's total
# (_Problem.band_by_total), a first plan's worker still outside the band with nothing proven:
# nanjing-A's workers 6 and 8 took 0.24 and 0.64 in two halves (0.2 proved neither); Beijing
# 95 worker 5's calendar within the band came in its second range from the busiest day's
# total, after 0.6 + 0.49 (0.8 left it 24.8% off); about 2 CPU s where nothing is settled
PROOF_STEP_S = 0.6  # of one range of totals in it (a range not settled within it is halved)
PEAK_RANGES = 3  # the ranges tried first: from the least total that holds the calendar's
# busiest day within the band, upward (_Problem.band_by_total)
PEAK_RANGE_SHARE = 0.025  # each of them this share of that total wide
ANCHOR_RANGES = 3  # after the chain step, a worker still outside the band with nothing
# proven: the ranges tried first, around the chain step's calendar's own total (the ranges
# from the busiest day's total do not apply when that day fits the band at no total);
# synthetic 33 worker 6 of the bench: 20.4% off at a total of 2,299, a calendar within the
# band at 2,309 found in the first range (0.7 CPU s); the ranges of the first pass (hinted
# by the band search's calendar, 2,399: every visit) settled nothing in 1.2
ANCHOR_RANGE_SHARE = 0.01  # each of them this share of that total wide (2.5% and ranges of
# 0.5% at 0.3 deterministic s each found nothing there)
WORKERS = 1  # CP-SAT on one thread: its deterministic limit is kept (4 interleaved
# subsolvers overshot a 0.3 limit fivefold, 17 s on this loaded machine)


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
            the input forces (the optimum of the model's linear relaxation, a band CP-SAT
            proved infeasible, the band proven infeasible for every total,
            :meth:`_Problem.band_by_total`: ``band_pct`` itself, or the whole-horizon band
            model's bound, :meth:`_Problem.exact_band`). None: not computed (the calendar is
            within ``band_pct``).
        exact_band: what the band's exact models (:meth:`_Problem.band_by_total`, then the
            whole-horizon band model, run when the calendar was still outside ``band_pct``
            with nothing proven beyond it) did: "found" (a calendar within the band, this
            one), "proven" (none exists: ``forced_pct`` at least the band), "open" (neither
            within their budgets); None: not run.
        past: the worked days a re-plan follows (``past_loads`` of :func:`plan_calendar`):
            ``band_pct``, ``forced_pct`` and ``exact_band`` are about the horizon's days
            against the mean of those days and the horizon's together
            (:attr:`band_deviation_pct`); empty: the horizon's own mean.
        cpu_s: CPU time of the solve (``time.process_time`` of the process that planned it).
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
    exact_band: str | None = None
    past: Past = NO_PAST
    cpu_s: float = 0.0

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
        return deviation(list(self.loads.values()))

    @property
    def band_deviation_pct(self) -> float:
        """What the band is about: the largest deviation of a day's load from the mean of
        the past days (:attr:`past`) and the horizon's together (%)."""
        return deviation(list(self.loads.values()), self.past)

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


def plan_calendar(worker_id: object, groups: Sequence[Group], days: Sequence[WorkDay],
                  start: date, *, base: tuple[float, float] | None = None,
                  cluster_m: float = CLUSTER_M, min_weekly: int = 0,
                  budget_s: float = DEFAULT_BUDGET_S, time_limit_s: float | None = None,
                  level_moves: int = LEVEL_MOVES, band_pct: float | None = TARGET_BAND_PCT,
                  band_budget_s: float | None = None, band_tries: int = BAND_TRIES,
                  polish_moves: int = POLISH_MOVES, repack_rounds: int = ROUNDS,
                  exact_budget_s: float = EXACT_BUDGET_S, past_loads: Sequence[int] = (),
                  previous: Sequence[ScheduledVisit] = (), roundings: int = ROUNDINGS,
                  proof_budget_s: float = PROOF_BUDGET_S,
                  lookahead_days: int = LOOKAHEAD_DAYS, log: bool = False) -> Calendar:
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
        time_limit_s: a wall-clock safety limit of each solve (default: 100 x its budget,
            at least 30 s: neighbourhood.wall_guard).
        level_moves: most moves the levelling search (:func:`_level`) tries on the start
            before CP-SAT (0: none); a count, not a time, so that the answer is repeatable.
        band_pct: when the calendar's largest deviation from the mean day is above this
            (%), the band is searched as a hard constraint (:func:`_band_search`): this band,
            then the smallest one CP-SAT finds a calendar for; None: no such search.
        band_budget_s: CP-SAT's deterministic time for each band tried (default:
            ``budget_s``).
        band_tries: most bands CP-SAT tries (0: the relaxation's bound and second
            levelling only).
        polish_moves: when the calendar is outside ``band_pct``, moves of the search that
            levels it against its own mean day (:func:`~dispatch.schedule.levelling.polish`;
            0: none).
        repack_rounds: then, most windows of days CP-SAT re-packs around the day furthest
            from the mean (:func:`~dispatch.schedule.neighbourhood.repack`; 0: none).
        exact_budget_s: then, when nothing is proven beyond ``band_pct``, CP-SAT's
            deterministic time for the whole-horizon band model
            (:meth:`_Problem.exact_band`: a calendar within the band, or the proof that none
            exists; 0: not run); in a first plan at most ``EXACT_FAR_BUDGET_S`` for a
            calendar more than ``EXACT_MARGIN_PCT`` beyond ``band_pct``.
        roundings: then, in a first plan (no ``past_loads``), when nothing is proven beyond
            ``band_pct`` by the relaxation, the chain relaxation
            (:func:`~dispatch.schedule.bounds.chain_relaxation`) proves what it can, and up
            to this many calendars rounded from its solution are levelled against their mean
            (:func:`_from_chains`; 0: neither).
        proof_budget_s: in a first plan, when nothing is proven beyond ``band_pct`` by the
            relaxation, CP-SAT's deterministic time for the band as hard constraints with
            the calendar's total in ranges (:meth:`_Problem.band_by_total`: none of them
            holds a calendar within the band, the proof; or a calendar within it), before
            the chain relaxation and the whole-horizon band model (neither runs when this
            settles the band; 0: not run); the same budget again after the chain step when
            its calendar is still outside the band, the ranges around its total first.
        past_loads: a re-plan's worked days before ``start`` (their loads, minutes: the
            service counts them with :func:`load_of` from its stored calendar's visits of
            those days, api.services.visits): the
            days are aimed at the mean of these days and the horizon's together, and the
            band measured against it (:class:`~dispatch.schedule.horizon.Past`), so that
            weekly re-plans keep the level worked so far; the linear relaxation's bound
            (about the horizon's own mean) is then not computed. Empty: a first plan.
        previous: the calendar a re-plan replaces (its visits from ``start`` on): each
            group whose visits there still keep every rule starts where it was
            (:func:`_carried`), the others from the sweep, and the levelling search is not
            run on the carried start (the previous plan's polish and band model levelled
            it: re-doing them from the sweep each week repeats that work). Empty: none.
        lookahead_days: a group next due less than this many days after the horizon may
            be visited early in it (an optional visit, :func:`due_chains`).
        log: print CP-SAT's search log.

    Returns:
        The :class:`Calendar`.

    Raises:
        ArgumentError: no work day in the horizon while visits are due.
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    days = sorted(days, key=lambda d: d.day)
    occurrences, overdue = due_chains(groups, start, list(days), lookahead_days)
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
    first = sweep_start(occurrences, offsets, groups, days, label, base_work, approach,
                        lookahead_days)
    opened = {(int(label[occurrences[oi].group]), k) for oi, k in first.items()}
    hinted = sweep_start(occurrences, offsets, groups, days, label,  # the work with approaches
                    sum(minutes[oi] for oi in first) + sum(int(approach[c]) for c, _ in opened),
                    approach, lookahead_days)
    # each day's share of the horizon's work: visiting minutes plus the approaches of the
    # start, in proportion to the day's capacity
    used = {(int(label[occurrences[oi].group]), k) for oi, k in hinted.items()}
    work = sum(minutes[oi] for oi in hinted) + sum(int(approach[c]) for c, _ in used)
    total_cap = sum(d.capacity_min for d in days) or 1
    past = Past.of(past_loads)
    # with a past, the level of the past days and the horizon's together (a re-plan keeps
    # the level worked so far: a horizon below it is filled with early visits, one above
    # it levelled evenly)
    level_work = (work if not past.days
                  else (past.total + work) * len(days) / (past.days + len(days)))
    targets = [round(level_work * d.capacity_min / total_cap) for d in days]
    carried = _carried(previous, hinted, occurrences, offsets, groups, days, start, label,
                       approach)
    if carried is not None:
        hinted, level_moves = carried, 0
    if level_moves:
        hinted = level(hinted, occurrences, offsets, groups, days, label, approach, targets,
                        level_moves)
    problem = _Problem(occurrences, groups, days, offsets, label, approach, targets,
                       min_weekly, past)
    # the relaxation proves deviations from the horizon's own mean: none with a past
    bound: float | None = None if not past.days else 0.0
    if (band_pct is not None and level_moves and days and not past.days
            and deviation(problem.from_start(hinted).loads) > band_pct):
        # the levelled start is outside the band: what the input forces, proven by the
        # linear relaxation; then the relaxation's days within the band (or the bound),
        # with the fewest early visits, as the days' targets of a second levelling
        bound = proven(relaxation(problem)[0])
        _, profile = relaxation(problem, max(bound + BAND_STEP_PCT, band_pct * RELAX_AIM))
        if profile:
            aimed = [round(v) for v in profile]
            again = level(hinted, occurrences, offsets, groups, days, label, approach, aimed,
                           int(level_moves * RELEVEL_SHARE))
            if deviation(problem.from_start(again).loads) < deviation(
                    problem.from_start(hinted).loads):
                hinted, problem.targets = again, aimed

    def solve(hint: dict[int, int], band: float | None, budget: float) -> _Solution:
        return problem.solve(hint, band, budget, time_limit_s or wall_guard(budget), log)

    solution = solve(hinted, None, budget_s)
    if not solution.solved:  # the budget ran out before the search began (presolve of a
        # large model on a loaded machine): the start keeps every rule (_start, _repair), so
        # it is the answer
        solution = problem.from_start(hinted)
    if band_pct is not None and days:
        solution = _level_to_mean(problem, solution, band_pct, polish_moves, repack_rounds)
    forced: float | None = None
    exact: str | None = None
    if band_pct is not None and days and deviation(solution.loads, past) > band_pct:
        if bound is None:
            bound = proven(relaxation(problem)[0])
        solution, forced = _band_search(solve, solution, band_pct,
                                        band_budget_s or budget_s, bound, band_tries)
        if proof_budget_s > 0 and forced < band_pct and not past.days:
            # a first plan only (the proof is about the horizon's own mean); before the
            # chain relaxation and its rounded starts, which a proof or a calendar within
            # the band makes needless (3-9 CPU s a worker)
            solution, forced, exact = _by_total(problem, solution, band_pct, forced,
                                                proof_budget_s, time_limit_s, log,
                                                polish_moves)
        if forced is not None and forced < band_pct and roundings > 0 and not past.days:
            # a first plan only: in weekly re-plans (past days) the rounded starts ran for
            # almost every worker every week and nearly doubled the slowest re-plan's CPU
            # (Beijing rolling 41 -> 78 s), its later weeks re-planned the week after
            chained = solution
            solution, forced = _from_chains(problem, solution, band_pct, forced,
                                            polish_moves, repack_rounds, roundings)
            if deviation(solution.loads, past) <= band_pct:
                forced = None  # a calendar within the band: nothing forced
            elif (proof_budget_s > 0 and exact is None and forced < band_pct
                  and solution.chosen != chained.chosen
                  and deviation(solution.loads) > band_pct + EXACT_MARGIN_PCT):
                # still outside, nothing proven, and too far for the whole-horizon model's
                # full budget: the ranges again, around this calendar's total and hinted by
                # it (ANCHOR_RANGES); every total still once, so a proof stays sound.
                # Within the margin that model levels further (synthetic 33 worker 1:
                # 14.3%, these ranges' calendar 14.9%)
                solution, forced, exact = _by_total(problem, solution, band_pct, forced,
                                                    proof_budget_s, time_limit_s, log,
                                                    polish_moves, around=True)
        if exact_budget_s > 0 and forced is not None and forced < band_pct:
            # nothing proven beyond the band: the whole-horizon model finds a calendar
            # within it or proves that none exists; in a first plan, a calendar further
            # than EXACT_MARGIN_PCT from the band with a small budget (a proof in presolve)
            budget = exact_budget_s
            if not past.days and deviation(solution.loads, past) > band_pct + EXACT_MARGIN_PCT:
                budget = min(budget, EXACT_FAR_BUDGET_S)
            found, proven_pct = problem.exact_band(
                solution.chosen, band_pct, budget, time_limit_s or wall_guard(budget),
                log)
            exact, searched = "open", forced
            if found is not None and _no_worse(found, solution, days, past):
                solution = replace(found, status=solution.status)  # a lower largest excess
                if deviation(solution.loads, past) <= band_pct:
                    forced, exact = None, "found"
            if proven_pct is not None:
                forced, exact = max(searched, proven(proven_pct)), "proven"
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
                    band_pct=band_pct, forced_pct=forced, exact_band=exact, past=past,
                    cpu_s=round(time.process_time() - cpu_started, 3))


def _carried(previous: Sequence[ScheduledVisit], start_at: dict[int, int],
             occurrences: list[Occurrence], offsets: list[int], groups: Sequence[Group],
             days: Sequence[WorkDay], start: date, label: np.ndarray, approach: np.ndarray
             ) -> dict[int, int] | None:
    """The start of a re-plan from the calendar it replaces: each group's visits of
    ``previous`` from ``start`` on, in order, on its occurrences in order (the later ones,
    as the horizon's new last week, where ``start_at`` has them); a group whose carried
    chain breaks a rule (days off since, a visit no longer due) keeps ``start_at``'s
    placement. None: nothing carried."""
    if not previous or not occurrences:
        return None
    position = {d.day: k for k, d in enumerate(days)}
    index = {g.group_id: gi for gi, g in enumerate(groups)}
    before: dict[int, list[date]] = defaultdict(list)
    for v in previous:
        if v.day >= start and v.group_id in index:
            before[index[v.group_id]].append(v.day)
    state = _Placement(start_at, occurrences, offsets, groups, label, approach)
    carried = 0
    for gi, items in state.chains.items():
        visits = sorted(before.get(gi, []))
        if not visits or any(d not in position for d in visits) or len(visits) > len(items):
            continue
        was = [(oi, state.at[oi]) for oi in items]
        for oi, d in zip(items, visits, strict=False):
            state.move(oi, position[d])
        if state.chain_ok(gi):
            carried += 1
            continue
        for oi, k in was:
            state.move(oi, k)
    return state.chosen() if carried else None


@dataclass
class _Solution:
    chosen: dict[int, int]  # occurrence -> work-day position (absent optional: not a key)
    loads: list[int]
    weekly_short: list[int]
    status: str  # CP-SAT's status name, "START" for the start itself
    solved: bool = True


def _level_to_mean(problem: _Problem, solution: _Solution, band_pct: float,
                   polish_moves: int, repack_rounds: int) -> _Solution:
    """A calendar outside ``band_pct`` levelled against its own mean day: the model levels
    against fixed targets, the band is around the calendar's mean. ``BAND_PASSES`` rounds of
    the polish then the re-packing (each starts where the other left), while a round
    lowers the largest deviation; each result kept only when it is lower."""
    args = (problem.occurrences, problem.offsets, problem.groups, problem.label,
            problem.approach, band_pct)
    past = problem.past
    repacking = partial(repack, memo=problem.windows)  # windows solved once per problem
    for _ in range(BAND_PASSES):
        start = deviation(solution.loads, past)
        if start <= band_pct:
            break
        for search, effort in ((polish, polish_moves), (repacking, repack_rounds)):
            if not effort or deviation(solution.loads, past) <= band_pct:
                continue
            found = problem.from_start(search(solution.chosen, *args, effort, past))
            if deviation(found.loads, past) < deviation(solution.loads, past):
                solution = replace(found, status=solution.status)
        if deviation(solution.loads, past) >= start:
            break
    return solution


def _from_chains(problem: _Problem, solution: _Solution, band_pct: float, forced: float,
                 polish_moves: int, repack_rounds: int, roundings: int
                 ) -> tuple[_Solution, float]:
    """A calendar outside ``band_pct`` with nothing proven beyond it (``forced``): the chain
    relaxation (:func:`~dispatch.schedule.bounds.chain_relaxation`) proves what the whole
    chains force (at least ``forced``), and its solution, rounded to one chain per group
    (:meth:`~dispatch.schedule.bounds.ChainRelaxation.rounded`, seeds 0 to
    ``roundings - 1``), is a new start, levelled against its mean (:func:`_level_to_mean`);
    the first within the band, or the best, kept when :func:`_no_worse` than ``solution``.
    The polish and re-packing from the model's calendar stall in a valley (a late week
    without enough work, the visits that could fill it chained to earlier weeks); the
    relaxation's days are level and its chains spread over the whole horizon.

    Returns:
        The calendar and the proven least largest deviation (%)."""
    # the rounded days aim within half the band, or just above what is proven (a flow
    # within it: nothing more is proven, in one solve), below the band itself (a flow
    # within the band would leave a proof beyond it unsought)
    aim = min(max(band_pct * RELAX_AIM, forced + BAND_STEP_PCT), band_pct - BAND_STEP_PCT / 10)
    chains = chain_relaxation(problem, aim)
    if chains is None:
        return solution, forced
    forced = max(forced, proven(chains.band))
    if forced >= band_pct:
        return solution, forced
    past = problem.past
    state_args = (problem.occurrences, problem.offsets, problem.groups, problem.label,
                  problem.approach)
    for seed in range(roundings):
        chosen = chains.rounded(seed)
        state = _Placement(chosen, *state_args)
        if not all(state.chain_ok(gi) for gi in state.chains):
            continue  # a draw ran into a dead end: not a calendar
        found = _level_to_mean(problem, problem.from_start(chosen), band_pct, polish_moves,
                               repack_rounds)
        if _no_worse(found, solution, problem.days, past):
            solution = replace(found, status=solution.status)
        if deviation(solution.loads, past) <= band_pct:
            break
    return solution, forced


def _by_total(problem: _Problem, solution: _Solution, band_pct: float, forced: float,
              budget_s: float, time_limit_s: float | None, log: bool, polish_moves: int = 0,
              around: bool = False) -> tuple[_Solution, float | None, str | None]:
    """The band as hard constraints, the calendar's total in ranges
    (:meth:`_Problem.band_by_total`): "proven" (``forced`` the band: no calendar within it),
    "found" (a calendar within it, kept when :func:`_no_worse` than ``solution``; then
    polished towards ``RELAX_AIM`` of the band, ``polish_moves``, when that levels it: CP-SAT
    stops at any calendar within the band), or neither (``solution``, ``forced`` and no
    outcome, as before). ``around``: the ranges around ``solution``'s own total first."""
    found, settled = problem.band_by_total(solution.chosen, band_pct, budget_s,
                                           PROOF_STEP_S, time_limit_s, log, around)
    if settled:
        return solution, max(forced, band_pct), "proven"
    if found is not None and _no_worse(found, solution, problem.days):
        levelled = problem.from_start(polish(
            found.chosen, problem.occurrences, problem.offsets, problem.groups, problem.label,
            problem.approach, band_pct * RELAX_AIM, polish_moves))
        if _no_worse(levelled, found, problem.days):
            found = levelled
        return replace(found, status=solution.status), None, "found"
    return solution, forced, None


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
    proven_band = bound
    low, high = max(bound, band_pct - BAND_STEP_PCT), deviation(best.loads)
    band = band_pct if bound < band_pct else _mid(low, high)
    for _ in range(tries):
        if band >= high:
            break
        found = solve(best.chosen, band, budget)
        if found.status == "INFEASIBLE":
            proven_band = max(proven_band, band)
        if found.solved and deviation(found.loads) < high:
            best, high = found, deviation(found.loads)
            if high <= band_pct:
                break
        else:
            low = max(low, band)
        if high - low <= BAND_STEP_PCT:
            break
        band = _mid(low, high)
    return best, proven_band


def _no_worse(found: _Solution, before: _Solution, days: Sequence[WorkDay],
              past: Past = NO_PAST) -> bool:
    """``found`` (the band model's calendar, which weighs only the band) has a lower largest
    deviation from its mean day (with ``past``: the past's and its days' mean) than ``before``
    and takes nothing the calendar's model
    weighs more heavily: no more minutes beyond a day's capacity, no larger weekly
    shortfall of a party member."""
    def over(s: _Solution) -> int:
        return sum(max(0, v - d.capacity_min) for v, d in zip(s.loads, days, strict=True))

    return (deviation(found.loads, past) < deviation(before.loads, past)
            and over(found) <= over(before)
            and sum(found.weekly_short) <= sum(before.weekly_short))


def _mid(low: float, high: float) -> float:
    """The band half-way between a failed one and a found one, in whole steps."""
    band = math.floor((low + high) / 2 / BAND_STEP_PCT) * BAND_STEP_PCT
    return band if band > low else low + BAND_STEP_PCT


class _Problem:
    """The CP-SAT model of one worker's calendar, built for one hint and band at a time."""

    def __init__(self, occurrences: list[Occurrence], groups: Sequence[Group],
                 days: Sequence[WorkDay], offsets: list[int], label: np.ndarray,
                 approach: np.ndarray, targets: list[int], min_weekly: int,
                 past: Past = NO_PAST) -> None:
        self.occurrences, self.groups, self.days = occurrences, groups, days
        self.past = past
        self.offsets, self.label, self.approach = offsets, label, approach
        self.targets, self.min_weekly = targets, min_weekly
        self.minutes = [groups[o.group].minutes for o in occurrences]
        self.weeks = offsets[-1] // 7 + 1 if offsets and min_weekly > 0 else 0
        self.windows: Windows = {}  # the re-packing's solved windows (repack's memo)

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

    def _placement(self, model: cp_model.CpModel, hinted: dict[int, int]
                   ) -> tuple[dict[tuple[int, int], cp_model.IntVar],
                              dict[int, list[tuple[int, cp_model.IntVar]]],
                              dict[int, cp_model.IntVar], dict[tuple[int, int], cp_model.IntVar]]:
        """The model's placement of the visits, hinted with ``hinted``: ``x[o, k]`` (visit
        ``o`` on work day ``k``, inside its window), each day's visits (``by_day``), the
        early visits' presence, the chains' gaps and the end of the horizon, and ``y[c, k]``
        (cluster ``c`` visited on day ``k``: implied by its visits, and implying one)."""
        occurrences, groups = self.occurrences, self.groups
        offsets, label = self.offsets, self.label
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
            # no approach walk without a visit: else the walk alone fills a quiet day's load
            # (the day's visits, ScheduledVisit, would not show it)
            model.add_bool_or(lits).only_enforce_if(var)
        for oi, occ in enumerate(occurrences):
            for k in occ.days:
                model.add_hint(x[oi, k], k == hinted.get(oi, -1))
            if oi in present:
                model.add_hint(present[oi], oi in hinted)
        used = {(int(label[occurrences[oi].group]), k) for oi, k in hinted.items()}
        for key, var in y.items():
            model.add_hint(var, key in used)
        return x, by_day, present, y

    def exact_band(self, hinted: dict[int, int], band_pct: float, budget_s: float,
                   wall_s: float, log: bool = False) -> tuple[_Solution | None, float | None]:
        """Whether any calendar keeps every work day within ``band_pct`` % of its own mean
        day: the whole horizon's placement (:meth:`_placement`, a cluster's approach only
        on a day with a visit there) with the band as linear constraints on the calendar's
        total ``T`` (a variable: early visits and approaches move it), ``n`` work days:
        ``n * load_k`` within ``(1 ± band) * T`` (integers: ``unit * n * load_k`` against
        ``(unit ± width) * T``), the largest excess beyond it ``E``; CP-SAT minimises ``E``
        from ``hinted`` by large neighbourhood search alone (deterministic time
        ``budget_s``). ``E`` = 0: a calendar within the band. A lower bound of ``E`` above
        0 (found in presolve on small inputs): none exists, integrality included (each
        visit on one whole day, which the linear relaxation splits), and every calendar has
        a day at least ``band_pct + 100 * E_bound / (unit * T_max)`` % off its mean
        (``T_max``: every visit and approach of the horizon, above any calendar's total).
        A re-plan's past days (:class:`~dispatch.schedule.horizon.Past`) count in ``n`` and
        ``T`` (their total fixed) and are not constrained themselves.

        Returns:
            The best calendar found (within the band when ``E`` = 0; None: none), and the
            proven least largest deviation (%, above ``band_pct``; None: not proven beyond
            the band).
        """
        occurrences, days = self.occurrences, self.days
        minutes, approach = self.minutes, self.approach
        if not days or not occurrences:
            return None, None
        model = cp_model.CpModel()
        x, by_day, _present, y = self._placement(model, hinted)
        hint = self.from_start(hinted).loads
        past = self.past
        # the band's mean day: of the past days (fixed) and the horizon's together
        n = len(days) + past.days
        day_max = [sum(minutes[oi] for oi, _ in by_day[k])
                   + sum(int(approach[c]) for c, kk in y if kk == k) for k in range(len(days))]
        t_max = sum(day_max) + past.total
        loads = []
        for k in range(len(days)):
            load = model.new_int_var(0, day_max[k], f"load{k}")
            model.add(load == sum(minutes[oi] * var for oi, var in by_day[k])
                      + sum(int(approach[c]) * var for (c, kk), var in y.items() if kk == k))
            model.add_hint(load, hint[k])
            loads.append(load)
        total = cp_model.LinearExpr.sum(loads) + past.total
        # n * load_k against (1 ± band) * T in units of 1/unit of the mean (integers)
        width = round(band_pct * 100)
        g = math.gcd(10_000, width)
        unit, width = 10_000 // g, width // g
        upper = (unit + width) * t_max * n + 1
        excess = model.new_int_var(0, upper, "excess")
        hint_total = sum(hint) + past.total
        model.add_hint(excess, max([0, *(max(unit * n * v - (unit + width) * hint_total,
                                             (unit - width) * hint_total - unit * n * v)
                                         for v in hint)]))
        for load in loads:
            model.add(unit * n * load - (unit + width) * total <= excess)
            model.add((unit - width) * total - unit * n * load <= excess)
        model.minimize(excess)
        solver = _solver(budget_s, wall_s, log)
        solver.parameters.use_lns_only = True  # from the hint: large neighbourhoods of the
        # whole horizon (the full search found fewer calendars in 1-3 s and proved none)
        status = solver.solve(model)
        found = None
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            found = self.from_start({oi: next(k for k in occ.days if solver.value(x[oi, k]))
                                     for oi, occ in enumerate(occurrences)
                                     if any(solver.value(x[oi, k]) for k in occ.days)})
        bound = solver.best_objective_bound if status != cp_model.INFEASIBLE else 0.0
        forced = None
        if bound > 0 and t_max > 0:
            forced = band_pct + 100 * bound / (unit * t_max)
        return found, forced

    def band_by_total(self, hinted: dict[int, int], band_pct: float, budget_s: float,
                      step_s: float, wall_s: float | None = None, log: bool = False,
                      around: bool = False) -> tuple[_Solution | None, bool]:
        """Whether any calendar keeps every work day within ``band_pct`` % of its own mean
        day, the band as hard constraints: the placement (:meth:`_placement`) with
        ``n * load_k`` within ``(1 ± band) * T``, ``T`` the calendar's total, solved for
        ranges of ``T``. With ``T`` free the bounds of the days move with it and CP-SAT
        proved nothing in minutes on a Beijing worker; with ``T`` within a range each day
        has fixed bounds, and the same worker's band was proven infeasible in 0.1
        deterministic s (every early visit already placed, and the days the visits due at
        the start fill still above the band of that highest total). The ranges from every
        due visit alone (the least total) to every visit and walk (above any calendar's),
        first a few narrow ones upward from the least total whose band holds the hint's
        busiest day (where the visits due force that day, the quiet days raised to it by
        early visits), then the rest lowest first (fewest early visits; :func:`_total_ranges`);
        a range CP-SAT settles neither way within ``step_s`` is halved, until ``budget_s``
        (deterministic time) is spent or a single total is not settled (no proof can then
        follow); without the busiest day's ranges the whole range is halved at once
        (nanjing-A's worker 8: its halves proven in 0.08 and 0.56 deterministic s, the whole
        range not in 0.8). ``around``: instead, ``ANCHOR_RANGES`` narrow ranges around the
        hint's own total first (:func:`_around`), then the rest. No past days (a first plan).

        Returns:
            A calendar within the band (None: none found), and whether every range was
            proven infeasible: no calendar keeping the model's rules (each visit on one
            whole day) is within the band.
        """
        occurrences, days, minutes, approach = (self.occurrences, self.days, self.minutes,
                                                self.approach)
        if not days or not occurrences:
            return None, False
        model = cp_model.CpModel()
        x, by_day, _present, y = self._placement(model, hinted)
        n = len(days)
        loads = []
        for k in range(n):
            terms = [(minutes[oi], var) for oi, var in by_day[k]]
            terms += [(int(approach[c]), var) for (c, kk), var in y.items() if kk == k]
            load = model.new_int_var(0, sum(w for w, _ in terms), f"load{k}")
            model.add(load == sum(w * var for w, var in terms))
            loads.append(load)
        least = sum(m for m, o in zip(minutes, occurrences, strict=True) if not o.optional)
        # a walk only with a visit: at most one per visit
        walks = min(sum(int(approach[c]) for c, _ in y),
                    len(occurrences) * int(approach.max(initial=0)))
        most = sum(minutes) + walks
        total = model.new_int_var(least, most, "total")
        model.add(total == cp_model.LinearExpr.sum(loads))
        width = round(band_pct * 100)
        for load in loads:
            model.add(10_000 * n * load <= (10_000 + width) * total)
            model.add(10_000 * n * load >= (10_000 - width) * total)
        # the least total at which the hint's busiest day is within the band
        hint_loads = self.from_start(hinted).loads
        peak = -(-10_000 * n * max(hint_loads) // (10_000 + width))
        ranges, ahead = (_total_ranges(least, most, peak) if not around else _around(
            least, most, sum(hint_loads), ANCHOR_RANGES,
            max(1, round(ANCHOR_RANGE_SHARE * sum(hint_loads)))))
        spent = 0.0
        while ranges and spent < budget_s:
            low, high = ranges.pop(0)
            first, ahead = ahead > 0, max(0, ahead - 1)
            part = model.clone()
            part.add_linear_constraint(part.get_int_var_from_proto_index(total.index),
                                       low, high)
            step = min(step_s, budget_s - spent)
            solver = _solver(step, wall_s or wall_guard(step), log)
            status = solver.solve(part)
            spent += solver.deterministic_time  # deterministic: the same ranges each run
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return self.from_start({oi: k for (oi, k), var in x.items()
                                        if solver.value(var)}), False
            if status == cp_model.INFEASIBLE:
                continue
            if low == high:
                return None, False  # a total settled neither way: no proof can follow
            middle = (low + high) // 2
            # halved in place; a first range's halves after the other first ones (each of
            # them is tried before any is split)
            at = ahead if first else 0
            ranges[at:at] = [(low, middle), (middle + 1, high)]
        return None, not ranges

    def solve(self, hinted: dict[int, int], band: float | None, budget_s: float,
              wall_s: float, log: bool = False) -> _Solution:
        """Solve with ``hinted`` as a complete hint, every day's load within ``band`` % of
        the mean of the days' loads when given (a hard constraint); ``solved`` False when
        CP-SAT found no calendar (its status: INFEASIBLE when it proved there is none)."""
        occurrences, groups, days = self.occurrences, self.groups, self.days
        offsets, label, approach, targets = self.offsets, self.label, self.approach, self.targets
        minutes, min_weekly = self.minutes, self.min_weekly
        model = cp_model.CpModel()
        x, by_day, present, y = self._placement(model, hinted)
        used = {(int(label[occurrences[oi].group]), k) for oi, k in hinted.items()}
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

        solver = _solver(budget_s, wall_s, log)
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return _Solution({}, [], [], solver.status_name(status), solved=False)
        chosen = {oi: next(k for k in occ.days if solver.value(x[oi, k]))
                  for oi, occ in enumerate(occurrences)
                  if oi not in present or solver.value(present[oi])}
        return _Solution(chosen, [int(solver.value(v)) for v in loads],
                         [int(solver.value(v)) for v in shortfalls], solver.status_name(status))


def _total_ranges(least: int, most: int, peak: int, count: int = PEAK_RANGES,
                  share: float = PEAK_RANGE_SHARE) -> tuple[list[tuple[int, int]], int]:
    """The ranges of the calendar's total (minutes) that :meth:`_Problem.band_by_total`
    tries, in order, covering ``least..most`` once. When ``peak`` (the least total whose
    band holds the calendar's busiest day) lies within, ``count`` ranges of ``share`` of
    it from there upward come first: where the visits due force that day, a calendar
    within the band has a total at least this high, its quiet days raised by early visits
    (Beijing 95 worker 5 and synthetic 96 worker 8 of the bench: found in 0.6-1.0
    deterministic s there, the ranges lowest first settled nothing in 0.8); then the totals
    below them and those above. Otherwise the whole range in two halves, lowest first (the
    fewest early visits). Returns the ranges and how many come first."""
    if not least <= peak <= most:
        middle = (least + most) // 2
        return [(least, middle), (middle + 1, most)], 0
    wide = max(1, round(share * peak))
    first = [(low, min(low + wide - 1, most))
             for low in range(peak, most + 1, wide)][:count]
    rest = [(least, peak - 1)] if peak > least else []
    if first[-1][1] < most:
        rest.append((first[-1][1] + 1, most))
    return first + rest, len(first)


def _around(least: int, most: int, anchor: int, count: int, wide: int
            ) -> tuple[list[tuple[int, int]], int]:
    """``count`` ranges of ``wide`` totals nearest ``anchor`` (the one around it, then
    alternately the next above and below, clipped to ``least..most``), then the totals
    below them and those above: each total once. Returns the ranges and how many come
    first."""
    low = max(least, min(anchor - wide // 2, most - wide + 1))
    first: list[tuple[int, int]] = [(low, min(low + wide - 1, most))]
    high = first[0][1]
    while len(first) < count and (low > least or high < most):
        if high < most:
            first.append((high + 1, min(high + wide, most)))
            high = first[-1][1]
        if len(first) < count and low > least:
            first.append((max(low - wide, least), low - 1))
            low = first[-1][0]
    rest = ([(least, low - 1)] if low > least else []) + (
        [(high + 1, most)] if high < most else [])
    return first + rest, len(first)


def _solver(budget_s: float, wall_s: float, log: bool) -> cp_model.CpSolver:
    """CP-SAT on ``WORKERS`` threads, seeded, stopped by its deterministic time (``budget_s``;
    ``wall_s``: the wall-clock guard): the same model gives the same answer."""
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = WORKERS
    solver.parameters.interleave_search = True
    solver.parameters.max_deterministic_time = budget_s
    solver.parameters.max_time_in_seconds = wall_s
    solver.parameters.random_seed = 0
    solver.parameters.log_search_progress = log
    return solver


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
    occurrences, overdue = due_chains(groups, start, list(days))
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
