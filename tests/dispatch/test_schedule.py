"""Periodic household visits (dispatch.schedule): visit classes from CSV, the CP-SAT calendar
against its rules and the nearest-due-first baseline, and a day's route re-planned with its
done prefix fixed; on the demo extract's real buildings and walk network."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from dispatch.routing.network import WalkNetwork
from dispatch.routing.visits import Stop
from dispatch.schedule.calendar import (
    ScheduledVisit,
    _around,
    _total_ranges,
    advance,
    clusters,
    load_of,
    make_groups,
    nearest_due_first,
    peak_bound,
    plan_calendar,
    work_days,
)
from dispatch.schedule.classes import CLASSES, household_classes, read_visit_classes
from dispatch.schedule.day_route import plan_day
from dispatch.schedule.horizon import deviation, due_chains
from gis.errors import ArgumentError, InputError

START = date(2026, 12, 7)  # a Monday
HOLIDAY = date(2027, 1, 1)
# the lookahead of early visits the draws of the band's steps were chosen with (3 weeks):
# with the default's 8 weeks the earlier steps already reach ±15% on them (draw 2: not forced)
EARLY_3W = 21


# ---- classes -----------------------------------------------------------------------------

BUILDINGS = pd.Series({"b1": 20, "b2": 8, "b3": 40})


def test_reads_classes_by_key_or_chinese_name_in_gbk():
    text = ("building_id,visit_class,households,last_visit\n"
            "b1,重点人员,2,2026-11-30\nb1,elderly_alone,3,\nb3,流动人口,10,2026-11-02\n")
    frame = read_visit_classes(text.encode("gb18030"), buildings=BUILDINGS)
    assert list(frame["visit_class"]) == ["key_person", "elderly_alone", "migrant"]
    assert frame["households"].tolist() == [2, 3, 10]
    assert frame["last_visit"].tolist()[0] == date(2026, 11, 30)
    full = household_classes(BUILDINGS, frame)
    per = full.groupby("building_id")["households"].sum()
    assert per.to_dict() == {"b1": 20, "b2": 8, "b3": 40}  # the rest is ordinary
    assert full.query("building_id == 'b2'")["visit_class"].tolist() == ["ordinary"]


@pytest.mark.parametrize(("text", "zh", "en"), [
    ("building_id,households\nb1,2\n", "缺少列 visit_class", "missing columns visit_class"),
    ("building_id,visit_class,households\nb1,vip,2\n", "第 2 行 visit_class", "row 2"),
    ("building_id,visit_class,households\nb1,migrant,0\n", "大于 0", "above 0"),
    ("building_id,visit_class,households\nb1,migrant,x\n", "households", "whole number"),
    ("building_id,visit_class,households\nzz,migrant,1\n", "不是本方案的住宅楼栋",
     "no residential building"),
    ("building_id,visit_class,households\nb2,migrant,1\nb2,migrant,2\n", "重复", "twice"),
    ("building_id,visit_class,households\nb2,migrant,5\nb2,key_person,4\n", "只有 8 户",
     "only 8 households"),
    ("building_id,visit_class,households,last_visit\nb2,migrant,1,yesterday\n", "不是日期",
     "not a date"),
])
def test_bad_class_rows_are_refused_in_both_languages(text, zh, en):
    with pytest.raises(InputError) as err:
        read_visit_classes(text.encode(), buildings=BUILDINGS, name="classes.csv")
    assert zh in err.value.zh and en in err.value.en
    assert "classes.csv" in err.value.en


# ---- calendar ----------------------------------------------------------------------------

def simulated_homes(area, households: int, seed: int):
    """About ``households`` households of an extract's homes nearest its centre, with
    simulated classes and steady-state last visits (seeded); and the centre as base."""
    b = area.buildings
    b = b[b["residential"] & (b["households"] > 0)]
    c = b.geometry.centroid
    centre = np.array([np.median(c.x), np.median(c.y)])
    order = np.argsort(np.hypot(c.x - centre[0], c.y - centre[1]).to_numpy())
    take = order[: int(np.searchsorted(np.cumsum(b["households"].to_numpy()[order]),
                                       households)) + 1]
    rng = np.random.default_rng(seed)
    rows = []
    for i in take:
        n = int(b["households"].iloc[i])
        counts = rng.multinomial(n, [0.03, 0.08, 0.03, 0.1, 0.76])
        for key, k in zip(CLASSES, counts, strict=True):
            if k:
                back = int(rng.integers(1, CLASSES[key].period_days + 1))
                rows.append({"building_id": str(b["building_id"].iloc[i]), "visit_class": key,
                             "households": int(k), "x": float(c.x.iloc[i]),
                             "y": float(c.y.iloc[i]),
                             "last_visit": START - timedelta(days=back)})
    return pd.DataFrame(rows), (float(centre[0]), float(centre[1]))


@pytest.fixture(scope="module")
def homes(demo_area):
    """About 300 households of the demo extract's homes (see :func:`simulated_homes`)."""
    return simulated_homes(demo_area, 300, 7)


