"""partition.groups: where a pocket cut off by open arterial roads joins (issue 14, items 3
and 5)."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable

import geopandas as gpd
import networkx as nx
import shapely

from partition.divide import assign_grids
from partition.groups import community_groups
from partition.metrics import hull_overlap_share

TARGET = 300
COMMUNITY = "c1"
# A row of six 100-household blocks (two grids right on the target) to the north, a row of
# three (one grid) in the middle, two of 125 (one grid 17% under the target) to the south,
# each cut off from the others by a river; a pocket of 30 households south-west of the
# middle row faces the north row's west end and the south row's west end across open
# secondary roads.
BLOCKS = ({f"n{i}": ((-250 + 100 * i, 100), 100) for i in range(6)}
          | {f"m{i}": ((-100 + 100 * i, 0), 100) for i in range(3)}
          | {f"s{i}": ((-50 + 100 * i, -200), 125) for i in range(2)}
          | {"pocket": ((-150, -100), 30)})
ROWS = (["n0", "n1", "n2", "n3", "n4", "n5"], ["m0", "m1", "m2"], ["s0", "s1"])


def district() -> tuple[nx.Graph[Hashable], gpd.GeoDataFrame]:
    return _blocks(BLOCKS, ROWS, [("n0", "pocket", 40.0, "secondary", "North Road"),
                                  ("pocket", "s0", 30.0, "secondary", "South Road")])


def _blocks(blocks: dict[str, tuple[tuple[int, int], int]], rows: Iterable[list[str]],
            crossings: list[tuple]) -> tuple[nx.Graph[Hashable], gpd.GeoDataFrame]:
    """20 m square blocks (name -> (centre, households)), each row of them joined in a
    chain, ``crossings`` over open roads between rows; and the blocks as buildings."""
    graph: nx.Graph[Hashable] = nx.Graph()
    for b, ((x, y), hh) in blocks.items():
        graph.add_node(b, households=hh, community=COMMUNITY, x=float(x), y=float(y),
                       footprint=shapely.box(x - 10, y - 10, x + 10, y + 10))
    for row in rows:
        for u, v in itertools.pairwise(row):
            graph.add_edge(u, v, length=20.0, street=False, cost=20.0)
    graph.graph["crossings"] = crossings
    buildings = gpd.GeoDataFrame(
        {"community": COMMUNITY, "residential": True,
         "households": [hh for _, hh in blocks.values()]},
        geometry=[graph.nodes[b]["footprint"] for b in blocks], index=list(blocks))
    return graph, buildings


def test_a_pocket_joins_the_group_it_brings_nearer_the_target():
    """The north row is on the target (600 = 2 x 300) and the south row off it (250): the
    pocket joins the south row (280), not the north (630, whose grids it would push off)."""
    graph, _ = district()
    found = community_groups(graph, COMMUNITY, list(BLOCKS), TARGET)
    assert [c.households for c in found.exceptions] == [30]
    pocket_node = next(iter(found.contracted))
    group_of = {v: i for i, (nodes, _) in enumerate(found.groups) for v in nodes}
    assert group_of[pocket_node] == group_of["s0"]


def test_a_pocket_joined_across_a_road_does_not_make_hulls_overlap():
    """Joined to the north row, the pocket's grid reaches over the middle row's grid; joined
    to the south row, no two grids' hulls overlap."""
    graph, buildings = district()
    division = assign_grids(graph, buildings, TARGET)
    labels = division.labels.reindex(buildings.index)
    assert hull_overlap_share(buildings.assign(grid_id=labels)) == 0.0
    assert labels["pocket"] == labels["s0"]
    assert [c["barrier_name"] for c in division.crossings] == ["South Road"]


def _tower_district(pocket_households: int) -> tuple[nx.Graph[Hashable], gpd.GeoDataFrame]:
    """A tower of 1,358 households (a building grid) and a row of two 125-household blocks,
    apart; a pocket of ``pocket_households`` faces both across open secondary roads."""
    blocks = {"tower": ((0, 0), 1358), "r0": ((300, 0), 125), "r1": ((400, 0), 125),
              "pocket": ((150, -100), pocket_households)}
    return _blocks(blocks, [["r0", "r1"]],
                   [("tower", "pocket", 60.0, "secondary", "West Road"),
                    ("pocket", "r0", 30.0, "secondary", "East Road")])


