"""The arterial lattice of a synthetic district: superblock sizes, road classes and names.

Arterial roads (highway=trunk / primary / secondary) 400-700 m apart form superblocks (街坊);
a river or railway may replace a lattice line (:mod:`tests.synthetic.barriers`). Positions are
local metres (x east, y north) from the south-west lattice crossing: ``xs`` holds the
vertical lines, ``ys`` the horizontal ones, and grows by one line per row of superblocks as
the district is laid out. The layout's rotation (at most 10 degrees, so slab buildings stay
roughly east-west) is drawn here and applied by the writer.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from tests.synthetic.barriers import Feature, choose_features
from tests.synthetic.names import ROAD_STEMS, cn_number

# Half width of a lattice line's corridor: centre line to the first buildable metre (red line
# half width plus setback), metres.
ROAD_HW = {"trunk": 32.0, "primary": 26.0, "secondary": 20.0}
ROAD_LANES = {"trunk": "8", "primary": "6", "secondary": "4"}
# Buildings per superblock aimed at: two superblocks make a community of about 110.
_TARGET_PER_SUPERBLOCK = 57.0
# Measured mean buildings per superblock when every compound is of one era, by lattice spacing
# (metres); used to pick the district's era mix so superblocks hold about the target.
_SPACING_TABLE = (430.0, 480.0, 530.0, 580.0, 640.0)
_ERA_COUNT_TABLE = {
    "old": (42.3, 55.5, 71.1, 93.6, 118.0),
    "mid": (28.3, 37.6, 47.9, 59.5, 74.0),
    "new": (21.2, 27.6, 34.8, 43.2, 54.0),
}


@dataclass(eq=False)
class Lattice:
    """The district's lattice lines and the seed-drawn parameters of its layout.

    Attributes:
        spacing: mean distance between lattice lines, metres.
        rotation: turn of the whole layout, radians (applied when writing).
        per_superblock: buildings per superblock aimed at.
        era_mix: (old, mid, new) shares of construction eras around which compounds are drawn.
        small: one superblock grown to hold the district (fewer buildings than one holds).
        ncols: superblocks per row; est_rows: rows expected.
        xs, ys: positions of the vertical / horizontal lattice lines, metres.
    """

    spacing: float
    rotation: float
    per_superblock: float
    era_mix: tuple[float, float, float]
    small: bool
    ncols: int
    est_rows: int
    xs: list[float]
    ys: list[float] = field(default_factory=lambda: [0.0])
    prim_period: int = 2  # every prim_period-th line is a primary road
    prim_offset: dict[str, int] = field(default_factory=dict)
    trunk: dict[str, int] = field(default_factory=dict)  # axis -> index of its trunk road
    name_pool: dict[str, list[str]] = field(default_factory=dict)
    features: dict[tuple[str, int], Feature] = field(default_factory=dict)
    line_names: dict[tuple[str, int], str] = field(default_factory=dict)

    def line_class(self, axis: str, idx: int) -> str:
        """Class of lattice line: trunk / primary / secondary, or river / rail."""
        feature = self.features.get((axis, idx))
        if feature is not None:
            return feature.kind
        if self.trunk.get(axis) == idx:
            return "trunk"
        return "primary" if (idx + self.prim_offset[axis]) % self.prim_period == 0 else "secondary"

    def is_road(self, axis: str, idx: int) -> bool:
        return self.line_class(axis, idx) in ROAD_HW

    def half_width(self, axis: str, idx: int) -> float:
        """Half width of the line's corridor (nothing is built in it), metres."""
        feature = self.features.get((axis, idx))
        if feature is not None:
            return feature.hw
        return ROAD_HW[self.line_class(axis, idx)]

    def line_name(self, axis: str, idx: int) -> str:
        """Base name of an arterial (中山路, 汉中街, 江东大道)."""
        key = (axis, idx)
        name = self.line_names.get(key)
        if name is None:
            pool = self.name_pool[axis]
            stem = pool[idx % len(pool)]
            rounds = idx // len(pool)
            if rounds:
                stem += cn_number(rounds + 1)
            if self.line_class(axis, idx) == "trunk":
                name = stem + "大道"
            elif (idx * 7 + len(stem)) % 5 == 0 and axis == "h":
                name = stem + "街"
            else:
                name = stem + "路"
            self.line_names[key] = name
        return name

    def coord(self, axis: str, idx: int) -> float:
        """Position of a lattice line: x of a vertical one, y of a horizontal one, metres."""
        return self.xs[idx] if axis == "v" else self.ys[idx]


def new_lattice(rng: random.Random, n: int) -> Lattice:
    """Draw the lattice of a district of ``n`` buildings: sizes, road classes, names, rivers
    and railways (the rows' y positions are drawn later, row by row, with :func:`gap`)."""
    spacing = rng.uniform(490.0, 640.0)
    rotation = math.radians(rng.uniform(-10.0, 10.0))
    # Tight street grids go with old cores of walk-ups, wide ones with high-rise new towns:
    # the era mix is chosen so that superblocks hold about the target count.
    per_superblock = _TARGET_PER_SUPERBLOCK * rng.uniform(0.93, 1.07)
    mix = era_mix(spacing, per_superblock)
    est_cells = n / per_superblock
    small = est_cells < 0.8
    if small:
        ncols, est_rows = 1, 1
    else:
        ncols = max(1, round(math.sqrt(est_cells)))
        est_rows = max(1, math.ceil(est_cells / ncols))
    xs = [0.0]
    if not small:
        for _ in range(ncols):
            xs.append(xs[-1] + gap(rng, spacing))
    lattice = Lattice(spacing, rotation, per_superblock, mix, small, ncols, est_rows, xs)
    _draw_road_classes(rng, lattice)
    stems = list(ROAD_STEMS)
    rng.shuffle(stems)
    lattice.name_pool = {"v": stems[0::2], "h": stems[1::2]}
    lattice.features = choose_features(rng, small, ncols, est_rows, lattice.trunk)
    return lattice


def _draw_road_classes(rng: random.Random, lattice: Lattice) -> None:
    """Primary roads every 2nd or 3rd line, a trunk road across the middle of large districts."""
    lattice.prim_period = rng.choice((2, 3))
    lattice.prim_offset = {"v": rng.randrange(3), "h": rng.randrange(3)}
    if lattice.ncols >= 4 and rng.random() < 0.6:
        lattice.trunk["v"] = lattice.ncols // 2
    if lattice.est_rows >= 4 and rng.random() < 0.5:
        lattice.trunk["h"] = lattice.est_rows // 2


def gap(rng: random.Random, spacing: float) -> float:
    """Distance to the next lattice line, 400-700 m around ``spacing``."""
    return min(700.0, max(400.0, spacing * rng.uniform(0.85, 1.15)))


def era_mix(spacing: float, target: float) -> tuple[float, float, float]:
    """(old, mid, new) shares whose expected buildings per superblock is ``target``."""
    expected = {
        era: float(np.interp(spacing, _SPACING_TABLE, counts))
        for era, counts in _ERA_COUNT_TABLE.items()
    }

    def mix(u: float) -> tuple[float, float, float]:
        return ((1 - u) ** 2, 2 * u * (1 - u), u * u)

    lo, hi = 0.1, 0.9  # keep every era present
    for _ in range(40):
        u = (lo + hi) / 2
        p = mix(u)
        value = p[0] * expected["old"] + p[1] * expected["mid"] + p[2] * expected["new"]
        if value > target:
            lo = u
        else:
            hi = u
    return mix((lo + hi) / 2)
