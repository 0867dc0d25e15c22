"""The visit calendar benchmark's simulated history (bench/visit_calendar_bench.py): one last
visit per building and class (the default), one per trip (``--history trip``), or one per
batch of a building's households of a class, written as the classes' CSV and read back
(``--history rows``)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from bench.visit_calendar_bench import START, batch_rows, by_trip, through_csv
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


def test_a_rows_history_splits_each_buildings_class_into_batches_read_through_the_csv():
    """``--history rows``: a building's 60 ordinary households in 6 batches of 10 with their
    own last visits (rows of one day merged), read back through the classes' CSV reader; the
    households per building and class kept; the trips never mix two batches."""
    rows = pd.DataFrame([
        {"building_id": "way/1", "visit_class": "ordinary", "households": 60, "x": 0.0,
         "y": 0.0, "last_visit": START - timedelta(days=170)},
        {"building_id": "way/1", "visit_class": "migrant", "households": 9, "x": 0.0,
         "y": 0.0, "last_visit": START - timedelta(days=20)},
        {"building_id": "way/2", "visit_class": "ordinary", "households": 4, "x": 50.0,
         "y": 0.0, "last_visit": START - timedelta(days=20)}])
    batches = batch_rows(rows, 5)
    assert batch_rows(rows, 5).equals(batches)  # seeded
    ordinary = batches[(batches["building_id"] == "way/1")
                       & (batches["visit_class"] == "ordinary")]
    assert ordinary["households"].sum() == 60 and 4 <= len(ordinary) <= 6
    assert ordinary["last_visit"].is_unique
    buildings = pd.DataFrame({"building_id": ["way/1", "way/2"], "households": [69, 4],
                              "x": [0.0, 50.0], "y": [0.0, 0.0]})
    table = through_csv(batches, buildings)
    assert table.groupby(["building_id", "visit_class"])["households"].sum().to_dict() == {
        ("way/1", "migrant"): 9, ("way/1", "ordinary"): 60, ("way/2", "ordinary"): 4}
    groups = make_groups(table)
    trips = [g for g in groups if g.building_id == "way/1" and g.visit_class == "ordinary"]
    assert len({g.group_id for g in trips}) == len(trips)
    assert len({g.last_visit for g in trips}) == len(ordinary)
    assert sum(g.households for g in trips) == 60