def check_rules(cal, groups, days):
    """Every due visit by its due date, gaps within the period, only on work days."""
    by_group: dict[str, list[date]] = defaultdict(list)
    for v in cal.visits:
        by_group[v.group_id].append(v.day)
    allowed = {d.day for d in days}
    assert {v.day for v in cal.visits} <= allowed
    for g in groups:
        seen = sorted(by_group.get(g.group_id, []))
        last = g.last_visit
        for day in seen:
            assert (day - last).days <= g.period, (g.group_id, last, day)
            last = day
        # nothing due inside the horizon is left without a visit
        assert (last - START).days + g.period >= (days[-1].day - START).days + 1, g.group_id


def test_calendar_keeps_every_due_visit_within_its_frequency(homes):
    rows, base = homes
    groups = make_groups(rows, start=START)
    leave = [START + timedelta(days=15 + i) for i in range(3)]  # days off mid-horizon
    days = work_days(START, 6, holidays=[HOLIDAY], days_off=leave, shift_min=480)
    assert HOLIDAY not in {d.day for d in days} and leave[0] not in {d.day for d in days}
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.5)
    assert cal.due > 50 and cal.scheduled_pct == 100.0
    check_rules(cal, groups, days)
    # repeatable: a deterministic budget
    again = plan_calendar("w1", groups, days, START, base=base, budget_s=0.5)
    assert [(v.group_id, v.day) for v in again.visits] == [(v.group_id, v.day)
                                                           for v in cal.visits]


def test_calendar_groups_visits_by_place_better_than_nearest_due_first(homes):
    rows, base = homes
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY])
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.5)
    assert cal.scheduled_pct == 100.0 and max(cal.loads.values()) <= days[0].capacity_min
    baseline = nearest_due_first("w1", groups, days, START, base=base)
    assert baseline.scheduled_pct == 100.0
    check_rules(baseline, groups, days)

    label = clusters(np.array([[g.x, g.y] for g in groups]))
    index = {g.group_id: i for i, g in enumerate(groups)}

    def clusters_per_day(c):
        per = defaultdict(set)
        for v in c.visits:
            per[v.day].add(label[index[v.group_id]])
        return np.mean([len(v) for v in per.values()])

    assert clusters_per_day(cal) < clusters_per_day(baseline)


def test_levelled_calendar_keeps_every_day_within_15_percent_of_the_mean(nanjing_area):
    """One grid worker's 300 households of the real Nanjing extract over 6 weeks (holiday
    included): every work day's load within ±15% of the worker's mean (issue #18), every due
    visit on time. The start alone (no levelling search, the calendar before it) misses."""
    rows, base = simulated_homes(nanjing_area, 300, 7)
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY], shift_min=480)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3, lookahead_days=EARLY_3W)
    assert cal.scheduled_pct == 100.0
    check_rules(cal, groups, days)
    assert cal.max_deviation_pct <= 15.0
    start_only = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                               lookahead_days=EARLY_3W,
                               level_moves=0, polish_moves=0, repack_rounds=0)
    check_rules(start_only, groups, days)
    assert start_only.max_deviation_pct > 15.0


def test_a_band_the_input_forces_is_proven_and_the_calendar_reaches_it():
    """Five work days; building a's 15 ordinary households are due on Monday, b's 40 on
    Friday (one cluster, a minute's walk). Whatever the calendar, Monday carries a's 150
    minutes plus its walk: 151; the week's load is at most 550 minutes plus one walk a day,
    555, a mean of at most 111: Monday is at least 151 / 111 - 1 = 36.04% above the mean,
    and b's visits on Tuesday to Friday reach it. The ±15% band is proven infeasible and
    the bound reported (rounded down to 0.1%) is that minimum."""
    period = CLASSES["ordinary"].period_days
    rows = pd.DataFrame([
        {"building_id": "a", "visit_class": "ordinary", "households": 15, "x": 0.0, "y": 0.0,
         "last_visit": START - timedelta(days=period)},
        {"building_id": "b", "visit_class": "ordinary", "households": 40, "x": 10.0,
         "y": 0.0, "last_visit": START + timedelta(days=4 - period)}])
    groups = make_groups(rows)
    days = work_days(START, 1, shift_min=480)
    cal = plan_calendar("w", groups, days, START, base=(5.0, 0.0), budget_s=0.2)
    true_minimum = 100 * (151 / 111 - 1)
    assert cal.scheduled_pct == 100.0 and cal.loads[START] == 151
    assert cal.max_deviation_pct == pytest.approx(true_minimum)
    assert cal.forced_pct is not None
    assert cal.forced_pct <= true_minimum < cal.forced_pct + 0.1
    assert cal.band_pct == 15.0 and cal.band_forced
    without = plan_calendar("w", groups, days, START, base=(5.0, 0.0), budget_s=0.2,
                            band_pct=None)
    assert without.forced_pct is None and not without.band_forced


def test_the_band_search_reaches_15_percent_where_the_levelling_alone_does_not(
        nanjing_area):
    """300 households of the real Nanjing extract over 6 weeks: the levelled calendar alone
    has a day 23% off the mean; the relaxation's days as targets of a second levelling
    bring every day within ±15% (nothing forced then: no bound reported). Another draw of
    the classes, where the first days' due visits force more: the bound is proven above 15%
    and the calendar is not below it."""
    rows, base = simulated_homes(nanjing_area, 300, 0)
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY], shift_min=480)
    plain = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                          lookahead_days=EARLY_3W, band_pct=None)
    assert plain.max_deviation_pct > 20.0
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3, lookahead_days=EARLY_3W)
    check_rules(cal, groups, days)
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.forced_pct is None and not cal.band_forced
    rows, base = simulated_homes(nanjing_area, 300, 2)
    groups = make_groups(rows, start=START)
    forced = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                           lookahead_days=EARLY_3W)
    check_rules(forced, groups, days)
    assert forced.band_forced and forced.forced_pct is not None and forced.forced_pct > 15.0
    assert forced.max_deviation_pct >= forced.forced_pct


