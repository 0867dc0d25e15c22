"""Street networks of the irregular district: curved, radial, organic and mixed plans.

Each maker takes the district area (local metres), a street spacing ``s`` in metres and the
road names, and returns a list of (LineString, tags) not yet noded: a warped jittered lattice
(curved), rings and spokes around an off-centre hub (radial), a Gabriel graph of jittered
points with random-walk alleys (organic), or a Voronoi patchwork of the three (mixed).
``CLEARANCE`` is the half width kept free of buildings around each kind of line.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.spatial import Delaunay
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from tests.synthetic.irregular.geometry import (
    geom_parts,
    line_parts,
    poly_parts,
    random_point_in,
    rotation_matrix,
    wavy_line,
)
from tests.synthetic.irregular.names import RoadNames

ARTERIALS = ("motorway", "trunk", "primary", "secondary")
# Half width kept free of buildings around each line, metres.
CLEARANCE = {"motorway": 24.0, "trunk": 17.0, "primary": 14.0, "secondary": 11.0,
             "tertiary": 7.5, "residential": 5.5, "service": 3.5, "footway": 2.2,
             "rail": 14.0}


def street_tags(cls: str, name: str | None) -> dict[str, str]:
    """highway=* tags with a name (not on footways and service roads) and lanes."""
    tags = {"highway": cls}
    if name and cls not in ("footway", "service"):
        tags["name"] = name
    if cls in ("primary", "secondary", "trunk"):
        tags["lanes"] = {"trunk": "6", "primary": "6", "secondary": "4"}[cls]
    return tags


def minor_class(rng) -> str:
    """highway=* of a minor street, in the proportions of old Chinese city centres."""
    return str(rng.choice(["residential", "residential", "residential", "tertiary", "service",
                           "footway"], p=[0.3, 0.2, 0.15, 0.17, 0.1, 0.08]))


def net_curved(rng, area: Polygon, s: float, names: RoadNames):
    """A jittered lattice warped by sine waves and turned, some segments dropped."""
    c = np.array(area.centroid.coords[0])
    radius = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T))) + s
    n = int(radius / s) + 2
    idx = np.arange(-n, n + 1) * s
    gx, gy = np.meshgrid(idx, idx, indexing="ij")
    pts = np.stack([gx, gy], axis=-1) + rng.uniform(-0.18, 0.18, (*gx.shape, 2)) * s
    amp = rng.uniform(0.25, 0.75) * s
    lam = rng.uniform(3.0, 9.0, 4) * s
    ph = rng.uniform(0, 2 * np.pi, 4)
    rot = rotation_matrix(rng.uniform(0, np.pi))

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
                out.append((lines[i], street_tags(seg_cls, name)))
    return out


def net_radial(rng, area: Polygon, s: float, names: RoadNames):
    """Rings and (spiralling) spokes around an off-centre hub; a ring road, main spokes."""
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
            out.append((LineString(pt(r, th)), street_tags(seg_cls, name)))
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
            cls = str(rng.choice(["primary", "secondary"])) if is_main else minor_class(rng)
            out.append((LineString(mid), street_tags(
                cls, spoke_names.get(j // d) if is_main else names.road())))
    return out


def net_organic(rng, area: Polygon, s: float, names: RoadNames):
    """A Gabriel graph of jittered points with curved edges, alleys and arterials."""
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
        out.append((LineString(curve), street_tags(minor_class(rng), names.road())))
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
        out.append((LineString(walk), street_tags(str(rng.choice(["footway", "service"])),
                                                   None)))
    for _ in range(int(rng.integers(1, 3))):
        out.append(arterial_curve(rng, area, names))
    return out


def arterial_curve(rng, area: Polygon, names: RoadNames, cls: str | None = None):
    """A long wavy arterial across the area."""
    c = np.array(area.centroid.coords[0])
    half = math.sqrt(area.area / math.pi)
    radius = float(np.max(np.hypot(*(np.asarray(area.exterior.coords) - c).T)))
    line = wavy_line(rng, c, rng.uniform(0, np.pi), radius + 50, rng.uniform(0.02, 0.1) * half,
                      offset=rng.uniform(-0.4, 0.4) * half)
    cls = cls or str(rng.choice(["primary", "secondary"], p=[0.4, 0.6]))
    return shapely.segmentize(line, 15.0), street_tags(cls, names.road("大道"))


def net_mixed(rng, area: Polygon, s: float, names: RoadNames):
    """Zones of curved, radial and organic streets, their borders drawn as roads."""
    n_zones = int(rng.integers(2, 5))
    seeds = [random_point_in(rng, area, 0.1 * math.sqrt(area.area)) for _ in range(n_zones)]
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=area)
    out = []
    kinds = [net_curved, net_radial, net_organic]
    for cell in geom_parts(cells):
        zone = cell.intersection(area)
        if zone.is_empty:
            continue
        maker = kinds[int(rng.integers(3))]
        sub_area = max(poly_parts(zone), key=lambda p: p.area)
        for line, tags in maker(rng, sub_area, s * rng.uniform(0.7, 1.3), names):
            for part in line_parts(line.intersection(zone), 1.0):
                out.append((part, tags))
        border = zone.boundary.difference(area.boundary.buffer(1.0))
        cls = "secondary" if rng.random() < 0.5 else "tertiary"
        for part in line_parts(border, 1.0):
            out.append((shapely.segmentize(part, 15.0), street_tags(cls, names.road())))
    return out
