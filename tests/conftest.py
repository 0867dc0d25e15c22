"""Fixtures shared by every test folder: the real data sets, the demo's study area and plan
(built once per session) and the gathered map assets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
NANJING = SHARED / "data" / "nanjing_xinjiekou.osm"
BEIJING = SHARED / "data" / "beijing_xitucheng.osm"


@pytest.fixture(scope="session")
def nanjing_path() -> Path:
    """Real OSM data of central Nanjing, from ../shared/data (never copied into the repo)."""
    if not NANJING.exists():
        pytest.skip(f"real Nanjing extract not found at {NANJING}: ../shared is absent")
    return NANJING


@pytest.fixture(scope="session")
def beijing_path() -> Path:
    """Real OSM data around Xitucheng Road, Beijing (111 buildings, 3 residential compounds
    drawn as landuse=residential), from ../shared/data (never copied into the repo)."""
    if not BEIJING.exists():
        pytest.skip(f"real Beijing extract not found at {BEIJING}: ../shared is absent")
    return BEIJING


@pytest.fixture(scope="session")
def demo_path() -> Path:
    """The embedded demo data: the real OSM extract in the pyrosm wheel."""
    import pyrosm

    return Path(pyrosm.get_data("test_pbf"))


@pytest.fixture(scope="session")
def nanjing_area(nanjing_path):
    from gis.study_area import load_study_area

    return load_study_area(nanjing_path)


@pytest.fixture(scope="session")
def demo_area(demo_path):
    """The demo's study area with its walk graph; shared, so tests must not change it."""
    from gis.study_area import load_study_area

    return load_study_area(demo_path)


@pytest.fixture(scope="session")
def demo_plan(demo_area):
    """The demo's grid plan at the default target; shared, so tests must not change it."""
    from partition.plan import make_plan

    return make_plan(demo_area)


@pytest.fixture(scope="session")
def map_assets() -> Path:
    """The gathered map assets; skip (fail in CI, WANGGE_REQUIRE_BROWSER=1) when npm is
    missing and they were never gathered."""
    from maps import AssetsError, ensure_assets

    try:
        return ensure_assets()
    except AssetsError as exc:
        if os.environ.get("WANGGE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"map assets unavailable (WANGGE_REQUIRE_BROWSER=1): {exc}")
        pytest.skip(f"map assets unavailable: {exc}")
