"""Dispatch benchmark on real street networks: street patrols, visit routes, party members.

    python bench/dispatch_bench.py [--visit-seconds 5] [--pyvrp-seconds 60] [--skip-pyvrp]
                                   [--patrol-only]

1. Street patrol: every grid of the demo extract's and the Nanjing file's plans (a grid
   worker's patrol), and every community (the patrol team's), from a base at the node nearest
   its centre: route length against the Chinese-postman bound and the best proven lower bound,
   how many routes are proven optimal, time. (--patrol-only stops after this table.)
2. Visit route: 300 residential buildings of the demo extract visited by 6 workers from their
   homes (5 min each, shift 08:00-17:00): ours (OR-Tools, transit matrices, GLS) at
   --visit-seconds against PyVRP given --pyvrp-seconds on the same walking matrices.
3. Party members: 5,000 households to 300 members (capacities 10-30), time and coverage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.routing.network import WalkNetwork  # noqa: E402
from dispatch.routing.patrol import community_areas, patrol_routes  # noqa: E402
from dispatch.routing.visits import Stop, Walker, plan_visits  # noqa: E402
from dispatch.staffing.party import PartyMember, assign_households, zone_polygons  # noqa: E402
from gis.study_area import load_study_area  # noqa: E402
from partition.plan import make_plan  # noqa: E402

NANJING = ROOT.parent / "shared" / "data" / "nanjing_xinjiekou.osm"
SHIFT = (8 * 3600, 17 * 3600)


def demo_path() -> str:
    import pyrosm

    return pyrosm.get_data("test_pbf")


def patrol_rows(name: str, source: str) -> list:
    """One row for the grids' patrols (the workers'), one for the communities' (the patrol
    teams' 网格巡查队: every street of the community)."""
    area = load_study_area(source)
    plan = make_plan(area)
    net = WalkNetwork.from_graph(area.streets)
    rows = []
    for level, polygons in (("grids", plan.grids), ("communities", community_areas(plan.grids))):
        started = time.perf_counter()
        routes = patrol_routes(net, polygons, {})
        seconds = time.perf_counter() - started
        routes = routes[routes["required_m"] > 0]
        length = routes["length_m"].sum()
        rows.append([name, level, len(routes), f"{routes['optimal'].sum()}/{len(routes)}",
                     round(routes["required_m"].sum() / 1000, 2), round(length / 1000, 2),
                     f"{100 * (length / routes['lower_bound_m'].sum() - 1):.2f}",
                     f"{100 * (length / routes['postman_bound_m'].sum() - 1):.2f}",
                     f"{100 * (routes['length_m'] / routes['postman_bound_m'] <= 1.05).mean():.0f}",
                     round(seconds, 1)])
    return rows


def visit_instance(n_stops: int = 300, n_workers: int = 6, seed: int = 1):
    area = load_study_area(demo_path())
    net = WalkNetwork.from_graph(area.streets)
    homes = area.buildings[area.buildings["residential"]].sample(
        n_stops + n_workers, random_state=seed).geometry.centroid
    walkers = [Walker(f"w{i}", p.x, p.y, SHIFT) for i, p in enumerate(homes[:n_workers])]
    stops = [Stop(i, p.x, p.y, 300) for i, p in enumerate(homes[n_workers:])]
    return net, walkers, stops


