"""partition.untangle: grids whose hulls interleave are split again (issue 14, item 5)."""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
import shapely

from partition.untangle import _State, _straight_splits, untangle

MEAN = 100.0
# A 2 x 4 lattice of 6 m footprints 10 m apart: row 0 on top. Two grids of 120 households
# each (20% over the mean: the group's sizes force it).
HOUSEHOLDS = {(0, 0): 30, (0, 1): 40, (0, 2): 40, (0, 3): 40,
              (1, 0): 22, (1, 1): 23, (1, 2): 22, (1, 3): 23}
# The top-left building with the whole bottom row, against the rest of the top row: 120
# and 120, and the first grid's hull reaches over the second's buildings.
INTERLEAVED = {v: ("a" if v == (0, 0) or v[0] == 1 else "b") for v in HOUSEHOLDS}


def lattice(households: dict[tuple[int, int], int] = HOUSEHOLDS) -> nx.Graph[Hashable]:
    graph: nx.Graph[Hashable] = nx.Graph()
    for (r, c), hh in households.items():
        x, y = 10.0 * c, 10.0 * (1 - r)
        graph.add_node((r, c), households=hh, x=x + 3, y=y + 3,
                       footprint=shapely.box(x, y, x + 6, y + 6))
    for r, c in households:
        for nb in ((r + 1, c), (r, c + 1)):
            if nb in households:
                graph.add_edge((r, c), nb, length=4.0)
    return graph


def hull_overlap(graph: nx.Graph[Hashable], parts: dict[Hashable, Hashable]) -> float:
    hulls = [shapely.convex_hull(shapely.union_all(
        [graph.nodes[v]["footprint"] for v in parts if parts[v] == p])) for p in ("a", "b")]
    return float(shapely.area(shapely.intersection(*hulls)))


def loads(parts: dict[Hashable, Hashable]) -> dict[Hashable, int]:
    out: dict[Hashable, int] = {}
    for v, p in parts.items():
        out[p] = out.get(p, 0) + HOUSEHOLDS[v]
    return out


def test_a_group_forced_beyond_the_limit_is_untangled_within_its_own_limit():
    """Every clean split of this group takes a grid beyond 20%: left | right is 115 | 125
    (15% and 25%). Held to 15% (or no worse than today's 20%), no grid may change and the
    hulls stay interleaved, as they did in Helsinki (hull overlap 3.8%, 2026-12-03); with the
    group's own limit (its forced deviation plus partition.divide.BOUND_MARGIN, as the
    division passes it) the grids are drawn apart."""
    graph = lattice()
    every = set(HOUSEHOLDS)
    assert hull_overlap(graph, INTERLEAVED) > 10
    held = untangle(graph, INTERLEAVED, movable=every, residential=every, mean=MEAN)
    assert hull_overlap(graph, held) > 10
    parts = untangle(graph, INTERLEAVED, movable=every, residential=every, mean=MEAN,
                     limit=0.27)
    assert hull_overlap(graph, parts) == 0
    assert sorted(loads(parts).values()) == [115, 125]
    for p in ("a", "b"):  # each grid in one piece
        assert nx.is_connected(graph.subgraph([v for v in parts if parts[v] == p]))


def test_a_hull_that_stays_counts_against_the_grids_reaching_into_it():
    """A grid that no step of this group changes (a group of one grid across a barrier, a
    building grid) covers the right half of the bottom row with its hull. Alone, the top and
    bottom rows (120 | 120, hulls apart) stay as they are; given that hull, the group is
    split left | right (120 | 120), which reaches into it less (102 m2 instead of 126), as
    the grids around the crescent of irregular district 701 had to."""
    even = dict.fromkeys(HOUSEHOLDS, 30)
    graph = lattice(even)
    every = set(even)
    top_bottom = {v: ("a" if v[0] == 0 else "b") for v in even}
    fixed = shapely.box(15, -5, 40, 7)
    alone = untangle(graph, top_bottom, movable=every, residential=every, mean=MEAN)
    assert alone == top_bottom
    moved = untangle(graph, top_bottom, movable=every, residential=every, mean=MEAN,
                     fixed=[fixed])
    assert {frozenset(v for v in moved if moved[v] == p) for p in ("a", "b")} == {
        frozenset(v for v in even if v[1] < 2), frozenset(v for v in even if v[1] >= 2)}


def _sizes(homes: dict, labels: dict) -> dict:
    """Households per grid."""
    out: dict = {}
    for v, p in labels.items():
        out[p] = out.get(p, 0) + homes[v]
    return out


def _two_rows_with_a_sliver(homes: dict) -> tuple[nx.Graph[Hashable], dict]:
    """Two rows of six houses: the left three columns and the top house of the fourth are
    grid a, the rest grid b, whose hull then loses a 12 m2 sliver to a's."""
    graph = lattice(homes)
    parts = {v: ("a" if v[1] < 3 or v == (0, 3) else "b") for v in homes}
    assert hull_overlap(graph, parts) == 12
    return graph, parts


def test_grids_near_the_mean_trade_their_slack_for_less_overlap():
    """Two rows of six houses (6 m footprints, 10 m apart): the left three columns are one
    grid, the right three another, but the top house of the fourth column, of 4 households,
    is in the left grid, whose hull then cuts a 12 m2 sliver off the right grid's. Both grids
    are at the mean (100 | 100); the house moving across makes them 96 | 104. At one balance
    weight the sliver was not worth 8% of deviation (Nanjing's many small overlaps, 1.195%);
    within 5% of the mean a deviation costs a fifth of it, so the house moves, and the
    hulls no longer overlap."""
    homes = {(r, c): (4 if (r, c) == (0, 3) else 16 if c < 3 else 20)
             for r in range(2) for c in range(6)}
    graph, parts = _two_rows_with_a_sliver(homes)
    every = set(homes)
    out = untangle(graph, parts, movable=every, residential=every, mean=MEAN)
    assert hull_overlap(graph, out) == 0
    assert _sizes(homes, out) == {"a": 96, "b": 104}


