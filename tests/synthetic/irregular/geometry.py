"""Geometry helpers of the irregular district generator.

Everything is in local metres (x east, y north) around the district's origin (see
:mod:`tests.synthetic.irregular.osm` for the conversion to WGS84 lon/lat). ``rng`` arguments
are numpy Generators, drawn from in a fixed order so a seed gives the same district.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon


def rotation_matrix(theta: float) -> np.ndarray:
    """2 x 2 matrix turning by ``theta`` radians counter-clockwise."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def geom_parts(geom) -> list:
    """The non-empty parts of a geometry (none for None or empty)."""
    if geom is None or geom.is_empty:
        return []
    return [g for g in shapely.get_parts(geom) if not g.is_empty]


def line_parts(geom, min_len: float = 0.0) -> list[LineString]:
    """The LineStrings in ``geom`` longer than ``min_len`` metres."""
    out = []
    for g in geom_parts(geom):
        if g.geom_type == "LineString" and g.length > min_len:
            out.append(g)
        elif g.geom_type in ("MultiLineString", "GeometryCollection"):
            out += line_parts(g, min_len)
    return out


def poly_parts(geom, min_area: float = 0.0) -> list[Polygon]:
    """The Polygons in ``geom`` larger than ``min_area`` square metres."""
    out = []
    for g in geom_parts(geom):
        if g.geom_type == "Polygon" and g.area > min_area:
            out.append(g)
        elif g.geom_type in ("MultiPolygon", "GeometryCollection"):
            out += poly_parts(g, min_area)
    return out


def blob(rng, centre, radius: float, n: int = 40, rough: float = 0.18) -> Polygon:
    """A lumpy round polygon of about ``radius`` metres."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for f in (2, 3, 5):
        r += rng.uniform(0, rough) / f * 2 * np.sin(f * th + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.45, None) * radius
    return Polygon(np.c_[centre[0] + r * np.cos(th), centre[1] + r * np.sin(th)])


def wavy_line(rng, centre, angle: float, half_len: float, amp: float, n: int = 160,
               offset: float = 0.0) -> LineString:
    """A wavy line of length 2 x ``half_len`` through ``centre`` at ``angle``, ``amp`` metres
    of sideways swing, shifted ``offset`` metres sideways."""
    t = np.linspace(-half_len, half_len, n)
    lat = offset + amp * np.sin(2 * np.pi * t / rng.uniform(0.7, 1.6) / half_len
                                + rng.uniform(0, 2 * np.pi))
    lat += 0.35 * amp * np.sin(2 * np.pi * t / rng.uniform(0.25, 0.5) / half_len
                               + rng.uniform(0, 2 * np.pi))
    u = np.array([math.cos(angle), math.sin(angle)])
    v = np.array([-u[1], u[0]])
    pts = np.asarray(centre) + t[:, None] * u + lat[:, None] * v
    return LineString(pts)


def random_point_in(rng, poly: Polygon, shrink: float = 0.0):
    """A random point at least ``shrink`` metres inside ``poly`` (if there is room)."""
    target = poly.buffer(-shrink) if shrink else poly
    if target.is_empty:
        target = poly
    minx, miny, maxx, maxy = target.bounds
    for _ in range(500):
        p = (rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if target.contains(Point(p)):
            return p
    return target.representative_point().coords[0]
