"""Facility siting (dispatch.facilities.siting): the exact solvers against brute force on small
instances, and a district of 10,000 buildings with 2,000 candidate sites.

    python bench/facility_bench.py            # both parts (about 5 minutes on 2 cores)
    python bench/facility_bench.py --small    # the brute-force part only (about 30 s)

Part 1, optimality: 12 candidates (220 sets of 3) or 16 (1,820 sets of 4); random spatial
instances (homes uniform or in clusters, seeds 0-4) and the real extracts of central Nanjing
and Xitucheng, Beijing (12 or 16 street nodes spread over the area, homes weighted by
households, walks on the street network). Each row: the brute-force optimum, what CBC, SCIP
and CP-SAT find, and their times.

Part 2, a district: the synthetic district of 10,000 buildings (tests.synthetic, seed 3),
2,000 street nodes as candidates, existing facilities from its OSM amenities (activity rooms
and clinics; none of the other types). Each row: the type and walk, k, the coverage matrix
time, the model after reduction (candidates kept, home groups), the solver's time, status
and gap at the API's 10 s limit and, when not proven there, at 120 s; households served
before, after and by the greedy baseline; households out of reach of every candidate (their
building is farther than the walk from any street node: compounds whose inner lanes are not
mapped).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dispatch.facilities import siting
from dispatch.facilities.coverage import facility_coverage, homes, snap_points

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def random_problem(seed: int, n_cand: int, clustered: bool) -> siting.CoverProblem:
    """Candidates and 300 homes in a 1 km square (homes around 6 centres when clustered),
    straight-line cover within a radius of 150-350 m, 1-80 households a home."""
    rng = np.random.default_rng(seed)
    cand = rng.uniform(0, 1000, (n_cand, 2))
    if clustered:
        centres = rng.uniform(100, 900, (6, 2))
        dem = centres[rng.integers(0, 6, 300)] + rng.normal(0, 80, (300, 2))
    else:
        dem = rng.uniform(0, 1000, (300, 2))
    dist = np.hypot(*(cand[:, None, :] - dem[None, :, :]).transpose(2, 0, 1))
    return siting.CoverProblem(csr_matrix(dist <= rng.uniform(150, 350)),
                               rng.integers(1, 80, 300).astype(np.int64))


def real_problem(path: Path, n_cand: int, distance: float) -> siting.CoverProblem:
    from dispatch.routing.network import WalkNetwork
    from gis.study_area import load_study_area

    area = load_study_area(path)
    net = WalkNetwork.from_graph(area.streets)
    home = homes(area.buildings)
    cands = siting.street_candidates(net, n_cand)
    cover = siting.coverage_matrix(net, cands.snapped, snap_points(net, home), distance)
    return siting.CoverProblem(
        cover, np.rint(home["households"].to_numpy(dtype=float)).astype(np.int64))


def small_part() -> list[str]:
    rows = ["| instance | candidates | homes | k | brute force | CBC | SCIP | CP-SAT | "
            "all equal | brute s | CBC s | SCIP s | CP-SAT s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    cases: list[tuple[str, siting.CoverProblem, int]] = []
    for seed in range(5):
        for clustered in (False, True):
            shape = "clustered" if clustered else "uniform"
            cases.append((f"random {shape} seed {seed}",
                          random_problem(seed, 12, clustered), 3))
    cases.append(("random uniform seed 9, 16 cand.", random_problem(9, 16, False), 4))
    for name, n, d in (("nanjing_xinjiekou", 12, 300.0), ("nanjing_xinjiekou", 16, 500.0),
                       ("beijing_xitucheng", 12, 300.0), ("beijing_xitucheng", 16, 500.0)):
        path = SHARED / f"{name}.osm"
        if not path.exists():
            print(f"skipped {name}: {path} not found", file=sys.stderr)
            continue
        cases.append((f"{name} {d:g} m", real_problem(path, n, d), 3 if n == 12 else 4))
    mismatches = 0
    for label, problem, k in cases:
        (best, _), t_brute = _timed(lambda p=problem, k=k: siting.brute_force(p, k))
        cbc = siting.solve_mip(problem, k, backend="CBC")
        scip = siting.solve_mip(problem, k, backend="SCIP")
        cpsat = siting.solve_cp_sat(problem, k, time_limit_s=60)
        equal = cbc.value == scip.value == cpsat.value == best and \
            cbc.status == scip.status == cpsat.status == "OPTIMAL"
        mismatches += not equal
        rows.append(f"| {label} | {problem.cover.shape[0]} | {problem.cover.shape[1]} | {k} | "
                    f"{best} | {cbc.value} | {scip.value} | {cpsat.value} | "
                    f"{'yes' if equal else 'NO'} | {t_brute:.3f} | {cbc.seconds:.3f} | "
                    f"{scip.seconds:.3f} | {cpsat.seconds:.3f} |")
    rows.append("")
    rows.append(f"{len(cases) - mismatches} of {len(cases)} instances: every solver proved the "
                f"brute-force optimum.")
    return rows


DISTRICT_CASES = (("garbage_point", 100.0, 100), ("canteen", 300.0, 20),
                  ("service_station", 300.0, 50), ("activity_room", 500.0, 20),
                  ("clinic", 1000.0, 5), ("clinic", 1000.0, 5, "none"),
                  ("clinic", 1000.0, 20, "none"))


def district_part(buildings: int) -> list[str]:
    import geopandas as gpd

    from dispatch.facilities.reading import read_facilities
    from dispatch.routing.network import WalkNetwork
    from gis.study_area import load_study_area
    from tests.synthetic import write_district_osm

    tmp = Path(tempfile.mkdtemp())
    path = tmp / "district.osm"
    write_district_osm(path, buildings, seed=3)
    (area, net), t_load = _timed(lambda: (lambda a: (a, WalkNetwork.from_graph(a.streets)))(
        load_study_area(path)))
    existing_all = read_facilities(path)
    home = homes(area.buildings)
    cands, t_cand = _timed(lambda: siting.street_candidates(net, 2000))
    _, t_cov = _timed(lambda: facility_coverage(net, area.buildings, existing_all))
    head = [f"District: {len(area.buildings):,} buildings, {len(home):,} homes, "
            f"{int(home['households'].sum()):,} households; walk network {len(net.nodes):,} "
            f"nodes; {len(cands):,} candidate street nodes (thinned in {t_cand:.2f} s); "
            f"existing facilities from its OSM: "
            f"{existing_all['type'].value_counts().to_dict()}; loading took {t_load:.1f} s.",
            "",
            f"Coverage of all five types (one multi-source Dijkstra each): {t_cov:.2f} s.",
            "",
            "| type | walk m | k | existing | cover matrix s | candidates kept | home groups | "
            "solver s (10 s limit) | status | gap | solver s (120 s limit) | status | "
            "served before | served after | greedy after | out of reach | total s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = head
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    for case in DISTRICT_CASES:
        kind, distance, k = case[:3]
        existing = empty if len(case) > 3 else existing_all[existing_all["type"] == kind]
        fast = siting.site_facilities(net, area.buildings, existing, cands, k, distance,
                                      time_limit_s=10)
        slow_cols = "| – | – "
        best = fast
        if fast.status != "OPTIMAL":
            best = siting.site_facilities(net, area.buildings, existing, cands, k, distance,
                                          time_limit_s=120)
            slow_cols = f"| {best.solve_seconds:.1f} | {best.status} (gap {best.gap:.2%}) "
        total = fast.households
        rows.append(
            f"| {kind} | {distance:g} | {k} | {len(existing)} | "
            f"{fast.stats['coverage_seconds']:.2f} | {fast.stats['candidates_kept']} | "
            f"{fast.stats['demand_groups']} | {fast.solve_seconds:.2f} | {fast.status} | "
            f"{fast.gap:.2%} {slow_cols}| {fast.covered_before / total:.1%} | "
            f"{best.covered_after / total:.1%} ({best.covered_after:,}) | "
            f"{fast.greedy_covered_after / total:.1%} ({fast.greedy_covered_after:,}) | "
            f"{fast.stats['households_unreachable'] / total:.1%} | {fast.seconds:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the brute-force part only")
    parser.add_argument("--buildings", type=int, default=10_000)
    args = parser.parse_args()
    out = ["## Optimality on small instances", "", *small_part()]
    print("\n".join(out), flush=True)
    if not args.small:
        district = ["", f"## District of {args.buildings:,} buildings, 2,000 candidate sites",
                    "", *district_part(args.buildings)]
        print("\n".join(district))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