def test_levelling_against_the_mean_day_reaches_15_percent_where_the_band_search_did_not(
        nanjing_area):
    """300 households of the real Nanjing extract over 6 weeks, a draw of the classes where
    the calendar without the last levelling steps (the band search of the previous change:
    relaxation, second levelling) keeps a day 18% off the mean with nothing forced (the
    relaxation's bound 0%): the polish (annealing against the calendar's own mean, with
    swaps and ejection chains) and CP-SAT re-packing windows of days bring every day within
    ±15%, every visit still on time within its frequency."""
    rows, base = simulated_homes(nanjing_area, 300, 21)
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY], shift_min=480)
    before = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                           lookahead_days=EARLY_3W,
                           polish_moves=0, repack_rounds=0)
    assert before.max_deviation_pct > 15.0 and before.forced_pct == 0.0
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3, lookahead_days=EARLY_3W)
    check_rules(cal, groups, days)
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.forced_pct is None and not cal.band_forced


def test_rolling_the_calendar_records_the_worked_days(homes):
    """advance() moves each group's last visit to its latest visit before the day given, so
    that the next calendar (a week later) starts where the worked days left off."""
    rows, base = homes
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY], shift_min=480)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.2, level_moves=5000)
    until = START + timedelta(weeks=1)
    rolled = advance(groups, cal.visits, until)
    worked: dict[str, date] = {}
    for v in cal.visits:
        if v.day < until:
            worked[v.group_id] = max(v.day, worked.get(v.group_id, v.day))
    assert worked and len(worked) < len(groups)
    for before, after in zip(groups, rolled, strict=True):
        assert after.last_visit == worked.get(before.group_id, before.last_visit)
    nxt = plan_calendar("w1", rolled, work_days(until, 6, holidays=[HOLIDAY], shift_min=480),
                        until, base=base, budget_s=0.2, level_moves=5000)
    assert nxt.scheduled_pct == 100.0 and nxt.overdue_at_start == 0


def test_peak_bound_is_what_the_first_days_force(homes):
    """A building's 28 ordinary households due on the third day must be visited in the first
    three: 280 minutes, at least 93 a day whatever the calendar; on the simulated homes no
    calendar's busiest day is below the bound."""
    last = START + timedelta(days=2 - CLASSES["ordinary"].period_days)
    one = pd.DataFrame([{"building_id": "b1", "visit_class": "ordinary", "households": 28,
                         "x": 0.0, "y": 0.0, "last_visit": last}])
    days = work_days(START, 4, shift_min=480)
    assert peak_bound(make_groups(one), days, START) == pytest.approx(280 / 3)
    rows, base = homes
    groups = make_groups(rows, start=START)
    days = work_days(START, 6, holidays=[HOLIDAY], shift_min=480)
    bound = peak_bound(groups, days, START)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.2, level_moves=5000)
    baseline = nearest_due_first("w1", groups, days, START, base=base)
    assert 0 < bound <= min(max(cal.loads.values()), max(baseline.loads.values()))


