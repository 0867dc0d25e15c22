"""Map matching of GPS tracks (dispatch.tracks): accuracy on simulated tracks of real street
patrols, and the time of a day's track.

    python bench/track_bench.py                 # tune on Nanjing, measure on Guixi and Haidian
    python bench/track_bench.py --grids 2 --no-tune   # quicker

Each shared extract (../shared/data) is partitioned (partition.plan.make_plan) and the street
patrol of each of its first ``--grids`` grids with at least 500 m of streets is planned
(dispatch.routing.patrol). A simulated worker walks it, skipping about 20% of it (runs of the
patrol replaced by shortcuts, so that planned streets are missed and unplanned ones walked),
pausing now and then, while a phone logs fixes with the errors of dispatch.tracks.simulate:
Gauss-Markov error of σ per axis (10 s correlation), 1% outliers 50-300 m off, two gaps of
60 s. The track is cleaned and matched as the service does (dispatch.tracks.cleaning,
matching).

Columns: ``correct`` is the share of the planned streets' length classified right (walked or
missed, as the truth has it), with the service's rule on both sides that a street beside a
walked one (a sidewalk or footway within 12 m, dispatch.tracks.compliance.covered_streets)
counts walked; ``worst`` the worst patrol; ``strict`` the same without that rule (each OSM way
on its own); precision / recall of walked streets are length-weighted over all streets;
``outliers`` the share of fixes dropped as outliers or rides, ``stop fixes`` those left out of
matching in stops; ``match CPU s`` the matching's CPU time per track (the machine is shared:
wall time is reported beside it).

Tuning: the matcher's GPS error (``obs_noise_m``) and the thinning distance are chosen on
Nanjing (seed 1, σ 10 m, 5 s); everything is then measured with that choice on Guixi and
Haidian (and on Nanjing with another seed). The day's track: patrols of Nanjing walked one
after the other for 8 hours, a fix a second (28,800 fixes), cleaned and matched.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dispatch.routing.network import WalkNetwork
from dispatch.routing.patrol import grid_streets, patrol_route
from dispatch.tracks.cleaning import THIN_M, clean_track
from dispatch.tracks.compliance import covered_streets
from dispatch.tracks.matching import OBS_NOISE_M, MatchMap, edge_key, match_track
from dispatch.tracks.simulate import Noise, simulate_track, skip_parts, walked_truth

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXTRACTS = {"Nanjing": "nanjing_xinjiekou.osm", "Guixi": "guixi_jiangxi.osm",
            "Haidian": "beijing_xitucheng.osm"}
SETTINGS = [(5, 1), (5, 5), (10, 1), (10, 5), (10, 10), (15, 5), (15, 10)]
TUNE = {"obs_noise_m": (10.0, 15.0, 20.0), "thin_m": (10.0, 15.0)}


def patrols(name: str, grids: int) -> tuple[WalkNetwork, MatchMap, list]:
    from gis.study_area import load_study_area
    from partition.plan import make_plan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        area = load_study_area(DATA / EXTRACTS[name])
        plan = make_plan(area)
    net = WalkNetwork.from_graph(area.streets)
    polygons = plan.grids.to_crs(net.crs)
    out = []
    for polygon in polygons.geometry:
        required = grid_streets(net, polygon)
        if sum(net.graph.edges[e]["length"] for e in required) < 500:
            continue
        c = polygon.representative_point()
        out.append(patrol_route(net, required, (c.x, c.y), exact_seconds=0.2))
        if len(out) >= grids:
            break
    return net, MatchMap.from_network(net), out


def length(net: WalkNetwork, edges) -> float:
    return float(sum(net.graph.edges[e]["length"] for e in edges))


def run_one(net, mmap, route, sigma, interval, seed, obs_noise_m, thin_m) -> dict:
    rng = np.random.default_rng(seed)
    walk = skip_parts(net, route.nodes, 0.2, rng)
    truth = walked_truth(walk)
    track = simulate_track(net, walk, Noise(sigma_m=sigma, interval_s=interval), seed=seed)
    clean = clean_track(track, thin_m=thin_m)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = match_track(mmap, clean.matching[["x", "y"]].to_numpy(),
                         clean.matching["piece"].to_numpy(), obs_noise_m=obs_noise_m)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    every = {edge_key(u, v) for u, v in net.graph.edges()}
    matched = result.walked_edges(net)
    # the service's rule for both sides: a street beside a walked one (sidewalk, footway
    # within 12 m) counts walked (dispatch.tracks.compliance.covered_streets)
    walked = covered_streets(net, matched, every)
    truth = covered_streets(net, truth, every)
    planned = {edge_key(u, v) for u, v in route.required}
    right = length(net, {e for e in planned if (e in truth) == (e in walked)})
    strict = {e for e in planned if (e in walked_truth(walk)) == (e in matched)}
    return {"correct": right / length(net, planned),
            "strict": length(net, strict) / length(net, planned),
            "tp": length(net, walked & truth), "walked": length(net, walked),
            "truth": length(net, truth),
            "outliers": (clean.dropped["outlier"] + clean.dropped["too_fast"]) / len(track),
            "stops": clean.dropped["stop"] / len(track), "fixes": len(track),
            "matched": len(clean.matching), "seconds": seconds, "cpu": cpu}


def summarise(rows: list[dict]) -> dict:
    tp = sum(r["tp"] for r in rows)
    return {"correct": statistics.mean(r["correct"] for r in rows),
            "worst": min(r["correct"] for r in rows),
            "strict": statistics.mean(r["strict"] for r in rows),
            "precision": tp / max(sum(r["walked"] for r in rows), 1e-9),
            "recall": tp / max(sum(r["truth"] for r in rows), 1e-9),
            "outliers": statistics.mean(r["outliers"] for r in rows),
            "stops": statistics.mean(r["stops"] for r in rows),
            "fixes": statistics.mean(r["fixes"] for r in rows),
            "seconds": statistics.mean(r["seconds"] for r in rows),
            "cpu": statistics.mean(r["cpu"] for r in rows)}


def day_track(net, mmap, routes, obs_noise_m, thin_m) -> dict:
    """Patrols one after the other for 8 h at 1 s, cleaned and matched."""
    path = list(routes[0].nodes)
    i = 1
    while net.path_length(path) < 8 * 3600 * 1.25 * 1.1:
        nxt = routes[i % len(routes)].nodes
        path += net.shortest_path(path[-1], nxt[0])[1:] + list(nxt[1:])
        i += 1
    track = simulate_track(net, path, Noise(sigma_m=10, interval_s=1), seed=7)
    track = track[track["t"] < track["t"].iloc[0] + 8 * 3600].reset_index(drop=True)
    t0, c0 = time.perf_counter(), time.process_time()
    clean = clean_track(track, thin_m=thin_m)
    t1, c1 = time.perf_counter(), time.process_time()
    result = match_track(mmap, clean.matching[["x", "y"]].to_numpy(),
                         clean.matching["piece"].to_numpy(), obs_noise_m=obs_noise_m)
    t2, c2 = time.perf_counter(), time.process_time()
    return {"fixes": len(track), "matched": len(clean.matching), "clean_s": t1 - t0,
            "match_s": t2 - t1, "clean_cpu": c1 - c0, "match_cpu": c2 - c1,
            "streets": len(result.walked_m)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=4, help="patrols per extract")
    parser.add_argument("--no-tune", action="store_true",
                        help="skip tuning: the service's obs_noise_m and thin_m")
    args = parser.parse_args()
    if not all((DATA / f).exists() for f in EXTRACTS.values()):
        print(f"shared extracts not found in {DATA}")
        return 1
    loaded = {name: patrols(name, args.grids) for name in EXTRACTS}
    for name, (net, _, routes) in loaded.items():
        print(f"{name}: {net.graph.number_of_edges()} streets, {len(routes)} patrols, "
              f"{statistics.mean(r.length_m for r in routes) / 1000:.1f} km each")
    choice = {"obs_noise_m": OBS_NOISE_M, "thin_m": THIN_M}
    if not args.no_tune:
        net, mmap, routes = loaded["Nanjing"]
        print("\nTuning on Nanjing (seed 1, σ 10 m, 5 s):\n")
        print("| obs_noise_m | thin_m | correct | precision | recall | match CPU s |")
        print("|---:|---:|---:|---:|---:|---:|")
        best = None
        for obs in TUNE["obs_noise_m"]:
            for thin in TUNE["thin_m"]:
                s = summarise([run_one(net, mmap, r, 10, 5, 1, obs, thin) for r in routes])
                print(f"| {obs:g} | {thin:g} | {s['correct']:.3f} | {s['precision']:.3f} | "
                      f"{s['recall']:.3f} | {s['cpu']:.2f} |")
                if best is None or s["correct"] > best[0] + 0.002:
                    best = (s["correct"], obs, thin)
        assert best is not None
        choice = {"obs_noise_m": best[1], "thin_m": best[2]}
        print(f"\nchosen: obs_noise_m {best[1]:g}, thin_m {best[2]:g}")
    print("\nMeasured (seed 2; Nanjing with another seed than the tuning):\n")
    print("| extract | σ m | every s | correct | worst | strict | precision | recall "
          "| outliers | stop fixes | fixes | match CPU s | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (net, mmap, routes) in loaded.items():
        for sigma, interval in SETTINGS:
            s = summarise([run_one(net, mmap, r, sigma, interval, 2, choice["obs_noise_m"],
                                   choice["thin_m"]) for r in routes])
            print(f"| {name} | {sigma} | {interval} | {s['correct']:.3f} | {s['worst']:.3f} | "
                  f"{s['strict']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | "
                  f"{s['outliers']:.1%} | {s['stops']:.1%} | {s['fixes']:.0f} | "
                  f"{s['cpu']:.2f} | {s['seconds']:.2f} |")
    net, mmap, routes = loaded["Nanjing"]
    day = day_track(net, mmap, routes, choice["obs_noise_m"], choice["thin_m"])
    print(f"\nA day's track (Nanjing, 8 h at 1 s, σ 10 m): {day['fixes']} fixes, "
          f"{day['matched']} matched after cleaning and thinning; CPU: cleaning "
          f"{day['clean_cpu']:.2f} s, matching {day['match_cpu']:.2f} s, total "
          f"{day['clean_cpu'] + day['match_cpu']:.2f} s (wall {day['clean_s'] + day['match_s']:.2f}"
          f" s; {day['streets']} streets walked)")
    return 0


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    raise SystemExit(main())
