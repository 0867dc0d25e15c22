"""Streaming OSM XML output of the synthetic district generator.

The planners place nodes in local metres (x east, y north). :class:`OsmWriter` buffers them per
batch and converts each batch to WGS84 lon/lat degrees (EPSG:4326): shift by the layout offset,
turn by the layout's rotation, then the inverse of an azimuthal equidistant projection centred
on the district's origin. Coordinates are written with 7 decimals (about 1 cm). Nodes, ways and
relations stream into three temporary files joined at the end, so memory stays small at
100,000+ buildings.
"""

from __future__ import annotations

import bz2
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np
from pyproj import CRS, Transformer

from tests.synthetic.plan import Rect

_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _tag_xml(tags: dict[str, str], indent: str) -> str:
    return "".join(
        f'{indent}<tag k="{k}" v="{v.translate(_XML_ESCAPES)}"/>\n' for k, v in tags.items()
    )


class OsmWriter:
    """Streams nodes, ways and relations into three temporary files and joins them at the end.

    Node coordinates are given in local metres; they are buffered per batch and converted to
    lon/lat (rotation, then azimuthal equidistant -> EPSG:4326) when the batch is flushed.
    """

    def __init__(
        self, origin: tuple[float, float], rotation: float, offset: tuple[float, float]
    ) -> None:
        lon0, lat0 = origin
        aeqd = CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +datum=WGS84 +units=m +no_defs"
        )
        self._to_wgs84 = Transformer.from_crs(aeqd, CRS.from_epsg(4326), always_xy=True)
        self._cos, self._sin = math.cos(rotation), math.sin(rotation)
        self._dx, self._dy = offset
        self._files = [
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115
            for _ in range(3)
        ]
        self._nodes, self._ways, self._rels = self._files
        self.next_node = 1
        self.next_way = 1
        self.next_rel = 1
        self._flushed_node = 1
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._node_tags: dict[int, dict[str, str]] = {}
        self._way_buf: list[str] = []
        self._rel_buf: list[str] = []
        self.bbox = [math.inf, math.inf, -math.inf, -math.inf]

    def set_offset(self, dx: float, dy: float) -> None:
        """Shift applied to local metres before rotation (only before the first flush)."""
        self._dx, self._dy = dx, dy

    def close(self) -> None:
        for f in self._files:
            f.close()

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        """A new node at local metres (x, y); returns its id."""
        nid = self.next_node
        self.next_node += 1
        self._xs.append(x)
        self._ys.append(y)
        if tags:
            self._node_tags[nid] = tags
        return nid

    def rect(self, rect: Rect, tags: dict[str, str]) -> int:
        """A closed way around an axis-aligned rectangle (counter-clockwise); returns its id."""
        x0, y0, x1, y1 = rect
        a = self.node(x0, y0)
        b = self.node(x1, y0)
        c = self.node(x1, y1)
        d = self.node(x0, y1)
        return self.way([a, b, c, d, a], tags)

    def flush_nodes(self) -> None:
        if not self._xs:
            return
        x = np.asarray(self._xs) + self._dx
        y = np.asarray(self._ys) + self._dy
        xr = x * self._cos - y * self._sin
        yr = x * self._sin + y * self._cos
        lon, lat = self._to_wgs84.transform(xr, yr)
        lon = np.round(lon, 7)
        lat = np.round(lat, 7)
        box = self.bbox
        box[0] = min(box[0], float(lon.min()))
        box[1] = min(box[1], float(lat.min()))
        box[2] = max(box[2], float(lon.max()))
        box[3] = max(box[3], float(lat.max()))
        out = []
        nid = self._flushed_node
        tagged = self._node_tags
        for lo, la in zip(lon.tolist(), lat.tolist(), strict=True):
            tags = tagged.pop(nid, None)
            if tags is None:
                out.append(f'  <node id="{nid}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>\n')
            else:
                out.append(
                    f'  <node id="{nid}" version="1" lat="{la:.7f}" lon="{lo:.7f}">\n'
                    f"{_tag_xml(tags, '    ')}  </node>\n"
                )
            nid += 1
        self._nodes.write("".join(out))
        self._flushed_node = nid
        self._xs.clear()
        self._ys.clear()

    def way(self, refs: list[int], tags: dict[str, str]) -> int:
        wid = self.next_way
        self.next_way += 1
        buf = self._way_buf
        buf.append(f'  <way id="{wid}" version="1">\n')
        buf.extend([f'    <nd ref="{r}"/>\n' for r in refs])
        buf.append(_tag_xml(tags, "    "))
        buf.append("  </way>\n")
        if len(buf) > 20000:
            self._ways.write("".join(buf))
            buf.clear()
        return wid

    def relation(self, members: list[tuple[str, int, str]], tags: dict[str, str]) -> int:
        rid = self.next_rel
        self.next_rel += 1
        buf = self._rel_buf
        buf.append(f'  <relation id="{rid}" version="1">\n')
        buf.extend(
            [f'    <member type="{t}" ref="{r}" role="{role}"/>\n' for t, r, role in members]
        )
        buf.append(_tag_xml(tags, "    "))
        buf.append("  </relation>\n")
        return rid

    def finish(self, path: Path, compress: bool) -> tuple[float, float, float, float]:
        """Write the OSM file to ``path`` (atomically); returns the node bbox (lon/lat)."""
        self.flush_nodes()
        self._ways.write("".join(self._way_buf))
        self._way_buf.clear()
        self._rels.write("".join(self._rel_buf))
        self._rel_buf.clear()
        min_lon, min_lat, max_lon, max_lat = self.bbox
        header = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<osm version="0.6" generator="wangge-synthetic">\n'
            f'  <bounds minlat="{min_lat:.7f}" minlon="{min_lon:.7f}" '
            f'maxlat="{max_lat:.7f}" maxlon="{max_lon:.7f}"/>\n'
        )
        part = path.with_name(path.name + ".part")
        try:
            with _open_text_output(part, compress) as out:
                out.write(header)
                for f in self._files:
                    f.seek(0)
                    shutil.copyfileobj(f, out, 1 << 20)
                out.write("</osm>\n")
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return (min_lon, min_lat, max_lon, max_lat)


def _open_text_output(path: Path, compress: bool) -> TextIO:
    if compress:
        return bz2.open(path, "wt", encoding="utf-8", newline="\n", compresslevel=9)
    return open(path, "w", encoding="utf-8", newline="\n")
