"""Whole-group splits and proofs by a flow model (partition.group_exact), and how a plan
uses them (partition.divide)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Hashable

import geopandas as gpd
import networkx as nx
import pytest
import shapely

from partition import divide
from partition.budget import WorkBudget
from partition.divide import _prepare, against, assign_grids, count_means, elsewhere
from partition.group_exact import prove_group
from partition.metrics import BALANCE_LIMIT, adjacency_bounds, deviation_lower_bound
from tests.partition.test_exact_balance import _lattice

LIMIT_PCT = 100 * BALANCE_LIMIT


def _add_lattice(graph: nx.Graph, name: str, rows: int, cols: int, households: int,
                 x0: float, community: str = "c") -> None:
    """A rows x cols lattice of buildings of ``households`` each, 20 m apart from ``x0``."""
    for r, c in itertools.product(range(rows), range(cols)):
        _add_building(graph, (name, r, c), households, x0 + 20.0 * c, 20.0 * r, community)
    for r, c in itertools.product(range(rows), range(cols)):
        for nb in ((r + 1, c), (r, c + 1)):
            if nb[0] < rows and nb[1] < cols:
                graph.add_edge((name, r, c), (name, *nb), length=10.0, cost=10.0, street=False)


def _add_building(graph: nx.Graph, node: Hashable, households: int, x: float, y: float,
                  community: str = "c") -> None:
    graph.add_node(node, households=households, community=community, x=x, y=y,
                   footprint=shapely.box(x - 6, y - 6, x + 6, y + 6))


def _dumbbell() -> nx.Graph:
    """Two lattices of 30 buildings, 29 of 5 households and a corner building of 250, the
    two corners joined through a building without households: 790 households, three grids
    by the target, beside a group of 1,500 households (five grids) cut off from it.

    Whole buildings can make grids of 300 (250 + ten of 5), the division of 790 by three
    is within the limit of the community's mean (2,290 / 8 = 286) and every building has a
    neighbour to make a grid within it with: the bounds from sizes and from neighbours allow
    the limit. But a grid holding the bridge holds both corners (500 households and more),
    so every grid lies on one side, and a side of 395 households makes one grid of 395 or
    two of at most 145 beside one of 250 and more: whatever the count, a grid is beyond."""
    graph: nx.Graph = nx.Graph()
    for side, x0 in (("L", 0.0), ("R", 200.0)):
        _add_lattice(graph, side, 5, 6, 5, x0)
    graph.nodes["L", 0, 5]["households"] = 250
    graph.nodes["R", 0, 0]["households"] = 250
    _add_building(graph, "bridge", 0, 160.0, 0.0)
    graph.add_edge(("L", 0, 5), "bridge", length=10.0, cost=10.0, street=False)
    graph.add_edge("bridge", ("R", 0, 0), length=10.0, cost=10.0, street=False)
    _add_lattice(graph, "other", 5, 10, 30, 600.0)  # cut off: a group of its own
    return graph


def _buildings(graph: nx.Graph) -> gpd.GeoDataFrame:
    nodes = list(graph)
    return gpd.GeoDataFrame(
        {"community": [graph.nodes[v]["community"] for v in nodes],
         "households": [graph.nodes[v]["households"] for v in nodes]},
        geometry=[graph.nodes[v]["footprint"] for v in nodes], index=nodes, crs="EPSG:32650")


def _loads(graph: nx.Graph, labels: dict) -> dict:
    out: dict = {}
    for v, g in labels.items():
        out[g] = out.get(g, 0) + graph.nodes[v]["households"]
    return out


def _connected(graph: nx.Graph, labels: dict) -> bool:
    return all(nx.is_connected(graph.subgraph([v for v in labels if labels[v] == g]))
               for g in set(labels.values()))


def test_connectivity_forces_a_grid_beyond_the_limit_that_sizes_allow():
    graph = _dumbbell()
    group = [v for v in graph if v[0] != "other"]
    sizes = [graph.nodes[v]["households"] for v in group]
    mean = 2290 / 8
    # What the plan knew before: sizes and neighbours allow every grid within the limit.
    assert deviation_lower_bound(sizes, mean) <= LIMIT_PCT
    assert max(adjacency_bounds(graph, group, mean).values()) <= LIMIT_PCT
    means = {c: 2290 / (5 + c) for c in range(1, 61)}
    # A split: the left side with the bridge (395), the right side's rows 0-2 (335) and
    # rows 3-4 (60 households, 79% under the mean).
    present = {v: v[0] if v[0] == "L" else ("R", v[1] >= 3) for v in group if v != "bridge"}
    present["bridge"] = "L"
    proof = prove_group(graph, group, 3, means, present, WorkBudget())
    assert proof.labels is None
    assert proof.bound is not None
    assert LIMIT_PCT < proof.bound <= 100 * (means[3] - 60) / means[3] + 1e-6


def test_a_plan_counts_the_grid_connectivity_forces_as_not_free():
    graph = _dumbbell()
    division = assign_grids(graph, _buildings(graph), 300, work=2.0)
    labels = division.labels
    loads = _loads(graph, labels.to_dict())
    mean = sum(load for g, load in loads.items()) / len(loads)
    deviation = {g: 100 * abs(load - mean) / mean for g, load in loads.items()}
    bound = {g: max(division.bounds[v] for v in graph if labels[v] == g) for g in loads}
    beyond = [g for g in loads if deviation[g] > LIMIT_PCT]
    forced = [g for g in beyond if bound[g] > LIMIT_PCT]
    assert beyond  # whatever happens
    # A grid beyond the limit is proven for every split: the worst is marked, each bound
    # at most its grid's deviation.
    worst = max(deviation, key=lambda g: (deviation[g], str(g)))  # ties: as the plan
    assert worst in forced
    # A bound of the group (division, exact models) proves one grid beyond it, not both
    # grids of 395 (fails before: both were marked by the division's bound).
    assert len(forced) == 1
    assert all(LIMIT_PCT < bound[g] <= deviation[g] + 1e-9 for g in forced)
    # The division planned three grids on the left (mean 2290 / 8) and drew two (a third
    # was below half the target): bounds are taken against the mean the grids as drawn
    # give, as the summary's deviations are (fails before: 15.1% against 2290 / 8, where
    # 790 households in whole grids are at least 19.5% off 2290 / 7).
    left = [graph.nodes[v]["households"] for v in graph if v[0] != "other"]
    assert bound[worst] >= deviation_lower_bound(left, mean) - 1e-9 > LIMIT_PCT


def test_a_bound_holds_against_another_mean():
    rng = random.Random(3)
    for _ in range(2000):
        mean, other = rng.uniform(100, 400), rng.uniform(100, 400)
        bound = rng.uniform(0, 60)
        held = against(bound, mean, other)
        # Any load the proof allows (outside mean's window) is that far from other.
        for load in (mean * (1 - bound / 100), mean * (1 + bound / 100),
                     mean * (1 - bound / 100) - rng.uniform(0, 100),
                     mean * (1 + bound / 100) + rng.uniform(0, 100)):
            assert 100 * abs(load - other) / other >= held - 1e-9
    assert against(20.0, 300.0, 300.0) == pytest.approx(20.0)


def _brute_force(graph: nx.Graph, nodes: list, k: int, mean: float) -> float:
    """The least worst relative deviation over every split of ``nodes`` into k connected
    grids (inf: none)."""
    best = math.inf
    for choice in itertools.product(range(k), repeat=len(nodes)):
        if len(set(choice)) < k or choice[0] != 0:
            continue
        labels = dict(zip(nodes, choice, strict=True))
        if _connected(graph, labels):
            best = min(best, max(abs(load - mean) for load in _loads(graph, labels).values())
                       / mean)
    return best


@pytest.mark.parametrize("seed", range(30))
def test_a_split_is_within_the_limit_and_a_bound_is_never_above_the_least_worst(seed):
    graph = _lattice(seed, rows=2, cols=3)
    nodes = sorted(graph)
    total = sum(graph.nodes[v]["households"] for v in nodes)
    if sum(graph.nodes[v]["households"] > 0 for v in nodes) < 3:
        pytest.skip("fewer buildings with households than grids")
    mean = total / 3
    means = {c: total / c for c in range(1, 5)}  # the counts the group may have
    present = {v: nodes.index(v) // 2 for v in nodes}
    proof = prove_group(graph, nodes, 3, means, present, WorkBudget())
    least = min(_brute_force(graph, nodes, c, means[c]) for c in means)
    if proof.labels is not None:
        assert _connected(graph, proof.labels)
        assert len(set(proof.labels.values())) == 3
        assert all(abs(load - mean) <= BALANCE_LIMIT * mean
                   for load in _loads(graph, proof.labels).values())
    elif proof.bound is not None:
        assert least > BALANCE_LIMIT  # no count allows the limit
        assert LIMIT_PCT < proof.bound <= 100 * least + 1e-6
    if _brute_force(graph, nodes, 3, mean) <= BALANCE_LIMIT:
        assert proof.labels is not None  # a split within the limit exists: it is found


def _path(sizes: list[int]) -> nx.Graph:
    graph = nx.Graph()
    for j, households in enumerate(sizes):
        graph.add_node(j, households=households, x=10.0 * j, y=0.0,
                       footprint=shapely.box(10 * j, 0, 10 * j + 8, 8), community="c")
    for j in range(len(sizes) - 1):
        graph.add_edge(j, j + 1, length=8.0, cost=8.0, street=False)
    return graph


def test_a_count_where_another_group_is_forced_needs_no_model():
    # Three blocks of 150 in a row: two grids of 225 on average cannot be drawn within 15%
    # (150 and 300), three grids of 150 can, but at three grids the community's mean is
    # one where its other group is 20% off whatever its split (``elsewhere``).
    graph = _path([150, 150, 150])
    nodes = list(graph)
    means = {1: 300.0, 2: 225.0, 3: 150.0}
    present = {0: "a", 1: "b", 2: "b"}
    # Without it, three grids allow the limit: nothing is proven (as before).
    assert prove_group(graph, nodes, 2, means, present, WorkBudget()).bound is None
    proof = prove_group(graph, nodes, 2, means, present, WorkBudget(),
                        elsewhere={1: 0.0, 2: 0.9, 3: 0.2})
    assert proof.labels is None
    # The least over counts: 50% at one grid (division), 20% at three (the other group);
    # the other group's bound at the plan's count (0.9) does not count for this group.
    assert proof.bound == pytest.approx(20.0)


def test_elsewhere_is_the_other_groups_bound_by_sizes():
    graph = _path([150, 150, 150])
    graph.add_node("far", households=231, x=500.0, y=0.0, community="c",
                   footprint=shapely.box(500, 0, 508, 8))
    prepared = _prepare(graph, "c", list(graph), set(graph), 300, False)
    i = next(j for j, (comp, _) in enumerate(prepared.counts) if "far" not in comp)
    means = count_means(prepared, i)
    found = elsewhere(prepared, i, means)
    assert set(found) == set(means)
    k = prepared.counts[i][1]
    for c, mean in means.items():
        # Only at the counts the model would be built for: the division allows the limit.
        modelled = c != k and abs(450 / c - mean) <= LIMIT_PCT / 100 * mean
        assert found[c] == pytest.approx(abs(231 - mean) / mean if modelled else 0.0)
    assert any(found.values())


def test_a_larger_group_is_proven_before_the_resplits_spend_its_work(monkeypatch):
    # Blocks of 200, 100 and 200 in a row and, cut off, one of 300 (mean 800 / 3): at two
    # grids the row is 200 + 300 (sizes would allow 300 + 200, the row does not), at one
    # grid 25% over the mean of 400, at three 16.7% under the mean of 200.
    graph = _path([200, 100, 200])
    graph.add_node("far", households=300, x=500.0, y=0.0, community="c",
                   footprint=shapely.box(500, 0, 508, 8))
    prepared = _prepare(graph, "c", list(graph), set(graph), 300, False)
    i = next(j for j, (comp, _) in enumerate(prepared.counts) if "far" not in comp)
    assert prepared.counts[i][1] == 2
    # Taken as a group beyond the first model's size, whose re-splits and set
    # partitioning spend all of its work (irregular 1709: 0.4 units, railway-cut groups).
    monkeypatch.setattr(divide, "FIRST_PAIRS", 0)
    exact = divide.split_exactly

    def spending(graph, groups, labels, mean, new_label, budget, beyond=None, least=0.0):
        out = exact(graph, groups, labels, mean, new_label, budget, beyond, least)
        budget.charge(budget.left)
        return out

    monkeypatch.setattr(divide, "split_exactly", spending)
    result = divide._group_task(("c", i, 1.0), prepared={"c": prepared})
    # Fails before: the proof came after them, with nothing left.
    assert result["forced"] == pytest.approx(100 * (200 - 500 / 3) / 200)