def test_party_member_visits_at_least_five_households_a_week(homes):
    rows, _ = homes
    zone = rows.drop_duplicates("building_id").head(4).assign(visit_class="ordinary",
                                                              households=5, last_visit=None)
    groups = make_groups(zone, chunk_min=10, start=START, period_cap=28)
    days = work_days(START, 4, weekdays=range(1, 8), shift_min=60, visit_share=1.0)
    cal = plan_calendar("p1", groups, days, START, min_weekly=5, budget_s=0.3)
    assert cal.weekly_shortfall == [0, 0, 0, 0]
    per_week: dict[int, int] = defaultdict(int)
    for v in cal.visits:
        per_week[(v.day - START).days // 7] += v.households
    assert all(per_week[w] >= 5 for w in range(4))


def test_no_work_day_is_a_clear_error(homes):
    rows, _ = homes
    groups = make_groups(rows, start=START)
    with pytest.raises(ArgumentError) as err:
        plan_calendar("w9", groups, [], START)
    assert "没有工作日" in err.value.zh and "no work day" in err.value.en


# ---- a day's route -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_net(demo_area):
    return WalkNetwork.from_graph(demo_area.streets)


def test_replanning_keeps_the_done_prefix_and_inserts_the_new_stop(demo_area, demo_net):
    b = demo_area.buildings[demo_area.buildings["residential"]].head(30)
    c = b.geometry.centroid
    stops = [Stop(f"b{i}", float(p.x), float(p.y), 600) for i, p in enumerate(c[:10])]
    base = (float(c.iloc[20].x), float(c.iloc[20].y))
    first = plan_day(demo_net, "w", base, stops)
    assert sorted(first.order) == sorted(s.stop_id for s in stops) and not first.dropped
    done = [first.order[2], first.order[0]]  # done in another order than planned
    incident = Stop("incident:7", float(c.iloc[25].x), float(c.iloc[25].y), 900)
    now = first.visits[2].departure_s + 300
    second = plan_day(demo_net, "w", base, [*stops, incident], done=done,
                      previous=first.order, now_s=now)
    assert second.order[:2] == done
    assert [v.done for v in second.visits[:2]] == [True, True]
    assert "incident:7" in second.order and not second.dropped
    assert all(v.arrival_s >= now for v in second.visits[2:])
    with pytest.raises(ArgumentError) as err:
        plan_day(demo_net, "w", base, stops, done=["nowhere"])
    assert "不在当天" in err.value.zh and "not among" in err.value.en


def test_a_band_only_whole_trips_force_is_proven_by_the_whole_horizon_model():
    """Two work days and three trips of 30 minutes (an ordinary building's nine households
    in three chunks, all due on the second day, one cluster): whatever the calendar, one day
    has two trips, 61 minutes with the walk, the other 31: 32.6% off the mean of 46. The
    linear relaxation splits a trip over both days (1.5 trips a day, 0%): it proves nothing;
    the whole-horizon band model (each trip on one whole day) proves ±15% infeasible, and
    its bound lies between 15% and the least deviation a brute force over every calendar
    finds."""
    period = CLASSES["ordinary"].period_days
    rows = pd.DataFrame([{"building_id": "a", "visit_class": "ordinary", "households": 9,
                          "x": 0.0, "y": 0.0, "last_visit": START + timedelta(days=1 - period)}])
    groups = make_groups(rows)
    assert len(groups) == 3
    days = work_days(START, 1, weekdays=[1, 2], shift_min=480)
    least = min(
        deviation(list(load_of([ScheduledVisit(g.group_id, g.building_id, g.visit_class,
                                               g.households, d.day, d.day, 0)
                                for g, d in zip(groups, pick, strict=True)],
                               groups, days, base=(5.0, 0.0)).values()))
        for pick in itertools.product(days, repeat=len(groups)))
    assert least == pytest.approx(100 * (61 / 46 - 1))
    lp_only = plan_calendar("w", groups, days, START, base=(5.0, 0.0), budget_s=0.2,
                            exact_budget_s=0, proof_budget_s=0)
    assert lp_only.max_deviation_pct == pytest.approx(least)
    assert lp_only.forced_pct == 0.0 and not lp_only.band_forced
    # the band model's proof (the ranges of the total, which run first, prove it too)
    cal = plan_calendar("w", groups, days, START, base=(5.0, 0.0), budget_s=0.2,
                        proof_budget_s=0)
    check_rules(cal, groups, days)
    assert cal.exact_band == "proven" and cal.band_forced
    assert cal.forced_pct is not None and 15.0 <= cal.forced_pct <= least


def test_the_band_model_finds_15_percent_where_the_polish_and_re_packing_did_not(
        nanjing_area):
    """300 households of the real Nanjing extract over 8 weeks, a draw of the classes where
    the calendar after the polish and the re-packing keeps a day 15.9% off the mean with
    nothing forced (the relaxation's bound 0%): the whole-horizon band model finds a
    calendar with every day within ±15% of its mean, every visit still on time within its
    frequency. (The band model runs only on a calendar still outside the band with nothing
    proven beyond it: ``exact_band`` "found" says that the calendar before it was. The
    starts rounded from the chain relaxation, which run before it, find one too: off here,
    ``roundings=0``, so that the band model is tested.)"""
    rows, base = simulated_homes(nanjing_area, 300, 15)
    groups = make_groups(rows, start=START)
    days = work_days(START, 8, holidays=[HOLIDAY], shift_min=480)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                        lookahead_days=EARLY_3W, roundings=0)
    check_rules(cal, groups, days)
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.exact_band == "found" and cal.forced_pct is None and not cal.band_forced


def test_calendars_rounded_from_the_chain_relaxation_reach_15_percent(nanjing_area):
    """300 households of the real Nanjing extract over 8 weeks, a draw of the classes where
    the polish, the re-packing and the whole-horizon band model leave a day 21% off the mean
    with nothing proven (the relaxation's bound 0%; the band model "open"): a late week
    without enough work, the visits that could fill it chained to earlier weeks. The chain
    relaxation's level days, rounded to one chain per group and levelled against their
    mean, bring every day within ±15%, every visit still on time within its frequency, and
    with no more household visits (early ones) than the calendar before."""
    rows, base = simulated_homes(nanjing_area, 300, 64)
    groups = make_groups(rows, start=START)
    days = work_days(START, 8, holidays=[HOLIDAY], shift_min=480)
    before = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                           lookahead_days=EARLY_3W, roundings=0)
    assert before.max_deviation_pct > 15.0 and before.forced_pct == 0.0
    assert before.exact_band == "open"
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3, lookahead_days=EARLY_3W)
    check_rules(cal, groups, days)
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.forced_pct is None and not cal.band_forced
    assert cal.loads == load_of(cal.visits, groups, days, base=base)
    assert (sum(v.households for v in cal.visits)
            <= sum(v.households for v in before.visits))


def model_rule_calendars(groups, days):
    """Every calendar keeping the model's rules for a group's visits (each gap at most the
    period after the last visit and between visits, at least half of it between visits, the
    last visit covering the end of the horizon): per group, the tuples of its visit days."""
    end = (days[-1].day - START).days + 1
    subsets = [s for r in range(len(days) + 1) for s in itertools.combinations(days, r)]
    per_group = []
    for g in groups:
        keep = []
        for s in subsets:
            last, ok = g.last_visit, True
            for i, d in enumerate(s):
                gap = (d.day - last).days
                ok = ok and gap <= g.period and (i == 0 or gap >= math.ceil(g.period / 2))
                last = d.day
            if ok and (last - START).days + g.period >= end:
                keep.append(s)
        per_group.append(keep)
    return itertools.product(*per_group)


