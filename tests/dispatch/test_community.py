"""Micro-wishes in dispatch.community: the lifecycle, volunteer matching on the demo's real
walk network (one Dijkstra checked against networkx shortest paths) and the micro-star board."""

from __future__ import annotations

from datetime import datetime, timedelta

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from dispatch.community.board import micro_star_board
from dispatch.community.matching import (
    GRID_PENALTY_M,
    Volunteer,
    WishRequest,
    parse_window,
    rank_volunteers,
    walk_from,
)
from dispatch.community.wishes import (
    WishError,
    act,
    check_category,
    check_skills,
    new_wish,
    restore_wish,
)
from dispatch.incidents.rules import BEIJING

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=BEIJING)  # a Wednesday


def test_lifecycle_and_history_replay():
    w = new_wish("7", "代买代购", "王芳", T0)
    assert w.category == "shopping" and w.stage == "posted"
    act(w, "claim", "李四", at=T0 + timedelta(minutes=5), volunteer_id=3)
    with pytest.raises(WishError) as err:  # a claimed wish is not claimed again
        act(w, "claim", "赵六", at=T0 + timedelta(minutes=6), volunteer_id=4)
    assert "已认领" in err.value.zh and "claimed" in err.value.en
    act(w, "unclaim", "李四", at=T0 + timedelta(minutes=7))
    assert w.volunteer_id is None and w.stage == "posted"
    act(w, "claim", "赵六", at=T0 + timedelta(minutes=8), volunteer_id=4)
    with pytest.raises(WishError):
        act(w, "done", "赵六", at=T0 + timedelta(hours=1))  # no hours
    with pytest.raises(WishError):
        act(w, "done", "赵六", at=T0 + timedelta(hours=1), hours=30)
    act(w, "done", "赵六", at=T0 + timedelta(hours=1), hours=1.5)
    act(w, "reopen", "王芳", at=T0 + timedelta(hours=2), note="没买到")
    assert w.hours is None and w.volunteer_id == 4 and w.stage == "claimed"
    act(w, "done", "赵六", at=T0 + timedelta(hours=3), hours=2)
    act(w, "confirm", "居民", at=T0 + timedelta(hours=4))
    assert w.stage == "confirmed" and not w.is_open and w.hours == 2
    with pytest.raises(WishError):
        act(w, "cancel", "王芳", at=T0 + timedelta(hours=5))
    again = restore_wish("7", "shopping", w.history)
    assert again.history == w.history and again.stage == "confirmed"
    with pytest.raises(WishError):  # a tampered history: confirm before done
        restore_wish("7", "shopping", [w.history[0], w.history[-1]])


def test_vocabularies_refuse_unknown_names():
    assert check_skills(["家居维修", "errands", "errands"]) == ["errands",
                                                                                  "repair"]
    with pytest.raises(WishError) as err:
        check_skills(["juggling"])
    assert "juggling" in err.value.en and "未知技能" in err.value.zh
    with pytest.raises(WishError):
        check_category("flying")


