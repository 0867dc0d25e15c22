"""Matching volunteers to a micro-wish on a real walk network: how long one ranking takes.

    python bench/wishes_bench.py [--volunteers 1000 10000] [--wishes 50] [--seed 0]

The walk network is central Nanjing's (``../shared/data/nanjing_xinjiekou.osm``, 456 nodes in
its largest piece). Volunteers get homes at random network nodes (plus up to 20 m off the
street), 1-3 random skills, a weekday or weekend window for half of them, a grid code for a
third and up to 2 open claims; wishes are random categories at random nodes, wanted on a
Wednesday at 10:00. For each wish we time ``dispatch.community.matching.rank_volunteers``
(snapping, one Dijkstra from the wish, the filters and the sort) and, as a check on the
distances, compare them with networkx's Dijkstra from the same node for the first wish.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime
from pathlib import Path

import networkx as nx
import numpy as np

from dispatch.community.matching import Volunteer, WishRequest, parse_window, rank_volunteers
from dispatch.community.wishes import CATEGORIES, SKILLS
from dispatch.incidents.rules import BEIJING
from dispatch.routing.network import WalkNetwork

NANJING = Path(__file__).resolve().parents[2] / "shared" / "data" / "nanjing_xinjiekou.osm"
WANTED = datetime(2026, 12, 2, 10, 0, tzinfo=BEIJING)


def volunteers(net: WalkNetwork, n: int, rng: np.random.Generator) -> list[Volunteer]:
    """``n`` random volunteers on ``net``."""
    skills = list(SKILLS)
    windows = [(parse_window([1, 2, 3, 4, 5], "08:00", "18:00"),),
               (parse_window([6, 7], "09:00", "17:00"),), ()]
    out = []
    for i in range(n):
        x, y = net.xy(net.nodes[rng.integers(len(net.nodes))])
        out.append(Volunteer(
            i, frozenset(rng.choice(skills, rng.integers(1, 4), replace=False).tolist()),
            x + rng.uniform(-20, 20), y + rng.uniform(-20, 20),
            frozenset({f"G{rng.integers(30)}"}) if rng.random() < 1 / 3 else frozenset(),
            windows[int(rng.integers(3))] if rng.random() < 0.5 else ()))
    return out


def main() -> None:
    """Run the bench and print a table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--volunteers", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--wishes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from gis.study_area import load_study_area

    started = time.perf_counter()
    net = WalkNetwork.from_graph(load_study_area(NANJING).streets)
    print(f"walk network: {len(net.nodes)} nodes, {net.graph.number_of_edges()} edges, "
          f"built in {time.perf_counter() - started:.1f} s")
    rng = np.random.default_rng(args.seed)
    categories = list(CATEGORIES)
    print("| volunteers | wishes | median ms | p95 ms | max ms | eligible (median) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.volunteers:
        people = volunteers(net, n, rng)
        load = {int(i): int(rng.integers(0, 3)) for i in range(n)}
        times, eligible = [], []
        for k in range(args.wishes):
            x, y = net.xy(net.nodes[rng.integers(len(net.nodes))])
            wish = WishRequest(categories[int(rng.integers(len(categories)))], x, y,
                               f"G{rng.integers(30)}", WANTED)
            t0 = time.perf_counter()
            table = rank_volunteers(net, wish, people, load)
            times.append((time.perf_counter() - t0) * 1000)
            eligible.append(int(table["eligible"].sum()))
            if k == 0:
                (src,), off = net.snap([x], [y])
                lengths = nx.single_source_dijkstra_path_length(net.graph, src, weight="length")
                checked = table[table["walk_m"].notna()].head(50)
                by_id = {v.volunteer_id: v for v in people}
                for row in checked.itertuples():
                    v = by_id[row.volunteer_id]
                    (node,), voff = net.snap([v.x], [v.y])
                    expected = lengths[node] + voff[0] + off[0]
                    assert abs(expected - row.walk_m) < 0.11, (expected, row.walk_m)
        times.sort()
        print(f"| {n:,} | {args.wishes} | {statistics.median(times):.1f} | "
              f"{times[int(0.95 * (len(times) - 1))]:.1f} | {times[-1]:.1f} | "
              f"{statistics.median(eligible):.0f} |")


if __name__ == "__main__":
    main()
