"""CPU and wall time of make_plan (2 workers; the process and its children, the territory
excluded) on the given inputs: on a shared machine CPU time moves less with the load. The
parent's own CPU is the plan's serial part (it counts twice in the wall on 2 cores); the
load average is printed before and after.

    python bench/plan_cpu_bench.py irregular:900:2000 est:22:2000 irregular:901:10000 \
        synthetic:1:10000

KIND:SEED:BUILDINGS, KIND one of irregular (tests.synthetic.irregular, default style), est
(tests.synthetic, households all from floor area) or synthetic (tests.synthetic).
"""

import hashlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.study_area import load_study_area  # noqa: E402
from partition.plan import build_territory, make_plan  # noqa: E402
from tests.synthetic import write_district_osm  # noqa: E402
from tests.synthetic.irregular import write_irregular_district  # noqa: E402


def cpu() -> tuple[float, float]:
    """CPU seconds of this process (the plan's serial part runs here) and of its children
    (the forked workers)."""
    own, children = (resource.getrusage(resource.RUSAGE_SELF),
                     resource.getrusage(resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for spec in sys.argv[1:]:
            kind, seed_text, n_text = spec.split(":")
            seed, n = int(seed_text), int(n_text)
            path = Path(tmp) / f"{kind}{seed}_{n}.osm"
            if kind == "irregular":
                write_irregular_district(path, seed, buildings=n)
            else:
                write_district_osm(path, n, seed=seed,
                                   **({"flats_tag_share": 0.0} if kind == "est" else {}))
            area = load_study_area(path, with_walk_graph=False)
            territory = build_territory(area, workers=2)
            load = os.getloadavg()[0]
            (own, kids), start = cpu(), time.perf_counter()
            plan = make_plan(area, territory=territory, workers=2)
            wall = time.perf_counter() - start
            own_after, kids_after = cpu()
            parent, used = own_after - own, own_after - own + kids_after - kids
            s = plan.summary
            # The digest tells two runs' plans apart (same seed and limit: same plan).
            digest = hashlib.sha1(plan.buildings["grid_id"].astype(str).str.cat(sep=",")
                                  .encode()).hexdigest()[:10]
            print(f"{spec}: wall {wall:.1f} s, cpu {used:.1f} s (parent {parent:.1f} s), "
                  f"load {load:.1f}-{os.getloadavg()[0]:.1f}, "
                  f"free grids > 15% {s['free_grids_over_limit']}, "
                  f"max free dev {s['max_deviation_free_pct']}%, "
                  f"hull overlap {s['hull_overlap_pct']}%, units {s['work_budget']}, "
                  f"non-contiguous {s['non_contiguous']}, multi-piece {s['multi_piece_grids']}, "
                  f"barrier violations {s['barrier_violations']}, plan {digest}", flush=True)


if __name__ == "__main__":
    main()
