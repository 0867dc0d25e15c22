"""Routing benchmark: Wangge (OR-Tools) side by side with VROOM (pyvroom) and PyVRP.

    python bench/vrp_bench.py                          # 5 s each, all instances and solvers
    python bench/vrp_bench.py --seconds 5 30 --markdown bench/vrp_results.md
    python bench/vrp_bench.py --seconds 5 --solvers wangge --seed 1   # repeatable mode
    python bench/vrp_bench.py --seconds 0 --solvers vroom             # VROOM without a timeout

Every solver gets the same integer matrices (the file's convention, see dispatch.routing.vrp: TSPLIB
nearest integer; DIMACS distances truncated to 0.1 and scaled by 10, travel time = distance), the
same fleet (the file's VEHICLES, or the CVRPLIB name's k + 2), the same time limit and one thread
(VROOM: ``timeout``, ``nb_threads=1``; PyVRP: ``MaxRuntime``, single-threaded by design; Wangge:
``solve(inst, seconds)``, OR-Tools single-threaded). Each peer's routes are checked here for
feasibility (``dispatch.routing.vrp.check_routes``: every customer once, capacity, time windows with
service times, depot closing time, fleet size) and their cost recomputed from the matrices, never
taken from the solver. Gaps are to the best-known values of ../shared/bench/SOURCES.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.routing.vrp import Instance, check_routes, read_instance, route_cost, solve  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench"
BEST_KNOWN = {"kroA100.tsp": 21282, "X-n101-k25.vrp": 27591, "RC208.vrp": 776.1}
Routes = list[list[int]]


def wangge_routes(inst: Instance, seconds: float, seed: int | None) -> Routes:
    index = {lab: i for i, lab in enumerate(inst.labels)}
    return [[index[n] for n in r] for r in solve(inst, seconds, seed).routes]


def vroom_routes(inst: Instance, seconds: float, seed: int | None) -> Routes:
    """VROOM at its top exploration level, one thread, ``seconds`` as its timeout (VROOM has no
    seed: ``seed`` is ignored). Job ids are our node indices; durations = distances."""
    import vroom

    problem = vroom.Input()
    matrix = inst.distance.tolist()
    problem.set_durations_matrix("car", matrix)
    problem.set_costs_matrix("car", matrix)
    tw = inst.time_window
    vehicles = 1 if inst.kind == "TSP" else inst.vehicles
    for v in range(vehicles):
        problem.add_vehicle(vroom.Vehicle(
            v + 1, start=0, end=0,
            capacity=[inst.capacity] if inst.demand is not None else (),
            time_window=vroom.TimeWindow(0, int(tw[0, 1])) if tw is not None else None))
    for i in range(1, inst.size):
        problem.add_job(vroom.Job(
            i, location=i,
            delivery=[int(inst.demand[i])] if inst.demand is not None else vroom.Amount([]),
            default_service=int(inst.service[i]) if tw is not None else 0,
            time_windows=[vroom.TimeWindow(int(tw[i, 0]), int(tw[i, 1]))] if tw is not None
            else ()))
    kwargs = {"timeout": timedelta(seconds=seconds)} if seconds > 0 else {}
    solution = problem.solve(exploration_level=5, nb_threads=1, **kwargs)
    routes = solution.routes
    jobs = routes[routes["type"] == "job"]
    found = [[int(n) for n in g["id"]] for _, g in jobs.groupby("vehicle_id", sort=True)]
    return [[0, *found[0]]] if inst.kind == "TSP" else found


def pyvrp_routes(inst: Instance, seconds: float, seed: int | None) -> Routes:
    """PyVRP's iterated local search on ProblemData built from our matrices (not pyvrp.read,
    whose rounding would be a second reading of the file). PyVRP 0.14 routes list activities
    whose ``idx`` is a client index (0-based over clients), mapped here to the client's
    location, which is our node index."""
    from pyvrp import Client, Depot, Location, ProblemData, VehicleType
    from pyvrp import solve as pyvrp_solve
    from pyvrp.stop import MaxRuntime

    never = np.iinfo(np.int64).max
    tw = inst.time_window
    close = int(tw[0, 1]) if tw is not None else never
    # Costs come from the matrices; the coordinates are given for completeness (PyVRP 0.14's
    # default operators do not use them).
    locations = [Location(x=float(x), y=float(y)) for x, y in inst.coords]
    clients = [Client(
        location=i,
        delivery=[int(inst.demand[i])] if inst.demand is not None else [],
        service_duration=int(inst.service[i]) if tw is not None else 0,
        tw_early=int(tw[i, 0]) if tw is not None else 0,
        tw_late=int(tw[i, 1]) if tw is not None else never) for i in range(1, inst.size)]
    fleet = VehicleType(num_available=1 if inst.kind == "TSP" else inst.vehicles,
                        capacity=[inst.capacity] if inst.demand is not None else [],
                        tw_early=0, tw_late=close)
    distance = inst.distance.astype(np.int64)
    duration = distance if tw is not None else np.zeros_like(distance)
    data = ProblemData(locations, clients, [Depot(location=0, tw_early=0, tw_late=close)],
                       [fleet], [distance], [duration])
    result = pyvrp_solve(data, MaxRuntime(seconds), seed=seed or 0, collect_stats=False,
                         display=False)
    found = [[clients[a.idx].location for a in route if a.is_client()]
             for route in result.best.routes()]
    found = [r for r in found if r]
    if not result.best.is_feasible():
        raise ValueError("PyVRP returned an infeasible solution")
    if inst.kind == "TSP":
        found = [[0, *found[0]]]
    if route_cost(inst, found) * inst.scale != result.best.distance():
        raise ValueError("PyVRP's own distance differs from the recomputed one")
    return found


SOLVERS: dict[str, Callable[[Instance, float, int | None], Routes]] = {
    "Wangge (OR-Tools)": wangge_routes, "VROOM": vroom_routes, "PyVRP": pyvrp_routes}
KEYS = {"wangge": "Wangge (OR-Tools)", "vroom": "VROOM", "pyvrp": "PyVRP"}


def run_one(name: str, inst: Instance, seconds: float, method: str, seed: int | None) -> dict:
    best = BEST_KNOWN[name]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    routes = SOLVERS[method](inst, seconds, seed)
    took = time.perf_counter() - started
    check_routes(inst, routes)  # raises on an infeasible or incomplete solution
    cost = route_cost(inst, routes)
    return {"instance": name, "limit_s": seconds, "method": method, "cost": cost,
            "gap_pct": round(100 * (cost - best) / best, 2),
            "routes": len(routes) if inst.kind != "TSP" else 1,
            "wall_s": round(took, 2), "load_1min": round(load, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0])
    parser.add_argument("--instances", nargs="+", default=list(BEST_KNOWN), choices=BEST_KNOWN)
    parser.add_argument("--solvers", nargs="+", default=list(KEYS), choices=KEYS)
    parser.add_argument("--seed", type=int, default=None,
                        help="Wangge's repeatable mode and PyVRP's seed (default: anytime, 0)")
    parser.add_argument("--markdown", help="also write the table to this Markdown file")
    args = parser.parse_args()
    if not BENCH.exists():
        print(f"benchmark instances not found at {BENCH} (../shared absent)")
        return 1
    rows = []
    for name in args.instances:
        inst = read_instance(BENCH / name)
        for seconds in args.seconds:
            for key in args.solvers:
                rows.append(run_one(name, inst, seconds, KEYS[key], args.seed))
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.markdown:
        Path(args.markdown).write_text(table.to_markdown(index=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
