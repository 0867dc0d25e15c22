"""Non-residential plots and buildings of a synthetic superblock.

Schools (teaching blocks and a sports pitch), the community service centre with a kindergarten
and a pocket park, office plots, and strips of shops along the arterials (building=retail /
commercial, 1-3 levels, in the gaps left by roads crossing the strip). Points of interest are
named after a neighbouring arterial (XX路小学) or a branch road stem. Local metres.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tests.synthetic.names import BRANCH_STEMS
from tests.synthetic.plan import Bldg

if TYPE_CHECKING:
    from tests.synthetic.plan import Cell, PlanContext, Rect


def poi_name(ctx: PlanContext, cell: Cell, suffix: str) -> str:
    """A unique name for a point of interest of ``cell``: a bordering arterial's name or a
    branch road stem, then ``suffix`` (小学, 幼儿园)."""
    sides = [
        ("v", cell.col),
        ("v", cell.col + 1),
        ("h", cell.row),
        ("h", cell.row + 1),
    ]
    roads = [s for s in sides if ctx.lattice.is_road(*s)]
    rng = ctx.rng
    base = ctx.lattice.line_name(*rng.choice(roads)) if roads else rng.choice(BRANCH_STEMS)
    return ctx.names.unique(base, suffix)


def _fit(rect: Rect, width: float, depth: float, margin: float) -> Rect | None:
    """An E-W building of up to width x depth metres centred in ``rect`` with ``margin``."""
    x0, y0, x1, y1 = rect
    w = min(width, x1 - x0 - 2 * margin)
    d = min(depth, y1 - y0 - 2 * margin)
    if w < 12.0 or d < 8.0:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2)


def plan_school(ctx: PlanContext, cell: Cell, plot: tuple) -> int:
    """A school plot: 2-3 teaching blocks and a pitch if there is room; returns buildings."""
    rng = ctx.rng
    rect, _side = plot
    x0, y0, x1, y1 = rect
    name = poi_name(ctx, cell, rng.choice(("小学", "小学", "中学", "实验学校")))
    cell.polys.append((rect, {"amenity": "school", "name": name}))
    count = 0
    length = min(70.0, x1 - x0 - 24.0)
    top = y1 - 12.0
    for _ in range(rng.choice((2, 3))):
        by0 = top - 14.0
        if by0 < y0 + 12.0 or length < 30.0:
            break
        levels = str(rng.choice((4, 5)))
        cx = (x0 + x1) / 2
        b = Bldg(
            (cx - length / 2, by0, cx + length / 2, top),
            {"building": "school", "building:levels": levels},
            "school",
        )
        cell.nonres.append(b)
        count += 1
        top = by0 - 22.0
    if top - (y0 + 12.0) >= 60.0 and x1 - x0 - 24.0 >= 100.0:
        cell.polys.append(
            (
                (x0 + 12.0, y0 + 12.0, x1 - 12.0, min(top - 10.0, y0 + 12.0 + 90.0)),
                {"leisure": "pitch", "sport": "athletics"},
            )
        )
    return count


def plan_civic(ctx: PlanContext, cell: Cell, plot: tuple) -> int:
    """Community centre, kindergarten and a pocket park in a strip plot; returns buildings."""
    rng = ctx.rng
    rect, side = plot
    x0, y0, x1, y1 = rect
    along_x = side in "SN"
    length = (x1 - x0) if along_x else (y1 - y0)
    parts: list[tuple[str, float]] = [("centre", 48.0)]
    if length >= 48.0 + 70.0:
        parts.append(("kindergarten", 70.0))
    if rng.random() < 0.5:
        parts.reverse()
    used = sum(p[1] for p in parts)
    if length - used >= 30.0:
        parts.append(("park", length - used))
    else:
        name, seg = parts[-1]
        parts[-1] = (name, seg + length - used)
    pos = x0 if along_x else y0
    count = 0
    for kind, seg in parts:
        sub = (pos, y0, pos + seg, y1) if along_x else (x0, pos, x1, pos + seg)
        pos += seg
        if kind == "park":
            cell.polys.append((sub, {"leisure": "park"}))
            continue
        if kind == "kindergarten":
            cell.polys.append(
                (sub, {"amenity": "kindergarten", "name": poi_name(ctx, cell, "幼儿园")})
            )
            b_rect = _fit(sub, 42.0, 16.0, 8.0)
            tags = {"building": "kindergarten", "building:levels": str(rng.choice((2, 3)))}
        else:
            b_rect = _fit(sub, 36.0, 18.0, 6.0)
            tags = {"building": "public", "building:levels": str(rng.choice((2, 3, 4)))}
        if b_rect is not None:
            cell.nonres.append(Bldg(b_rect, tags, kind))
            count += 1
    return count


def plan_office(ctx: PlanContext, cell: Cell, plot: tuple) -> int:
    """An office plot (landuse=commercial) with 1-3 office blocks; returns buildings."""
    rng = ctx.rng
    rect, _side = plot
    x0, y0, x1, y1 = rect
    cell.polys.append((rect, {"landuse": "commercial"}))
    depth = min(24.0, y1 - y0 - 20.0)
    if depth < 12.0:
        return 0
    cy = (y0 + y1) / 2
    x = x0 + 10.0
    count = 0
    for _ in range(rng.choice((1, 2, 3))):
        width = rng.uniform(34.0, 46.0)
        if x + width > x1 - 10.0:
            break
        levels = rng.choice((8, 12, 16, 20, 24, 28))
        cell.nonres.append(
            Bldg(
                (x, cy - depth / 2, x + width, cy + depth / 2),
                {"building": "office", "building:levels": str(levels)},
                "office",
            )
        )
        count += 1
        x += width + 20.0
    return count


def plan_shops(ctx: PlanContext, cell: Cell, room: int, need_centre: bool) -> None:
    """Up to ``room`` shops in the strips along the arterials; the first slot holds the
    community centre when no civic plot could be carved (``need_centre``)."""
    rng = ctx.rng
    slots = _shop_slots(rng, cell)
    if not slots:
        return
    if need_centre:
        cell.nonres.append(
            Bldg(slots[0], {"building": "public", "building:levels": "3"}, "centre")
        )
        slots = slots[1:]
    k = min(len(slots), room)
    for i in sorted(rng.sample(range(len(slots)), k)):
        levels = rng.choices(("1", "2", "3"), (0.3, 0.45, 0.25))[0]
        kind = "retail" if rng.random() < 0.6 else "commercial"
        cell.nonres.append(
            Bldg(slots[i], {"building": kind, "building:levels": levels}, "shop")
        )


def _shop_slots(rng: random.Random, cell: Cell) -> list[Rect]:
    """Shop footprints packed along each strip, between the roads that cross it."""
    ix0, iy0, ix1, iy1 = cell.interior
    slots: list[Rect] = []
    for side in "SNWE":
        if side not in cell.strips:
            continue
        a, b = cell.strips[side]
        blocked = sorted((p - h, p + h) for p, h in cell.cross[side])
        free = []
        start = a + 2.0
        for lo, hi in blocked:
            if lo > start:
                free.append((start, min(lo, b - 2.0)))
            start = max(start, hi)
        free.append((start, b - 2.0))
        for u, v in free:
            pos = u
            while True:
                length = rng.uniform(18.0, 48.0)
                if pos + length > v:
                    if v - pos >= 18.0:
                        length = v - pos
                    else:
                        break
                d = rng.uniform(10.0, 13.0)
                if side == "S":
                    slots.append((pos, iy0 + 1.0, pos + length, iy0 + 1.0 + d))
                elif side == "N":
                    slots.append((pos, iy1 - 1.0 - d, pos + length, iy1 - 1.0))
                elif side == "W":
                    slots.append((ix0 + 1.0, pos, ix0 + 1.0 + d, pos + length))
                else:
                    slots.append((ix1 - 1.0 - d, pos, ix1 - 1.0, pos + length))
                pos += length + rng.uniform(5.0, 12.0)
    return slots