def pyvrp_visits(net: WalkNetwork, walkers: list[Walker], stops: list[Stop],
                 seconds: float) -> tuple[int, float]:
    """PyVRP on the same integer walking matrices: distance of its best solution."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    from dispatch.routing.visits import _matrices

    metres, times = _matrices(net, walkers, stops, 4.0)
    service = np.array([0] * len(walkers) + [s.service_s for s in stops])
    travel = times - service[:, None]  # PyVRP adds service durations itself
    np.fill_diagonal(travel, 0)
    model = Model()
    locations = [model.add_location(w.x, w.y) for w in walkers] + [
        model.add_location(s.x, s.y) for s in stops]
    depots = [model.add_depot(locations[i], tw_early=SHIFT[0], tw_late=SHIFT[1])
              for i in range(len(walkers))]
    for depot in depots:
        model.add_vehicle_type(1, start_depot=depot, end_depot=depot, tw_early=SHIFT[0],
                               tw_late=SHIFT[1])
    for i, s in enumerate(stops):
        model.add_client(locations[len(walkers) + i], service_duration=s.service_s)
    for i, a in enumerate(locations):
        for j, b in enumerate(locations):
            if i != j:
                model.add_edge(a, b, distance=int(metres[i, j]), duration=int(travel[i, j]))
    started = time.perf_counter()
    result = model.solve(stop=MaxRuntime(seconds), seed=1, display=False)
    assert result.best.is_feasible(), "PyVRP found no feasible solution"
    return int(result.best.distance()), time.perf_counter() - started


def party_rows(households: int = 5000, n_members: int = 300, seed: int = 1) -> list:
    """The demo plan's grids, in code order, up to ``households``; members live in random
    residential buildings of those grids with capacities drawn from 10 to 30."""
    area = load_study_area(demo_path())
    plan = make_plan(area)
    net = WalkNetwork.from_graph(area.streets)
    grids = plan.grids.sort_values("grid_id")
    grids = grids[grids["households"].cumsum() <= households]
    buildings = plan.buildings[plan.buildings["grid_id"].isin(grids["grid_id"])]
    rng = np.random.default_rng(seed)
    homes = buildings[buildings["households"] > 0].sample(n_members, random_state=seed,
                                                          replace=True)
    members = [PartyMember(i, f"党员{i}", bid, int(rng.integers(10, 31)))
               for i, bid in enumerate(homes["building_id"])]
    started = time.perf_counter()
    assignment, gaps = assign_households(net, buildings, members, grids)
    assigned_s = time.perf_counter() - started
    zones = zone_polygons(buildings, grids, assignment, members)
    total_s = time.perf_counter() - started
    return [[int(buildings["households"].round().sum()), len(members),
             sum(m.capacity for m in members), int(assignment["households"].sum()),
             int(gaps["households"].sum()), round(float(np.average(
                 assignment["walk_m"], weights=assignment["households"])), 1),
             len(zones), round(assigned_s, 2), round(total_s, 2)]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visit-seconds", type=float, default=5.0)
    parser.add_argument("--pyvrp-seconds", type=float, default=60.0)
    parser.add_argument("--skip-pyvrp", action="store_true")
    parser.add_argument("--patrol-only", action="store_true")
    args = parser.parse_args()

    rows = patrol_rows("demo (pyrosm test_pbf)", demo_path())
    if NANJING.exists():
        rows += patrol_rows("Nanjing Xinjiekou", str(NANJING))
    else:
        print(f"skipped Nanjing: {NANJING} not found (../shared/data is absent)")
    print("Street patrol (one per grid or community, base at the node nearest its centre)")
    print(tabulate(rows, headers=["network", "patrol of", "routes", "proven optimal",
                                  "streets km", "routes km", "gap to best bound %",
                                  "gap to postman bound %", "routes within 5% of postman bound %",
                                  "seconds"]))
    if args.patrol_only:
        return 0

    net, walkers, stops = visit_instance()
    ours = plan_visits(net, walkers, stops, seconds=args.visit_seconds)
    rows = [["Wangge (OR-Tools)", args.visit_seconds, ours.distance_m, len(ours.dropped),
             ours.seconds]]
    if not args.skip_pyvrp:
        best, took = pyvrp_visits(net, walkers, stops, args.pyvrp_seconds)
        rows.append(["PyVRP", args.pyvrp_seconds, best, 0, round(took, 1)])
        rows[0].append(f"{100 * (ours.distance_m / best - 1):.2f}")
        rows[1].append("0.00")
    print("\nVisit route: 300 stops, 6 workers, 5 min each, shift 08:00-17:00")
    print(tabulate(rows, headers=["solver", "limit s", "distance m", "dropped", "seconds",
                                  "vs PyVRP %"]))

    print("\nParty members: households of the demo plan's first grids to 300 members")
    print(tabulate(party_rows(), headers=["households", "members", "capacity", "assigned",
                                          "gap (no member)", "mean walk m", "zones",
                                          "assignment s", "with zones s"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
