"""The same inputs give the same plan: under any PYTHONHASHSEED, for any input row order or
index, in a forked worker or here, and for a community planned alone (a study area holding
only its buildings, streets and barriers, as gis.city_store.read_community gives it) as
within the whole area at the same per-community work budget. A city planned community by
community on a cluster is then exactly the plan of one process (issue #20)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
import shapely

from gis.city_store import STREET_MARGIN_M
from gis.study_area import StudyArea, load_study_area
from partition.adjacency import induced_graph
from partition.budget import default_units, portion, share
from partition.plan import Plan, make_plan
from tests.synthetic import write_district_osm

ROOT = Path(__file__).resolve().parents[2]
TARGET = 300
# 900 buildings in 9 communities; some groups run out of work, so budgets matter.
BUILDINGS, SEED = 900, 7


def plan_digest(plan: Plan) -> str:
    """A hash of the sorted (building_id, grid code) pairs and of the grid polygons (1 cm,
    normalised WKB) by code."""
    b = plan.buildings
    pairs = sorted(zip(b["building_id"].astype(str), b["grid_id"].astype(str), strict=True))
    grids = plan.grids.sort_values("grid_id")
    polys = shapely.normalize(shapely.set_precision(grids.geometry.values, 0.01))
    h = hashlib.sha256(repr(pairs).encode())
    for code, wkb in zip(grids["grid_id"], shapely.to_wkb(polys), strict=True):
        h.update(str(code).encode())
        h.update(wkb)
    return h.hexdigest()


def labels_of(plan: Plan) -> pd.Series:
    """building_id -> grid code."""
    b = plan.buildings
    return pd.Series(b["grid_id"].values, index=b["building_id"].astype(str).values)


def indexed_by_id(area: StudyArea) -> StudyArea:
    """The area with its buildings indexed by their ids (strings: hashed at random per
    process unless PYTHONHASHSEED is set)."""
    b = area.buildings
    return replace(area, buildings=b.set_index(b["building_id"].astype(str).rename(None)))


# Run in a fresh interpreter: prints the digest of the plan of the district at argv[1],
# its buildings indexed by their ids.
CHILD = """
import sys
from gis.study_area import load_study_area
from partition.plan import make_plan
from tests.partition.test_determinism import TARGET, indexed_by_id, plan_digest
area = indexed_by_id(load_study_area(sys.argv[1], with_walk_graph=False))
print(plan_digest(make_plan(area, TARGET)))
"""


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("determinism") / "district.osm"
    write_district_osm(path, BUILDINGS, seed=SEED)
    return path


@pytest.fixture(scope="module")
def area(district) -> StudyArea:
    return load_study_area(district, with_walk_graph=False)


@pytest.fixture(scope="module")
def whole(area) -> Plan:
    return make_plan(area, TARGET)


def test_same_plan_under_any_hash_seed(district, whole):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", CHILD, str(district)],
                                 cwd=ROOT, env={**env, "PYTHONHASHSEED": seed},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for seed in ("0", "1", "12345")]
    digests = []
    for child in children:
        out, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-2000:]
        digests.append(out.strip().splitlines()[-1])
    assert len(set(digests)) == 1, digests
    # ... and the same plan as with the buildings numbered 0..n-1 in this process.
    assert digests[0] == plan_digest(whole)


def test_same_plan_for_any_input_order(area, whole):
    shuffled = area.buildings.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert plan_digest(make_plan(replace(area, buildings=shuffled), TARGET)) \
        == plan_digest(whole)


def test_same_plan_in_worker_processes(area, whole):
    assert plan_digest(make_plan(area, TARGET, workers=2)) == plan_digest(whole)


def community_alone(area: StudyArea, code: str) -> StudyArea:
    """One community as gis.city_store.read_community gives it: its buildings numbered from
    0, the streets and barriers within STREET_MARGIN_M of it, its polygon."""
    comm = area.communities[area.communities["code"] == code].reset_index(drop=True)
    zone = comm.geometry.iloc[0].buffer(STREET_MARGIN_M)
    near = lambda layer: layer[layer.intersects(zone)].reset_index(drop=True)  # noqa: E731
    return replace(area, buildings=area.buildings[area.buildings["community"] == code]
                   .reset_index(drop=True), street_lines=near(area.street_lines),
                   barriers=near(area.barriers), communities=comm)


def test_community_alone_as_in_the_whole_area(area, whole):
    inside = area.buildings[area.buildings["community"].notna()]
    sizes = inside.groupby("community").size()
    # Work is shared by households, each building's counted in whole numbers.
    households = inside["households"].astype(int).groupby(inside["community"]).sum()
    work = default_units(len(inside), list(households), TARGET)  # the whole plan's default
    assert whole.summary["work_budget"] == round(work, 2)
    expected = labels_of(whole)
    assert whole.summary["groups_out_of_budget"] > 0  # the budget decides somewhere
    for code in sizes.index:
        alone = make_plan(community_alone(area, code), TARGET,
                          time_limit=portion(work, int(households[code]),
                                             int(households.sum())))
        got = labels_of(alone)
        assert len(got) == sizes[code]
        pd.testing.assert_series_equal(got.sort_index(), expected.reindex(got.index)
                                       .sort_index(), check_names=False, obj=code)
        # ... with the same polygons.
        mine = alone.grids.set_index("grid_id").geometry
        theirs = whole.grids.set_index("grid_id").geometry.reindex(mine.index)
        assert shapely.equals_exact(shapely.normalize(mine.values),
                                    shapely.normalize(theirs.values), 0.01).all(), code


def test_a_single_share_is_the_whole_budget():
    # 0.1 x 3 / 3 is 0.10000000000000002: a community alone would have got a bit more.
    assert share(0.1, [3]) == [0.1]
    assert share(0.3, [1, 2]) == [portion(0.3, 1, 3), portion(0.3, 2, 3)]


def test_induced_graph_in_sorted_order_whatever_the_graph_order():
    edges = [("c", "a", 1.0), ("b", "d", 2.0), ("a", "b", 3.0), ("d", "a", 4.0), ("e", "c", 5.0)]
    one: nx.Graph[str] = nx.Graph()
    one.add_weighted_edges_from(edges)
    other: nx.Graph[str] = nx.Graph()
    other.add_weighted_edges_from(reversed([(v, u, w) for u, v, w in edges]))
    members = {"d", "a", "b", "c"}
    for graph in (one, other):
        sub = induced_graph(graph, members)
        assert list(sub) == ["a", "b", "c", "d"]
        assert list(sub.edges(data="weight")) == [("a", "b", 3.0), ("a", "c", 1.0),
                                                  ("a", "d", 4.0), ("b", "d", 2.0)]
        assert {v: list(sub[v]) for v in sub} == {"a": ["b", "c", "d"], "b": ["a", "d"],
                                                   "c": ["a"], "d": ["a", "b"]}


def test_buildings_by_id_in_memory_numbered_in_the_layers(whole):
    assert list(whole.buildings.index) == list(whole.buildings["building_id"].astype(str))
    layer = whole.layers_wgs84()["buildings"]
    assert layer.index.equals(pd.RangeIndex(len(whole.buildings)))
    assert "building_id" in layer.columns
