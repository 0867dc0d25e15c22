"""Partition benchmark: Wangge side by side with METIS (pymetis) and PySAL spopt (max-p).

    python bench/partition_bench.py              # Nanjing, demo, synthetic 10k
    python bench/partition_bench.py --full       # ... and synthetic 100k (about 15 minutes)

Wangge runs as the command line does (``wangge partition --json``, in a subprocess, so its time
and peak memory are its own; it divides communities in one process per core, METIS and max-p
run in one). The peers partition the same building adjacency graph (cells of
one region that touch; vertex weight = households), community by community, into as many grids
as Wangge made there (METIS), or into regions of at least 0.9 x target households (max-p,
3 construction and 1 annealing iterations: its defaults take hours here);
then every plan is measured by the same code (partition.metrics). Ratios are peer / Wangge.
Needs: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import networkx as nx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.study_area import load_study_area  # noqa: E402
from partition.divide import assign_grids  # noqa: E402
from partition.metrics import DEFAULT_TARGET  # noqa: E402
from partition.plan import build_territory, plan_from_labels  # noqa: E402

NANJING = ROOT.parent / "shared" / "data" / "nanjing_xinjiekou.osm"
COLUMNS = ["grids", "max_deviation_free_pct", "mean_deviation_free_pct",
           "deviation_lower_bound_pct", "mean_deviation_pct", "mean_deviation_lower_bound_pct",
           "non_contiguous", "barrier_violations",
           "community_violations", "hull_overlap_pct", "mean_polsby_popper",
           "street_boundary_share"]


def inputs(full: bool, cache: Path) -> list[tuple[str, Path]]:
    import pyrosm

    from tests.synthetic import write_district_osm

    out = []
    if NANJING.exists():
        out.append(("nanjing", NANJING))
    else:
        print(f"skipping Nanjing: {NANJING} not found (../shared absent)")
    out.append(("demo (pyrosm test_pbf)", Path(pyrosm.get_data("test_pbf"))))
    for n in (10_000, 100_000) if full else (10_000,):
        path = cache / f"synthetic_{n}.osm"
        if not path.exists():
            write_district_osm(path, n, seed=1)
        out.append((f"synthetic {n // 1000}k", path))
    return out


def run_wangge(path: Path, target: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["wangge", "partition", str(path), "--target-households", str(target),
               "--out", str(Path(tmp) / "plan.gpkg"), "--json"]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"wangge partition failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def metis_labels(graph: nx.Graph, buildings: pd.DataFrame, counts: dict) -> pd.Series:
    """METIS k-way partition of each community's building graph, k = Wangge's grid count."""
    import pymetis

    labels = {}
    for community, members in buildings.groupby("community").groups.items():
        nodes = list(members)
        k = counts.get(community, 1)
        if k <= 1 or len(nodes) <= k:
            labels.update({n: f"{community}/0" for n in nodes})
            continue
        index = {n: i for i, n in enumerate(nodes)}
        adjacency = [[index[m] for m in graph[n] if m in index] for n in nodes]
        weights = [int(graph.nodes[n]["households"]) for n in nodes]
        _, parts = pymetis.part_graph(k, adjacency=adjacency, vweights=weights)
        labels.update({n: f"{community}/{p}" for n, p in zip(nodes, parts, strict=True)})
    return pd.Series(labels)


def maxp_labels(graph: nx.Graph, buildings: pd.DataFrame, threshold: float) -> pd.Series:
    """spopt max-p regions (each >= threshold households) per connected group of buildings."""
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    labels = {}
    for community, members in buildings.groupby("community").groups.items():
        for i, comp in enumerate(nx.connected_components(graph.subgraph(members))):
            nodes = sorted(comp, key=str)
            total = buildings.loc[nodes, "households"].sum()
            if len(nodes) < 3 or total < 2 * threshold:
                labels.update({n: f"{community}/{i}" for n in nodes})
                continue
            sub = buildings.loc[nodes, ["households", "geometry"]].reset_index(drop=True)
            index = {n: j for j, n in enumerate(nodes)}
            w = W({index[n]: [index[m] for m in graph[n] if m in index] for n in nodes},
                  silence_warnings=True)
            sub["hh"] = sub["households"].astype(float)
            model = MaxPHeuristic(sub, w, ["hh"], "hh", threshold, top_n=2,
                                  max_iterations_construction=3, max_iterations_sa=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.solve()
            labels.update({n: f"{community}/{i}/{lab}"
                           for n, lab in zip(nodes, model.labels_, strict=True)})
    return pd.Series(labels)


def measure_peers(path: Path, target: int, maxp_limit: int) -> dict[str, dict]:
    area = load_study_area(path)
    territory = build_territory(area, workers=os.cpu_count() or 1)
    graph, buildings = territory.graph, territory.buildings
    # Wangge's labels give the same bounds (grid sizes the buildings allow) to every method.
    division = assign_grids(graph, buildings, target, workers=os.cpu_count() or 1)
    ours, bounds = division.labels, division.bounds
    counts = ours.groupby(buildings["community"]).nunique().to_dict()
    out = {}
    started = time.perf_counter()
    labels = metis_labels(graph, buildings, counts)
    seconds = time.perf_counter() - started
    out["METIS"] = dict(plan_from_labels(area, territory, labels, target, bounds).summary,
                        seconds=round(seconds, 2))
    largest = max(len(c) for c in nx.connected_components(graph))
    if largest > maxp_limit:
        print(f"  spopt max-p not run: a group of {largest} buildings (> --maxp-limit "
              f"{maxp_limit}; its time grows ~n^2.7, 36 s for 600 here)")
    else:
        started = time.perf_counter()
        labels = maxp_labels(graph, buildings, 0.9 * target)
        seconds = time.perf_counter() - started
        out["spopt max-p"] = dict(plan_from_labels(area, territory, labels, target,
                                                   bounds).summary, seconds=round(seconds, 2))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also the 100k-building district")
    parser.add_argument("--target", type=int, default=DEFAULT_TARGET)
    parser.add_argument("--maxp-limit", type=int, default=800,
                        help="run spopt max-p only where no connected group of buildings is "
                        "larger than this")
    parser.add_argument("--cache", default=str(ROOT / "bench" / ".cache"))
    parser.add_argument("--out", help="also write the table (Markdown) here")
    args = parser.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, path in inputs(args.full, cache):
        print(f"== {name}", flush=True)
        ours = run_wangge(path, args.target)
        rows.append({"input": name, "method": "Wangge", **ours})
        _report(rows[-1])
        peers = measure_peers(path, args.target, args.maxp_limit)
        for method, summary in peers.items():
            rows.append({"input": name, "method": method, **summary})
            _report(rows[-1])
    table = pd.DataFrame(rows)
    cols = ["input", "method", *COLUMNS, "seconds", "peak_memory_mb"]
    table = table[[c for c in cols if c in table.columns]]
    for col in ("hull_overlap_pct", "max_deviation_free_pct", "mean_deviation_free_pct"):
        ours = table[table["method"] == "Wangge"].set_index("input")[col]
        table[f"{col}_ratio"] = (table[col] / table["input"].map(ours)).round(2)
    text = table.to_markdown(index=False) if _has_tabulate() else table.to_string(index=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


def _report(row: dict) -> None:
    """One line per method as it is measured (the table comes at the end)."""
    print("  " + ", ".join(f"{k}={row[k]}" for k in ("method", *COLUMNS, "seconds")
                           if k in row), flush=True)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