def test_what_whole_chains_force_is_proven_by_the_chain_relaxation():
    """Four work days (Tuesdays and Fridays of two weeks); a key person near the base and
    two far (one building, two trips), each visited weekly: a gap of 7 days keeps each on
    one weekday, 4 days (Friday to Tuesday) moves it once, so two days carry the far
    building's two trips and its walk, the others the near one: 36.2% off the mean
    whatever the calendar (a brute force over every calendar keeping the rules). The
    relaxation, which keeps the gaps only between the visits' mean days, proves nothing
    (0%); the chain relaxation (each group's visits one whole chain of days) proves the
    least exactly, and the calendar reaches it. Its loads are its visits' (no approach walk
    counted on a day without a visit there)."""
    rows = pd.DataFrame([
        {"building_id": "far", "visit_class": "key_person", "households": 2, "x": 319.0,
         "y": 0.0, "last_visit": date(2026, 12, 1)},
        {"building_id": "near", "visit_class": "key_person", "households": 1, "x": 63.0,
         "y": 0.0, "last_visit": date(2026, 12, 6)}])
    groups = make_groups(rows)
    assert len(groups) == 3
    days = work_days(START, 2, weekdays=[2, 5], shift_min=480)
    base = (0.0, 0.0)

    def visits_of(pick):
        return [ScheduledVisit(g.group_id, g.building_id, g.visit_class, g.households, d.day,
                               d.day, 0) for g, s in zip(groups, pick, strict=True) for d in s]

    least = min(deviation(list(load_of(visits_of(pick), groups, days, base=base).values()))
                for pick in model_rule_calendars(groups, days))
    assert least == pytest.approx(100 * (47 / 34.5 - 1))
    relaxed = plan_calendar("w", groups, days, START, base=base, budget_s=0.2,
                            exact_budget_s=0, roundings=0, proof_budget_s=0)
    assert relaxed.forced_pct == 0.0
    assert relaxed.loads == load_of(relaxed.visits, groups, days, base=base)
    # the chain relaxation's proof (the ranges of the total, which run first, prove the
    # band, not the least itself)
    cal = plan_calendar("w", groups, days, START, base=base, budget_s=0.2, proof_budget_s=0)
    check_rules(cal, groups, days)
    assert cal.band_forced and cal.forced_pct is not None
    assert cal.forced_pct <= least < cal.forced_pct + 0.1
    assert cal.max_deviation_pct == pytest.approx(least)
    assert cal.loads == load_of(cal.visits, groups, days, base=base)


def test_a_day_no_visit_can_take_does_not_stop_the_levelling():
    """One key person (two trips) and three work days a week for two weeks: the quietest
    day is one no visit's window reaches (the polish picked a visit to move onto it from
    an empty list and failed). The calendar keeps every rule, and the empty days are proven
    forced."""
    rows = pd.DataFrame([{"building_id": "b0", "visit_class": "key_person", "households": 2,
                          "x": 105.0, "y": 0.0, "last_visit": date(2026, 12, 1)}])
    groups = make_groups(rows)
    days = work_days(START, 2, weekdays=[1, 2, 3], shift_min=480)
    cal = plan_calendar("w", groups, days, START, base=(0.0, 0.0), budget_s=0.1)
    check_rules(cal, groups, days)
    assert cal.scheduled_pct == 100.0 and cal.band_forced


@pytest.mark.slow  # two calendars of draw 64: 75 s under load 10
def test_the_re_packing_solves_each_window_once_and_plans_the_same_calendar(
        nanjing_area, monkeypatch):
    """The re-packing's windows are solved once per calendar (a memo kept by the worker's
    problem): a window met again with the same days, mean and calendar (the windows of two
    worst days clamped to the same days; a later pass from a calendar nothing changed) takes
    the answer solved before. CP-SAT's answer of a model is deterministic, so the calendar
    is the one planned without the memo. (Draw 64 of the Nanjing extract goes through the
    polish, the re-packing and the rounded starts with 3 weeks of early visits.)"""
    import dispatch.schedule.calendar as calendar_module
    import dispatch.schedule.neighbourhood as neighbourhood

    rows, base = simulated_homes(nanjing_area, 300, 64)
    groups = make_groups(rows, start=START)
    days = work_days(START, 8, holidays=[HOLIDAY], shift_min=480)
    solved: list[tuple[object, ...]] = []
    solve_window = neighbourhood._solve_window

    def counted(state, window, mean):
        solved.append((tuple(window), mean, tuple(state.at.values())))
        return solve_window(state, window, mean)

    monkeypatch.setattr(neighbourhood, "_solve_window", counted)
    cal = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                        lookahead_days=EARLY_3W)
    assert solved and len(set(solved)) == len(solved)
    with_memo = len(solved)
    solved.clear()
    repack = calendar_module.repack
    monkeypatch.setattr(calendar_module, "repack",
                        lambda *args, memo: repack(*args, memo=None))  # no memo
    again = plan_calendar("w1", groups, days, START, base=base, budget_s=0.3,
                        lookahead_days=EARLY_3W)
    assert len(solved) > with_memo  # the same windows solved again
    assert [(v.group_id, v.day) for v in again.visits] == [(v.group_id, v.day)
                                                            for v in cal.visits]
    assert again.loads == cal.loads and again.max_deviation_pct == cal.max_deviation_pct


