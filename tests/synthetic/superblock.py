"""Superblocks (街坊) of the synthetic district: their division into compounds and plots.

Inside the corridors of its four lattice lines a superblock gets strips of shops along 0-2
arterial sides, is split by branch roads (tertiary, residential) into 1-4 parcels of at least
``_MIN_PARCEL`` metres, has plots carved off for a school, the community service centre with a
kindergarten and sometimes offices, and its parcels become gated compounds
(:mod:`tests.synthetic.compounds`). Non-residential buildings make 10-19 % of a superblock's
buildings. Everything is planned in local metres before anything is written; :func:`trim`
then drops the buildings beyond the district's count.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tests.synthetic.amenities import plan_civic, plan_office, plan_school, plan_shops
from tests.synthetic.compounds import choose_era, plan_compound
from tests.synthetic.names import branch_road_tags
from tests.synthetic.plan import Axial, Bldg, Cell, Parcel
from tests.synthetic.streets import write_local_roads

if TYPE_CHECKING:
    import random

    from tests.synthetic.osm_writer import OsmWriter
    from tests.synthetic.plan import Edge, PlanContext, Rect
    from tests.synthetic.streets import LatticeNodes

_TERTIARY_HW = 11.0  # branch road corridor half width, metres
_RESIDENTIAL_HW = 8.0  # lane (支路) corridor half width, metres
_STRIP_DEPTH = 16.0  # depth of the shop strip along an arterial, metres
_STRIP_GAP = 2.0  # between the shop strip and the compound fence, metres
_MIN_PARCEL = 120.0  # smallest side of a compound made by splitting a superblock, metres
# Which non-residential buildings go first when a superblock holds more than the count left.
_TRIM_RANK = {"garage": 0, "shop": 1, "office": 2, "school": 3, "kindergarten": 4, "centre": 5}


def plan_cell(ctx: PlanContext, col: int, row: int, force_strip: bool = False) -> Cell:
    """Plan superblock (col, row) completely: strips, branch roads, plots and compounds."""
    rng = ctx.rng
    cell, region, road, edges = _frame(ctx, col, row, force_strip)

    # Branch roads split the superblock into 1-4 compounds.
    parcels = _split_superblock(rng, cell, region, road, edges)

    # Carve plots for a school, the community centre and kindergarten, offices.
    budget_non = 0
    if rng.random() < 0.3:
        plot = _carve(rng, parcels, rng.uniform(120.0, 160.0), 150.0)
        if plot is not None:
            budget_non += plan_school(ctx, cell, plot)
    plot = _carve(rng, parcels, rng.uniform(50.0, 60.0), 60.0)
    has_centre = False
    if plot is not None:
        budget_non += plan_civic(ctx, cell, plot)
        has_centre = any(b.role == "centre" for b in cell.nonres)
    if rng.random() < 0.15:
        plot = _carve(rng, parcels, rng.uniform(70.0, 90.0), 80.0)
        if plot is not None:
            budget_non += plan_office(ctx, cell, plot)

    # Compounds.
    base_era = choose_era(ctx, col, row)
    garages: list[Rect] = []
    n_res = 0
    for p in parcels:
        era = base_era if rng.random() < 0.7 else choose_era(ctx, col, row)
        comp = plan_compound(ctx, cell, p, era, garages)
        n_res += len(comp.buildings)

    # Non-residential budget: 10-19 % of the superblock's buildings.
    share = rng.uniform(0.10, 0.19)
    target_non = round(n_res * share / (1.0 - share))
    room = max(0, target_non - budget_non)
    n_garages = min(len(garages), room // 3)
    for rect in garages[:n_garages]:
        cell.nonres.append(Bldg(rect, {"building": "garages", "building:levels": "1"}, "garage"))
    room -= n_garages
    plan_shops(ctx, cell, room, need_centre=not has_centre)
    return cell


def _frame(
    ctx: PlanContext, col: int, row: int, force_strip: bool
) -> tuple[Cell, Parcel, dict[str, bool], dict[str, Edge]]:
    """The superblock within its lattice corridors, its shop strips, and the region left for
    compounds; with which sides are roads and their lattice edges."""
    rng = ctx.rng
    lattice = ctx.lattice
    x0, x1, y0, y1 = lattice.xs[col], lattice.xs[col + 1], lattice.ys[row], lattice.ys[row + 1]
    cell = Cell(col, row, x0, y0, x1, y1)
    lines = {"W": ("v", col), "E": ("v", col + 1), "S": ("h", row), "N": ("h", row + 1)}
    edges = {
        "W": ("v", col, row),
        "E": ("v", col + 1, row),
        "S": ("h", row, col),
        "N": ("h", row + 1, col),
    }
    road = {s: lattice.is_road(*lines[s]) for s in lines}
    ix0, ix1 = x0 + lattice.half_width(*lines["W"]), x1 - lattice.half_width(*lines["E"])
    iy0, iy1 = y0 + lattice.half_width(*lines["S"]), y1 - lattice.half_width(*lines["N"])
    cell.interior = (ix0, iy0, ix1, iy1)

    # Shop strips along 0-2 arterial sides.
    road_sides = [s for s in "SNWE" if road[s]]
    n_strips = rng.choices((0, 1, 2), (0.2, 0.5, 0.3))[0]
    if force_strip:
        n_strips = max(1, n_strips)
    strips = rng.sample(road_sides, min(n_strips, len(road_sides)))
    band = _STRIP_DEPTH + _STRIP_GAP
    for s in strips:
        if s in "SN":
            cell.strips[s] = (ix0, ix1)
        else:
            cell.strips[s] = (
                iy0 + (band if "S" in strips else 0.0),
                iy1 - (band if "N" in strips else 0.0),
            )
    px0 = ix0 + (band if "W" in strips else 0.0)
    px1 = ix1 - (band if "E" in strips else 0.0)
    py0 = iy0 + (band if "S" in strips else 0.0)
    py1 = iy1 - (band if "N" in strips else 0.0)
    refs = {s: (("e", edges[s]) if road[s] else None) for s in "SNWE"}
    return cell, Parcel(px0, py0, px1, py1, refs), road, edges


def _split_superblock(
    rng: random.Random,
    cell: Cell,
    region: Parcel,
    road: dict[str, bool],
    edges: dict[str, Edge],
) -> list[Parcel]:
    """Split ``region`` by branch roads into 1-4 parcels (two crossing roads, one road, or one
    road and a lane from it to a side)."""
    pw, ph = region.x1 - region.x0, region.y1 - region.y0
    need = 2 * _MIN_PARCEL + 2 * _TERTIARY_HW
    can_v, can_h = pw >= need, ph >= need
    options, weights = [1], [0.12]
    if can_v or can_h:
        options.append(2)
        weights.append(0.3)
    if can_v and can_h:
        options += [3, 4]
        weights += [0.28, 0.3]
    k = rng.choices(options, weights)[0]
    if k == 1:
        return [region]

    vertical = can_v and (pw >= ph or not can_h) if k == 2 else rng.random() < 0.5
    lo, hi = (region.x0, region.x1) if vertical else (region.y0, region.y1)
    c1 = _cut_pos(rng, lo, hi, _TERTIARY_HW)
    road1 = _branch_road(rng, cell, road, edges, vertical, c1)
    first, second = _split(region, vertical, c1, _TERTIARY_HW, road1)
    if k == 2:
        return [first, second]
    lo2, hi2 = (region.y0, region.y1) if vertical else (region.x0, region.x1)
    if k == 4:
        c2 = _cut_pos(rng, lo2, hi2, _TERTIARY_HW)
        road2 = _branch_road(rng, cell, road, edges, not vertical, c2)
        road1.pts.add(c2)
        road2.pts.add(c1)
        return [
            *_split(first, not vertical, c2, _TERTIARY_HW, road2),
            *_split(second, not vertical, c2, _TERTIARY_HW, road2),
        ]
    # k == 3: a lane from the first branch road to one side, in one half.
    c2 = _cut_pos(rng, lo2, hi2, _RESIDENTIAL_HW)
    half_is_second = rng.random() < 0.5
    half = second if half_is_second else first
    # The lane runs across road1 (east-west if road1 is vertical) to the side of its half.
    sides = ("W", "E") if vertical else ("S", "N")
    side = sides[half_is_second]
    far = _road_end(cell, road, side)
    lane = Axial(not vertical, c2, c1, far, branch_road_tags(rng, False))
    road1.pts.add(c2)
    if road[side]:
        lane.ends[far] = edges[side]
        if side in cell.strips:
            cell.cross[side].append((c2, _RESIDENTIAL_HW + 3.0))
    cell.lines.append(lane)
    parts = _split(half, not vertical, c2, _RESIDENTIAL_HW, lane)
    other = first if half_is_second else second
    return [other, *parts]


def _road_end(cell: Cell, road: dict[str, bool], side: str) -> float:
    """Where a road towards ``side`` ends: on the arterial's centre line if that side is a
    road (the node is shared), else at the edge of the interior."""
    ix0, iy0, ix1, iy1 = cell.interior
    outer = {"W": cell.x0, "E": cell.x1, "S": cell.y0, "N": cell.y1}
    inner = {"W": ix0, "E": ix1, "S": iy0, "N": iy1}
    return outer[side] if road[side] else inner[side]


def _branch_road(
    rng: random.Random,
    cell: Cell,
    road: dict[str, bool],
    edges: dict[str, Edge],
    vertical: bool,
    c: float,
) -> Axial:
    """A major branch road across the whole superblock at ``c``, joined to the arterials."""
    lo_side, hi_side = ("S", "N") if vertical else ("W", "E")
    lo = _road_end(cell, road, lo_side)
    hi = _road_end(cell, road, hi_side)
    ax = Axial(vertical, c, lo, hi, branch_road_tags(rng, True))
    for side, pos in ((lo_side, lo), (hi_side, hi)):
        if road[side]:
            ax.ends[pos] = edges[side]
            if side in cell.strips:
                cell.cross[side].append((c, _TERTIARY_HW + 3.0))
    cell.lines.append(ax)
    return ax


def _split(p: Parcel, vertical: bool, c: float, hw: float, ax: Axial) -> tuple[Parcel, Parcel]:
    """The two parcels either side of a road at ``c`` with corridor half width ``hw``."""
    if vertical:
        a = Parcel(p.x0, p.y0, c - hw, p.y1, {**p.refs, "E": ("b", ax)})
        b = Parcel(c + hw, p.y0, p.x1, p.y1, {**p.refs, "W": ("b", ax)})
    else:
        a = Parcel(p.x0, p.y0, p.x1, c - hw, {**p.refs, "N": ("b", ax)})
        b = Parcel(p.x0, c + hw, p.x1, p.y1, {**p.refs, "S": ("b", ax)})
    return a, b


def _cut_pos(rng: random.Random, lo: float, hi: float, hw: float) -> float:
    """Position of a cut near the middle of [lo, hi] leaving parcels of ``_MIN_PARCEL``."""
    c = lo + (hi - lo) * rng.uniform(0.38, 0.62)
    return min(max(c, lo + _MIN_PARCEL + hw), hi - _MIN_PARCEL - hw)


def _carve(
    rng: random.Random, parcels: list[Parcel], depth: float, min_len: float
) -> tuple | None:
    """Cut a plot ``depth`` metres deep off a parcel along one of its street sides.

    Both the plot and the rest keep a street side. Returns (rect, street_side) or None.
    """
    candidates = []
    for p in parcels:
        for s in "SNWE":
            if p.refs[s] is None:
                continue
            along = (p.x1 - p.x0) if s in "SN" else (p.y1 - p.y0)
            across = (p.y1 - p.y0) if s in "SN" else (p.x1 - p.x0)
            if along < min_len or across < depth + _MIN_PARCEL:
                continue
            if not any(p.refs[t] is not None for t in "SNWE" if t != s):
                continue
            candidates.append((p, s))
    if not candidates:
        return None
    p, s = rng.choice(candidates)
    if s == "S":
        rect = (p.x0, p.y0, p.x1, p.y0 + depth)
        p.y0 += depth
    elif s == "N":
        rect = (p.x0, p.y1 - depth, p.x1, p.y1)
        p.y1 -= depth
    elif s == "W":
        rect = (p.x0, p.y0, p.x0 + depth, p.y1)
        p.x0 += depth
    else:
        rect = (p.x1 - depth, p.y0, p.x1, p.y1)
        p.x1 -= depth
    p.refs = {**p.refs, s: None}
    return rect, s


def plan_small_district(ctx: PlanContext, n: int) -> Cell:
    """One superblock sized for ``n`` buildings, grown until it holds them (sets the
    lattice's two lines each way)."""
    lattice = ctx.lattice
    side = max(170.0, lattice.spacing * math.sqrt(n / lattice.per_superblock) * 0.8)
    cell = None
    for _ in range(40):
        lattice.xs = [0.0, side]
        lattice.ys = [0.0, side * ctx.rng.uniform(0.9, 1.1)]
        cell = plan_cell(ctx, 0, 0, force_strip=True)
        if cell.count() >= n or side > 1500.0:
            break
        side *= 1.12
    assert cell is not None
    return cell


def trim(cell: Cell, budget: int) -> int:
    """Drop buildings beyond ``budget`` keeping the residential share; returns the count."""
    res = [b for comp in cell.compounds for b in comp.buildings]
    non = cell.nonres
    total = len(res) + len(non)
    if total <= budget:
        return total
    keep_res = max(math.floor(budget * len(res) / total + 0.5), 1, budget - len(non))
    keep_res = min(len(res), keep_res)
    keep_non = budget - keep_res
    for b in res[keep_res:]:
        b.keep = False
    order = sorted(range(len(non)), key=lambda i: (_TRIM_RANK.get(non[i].role, 0), -i))
    for i in order[: len(non) - keep_non]:
        non[i].keep = False
    return budget


def write_cell(
    cell: Cell, nodes: LatticeNodes, w: OsmWriter, stats: dict[str, int]
) -> None:
    """Write a planned superblock: compound and plot areas, the buildings kept, its roads;
    counts buildings, residential buildings and tagged households into ``stats``."""
    for comp in cell.compounds:
        w.rect(comp.rect, {"landuse": "residential", "name": comp.name})
    for rect, tags in cell.polys:
        w.rect(rect, tags)
    for b in cell.buildings():
        if not b.keep:
            continue
        w.rect(b.rect, b.tags)
        stats["buildings"] += 1
        if b.role == "res":
            stats["residential"] += 1
            stats["flats"] += b.flats
    write_local_roads(cell, nodes, w)
