"""Re-balancing benchmark: a plan is made without one compound, the compound is added back,
and the plan re-balanced; prints time, households moved and grids kept.

    python bench/rebalance_bench.py [--input ../shared/data/nanjing_xinjiekou.osm]

The compound is the ~60 residential buildings nearest the centre of the largest community.
Time is that of make_plan with --previous on a loaded study area (loading is printed apart).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.study_area import load_study_area  # noqa: E402
from partition.plan import build_territory, make_plan, rule_violations  # noqa: E402
from partition.plan_io import read_plan, write_plan  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT.parent / "shared" / "data" /
                                               "nanjing_xinjiekou.osm"))
    parser.add_argument("--compound", type=int, default=60, help="buildings in the compound")
    args = parser.parse_args()
    started = time.perf_counter()
    area = load_study_area(args.input)
    load_s = time.perf_counter() - started
    b = area.buildings
    largest = b.groupby("community")["households"].sum().idxmax()
    resid = b[b["residential"] & (b["community"] == largest)]
    centre = resid.geometry.representative_point().union_all().centroid
    compound = resid.geometry.distance(centre).nsmallest(args.compound).index
    before = replace(area, buildings=b.drop(compound))
    old = make_plan(before)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "old.gpkg"
        write_plan(old, path)
        previous = read_plan(path)
    started = time.perf_counter()
    new = make_plan(area, previous=previous)
    total_s = time.perf_counter() - started
    territory = build_territory(area)
    started = time.perf_counter()
    make_plan(area, previous=previous, territory=territory)
    assign_s = time.perf_counter() - started
    s = new.summary
    grids_in = int((old.grids["community"] == largest).sum())
    print(f"input: {args.input}; community {largest} with {grids_in} grids before")
    print(f"compound added: {args.compound} buildings, "
          f"{int(b.loc[compound, 'households'].sum())} households")
    print(f"load {load_s:.1f} s; re-balance {total_s:.2f} s (of which tessellation and graph "
          f"{total_s - assign_s:.2f} s, partition and metrics {assign_s:.2f} s)")
    print(f"households moved {s['households_moved']} of {s['households']} "
          f"({100 * s['households_moved'] / s['households']:.1f}%), buildings moved "
          f"{s['buildings_moved']}; grids kept {s['grids_kept']}, new {s['grids_new']}, "
          f"gone {s['grids_gone']}; free grids max deviation {s['max_deviation_free_pct']}%")
    print(f"hard-rule violations: {rule_violations(new)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
