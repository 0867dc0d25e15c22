"""Plan editor benchmark (issue #16): edit latency on the service, and the editor page's open
time in headless Chromium; prints a table (results kept in bench/editor_results.md).

    python bench/editor_bench.py                 # latency on two districts, page at 10,000
    python bench/editor_bench.py --quick         # smaller: a quick look, not the figures

Latency: a synthetic district (tests.synthetic) whose buildings all lie in ONE community
(a community polygon around the whole district), partitioned with the target set so that the
community has about ``--grids`` grids, served by uvicorn on loopback; a draft copied from the
plan is edited over HTTP by a seeded mix of moves of 1-3 border buildings to a neighbouring
grid (legal ones, and illegal ones refused by the rules), undo, redo, lock/unlock and
split + merge, each request timed from send to answer (httpx, one client, no think time).
The first open of the draft (its editor page, then its state, as a browser does: they wait
for the draft's preparation, which reads the dataset's adjacency and cells from the pickle
the partition wrote and makes the page) is timed apart. Two districts:
seed 1 was used while tuning, seed 2 is the measurement nobody tuned for.

Page: a 10,000-building district (its own communities), the editor page of a draft opened in
headless Chromium (/usr/bin/chromium, the tests' driver), timed from navigation to the
editor's first state drawn (``data-wg-editor-ready``); first (a fresh service, the draft
just made: its ground, footprints and page are made or read meanwhile) and warm (as every
later open), three warm runs. ``--page-seed`` picks another district (3 was tuned on).
``--first-opens N`` then opens N more drafts for the first time, each on a fresh service (a
new app on the same data folder) in a fresh browser, for more than one sample of it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import httpx  # noqa: E402
import shapely  # noqa: E402

from api.app import create_app  # noqa: E402
from api.auth import issue_token  # noqa: E402
from api.services.datasets import add_dataset  # noqa: E402
from api.services.plans import make_active_plan  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.store.models import PlanRow  # noqa: E402
from gis.study_area import load_study_area  # noqa: E402
from maps import ensure_assets  # noqa: E402
from tests.synthetic import write_district_osm  # noqa: E402


def _server(app):
    from tests.api.test_service_maps_browser import LoopbackServer

    return LoopbackServer(app)


def one_community(osm: Path, out: Path) -> None:
    """A community polygon (GeoJSON) around every building of ``osm``."""
    area = load_study_area(osm, with_walk_graph=False)
    hull = shapely.union_all(area.buildings.to_crs(area.crs).geometry.values).envelope.buffer(
        200)
    gpd.GeoDataFrame({"code": ["320106999001"], "name": ["基准社区 bench community"]},
                     geometry=[hull], crs=area.crs).to_crs("EPSG:4326").to_file(
        out, driver="GeoJSON")


def serve(folder: Path, osm: Path, target: int, communities: Path | None = None):
    settings = Settings(data_dir=folder, map_assets_dir=ensure_assets())
    app = create_app(settings, start_jobs=True)
    server = _server(app)
    db = app.state.db
    with db.writing() as s:
        _, secret = issue_token(s, "planner", "bench")
    headers = {"Authorization": f"Bearer {secret}"}
    options = {"communities": str(communities)} if communities else {}
    dataset = add_dataset(db, settings, osm, name=osm.stem, **options)
    started = time.perf_counter()
    plan = make_active_plan(db, settings, dataset, target_households=target)
    plan_s = time.perf_counter() - started
    r = httpx.post(f"{server.origin}/plans/{plan}/draft", headers=headers, timeout=60)
    r.raise_for_status()
    return app, server, headers, r.json()["id"], plan_s


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def latency(seed: int, buildings: int, grids: int, edits_n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        osm = folder / f"district-{seed}.osm"
        write_district_osm(osm, buildings, seed=seed)
        comm = folder / "community.geojson"
        one_community(osm, comm)
        area = load_study_area(osm, communities=comm, with_walk_graph=False)
        households = int(area.buildings["households"].sum())
        target = max(50, round(households / grids))
        app, server, headers, draft, plan_s = serve(folder / "data", osm, target, comm)
        try:
            return _edits(app, server, headers, draft, seed, edits_n) | {
                "seed": seed, "buildings": buildings, "households": households,
                "target": target, "plan_s": plan_s}
        finally:
            server.close()


def _edits(app, server, headers, draft: int, seed: int, n: int) -> dict:
    api = f"{server.origin}/plans/{draft}/editor"
    client = httpx.Client(headers=headers, timeout=120)
    started = time.perf_counter()
    # as a street office does: the editor page, then its state (both wait for what the
    # draft's preparation is making; edits timed meanwhile would share the CPU with it)
    client.get(f"{server.origin}/maps/editor?plan={draft}").raise_for_status()
    st = client.get(api).json()
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    client.get(api).json()
    state_s = time.perf_counter() - started
    cache = app.state.editor_cache
    ground = next(iter(cache.grounds.values()))
    graph = ground.ctx.graph
    rng = random.Random(seed)
    version = st["version"]
    times: dict[str, list[float]] = {}
    service: list[float] = []
    cpu: list[float] = []
    refused = 0
    communities = {g["community"] for g in st["grids"]}
    for i in range(n):
        state = cache.plans[draft].state
        roll = rng.random()
        if i % 10 == 9:
            kind, body = "undo", {}
        elif i % 10 == 0 and i:
            kind, body = "redo", {}
        elif roll < 0.06:
            code = rng.choice(sorted(state.members))
            kind, body = "edits", {"kind": "lock" if code not in state.locked else "unlock",
                                   "grids": [code]}
        elif roll < 0.10:
            code = max((g for g in state.members if state.kind.get(g) == "residential"
                        and g not in state.locked), key=lambda g: len(state.members[g]))
            kind, body = "edits", {"kind": "split", "grid": code}
        else:
            b = rng.choice(sorted(state.grid_of))
            src = state.grid_of[b]
            near = [state.grid_of[nb] for nb in graph[b] if state.grid_of.get(nb, src) != src]
            if not near:
                continue
            same = [c for c in graph[b] if state.grid_of.get(c) == src]
            chosen = [b, *same[:rng.randint(0, 2)]]
            kind, body = "edits", {"kind": "move", "buildings": chosen,
                                   "grid": rng.choice(near)}
        body["version"] = version
        path = "/edits" if kind == "edits" else f"/{kind}"
        t0 = time.perf_counter()
        r = client.post(api + path, json=body)
        ms = (time.perf_counter() - t0) * 1000
        timing = dict(part.split(";dur=") for part in
                      r.headers.get("server-timing", "").replace(" ", "").split(",") if part)
        service.append(float(timing.get("edit", "nan")))
        cpu.append(float(timing.get("cpu", "nan")))
        label = body.get("kind", kind)
        if r.status_code == 200:
            version = r.json()["version"]
            if label == "split":  # merge it back at once (timed as merge)
                created = r.json()["created"][0]
                t0 = time.perf_counter()
                r2 = client.post(api + "/edits", json={"version": version, "kind": "merge",
                                                      "grid": body["grid"], "other": created})
                times.setdefault("merge", []).append((time.perf_counter() - t0) * 1000)
                if r2.status_code == 200:
                    version = r2.json()["version"]
        elif r.status_code == 422:
            refused += 1
            label = "refused"
        elif r.status_code == 409:
            label = "nothing to " + kind if kind in ("undo", "redo") else "conflict"
        else:
            raise RuntimeError(f"{r.status_code} {r.text}")
        times.setdefault(label, []).append(ms)
    allv = [v for vs in times.values() for v in vs]
    grids_in = len(cache.plans[draft].state.members)
    return {"first_state_s": first_s, "state_ms": state_s * 1000, "times": times,
            "all": allv, "service": [v for v in service if v == v],
            "cpu": [v for v in cpu if v == v], "refused": refused, "grids": grids_in,
            "communities": len(communities), "load": os.getloadavg()}


# Where the time goes: the page's HTML arrives (responseEnd), the map's frame is drawn
# (Leaflet, the page's scripts run: wgReadyMs), the editor's requests (state, grid
# polygons, footprints: their start and end), the editor drawn (wgEditorReadyMs) and the
# basemap drawn after it (wgBasemapMs); ms from navigation.
BREAKDOWN_JS = """(() => {
  const t = performance.timing, m = document.querySelector('.folium-map');
  const r = performance.getEntriesByType('resource');
  const find = part => r.find(e => e.name.includes(part)) || {};
  const st = r.find(e => e.name.endsWith('/editor')) || {};
  const gr = find('/grids'), fp = find('/footprints');
  return {html_ms: t.responseEnd - t.navigationStart, frame_ms: Number(m.dataset.wgReadyMs),
          state_start: st.startTime, state_end: st.responseEnd,
          grids_start: gr.startTime, grids_end: gr.responseEnd,
          footprints_start: fp.startTime, footprints_end: fp.responseEnd,
          basemap_ms: Number(m.dataset.wgBasemapMs || NaN)};
})()"""


READY_JS = ("(() => { const m = document.querySelector('.folium-map');"
            " return m && m.dataset.wgEditorReady ? Number(m.dataset.wgEditorReadyMs) : null; })()")


def _wait_ready(browser, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = browser.evaluate(READY_JS)
        if ready is not None:
            return float(ready)
        time.sleep(0.02)
    raise RuntimeError(f"editor page not ready; errors {browser.errors}")


def first_opens(data: Path, plan: int, n: int) -> list[dict]:
    """``n`` first opens: each on a fresh service (a new app on the district's data folder:
    nothing in memory) and a fresh browser (nothing cached), of a draft of ``plan`` made
    just before the page is asked for (its preparation runs meanwhile)."""
    from tests.maps.test_maps_browser import Chromium

    out = []
    for _ in range(n):
        settings = Settings(data_dir=data, map_assets_dir=ensure_assets())
        app = create_app(settings, start_jobs=False)
        server = _server(app)
        try:
            with app.state.db.writing() as s:
                _, secret = issue_token(s, "planner", "bench")
            headers = {"Authorization": f"Bearer {secret}"}
            browser = Chromium(server.origin)
            try:
                browser.call("Network.enable")
                browser.call("Network.setExtraHTTPHeaders", headers=headers)
                r = httpx.post(f"{server.origin}/plans/{plan}/draft", headers=headers,
                               timeout=60)
                r.raise_for_status()
                browser.call("Page.navigate",
                             url=f"{server.origin}/maps/editor?plan={r.json()['id']}")
                ready = _wait_ready(browser)
                out.append({"ready_ms": ready, **browser.evaluate(BREAKDOWN_JS),
                            "load": os.getloadavg()[0]})
            finally:
                browser.close()
        finally:
            server.close()
        time.sleep(1)
    return out


def page(buildings: int, seed: int, runs: int, fresh: int = 0) -> dict:
    from tests.maps.test_maps_browser import Chromium

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        osm = folder / "district.osm"
        write_district_osm(osm, buildings, seed=seed)
        app, server, headers, draft, plan_s = serve(folder / "data", osm, 300)
        browser = Chromium(server.origin)
        try:
            browser.call("Network.enable")
            browser.call("Network.setExtraHTTPHeaders", headers=headers)
            url = f"{server.origin}/maps/editor?plan={draft}"
            out = []
            for _ in range(runs + 1):
                browser.call("Page.navigate", url="about:blank")
                t0 = time.perf_counter()
                browser.call("Page.navigate", url=url)
                ready = _wait_ready(browser)
                wall = (time.perf_counter() - t0) * 1000
                parts = browser.evaluate(BREAKDOWN_JS)
                if parts.get("basemap_ms") is None:  # drawn a moment after the editor
                    time.sleep(0.5)
                    parts = browser.evaluate(BREAKDOWN_JS)
                out.append({"ready_ms": ready, "wall_ms": wall, **parts,
                            "load": os.getloadavg()[0]})
            size = len(httpx.get(url, headers=headers, timeout=120).content)
            footprints_size = len(httpx.get(
                f"{server.origin}/plans/{draft}/editor/footprints", headers=headers,
                timeout=120).content)
            errors = list(browser.errors)
        finally:
            browser.close()
            server.close()
        with app.state.db.read_session() as s:
            plan = s.get_one(PlanRow, draft).previous_plan_id
        fresh_runs = first_opens(folder / "data", plan, fresh) if fresh else []
    return {"buildings": buildings, "seed": seed, "runs": out, "html_bytes": size,
            "footprints_bytes": footprints_size, "plan_s": plan_s, "errors": errors,
            "first_opens": fresh_runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--grids", type=int, default=100)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--page-only", action="store_true", help="only the page's open time")
    parser.add_argument("--page-buildings", type=int, default=None)
    parser.add_argument("--page-seed", type=int, default=3,
                        help="the page's district (3: the one tuned on)")
    parser.add_argument("--first-opens", type=int, default=0,
                        help="then as many first opens, each on a fresh service and browser")
    args = parser.parse_args()
    n_build, n_edits, page_n = (900, 60, 2000) if args.quick else (3000, args.edits, 10_000)
    page_n = args.page_buildings or page_n
    results: dict = {"latency": [], "page": None}
    for seed, role in () if args.page_only else ((1, "tuned on"), (2, "measured")):
        res = latency(seed, n_build, args.grids if not args.quick else 30, n_edits)
        res["role"] = role
        results["latency"].append(res)
    results["page"] = page(page_n, args.page_seed, 3, args.first_opens)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0


def print_table(results: dict) -> None:
    if results["latency"]:
        print_latency(results)
    print_page(results)


def print_latency(results: dict) -> None:
    print("\n## Edit latency on the service (ms)\n")
    print("HTTP: round trip on loopback as the client sees it; service: the request's time "
          "in the service (Server-Timing edit); CPU: the service thread's CPU time for it "
          "(Server-Timing cpu). Load: the machine's 1-minute load average at the end.\n")
    print("| district | buildings | households | grids (one community) | edits | refused "
          "| HTTP p50 | HTTP p95 | service p50 | service p95 | CPU p50 | CPU p95 | load "
          "| first open (page + state) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results["latency"]:
        a, sv, cp = r["all"], r["service"], r["cpu"]
        print(f"| seed {r['seed']} ({r['role']}) | {r['buildings']} | {r['households']} | "
              f"{r['grids']} | {len(a)} | {r['refused']} | {statistics.median(a):.1f} | "
              f"{pct(a, 95):.1f} | {statistics.median(sv):.1f} | {pct(sv, 95):.1f} | "
              f"{statistics.median(cp):.1f} | {pct(cp, 95):.1f} | {r['load'][0]:.1f} | "
              f"{r['first_state_s']:.1f} s |")
    print("\n| district | kind | n | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for r in results["latency"]:
        for kind, vs in sorted(r["times"].items()):
            print(f"| seed {r['seed']} | {kind} | {len(vs)} | {statistics.median(vs):.1f} | "
                  f"{pct(vs, 95):.1f} |")


def print_page(results: dict) -> None:
    p = results["page"]
    print(f"\n## Editor page, {p['buildings']} buildings (district seed {p['seed']}), "
          f"headless Chromium (page {p['html_bytes'] / 1e6:.2f} MB, footprints "
          f"{p['footprints_bytes'] / 1e6:.2f} MB)\n")
    print("| open | ready (ms from navigation) | wall clock (ms) | HTML received | map frame "
          "drawn | state request | grids request | footprints request | basemap drawn "
          "| load |")
    print("|---|---|---|---|---|---|---|---|---|---|")

    def span(run: dict, name: str) -> str:
        start, end = run.get(f"{name}_start"), run.get(f"{name}_end")
        return f"{start:.0f}-{end:.0f}" if start is not None and end is not None else "-"

    for i, run in enumerate(p["runs"]):
        label = "first (fresh service, draft just made)" if i == 0 else f"warm {i}"
        basemap = run.get("basemap_ms")
        print(f"| {label} | {run['ready_ms']:.0f} | {run['wall_ms']:.0f} | {run['html_ms']:.0f} "
              f"| {run['frame_ms']:.0f} | {span(run, 'state')} | {span(run, 'grids')} | "
              f"{span(run, 'footprints')} | "
              f"{f'{basemap:.0f}' if basemap is not None else '-'} | "
              f"{run.get('load', 0):.1f} |")
    if p.get("first_opens"):
        print("\nFirst opens, each on a fresh service and browser, the draft just made "
              "(ms from navigation):\n")
        print("| run | ready | HTML received | map frame drawn | state request "
              "| grids request | footprints request | load |")
        print("|---|---|---|---|---|---|---|---|")
        for i, run in enumerate(p["first_opens"], 1):
            print(f"| {i} | {run['ready_ms']:.0f} | {run['html_ms']:.0f} | "
                  f"{run['frame_ms']:.0f} | {span(run, 'state')} | {span(run, 'grids')} | "
                  f"{span(run, 'footprints')} | {run['load']:.1f} |")
        readies = sorted(r["ready_ms"] for r in p["first_opens"])
        print(f"\nfirst opens: median {statistics.median(readies):.0f} ms, "
              f"min {readies[0]:.0f}, max {readies[-1]:.0f}")
    if p["errors"]:
        print("browser errors:", p["errors"])


if __name__ == "__main__":
    raise SystemExit(main())
