"""The early visits of a first calendar (dispatch.schedule): how far after the horizon a
group's next due visit may be for the calendar to make it early, levelling days where little
is due."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd

from dispatch.schedule.calendar import make_groups, plan_calendar, work_days
from dispatch.schedule.horizon import due_chains

START = date(2026, 12, 7)  # a Monday


def _rows() -> pd.DataFrame:
    """One building's ordinary households due in the first week (60 minutes each day), and
    a neighbour's due 33 days after the two weeks' horizon (beyond a 3-week lookahead):
    nothing is due in the second week."""
    rows = [{"building_id": f"a{d}", "visit_class": "ordinary", "households": 6,
             "x": 10.0 * d, "y": 0.0, "last_visit": START + timedelta(days=d - 182)}
            for d in range(5)]
    rows.append({"building_id": "b", "visit_class": "ordinary", "households": 30,
                 "x": 0.0, "y": 20.0, "last_visit": START + timedelta(days=12 + 33 - 182)})
    return pd.DataFrame(rows)


def test_a_week_with_nothing_due_is_filled_with_visits_due_up_to_six_weeks_later():
    groups = make_groups(_rows())
    days = work_days(START, 2)
    cal = plan_calendar("w", groups, days, START, base=(0.0, 0.0), budget_s=0.5)
    assert cal.scheduled_pct == 100.0
    # every day within ±15% of the mean day: the second week takes the early visits
    assert cal.max_deviation_pct <= 15.0, cal.loads
    assert cal.forced_pct is None
    # the neighbour's visits (due 33 days after the horizon) may be made early
    occurrences, _ = due_chains(groups, START, days)
    assert sum(o.optional for o in occurrences) == 10
    early = [v for v in cal.visits if v.early]
    assert early and all(v.day >= START + timedelta(days=7) for v in early)
    # an early visit keeps the gap: at least half the period after the last visit
    last = {g.group_id: g.last_visit for g in groups}
    period = {g.group_id: g.period for g in groups}
    assert all((v.day - last[v.group_id]).days >= math.ceil(period[v.group_id] / 2)
               for v in cal.visits)
    # each group at most once in two weeks
    assert len({v.group_id for v in cal.visits}) == len(cal.visits)