def model_placements(groups, days):
    """Every placement of the model's own visits keeping its rules (the visits
    ``due_chains`` makes due, each on a day of its window, an early one present or not, the
    gaps between a group's consecutive visits, the last due visit covering the end of the
    horizon when the early one is left out), as lists of (group, work-day position)."""
    occurrences, _ = due_chains(groups, START, list(days))
    offsets = [(d.day - START).days for d in days]
    horizon = offsets[-1] + 1
    chains = defaultdict(list)
    for occ in occurrences:
        chains[occ.group].append(occ)
    per_group = []
    for gi, occs in chains.items():
        keep = []
        for pick in itertools.product(*[[*o.days, *([None] if o.optional else [])]
                                        for o in occs]):
            ok = all(pick[j] is None
                     or occs[j].min_gap <= offsets[pick[j]] - offsets[pick[j - 1]]
                     <= occs[j].max_gap for j in range(1, len(occs)))
            if ok and len(occs) > 1 and pick[-1] is None:
                ok = offsets[pick[-2]] >= horizon - groups[gi].period
            if ok:
                keep.append([(gi, k) for k in pick if k is not None])
        per_group.append(keep)
    for pick in itertools.product(*per_group):
        yield [visit for visits in pick for visit in visits]


def least_deviation(groups, days, base):
    """The least largest deviation from the mean day over every placement of the model's
    visits (``model_placements``), as ``load_of`` counts a calendar's loads."""
    return min(deviation(list(load_of(
        [ScheduledVisit(groups[gi].group_id, "", "", 0, days[k].day, days[k].day, 0)
         for gi, k in placement], groups, days, base=base).values()))
        for placement in model_placements(groups, days))


def test_a_band_whole_visits_force_is_proven_by_the_calendars_total_in_ranges():
    """Three work days; a key person's seven households (seven 20-minute trips, all due
    within the days), two migrants' buildings, only one of them due soon enough for an
    early visit (10 minutes): every placement of the model's visits keeps a day at least
    20.6% off the mean (a brute force). The linear relaxation splits the trips (0%); with
    the band as hard constraints and the calendar's total in ranges, CP-SAT proves ±15%
    infeasible for every total, without the chain relaxation or the band model."""
    rows = pd.DataFrame([
        {"building_id": "b0", "visit_class": "key_person", "households": 7, "x": 371.0,
         "y": 239.0, "last_visit": date(2026, 12, 2)},
        {"building_id": "b1", "visit_class": "migrant", "households": 3, "x": 246.0,
         "y": 16.0, "last_visit": date(2026, 11, 26)},
        {"building_id": "b2", "visit_class": "migrant", "households": 1, "x": 250.0,
         "y": 356.0, "last_visit": date(2026, 11, 21)}])
    groups = make_groups(rows)
    days = work_days(START, 1, weekdays=[1, 2, 3], shift_min=480)
    base = (0.0, 0.0)
    least = least_deviation(groups, days, base)
    assert least > 20.0
    kw = {"base": base, "budget_s": 0.2, "exact_budget_s": 0, "roundings": 0}
    relaxed = plan_calendar("w", groups, days, START, proof_budget_s=0, **kw)
    assert relaxed.max_deviation_pct > 15.0 and not relaxed.band_forced
    cal = plan_calendar("w", groups, days, START, **kw)
    check_rules(cal, groups, days)
    assert cal.band_forced and cal.exact_band == "proven"
    assert cal.forced_pct is not None and 15.0 <= cal.forced_pct <= least
    assert cal.max_deviation_pct == pytest.approx(relaxed.max_deviation_pct)


def test_the_proof_by_the_calendars_total_never_exceeds_a_brute_force():
    """Tiny random inputs (1-3 buildings of random classes and last visits, 1-2 weeks of 2-3
    work days): wherever a band is proven (the relaxation, or the band for every range of
    the calendar's total), the least deviation over every placement of the model's visits
    is at least the proven one; and the ranges prove bands the relaxation does not."""
    rng = np.random.default_rng(1)  # 3 of its 30 draws proven by the ranges alone
    classes = list(CLASSES)
    more = 0
    for _ in range(30):
        rows = []
        for b in range(int(rng.integers(1, 4))):
            visit_class = classes[int(rng.integers(len(classes)))]
            back = int(rng.integers(1, min(CLASSES[visit_class].period_days, 20) + 1))
            rows.append({"building_id": f"b{b}", "visit_class": visit_class,
                         "households": int(rng.integers(1, 9)),
                         "x": float(rng.uniform(0, 400)), "y": float(rng.uniform(0, 400)),
                         "last_visit": START - timedelta(days=back)})
        groups = make_groups(pd.DataFrame(rows))
        weekdays = sorted(rng.choice(5, size=int(rng.integers(2, 4)), replace=False).tolist())
        days = work_days(START, int(rng.integers(1, 3)), weekdays=weekdays, shift_min=480)
        kw = {"base": (0.0, 0.0), "budget_s": 0.2, "exact_budget_s": 0, "roundings": 0}
        cal = plan_calendar("w", groups, days, START, **kw)
        if not cal.band_forced:
            continue
        assert cal.forced_pct is not None
        assert least_deviation(groups, days, (0.0, 0.0)) >= cal.forced_pct
        more += not plan_calendar("w", groups, days, START, proof_budget_s=0, **kw).band_forced
    assert more >= 1


