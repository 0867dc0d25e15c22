"""Incidents: deadlines in working time, the lifecycle, duplicates and dispatch on the demo area."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dispatch.incidents.dispatcher import Dispatcher, locate_grid
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import (
    STAGES,
    TRANSITIONS,
    OrgRef,
    claim,
    haversine_m,
    incidents_frame,
    merge_report,
    new_incident,
    transition,
)
from dispatch.incidents.rules import BEIJING, DEFAULT_CATEGORIES, load_rules
from dispatch.staffing.workers import Worker, assign_workers, four_levels

RULES = load_rules({"calendar": {"holidays": ["2026-10-01", "2026-10-02", "2026-10-05"],
                                 "workdays": ["2026-10-10"]}})
FRI_15 = datetime(2026, 11, 20, 15, 0, tzinfo=BEIJING)  # a Friday
WED_10 = datetime(2026, 11, 18, 10, 0, tzinfo=BEIJING)


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=BEIJING)


# ---- rules -------------------------------------------------------------------------------

def test_categories_are_the_maps_ids_with_both_names():
    assert list(DEFAULT_CATEGORIES) == [
        "environment", "public_facilities", "public_order", "neighbour_dispute", "parking",
        "noise", "stray_animals", "building_safety", "micro_wish"]
    from maps.i18n import CATEGORIES
    for cid, c in DEFAULT_CATEGORIES.items():
        assert (c.name_zh, c.name_en) == CATEGORIES[cid]
    from api.open311 import open311_services
    services = open311_services(RULES, "en")
    assert [s["service_code"] for s in services] == list(DEFAULT_CATEGORIES)
    assert services[0]["service_name"] == "environment and sanitation"


def test_ordinary_deadlines_skip_the_weekend():
    accept, close = RULES.deadlines("noise", FRI_15)
    assert accept == bj(2026, 11, 23, 15, 0)  # Monday, same time
    assert close == bj(2026, 11, 27, 15, 0)  # five working days: next Friday
    # Reported on Saturday night: the clock starts Monday 09:00.
    accept, _ = RULES.deadlines("noise", bj(2026, 11, 21, 22, 0))
    assert accept == bj(2026, 11, 23, 17, 0)


def test_deadlines_skip_holidays_and_count_make_up_days():
    # Wed 30 Sep 16:00; 1, 2 Oct holidays, 3-4 weekend, 5 Oct holiday: accept Tue 6 Oct 16:00.
    accept, close = RULES.deadlines("parking", bj(2026, 9, 30, 16, 0))
    assert accept == bj(2026, 10, 6, 16, 0)
    # 5 working days: 1 (30 Sep) + 6, 7, 8, 9 Oct -> Sat 10 Oct is a make-up working day.
    assert close == bj(2026, 10, 10, 16, 0)
    assert RULES.calendar.working_hours_between(bj(2026, 9, 30, 16, 0), close) == 40


def test_emergencies_count_calendar_hours_at_night():
    accept, close = RULES.deadlines("building_safety", bj(2026, 11, 21, 23, 30))
    assert accept == close == bj(2026, 11, 22, 1, 30)


def test_rules_are_configurable_and_bad_settings_are_named():
    rules = load_rules({"categories": {"noise": {"priority": 7, "close": {"working_days": 2}},
                                       "graffiti": {"name_zh": "乱涂乱画", "name_en": "graffiti",
                                                    "accept": {"hours": 4},
                                                    "close": {"working_days": 3}}},
                        "calendar": {"start": "08:30", "end": "17:30"}})
    assert rules.category("noise").priority == 7
    assert rules.deadlines("noise", FRI_15)[1] == bj(2026, 11, 24, 15, 0)
    assert rules.deadlines("graffiti", FRI_15)[0] == bj(2026, 11, 20, 19, 0)
    assert rules.calendar.day_hours == 9
    with pytest.raises(IncidentError, match=r"unknown settings in categories\.noise: colour"):
        load_rules({"categories": {"noise": {"colour": "red"}}})
    with pytest.raises(IncidentError, match="unknown deadline unit 'days'"):
        load_rules({"categories": {"noise": {"close": {"days": 2}}}})
    with pytest.raises(IncidentError, match="未知事件类别") as err:
        rules.category("fire")
    assert "unknown incident category 'fire'" in err.value.en


def test_rules_from_a_json_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{"duplicate_m": 50, "calendar": {"holidays": ["2026-11-23"]}}', "utf-8")
    rules = load_rules(path)
    assert rules.duplicate_m == 50
    assert rules.deadlines("noise", FRI_15)[0] == bj(2026, 11, 24, 15, 0)
    with pytest.raises(IncidentError, match="cannot read the incident rules file"):
        load_rules(tmp_path / "missing.json")


# ---- lifecycle ---------------------------------------------------------------------------

PATH = ["reported", "accepted", "dispatched", "in_progress", "handled", "verified", "closed"]


def _incident(category="noise", at=FRI_15, lon=24.94, lat=60.17, iid="E1"):
    return new_incident(iid, category, lon, lat, at, "居民张三", RULES)


def _assignee_for(stage: str, worker: str = "w1"):
    """Who a move to ``stage`` names: a worker for a dispatch, an organisation for a referral."""
    return {"dispatched": worker, "referred": OrgRef(7)}.get(stage)


def _walk_to(incident, stage_path, start=FRI_15):
    for k, stage in enumerate(stage_path):
        transition(incident, stage, "tester", f"step {k}", start + timedelta(minutes=k + 1),
                   assignee=_assignee_for(stage))


def _reach(stage: str):
    """An incident brought to ``stage`` by legal steps."""
    inc = _incident(iid=f"at-{stage}")
    route = {"reported": [], "returned": [*PATH[1:3], "returned"],
             "rejected": ["rejected"], "referred": ["accepted", "referred"],
             "org_accepted": ["accepted", "referred", "org_accepted"]
             }.get(stage, PATH[1:PATH.index(stage) + 1]
                                          if stage in PATH else None)
    _walk_to(inc, route)
    assert inc.stage == stage
    return inc


@pytest.mark.parametrize("source", list(STAGES))
@pytest.mark.parametrize("target", list(STAGES))
def test_every_transition_is_allowed_or_refused_by_the_table(source, target):
    inc = _reach(source)
    before = inc.history
    at = FRI_15 + timedelta(hours=1)
    if target in TRANSITIONS[source]:
        step = transition(inc, target, "tester", "ok", at,
                          assignee=_assignee_for(target, "w2") or "w2")
        assert inc.stage == target and inc.history[-1] == step
        assert inc.history[:-1] == before
    else:
        with pytest.raises(IncidentError) as err:
            transition(inc, target, "tester", "bad", at, assignee="w2")
        assert STAGES[source][0] in err.value.zh and STAGES[target][0] in err.value.zh
        assert f"cannot go from {STAGES[source][1]} to {STAGES[target][1]}" in err.value.en
        assert inc.stage == source and inc.history == before


def test_full_path_keeps_an_append_only_timestamped_history():
    inc = _incident()
    _walk_to(inc, PATH[1:])
    steps = inc.history
    assert [s.stage for s in steps] == PATH
    assert all(a.at <= b.at for a, b in itertools.pairwise(steps))
    assert steps[2].assignee == "w1" and steps[3].note == "step 2"
    assert inc.accepted_at() == FRI_15 + timedelta(minutes=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        steps[0].note = "rewritten"
    with pytest.raises(AttributeError):
        inc.history.append(steps[0])
    with pytest.raises(IncidentError, match="none \\(final stage\\)"):
        transition(inc, "returned", "tester", at=FRI_15 + timedelta(hours=2))
    assert inc.history == steps


def test_steps_back_in_time_and_dispatch_without_worker_are_refused():
    inc = _incident()
    transition(inc, "accepted", "center", at=FRI_15 + timedelta(minutes=5))
    with pytest.raises(IncidentError, match="before the last step"):
        transition(inc, "dispatched", "center", at=FRI_15, assignee="w1")
    with pytest.raises(IncidentError, match="needs an assignee"):
        transition(inc, "dispatched", "center", at=FRI_15 + timedelta(minutes=6))
    with pytest.raises(IncidentError, match="unknown stage 'done'"):
        transition(inc, "done", "center", at=FRI_15 + timedelta(minutes=6))


def test_micro_wishes_are_claimed_not_dispatched():
    wish = _incident("micro_wish", iid="W1")
    transition(wish, "accepted", "社区", at=FRI_15 + timedelta(minutes=1))
    with pytest.raises(IncidentError, match="use claim"):
        transition(wish, "dispatched", "社区", at=FRI_15 + timedelta(minutes=2), assignee="m1")
    step = claim(wish, "党员李四", "周六上午送去", FRI_15 + timedelta(minutes=3))
    assert (wish.stage, wish.assignee, step.action) == ("dispatched", "党员李四", "claim")
    assert wish.stage_label("zh") == "认领" and wish.stage_label("en") == "claimed"
    with pytest.raises(IncidentError, match="only micro-wishes are claimed"):
        claim(_incident(), "党员李四")


def test_duplicates_merge_within_30_m_and_24_h_only():
    incidents: list = []
    lon, lat = 24.9400, 60.1700
    first, merged = merge_report(incidents, "I1", "noise", lon, lat, FRI_15, "甲", RULES)
    assert not merged
    near = lon + 25 / (111_320 * np.cos(np.radians(lat)))  # 25 m east
    far = lon + 35 / (111_320 * np.cos(np.radians(lat)))  # 35 m east
    assert 24 < haversine_m(lon, lat, near, lat) < 26
    again, merged = merge_report(incidents, "I2", "noise", near, lat,
                                 FRI_15 + timedelta(hours=23), "乙", RULES)
    assert merged and again is first and [r.name for r in first.reporters] == ["甲", "乙"]
    assert first.history[-1].action == "merge" and first.stage == "reported"
    _, merged = merge_report(incidents, "I3", "noise", far, lat, FRI_15 + timedelta(hours=1),
                             "丙", RULES)
    assert not merged  # beyond 30 m
    _, merged = merge_report(incidents, "I4", "noise", lon, lat, FRI_15 + timedelta(hours=25),
                             "丁", RULES)
    assert not merged  # beyond 24 h
    _, merged = merge_report(incidents, "I5", "parking", lon, lat, FRI_15, "戊", RULES)
    assert not merged  # another category
    # A rejected incident takes no more reports.
    alone: list = []
    gone, _ = merge_report(alone, "J1", "noise", lon, lat, FRI_15, "甲", RULES)
    transition(gone, "rejected", "center", at=FRI_15 + timedelta(minutes=30))
    _, merged = merge_report(alone, "J2", "noise", lon, lat, FRI_15 + timedelta(hours=1), "己",
                             RULES)
    assert not merged and len(alone) == 2
    assert [i.incident_id for i in incidents] == ["I1", "I3", "I4", "I5"]
    frame = incidents_frame(incidents, FRI_15 + timedelta(days=4))
    assert frame.loc[frame["incident_id"] == "I1", "reporters"].item() == 2
    assert frame["overdue"].tolist() == [True] * 4


# ---- dispatch on the demo area -----------------------------------------------------------

@pytest.fixture(scope="module")
def demo(demo_network, demo_plan):
    net, plan = demo_network, demo_plan
    homes = plan.buildings[plan.buildings["grid_id"].notna() & (plan.buildings["households"] > 0)]
    pts = homes.sample(10, random_state=3).geometry.representative_point()
    workers = [Worker(f"w{i}", f"网格员{i}", p.x, p.y, max_grids=8, max_households=3000)
               for i, p in enumerate(pts)]
    assignment = assign_workers(net, plan.grids, workers, seconds=2)
    leader = Worker("L1", "网格长", pts.iloc[0].x, pts.iloc[0].y, role="grid_leader")
    levels = four_levels(net, plan.grids, homes, [*workers, leader], assignment)
    dispatcher = Dispatcher(net, plan.grids, assignment, workers, RULES, levels=levels)
    return dispatcher, plan, homes


def _report_at(d: Dispatcher, plan, grid_index: int, iid: str, category="noise",
               at=WED_10):
    """An accepted incident at the representative point of a grid (WGS84 through the CRS)."""
    p = plan.grids.geometry.iloc[grid_index].representative_point()
    lonlat = plan.grids.iloc[[grid_index]].set_geometry([p], crs=plan.grids.crs).to_crs(4326)
    inc = new_incident(iid, category, lonlat.geometry.x.iloc[0], lonlat.geometry.y.iloc[0], at,
                       "居民", RULES)
    transition(inc, "accepted", "center", at=at + timedelta(minutes=5))
    return inc


def test_a_report_finds_its_grid_and_worker(demo):
    d, plan, _ = demo
    for k in (0, 7, len(plan.grids) - 1):
        inc = _report_at(d, plan, k, f"G{k}")
        assert d.locate(inc) == plan.grids["grid_id"].iloc[k]
        worker = d.dispatch(inc, [inc], {}, bj(2026, 11, 18, 10, 10))
        assert worker == d.responsible[inc.grid_id]
        assert inc.history[-1].note.endswith("grid's worker")
    minx, miny, _, _ = plan.grids.total_bounds
    assert locate_grid(plan.grids, minx - 500, miny - 500) is None


def test_off_duty_worker_is_replaced_by_the_nearest_walk(demo):
    d, plan, _ = demo
    now = bj(2026, 11, 18, 11, 0)
    incidents = [_report_at(d, plan, k, f"R{k}") for k in range(0, 30, 3)]
    for inc in incidents:
        d.dispatch(inc, incidents, {}, now)
    gone = incidents[0].assignee
    held = [i.incident_id for i in incidents if i.assignee == gone]
    status: dict = {}
    moves = d.redispatch_off_duty(gone, incidents, status, now + timedelta(minutes=5))
    assert sorted(moves["incident_id"]) == sorted(held)
    assert gone not in set(moves["to_worker"]) and not status[gone].on_duty
    for inc in incidents:
        if inc.incident_id in held:
            assert inc.stage == "dispatched" and inc.assignee != gone
            assert "off duty" in inc.history[-1].note
    # The first choice for the first moved incident is the nearest by walking among workers
    # with the same load, and the ranking is ordered by its score.
    first = next(i for i in incidents if i.incident_id == moves["incident_id"].iloc[0])
    ranking = d.rank(first, incidents, status, now + timedelta(minutes=5))
    assert gone not in set(ranking["worker_id"])
    assert ranking["score"].is_monotonic_increasing
    walk = d.walk_metres_to(first, [(d.workers[w].x, d.workers[w].y) for w in ranking["worker_id"]])
    assert np.allclose(walk, ranking["walk_m"], atol=0.1)
    idle = ranking[ranking["open_load"] == 0]
    if len(idle) > 1:
        assert idle["walk_m"].is_monotonic_increasing


def test_overloaded_worker_hands_over_and_nobody_on_duty_is_an_error(demo):
    d, plan, _ = demo
    now = bj(2026, 11, 18, 11, 0)
    first = _report_at(d, plan, 5, "O1")
    own = d.responsible[d.locate(first)]
    busy = []
    for k in range(d.max_open):
        b = _report_at(d, plan, 5, f"B{k}")
        transition(b, "dispatched", "center", at=now, assignee=own)
        busy.append(b)
    worker, why = d.choose(first, [*busy, first], {}, now)
    assert worker != own and "overloaded" in why
    night = bj(2026, 11, 18, 20, 0)
    with pytest.raises(IncidentError, match="no worker on duty"):
        d.choose(first, [first], {}, night)


def test_overdue_incidents_go_to_the_grid_leader_once(demo):
    d, plan, _ = demo
    inc = _report_at(d, plan, 2, "X1", at=bj(2026, 11, 16, 10, 0))
    d.dispatch(inc, [inc], {}, bj(2026, 11, 16, 10, 30))
    on_time = d.escalate_overdue([inc], bj(2026, 11, 20, 10, 0))
    assert on_time.empty
    late = d.escalate_overdue([inc], bj(2026, 11, 23, 11, 0))  # 40 working hours passed
    assert late["leader"].tolist() == ["L1"] and inc.escalated_to == "L1"
    assert late["overdue_h"].iloc[0] == pytest.approx(1.0)  # deadline Mon 23 Nov 10:00
    assert inc.history[-1].action == "escalate" and "L1" in inc.history[-1].note
    assert d.escalate_overdue([inc], bj(2026, 11, 23, 12, 0)).empty


def test_incident_is_inserted_into_todays_route(demo):
    d, plan, homes = demo
    now = bj(2026, 11, 18, 10, 0)
    inc = _report_at(d, plan, 4, "V1", category="building_safety", at=now)
    worker = d.dispatch(inc, [inc], {}, now + timedelta(minutes=6))
    from dispatch.routing.visits import Stop
    pts = homes.sample(6, random_state=1).geometry.representative_point()
    stops = [Stop(f"s{i}", p.x, p.y, 300) for i, p in enumerate(pts)]
    today = [s.stop_id for s in stops]
    stop = d.incident_stop(inc, now + timedelta(minutes=6))
    assert stop.window is not None and stop.window[1] == 12 * 3600 - 30 * 60
    plan_today = d.insert_into_route(worker, {}, stops, today, stop, now + timedelta(minutes=6),
                                     seconds=0.5)
    visits = plan_today.routes[0].visits
    assert not plan_today.dropped and sorted(v.stop_id for v in visits) == sorted([*today, "V1"])
    v1 = next(v for v in visits if v.stop_id == "V1")
    assert v1.arrival_s <= stop.window[1]


def test_ranking_is_by_walking_time_when_loads_are_equal(demo):
    d, plan, _ = demo
    now = bj(2026, 11, 18, 14, 0)
    inc = _report_at(d, plan, 9, "K1")
    ranking = d.rank(inc, [inc], {}, now)
    assert len(ranking) == len(d.workers) and ranking["meets_deadline"].all()
    # Independent check on the network: base -> incident walking metres.
    x, y = d.to_metric(inc.lon, inc.lat)
    for row in ranking.itertuples():
        w = d.workers[row.worker_id]
        expect = d.net.point_distances([w.x, x], [w.y, y])[0, 1]
        assert row.walk_m == pytest.approx(expect, abs=0.1)
        assert row.walk_s == pytest.approx(expect / (4 / 3.6), abs=1)
    assert ranking["walk_m"].is_monotonic_increasing
    # With the grid's worker off duty, re-dispatch goes to the nearest of the others.
    transition(inc, "dispatched", "center", at=now, assignee=d.responsible[d.locate(inc)])
    own = inc.assignee
    moves = d.redispatch_off_duty(own, [inc], {}, now + timedelta(minutes=1))
    others = ranking[ranking["worker_id"] != own]
    assert moves["to_worker"].tolist() == [others["worker_id"].iloc[0]]


def test_open311_post_records_and_statistics():
    from api.open311 import filter_open311, open311_request, parse_open311_post
    from dispatch.incidents.statistics import incident_statistics
    report = parse_open311_post({"service_code": "noise", "lat": "60.17", "long": "24.94",
                                 "description": "夜间施工", "last_name": "王",
                                 "first_name": "五"}, RULES)
    assert (report.category, report.lon, report.lat, report.reporter) == \
        ("noise", 24.94, 60.17, "王 五")
    with pytest.raises(IncidentError, match="unknown incident category 'fire'"):
        parse_open311_post({"service_code": "fire", "lat": 1, "long": 2}, RULES)
    with pytest.raises(IncidentError, match="lat and long"):
        parse_open311_post({"service_code": "noise", "address_string": "新街口"}, RULES)
    with pytest.raises(IncidentError, match="out of range"):
        parse_open311_post({"service_code": "noise", "lat": 95, "long": 2}, RULES)
    incidents: list = []
    a, _ = merge_report(incidents, "A", report.category, report.lon, report.lat, FRI_15,
                        report.reporter, RULES, description=report.description)
    b, _ = merge_report(incidents, "B", "parking", 24.95, 60.18, FRI_15, "甲", RULES)
    a.grid_id = b.grid_id = "g1"
    _walk_to(a, PATH[1:])
    record = open311_request(a, RULES, "en")
    assert record["status"] == "closed" and record["service_name"] == "noise"
    assert record["lat"] == 60.17 and record["long"] == 24.94
    assert record["expected_datetime"] == "2026-11-27T15:00:00+08:00"
    assert [i.incident_id for i in filter_open311(incidents, status="open")] == ["B"]
    assert [i.incident_id for i in filter_open311(incidents, service_code="noise")] == ["A"]
    stats = incident_statistics(incidents, "category", FRI_15 + timedelta(days=4))
    assert stats.set_index("category").loc["noise", "median_accept_h"] == pytest.approx(1 / 60)
    assert stats.set_index("category").loc["parking", ["open", "overdue"]].tolist() == [1, 1]
    by_grid = incident_statistics(incidents, "grid_id", FRI_15 + timedelta(days=4))
    assert by_grid.loc[0, "incidents"] == 2 and by_grid.loc[0, "median_close_h"] == \
        pytest.approx(6 / 60)


def test_simulated_day_closes_everything_through_legal_steps(demo):
    import bench.incident_sim as sim

    d, plan, _ = demo
    world = (None, plan, d.net, list(d.workers.values()),
             pd.DataFrame({"grid_id": list(d.responsible), "worker_id": list(
                 d.responsible.values())}), None)
    reports = sim.draw_reports(plan, d.net, RULES, 30, np.random.default_rng(1))
    results = {}
    for policy in ("ours", "nearest"):
        run = sim.Simulation(policy, world, RULES, reports, 0.1)
        run.d = d  # the module's dispatcher, with its grid leader
        run.run()
        results[policy] = run.summary()
        for inc in run.incidents:
            assert inc.stage == "closed"
            stages = [s.stage for s in inc.history if s.action not in ("merge", "escalate")]
            assert stages[:2] == ["reported", "accepted"] and stages[-2:] == ["verified",
                                                                                "closed"]
    assert results["ours"]["incidents"] == results["nearest"]["incidents"] >= 20
    assert results["ours"]["accept_h"] == results["nearest"]["accept_h"]
    assert results["nearest"]["not_grid_worker_pct"] > results["ours"]["not_grid_worker_pct"]


def test_a_stored_history_is_replayed_and_a_tampered_one_refused():
    from dispatch.incidents.lifecycle import Step, add_note, restore_incident

    inc = _incident(iid="S1")
    _walk_to(inc, PATH[1:4])
    transition(inc, "dispatched", "center", "改派", FRI_15 + timedelta(minutes=9), assignee="w7")
    add_note(inc, "escalate", "system", "超期", FRI_15 + timedelta(minutes=10))
    _walk_to(inc, ["in_progress", "handled", "verified", "closed"],
             start=FRI_15 + timedelta(minutes=10))
    fields = (inc.incident_id, inc.category, inc.lon, inc.lat, inc.reported_at, inc.accept_by,
              inc.close_by)
    again = restore_incident(*fields, inc.history, reporters=inc.reporters)
    assert again.history == inc.history and again.stage == "closed" and again.assignee == "w7"
    skipped = [s for s in inc.history if s.action != "verified"]
    with pytest.raises(IncidentError, match="cannot go from handled to closed"):
        restore_incident(*fields, skipped)
    with pytest.raises(IncidentError, match="start with the report"):
        restore_incident(*fields, inc.history[1:])
    wish = _incident("micro_wish", iid="S2")
    transition(wish, "accepted", "社区", at=FRI_15 + timedelta(minutes=1))
    claim(wish, "志愿者", at=FRI_15 + timedelta(minutes=2))
    back = restore_incident(wish.incident_id, "micro_wish", wish.lon, wish.lat,
                            wish.reported_at, wish.accept_by, wish.close_by, wish.history)
    assert back.stage_label("zh") == "认领" and back.history == wish.history
    assert isinstance(back.history[-1], Step)


def test_a_closed_incident_is_reopened_within_seven_days_with_its_history():
    from dispatch.incidents.lifecycle import REOPEN_DAYS, reopen, restore_incident

    inc = _incident(iid="R1")
    _walk_to(inc, PATH[1:])
    closed = inc.closed_at()
    assert closed == FRI_15 + timedelta(minutes=6) and inc.reopened == 0
    before = inc.history
    new_close_by = bj(2026, 11, 30, 15, 0)
    step = reopen(inc, "居民张三", "没修好", closed + timedelta(days=3), close_by=new_close_by)
    assert inc.stage == "returned" and step.action == "reopen" and inc.assignee == "w1"
    assert inc.history[:-1] == before and inc.reopened == 1 and inc.close_by == new_close_by
    assert inc.is_open and inc.closed_at() == closed  # its last closing until closed again
    # the worker resumes it and it is closed again: closed_at is the new closing
    _walk_to(inc, ["in_progress", "handled", "verified", "closed"],
             start=closed + timedelta(days=3))
    assert inc.closed_at() == closed + timedelta(days=3, minutes=4)
    # replayed from the store, the reopening counts no days
    again = restore_incident(inc.incident_id, inc.category, inc.lon, inc.lat, inc.reported_at,
                             inc.accept_by, inc.close_by, inc.history)
    assert again.history == inc.history and again.reopened == 1 and again.stage == "closed"
    # too late, or not closed
    late = inc.closed_at() + timedelta(days=REOPEN_DAYS, seconds=1)
    with pytest.raises(IncidentError, match="more than 7 days ago") as err:
        reopen(inc, "居民", at=late)
    assert "超过 7 天" in err.value.zh and inc.stage == "closed"
    fresh = _incident(iid="R2")
    with pytest.raises(IncidentError, match="only a closed incident"):
        reopen(fresh, "居民", at=FRI_15 + timedelta(hours=1))
