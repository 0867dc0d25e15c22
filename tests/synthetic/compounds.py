"""Gated compounds (小区) of the synthetic district: residential buildings and their households.

A compound holds rows of south-facing slab buildings (板楼, 40-80 m long, 10-15 m deep) and
point towers, the row gap 1.0-1.25 x the height of the row to the south (sunlight rule), with
heights and tower shares by construction era (1980s-90s walk-ups, 2000s 小高层, 2010s
high-rise). Households are tagged as building:flats = units x levels x 2 on a share of the
buildings (one unit per ``UNIT_WIDTH_M`` of length); the others carry only building:levels or
height. Service roads and footways serve the rows and reach the surrounding streets through
gates. Local metres.
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from tests.synthetic.plan import Axial, Bldg, Compound

if TYPE_CHECKING:
    from tests.synthetic.plan import Cell, Parcel, PlanContext, Rect

# Storey height used for height=* and for sunlight spacing, metres.
STOREY_HEIGHT_M = 3.0
# Width of one stair/lift unit (单元) along a slab, metres: units = length // UNIT_WIDTH_M.
UNIT_WIDTH_M = 15.0
# Households per floor per unit (一梯两户).
HOUSEHOLDS_PER_UNIT_FLOOR = 2

# Levels of residential rows by construction era, with weights.
_ERA_LEVELS = {
    "old": ((6, 7), (0.72, 0.28)),  # 1980s-1990s walk-ups (多层)
    "mid": ((6, 11, 18), (0.22, 0.48, 0.30)),  # 2000s 小高层
    "new": ((11, 18, 26, 33), (0.15, 0.25, 0.30, 0.30)),  # 2010s high-rise
}
_ERA_TOWER_SHARE = {"old": 0.0, "mid": 0.35, "new": 0.45}  # of rows with >= 18 levels
_ERA_APARTMENTS_SHARE = {"old": 0.3, "mid": 0.6, "new": 0.8}  # building=apartments vs residential
_ERA_RATIO = {"old": (1.0, 1.25), "mid": (1.0, 1.2), "new": (1.0, 1.15)}  # row gap / height
_GATE_TAGS = {"barrier": "gate"}


def choose_era(ctx: PlanContext, col: int, row: int) -> str:
    """Construction era of a compound in superblock (col, row): older towards the centre,
    newer towards the edge, around the district's mix."""
    lattice = ctx.lattice
    xs, ys = lattice.xs, lattice.ys
    est_height = lattice.est_rows * lattice.spacing
    cx = (xs[col] + xs[col + 1]) / 2 - xs[-1] / 2
    cy = (ys[row] + ys[row + 1]) / 2 - est_height / 2
    half_w = max(xs[-1] / 2, 1.0)
    half_h = max(est_height / 2, 1.0)
    d = min(1.0, math.hypot(cx / half_w, cy / half_h) / math.sqrt(2))
    g = 0.3 * (0.5 - d)
    old, _, new = lattice.era_mix
    p_old = max(0.02, old + g)
    p_new = max(0.02, new - g)
    p_mid = max(0.02, 1.0 - p_old - p_new)
    return ctx.rng.choices(("old", "mid", "new"), (p_old, p_mid, p_new))[0]


def plan_compound(
    ctx: PlanContext, cell: Cell, p: Parcel, era: str, garages: list[Rect]
) -> Compound:
    """Fill parcel ``p`` with a compound of ``era``: rows of buildings, roads and gates.

    Room for garages at the end of low-rise rows is appended to ``garages``.
    """
    x0, y0, x1, y1 = p.x0, p.y0, p.x1, p.y1
    comp = Compound((x0, y0, x1, y1), ctx.names.compound(era))
    cell.compounds.append(comp)
    if x1 - x0 < 75.0 or y1 - y0 < 45.0:
        return comp
    bx0, bx1 = x0 + 12.0, x1 - 12.0
    spine = None
    segments = [(bx0, bx1)]
    if bx1 - bx0 > 240.0:
        spine = (bx0 + bx1) / 2 + ctx.rng.uniform(-20.0, 20.0)
        segments = [(bx0, spine - 9.0), (spine + 9.0, bx1)]
    lane_ys = _plan_rows(ctx, comp, y0, y1, segments, era, garages)
    if lane_ys:
        _plan_roads(ctx, cell, p, era, lane_ys, spine)
    return comp


def _plan_rows(
    ctx: PlanContext,
    comp: Compound,
    y0: float,
    y1: float,
    segments: list[tuple[float, float]],
    era: str,
    garages: list[Rect],
) -> list[float]:
    """Rows of buildings from south to north, spaced by the sunlight rule; returns the y of
    the lane along the north side of each row."""
    rng = ctx.rng
    levels_choices, level_weights = _ERA_LEVELS[era]
    ratio = rng.uniform(*_ERA_RATIO[era])
    apartments = _ERA_APARTMENTS_SHARE[era]
    suffix = rng.choice(("栋", "幢"))
    lane_ys: list[float] = []
    y = y0 + 8.0
    number = 0
    while True:
        levels = rng.choices(levels_choices, level_weights)[0]
        tower = levels >= 18 and rng.random() < _ERA_TOWER_SHARE[era]
        depth = rng.uniform(18.0, 26.0) if tower else rng.uniform(10.0, 15.0)
        if y + depth + 14.0 > y1:
            break
        low_rise = levels <= 7
        btype = "apartments" if rng.random() < apartments else "residential"
        for a, b in segments:
            for bx, length in _pack_row(rng, a, b, tower, low_rise, y, depth, garages):
                number += 1
                comp.buildings.append(
                    _residential(
                        ctx, (bx, y, bx + length, y + depth), levels, btype, f"{number}{suffix}"
                    )
                )
        lane_ys.append(y + depth + 6.0)
        y += depth + max(ratio * levels * STOREY_HEIGHT_M, 14.0)
    return lane_ys


