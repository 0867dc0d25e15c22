"""OSM XML output of the irregular district generator.

Geometries in local metres become nodes in WGS84 lon/lat (EPSG:4326) by an equirectangular
approximation around (``LON0``, ``LAT0``) = 114.30 E, 30.55 N (Wuchang, Wuhan): good to
centimetres over a few kilometres. Street nodes are shared where streets meet (keyed on
centimetres); other features get their own nodes. Ids are positive and ascending.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import shapely

from tests.synthetic.irregular.geometry import poly_parts

LON0, LAT0 = 114.30, 30.55
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(LAT0))


class OsmDocument:
    """Nodes, ways and relations collected in memory, written at the end."""

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
        parts = poly_parts(poly)
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

