"""The irregular district generator writes OSM that the loader reads back as written."""

from __future__ import annotations

import pytest

from gis.study_area import load_study_area
from tests.synthetic.irregular import STYLES, write_irregular_district

CASES = [(3, "riverside"), (5, "railway"), (1, "mixed")]


@pytest.mark.parametrize(("seed", "style"), CASES)
def test_loader_reads_what_was_written(tmp_path, seed, style):
    d = write_irregular_district(tmp_path / f"{style}.osm", seed, buildings=150, style=style)
    assert d.buildings == 150
    assert f"style:{style}" in d.features
    area = load_study_area(d.path, with_walk_graph=False)
    s = area.summary()
    assert s["buildings"] == d.buildings
    # The generator writes each household of a footprint it maps twice twice; the loader
    # counts a copy's households once (gis.households.duplicate_footprints).
    b = area.buildings
    copies = b[b["households_source"] == "duplicate"]
    assert copies["duplicate_of"].isin(b["building_id"]).all()
    assert s["households_given"] == d.households - int(copies["flats"].sum())
    assert s["communities"] == d.communities >= 3
    assert len(area.street_lines) > 0
    kinds = s["barriers_by_kind"]
    if "river" in d.features:
        assert kinds.get("waterway", 0) >= 1
    if "railway" in d.features:
        assert kinds.get("railway", 0) >= 1
    if {"arterials", "trunk", "motorway"} & set(d.features):
        assert kinds.get("road", 0) >= 1
    if {"lake", "river_area"} & set(d.features):
        assert kinds.get("water", 0) >= 1


def test_same_seed_same_file(tmp_path):
    a = write_irregular_district(tmp_path / "a.osm", 7, buildings=120)
    b = write_irregular_district(tmp_path / "b.osm", 7, buildings=120)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.features[0].removeprefix("style:") in STYLES
    c = write_irregular_district(tmp_path / "c.osm", 8, buildings=120)
    assert c.path.read_bytes() != a.path.read_bytes()