# a worker of the visit calendar bench (synthetic --seed 96, worker 8): four buildings within
# 100 m (one cluster), their classes and last visits as the bench drew them; positions (m)
# relative to the worker's base (building w59)
ONE_CLUSTER_ROWS = [
    ("w58", "elderly_alone", 3, -63.3, -2.0, date(2026, 11, 21)),
    ("w58", "difficulty", 2, -63.3, -2.0, date(2026, 11, 11)),
    ("w58", "migrant", 1, -63.3, -2.0, date(2026, 11, 25)),
    ("w58", "ordinary", 30, -63.3, -2.0, date(2026, 11, 30)),
    ("w59", "key_person", 1, 0.0, 0.0, date(2026, 11, 30)),
    ("w59", "elderly_alone", 6, 0.0, 0.0, date(2026, 11, 11)),
    ("w59", "difficulty", 1, 0.0, 0.0, date(2026, 11, 12)),
    ("w59", "migrant", 1, 0.0, 0.0, date(2026, 11, 24)),
    ("w59", "ordinary", 39, 0.0, 0.0, date(2026, 10, 18)),
    ("w61", "key_person", 1, -60.9, 30.4, date(2026, 12, 3)),
    ("w61", "elderly_alone", 3, -60.9, 30.4, date(2026, 11, 8)),
    ("w61", "difficulty", 3, -60.9, 30.4, date(2026, 11, 14)),
    ("w61", "migrant", 8, -60.9, 30.4, date(2026, 12, 3)),
    ("w61", "ordinary", 37, -60.9, 30.4, date(2026, 10, 14)),
    ("w62", "elderly_alone", 6, 14.4, 32.8, date(2026, 11, 28)),
    ("w62", "migrant", 5, 14.4, 32.8, date(2026, 11, 16)),
    ("w62", "ordinary", 59, 14.4, 32.8, date(2026, 8, 16)),
]


def _bench_worker(worker: str, rows: list[tuple], **groups_kw) -> tuple:
    """The first 8-week calendar of a worker of the visit calendar bench, from its rows
    ``(building_id, visit_class, households, x, y, last_visit)``, checked against the rules;
    and its groups."""
    frame = pd.DataFrame([{"building_id": b, "visit_class": c, "households": n, "x": x,
                           "y": y, "last_visit": last} for b, c, n, x, y, last in rows])
    groups = make_groups(frame, **groups_kw)
    days = work_days(START, 8, holidays=[HOLIDAY], shift_min=540)
    cal = plan_calendar(worker, groups, days, START, base=(0.0, 0.0), budget_s=0.2)
    check_rules(cal, groups, days)
    return cal, groups, days


def test_the_ranges_from_the_busiest_days_total_find_a_calendar_within_the_band():
    """One cluster: every day's load is its 2-minute walk plus whole 5-minute visits, so a
    day moves in steps of about 10% of the mean (52 minutes). The levelled calendar keeps
    days at 62 minutes, 18.9% above its mean, and the relaxations prove nothing (0%): the
    band holds only at a higher mean, the quiet days raised by early visits. The band as
    hard constraints for ranges of the calendar's total, tried first from the least total
    that holds the busiest day (lowest first, before: 18.9%, nothing found in 0.8
    deterministic s), finds a calendar within ±15%, every visit on time."""
    cal, groups, days = _bench_worker("w8", ONE_CLUSTER_ROWS)
    assert len(set(clusters(np.array([[g.x, g.y] for g in groups])))) == 1
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.exact_band == "found" and not cal.band_forced
    assert cal.loads == load_of(cal.visits, groups, days, base=(0.0, 0.0))



# a worker of the bench (synthetic --seed 33, worker 6): one building of 205 households
ONE_BUILDING_ROWS = [
    ("w18", "key_person", 6, date(2026, 12, 2)),
    ("w18", "elderly_alone", 19, date(2026, 12, 3)),
    ("w18", "difficulty", 6, date(2026, 11, 14)),
    ("w18", "migrant", 22, date(2026, 12, 5)),
    ("w18", "ordinary", 152, date(2026, 11, 1)),
]


def test_the_ranges_around_the_chain_steps_total_find_a_calendar_within_the_band():
    """One building: every day's load is its 1-minute walk plus whole visits. Its busiest
    day fits the band at no total (above every visit), so the ranges from that day's total
    do not apply, and the first pass of the ranges (hinted by a calendar with every early
    visit, total 2,399) settles nothing; the chain step's calendar is 20.4% off at a total
    of 2,299 (before: "open"). The ranges again around that total (1% wide) find a calendar
    within ±15%, every visit on time."""
    cal, _, _ = _bench_worker("w6", [(b, c, n, 0.0, 0.0, last)
                                     for b, c, n, last in ONE_BUILDING_ROWS], start=START)
    assert cal.scheduled_pct == 100.0 and cal.max_deviation_pct <= 15.0
    assert cal.exact_band == "found" and not cal.band_forced


