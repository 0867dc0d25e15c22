"""What routing costs a dispatch: request times of report, dispatch (the incident inserted into
the worker's visit route for today) and handle (its stop taken out, the rest re-planned), in
process (FastAPI TestClient, SQLite) on the synthetic district of 200 buildings.

    python bench/incident_route_bench.py               # with routing (api.services.visit_routes)
    python bench/incident_route_bench.py --no-routing  # the same requests, routes untouched

Incidents are dispatched by hand to one worker, so the route grows from 1 to ``--incidents``
stops; then each is started and handled. Times are wall clock (ms); the first dispatch also
builds the walk network and is reported apart.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CATEGORIES = ["environment", "noise", "parking", "stray_animals", "public_facilities",
              "neighbour_dispute"]


def summary(seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms (n={len(ms)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10)
    parser.add_argument("--no-routing", action="store_true",
                        help="leave the routes alone (the cost of the rest of the request)")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    import api.services.visit_routes
    from api.app import create_app
    from api.settings import Settings
    from api.store import models as m
    from tests.api.stock import stock_service
    from tests.synthetic import write_district_osm

    if args.no_routing:
        api.services.visit_routes.TodayRoutes.follow = lambda self, row, before, dispatched: None
    tmp = Path(tempfile.mkdtemp())
    write_district_osm(tmp / "district.osm", 200, seed=5)
    app = create_app(Settings(data_dir=tmp / "data"), start_jobs=False)
    with TestClient(app) as c:
        info = stock_service(app, tmp / "district.osm")
        h = info["h"]
        with app.state.db.read_session() as s:
            points = [g.geom.representative_point()
                      for g in s.query(m.GridRow).order_by(m.GridRow.code)][:-1]
        report, dispatch, handle, ids = [], [], [], []
        for i in range(args.incidents):
            p = points[i % len(points)]
            body = {"category": CATEGORIES[i % len(CATEGORIES)],
                    "lon": p.x + 0.0004 * (i // len(points)), "lat": p.y}
            t = time.perf_counter()
            r = c.post("/incidents", headers=h["reporter"], json=body)
            report.append(time.perf_counter() - t)
            iid = r.json()["id"]
            ids.append(iid)
            c.post(f"/incidents/{iid}/actions", headers=h["admin"], json={"action": "accept"})
            t = time.perf_counter()
            r = c.post(f"/incidents/{iid}/actions", headers=h["admin"],
                       json={"action": "dispatch", "worker_id": h["worker_id"]})
            dispatch.append(time.perf_counter() - t)
            if r.status_code != 200:
                print(r.text, file=sys.stderr)
                return 1
        for iid in ids:
            c.post(f"/incidents/{iid}/actions", headers=h["worker"], json={"action": "start"})
            t = time.perf_counter()
            c.post(f"/incidents/{iid}/actions", headers=h["worker"], json={"action": "handle"})
            handle.append(time.perf_counter() - t)
    load = os.getloadavg()[0]
    print(f"routing: {'off' if args.no_routing else 'on'}; load average (1 min) {load:.2f}")
    print(f"report:   {summary(report)}")
    print(f"dispatch: {summary(dispatch[1:])}; first {dispatch[0] * 1000:.0f} ms")
    print(f"handle:   {summary(handle)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
