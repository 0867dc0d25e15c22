"""A re-balance spends no more work than the plan's budget (issue 14 item 4): its chain
repairs' models draw on it too, where each group had MODEL_BUDGET units of its own and a
re-balance of 400 buildings took 30 s of CPU whatever ``time_limit`` said."""

from __future__ import annotations

from gis.study_area import load_study_area
from partition import budget as budget_module
from partition.plan import make_plan
from tests.synthetic import write_district_osm


def test_a_re_balance_keeps_within_its_time_limit(tmp_path, monkeypatch):
    osm = tmp_path / "district.osm"
    write_district_osm(osm, 400, seed=3)
    area = load_study_area(osm, with_walk_graph=False)
    plan = make_plan(area, target=150)
    spent: list[float] = []
    solve = budget_module.WorkBudget.solve

    def counted(self, model, cap, overhead=0.0):
        status, solver = solve(self, model, cap, overhead)
        spent.append(solver.deterministic_time)
        return status, solver

    monkeypatch.setattr(budget_module.WorkBudget, "solve", counted)
    limit = 1.0
    new = make_plan(area, target=120, previous=(plan.grids, plan.buildings), workers=1,
                    time_limit=limit)
    assert new.summary["work_budget"] == limit
    # CP-SAT stops a solve at its deterministic limit (a step may overrun it a little)
    assert 0 < sum(spent) <= limit * 1.1
    assert new.summary["non_contiguous"] == 0 and new.summary["barrier_violations"] == 0
