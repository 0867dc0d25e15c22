"""Routing benchmark files: reading conventions, feasibility, cost convention, seed repeatability
and time limits of the OR-Tools search (dispatch.routing.vrp, dispatch.routing.vrp_search)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from api.cli import main
from dispatch.routing.vrp import check_routes, read_instance, route_cost, solve

BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"


@pytest.fixture
def bench_dir() -> Path:
    if not BENCH.exists():
        pytest.skip(f"benchmark instances not found at {BENCH}: ../shared is absent")
    return BENCH


def _internal(inst, routes):
    index = {lab: i for i, lab in enumerate(inst.labels)}
    return [[index[n] for n in r] for r in routes]


def test_tsplib_nint_distances(tmp_path):
    path = tmp_path / "square.tsp"
    path.write_text("NAME : square\nTYPE : TSP\nDIMENSION : 4\nEDGE_WEIGHT_TYPE : EUC_2D\n"
                    "NODE_COORD_SECTION\n1 0 0\n2 0 10.6\n3 10.4 10.6\n4 10.4 0\nEOF\n")
    inst = read_instance(path)
    assert inst.distance[0, 1] == 11 and inst.distance[0, 3] == 10  # nearest integer
    solution = solve(inst, 1)
    assert solution.cost == 42
    assert sorted(solution.routes[0]) == [1, 2, 3, 4]


def test_dimacs_truncated_distances(bench_dir):
    inst = read_instance(bench_dir / "RC208.vrp")
    # Depot (40, 50) to customer 2 (25, 85): sqrt(15^2 + 35^2) = 38.0789 -> 38.0, scaled 380.
    assert inst.distance[0, 1] == 380
    assert inst.service[1] == 100 and inst.service[0] == 0
    assert inst.time_window[0, 1] == 9600


def test_cvrp_solution_is_feasible(bench_dir):
    inst = read_instance(bench_dir / "X-n101-k25.vrp")
    solution = solve(inst, 2)
    served = sorted(n for r in solution.routes for n in r)
    assert served == list(range(2, 102))  # every customer once, depot 1 excluded
    routes = _internal(inst, solution.routes)
    for route in routes:
        assert inst.demand[route].sum() <= inst.capacity
    assert solution.cost == route_cost(inst, routes)
    assert solution.cost < 27591 * 1.06  # within 6% of the optimum after 2 s


def test_vrptw_respects_time_windows(bench_dir):
    inst = read_instance(bench_dir / "RC208.vrp")
    assert inst.scale == 10 and inst.kind == "VRPTW"
    # Repeatable mode: in anytime mode the 2 s result depends on the machine's load (measured at
    # a load near 2: 0.2% to 12.2% over 48 runs), which made the cost bound below flaky.
    solution = solve(inst, 2, seed=1)
    for route in _internal(inst, solution.routes):
        t, prev = 0.0, 0
        for node in [*route, 0]:
            t = max(t + inst.service[prev] + inst.distance[prev, node], inst.time_window[node, 0])
            assert t <= inst.time_window[node, 1]
            prev = node
    assert solution.cost == route_cost(inst, _internal(inst, solution.routes))
    assert solution.cost < 776.1 * 1.10


def test_check_routes_rejects_infeasible(bench_dir):
    inst = read_instance(bench_dir / "RC208.vrp")
    routes = _internal(inst, solve(inst, 1).routes)
    check_routes(inst, routes)
    with pytest.raises(ValueError, match="once"):
        check_routes(inst, [routes[0][1:], *routes[1:]])
    with pytest.raises(ValueError, match="capacity"):
        check_routes(replace(inst, capacity=10), routes)
    closing = inst.time_window.copy()
    closing[1:, 1] = closing[1:, 0] + 1  # one unit of time to start service at each customer
    with pytest.raises(ValueError, match="too late"):
        check_routes(replace(inst, time_window=closing), routes)
    with pytest.raises(ValueError, match="vehicles"):
        check_routes(replace(inst, vehicles=1), routes)


@pytest.mark.parametrize(("name", "seconds"), [("X-n101-k25.vrp", 1.0), ("RC208.vrp", 1.0),
                                               ("kroA100.tsp", 0.5)])
def test_same_seed_same_routes(bench_dir, name, seconds):
    inst = read_instance(bench_dir / name)
    first = solve(inst, seconds, seed=7)
    again = solve(inst, seconds, seed=7)
    assert first.routes == again.routes and first.cost == again.cost
    check_routes(inst, _internal(inst, first.routes))


def test_negative_seed_is_refused(bench_dir, capsys):
    assert main(["vrp", "solve", str(bench_dir / "kroA100.tsp"), "--seconds", "1",
                 "--seed", "-3"]) == 2
    assert "种子" in capsys.readouterr().err


def test_seeds_vary_the_search(bench_dir):
    inst = read_instance(bench_dir / "X-n101-k25.vrp")
    routes = {json.dumps(solve(inst, 0.5, seed=seed).routes) for seed in (1, 2, 3)}
    assert len(routes) > 1


@pytest.mark.parametrize("name", ["X-n101-k25.vrp", "RC208.vrp", "kroA100.tsp"])
def test_time_limit_is_honoured(bench_dir, name):
    inst = read_instance(bench_dir / name)
    started = time.perf_counter()
    solution = solve(inst, 1.5)
    took = time.perf_counter() - started
    assert solution.seconds <= 1.5 + 0.25 and took <= 1.5 + 0.3


def test_cli_vrp_json(bench_dir, capsys):
    # Seeded: a fixed amount of work, so the 3% below holds on a loaded machine too (the
    # anytime search's one wall-clock second once fell short of it at a load of 12).
    assert main(["vrp", "solve", str(bench_dir / "kroA100.tsp"), "--seconds", "1", "--seed", "0",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"cost", "routes", "seconds"}
    assert sorted(result["routes"][0]) == list(range(1, 101))
    assert result["cost"] < 21282 * 1.03


def test_cli_vrp_seed_repeats(bench_dir, capsys):
    args = ["vrp", "solve", str(bench_dir / "X-n101-k25.vrp"), "--seconds", "0.5", "--seed", "4",
            "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert first["routes"] == again["routes"] and first["cost"] == again["cost"]
    inst = read_instance(bench_dir / "X-n101-k25.vrp")
    assert first["cost"] == route_cost(inst, _internal(inst, first["routes"]))
    assert np.isclose(first["cost"], round(first["cost"]))  # EUC_2D costs are integers