def test_a_group_whose_hulls_overlap_much_trades_wider_slack_within_the_limit():
    """As above, but the house of the fourth column holds 9 households: moving it makes the
    grids 91 | 109 (9% off the mean), and every other split of the two rows into two
    connected grids with hulls apart is further off. Within 5% of the mean 9% costs more
    than the 12 m2 sliver; but the sliver is 1.3% of the area the hulls cover, above the
    plan's 1% target (WIDE_SHARE), and there the slack up to 10% costs a tenth of its
    weight (Prague Bubenec's two grids interleaving round a block, 1.8%). Against a mean of
    108, 91 would be 15.7% off: the grids stay within 15%."""
    homes = {(0, 0): 21, (0, 1): 20, (0, 2): 20, (1, 0): 10, (1, 1): 10, (1, 2): 10,
             (0, 3): 9, (1, 3): 20, (0, 4): 25, (0, 5): 25, (1, 4): 15, (1, 5): 15}
    graph, parts = _two_rows_with_a_sliver(homes)
    assert _sizes(homes, parts) == {"a": 100, "b": 100}
    every = set(homes)
    out = untangle(graph, parts, movable=every, residential=every, mean=MEAN)
    assert hull_overlap(graph, out) == 0
    assert _sizes(homes, out) == {"a": 91, "b": 109}
    held = untangle(graph, parts, movable=every, residential=every, mean=MEAN * 1.08)
    assert max(abs(s - MEAN * 1.08) for s in _sizes(homes, held).values()) <= 0.15 * MEAN * 1.08


def test_the_straight_cuts_include_the_street_a_little_off_the_present_balance():
    """A row of seven houses (6 m footprints, 10 m apart), a 30 m street after the third.
    Grid a holds the three houses before the street and two small ones after it (91
    households), b the rest (109). Along the row the cuts nearest a's 91 households are
    a's own (91) and one house fewer (89); the cut at the street (88 | 112, 12% off the
    mean, within the limit) is the only one that leaves the two grids a street apart, and it
    is among the candidates too: the prefix, within twice the limit of the present balance,
    after which the homes lie furthest apart (irregular 1306: 1.359 -> 1.191% hull overlap)."""
    sizes = [30, 30, 28, 1, 2, 50, 59]
    graph: nx.Graph[Hashable] = nx.Graph()
    for c, hh in enumerate(sizes):
        x = 10.0 * c + (30 if c >= 3 else 0)
        graph.add_node(c, households=hh, x=x + 3, y=3.0, footprint=shapely.box(x, 0, x + 6, 6))
        if c:
            graph.add_edge(c - 1, c, length=4.0)
    parts = {c: ("a" if c < 5 else "b") for c in range(len(sizes))}
    state = _State(graph, parts, set(parts), MEAN, {"a", "b"})
    nodes = sorted(parts)
    splits = _straight_splits(state, nodes, state.load["a"])
    street = [c < 3 for c in nodes]
    assert any(list(row) == street or list(~row) == street for row in splits)


def test_a_group_still_above_the_target_trades_all_the_slack_within_the_limit():
    """As above, but the house of the fourth column holds 13 households: moving it makes the
    grids 87 | 113 (13% off the mean), beyond the 10% the wide passes make cheap, and every
    other split of the two rows into connected grids with hulls apart is further off (or
    beyond 15%). The 12 m2 sliver is 1.3% of the area the hulls cover, still above the 1%
    target after the wide passes: then every deviation within the limit costs LAST_WEIGHT of
    its weight (floor-area 106: 1.023% hull overlap, many small pairs)."""
    homes = {(0, 0): 17, (0, 1): 20, (0, 2): 20, (1, 0): 10, (1, 1): 10, (1, 2): 10,
             (0, 3): 13, (1, 3): 20, (0, 4): 25, (0, 5): 25, (1, 4): 15, (1, 5): 15}
    graph, parts = _two_rows_with_a_sliver(homes)
    assert _sizes(homes, parts) == {"a": 100, "b": 100}
    every = set(homes)
    out = untangle(graph, parts, movable=every, residential=every, mean=MEAN)
    assert hull_overlap(graph, out) == 0
    assert _sizes(homes, out) == {"a": 87, "b": 113}


def test_the_share_that_sends_a_group_to_the_wider_passes_leaves_fixed_hulls_out():
    """As the 91 | 109 case above, beside a fixed hull (a one-grid group across a road) of
    10,000 m2 that overlaps neither grid. The 12 m2 sliver is 1.3% of the area the two grids'
    hulls cover, as the plan measures it, but 0.1% of the area with the fixed hull counted:
    the wide passes were skipped and the sliver stayed (Nanjing's group of 32 grids measured
    1.205% so after the first passes, 1.225% without the fixed hulls' area)."""
    homes = {(0, 0): 21, (0, 1): 20, (0, 2): 20, (1, 0): 10, (1, 1): 10, (1, 2): 10,
             (0, 3): 9, (1, 3): 20, (0, 4): 25, (0, 5): 25, (1, 4): 15, (1, 5): 15}
    graph, parts = _two_rows_with_a_sliver(homes)
    every = set(homes)
    beside = shapely.box(200.0, 0.0, 300.0, 100.0)
    out = untangle(graph, parts, movable=every, residential=every, mean=MEAN, fixed=[beside])
    assert hull_overlap(graph, out) == 0
    assert _sizes(homes, out) == {"a": 91, "b": 109}
