"""Irregular synthetic districts for robustness tests of the partition.

``gis.synthetic`` draws straight orthogonal Chinese street grids. The districts made here look
nothing like that: curved warped lattices, radial-ring plans, organic Delaunay/Gabriel networks
with random-walk alleys, mixtures of these, rivers and lakes, railways and motorways cutting
through communities, blocks of towers, slabs, villas, courtyard blocks, old lanes of tiny houses,
schools, hospitals, markets, industry and parks, dirty OSM data (duplicate, overlapping and
sliver footprints, buildings without tags, buildings across community boundaries) and
communities drawn as Voronoi cells that ignore the streets, some with holes, some in two
parts, one sometimes holding a single building.

The output is OSM XML (version 0.6, WGS84 lon/lat around 114.30 E, 30.55 N, positive ids) that
``gis.study_area.load_study_area`` reads.

    python tests/irregular_district.py OUT.osm --seed N --buildings N [--style S]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely
import shapely.affinity
from scipy.spatial import Delaunay
from shapely.geometry import LineString, MultiPoint, Point, Polygon

STYLES = ("curved", "radial", "organic", "riverside", "railway", "mixed")

LON0, LAT0 = 114.30, 30.55
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))
COUNTY_CODE = "420106"  # 武昌区

ARTERIALS = ("motorway", "trunk", "primary", "secondary")
# Half width kept free of buildings around each line, metres.
CLEARANCE = {"motorway": 24.0, "trunk": 17.0, "primary": 14.0, "secondary": 11.0,
             "tertiary": 7.5, "residential": 5.5, "service": 3.5, "footway": 2.2,
             "rail": 14.0}
BLOCK_STYLES = ("tower", "slab", "villa", "lanes", "nonres", "park", "courtyard")
# Buildings per m2 of block, for the first guess of the district size.
_DENSITY = {"tower": 1 / 3000, "slab": 1 / 1900, "villa": 1 / 560, "lanes": 1 / 100,
            "nonres": 1 / 5000, "park": 0.0, "courtyard": 1 / 4800}
_NONRES = {  # kind: (building tags, (w range), (h range), (levels range))
    "school": ({"building": "school", "amenity": "school"}, (50, 70), (15, 20), (3, 5)),
    "hospital": ({"building": "hospital", "amenity": "hospital"}, (40, 60), (25, 40), (4, 12)),
    "market": ({"building": "retail", "amenity": "marketplace"}, (30, 70), (25, 45), (1, 3)),
    "mall": ({"building": "commercial", "shop": "mall"}, (40, 80), (30, 50), (2, 5)),
    "industrial": ({"building": "industrial"}, (40, 90), (20, 40), (1, 2)),
    "office": ({"building": "office", "office": "company"}, (25, 35), (25, 35), (8, 25)),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ROAD_STEMS = _words(
    "中山 解放 和平 友谊 民主 建设 胜利 团结 幸福 光明 长江 黄鹤 珞珈 东湖 沙湖 紫阳 首义 "
    "武珞 中南 积玉 白沙 晒湖 宝通 洪山 徐家棚 杨园 铁机 余家头 临江 彭刘杨 粮道 昙华林 胭脂 "
    "得胜 千家 水陆 司门口 大成 复兴 新生 三角 梅苑 八一 丁字桥 石牌岭 傅家坡 小东门 涂家岭 "
    "楚雄 青山 秦园 和平 才华 徐东 岳家嘴 团结 工农"
)
_ROAD_SUFFIXES = ("路", "街", "大道", "巷", "里", "一路", "二路", "横路")
_COMMUNITY_STEMS = _words(
    "紫阳 首义 彭刘杨 粮道 昙华林 胭脂山 得胜桥 千家街 水陆街 司门口 大成 复兴 新生 三角路 梅苑 "
    "八一 丁字桥 石牌岭 傅家坡 小东门 涂家岭 中华路 积玉桥 白沙洲 杨园 铁机 余家头 徐家棚 和平 "
    "南湖 宝通寺 洪山 中南 武泰闸 张家湾 烽火 晒湖 沙湖 东亭 水果湖 省府 东湖 楚汉 临江 平湖门 "
    "文昌 黄鹤楼 凤凰"
)
_COMMUNITY_SUFFIXES = ("", "东", "西", "南", "北", "新村", "里", "苑", "花园", "一", "二")
_RIVER_NAMES = ("巡司河", "青山港", "东沙湖渠", "罗家港", "黄孝河", "南湖渠", "汤逊湖港")
_LAKE_NAMES = ("紫阳湖", "水果湖", "晒湖", "四美塘", "都司湖", "内沙湖")
_RAIL_NAMES = ("京广铁路", "武九铁路", "武昌南环线", "汉丹铁路", "武汉枢纽联络线")


@dataclass
class IrregularDistrict:  # what was generated, for tests to check against
    path: Path
    buildings: int
    households: int  # sum of building:flats written (buildings without flats count 0)
    communities: int
    features: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# Geometry helpers (local metres: x east, y north, origin at LON0/LAT0)


def _rot(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _parts(geom) -> list:
    if geom is None or geom.is_empty:
        return []
    return [g for g in shapely.get_parts(geom) if not g.is_empty]


def _line_parts(geom, min_len: float = 0.0) -> list[LineString]:
    out = []
    for g in _parts(geom):
        if g.geom_type == "LineString" and g.length > min_len:
            out.append(g)
        elif g.geom_type in ("MultiLineString", "GeometryCollection"):
            out += _line_parts(g, min_len)
    return out


def _poly_parts(geom, min_area: float = 0.0) -> list[Polygon]:
    out = []
    for g in _parts(geom):
        if g.geom_type == "Polygon" and g.area > min_area:
            out.append(g)
        elif g.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += _poly_parts(g, min_area)
    return out


def _blob(rng, centre, radius: float, n: int = 40, rough: float = 0.18) -> Polygon:
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for f in (2, 3, 5):
        r += rng.uniform(0, rough) / f * 2 * np.sin(f * th + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.45, None) * radius
    return Polygon(np.c_[centre[0] + r * np.cos(th), centre[1] + r * np.sin(th)])


def _wavy_line(rng, centre, angle: float, half_len: float, amp: float, n: int = 160,
               offset: float = 0.0) -> LineString:
    t = np.linspace(-half_len, half_len, n)
    lat = offset + amp * np.sin(2 * np.pi * t / rng.uniform(0.7, 1.6) / half_len
                                + rng.uniform(0, 2 * np.pi))
    lat += 0.35 * amp * np.sin(2 * np.pi * t / rng.uniform(0.25, 0.5) / half_len
                               + rng.uniform(0, 2 * np.pi))
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-u[1], u[0]])
    pts = np.asarray(centre) + t[:, None] * u + lat[:, None] * v
    return LineString(pts)


def _random_point_in(rng, poly: Polygon, shrink: float = 0.0):
    target = poly.buffer(-shrink) if shrink else poly
    if target.is_empty:
        target = poly
    minx, miny, maxx, maxy = target.bounds
    for _ in range(500):
        p = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if target.contains(Point(p)):
            return p
    return target.representative_point().coords[0]


# ------------------------------------------------------------------------------------------
# Street networks. Each returns a list of (LineString, tags).


class _Names:
    def __init__(self, rng):
        combos = [f"{s}{x}" for s in dict.fromkeys(_ROAD_STEMS) for x in _ROAD_SUFFIXES]
        self.combos = [combos[i] for i in rng.permutation(len(combos)).tolist()]
        self.next = 0

    def road(self, kind: str = "") -> str:
        name = self.combos[self.next % len(self.combos)]
        round_ = self.next // len(self.combos)
        self.next += 1
        if kind:
            name = name.rstrip("".join(_ROAD_SUFFIXES)) + kind
        return name if round_ == 0 else f"{name}{round_ + 1}"


def _street_tags(cls: str, name: str | None) -> dict[str, str]:
    tags = {"highway": cls}
    if name and cls not in ("footway", "service"):
        tags["name"] = name
    if cls in ("primary", "secondary", "trunk"):
        tags["lanes"] = {"trunk": "6", "primary": "6", "secondary": "4"}[cls]
    return tags


def _minor_class(rng) -> str:
    return str(rng.choice(["residential", "residential", "residential", "tertiary", "service",
                           "footway"], p=[0.3, 0.2, 0.15, 0.17, 0.1, 0.08]))


def _net_curved(rng, area: Polygon, s: float, names: _Names):
    c = np.array(area.centroid.coords[0])
    radius = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T))) + s
    n = int(radius / s) + 2
    idx = np.arange(-n, n + 1) * s
    gx, gy = np.meshgrid(idx, idx, indexing="ij")
    pts = np.stack([gx, gy], axis=-1) + rng.uniform(-0.18, 0.18, (*gx.shape, 2)) * s
    amp = rng.uniform(0.25, 0.75) * s
    lam = rng.uniform(3.0, 9.0, 4) * s
    ph = rng.uniform(0, 2 * np.pi, 4)
    rot = _rot(rng.uniform(0, np.pi))

    def warp(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        wx = x + amp * np.sin(2 * np.pi * y / lam[0] + ph[0]) + 0.4 * amp * np.sin(
            2 * np.pi * x / lam[2] + ph[2])
        wy = y + amp * np.sin(2 * np.pi * x / lam[1] + ph[1]) + 0.4 * amp * np.sin(
            2 * np.pi * y / lam[3] + ph[3])
        return np.c_[wx, wy] @ rot.T + c

    p_drop = rng.uniform(0.05, 0.3)
    art_mod = int(rng.integers(3, 7))
    near = area.buffer(s)
    shapely.prepare(near)
    t = np.linspace(0.0, 1.0, 9)[None, :, None]
    out = []
    for axis in (0, 1):
        off = int(rng.integers(0, art_mod))
        for j in range(2 * n + 1):
            line_pts = pts[:, j] if axis == 0 else pts[j, :]
            arterial = (j - off) % art_mod == 0 and rng.random() < 0.7
            cls = str(rng.choice(["primary", "secondary"], p=[0.35, 0.65])) if arterial else (
                "tertiary" if rng.random() < 0.25 else "residential")
            name = names.road("大道" if arterial else "")
            drop = rng.random(2 * n) < (0.0 if arterial else p_drop)
            foot = rng.random(2 * n) < 0.4
            service = rng.random(2 * n) < 0.5
            a, b = line_pts[:-1], line_pts[1:]
            seg = warp((a[:, None, :] + t * (b - a)[:, None, :]).reshape(-1, 2)).reshape(-1, 9, 2)
            inside = shapely.contains_xy(near, seg[:, 0, 0], seg[:, 0, 1]) | shapely.contains_xy(
                near, seg[:, -1, 0], seg[:, -1, 1])
            lines = shapely.linestrings(seg)
            for i in np.flatnonzero(inside & (~drop | foot)).tolist():
                seg_cls = cls if not drop[i] else ("service" if service[i] else "footway")
                out.append((lines[i], _street_tags(seg_cls, name)))
    return out


def _net_radial(rng, area: Polygon, s: float, names: _Names):
    c = np.array(area.centroid.coords[0])
    half = math.sqrt(area.area / math.pi)
    cand = c + rng.normal(0, 0.15 * half, 2)
    if area.buffer(-0.2 * half).contains(Point(cand)):
        c = cand
    radius = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T))) + s
    dr = s * rng.uniform(0.9, 1.4)
    n_rings = int(radius / dr) + 1
    n0 = int(rng.integers(5, 10))
    phase = rng.uniform(0, 2 * np.pi)
    wob_a, wob_f, wob_p = rng.uniform(0, 0.08), int(rng.integers(2, 5)), rng.uniform(0, 6.3)
    rot_amp = rng.uniform(0, 0.25)  # spiral twist of the spokes, radians per ring

    def pt(r: float, th: np.ndarray) -> np.ndarray:
        th = np.asarray(th, dtype=float)
        rr = r * (1 + wob_a * np.sin(wob_f * th + wob_p))
        return np.c_[c[0] + rr * np.cos(th), c[1] + rr * np.sin(th)]

    angle_sets = {}
    for k in range(1, n_rings + 2):
        d = max(1, round(2 * np.pi * k * dr / (n0 * s * 1.2)))
        m = n0 * d
        base = phase + k * rot_amp + 2 * np.pi * np.arange(m) / m
        jit = rng.uniform(-0.3, 0.3, m) * 2 * np.pi / m
        jit[::d] = 0.0
        angle_sets[k] = (base + jit, d)
    main = set(rng.choice(n0, size=int(rng.integers(2, min(n0, 5) + 1)), replace=False).tolist())
    ring_road = int(rng.integers(1, max(2, n_rings)))
    p_drop = rng.uniform(0.05, 0.25)
    out = []
    spoke_names = {j: names.road("大道") for j in main}
    for k in range(1, n_rings + 1):
        r = k * dr
        angs, _d = angle_sets[k]
        nxt, _ = angle_sets[k + 1]
        cls = "secondary" if k == ring_road else ("tertiary" if k % 3 == 0 else "residential")
        name = names.road("环路" if k == ring_road else "")
        m = len(angs)
        for i in range(m):
            a0 = angs[i]
            a1 = angs[(i + 1) % m] + (2 * np.pi if i == m - 1 else 0.0)
            extra = np.mod(nxt - a0, 2 * np.pi) + a0
            extra = extra[(extra > a0) & (extra < a1)]
            th = np.unique(np.r_[np.linspace(a0, a1, 9), extra])
            seg_cls = cls
            if cls != "secondary" and rng.random() < p_drop:
                if rng.random() < 0.6:
                    continue
                seg_cls = "footway"
            out.append((LineString(pt(r, th)), _street_tags(seg_cls, name)))
    for k in range(1, n_rings + 1):
        angs, d = angle_sets[k]
        prev = angle_sets[k - 1][0] if k > 1 else None
        for j, a in enumerate(angs):
            is_main = j % d == 0 and (j // d) in main
            if k == 1 and not is_main and rng.random() < 0.6:
                continue
            # a spoke from ring k-1 to ring k; its inner end on ring k-1 at the same angle
            # when ring k-1 has it, else at the nearest of ring k-1's angles
            if prev is None:
                a_in = a
                r_in = 0.0
            else:
                diff = np.abs(np.angle(np.exp(1j * (prev - a))))
                a_in = prev[int(np.argmin(diff))] if diff.min() < 0.5 * 2 * np.pi / len(prev) \
                    else a
                r_in = (k - 1) * dr
            if not is_main and rng.random() < p_drop:
                continue
            t = np.linspace(0, 1, 6)
            inner = pt(r_in, [a_in])[0] if r_in > 0 else c
            outer = pt(k * dr, [a])[0]
            mid = inner + t[:, None] * (outer - inner)
            mid[0], mid[-1] = inner, outer
            cls = str(rng.choice(["primary", "secondary"])) if is_main else _minor_class(rng)
            out.append((LineString(mid), _street_tags(
                cls, spoke_names.get(j // d) if is_main else names.road())))
    return out


def _net_organic(rng, area: Polygon, s: float, names: _Names):
    minx, miny, maxx, maxy = area.buffer(s).bounds
    step = s * 0.85
    gx, gy = np.meshgrid(np.arange(minx, maxx, step), np.arange(miny, maxy, step))
    pts = np.c_[gx.ravel(), gy.ravel()] + rng.uniform(-0.42, 0.42, (gx.size, 2)) * step
    near = shapely.contains_xy(area.buffer(0.6 * s), pts[:, 0], pts[:, 1])
    pts = pts[near]
    tri = Delaunay(pts)
    edges: dict[tuple[int, int], bool] = {}
    for simplex in tri.simplices:
        for k in range(3):
            a, b, r = simplex[k], simplex[(k + 1) % 3], simplex[(k + 2) % 3]
            key = (min(a, b), max(a, b))
            gabriel = float(np.dot(pts[a] - pts[r], pts[b] - pts[r])) > 0
            edges[key] = edges.get(key, True) and gabriel
    keys = sorted(k for k, ok in edges.items() if ok)
    p_drop = rng.uniform(0.1, 0.3)
    out = []
    for a, b in keys:
        pa, pb = pts[a], pts[b]
        length = float(np.hypot(*(pb - pa)))
        if length > 2.2 * s or rng.random() < p_drop * min(1.5, length / s):
            continue
        normal = np.array([-(pb - pa)[1], (pb - pa)[0]]) / max(length, 1e-9)
        ctrl = (pa + pb) / 2 + normal * rng.uniform(-0.2, 0.2) * length
        t = np.linspace(0, 1, 9)[:, None]
        curve = (1 - t) ** 2 * pa + 2 * (1 - t) * t * ctrl + t**2 * pb
        curve[0], curve[-1] = pa, pb
        out.append((LineString(curve), _street_tags(_minor_class(rng), names.road())))
    # random-walk alleys from street vertices into the blocks (巷, often dead ends)
    n_walks = int(len(out) * rng.uniform(0.05, 0.2))
    for _ in range(n_walks):
        base = out[int(rng.integers(len(out)))][0]
        coords = np.asarray(base.coords)
        i = int(rng.integers(1, len(coords) - 1))
        d = coords[i + 1] - coords[i - 1]
        heading = math.atan2(d[1], d[0]) + (np.pi / 2 if rng.random() < 0.5 else -np.pi / 2)
        p = coords[i].copy()
        walk = [p.copy()]
        for _ in range(int(rng.integers(2, 7))):
            heading += rng.normal(0, 0.5)
            p = p + rng.uniform(12, 28) * np.array([math.cos(heading), math.sin(heading)])
            walk.append(p.copy())
        out.append((LineString(walk), _street_tags(str(rng.choice(["footway", "service"])),
                                                   None)))
    for _ in range(int(rng.integers(1, 3))):
        out.append(_arterial_curve(rng, area, names))
    return out


def _arterial_curve(rng, area: Polygon, names: _Names, cls: str | None = None):
    c = np.array(area.centroid.coords[0])
    half = math.sqrt(area.area / math.pi)
    radius = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T)))
    line = _wavy_line(rng, c, rng.uniform(0, np.pi), radius + 50, rng.uniform(0.02, 0.1) * half,
                      offset=rng.uniform(-0.4, 0.4) * half)
    cls = cls or str(rng.choice(["primary", "secondary"], p=[0.4, 0.6]))
    return shapely.segmentize(line, 15.0), _street_tags(cls, names.road("大道"))


def _net_mixed(rng, area: Polygon, s: float, names: _Names):
    n_zones = int(rng.integers(2, 5))
    seeds = [_random_point_in(rng, area, 0.1 * math.sqrt(area.area)) for _ in range(n_zones)]
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area)
    out = []
    kinds = [_net_curved, _net_radial, _net_organic]
    for cell in _parts(cells):
        zone = cell.intersection(area)
        if zone.is_empty:
            continue
        maker = kinds[int(rng.integers(3))]
        sub_area = max(_poly_parts(zone), key=lambda p: p.area)
        for line, tags in maker(rng, sub_area, s * rng.uniform(0.7, 1.3), names):
            for part in _line_parts(line.intersection(zone), 1.0):
                out.append((part, tags))
        border = zone.boundary.difference(area.boundary.buffer(1.0))
        cls = "secondary" if rng.random() < 0.5 else "tertiary"
        for part in _line_parts(border, 1.0):
            out.append((shapely.segmentize(part, 15.0), _street_tags(cls, names.road())))
    return out


# ------------------------------------------------------------------------------------------
# One attempt at a district layout


@dataclass
class _Layout:
    area: Polygon
    streets: list  # (LineString, tags), noded highway pieces
    separate: list  # (LineString, tags): motorways, railways, rivers (not noded)
    water: list  # (Polygon, tags)
    blocks: np.ndarray  # Polygons
    block_style: np.ndarray  # index into BLOCK_STYLES
    block_kind: list  # nonres kind per block (or "")
    cand: np.ndarray  # candidate footprints (Polygons) kept after containment/overlap checks
    cand_block: np.ndarray
    features: list[str]


def _layout(rng, style: str, radius: float, weights: np.ndarray) -> _Layout:
    names = _Names(rng)
    features: list[str] = []
    # --- the area: a lumpy, stretched star-shaped polygon
    n = 72
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for f in (2, 3, 4, 5, 7):
        r += rng.uniform(0, 0.22 / f) * 2 * np.sin(f * th + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.45, None)
    aspect = rng.uniform(1.0, 1.6)
    xy = np.c_[r * np.cos(th) * radius * math.sqrt(aspect), r * np.sin(th) * radius /
               math.sqrt(aspect)] @ _rot(rng.uniform(0, np.pi)).T
    area = shapely.make_valid(Polygon(xy))
    area = max(_poly_parts(area), key=lambda p: p.area)

    s = float(rng.uniform(90, 190))
    base = style
    if style == "riverside":
        base = "curved" if rng.random() < 0.5 else "organic"
    elif style == "railway":
        base = str(rng.choice(["curved", "radial", "organic"]))
    maker = {"curved": _net_curved, "radial": _net_radial, "organic": _net_organic,
             "mixed": _net_mixed}[base]
    features.append(f"{base}_streets")
    raw = maker(rng, area, s, names)

    # --- barriers that cross the district
    c = np.array(area.centroid.coords[0])
    half_len = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T))) + 150
    separate, water, zones = [], [], []  # zones: (polygon, kind) crossed by bridges or cut
    if style == "riverside" or rng.random() < 0.3:
        width = rng.uniform(25, 90)
        river = _wavy_line(rng, c, rng.uniform(0, np.pi), half_len,
                           rng.uniform(0.04, 0.15) * radius, offset=rng.uniform(-0.3, 0.3) * radius)
        separate.append((river, {"waterway": "river", "name": str(rng.choice(_RIVER_NAMES))}))
        zone = river.buffer(width / 2 + 6, cap_style="flat")
        if style == "riverside" or rng.random() < 0.5:
            bank = river.buffer(width / 2, cap_style="flat").intersection(area.buffer(120))
            for part in _poly_parts(bank, 100):
                water.append((part, {"natural": "water", "water": "river"}))
        zones.append((zone, "river", width / 2 + 10))
        for sign in (1, -1):
            if rng.random() < (0.8 if style == "riverside" else 0.3):
                road = river.offset_curve(sign * (width / 2 + 20), join_style="round")
                for part in _line_parts(road.intersection(area), 20):
                    raw.append((shapely.segmentize(part, 15.0), _street_tags(
                        "tertiary", names.road("滨河路"))))
    if style == "railway" or rng.random() < 0.25:
        n_rail = 1 if style != "railway" else int(rng.integers(1, 3))
        for _ in range(n_rail):
            rail = _wavy_line(rng, c, rng.uniform(0, np.pi), half_len,
                              rng.uniform(0.0, 0.04) * radius,
                              offset=rng.uniform(-0.35, 0.35) * radius)
            separate.append((rail, {"railway": "rail", "name": str(rng.choice(_RAIL_NAMES)),
                                    "gauge": "1435", "electrified": "contact_line"}))
            zones.append((rail.buffer(9, cap_style="flat"), "rail", CLEARANCE["rail"]))
    if rng.random() < (0.35 if style == "railway" else 0.15):
        mway = _wavy_line(rng, c, rng.uniform(0, np.pi), half_len, rng.uniform(0, 0.05) * radius,
                          offset=rng.uniform(-0.4, 0.4) * radius)
        tags = {"highway": "motorway", "ref": f"G{int(rng.integers(4, 99))}", "oneway": "no"}
        if rng.random() < 0.5:
            tags |= {"bridge": "viaduct", "layer": "1"}
        separate.append((mway, tags))
        zones.append((mway.buffer(15, cap_style="flat"), "motorway", CLEARANCE["motorway"]))
    if rng.random() < 0.2:
        raw.append(_arterial_curve(rng, area, names, "trunk"))
    lakes = []
    if rng.random() < (0.5 if style == "riverside" else 0.25):
        lr = rng.uniform(0.1, 0.25) * radius
        lake = _blob(rng, _random_point_in(rng, area, lr), lr).intersection(area)
        for part in _poly_parts(lake, 200):
            lakes.append(part)
            water.append((part, {"natural": "water", "water": "lake",
                                 "name": str(rng.choice(_LAKE_NAMES))}))

    # --- clip streets, cut or bridge them at barriers, remove them from lakes
    lake_cut = shapely.union_all([lk.buffer(6) for lk in lakes]) if lakes else None
    pieces: list[tuple[LineString, dict]] = []
    p_bridge = rng.uniform(0.15, 0.5)
    raw_geoms = shapely.intersection(np.array([g for g, _ in raw], dtype=object), area)
    if lake_cut is not None:
        raw_geoms = shapely.difference(raw_geoms, lake_cut)
    zone_arr = np.array([z for z, _, _ in zones], dtype=object)
    if len(zone_arr):
        hits = shapely.intersects(raw_geoms[:, None], zone_arr[None, :])
    else:
        hits = np.zeros((len(raw_geoms), 0), bool)
    for k in range(len(raw)):
        geom, tags = raw_geoms[k], raw[k][1]
        if geom.is_empty:
            continue
        if not hits[k].any():
            if geom.geom_type == "LineString":
                if geom.length > 6.0:
                    pieces.append((geom, tags))
            else:
                pieces += [(part, tags) for part in _line_parts(geom, 6.0)]
            continue
        cut, over = [], []
        for z in np.flatnonzero(hits[k]).tolist():
            zone, kind, _clear = zones[z]
            if tags["highway"] in ARTERIALS or rng.random() < p_bridge:
                over.append((zone, kind))
            else:
                cut.append(zone)
        if cut:
            geom = geom.difference(shapely.union_all(cut))
        for zone, kind in over:
            inside = geom.intersection(zone)
            geom = geom.difference(zone)
            extra = ({"tunnel": "yes", "layer": "-1"} if kind == "rail" and
                     rng.random() < 0.5 else {"bridge": "yes", "layer": "1"})
            for part in _line_parts(inside, 0.5):
                pieces.append((part, tags | extra))
        for part in _line_parts(geom, 6.0):
            pieces.append((part, tags))

    # dead-end spurs into blocks (胡同 / service lanes ending at a gate)
    if pieces and rng.random() < 0.75:
        blocked = shapely.union_all([z for z, _, _ in zones] + lakes) if zones or lakes else None
        n_spurs = int(len(pieces) * rng.uniform(0.04, 0.15))
        for _ in range(n_spurs):
            base_line, base_tags = pieces[int(rng.integers(len(pieces)))]
            coords = np.asarray(base_line.coords)
            if len(coords) < 3 or base_tags["highway"] in ("motorway", "trunk"):
                continue
            i = int(rng.integers(1, len(coords) - 1))
            d = coords[i + 1] - coords[i - 1]
            nd = float(np.hypot(*d))
            if nd < 1e-6:
                continue
            normal = np.array([-d[1], d[0]]) / nd * (1 if rng.random() < 0.5 else -1)
            length = rng.uniform(25, 75)
            bend = rng.normal(0, 0.3)
            p1 = coords[i] + normal * length * 0.5
            p2 = p1 + (_rot(bend) @ normal) * length * 0.5
            spur = LineString([coords[i], p1, p2]).intersection(area)
            if blocked is not None:
                spur = spur.difference(blocked)
            for part in _line_parts(spur, 8.0):
                if part.coords[0] == tuple(coords[i]):
                    pieces.append((part, _street_tags(str(rng.choice(["service", "footway"])),
                                                      None)))

    # --- node the highways: every crossing a shared node
    src = np.array([g for g, _ in pieces], dtype=object)
    noded = _line_parts(shapely.union_all(src), 0.0) if len(src) else []
    streets = []
    if noded:
        tree = shapely.STRtree(src)
        mids = shapely.line_interpolate_point(np.array(noded, dtype=object), 0.5, normalized=True)
        q_in, q_tree = tree.query(mids, predicate="dwithin", distance=0.01)
        owner = np.full(len(noded), -1)
        for a, b in zip(q_in[::-1], q_tree[::-1], strict=True):  # lowest tree index wins
            owner[a] = b
        for k, g in enumerate(noded):
            tags = pieces[owner[k]][1] if owner[k] >= 0 else {"highway": "residential"}
            streets.append((g, tags))

    # --- blocks: the area minus street, rail, river corridors and water
    lines = np.array([g for g, _ in streets] + [g for g, _ in separate], dtype=object)
    widths = np.array([CLEARANCE.get(t.get("highway", ""), 5.0) for _, t in streets]
                      + [_sep_clearance(t, zones) for _, t in separate])
    corridors = shapely.buffer(lines, widths, quad_segs=2) if len(lines) else np.array([])
    blocked = shapely.union_all(np.r_[corridors, np.array(
        [w.buffer(8) for w, _ in water], dtype=object)])
    buildable = area.buffer(-4).difference(blocked)
    blocks = np.array(_poly_parts(buildable, 150.0), dtype=object)

    # --- building candidates per block
    styles, kinds, cand, cand_block = _place(rng, blocks, weights)
    return _Layout(area, streets, separate, water, blocks, styles, kinds, cand, cand_block,
                   features)


def _crop(lay: _Layout, f: float) -> _Layout:
    """The layout inside the area scaled by ``f`` about the origin (its star centre)."""
    area = shapely.affinity.scale(lay.area, f, f, origin=(0, 0))
    geoms = shapely.intersection(np.array([g for g, _ in lay.streets], dtype=object), area)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    ok = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 1.0)
    streets = [(parts[k], lay.streets[idx[k]][1]) for k in np.flatnonzero(ok).tolist()]
    water = []
    for poly, tags in lay.water:
        clip = area.buffer(120) if tags.get("water") == "river" else area
        water += [(p, tags) for p in _poly_parts(poly.intersection(clip), 100.0)]
    blocks = shapely.intersection(lay.blocks, area.buffer(-4))
    return _Layout(area, streets, lay.separate, water, blocks, lay.block_style, lay.block_kind,
                   lay.cand, lay.cand_block, list(lay.features))


def _network_features(lay: _Layout) -> list[str]:
    """What the (cropped) district holds of streets, barriers and water."""
    out = []
    hw = {t["highway"] for _, t in lay.streets}
    if hw & {"primary", "secondary"}:
        out.append("arterials")
    if "trunk" in hw:
        out.append("trunk")
    if any("bridge" in t or "tunnel" in t for _, t in lay.streets):
        out.append("bridges")
    for key, value, name in (("waterway", "river", "river"), ("railway", "rail", "railway"),
                             ("highway", "motorway", "motorway")):
        if any(t.get(key) == value and g.intersects(lay.area) for g, t in lay.separate):
            out.append(name)
    for value, name in (("river", "river_area"), ("lake", "lake")):
        if any(t.get("water") == value and p.intersects(lay.area) for p, t in lay.water):
            out.append(name)
    if lay.streets:
        ends = shapely.get_coordinates(shapely.boundary(np.array(
            [g for g, _ in lay.streets], dtype=object)))
        keys, counts = np.unique(np.round(ends, 2), axis=0, return_counts=True)
        dangling = keys[counts == 1]
        if len(dangling) and bool(np.any(shapely.distance(
                lay.area.boundary, shapely.points(dangling)) > 3)):
            out.append("dead_ends")
    return out


def _sep_clearance(tags: dict[str, str], zones) -> float:
    if "railway" in tags:
        return CLEARANCE["rail"]
    if "waterway" in tags:
        return next(c for _z, k, c in zones if k == "river")
    return CLEARANCE["motorway"]


# ------------------------------------------------------------------------------------------
# Building placement


def _place(rng, blocks: np.ndarray, weights: np.ndarray):
    nb = len(blocks)
    if nb == 0:
        return np.zeros(0, int), [], np.array([], dtype=object), np.zeros(0, int)
    env = shapely.oriented_envelope(blocks)
    env_xy = [np.asarray(e.exterior.coords) if e.geom_type == "Polygon" else None for e in env]
    styles = rng.choice(len(BLOCK_STYLES), size=nb, p=weights)
    kinds = [""] * nb
    centres, half_a, half_b, angles, owner, style_of = [], [], [], [], [], []
    for b in range(nb):
        block = blocks[b]
        exy = env_xy[b]
        if exy is None:
            continue
        e1, e2 = exy[1] - exy[0], exy[2] - exy[1]
        long_side, short_side = (e1, e2) if np.hypot(*e1) >= np.hypot(*e2) else (e2, e1)
        width = float(np.hypot(*short_side))
        theta = math.atan2(long_side[1], long_side[0])
        st = BLOCK_STYLES[styles[b]]
        if block.area < 600 or width < 24:
            st = str(rng.choice(["lanes", "park", "villa"], p=[0.6, 0.25, 0.15]))
        elif width < 45 and st in ("tower", "courtyard", "nonres"):
            st = "slab" if width >= 30 else "villa"
        styles[b] = BLOCK_STYLES.index(st)
        if st == "park":
            continue
        jit_rot = 0.05
        if st == "tower":
            du, dv = rng.uniform(45, 65), rng.uniform(45, 65)
            a = rng.uniform(10, 15)
            sizes = lambda k, a=a: (np.full(k, a) + rng.uniform(-0.5, 0.5, k),) * 2  # noqa: E731
        elif st == "slab":
            lmax = rng.uniform(50, 80)
            du, dv = lmax + rng.uniform(8, 15), rng.uniform(30, 40)
            sizes = lambda k, lmax=lmax: (rng.uniform(50, lmax, k) / 2,  # noqa: E731
                                          rng.uniform(12, 14, k) / 2)
        elif st == "courtyard":
            side = rng.uniform(40, 55)
            du = dv = side + rng.uniform(15, 25)
            sizes = lambda k, side=side: (np.full(k, side / 2), np.full(k, side / 2))  # noqa: E731
        elif st == "villa":
            du, dv = rng.uniform(20, 28), rng.uniform(20, 28)
            sizes = lambda k: (rng.uniform(10, 16, k) / 2, rng.uniform(9, 13, k) / 2)  # noqa: E731
            jit_rot = 0.14
        elif st == "lanes":
            du, dv = rng.uniform(7, 10), rng.uniform(8, 11)
            theta += rng.uniform(-0.35, 0.35)
            sizes = lambda k, du=du, dv=dv: (  # noqa: E731
                (du - rng.uniform(0.8, 2.0, k)) / 2, (dv - rng.uniform(0.8, 2.0, k)) / 2)
            jit_rot = 0.17
        else:  # nonres
            kind = str(rng.choice(list(_NONRES)))
            kinds[b] = kind
            _tags, wr, hr, _lv = _NONRES[kind]
            du, dv = wr[1] + rng.uniform(15, 30), hr[1] + rng.uniform(15, 30)
            sizes = lambda k, wr=wr, hr=hr: (rng.uniform(*wr, k) / 2,  # noqa: E731
                                             rng.uniform(*hr, k) / 2)
        rot = _rot(-theta)
        local = (np.asarray(block.exterior.coords) - exy[0]) @ rot.T
        minu, minv = local.min(axis=0)
        maxu, maxv = local.max(axis=0)
        us = np.arange(minu + rng.uniform(0, du), maxu, du)
        vs = np.arange(minv + rng.uniform(0, dv), maxv, dv)
        if len(us) == 0 or len(vs) == 0:
            continue
        gu, gv = np.meshgrid(us, vs)
        k = gu.size
        jitter = 0.8 if st == "lanes" else 2.0
        loc = np.c_[gu.ravel(), gv.ravel()] + rng.uniform(-jitter, jitter, (k, 2))
        world = loc @ _rot(theta).T + exy[0]
        a_half, b_half = sizes(k)
        centres.append(world)
        half_a.append(a_half)
        half_b.append(b_half)
        angles.append(theta + rng.normal(0, jit_rot, k))
        owner.append(np.full(k, b))
        style_of.append(st)
    if not centres:
        return styles, kinds, np.array([], dtype=object), np.zeros(0, int)
    centres = np.concatenate(centres)
    half_a, half_b = np.concatenate(half_a), np.concatenate(half_b)
    angles, owner = np.concatenate(angles), np.concatenate(owner)
    polys = _rects(centres, half_a, half_b, angles)
    shapely.prepare(blocks)
    inside = shapely.contains(blocks[owner], polys)
    polys, owner = polys[inside], owner[inside]
    if len(polys):
        tree = shapely.STRtree(polys)
        qa, qb = tree.query(polys, predicate="intersects")
        clash = qa != qb
        drop = np.unique(np.maximum(qa[clash], qb[clash]))
        keep = np.ones(len(polys), bool)
        keep[drop] = False
        polys, owner = polys[keep], owner[keep]
    return styles, kinds, polys, owner


def _rects(centres, half_a, half_b, angles) -> np.ndarray:
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]], float)
    local = corners[None, :, :] * np.stack([half_a, half_b], axis=1)[:, None, :]
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    x = local[..., 0] * cos - local[..., 1] * sin + centres[:, 0:1]
    y = local[..., 0] * sin + local[..., 1] * cos + centres[:, 1:2]
    return shapely.polygons(np.stack([x, y], axis=-1))


# ------------------------------------------------------------------------------------------
# Tags of the buildings


def _building_tags(rng, st: str, kind: str, poly: Polygon, landuse: bool) -> dict[str, str]:
    if st == "tower":
        levels = int(rng.integers(18, 34))
        flats = int(np.clip(levels * rng.uniform(2, 6), 60, 200))
        return {"building": "yes" if landuse and rng.random() < 0.6 else
                str(rng.choice(["apartments", "residential"])),
                "building:levels": str(levels), "building:flats": str(flats)}
    if st == "slab":
        return {"building": "yes" if landuse and rng.random() < 0.6 else
                str(rng.choice(["residential", "apartments"], p=[0.7, 0.3])),
                "building:levels": "6", "building:flats": str(int(rng.integers(24, 73)))}
    if st == "courtyard":
        return {"building": "apartments", "building:levels": str(int(rng.integers(4, 8))),
                "building:flats": str(int(rng.integers(40, 121)))}
    if st == "villa":
        tags = {"building": str(rng.choice(["villa", "detached", "house"]))}
        if rng.random() < 0.8:
            tags["building:levels"] = str(int(rng.integers(2, 4)))
        if rng.random() < 0.6:
            tags["building:flats"] = str(int(rng.integers(1, 3)))
        return tags
    if st == "lanes":
        tags = {"building": "house" if rng.random() < 0.6 else "yes"}
        if rng.random() < 0.5:
            tags["building:levels"] = "1"
        return tags
    base, _w, _h, lv = _NONRES[kind]
    return base | {"building:levels": str(int(rng.integers(lv[0], lv[1] + 1)))}


def _estimated_households(tags: dict[str, str], area_m2: float) -> float:
    """What the loader makes of a residential building (flats, else floor area / 90 m2)."""
    if "building:flats" in tags:
        return float(tags["building:flats"])
    if tags["building"] in ("house", "villa", "detached", "residential", "apartments"):
        levels = float(tags.get("building:levels", 2))
        return max(1.0, round(area_m2 * levels / 90.0))
    return 0.0


# ------------------------------------------------------------------------------------------
# OSM output


class _Osm:
    def __init__(self) -> None:
        self.xy: list[tuple[float, float]] = []
        self.keyed: dict[tuple[int, int], int] = {}
        self.ways: list[tuple[list[int], dict[str, str]]] = []
        self.rels: list[tuple[list[tuple[str, int, str]], dict[str, str]]] = []

    def node(self, x: float, y: float, shared: bool) -> int:
        if shared:
            key = (round(x * 100), round(y * 100))
            got = self.keyed.get(key)
            if got is not None:
                return got
        self.xy.append((x, y))
        nid = len(self.xy)
        if shared:
            self.keyed[key] = nid
        return nid

    def way(self, coords, tags: dict[str, str], *, shared: bool, closed: bool = False) -> int:
        pts = np.asarray(coords)
        if closed:
            pts = pts[:-1]
        refs = [self.node(float(x), float(y), shared) for x, y in pts]
        dedup = [r for i, r in enumerate(refs) if i == 0 or r != refs[i - 1]]
        if closed:
            if dedup[-1] == dedup[0]:
                dedup.pop()
            dedup.append(dedup[0])
        self.ways.append((dedup, tags))
        return len(self.ways)

    def area(self, poly, tags: dict[str, str], *, shared: bool) -> None:
        """A polygon: a closed way when simple, else a multipolygon relation."""
        parts = _poly_parts(poly)
        if len(parts) == 1 and not parts[0].interiors:
            self.way(shapely.orient_polygons(parts[0]).exterior.coords, tags, shared=shared,
                     closed=True)
            return
        members = []
        for part in parts:
            part = shapely.orient_polygons(part)
            members.append(("w", self.way(part.exterior.coords, {}, shared=shared, closed=True),
                            "outer"))
            for ring in part.interiors:
                members.append(("w", self.way(ring.coords, {}, shared=shared, closed=True),
                                "inner"))
        self.rels.append((members, {"type": "multipolygon"} | tags))

    def write(self, path: Path) -> None:
        xy = np.asarray(self.xy)
        lon = LON0 + xy[:, 0] / M_PER_DEG_LON
        lat = LAT0 + xy[:, 1] / M_PER_DEG_LAT
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               '<osm version="0.6" generator="wangge-irregular-district">',
               f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" '
               f'maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>']
        out += [f'  <node id="{i}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>'
                for i, (lo, la) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True), 1)]
        for i, (refs, tags) in enumerate(self.ways, 1):
            body = "".join(f'<nd ref="{r}"/>' for r in refs) + _tags_xml(tags)
            out.append(f'  <way id="{i}" version="1">{body}</way>')
        for i, (members, tags) in enumerate(self.rels, 1):
            body = "".join(f'<member type="way" ref="{ref}" role="{role}"/>'
                           for _t, ref, role in members) + _tags_xml(tags)
            out.append(f'  <relation id="{i}" version="1">{body}</relation>')
        out.append("</osm>\n")
        path.write_text("\n".join(out), encoding="utf-8")


def _tags_xml(tags: dict[str, str]) -> str:
    return "".join(f"<tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags.items())


# ------------------------------------------------------------------------------------------
# The district


def _style_weights(rng) -> np.ndarray:
    w = rng.dirichlet(np.full(len(BLOCK_STYLES), 0.9))
    w[BLOCK_STYLES.index("lanes")] = min(w[BLOCK_STYLES.index("lanes")], 0.2)
    w[BLOCK_STYLES.index("park")] = min(w[BLOCK_STYLES.index("park")], 0.15)
    resid = [BLOCK_STYLES.index(s) for s in ("tower", "slab", "villa", "courtyard")]
    if w[resid].sum() < 0.4:
        w[resid] += (0.4 - w[resid].sum()) / len(resid)
    return w / w.sum()


def write_irregular_district(path: Path, seed: int, *, buildings: int = 800,
                             style: str | None = None) -> IrregularDistrict:
    """Write an irregular synthetic district as OSM XML and say what is in it.

    Deterministic in seed (and style): same seed, same file. ``buildings`` (>= 20) building
    footprints are written, dirty ones (duplicates, overlaps, slivers) included.
    """
    path = Path(path)
    if buildings < 20:
        raise ValueError(f"buildings must be >= 20, got {buildings}")
    pick = np.random.default_rng([seed, 7919])
    if style is None:
        style = STYLES[int(pick.integers(len(STYLES)))]
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    weights = _style_weights(np.random.default_rng([seed, STYLES.index(style), 1]))

    n_dirty_budget = max(2, round(buildings * 0.03))
    n_main = buildings - n_dirty_budget
    density = 0.5 * sum(weights[i] * _DENSITY[s] for i, s in enumerate(BLOCK_STYLES))
    radius = math.sqrt(n_main * 1.5 / density / math.pi)
    rng = np.random.default_rng([seed, STYLES.index(style), 2])
    lay = _layout(rng, style, radius, weights)
    for _attempt in range(6):
        if len(lay.cand) >= n_main:
            break
        radius *= float(np.clip(math.sqrt(n_main * 1.5 / max(len(lay.cand), 1)), 1.15, 2.0))
        rng = np.random.default_rng([seed, STYLES.index(style), 2])
        lay = _layout(rng, style, radius, weights)
    if len(lay.cand) < n_main:
        raise RuntimeError(f"could not place {n_main} buildings (seed {seed}, style {style})")

    # --- crop to the smallest scaled copy of the area that holds n_main buildings
    def inside(f: float) -> np.ndarray:
        a = shapely.affinity.scale(lay.area, f, f, origin=(0, 0)).buffer(-4)
        shapely.prepare(a)
        return shapely.contains(a, lay.cand)

    lo, hi = 0.0, 1.0
    for _ in range(14):
        mid = (lo + hi) / 2
        if int(inside(mid).sum()) >= n_main:
            hi = mid
        else:
            lo = mid
    keep = inside(hi)
    surplus = int(keep.sum()) - n_main
    if surplus > 0:
        ring = np.flatnonzero(keep & ~inside(lo))
        keep[rng.choice(ring, surplus, replace=False)] = False
    lay = _crop(lay, hi)
    features = [*lay.features, *_network_features(lay)]
    nb = len(lay.blocks)
    polys = list(lay.cand[keep])
    bids = lay.cand_block[keep]
    per_block = np.bincount(bids, minlength=nb)
    landuse_share = rng.choice([0.0, 0.5, 0.9], p=[0.5, 0.3, 0.2])
    landuse_blocks = {int(b) for b in range(nb)
                      if BLOCK_STYLES[lay.block_style[b]] in ("slab", "tower")
                      and per_block[b] >= 4 and rng.random() < landuse_share}
    tags_list = []
    for poly, b in zip(polys, bids.tolist(), strict=True):
        st = BLOCK_STYLES[lay.block_style[b]]
        tags_list.append(_building_tags(rng, st, lay.block_kind[b], poly, b in landuse_blocks))
    styles_used = {BLOCK_STYLES[lay.block_style[b]] for b in np.unique(bids)}
    names = {"tower": "towers", "slab": "slabs", "villa": "villas", "lanes": "old_lanes",
             "nonres": "non_residential", "courtyard": "courtyards"}
    features += [names[s] for s in BLOCK_STYLES if s in styles_used and s in names]
    if any(BLOCK_STYLES[lay.block_style[b]] == "slab" and per_block[b] >= 4 for b in range(nb)):
        features.append("compounds")
    empty = [b for b in range(nb) if per_block[b] == 0]
    if empty:
        features.append("parks")
    if landuse_blocks:
        features.append("landuse_residential")
    # courtyard blocks get a hole: written as multipolygon relations
    for i, b in enumerate(bids.tolist()):
        if BLOCK_STYLES[lay.block_style[b]] == "courtyard":
            inset = rng.uniform(11, 14)
            inner = polys[i].buffer(-inset, join_style="mitre")
            if not inner.is_empty:
                polys[i] = Polygon(polys[i].exterior.coords, [inner.exterior.coords])

    # --- dirty data
    dirty_kinds = [k for k in ("duplicates", "overlaps", "slivers") if rng.random() < 0.75]
    if not dirty_kinds:
        dirty_kinds = ["duplicates"]
    n_straddle = int(rng.integers(1, 4)) if rng.random() < 0.8 else 0
    budget = n_dirty_budget - n_straddle
    if budget < 0:
        n_straddle, budget = n_dirty_budget, 0
    extra_polys, extra_tags = [], []
    resid_idx = [i for i, t in enumerate(tags_list) if "building:flats" in t]
    any_idx = list(range(len(polys)))
    for k in range(budget):
        kind = dirty_kinds[k % len(dirty_kinds)]
        i = int(rng.choice(resid_idx if resid_idx and kind != "slivers" else any_idx))
        p = polys[i]
        if kind == "duplicates":
            extra_polys.append(p)
            extra_tags.append(dict(tags_list[i]))
        elif kind == "overlaps":
            shift = rng.uniform(1, 4, 2) * rng.choice([-1, 1], 2)
            q = shapely.affinity.rotate(shapely.affinity.translate(Polygon(p.exterior), *shift),
                                        rng.uniform(-8, 8))
            t = dict(tags_list[i])
            if t.get("building") == "yes" and "building:flats" in t:
                t["building"] = "apartments"
            extra_polys.append(q)
            extra_tags.append(t)
        else:
            ring = np.asarray(p.exterior.coords)
            e = ring[1] - ring[0]
            ln = float(np.hypot(*e))
            u = e / max(ln, 1e-9)
            v = np.array([-u[1], u[0]])
            start = ring[0] - v * 0.55
            length = min(ln, rng.uniform(8, 20))
            q = Polygon([start, start + u * length, start + u * length - v * 0.5,
                         start - v * 0.5])
            extra_polys.append(q)
            extra_tags.append({"building": "yes"})
    features += dirty_kinds
    # no flats, no levels on some residential buildings
    bare = 0
    for i in resid_idx:
        if rng.random() < 0.04:
            t = tags_list[i]
            t.pop("building:flats", None)
            t.pop("building:levels", None)
            if t["building"] == "yes":
                t["building"] = "residential"
            bare += 1
    if bare:
        features.append("no_flats_no_levels")

    # --- communities: Voronoi cells of random seeds, ignoring the streets
    all_polys = polys + extra_polys
    all_tags = tags_list + extra_tags
    hh_total = sum(_estimated_households(t, p.area) for p, t in zip(all_polys, all_tags,
                                                                  strict=True))
    n_comm = int(np.clip(round(hh_total / rng.uniform(300, 1200)), 3, 30))
    n_comm = max(3, min(n_comm, len(all_polys) // 12))
    merge = 1 if n_comm >= 5 and rng.random() < 0.5 else 0
    comm = _communities(rng, lay.area, n_comm + merge)
    comm_features: list[str] = []
    if merge:
        comm = _merge_two_parts(rng, comm, comm_features)
    comm = _add_hole(rng, comm, comm_features)
    if rng.random() < 0.4:
        comm, _tiny_idx = _add_tiny(rng, comm, all_polys, all_tags, comm_features)

    # buildings across community boundaries: natural ones, and a few slabs placed on a border
    borders = shapely.union_all([shapely.boundary(g) for g in comm]).difference(
        lay.area.boundary.buffer(1))
    tree = shapely.STRtree(np.array(all_polys, dtype=object))
    placed = 0
    if n_straddle:
        block_tree = shapely.STRtree(lay.blocks[~shapely.is_empty(lay.blocks)])
        border_lines = _line_parts(borders, 30)
        tries = 0
        while placed < n_straddle and border_lines and tries < 300:
            tries += 1
            line = border_lines[int(rng.integers(len(border_lines)))]
            t = rng.uniform(0.1, 0.9)
            p = line.interpolate(t, normalized=True)
            q = line.interpolate(min(1.0, t + 0.01), normalized=True)
            ang = math.atan2(q.y - p.y, q.x - p.x) + math.pi / 2 + rng.normal(0, 0.3)
            rect = _rects(np.array([[p.x, p.y]]), np.array([rng.uniform(25, 35)]),
                          np.array([6.5]), np.array([ang]))[0]
            if (not len(block_tree.query(rect, "within"))
                    or len(tree.query(rect, "intersects"))):
                continue
            all_polys.append(rect)
            all_tags.append({"building": "apartments", "building:levels": "6",
                             "building:flats": str(int(rng.integers(24, 61)))})
            tree = shapely.STRtree(np.array(all_polys, dtype=object))
            placed += 1
    # fill what is left of the budget with more duplicates, so the count is exact
    while len(all_polys) < buildings:
        i = int(rng.integers(len(polys)))
        all_polys.append(polys[i])
        all_tags.append(dict(tags_list[i]))
        if "duplicates" not in features:
            features.append("duplicates")
    straddling = int(np.sum(shapely.intersects(np.array(all_polys, dtype=object), borders)))
    if straddling:
        features.append("straddling")
    features += comm_features

    # --- write
    osm = _Osm()
    for geom, tags in lay.separate:
        part = geom.intersection(lay.area.buffer(150))
        for ln in _line_parts(part, 1):
            osm.way(ln.coords, tags, shared=False)
    for geom, tags in lay.streets:
        osm.way(geom.coords, tags, shared=True)
    for poly, tags in lay.water:
        osm.area(poly, tags, shared=False)
    for b in sorted(landuse_blocks):
        name = f"{rng.choice(_COMMUNITY_STEMS)}{rng.choice(['小区', '花园', '苑', '家园'])}"
        osm.area(lay.blocks[b].simplify(0.3), {"landuse": "residential", "name": name},
                 shared=False)
    for b in empty:
        if BLOCK_STYLES[lay.block_style[b]] == "park" and rng.random() < 0.7:
            osm.area(lay.blocks[b].simplify(0.5), {"leisure": "park"}, shared=False)
    households = 0
    for poly, tags in zip(all_polys, all_tags, strict=True):
        osm.area(poly, tags, shared=False)
        households += int(tags.get("building:flats", 0))
    comm_names = _community_names(rng, len(comm))
    street_code = int(rng.integers(1, 20))
    for k, (geom, name) in enumerate(zip(comm, comm_names, strict=True)):
        code = f"{COUNTY_CODE}{street_code:03d}{k + 1:03d}"
        osm.area(geom, {"place": "neighbourhood", "name": name, "ref": code}, shared=True)
    osm.write(path)
    return IrregularDistrict(path=path, buildings=len(all_polys), households=households,
                             communities=len(comm), features=[f"style:{style}", *features])


def _communities(rng, area: Polygon, n: int) -> list:
    half = math.sqrt(area.area / math.pi)
    seeds = []
    clustered = rng.random() < 0.4
    while len(seeds) < n:
        if clustered and seeds and rng.random() < 0.3:
            base = seeds[int(rng.integers(len(seeds)))]
            p = (base[0] + rng.normal(0, 0.15 * half), base[1] + rng.normal(0, 0.15 * half))
            if not area.contains(Point(p)):
                continue
        else:
            p = _random_point_in(rng, area)
        if all(math.hypot(p[0] - q[0], p[1] - q[1]) > 20 for q in seeds):
            seeds.append(p)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area)
    out = []
    for cell in _parts(cells):
        g = cell.intersection(area)
        parts = _poly_parts(g, 50.0)
        if parts:
            out.append(shapely.union_all(parts))
    return out


def _merge_two_parts(rng, comm: list, features: list[str]) -> list:
    n = len(comm)
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)
             if comm[a].distance(comm[b]) > 5.0]
    if not pairs:
        return comm
    a, b = pairs[int(rng.integers(len(pairs)))]
    merged = shapely.union_all([comm[a], comm[b]])
    out = [g for k, g in enumerate(comm) if k not in (a, b)]
    out.insert(min(a, len(out)), merged)
    features.append("two_part_community")
    return out


def _add_hole(rng, comm: list, features: list[str]) -> list:
    if rng.random() > 0.6 or len(comm) < 2:
        return comm
    order = rng.permutation(len(comm))
    for k in order.tolist():
        g = comm[k]
        big = max(_poly_parts(g), key=lambda p: p.area)
        r = rng.uniform(25, 110)
        inner = big.buffer(-(r + 15))
        if inner.is_empty:
            continue
        hole = _blob(rng, _random_point_in(rng, inner), r, n=24, rough=0.1)
        if not big.buffer(-10).contains(hole):
            continue
        comm[k] = g.difference(hole)
        features.append("community_hole")
        if rng.random() < 0.6:
            neighbours = [j for j in range(len(comm)) if j != k and comm[j].touches(g)]
            if neighbours:
                j = neighbours[int(rng.integers(len(neighbours)))]
                comm[j] = shapely.union_all([comm[j], hole])
                features.append("hole_to_neighbour")
                return comm
        features.append("hole_uncovered")
        return comm
    return comm


def _add_tiny(rng, comm: list, polys: list, tags: list, features: list[str]):
    tree = shapely.STRtree(np.array(polys, dtype=object))
    cands = [i for i, t in enumerate(tags) if "building:flats" in t]
    for i in rng.permutation(cands)[:200].tolist():
        p = polys[i]
        if p.interiors:
            continue
        ring = p.buffer(rng.uniform(3, 7), join_style="mitre")
        near = tree.query(ring, predicate="intersects")
        if len(near) != 1:
            continue
        holder = [k for k, g in enumerate(comm) if g.buffer(-3).contains(ring)]
        if not holder:
            continue
        k = holder[0]
        comm[k] = comm[k].difference(ring)
        comm.append(ring)
        features.append("tiny_community")
        return comm, i
    return comm, None


def _community_names(rng, n: int) -> list[str]:
    combos = [f"{s}{x}社区" for s in _COMMUNITY_STEMS for x in _COMMUNITY_SUFFIXES]
    picked = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in picked.tolist()]


# ------------------------------------------------------------------------------------------


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
