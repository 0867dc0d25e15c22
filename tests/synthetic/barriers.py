"""Rivers and railways of the synthetic district: barriers that replace lattice lines.

At larger sizes (3 x 3 superblocks and more) a river, a railway or both may take the place of
an arterial lattice line; nothing is built in their corridor and arterials cross them on
bridges (see :mod:`tests.synthetic.streets`). A river is a waterway=river centre line plus a
natural=water area meandering within the corridor; a railway a straight railway=rail line. Both
run ``_FEATURE_EXTENSION_M`` beyond the district. Local metres; the writer turns them into
WGS84 lon/lat.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.synthetic.lattice import Lattice
    from tests.synthetic.osm_writer import OsmWriter

_FEATURE_EXTENSION_M = 300.0  # a river or railway runs this far beyond the district, metres
_RIVER_NAMES = ("秦淮河", "金川河", "外秦淮河", "惠民河", "运粮河", "护城河", "北十里长沟", "南河")
_RAIL_NAMES = ("京沪铁路", "宁芜铁路", "沪宁城际铁路", "宁启铁路", "南京南环线", "宁西铁路")


@dataclass(slots=True, eq=False)
class Feature:
    """A river or railway along lattice line; its corridor replaces the arterial's."""

    kind: str  # "river" or "rail"
    name: str
    hw: float  # corridor half width, metres
    bridge_hw: float  # half length of a bridge across it, metres
    water_hw: float = 0.0
    amplitude: float = 0.0
    wavelength: float = 1000.0
    phase: float = 0.0


def choose_features(
    rng: random.Random, small: bool, ncols: int, est_rows: int, trunk: dict[str, int]
) -> dict[tuple[str, int], Feature]:
    """The rivers and railways of a district of ``ncols`` x ``est_rows`` superblocks, keyed
    by lattice line (axis, index); never on the trunk road's line nor on neighbouring lines."""
    if small or ncols < 3 or est_rows < 3:
        return {}
    r = rng.random()
    if r < 0.35:
        kinds = ["river"]
    elif r < 0.6:
        kinds = ["rail"]
    elif r < 0.72:
        kinds = ["river", "rail"]
    else:
        kinds = []
    if not kinds:
        return {}
    axis = rng.choice("hv") if est_rows >= 4 else "v"
    top = ncols - 1 if axis == "v" else est_rows - 2
    candidates = [i for i in range(1, top + 1) if i != trunk.get(axis)]
    rng.shuffle(candidates)
    chosen: list[int] = []
    for i in candidates:
        if all(abs(i - j) >= 2 for j in chosen):
            chosen.append(i)
        if len(chosen) == len(kinds):
            break
    features: dict[tuple[str, int], Feature] = {}
    for kind, idx in zip(kinds, chosen, strict=False):
        if kind == "river":
            features[(axis, idx)] = _river(rng)
        else:
            features[(axis, idx)] = Feature(
                "rail", rng.choice(_RAIL_NAMES), hw=rng.uniform(28.0, 36.0), bridge_hw=15.0
            )
    return features


def _river(rng: random.Random) -> Feature:
    water = rng.uniform(20.0, 40.0)
    amp = rng.uniform(0.0, 8.0)
    return Feature(
        "river",
        rng.choice(_RIVER_NAMES),
        hw=water + amp + rng.uniform(20.0, 35.0),
        bridge_hw=water + amp + 8.0,
        water_hw=water,
        amplitude=amp,
        wavelength=rng.uniform(700.0, 1400.0),
        phase=rng.uniform(0.0, 2 * math.pi),
    )


def write_features(lattice: Lattice, w: OsmWriter) -> None:
    """Write every river and railway of the lattice, in (axis, index) order."""
    nrows = len(lattice.ys) - 1
    for (axis, idx), feature in sorted(lattice.features.items()):
        if axis == "h" and idx > nrows:
            continue
        c = lattice.coord(axis, idx)
        other = lattice.ys if axis == "v" else lattice.xs
        lo = other[0] - _FEATURE_EXTENSION_M
        hi = other[-1] + _FEATURE_EXTENSION_M

        def xy(pos: float, off: float, axis: str = axis) -> int:
            return w.node(off, pos) if axis == "v" else w.node(pos, off)

        if feature.kind == "rail":
            m = max(2, math.ceil((hi - lo) / 250.0))
            refs = [xy(lo + (hi - lo) * k / m, c) for k in range(m + 1)]
            w.way(
                refs,
                {
                    "railway": "rail",
                    "name": feature.name,
                    "usage": "main",
                    "gauge": "1435",
                    "electrified": "contact_line",
                },
            )
            continue
        m = max(2, math.ceil((hi - lo) / max(40.0, (hi - lo) / 600.0)))
        ps = [lo + (hi - lo) * k / m for k in range(m + 1)]
        mids = [
            c
            + feature.amplitude
            * math.sin(2 * math.pi * (p - lo) / feature.wavelength + feature.phase)
            for p in ps
        ]
        centre = [xy(p, o) for p, o in zip(ps, mids, strict=True)]
        w.way(centre, {"waterway": "river", "name": feature.name})
        bank_a = [xy(p, o - feature.water_hw) for p, o in zip(ps, mids, strict=True)]
        bank_b = [xy(p, o + feature.water_hw) for p, o in zip(ps, mids, strict=True)]
        ring = bank_a + bank_b[::-1] + [bank_a[0]]
        w.way(ring, {"natural": "water", "water": "river", "name": feature.name})
