"""A building's households of one class split by when they were last visited: several rows of
the classes' CSV (dispatch.schedule.classes), kept apart by the calendar's trips
(dispatch.schedule.horizon.make_groups), the batch visited longest ago due first."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from dispatch.schedule.calendar import make_groups, plan_calendar, work_days
from dispatch.schedule.classes import CLASSES, household_classes, read_visit_classes
from dispatch.schedule.horizon import batch_of_trip, split_group_id
from gis.errors import InputError

START = date(2026, 12, 7)  # a Monday
BUILDINGS = pd.Series({"way/1": 80, "way/2": 8})
ORDINARY_DAYS = CLASSES["ordinary"].period_days


def test_two_batches_of_one_building_and_class_are_read_and_the_older_falls_due_first():
    """70 of way/1's 80 households are ordinary, 30 last visited on 2026-10-01 and 40 on
    2026-06-10 (due 2026-12-09, in the calendar's first week); 4 key persons; the 6 the file
    does not name are ordinary with no known last visit. Before, the second ordinary row
    was refused ("twice")."""
    text = ("building_id,visit_class,households,last_visit\n"
            "way/1,ordinary,30,2026-10-01\n"
            "way/1,一般户,40,2026-06-10\n"
            "way/1,key_person,4,2026-12-01\n")
    frame = read_visit_classes(text.encode(), buildings=BUILDINGS)
    assert frame[["visit_class", "households"]].values.tolist() == [
        ["ordinary", 30], ["ordinary", 40], ["key_person", 4]]
    table = household_classes(BUILDINGS, frame)
    one = table[table["building_id"] == "way/1"]
    assert one[["visit_class", "households", "last_visit"]].values.tolist() == [
        ["key_person", 4, date(2026, 12, 1)],
        ["ordinary", 30, date(2026, 10, 1)],
        ["ordinary", 40, date(2026, 6, 10)],
        ["ordinary", 6, None]]  # the households no row names
    assert table.groupby("building_id")["households"].sum().to_dict() == {"way/1": 80,
                                                                        "way/2": 8}
    rows = table.assign(x=[0.0] * len(table), y=[0.0] * len(table))
    groups = [g for g in make_groups(rows, start=START) if g.building_id == "way/1"
              and g.visit_class == "ordinary"]
    # trips of 3 households; none mixes the batches; ids numbered on over the rows
    assert len({g.group_id for g in groups}) == len(groups) == 10 + 14 + 2
    assert [g.group_id for g in groups[:11]] == [f"way/1/ordinary/{k}" for k in range(11)]
    by_last: dict[date, int] = {}
    for g in groups[:24]:
        assert g.last_visit is not None
        by_last[g.last_visit] = by_last.get(g.last_visit, 0) + g.households
    assert by_last == {date(2026, 10, 1): 30, date(2026, 6, 10): 40}
    # the older batch is due in the horizon (by 2026-12-09), the newer one is not (2027-04)
    days = work_days(START, 4, shift_min=480)
    cal = plan_calendar("w", make_groups(rows, start=START), days, START, budget_s=0.2,
                        band_pct=None)
    assert cal.scheduled_pct == 100.0
    old = {g.group_id for g in groups[10:24]}
    new = {g.group_id for g in groups[:10]}
    due_old = [v for v in cal.visits if v.group_id in old and not v.early]
    assert len(due_old) == 14
    assert all(v.day <= date(2026, 6, 10) + timedelta(days=ORDINARY_DAYS) for v in due_old)
    assert not [v for v in cal.visits if v.group_id in new and not v.early]


@pytest.mark.parametrize(("text", "zh", "en"), [
    # the same building, class and last visit twice: refused, naming both rows
    ("way/2,ordinary,3,2026-10-01\nway/2,一般户,2,2026-10-01\n",
     "楼栋 way/2 的类别 ordinary（2026-10-01）重复出现（另见第 2 行）",
     "row 3, column visit_class: building way/2 has class ordinary with 2026-10-01 twice "
     "(also row 2)"),
    ("way/2,migrant,1,\nway/2,migrant,2,\n", "未填上次走访日期", "no last visit twice"),
    # every row counts against the building's households, ordinary ones too
    ("way/2,ordinary,5,2026-10-01\nway/2,ordinary,2,2026-08-01\nway/2,migrant,2,\n",
     "楼栋 way/2 标注了 9 户，但只有 8 户", "9 households in the file's rows but only 8"),
])
def test_split_rows_refused_when_doubled_or_above_the_buildings_households(text, zh, en):
    with pytest.raises(InputError) as err:
        read_visit_classes(("building_id,visit_class,households,last_visit\n" + text).encode(),
                           buildings=BUILDINGS, name="classes.csv")
    assert zh in err.value.zh and en in err.value.en


def test_an_ordinary_row_names_its_households_only():
    """One ordinary row with a count: that many households last visited then, the rest of
    the building not known (before, its day went to every ordinary household)."""
    frame = read_visit_classes(b"building_id,visit_class,households,last_visit\n"
                               b"way/1,ordinary,30,2026-10-01\n", buildings=BUILDINGS)
    table = household_classes(BUILDINGS, frame)
    assert table[table["building_id"] == "way/1"][["households", "last_visit"]
                                                   ].values.tolist() == [
        [30, date(2026, 10, 1)], [50, None]]


def test_the_batch_of_a_trip_is_the_row_make_groups_cut_it_from():
    """``batch_of_trip`` (a visit done names its group; the store moves that row) finds
    each trip's row as ``make_groups`` numbers a building's trips over its rows of a class,
    on random rows of every class; a trip beyond them has none; group ids split back into
    building (``/`` in it too), class and trip."""
    rng = np.random.default_rng(4)
    for visit_class in CLASSES:
        counts = [int(x) for x in rng.integers(1, 25, size=4)]
        rows = pd.DataFrame([{"building_id": "way/7", "visit_class": visit_class,
                              "households": n, "x": 0.0, "y": 0.0,
                              "last_visit": date(2026, 11, 1) - timedelta(days=k)}
                             for k, n in enumerate(counts)])
        groups = make_groups(rows)
        for g in groups:
            building, cls, trip = split_group_id(g.group_id)
            assert (building, cls) == ("way/7", visit_class)
            k = batch_of_trip(counts, visit_class, trip)
            assert g.last_visit == date(2026, 11, 1) - timedelta(days=k)
        assert batch_of_trip(counts, visit_class, len(groups)) is None
    assert split_group_id("way/7/ordinary") is None
    assert split_group_id("way/7/nobody/1") is None