# another worker of the bench (Beijing --seed 82, worker 2): six buildings, positions (m)
# relative to its base
SIX_BUILDINGS_ROWS = [
    ("w265030109", "key_person", 1, 2.5, -123.4, date(2026, 12, 3)),
    ("w265030109", "elderly_alone", 6, 2.5, -123.4, date(2026, 12, 3)),
    ("w265030109", "difficulty", 1, 2.5, -123.4, date(2026, 11, 18)),
    ("w265030109", "migrant", 6, 2.5, -123.4, date(2026, 11, 7)),
    ("w265030109", "ordinary", 32, 2.5, -123.4, date(2026, 9, 2)),
    ("w265030106", "key_person", 1, 0.5, -72.9, date(2026, 12, 2)),
    ("w265030106", "elderly_alone", 3, 0.5, -72.9, date(2026, 11, 11)),
    ("w265030106", "difficulty", 1, 0.5, -72.9, date(2026, 11, 21)),
    ("w265030106", "migrant", 2, 0.5, -72.9, date(2026, 11, 10)),
    ("w265030106", "ordinary", 51, 0.5, -72.9, date(2026, 8, 21)),
    ("w265030104", "elderly_alone", 2, -46.8, -57.9, date(2026, 11, 30)),
    ("w265030104", "difficulty", 2, -46.8, -57.9, date(2026, 11, 21)),
    ("w265030104", "migrant", 4, -46.8, -57.9, date(2026, 11, 20)),
    ("w265030104", "ordinary", 23, -46.8, -57.9, date(2026, 8, 18)),
    ("w265030105", "elderly_alone", 2, 0.0, 0.0, date(2026, 12, 1)),
    ("w265030105", "difficulty", 4, 0.0, 0.0, date(2026, 11, 18)),
    ("w265030105", "migrant", 6, 0.0, 0.0, date(2026, 11, 25)),
    ("w265030105", "ordinary", 49, 0.0, 0.0, date(2026, 10, 27)),
    ("w265030103", "elderly_alone", 2, -49.8, 42.9, date(2026, 11, 23)),
    ("w265030103", "ordinary", 19, -49.8, 42.9, date(2026, 8, 24)),
    ("w399010162", "elderly_alone", 3, -2.6, 43.3, date(2026, 11, 14)),
    ("w399010162", "difficulty", 4, -2.6, 43.3, date(2026, 11, 8)),
    ("w399010162", "migrant", 3, -2.6, 43.3, date(2026, 12, 3)),
    ("w399010162", "ordinary", 48, -2.6, 43.3, date(2026, 9, 26)),
]


def test_a_calendar_the_ranges_find_within_the_band_is_levelled_further():
    """The levelled calendar of this worker is outside ±15% and the ranges from its busiest
    day's total find one within (CP-SAT stops at the first: 14.9% off the mean); polished
    towards half the band it is 12.4% off (the chain step the ranges make needless reached
    12.2%, at 1.5 CPU s more), every visit on time."""
    cal, _, _ = _bench_worker("w2", SIX_BUILDINGS_ROWS)
    assert cal.exact_band == "found" and cal.scheduled_pct == 100.0
    assert cal.max_deviation_pct <= 13.0


def test_the_ranges_of_the_total_cover_it_once_from_the_busiest_days_total():
    """The ranges from the busiest day's total (3 of 2.5% of it, upward) come first, then
    the totals below and above; each total once. A busiest day no total within the range
    holds in the band: the two halves, lowest first."""
    ranges, first = _total_ranges(1000, 3000, 2000)
    assert first == 3 and ranges[:3] == [(2000, 2049), (2050, 2099), (2100, 2149)]
    assert sorted(t for low, high in ranges for t in range(low, high + 1)) == list(
        range(1000, 3001))
    assert _total_ranges(1000, 2060, 2000) == ([(2000, 2049), (2050, 2060), (1000, 1999)], 2)
    assert _total_ranges(1000, 3000, 3001) == ([(1000, 2000), (2001, 3000)], 0)
    assert _total_ranges(1000, 3000, 1000)[0][-1] == (1075, 3000)  # none below


def test_the_ranges_around_a_total_cover_every_total_once():
    """The ranges around a calendar's own total: the one around it, then alternately above
    and below, clipped to the least and most totals; then the totals below and above them.
    Each total once, so a proof by them stays sound."""
    assert _around(1000, 3000, 2000, 4, 50) == (
        [(1975, 2024), (2025, 2074), (1925, 1974), (2075, 2124), (1000, 1924), (2125, 3000)], 4)
    # at the most total: the ranges go downward
    assert _around(1645, 2399, 2399, 3, 24) == (
        [(2376, 2399), (2352, 2375), (2328, 2351), (1645, 2327)], 3)
    assert _around(1000, 1010, 1005, 4, 50) == ([(1000, 1010)], 1)
    for least, most, anchor, count, wide in itertools.product(
            (0, 7), (7, 40, 123), (0, 7, 20, 123), (1, 3, 5), (1, 4, 50)):
        if not least <= anchor <= most:
            continue
        ranges, first = _around(least, most, anchor, count, wide)
        assert 1 <= first <= count and any(low <= anchor <= high
                                           for low, high in ranges[:first])
        assert sorted(t for low, high in ranges for t in range(low, high + 1)) == list(
            range(least, most + 1))