def _plan_roads(
    ctx: PlanContext,
    cell: Cell,
    p: Parcel,
    era: str,
    lane_ys: list[float],
    spine: float | None,
) -> None:
    """Lanes along the north side of each row, service roads down both sides (and a spine in
    wide compounds), gates out to the streets (at least one)."""
    rng = ctx.rng
    x0, y0, x1, y1 = p.x0, p.y0, p.x1, p.y1
    xw, xe = x0 + 6.0, x1 - 6.0
    lane_tags = (
        {"highway": "footway"} if era == "old" and rng.random() < 0.5 else {"highway": "service"}
    )
    lanes = [Axial(False, ly, xw, xe, lane_tags) for ly in lane_ys]
    if spine is not None:
        for lane in lanes:
            lane.pts.add(spine)
    west = Axial(True, xw, lane_ys[0], lane_ys[-1], {"highway": "service"})
    east = Axial(True, xe, lane_ys[0], lane_ys[-1], {"highway": "service"})
    west.pts.update(lane_ys)
    east.pts.update(lane_ys)
    mid = None
    if spine is not None:
        mid = Axial(True, spine, lane_ys[0], lane_ys[-1], {"highway": "service"})
        mid.pts.update(lane_ys)
    gates = 0
    refs = p.refs
    if refs["S"] is not None:
        south_road = mid if mid is not None else west
        south_road.pts.add(y0)
        _add_gate(ctx, cell, south_road.c, y0, "S", refs["S"], {"highway": "service"})
        gates += 1
    if refs["N"] is not None and (rng.random() < 0.6 or not gates):
        east.pts.add(y1)
        _add_gate(ctx, cell, xe, y1, "N", refs["N"], {"highway": "service"})
        gates += 1
    middle_lane = lanes[len(lanes) // 2]
    if refs["W"] is not None and (rng.random() < 0.5 or not gates):
        middle_lane.pts.add(x0)
        _add_gate(ctx, cell, x0, middle_lane.c, "W", refs["W"], {"highway": "footway"})
        gates += 1
    if refs["E"] is not None and (rng.random() < 0.4 or not gates):
        middle_lane.pts.add(x1)
        _add_gate(ctx, cell, x1, middle_lane.c, "E", refs["E"], {"highway": "footway"})
        gates += 1
    if not gates:
        raise AssertionError("compound without a street side")  # pragma: no cover
    cell.lines.extend(lanes)
    cell.lines.extend(r for r in (west, east, mid) if r is not None and len(r.pts) > 1)


def _add_gate(
    ctx: PlanContext, cell: Cell, x: float, y: float, side: str, ref: tuple, tags: dict
) -> None:
    """A gate on the fence at (x, y) and a road straight out to the street on ``side``."""
    kind, obj = ref
    c = ctx.lattice.coord(obj[0], obj[1]) if kind == "e" else obj.c
    vertical = side in "SN"
    fixed, start = (x, y) if vertical else (y, x)
    ax = Axial(vertical, fixed, start, c, tags)
    if kind == "e":
        ax.ends[c] = obj
        if side in cell.strips:
            cell.cross[side].append((fixed, 7.0))
    else:
        obj.pts.add(fixed)
    cell.point_tags[(x, y)] = _GATE_TAGS
    cell.lines.append(ax)


def _pack_row(
    rng: random.Random,
    a: float,
    b: float,
    tower: bool,
    low_rise: bool,
    y: float,
    depth: float,
    garages: list[Rect],
) -> list[tuple[float, float]]:
    """Spans (x, length) of buildings packed west to east into [a, b], metres."""
    if tower:
        lmin, lmax, gmin, gmax = 22.0, 32.0, 13.0, 22.0
    elif low_rise:
        lmin, lmax, gmin, gmax = 40.0, 80.0, 6.0, 10.0
    else:
        lmin, lmax, gmin, gmax = 40.0, 80.0, 13.0, 20.0
    spans: list[tuple[float, float]] = []
    x = a
    while True:
        length = rng.uniform(lmin, lmax)
        if x + length > b:
            if b - x >= lmin:
                length = b - x
            else:
                break
        spans.append((x, length))
        x += length + rng.uniform(gmin, gmax)
    end = spans[-1][0] + spans[-1][1] if spans else a - 8.0
    tail = b - end
    if low_rise and tail >= 8.0 + 16.0:
        g_len = min(tail - 8.0, rng.uniform(16.0, 30.0))
        garages.append((end + 8.0, y, end + 8.0 + g_len, y + min(depth, 7.0)))
    elif spans and tail > 0.0:
        shift = tail / 2
        spans = [(sx + shift, length) for sx, length in spans]
    return spans


def _residential(ctx: PlanContext, rect: Rect, levels: int, btype: str, number: str) -> Bldg:
    """A residential building; on ``flats_share`` of them its households as building:flats."""
    rng = ctx.rng
    tags = {"building": btype}
    flats = 0
    if rng.random() < ctx.flats_share:
        units = max(1, int((rect[2] - rect[0]) // UNIT_WIDTH_M))
        flats = units * levels * HOUSEHOLDS_PER_UNIT_FLOOR
        tags["building:levels"] = str(levels)
        tags["building:flats"] = str(flats)
    elif rng.random() < 0.25:
        tags["height"] = f"{levels * STOREY_HEIGHT_M:g}"
    else:
        tags["building:levels"] = str(levels)
    tags["addr:housenumber"] = number
    return Bldg(rect, tags, "res", flats)