def test_a_pocket_with_homes_joins_a_tower_only_where_nothing_else_is_near():
    """A tower's grid cannot shed what joins it: a pocket of 135 households joined the tower
    (1,493 is nearer five grids of 300 than 1,358 is) and made one grid of 1,493 (a window
    of the Nanjing extract). It joins the row."""
    graph, _ = _tower_district(135)
    found = community_groups(graph, COMMUNITY, ["tower", "r0", "r1", "pocket"], TARGET)
    assert found.building_grids == ["tower"]
    pocket_node = next(iter(found.contracted))
    assert [sorted(map(str, nodes)) for nodes, _ in found.groups] == [
        sorted([pocket_node, "r0", "r1"])]


def test_a_tower_that_takes_a_pocket_without_homes_is_still_one_building_grid():
    """A pocket without homes facing only a tower joins it and the tower stays a building
    grid (one grid, left out of the mean): it was a group of five grids, and the mean the
    community's other grids were measured against counted it as five."""
    graph, buildings = _tower_district(0)
    graph.graph["crossings"] = graph.graph["crossings"][:1]  # the pocket faces the tower
    found = community_groups(graph, COMMUNITY, list(buildings.index), TARGET)
    assert found.building_grids == ["tower"]
    assert sorted(total for _, total in found.groups) == [0, 250]
    division = assign_grids(graph, buildings, TARGET)
    labels = division.labels
    assert labels["pocket"] == labels["tower"] != labels["r0"] == labels["r1"]
    assert [c["barrier_name"] for c in division.crossings] == ["West Road"]


def _compound_district() -> tuple[nx.Graph[Hashable], gpd.GeoDataFrame]:
    """A window of the Nanjing extract (3_4 of bench/window_bench.py) in small: a group of
    182 households in the north-west, a compound of 326 north in the middle, a pocket of 62
    south of the compound and one of 135 east of it, and a row of 847 (11 blocks of 77) to
    the south, each cut off from the others by roads; the 62 faces the north-west group,
    the compound and the row, the 135 the 62, the compound and the row's east end."""
    blocks = ({"a0": ((0, 400), 91), "a1": ((0, 440), 91),
               "c0": ((260, 380), 163), "c1": ((340, 380), 163),
               "p62": ((300, 250), 62), "p135": ((600, 400), 135)}
              | {f"b{i}": ((60 * i, 100), 77) for i in range(11)})
    rows = [["a0", "a1"], ["c0", "c1"], [f"b{i}" for i in range(11)]]
    return _blocks(blocks, rows, [("a0", "p62", 40.0, "secondary", "West Road"),
                                  ("c0", "p62", 40.0, "secondary", "Middle Road"),
                                  ("p62", "p135", 40.0, "secondary", "East Road"),
                                  ("c1", "p135", 40.0, "secondary", "East Road"),
                                  ("p62", "b5", 40.0, "primary", "South Road"),
                                  ("p135", "b10", 40.0, "primary", "South Road")])


def test_a_pocket_that_spoils_two_groups_nearly_alike_joins_where_its_hull_stays_apart():
    """The 62 joins the north-west group (244). The 135 then spoils that group (379: 23
    households further off a whole number of grids) a little less than the row (982: 29
    further off), and joined to it made one grid whose hull of homes, from the north-west
    corner over the 62 to the 135, spans the compound (Nanjing window 3_4: 5.2% hull
    overlap). Within NEAR_JOIN of a target the pocket joins where its hull stays apart."""
    graph, buildings = _compound_district()
    found = community_groups(graph, COMMUNITY, list(buildings.index), TARGET)
    assert [(c.households, c.road_name) for c in found.exceptions] == [
        (62, "West Road"), (135, "South Road")]
    division = assign_grids(graph, buildings, TARGET)
    labels = division.labels.reindex(buildings.index)
    assert labels["p135"] == labels["b10"] != labels["a0"] == labels["p62"]
    assert hull_overlap_share(buildings.assign(grid_id=labels)) == 0.0
