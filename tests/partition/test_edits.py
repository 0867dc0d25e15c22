"""Editing a plan by hand (partition.edits) on a synthetic district partitioned for real:
legal moves pass and change the figures, each hard rule refuses with its reason and the
buildings at fault, undo restores, split/merge/lock/rebalance keep every grid contiguous."""

from __future__ import annotations

import networkx as nx
import pytest

from gis.study_area import load_study_area
from partition.edits import (
    EditContext,
    EditRuleError,
    PlanState,
    allow_crossings,
    grid_stats,
    lock,
    merge,
    move,
    rebalance,
    split,
    state_of,
)
from partition.plan import build_territory, make_plan
from tests.synthetic import write_district_osm


@pytest.fixture(scope="module")
def edit_setup(tmp_path_factory):
    path = tmp_path_factory.mktemp("edits") / "district.osm"
    write_district_osm(path, 400, seed=11)
    area = load_study_area(path, with_walk_graph=False)
    territory = build_territory(area)
    plan = make_plan(area, 300, territory=territory)
    ctx = EditContext.from_territory(territory.graph, territory.buildings, plan.target)
    state = state_of(plan.grids, plan.buildings)
    allow_crossings(ctx, state)
    return ctx, state


def _connected(ctx: EditContext, state: PlanState, grid: str) -> bool:
    members = state.members[grid]
    sub = ctx.graph.subgraph(members)
    if grid in state.crossing_grids:
        return True
    return len(members) <= 1 or nx.is_connected(sub)


def _border_pair(ctx: EditContext, state: PlanState) -> tuple[str, str]:
    """A building on a grid boundary whose grid stays connected without it, and the
    neighbouring grid (both residential, unlocked)."""
    for b, g in sorted(state.grid_of.items()):
        if state.kind[g] != "residential" or len(state.members[g]) < 3:
            continue
        for nb in ctx.graph[b]:
            h = state.grid_of.get(nb)
            if h and h != g and state.kind[h] == "residential":
                rest = state.members[g] - {b}
                if nx.is_connected(ctx.graph.subgraph(rest)):
                    return b, h
    raise AssertionError("no movable border building")


def test_move_updates_figures_and_undo_restores(edit_setup):
    ctx, base = edit_setup
    state = base.copy()
    b, to = _border_pair(ctx, state)
    src = state.grid_of[b]
    before = {s.code: s for s in grid_stats(ctx, state)}
    edit = move(ctx, state, [b], to)
    assert edit.changes == [(b, src, to)]
    state.apply(edit)
    after = {s.code: s for s in grid_stats(ctx, state)}
    hh = ctx.households(b)
    assert after[to].households == before[to].households + hh
    assert after[src].households == before[src].households - hh
    assert after[to].buildings == before[to].buildings + 1
    assert _connected(ctx, state, src) and _connected(ctx, state, to)
    state.apply(edit.inverse())
    assert state.grid_of == base.grid_of
    assert [s for s in grid_stats(ctx, state)] == list(before.values())


def test_refusals_name_rule_and_buildings(edit_setup):
    ctx, base = edit_setup
    state = base.copy()
    with pytest.raises(EditRuleError) as e:
        move(ctx, state, ["no-such-building"], next(iter(state.members)))
    assert e.value.rule == "unknown_building" and e.value.buildings == ["no-such-building"]
    # a building far from the target grid: not adjacent
    grids = sorted(g for g in state.members if state.kind[g] == "residential")
    far_grid = grids[0]
    far = [b for b in state.grid_of if state.grid_of[b] != far_grid
           and state.community[state.grid_of[b]] == state.community[far_grid]
           and not any(state.grid_of.get(nb) == far_grid for nb in ctx.graph[b])]
    with pytest.raises(EditRuleError) as e:
        move(ctx, state, [far[-1]], far_grid)
    assert e.value.rule in ("contiguity", "barrier", "empty_grid")
    assert e.value.buildings and "grid" in e.value.en
    # another community
    comms = {state.community[g] for g in state.members}
    if len(comms) > 1:
        b = next(b for b in state.grid_of
                 if state.community[state.grid_of[b]] != state.community[far_grid])
        with pytest.raises(EditRuleError) as e:
            move(ctx, state, [b], far_grid)
        assert e.value.rule == "community" and e.value.buildings == [b]
        assert "社区" in e.value.zh
    # a whole grid moved out: left empty
    b, to = _border_pair(ctx, state)
    src = state.grid_of[b]
    with pytest.raises(EditRuleError) as e:
        move(ctx, state, sorted(state.members[src]), to)
    assert e.value.rule in ("empty_grid",)
    # locked
    state.apply(lock(state, [to]))
    with pytest.raises(EditRuleError) as e:
        move(ctx, state, [b], to)
    assert e.value.rule == "locked" and e.value.grids == [to]


