"""Small OSM files made for a test: a naive bounding-box cut of a real extract, a few
hand-written elements."""

from __future__ import annotations

from pathlib import Path

import osmium


def cut_by_bbox(src: Path, dst: Path, bbox: tuple[float, float, float, float]) -> None:
    """Write ``src`` with every node outside ``bbox`` removed but all ways and relations kept,
    as a naive bounding-box extract does: ways then reference missing nodes."""
    min_lon, min_lat, max_lon, max_lat = bbox
    writer = osmium.SimpleWriter(str(dst), overwrite=True)
    try:
        for obj in osmium.FileProcessor(str(src)):
            if obj.is_node():
                lon, lat = obj.location.lon, obj.location.lat
                if not (min_lon < lon < max_lon and min_lat < lat < max_lat):
                    continue
            writer.add(obj)
    finally:
        writer.close()


def write_osm(path: Path, body: str) -> Path:
    """Write a small OSM XML file with the given elements."""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n'
    path.write_text(f"{head}{body}\n</osm>\n", encoding="utf-8")
    return path
