"""Plan objects of the synthetic district generator, in local metres (x east, y north).

A superblock (:class:`Cell`) is planned completely (compounds, plots, buildings, roads) before
anything of it is written; these are the records the planners fill and the writers read.
:class:`PlanContext` carries what every planner shares: the seeded random generator (one
stream for the whole district, so the same seed gives the same file), the lattice, the names
in use and the share of buildings tagged with their households.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.synthetic.lattice import Lattice
    from tests.synthetic.names import Names

Rect = tuple[float, float, float, float]  # (x0, y0, x1, y1) in local metres, x0 < x1, y0 < y1
Edge = tuple[str, int, int]  # a lattice edge: ("h", j, i) or ("v", i, j), see communities.outline


@dataclass(slots=True, eq=False)
class PlanContext:
    """What the superblock, compound and amenity planners share."""

    rng: random.Random
    lattice: Lattice
    names: Names
    flats_share: float  # share (0-1) of residential buildings tagged building:flats


class Axial:
    """An axis-aligned polyline: x = c (vertical) or y = c, through positions ``pts``.

    ``ends`` maps a position to the lattice edge it ends on (the node is then shared with the
    arterial through the junction registry).
    """

    __slots__ = ("c", "ends", "pts", "tags", "vertical")

    def __init__(self, vertical: bool, c: float, a: float, b: float, tags: dict[str, str]):
        self.vertical = vertical
        self.c = c
        self.pts = {a, b}
        self.tags = tags
        self.ends: dict[float, Edge] = {}


@dataclass(slots=True, eq=False)
class Bldg:
    """A building footprint planned as an axis-aligned rectangle."""

    rect: Rect
    tags: dict[str, str]
    role: str  # "res", "garage", "shop", "office", "school", "kindergarten", "centre"
    flats: int = 0  # building:flats written, 0 if untagged
    keep: bool = True


@dataclass(slots=True, eq=False)
class Compound:
    """A gated compound (小区): its fenced plot, name and residential buildings."""

    rect: Rect
    name: str
    buildings: list[Bldg] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Parcel:
    """A plot of a superblock; refs[side] is the street on that side or None.

    A street ref is ("e", lattice edge key) or ("b", branch road Axial).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    refs: dict[str, tuple | None]


@dataclass(slots=True, eq=False)
class Cell:
    """One superblock (lattice cell) with everything planned inside it."""

    col: int
    row: int
    x0: float
    y0: float
    x1: float
    y1: float
    interior: Rect = (0.0, 0.0, 0.0, 0.0)
    compounds: list[Compound] = field(default_factory=list)
    polys: list[tuple[Rect, dict[str, str]]] = field(default_factory=list)
    nonres: list[Bldg] = field(default_factory=list)
    lines: list[Axial] = field(default_factory=list)
    point_tags: dict[tuple[float, float], dict[str, str]] = field(default_factory=dict)
    strips: dict[str, tuple[float, float]] = field(default_factory=dict)
    cross: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {"S": [], "N": [], "W": [], "E": []}
    )

    def buildings(self) -> list[Bldg]:
        out = [b for comp in self.compounds for b in comp.buildings]
        out.extend(self.nonres)
        return out

    def count(self) -> int:
        return sum(1 for b in self.buildings() if b.keep)
