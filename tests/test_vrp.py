"""Routing benchmark files: reading conventions, feasibility and cost of OR-Tools solutions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from dispatch.vrp import read_instance, route_cost, solve

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"


@pytest.fixture
def bench_dir() -> Path:
    if not BENCH.exists():
        pytest.skip(f"benchmark instances not found at {BENCH}: ../shared is absent")
    return BENCH


def test_tsplib_nint_distances(tmp_path):
    path = tmp_path / "square.tsp"
    path.write_text("NAME : square\nTYPE : TSP\nDIMENSION : 4\nEDGE_WEIGHT_TYPE : EUC_2D\n"
                    "NODE_COORD_SECTION\n1 0 0\n2 0 10.6\n3 10.4 10.6\n4 10.4 0\nEOF\n")
    inst = read_instance(path)
    assert inst.distance[0, 1] == 11 and inst.distance[0, 3] == 10  # nearest integer
    solution = solve(inst, 1)
    assert solution.cost == 42
    assert sorted(solution.routes[0]) == [1, 2, 3, 4]


def test_cvrp_solution_is_feasible(bench_dir):
    inst = read_instance(bench_dir / "X-n101-k25.vrp")
    solution = solve(inst, 2)
    served = sorted(n for r in solution.routes for n in r)
    assert served == list(range(2, 102))  # every customer once, depot 1 excluded
    index = {lab: i for i, lab in enumerate(inst.labels)}
    for route in solution.routes:
        assert sum(inst.demand[index[n]] for n in route) <= inst.capacity
    assert solution.cost == route_cost(inst, [[index[n] for n in r] for r in solution.routes])
    assert solution.cost < 27591 * 1.10  # within 10% of the optimum after 2 s


def test_vrptw_respects_time_windows(bench_dir):
    inst = read_instance(bench_dir / "RC208.vrp")
    assert inst.scale == 10 and inst.kind == "VRPTW"
    solution = solve(inst, 2)
    index = {lab: i for i, lab in enumerate(inst.labels)}
    for route in solution.routes:
        t, prev = 0.0, 0
        for lab in route:
            node = index[lab]
            t = max(t + inst.service[prev] + inst.distance[prev, node], inst.time_window[node, 0])
            assert t <= inst.time_window[node, 1]
            prev = node
    assert solution.cost < 776.1 * 1.25


def test_cli_vrp_json(bench_dir, capsys):
    assert main(["vrp", "solve", str(bench_dir / "kroA100.tsp"), "--seconds", "1",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"cost", "routes", "seconds"}
    assert sorted(result["routes"][0]) == list(range(1, 101))
    assert result["cost"] < 21282 * 1.03
