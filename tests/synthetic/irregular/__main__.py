"""Command line: ``python -m tests.synthetic.irregular OUT.osm --seed N --buildings N [--style S]``
(from the repository root) writes one irregular district and prints what is in it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.synthetic.irregular.district import STYLES, write_irregular_district


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write an irregular synthetic district (OSM XML)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--buildings", type=int, default=800)
    ap.add_argument("--style", choices=STYLES, default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    d = write_irregular_district(args.out, args.seed, buildings=args.buildings, style=args.style)
    print(f"{d.path}: {d.buildings} buildings, {d.households} households (building:flats), "
          f"{d.communities} communities, {time.perf_counter() - t0:.2f} s")
    print("features: " + ", ".join(d.features))
    return 0


if __name__ == "__main__":
    sys.exit(main())
