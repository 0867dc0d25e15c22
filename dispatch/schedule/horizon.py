"""What a visit calendar places, and what it weighs: the inputs of :mod:`calendar`.

- :class:`Group` (households of one class in one building, a trip's worth) and
  :class:`WorkDay`; :func:`work_days` and :func:`make_groups` build them.
- :func:`clusters`: buildings near each other, visited on one approach walk.
- :func:`due_chains`: each group's due visits in the horizon (:class:`Occurrence`), with
  their windows (the latest feasible chain, the end of the horizon) and gaps; and the early
  visits (groups due within ``LOOKAHEAD_DAYS`` after the horizon).
- The objective's weights, shared by the CP-SAT model (:mod:`calendar`) and the levelling
  search (:mod:`levelling`), which optimises the same objective.
- :func:`deviation`: the measure, the largest deviation of a day's load from the mean day.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage

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
LOOKAHEAD_DAYS = 56  # groups due this soon after the horizon may be visited early in it: 8
# weeks (at least half the period after the last visit still). On the bench's nine tuning
# draws, one plan: 3 weeks, 45 workers beyond ±15%, 8 of them not proven; 6 weeks, 35 and 5;
# 8 weeks, 29 and 3, late weeks where little is due filled with visits due soon after, and
# household visits +5.9% (6 weeks) and +8.8% (8 weeks) over 3 weeks
# (bench/visit_calendar_results.md)
EXTRA_WEIGHT = 1  # per minute of an early visit that is not yet due


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
        buildings: rows of ``building_id, visit_class, households, x, y`` and optionally
            ``last_visit`` (date or None): one per building and class, or several when its
            households were last visited on different days (a trip never mixes them; their
            trips numbered on from one row to the next, in the rows' order).
        chunk_min: most visiting minutes per group.
        start: groups without a last visit get one spread evenly over the period before this
            day (in order along the buildings' positions), so that a new calendar does not
            put every household on one due day: the first calendar's start, or any fixed day
            (the service: the day the plan went live) so that later calendars agree. Required
            when a last visit is missing.
        period_cap: the longest period (party members: short enough for their weekly
            minimum).

    Returns:
        The groups, ``building_id/class/chunk`` as id (chunks counted over the building's
        rows of the class).
    """
    groups: list[Group] = []
    unknown: list[int] = []
    chunks: dict[tuple[str, str], int] = defaultdict(int)  # trips numbered so far
    ordered = buildings.sort_values(["y", "x", "building_id"], kind="stable")
    for rec in ordered.to_dict("records"):
        cls = CLASSES[rec["visit_class"]]
        households = int(rec["households"])
        size = trip_households(cls.key, chunk_min)
        last = rec.get("last_visit")
        last = None if last is None or (isinstance(last, float) and math.isnan(last)) else last
        period = min(cls.period_days, period_cap) if period_cap else None
        for first in range(0, households, size):
            k = chunks[str(rec["building_id"]), cls.key]
            chunks[str(rec["building_id"]), cls.key] += 1
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


def trip_households(visit_class: str, chunk_min: int = CHUNK_MIN) -> int:
    """Most households of ``visit_class`` one trip (group) serves: ``chunk_min`` minutes."""
    return max(1, chunk_min // CLASSES[visit_class].service_min)


def split_group_id(group_id: str) -> tuple[str, str, int] | None:
    """A group id of :func:`make_groups` (``building_id/class/trip``; the building id may hold
    ``/`` itself, as ``way/1``) as building id, class and trip number; None when it is not
    one (an unknown class, no trip number)."""
    parts = group_id.rsplit("/", 2)
    if len(parts) != 3 or parts[1] not in CLASSES or not parts[2].isdigit() or not parts[0]:
        return None
    return parts[0], parts[1], int(parts[2])


def batch_of_trip(households: Sequence[int], visit_class: str, trip: int,
                  chunk_min: int = CHUNK_MIN) -> int | None:
    """Which of a building's rows of ``visit_class`` (their households, in the order
    :func:`make_groups` takes them) holds trip number ``trip``: :func:`make_groups` numbers a
    building's trips of a class on from one row to the next, each row cut into trips of
    :func:`trip_households`. None: beyond the rows' trips."""
    size = trip_households(visit_class, chunk_min)
    first = 0
    for k, n in enumerate(households):
        first += -(-int(n) // size)
        if trip < first:
            return k if trip >= 0 else None
    return None


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
class Occurrence:
    """One due visit of a group (or an optional early one) and the work days it may take."""

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


def due_chains(groups: Sequence[Group], start: date, days: list[WorkDay],
               lookahead_days: int = LOOKAHEAD_DAYS) -> tuple[list[Occurrence], int]:
    """Each group's due visits in the horizon with their windows; and how many were overdue
    at the start (and cannot be on time). A group next due less than ``lookahead_days``
    after the horizon gets an optional early visit."""
    horizon = (days[-1].day - start).days + 1 if days else 0
    index = np.array([(d.day - start).days for d in days])
    occurrences: list[Occurrence] = []
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
        extra = next_due < horizon + lookahead_days
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
            occurrences.append(Occurrence(gi, due_j, lo, hi, allowed, min_gap,
                                           max(period, gap_j), horizon_lo=(max(lo, horizon - period)
                                                       if extra and j == n - 1 else lo)))
        if extra:
            lo = max(horizon - period,
                     lows[-1] + min_gap if n else due - period + min_gap)
            allowed = [k for k, d in enumerate(index) if lo <= d]
            if allowed:
                occurrences.append(Occurrence(gi, next_due, lo, horizon - 1, allowed,
                                               min_gap, period, optional=True))
    return occurrences, overdue


@dataclass(frozen=True)
class Past:
    """The days a re-planned calendar follows (worked, fixed): their total load (minutes)
    and how many they are. The band of a re-plan is measured against the mean of these days
    and the horizon's together, so that each weekly plan aims at the level the worker
    has been working at rather than its own horizon's mean, which drifts from plan to plan
    (big buildings' half-yearly visits coming due in a later window) and lies below the
    worked level (a plan counts only the visits its latest chains make due)."""

    total: int = 0
    days: int = 0

    @classmethod
    def of(cls, loads: Iterable[int]) -> Past:
        """The past of these days' loads."""
        values = [int(v) for v in loads]
        return cls(sum(values), len(values))

    def mean(self, loads: Sequence[int]) -> float:
        """The mean day of the past days and ``loads`` together."""
        n = self.days + len(loads)
        return (self.total + sum(loads)) / n if n else 0.0


NO_PAST = Past()


def deviation(loads: Sequence[int], past: Past = NO_PAST) -> float:
    """Largest deviation of a day's load from the mean of the loads (%); with ``past``, from
    the mean of the past days and the loads together (the past days themselves, fixed, not
    counted)."""
    values = np.asarray(loads, dtype=float)
    mean = past.mean(loads) if past.days else (values.mean() if len(values) else 0.0)
    if not len(values) or mean == 0:
        return 0.0
    return float(np.abs(values / mean - 1).max() * 100)
