"""How long finding the organisation responsible for an incident takes (转办), as organisations
grow: the 11 residential compounds of central Nanjing (../shared/data, real OSM outlines) with
one property company each, sanitation and the police over the whole extract, and N more
synthetic organisations (random boxes of 50 to 500 m, seeded) on the same area.

For 1,000 random incident points (seeded) it times, per point:

* ``scan``: dispatch.incidents.referral.responsible over every organisation (no index);
* ``store``: what the service does on ``refer``: the organisations whose bounding box holds
  the point from the SQLite store (indexed min/max columns), then ``responsible`` on those.

    python bench/referral_bench.py [--sizes 100 1000 10000] [--points 1000]

Prints a table and writes bench/referral_results.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.store import organisations as org_store  # noqa: E402
from api.store.db import Database  # noqa: E402
from dispatch.incidents.referral import (  # noqa: E402
    OrganisationSpec,
    responsible,
)
from dispatch.incidents.rules import Deadline  # noqa: E402
from gis.osm import read_osm  # noqa: E402

NANJING = ROOT.parent / "shared" / "data" / "nanjing_xinjiekou.osm"
KINDS = ("property_company", "utilities", "department", "sanitation")
CATEGORIES = ("environment", "public_facilities", "parking")
M_PER_DEG = 111_320.0


def organisations(n: int, seed: int = 1) -> list[OrganisationSpec]:
    """The real compounds' companies, district sanitation and police, and ``n`` random ones."""
    compounds = [a.geometry for a in read_osm(NANJING).areas
                 if a.tags.get("landuse") == "residential"]
    minx, miny, maxx, maxy = shapely.union_all(compounds).buffer(0.005).bounds
    district = shapely.box(minx, miny, maxx, maxy)
    specs = [OrganisationSpec(f"WY{i}", f"物业{i}", "property_company",
                              frozenset(CATEGORIES), shapely.MultiPolygon([c]))
             for i, c in enumerate(compounds)]
    specs += [OrganisationSpec("HW", "环卫", "sanitation", frozenset({"environment"}),
                               shapely.MultiPolygon([district]), Deadline(2, "hours")),
              OrganisationSpec("PCS", "派出所", "police", frozenset({"public_order"}),
                               shapely.MultiPolygon([district]))]
    rng = np.random.default_rng(seed)
    for k in range(n):
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        w, h = rng.uniform(50, 500, 2) / M_PER_DEG
        box = shapely.box(x, y, x + w / np.cos(np.radians(y)), y + h)
        cats = frozenset(rng.choice(CATEGORIES, size=int(rng.integers(1, 3)), replace=False))
        specs.append(OrganisationSpec(f"S{k}", f"单位{k}", str(rng.choice(KINDS)), cats,
                                      shapely.MultiPolygon([box])))
    return specs


def points(specs: list[OrganisationSpec], count: int,
           seed: int = 2) -> list[tuple[float, float]]:
    """``count`` random points over the district (seeded)."""
    district = next(s for s in specs if s.code == "HW").area
    minx, miny, maxx, maxy = district.bounds
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(minx, maxx, count), rng.uniform(miny, maxy, count),
                    strict=True))


def run(n: int, count: int) -> dict:
    """The timings with ``n`` random organisations and ``count`` points."""
    specs = organisations(n)
    domain = [s.with_id(i + 1) for i, s in enumerate(specs)]
    where = points(specs, count)
    category = "environment"
    scan, store = [], []
    found_scan = []
    for lon, lat in where:
        t = time.perf_counter()
        found_scan.append(responsible(domain, category, lon, lat))
        scan.append((time.perf_counter() - t) * 1000)
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.upgrade()
        t = time.perf_counter()
        with db.writing() as s:
            org_store.save_specs(s, specs)
        import_s = time.perf_counter() - t
        found_store = []
        with db.read_session() as s:
            for lon, lat in where:
                t = time.perf_counter()
                found_store.append(responsible(org_store.covering(s, lon, lat), category,
                                               lon, lat))
                store.append((time.perf_counter() - t) * 1000)
        db.dispose()
    same = all((a is None and b is None) or (a is not None and b is not None
                                                and a.code == b.code)
               for a, b in zip(found_scan, found_store, strict=True))
    companies = sum(1 for f in found_store if f is not None and f.kind != "sanitation")
    return {"organisations": len(specs), "import_s": import_s,
            "scan_ms": statistics.median(scan), "store_ms": statistics.median(store),
            "store_p95_ms": float(np.percentile(store, 95)), "same": same,
            "not_sanitation": companies / len(where)}


def main(argv: list[str] | None = None) -> int:
    """Run the sizes, print the table and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--points", type=int, default=1000)
    args = parser.parse_args(argv)
    rows = [run(n, args.points) for n in args.sizes]
    lines = ["| organisations | import (s) | scan median (ms) | store median (ms) | "
             "store p95 (ms) | same choice | points not left to sanitation |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['organisations']:,} | {r['import_s']:.2f} | {r['scan_ms']:.2f} | "
                     f"{r['store_ms']:.2f} | {r['store_p95_ms']:.2f} | "
                     f"{'yes' if r['same'] else 'NO'} | {r['not_sanitation']:.0%} |")
    table = "\n".join(lines)
    print(table)
    (ROOT / "bench" / "referral_results.md").write_text(
        "# Referral: finding the organisation responsible\n\n"
        f"`python bench/referral_bench.py --points {args.points}` ({args.points:,} random "
        "points, category environment, on central Nanjing: 11 real compounds, district "
        "sanitation and police, plus random organisations). Measured on the 2 shared cores "
        "of the development machine, while other work ran.\n\n" + table + "\n",
        encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