def _ring(net, n: int, seed: int = 3):
    """n points scattered over the network's nodes (metric CRS)."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice(len(net.nodes), n)
    xy = np.array([net.xy(net.nodes[i]) for i in nodes])
    return xy + rng.normal(0, 15, xy.shape)


def test_walk_from_matches_networkx(demo_network):
    net = demo_network
    pts = _ring(net, 40)
    wx, wy = pts[0]
    dist = walk_from(net, wx, wy, pts[1:, 0], pts[1:, 1], max_walk_m=1e9)
    (src,), off_src = net.snap([wx], [wy])
    nodes, off = net.snap(pts[1:, 0], pts[1:, 1])
    lengths = nx.single_source_dijkstra_path_length(net.graph, src, weight="length")
    for node, o, d in zip(nodes, off, dist, strict=True):
        expected = lengths[node] + o + off_src[0] if node in lengths else np.inf
        assert d == pytest.approx(expected, abs=1e-6)


def test_ranking_filters_and_orders(demo_network):
    net = demo_network
    pts = _ring(net, 8, seed=11)
    wish = WishRequest("home_repair", pts[0, 0], pts[0, 1], grid_id="G1",
                       wanted_at=T0.replace(hour=10))
    weekday_mornings = (parse_window([1, 2, 3, 4, 5], "08:00", "12:00"),)
    vols = [
        Volunteer(1, frozenset({"repair"}), *pts[1], grids=frozenset({"G1"})),
        Volunteer(2, frozenset({"electrical"}), *pts[2], windows=weekday_mornings,
                  grids=frozenset({"G2"})),
        Volunteer(3, frozenset({"cooking"}), *pts[3]),  # no skill for repairs
        Volunteer(4, frozenset({"repair"}), *pts[4],
                  windows=(parse_window([6, 7], "08:00", "12:00"),)),  # weekends only
        Volunteer(5, frozenset({"repair"}), *pts[5], max_open=1),  # full
        Volunteer(6, frozenset({"repair"})),  # no home point
        Volunteer(7, frozenset({"repair"}), *pts[6], active=False),
    ]
    table = rank_volunteers(net, wish, vols, {5: 1, 1: 1})
    reasons = dict(zip(table["volunteer_id"], table["reason"], strict=True))
    assert reasons == {1: "", 2: "", 6: "", 3: "skill", 4: "time", 5: "load", 7: "inactive"}
    eligible = table[table["eligible"]]
    assert list(eligible["rank"]) == [1, 2, 3]
    assert eligible["volunteer_id"].iloc[-1] == 6  # without a home point: last
    placed = eligible[eligible["walk_m"].notna()].set_index("volunteer_id")
    assert placed.loc[2, "score_m"] == pytest.approx(placed.loc[2, "walk_m"] + GRID_PENALTY_M,
                                                     abs=0.2)
    assert list(placed["score_m"]) == sorted(placed["score_m"])
    with pytest.raises(WishError):
        parse_window([8], "08:00", "09:00")
    with pytest.raises(WishError):
        parse_window([1], "12:00", "09:00")


def test_board_counts_confirmed_in_period():
    rows = [
        (1, 10, 100, "G1", "confirmed", 2.0, T0, T0 + timedelta(hours=1)),
        (2, 10, 100, "G1", "confirmed", 1.5, T0, T0 + timedelta(days=1)),
        (3, 11, None, "G2", "confirmed", 3.0, T0, T0 + timedelta(days=40)),  # outside
        (4, 11, None, "G2", "done", 1.0, T0, None),
        (5, 12, 100, "G2", "claimed", None, None, None),
    ]
    frame = pd.DataFrame(rows, columns=["wish_id", "volunteer_id", "team_id", "grid_id",
                                        "stage", "hours", "done_at", "confirmed_at"])
    period = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=30)}
    vol = micro_star_board(frame, "volunteer", **period)
    assert vol.to_dict("records") == [
        {"volunteer_id": 10, "fulfilled": 2, "hours": 3.5, "awaiting": 0},
        {"volunteer_id": 11, "fulfilled": 0, "hours": 0.0, "awaiting": 1}]
    team = micro_star_board(frame, "team", **period)
    assert team.to_dict("records") == [{"team_id": 100, "fulfilled": 2, "hours": 3.5,
                                        "awaiting": 0}]
    grid = micro_star_board(frame, "grid")  # no period: all time
    assert dict(zip(grid["grid_id"], grid["hours"], strict=True)) == {"G1": 3.5, "G2": 3.0}
    with pytest.raises(WishError):
        micro_star_board(frame, "street")  # type: ignore[arg-type]


def test_statistics_per_channel():
    from dispatch.community.board import wish_statistics

    rows = [(1, "app", "shopping", "G1", "confirmed", T0, T0 + timedelta(hours=4)),
            (2, "app", "meals", "G1", "confirmed", T0, T0 + timedelta(hours=2)),
            (3, "phone_call", "meals", "G2", "posted", T0, None),
            (4, "door_visit", "meals", None, "cancelled", T0, None)]
    frame = pd.DataFrame(rows, columns=["wish_id", "channel", "category", "grid_id", "stage",
                                        "posted_at", "confirmed_at"])
    table = wish_statistics(frame, "channel").set_index("channel")
    assert table.loc["app"].to_dict() == {"wishes": 2, "open": 0, "confirmed": 2,
                                          "cancelled": 0, "median_confirm_h": 3.0}
    assert table.loc["phone_call", "open"] == 1 and np.isnan(table.loc["phone_call",
                                                                        "median_confirm_h"])
    grids = wish_statistics(frame, "grid")
    assert grids["wishes"].sum() == 4 and grids["grid_id"].isna().sum() == 1
    with pytest.raises(WishError):
        wish_statistics(frame, "weather")  # type: ignore[arg-type]
