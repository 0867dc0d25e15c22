"""Routing benchmark: Wangge (OR-Tools) side by side with VROOM (pyvroom).

    python bench/vrp_bench.py                    # 5 s each
    python bench/vrp_bench.py --seconds 5 30

All three get the same integer matrices (the file's convention, see dispatch.vrp) and the same
time limit (VROOM: as its timeout, one thread); every cost is recomputed here from the routes.
Gaps are to the best-known values of ../shared/bench/SOURCES.md. Needs pip install -e '.[bench]'.
PyVRP is not run yet: its adapter gave implausible routes and was left out until checked.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.vrp import Instance, read_instance, route_cost, solve  # noqa: E402

BENCH = ROOT.parent / "shared" / "bench"
BEST_KNOWN = {"kroA100.tsp": 21282, "X-n101-k25.vrp": 27591, "RC208.vrp": 776.1}


def vroom_routes(inst: Instance, seconds: float) -> list[list[int]]:
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
    solution = problem.solve(exploration_level=5, nb_threads=1,
                             timeout=timedelta(seconds=seconds))
    routes = solution.routes
    jobs = routes[routes["type"] == "job"]
    return [list(g["id"]) for _, g in jobs.groupby("vehicle_id")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, nargs="+", default=[5.0])
    args = parser.parse_args()
    if not BENCH.exists():
        print(f"benchmark instances not found at {BENCH} (../shared absent)")
        return 1
    rows = []
    for name, best in BEST_KNOWN.items():
        inst = read_instance(BENCH / name)
        for seconds in args.seconds:
            runs = {"Wangge (OR-Tools)": lambda i=inst, s=seconds: _ours(i, s),
                    "VROOM": lambda i=inst, s=seconds: vroom_routes(i, s)}
            for method, run in runs.items():
                started = time.perf_counter()
                routes = run()
                took = time.perf_counter() - started
                if inst.kind == "TSP" and routes and routes[0][0] != 0:
                    routes = [[0, *routes[0]]]
                cost = route_cost(inst, routes)
                rows.append({"instance": name, "limit_s": seconds, "method": method,
                             "cost": cost, "gap_pct": round(100 * (cost - best) / best, 2),
                             "seconds": round(took, 2)})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    return 0


def _ours(inst: Instance, seconds: float) -> list[list[int]]:
    index = {lab: i for i, lab in enumerate(inst.labels)}
    return [[index[n] for n in r] for r in solve(inst, seconds).routes]


if __name__ == "__main__":
    sys.exit(main())
