"""The visit calendar benchmark's simulated history (bench/visit_calendar_bench.py): one last
visit per building and class (the default, as the classes' CSV gives them) or one per trip
(``--history trip``)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from bench.visit_calendar_bench import START, by_trip
from dispatch.schedule.calendar import make_groups


def test_a_trip_history_draws_each_trips_last_visit_and_keeps_the_households():
    rows = pd.DataFrame([
        {"building_id": "b", "visit_class": "ordinary", "households": 60, "x": 0.0, "y": 0.0,
         "last_visit": START - timedelta(days=170)},
        {"building_id": "b", "visit_class": "migrant", "households": 9, "x": 0.0, "y": 0.0,
         "last_visit": START - timedelta(days=20)}])
    groups = make_groups(rows)
    # the default: every trip of a building's class last visited on one day
    assert {g.last_visit for g in groups if g.visit_class == "ordinary"} == {
        START - timedelta(days=170)}
    trips = by_trip(groups, 7)
    assert [(g.group_id, g.households, g.visit_class) for g in trips] == [
        (g.group_id, g.households, g.visit_class) for g in groups]
    for g in trips:  # within its period before the start
        assert START - timedelta(days=g.period) <= g.last_visit < START
    assert len({g.last_visit for g in trips if g.visit_class == "ordinary"}) > 10
    assert by_trip(groups, 7) == trips  # seeded
    assert by_trip(groups, 8) != trips
