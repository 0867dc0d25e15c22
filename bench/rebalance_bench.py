"""Re-balancing benchmark, two scenarios.

``compound`` (default input Nanjing): a plan is made without one compound, the compound is
added back, and the plan re-balanced (``make_plan --previous``); prints time, households moved
and grids kept. The compound is the ~60 residential buildings nearest the centre of the
largest community. Time is that of make_plan with --previous on a loaded study area (loading
is printed apart).

``editor``: the plan editor's "re-balance the rest" (partition.edits.rebalance) after an edit
that unbalances a community: the N largest residential grids split in two, each on its own
(the new half is far below the mean, and the community's mean drops), and the N smallest
merged into their lightest neighbour (a grid far above it). For each case: buildings and
households moved, the largest deviation of the free grids (unlocked residential, as
partition.edits.grid_stats measures it) after the edit and after the re-balance, grids still
beyond 15%, and the re-balance's time.

    python bench/rebalance_bench.py compound [--input ../shared/data/nanjing_xinjiekou.osm]
    python bench/rebalance_bench.py editor --synthetic 11 --buildings 400 [--cases 3]
    python bench/rebalance_bench.py editor --input ../shared/data/guixi_jiangxi.osm

Which inputs were tuned on and which held out: bench/partition_results.md, "Re-balance".
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.study_area import StudyArea, load_study_area  # noqa: E402
from partition.edits import (  # noqa: E402
    Edit,
    EditContext,
    EditRuleError,
    PlanState,
    allow_crossings,
    grid_stats,
    merge,
    rebalance,
    split,
    state_of,
)
from partition.metrics import BALANCE_LIMIT  # noqa: E402
from partition.plan import build_territory, make_plan, rule_violations  # noqa: E402
from partition.plan_io import read_plan, write_plan  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def compound(args: argparse.Namespace) -> int:
    """The compound scenario (make_plan --previous)."""
    started = time.perf_counter()
    area = load_study_area(args.input or str(DATA / "nanjing_xinjiekou.osm"))
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


@dataclass
class Case:
    """One editor case's figures."""

    name: str
    moved_buildings: int
    moved_households: int
    worst_edited: float
    worst_after: float
    beyond_after: int
    seconds: float


def _worst(ctx: EditContext, state: PlanState) -> tuple[float, int]:
    """The largest |deviation| (%) of the free grids and how many are beyond the limit."""
    devs = [abs(s.deviation_pct) for s in grid_stats(ctx, state)
            if s.kind == "residential" and not s.locked and s.households > 0]
    return max(devs, default=0.0), sum(d > 100 * BALANCE_LIMIT + 1e-9 for d in devs)


def _edits(ctx: EditContext, state: PlanState, cases: int) -> list[tuple[str, Edit]]:
    """The splits of the ``cases`` largest residential grids and the merges of the
    ``cases`` smallest into their lightest neighbour of the same community."""
    stats = [s for s in grid_stats(ctx, state) if s.kind == "residential"]
    out: list[tuple[str, Edit]] = []
    for s in sorted(stats, key=lambda s: (-s.households, s.code))[:cases]:
        try:
            out.append((f"split {s.code}", split(ctx, state, s.code)))
        except EditRuleError:
            continue
    load = {s.code: s.households for s in stats}
    done = 0
    merged: set[str] = set()
    for s in sorted(stats, key=lambda s: (s.households, s.code)):
        if done == cases:
            break
        if s.code in merged:
            continue
        nbs = sorted({state.grid_of[str(nb)] for b in state.members[s.code]
                      for nb in ctx.graph[b] if str(nb) in state.grid_of} - {s.code},
                     key=lambda g: (load.get(g, 10**9), g))
        for other in nbs:
            if other not in load or state.community[other] != s.community:
                continue
            try:
                out.append((f"merge {s.code} into {other}", merge(ctx, state, other, s.code)))
                merged |= {s.code, other}
                done += 1
                break
            except EditRuleError:
                continue
    return out


def editor(args: argparse.Namespace) -> int:
    """The editor scenario: edits that unbalance, then "re-balance the rest"."""
    area: StudyArea
    if args.input:
        area = load_study_area(args.input, with_walk_graph=False)
        label = Path(args.input).stem
    else:
        from tests.synthetic import write_district_osm

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "district.osm"
            write_district_osm(path, args.buildings, seed=args.synthetic)
            area = load_study_area(path, with_walk_graph=False)
        label = f"synthetic seed {args.synthetic}, {args.buildings} buildings"
    territory = build_territory(area)
    plan = make_plan(area, 300, territory=territory)
    ctx = EditContext.from_territory(territory.graph, territory.buildings, plan.target)
    base = state_of(plan.grids, plan.buildings)
    allow_crossings(ctx, base)
    base.weigh(ctx)
    worst0, beyond0 = _worst(ctx, base)
    print(f"input: {label}; {len(base.members)} grids; plan's free grids max deviation "
          f"{worst0:.2f}% ({beyond0} beyond 15%)")
    results: list[Case] = []
    for name, edit in _edits(ctx, base, args.cases):
        state = base.copy()
        state.apply(edit)
        edited, _ = _worst(ctx, state)
        started = time.perf_counter()
        change = rebalance(ctx, state, seed=0)
        seconds = time.perf_counter() - started
        state.apply(change)
        worst, beyond = _worst(ctx, state)
        results.append(Case(name, len(change.changes),
                            sum(ctx.households(b) for b, _, _ in change.changes),
                            edited, worst, beyond, seconds))
    print("| case | buildings moved | households moved | max dev after edit % | "
          "max dev after re-balance % | beyond 15% | seconds |")
    print("|:--|--:|--:|--:|--:|--:|--:|")
    for c in results:
        print(f"| {c.name} | {c.moved_buildings} | {c.moved_households} | "
              f"{c.worst_edited:.2f} | {c.worst_after:.2f} | {c.beyond_after} | "
              f"{c.seconds:.2f} |")
    if results:
        _summary(results, lambda c: c.worst_after)
    return 0


def _summary(results: list[Case], worst: Callable[[Case], float]) -> None:
    print(f"cases {len(results)}; within 15% after: "
          f"{sum(c.beyond_after == 0 for c in results)}; max dev after re-balance: median "
          f"{statistics.median(worst(c) for c in results):.2f}%, max "
          f"{max(worst(c) for c in results):.2f}%; households moved: median "
          f"{statistics.median(c.moved_households for c in results):.0f}, total "
          f"{sum(c.moved_households for c in results)}; buildings moved total "
          f"{sum(c.moved_buildings for c in results)}; seconds: median "
          f"{statistics.median(c.seconds for c in results):.2f}, max "
          f"{max(c.seconds for c in results):.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="scenario")
    comp = sub.add_parser("compound", help="a compound added back, make_plan --previous")
    comp.add_argument("--input", default=None)
    comp.add_argument("--compound", type=int, default=60, help="buildings in the compound")
    ed = sub.add_parser("editor", help="split / merge in the editor, then re-balance")
    ed.add_argument("--input", default=None, help="an OSM file (default: synthetic)")
    ed.add_argument("--synthetic", type=int, default=11, help="synthetic district seed")
    ed.add_argument("--buildings", type=int, default=400)
    ed.add_argument("--cases", type=int, default=3, help="splits and merges each")
    args = parser.parse_args()
    if args.scenario == "editor":
        return editor(args)
    if args.scenario is None:
        args = comp.parse_args([])
    return compound(args)


if __name__ == "__main__":
    sys.exit(main())