def test_cutting_a_grid_is_refused(edit_setup):
    ctx, base = edit_setup
    state = base.copy()
    # an articulation building of a grid: moving it cuts the grid in pieces
    for g in sorted(state.members):
        if state.kind[g] != "residential" or g in state.crossing_grids:
            continue
        sub = ctx.graph.subgraph(state.members[g])
        for cut in nx.articulation_points(sub):
            nbs = [state.grid_of[n] for n in ctx.graph[cut]
                   if state.grid_of.get(n) not in (None, g)]
            if nbs:
                with pytest.raises(EditRuleError) as e:
                    move(ctx, state, [str(cut)], nbs[0])
                assert e.value.rule == "contiguity"
                assert "pieces" in e.value.en and e.value.grids == [g]
                return
    pytest.skip("no articulation building on a grid boundary in this district")


def _split_and_rebalance(ctx: EditContext, base: PlanState) -> tuple[PlanState, str, dict]:
    """Split the largest grid, merge it back, undo the merge, lock the first grid and
    re-balance the rest; the state, the locked grid and the grids' members before the
    re-balance. Checks each step on the way."""
    state = base.copy()
    big = max((s for s in grid_stats(ctx, state) if s.kind == "residential"),
              key=lambda s: s.households)
    edit = split(ctx, state, big.code)
    (new,) = edit.created
    state.apply(edit)
    assert new in state.members and _connected(ctx, state, new)
    assert _connected(ctx, state, big.code)
    merged = merge(ctx, state, big.code, new)
    state.apply(merged)
    assert new not in state.members
    assert state.members[big.code] == base.members[big.code]
    state.apply(merged.inverse())
    assert new in state.members and state.kind[new] == "residential"
    keep = sorted(state.members)[0]
    state.apply(lock(state, [keep]))
    before = {g: set(m) for g, m in state.members.items()}
    state.apply(rebalance(ctx, state, seed=0))
    return state, keep, before


def test_split_merge_and_rebalance(edit_setup):
    ctx, base = edit_setup
    state, keep, before = _split_and_rebalance(ctx, base)
    # re-balance the rest with one grid locked: the locked one keeps its buildings
    assert state.members[keep] == before[keep]
    assert all(_connected(ctx, state, g) for g in state.members)


def test_rebalance_after_a_split_keeps_the_balance(edit_setup):
    """The split's new grid (108 households) is brought within 15% of the community's mean
    after the re-balance; single moves could not do it without pushing a neighbour past the
    limit (it was left at 216, -24%), nor did they aim at the mean the community has once
    the new grid counts (an untouched grid went from 13.5% to 17.7%)."""
    ctx, base = edit_setup
    state, keep, before = _split_and_rebalance(ctx, base)
    worst_before = max(abs(s.deviation_pct) for s in grid_stats(ctx, base)
                       if s.kind == "residential")
    after = [s for s in grid_stats(ctx, state) if s.kind == "residential" and s.code != keep]
    drawn = [s for s in after if state.members[s.code] != before.get(s.code)]
    assert drawn
    assert max(abs(s.deviation_pct) for s in drawn) <= max(worst_before, 15.0) + 1e-6
    # A balanced plan exists here (found): every grid the re-balance may draw is within it.
    assert max(abs(s.deviation_pct) for s in after) <= 15.0 + 1e-6


# Run in a fresh interpreter: the changes "re-balance the rest" makes after a split of the
# largest grid with the first grid locked, on the district at argv[1] (as edit_setup).
REBALANCE_CHILD = """
import sys
from gis.study_area import load_study_area
from partition.edits import EditContext, allow_crossings, grid_stats, lock, rebalance
from partition.edits import split, state_of
from partition.plan import build_territory, make_plan
area = load_study_area(sys.argv[1], with_walk_graph=False)
territory = build_territory(area)
plan = make_plan(area, 300, territory=territory)
ctx = EditContext.from_territory(territory.graph, territory.buildings, plan.target)
state = state_of(plan.grids, plan.buildings)
allow_crossings(ctx, state)
big = max((s for s in grid_stats(ctx, state) if s.kind == "residential"),
          key=lambda s: s.households)
state.apply(split(ctx, state, big.code))
state.apply(lock(state, [sorted(state.members)[0]]))
print(sorted(map(str, rebalance(ctx, state, seed=0).changes)))
"""


def test_rebalance_is_the_same_under_any_hash_seed(tmp_path):
    """The order of connected components and of absorbed buildings came from sets of str
    (hashed at random per process): under PYTHONHASHSEED=3 the re-balance drew other grids
    (a split's new grid left at -24%), so the same edit gave another plan."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "district.osm"
    write_district_osm(path, 400, seed=11)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    children = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", REBALANCE_CHILD,
                                  str(path)], cwd=root, env={**env, "PYTHONHASHSEED": seed},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for seed in ("1", "3")]
    outs = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-2000:]
        outs.append(out.strip().splitlines()[-1])
    assert outs[0] == outs[1] and outs[0] != "[]"
