"""Making a micro-grid plan for a study area.

:func:`make_plan` divides every community into grids of about ``target_households`` households:

- communities are cut along barriers into regions and tessellated (partition.territory);
- a building with more households than the target becomes a grid of its own (楼栋网格);
- every other connected group of buildings (no barrier, no community boundary inside it) is split
  into round(households / target) grids (partition.regionalize); a grid still beyond 15% of
  the mean is re-split with its neighbours (partition.exact_balance), and a group whose worst
  grid is still beyond it is split again exactly as a whole (partition.set_partition);
- groups without households (shops, schools cut off by a barrier) join the neighbouring grid
  they share the longest boundary with (a building grid only if nothing else borders them),
  and land without buildings the grid of its community it borders most (else the nearest).

Grid codes are the community code plus a 3-digit sequence, numbered north to south, west to
east. All geometry is in the study area's metric CRS; :meth:`Plan.layers_wgs84` converts.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.study_area import StudyArea
from partition.adjacency import building_graph
from partition.exact_balance import repair_extremes
from partition.metrics import (
    adjacency_bounds,
    barrier_violations,
    community_violations,
    connected_sets_bound,
    contiguous,
    deviation_lower_bound,
    deviations,
    hull_overlap_share,
    least_deviation_sum,
    polsby_popper,
)
from partition.parallel import map_forked
from partition.rebalance import previous_grids, rebalance_group
from partition.regionalize import BALANCE_LIMIT, split
from partition.set_partition import best_split
from partition.territory import community_regions, dissolve, tessellate
from partition.units import split_into_units
from partition.untangle import untangle

DEFAULT_TARGET = 300
# A community's mean grid size may differ this much from the target when that lets groups cut
# off by barriers divide more evenly (partition._grid_counts).
MEAN_RANGE = 0.06
CLEAR_GAIN = 0.8  # ... and its groups' deviation score falls at least by a fifth


@dataclass
class Plan:
    """A grid plan: ``grids`` and ``buildings`` (with ``grid_id``) in ``crs`` (metres)."""

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    crs: object
    target: int
    summary: dict = field(default_factory=dict)
    moves: pd.DataFrame | None = None  # re-balancing: building_id, from_grid, to_grid, ...

    def layers_wgs84(self) -> dict[str, gpd.GeoDataFrame]:
        return {"grids": self.grids.to_crs("EPSG:4326"),
                "buildings": self.buildings.to_crs("EPSG:4326")}


def _components(graph: nx.Graph, nodes: list) -> list[list]:
    return [sorted(c, key=str) for c in nx.connected_components(graph.subgraph(nodes))]


def assign_grids(graph: nx.Graph, buildings: gpd.GeoDataFrame, target: int, seed: int = 0,
                 previous: pd.Series | None = None,
                 locked: frozenset[str] = frozenset(),
                 workers: int = 1) -> tuple[pd.Series, pd.Series]:
    """Grid labels for every building in the graph, and the deviation bounds.

    Without ``previous`` the labels are "<community>/<n>" (numbered later). With it (the
    previous grid code per building, NaN for new buildings) the labels are grid codes: kept
    where grids keep their buildings, new ones for new grids; grids in ``locked`` keep exactly
    their buildings. Returns the label per building and, per building, the lower bound
    (percent) that building sizes put on the deviation of the grid it ends up in: the larger
    of the group's bound (some grid of the building's group deviates at least this much,
    metrics.deviation_lower_bound) and the building's own (the grid holding it deviates at
    least this much, given the sizes of the buildings next to it, metrics.adjacency_bounds).

    Communities are independent: with ``workers`` > 1 they are divided in that many forked
    processes (largest first), with the same result as one.
    """
    prev_all = None if previous is None else previous.dropna().to_dict()
    communities = sorted(buildings.groupby("community").groups.items(),
                         key=lambda item: -len(item[1]))
    results = map_forked(_community_grids, [(c, list(m)) for c, m in communities], workers,
                         graph=graph, buildings=buildings, target=target, seed=seed,
                         previous=prev_all, locked=locked)
    labels: dict = {}
    bounds: dict = {}
    for community_labels, community_bounds in results:
        labels.update(community_labels)
        bounds.update(community_bounds)
    return pd.Series(labels), pd.Series(bounds, dtype=float)


def _community_grids(task: tuple, *, graph: nx.Graph,
                     buildings: gpd.GeoDataFrame, target: int, seed: int,
                     previous: dict | None, locked: frozenset) -> tuple[dict, dict]:
    """Labels and deviation bounds (building -> value) of one community's buildings
    (``task``: the community and its buildings)."""
    community, members = task
    labels: dict = {}
    bounds: dict = {}
    hh = buildings.loc[members, "households"]
    prev = {b: previous[b] for b in members if b in previous} if previous is not None else {}
    new_label = _label_maker(community, prev.values()) if previous is not None else None
    for b in members:
        if prev.get(b) in locked:
            labels[b] = prev[b]
    free = [b for b in members if b not in labels]
    groups: list[tuple[list, int]] = [([b], 1) for b in free if hh[b] > target]
    empty: list[list] = []
    for comp in _components(graph, [b for b in free if hh[b] <= target]):
        total = int(hh[comp].sum())
        if total == 0:
            empty.append(comp)
        else:
            groups.append((comp, max(1, round(total / target))))
    keep = None if previous is None else [
        len({prev[b] for b in comp if b in prev}) or None for comp, _ in groups]
    groups, mean = _grid_counts(groups, hh, target, keep)
    n = len(set(labels.values()))
    for comp, k in groups:
        if previous is None:
            parts = split(graph, comp, k, mean=mean)
            labels.update({b: f"{community}/{n + p}" for b, p in parts.items()})
        else:
            labels.update(rebalance_group(graph, comp, k, prev, new_label, seed=seed,
                                          mean=mean))
        n += k
    if previous is not None:
        _make_labels_unique(graph, [b for b in members if b in labels], labels, prev,
                            new_label)
    # Buildings of split groups may change grid; building grids stay as they are.
    movable = {b for comp, k in groups if k > 1 for b in comp}
    labels.update(repair_extremes(graph, {b: labels[b] for b in members if b in labels},
                                  movable=movable, mean=mean))
    spare = itertools.count()
    exact = _split_exactly(graph, groups, labels, mean,
                           new_label or (lambda: f"{community}/exact{next(spare)}"))
    if previous is not None:
        for comp in empty:
            old = pd.Series([prev.get(b) for b in comp]).dropna()
            if len(old):  # land cut off by barriers keeps the grid it had
                labels.update(dict.fromkeys(comp, old.mode().iloc[0]))
    else:
        _untangle_community(graph, buildings, members, movable, labels, mean)
    empty = [comp for comp in empty if comp[0] not in labels]
    building_grids = frozenset(labels[b] for b in free if hh[b] > target and b in labels)
    _attach_empty(graph, empty, labels,
                  new_label or (lambda c=community: f"{c}/empty{len(labels)}"),
                  building_grids)
    for comp, _ in groups:
        bound = max(deviation_lower_bound(list(hh[comp]), mean), exact.get(comp[0], 0.0))
        bounds.update({b: max(bound, near) for b, near
                       in adjacency_bounds(graph, comp, mean).items()})
    return labels, bounds


def _split_exactly(graph: nx.Graph, groups: list[tuple[list, int]], labels: dict,
                   mean: float, new_label) -> dict:
    """Groups whose worst grid is still beyond BALANCE_LIMIT are split again, exactly
    (partition.set_partition): as a whole, else the worst grid with the grids around it
    (one ring, two, three), while that builds a better split; ``labels`` is updated, each
    new grid taking the label of the present grid it shares most households with.
    Returns, per first node of such a group, the deviation bound (percent) the exact model
    proved for every split of the whole group."""
    out = {}
    for comp, k in groups:
        if k < 2:
            continue
        result = best_split(graph, comp, k, mean, BALANCE_LIMIT, {b: labels[b] for b in comp})
        if result.bound is not None:
            out[comp[0]] = 100.0 * result.bound / mean
        if result.labels is not None:
            _relabel(graph, result.labels, labels, new_label)
        elif not result.optimal:
            _split_around_worst(graph, comp, labels, mean, new_label)
    return out


def _split_around_worst(graph: nx.Graph, comp: list, labels: dict, mean: float,
                        new_label) -> None:
    """Re-split the worst grid of ``comp`` with its neighbours while that lowers the worst
    deviation among them below what it was (each round needs fewer candidate grids than the
    whole group)."""
    for _ in range(len(comp)):
        loads: dict = defaultdict(int)
        for b in comp:
            loads[labels[b]] += graph.nodes[b]["households"]
        worst = max(loads, key=lambda g: (abs(loads[g] - mean), str(g)))
        if abs(loads[worst] - mean) <= BALANCE_LIMIT * mean:
            return
        grids = {worst}
        for _rings in range(3):
            grids |= {labels[nb] for b in comp if labels[b] in grids for nb in graph[b]
                      if nb in labels and labels[nb] in loads}
            nodes = [b for b in comp if labels[b] in grids]
            result = best_split(graph, nodes, len(grids), mean, BALANCE_LIMIT,
                                {b: labels[b] for b in nodes})
            if result.labels is not None:
                _relabel(graph, result.labels, labels, new_label)
                break
        else:
            return


def _relabel(graph: nx.Graph, split: dict, labels: dict, new_label) -> None:
    names = _matching_labels(graph, split, {b: labels[b] for b in split}, new_label)
    labels.update({b: names[i] for b, i in split.items()})


def _matching_labels(graph: nx.Graph, split: dict, present: dict, new_label) -> dict:
    """Grid index of ``split`` -> the present label it shares most households (then
    buildings) with, each label used once; fresh labels when the present ones run out."""
    shared: dict = defaultdict(int)
    for b, i in split.items():
        shared[i, present[b]] += 1 + 1000 * graph.nodes[b]["households"]
    names: dict = {}
    for (i, label), _ in sorted(shared.items(), key=lambda item: (-item[1], str(item[0]))):
        if i not in names and label not in names.values():
            names[i] = label
    for i in sorted(set(split.values()) - names.keys()):
        names[i] = new_label()
    return names


def _untangle_community(graph: nx.Graph, buildings: gpd.GeoDataFrame, members: list,
                        movable: set, labels: dict, mean: float) -> None:
    """Let ``movable`` buildings change grid where grids' hulls overlap (partition.untangle)."""
    if not movable:
        return
    residential = (set(buildings.index[buildings["residential"]])
                   if "residential" in buildings else set(buildings.index))
    assignment = {b: labels[b] for b in members if b in labels}
    labels.update(untangle(graph, assignment, movable=movable,
                           residential=residential & set(assignment), mean=mean))


def _grid_counts(groups: list[tuple[list, int]], hh: pd.Series, target: int,
                 keep: list[int | None] | None = None) -> tuple[list[tuple[list, int]], float]:
    """Choose each group's number of grids; returns the groups and the community's resulting
    mean grid size (deviations are measured from it).

    Groups separated by barriers cannot share grids: a group of 1,049 households makes 4 grids
    of 262 or 3 of 350. Since every group's grids are measured against one community mean, the
    counts are chosen together: each group takes the count whose average comes nearest the
    target unless, for a mean within ``MEAN_RANGE`` of the target, counts nearest that mean
    fit it clearly better (``_count_score`` lower by ``1 - CLEAR_GAIN`` or more). ``keep``
    (re-balancing) gives a group's previous count, kept while its average stays within
    ``BALANCE_LIMIT`` of the target.
    """
    totals = [float(hh[comp].sum()) for comp, _ in groups]
    flexible = [len(comp) > 1 for comp, _ in groups]
    if keep is not None:
        counts = [_kept_count(kept, total, len(comp), target) if flex else k
                  for (comp, k), total, flex, kept in zip(groups, totals, flexible, keep,
                                                            strict=True)]
        return list(zip([c for c, _ in groups], counts, strict=True)), \
            sum(totals) / max(sum(counts), 1)
    nearest = [_nearest_count(total, len(comp), target) if flex else k
               for (comp, k), total, flex in zip(groups, totals, flexible, strict=True)]
    baseline = _count_score(totals, nearest, flexible, sum(totals) / max(sum(nearest), 1))
    best = (baseline, nearest)
    for aim in np.linspace(1 - MEAN_RANGE, 1 + MEAN_RANGE, 25) * target:
        for _ in range(3):  # the mean follows the counts: let the counts follow it back
            counts = [_nearest_count(total, len(comp), aim) if flex else k
                      for (comp, k), total, flex in zip(groups, totals, flexible, strict=True)]
            aim = sum(totals) / max(sum(counts), 1)
        if abs(aim / target - 1) <= MEAN_RANGE:
            score = _count_score(totals, counts, flexible, aim)
            # Away from the target only where it pays clearly.
            if score < best[0] and score <= CLEAR_GAIN * baseline:
                best = (score, counts)
    counts = best[1]
    return list(zip([c for c, _ in groups], counts, strict=True)), \
        sum(totals) / max(sum(counts), 1)


def _count_score(totals: list, counts: list, flexible: list, mean: float) -> float:
    """How far groups' averages are from ``mean``, smaller first: the mean over grids of their
    group's deviation (capped at twice BALANCE_LIMIT, so that small groups that cannot come
    near any mean do not decide), plus BALANCE_LIMIT more for a grid beyond it."""
    score, grids = 0.0, 0
    for total, count, flex in zip(totals, counts, flexible, strict=True):
        if flex:
            deviation = abs(total / count - mean) / mean
            score += count * (min(deviation, 2 * BALANCE_LIMIT)
                              + (BALANCE_LIMIT if deviation > BALANCE_LIMIT else 0.0))
            grids += count
    return round(score / max(grids, 1), 4)


def _nearest_count(total: float, buildings: int, aim: float) -> int:
    """The number of grids (at most one per building) whose average comes nearest ``aim``."""
    low = max(1, math.floor(total / aim))
    options = [c for c in (low, low + 1) if c <= buildings] or [buildings]
    return min(options, key=lambda c: (abs(total / c - aim), c))


def _kept_count(kept: int | None, total: float, buildings: int, target: int) -> int:
    if kept and kept <= buildings and abs(total / kept / target - 1) <= BALANCE_LIMIT:
        return kept
    return _nearest_count(total, buildings, target)


def _label_maker(community, codes):
    """Fresh grid codes for a community: its code + the next free 3-digit sequence."""
    prefix = str(community)
    used = [int(c[len(prefix):]) for c in codes
            if str(c).startswith(prefix) and str(c)[len(prefix):].isdigit()]
    counter = iter(range(max(used, default=0) + 1, 10**6))

    def new_label() -> str:
        return f"{prefix}{next(counter):03d}"

    return new_label


def _make_labels_unique(graph: nx.Graph, nodes: list, labels: dict, prev: dict,
                        new_label) -> None:
    """A label held by disconnected pieces stays with the piece holding most of its previous
    buildings; the other pieces get fresh labels."""
    by_label: dict = {}
    for b in nodes:
        by_label.setdefault(labels[b], []).append(b)
    for label, members in by_label.items():
        pieces = list(nx.connected_components(graph.subgraph(members)))
        if len(pieces) < 2:
            continue
        pieces.sort(key=lambda p: (sum(prev.get(b) == label for b in p), len(p)), reverse=True)
        for piece in pieces[1:]:
            fresh = new_label()
            for b in piece:
                labels[b] = fresh


def _attach_empty(graph: nx.Graph, empty: list[list], labels: dict, new_label,
                  building_grids: frozenset = frozenset()) -> None:
    """Give household-less groups the label of the neighbour grid with the longest border,
    a building grid (楼栋网格) only when no other grid borders them."""
    pending = list(empty)
    while pending:
        still = []
        for comp in pending:
            shared: dict = {}
            for b in comp:
                for nb, data in graph[b].items():
                    if nb in labels:
                        shared[labels[nb]] = shared.get(labels[nb], 0) + data["length"]
            if shared:
                label = max(shared, key=lambda g: (g not in building_grids, shared[g]))
                for b in comp:
                    labels[b] = label
            else:
                still.append(comp)
        if len(still) == len(pending):
            # Cut off from every grid by barriers: a grid of its own, without households.
            for comp in still:
                label = new_label()
                for b in comp:
                    labels[b] = label
            return
        pending = still


def _number_grids(labels: pd.Series, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Map labels to codes: community code + 3-digit sequence, north to south, west to east."""
    reps = buildings.geometry.representative_point()
    frame = pd.DataFrame({"label": labels, "x": reps.x, "y": reps.y,
                          "community": buildings["community"]})
    centres = frame.groupby("label").agg(x=("x", "mean"), y=("y", "mean"),
                                         community=("community", "first"))
    centres["band"] = -(centres["y"] // 200)  # 200 m rows, north first
    centres = centres.sort_values(["community", "band", "x"])
    centres["seq"] = centres.groupby("community").cumcount() + 1
    codes = centres["community"].astype(str) + centres["seq"].map("{:03d}".format)
    return labels.map(codes)


def _grid_polygons(cells: gpd.GeoDataFrame, grid_of: pd.Series,
                   regions: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Dissolve cells by grid; regions without buildings join the grid of the same community
    they share the longest border with (so the grids cover their communities)."""
    cells = cells.assign(grid_id=grid_of.reindex(cells.index).values)
    polys = {g: dissolve(c.geometry.values) if len(c) > 1 else c.geometry.iloc[0]
             for g, c in cells.groupby("grid_id")}
    occupied = set(cells["region"])
    region_community = dict(zip(regions["region"], regions["community"], strict=True))
    community_of_grid = {g: region_community[r]
                         for g, r in cells.groupby("grid_id")["region"].first().items()}
    spare = regions[~regions["region"].isin(occupied)]
    by_community: dict = {}
    for g, c in community_of_grid.items():
        by_community.setdefault(c, []).append(g)
    for attempt in range(3):  # empty regions may border only other empty regions at first
        left = []
        for row in spare.itertuples():
            candidates = by_community.get(row.community, [])
            if not candidates:
                continue  # a community without buildings has no grid to give it to
            shared = [shapely.intersection(row.geometry.boundary, polys[g].boundary).length
                      for g in candidates]
            if max(shared) > 0:
                best = candidates[int(np.argmax(shared))]
            elif attempt < 2:
                left.append(row)
                continue
            else:  # no grid of its community borders it: the nearest one takes it
                best = min(candidates, key=lambda g: polys[g].distance(row.geometry))
            polys[best] = shapely.union_all([polys[best], row.geometry])
        if not left:
            break
        spare = gpd.GeoDataFrame(left, crs=regions.crs)
    return gpd.GeoSeries(polys, crs=cells.crs)


@dataclass
class Territory:
    """What every plan of a study area is made on: barrier-free regions, the buildings' cells
    and their adjacency graph (partition.territory, partition.adjacency). Metric CRS."""

    buildings: gpd.GeoDataFrame  # those inside a community
    regions: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    graph: nx.Graph


def build_territory(area: StudyArea, progress=None, workers: int = 1) -> Territory:
    """Regions, tessellation (in ``workers`` processes) and adjacency graph of ``area``'s
    buildings."""
    step = progress or (lambda _name: None)
    buildings = area.buildings[area.buildings["community"].notna()].copy()
    step("区域 regions")
    regions = community_regions(area.communities, area.barriers)
    step("镶嵌 tessellation")
    cells = tessellate(buildings, regions, workers)
    step("邻接 adjacency")
    graph = building_graph(buildings, cells, area.street_lines.geometry,
                           area.barriers.geometry)
    return Territory(buildings, regions, cells, graph)


def make_plan(area: StudyArea, target: int = DEFAULT_TARGET, *, seed: int = 0,
              previous: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
              locked: frozenset[str] = frozenset(), territory: Territory | None = None,
              split_units: str | None = None, progress=None, workers: int = 1) -> Plan:
    """Divide every community of ``area`` into micro-grids of about ``target`` households.

    Args:
        area: the study area (gis.study_area), metric CRS.
        target: households per grid.
        seed: for the local search's order of moves; the same seed gives the same plan.
        previous: (grids, buildings) of an earlier plan (partition.plan_io.read_plan) to
            re-balance with as few moves as possible.
        locked: grid codes of ``previous`` that must stay exactly as they are.
        territory: ``build_territory(area)`` when the caller has it already.
        split_units: the name of a column holding each building's number of units (单元):
            buildings above ``target`` are then divided by unit instead of becoming building
            grids (partition.units).
        progress: called with the name of each step as it starts.
        workers: processes tessellating regions and dividing communities at once (the
            plan is the same for any number).
    """
    step = progress or (lambda _name: None)
    if split_units:
        area = replace(area, buildings=split_into_units(area.buildings, target, split_units))
    territory = territory or build_territory(area, progress, workers)
    step("划分 partition")
    buildings = territory.buildings
    prev = previous_grids(buildings, previous[1]) if previous is not None else None
    unknown = set(locked) - (set(previous[0]["grid_id"].astype(str)) if previous else set())
    if unknown:
        raise ValueError(f"locked grids not in the previous plan: {', '.join(sorted(unknown))} "
                         f"(锁定的网格不在原方案中)")
    labels, bounds = assign_grids(territory.graph, buildings, target, seed=seed,
                                  previous=prev, locked=frozenset(locked), workers=workers)
    if previous is None:
        labels = _number_grids(labels, buildings)
    step("指标 metrics")
    plan = plan_from_labels(area, territory, labels, target, bounds,
                            locked_polygons=(previous[0], locked) if locked else None)
    if prev is not None:
        plan.moves = _moves(plan.buildings, prev, previous[1])
        plan.summary.update(_move_summary(plan.moves, previous[0], plan.grids))
    return plan


def plan_from_labels(area: StudyArea, territory: Territory, labels: pd.Series, target: int,
                     bounds: pd.Series | None = None, locked_polygons=None) -> Plan:
    """A plan (grids with metrics, buildings) from a grid label per building.

    Any partitioner's labels can be measured this way, ours or a peer's (bench/).
    ``bounds``: per building, the deviation bound of its group (partition.metrics).
    """
    buildings = territory.buildings.copy()
    buildings["grid_id"] = labels.reindex(buildings.index).astype(str)
    polygons = _grid_polygons(territory.cells, buildings["grid_id"], territory.regions)
    if locked_polygons is not None:
        polygons = _keep_locked_polygons(polygons, *locked_polygons, area.crs)
    grids = _grid_table(buildings, polygons, territory.graph, area)
    bound = (bounds.reindex(buildings.index) if bounds is not None
             else pd.Series(0.0, index=buildings.index))
    grids["deviation_bound_pct"] = bound.groupby(buildings["grid_id"]).max().reindex(
        grids["grid_id"]).fillna(0.0).values
    _tighten_bounds(grids, buildings, territory.graph, target)
    grids["deviation_bound_pct"] = grids["deviation_bound_pct"].round(2)
    plan = Plan(grids=grids, buildings=_with_outside(area, buildings), crs=area.crs,
                target=target)
    plan.summary = summarise(plan, territory.graph)
    return plan


def _tighten_bounds(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, graph: nx.Graph,
                    target: int) -> None:
    """For grids beyond BALANCE_LIMIT whose bound allows the limit, look further: the least
    deviation of any connected set of buildings holding one of theirs
    (metrics.connected_sets_bound) bounds the grid's deviation in every plan."""
    limit = 100 * BALANCE_LIMIT
    suspect = grids[(grids["households"] > 0) & (grids["deviation_pct"].abs() > limit)
                    & (grids["deviation_bound_pct"] <= limit)]
    if suspect.empty:
        return
    small = buildings[buildings["households"] <= target]
    inside = {c: set(ix) for c, ix in small.groupby("community").groups.items()}
    members = buildings.groupby("grid_id").groups
    means = grids[grids["households"] > 0].groupby("community")["households"].mean()
    for row in suspect.itertuples():
        near = inside.get(row.community, set())
        found = [connected_sets_bound(graph, b, near, means[row.community], BALANCE_LIMIT)
                 for b in members[row.grid_id] if b in near]
        found = [f for f in found if f is not None]
        if found:
            grids.loc[row.Index, "deviation_bound_pct"] = max(row.deviation_bound_pct,
                                                              max(found))


def _keep_locked_polygons(polygons: gpd.GeoSeries, prev_grids: gpd.GeoDataFrame,
                          locked: frozenset[str], crs) -> gpd.GeoSeries:
    """Locked grids keep their previous polygon exactly; the others give up any overlap."""
    old = prev_grids[prev_grids["grid_id"].astype(str).isin(locked)].to_crs(crs)
    old_polys = dict(zip(old["grid_id"].astype(str), old.geometry, strict=True))
    locked_union = shapely.union_all(list(old_polys.values()))
    out = {}
    for g, poly in polygons.items():
        out[g] = old_polys[g] if g in old_polys else poly.difference(locked_union)
    return gpd.GeoSeries(out, crs=polygons.crs)


def _moves(buildings: gpd.GeoDataFrame, prev: pd.Series,
           prev_buildings: pd.DataFrame) -> pd.DataFrame:
    """Building by building: what changed grid, what is new, what is gone."""
    buildings = buildings[buildings["grid_id"].notna()]
    frame = pd.DataFrame({"building_id": buildings["building_id"].astype(str),
                          "from_grid": prev.reindex(buildings.index),
                          "to_grid": buildings["grid_id"],
                          "households": buildings["households"]})
    frame["change"] = np.where(frame["from_grid"].isna(), "new",
                               np.where(frame["from_grid"] != frame["to_grid"], "moved",
                                        "kept"))
    gone = prev_buildings[~prev_buildings["building_id"].astype(str).isin(
        frame["building_id"])]
    gone_frame = pd.DataFrame({"building_id": gone["building_id"].astype(str),
                               "from_grid": gone["grid_id"], "to_grid": None,
                               "households": gone.get("households", 0), "change": "removed"})
    out = pd.concat([frame, gone_frame], ignore_index=True)
    return out[out["change"] != "kept"].reset_index(drop=True)


def _move_summary(moves: pd.DataFrame, prev_grids: gpd.GeoDataFrame,
                  grids: gpd.GeoDataFrame) -> dict:
    moved = moves[moves["change"] == "moved"]
    old, new = set(prev_grids["grid_id"].astype(str)), set(grids["grid_id"].astype(str))
    return {
        "buildings_moved": len(moved),
        "households_moved": int(moved["households"].sum()),
        "buildings_new": int((moves["change"] == "new").sum()),
        "buildings_removed": int((moves["change"] == "removed").sum()),
        "grids_kept": len(old & new),
        "grids_new": len(new - old),
        "grids_gone": len(old - new),
    }


def _with_outside(area: StudyArea, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    outside = area.buildings[area.buildings["community"].isna()].copy()
    outside["grid_id"] = None
    return pd.concat([buildings, outside]) if len(outside) else buildings


def _grid_table(buildings, polygons: gpd.GeoSeries, graph, area) -> gpd.GeoDataFrame:
    agg = buildings.groupby("grid_id").agg(
        community=("community", "first"), households=("households", "sum"),
        population=("population", "sum"), buildings=("building_id", "size"))
    grids = gpd.GeoDataFrame(agg, geometry=polygons.reindex(agg.index).values, crs=area.crs)
    grids.index.name = "grid_id"
    grids = grids.reset_index()
    grids.insert(1, "code", grids["grid_id"])
    grids["population"] = grids["population"].round(1)
    grids["deviation_pct"] = deviations(grids).round(2)
    grids["area_m2"] = grids.geometry.area.round(1)
    grids["polsby_popper"] = polsby_popper(grids.geometry).round(4)
    street, total = _boundary_lengths(graph, buildings)
    share = pd.Series({g: street[g] / total[g] for g in total if total[g] > 0}, dtype=float)
    grids["street_boundary_share"] = share.reindex(grids["grid_id"]).fillna(1.0).round(4).values
    grids["contiguous"] = contiguous(graph, buildings).reindex(grids["grid_id"]).values
    grids["barrier_violation"] = barrier_violations(
        grids, buildings, area.barriers).reindex(grids["grid_id"]).values
    grids["community_violation"] = community_violations(buildings).reindex(
        grids["grid_id"]).values
    return grids


def _boundary_lengths(graph: nx.Graph, buildings: gpd.GeoDataFrame) -> tuple[dict, dict]:
    """Per grid: metres of shared cell boundary with other grids that run along a street, and
    in all (each boundary counts for both grids it separates)."""
    grid = buildings["grid_id"].to_dict()
    total: dict = {}
    street: dict = {}
    for u, v, d in graph.edges(data=True):
        gu, gv = grid.get(u), grid.get(v)
        if gu is None or gv is None or gu == gv:
            continue
        for g in (gu, gv):
            total[g] = total.get(g, 0.0) + d["length"]
            street[g] = street.get(g, 0.0) + (d["length"] if d["street"] else 0.0)
    return street, total


BALANCE_LIMIT_PCT = 15.0


def summarise(plan: Plan, graph: nx.Graph) -> dict:
    """Plan-level figures: balance, compactness, streets, and the hard-rule counts.

    "free" grids are those whose building sizes allow a deviation within BALANCE_LIMIT_PCT
    (``deviation_bound_pct`` <= 15); the balance targets apply to them, the bound to the rest.
    """
    g = plan.grids
    b = plan.buildings
    resid = b[b["residential"]]
    dev = g["deviation_pct"].abs()
    with_hh = g["households"] > 0
    free = with_hh & (g["deviation_bound_pct"] <= BALANCE_LIMIT_PCT)
    street, total = _boundary_lengths(graph, b)
    cut_len, cut_street = sum(total.values()), sum(street.values())
    return {
        "communities": int(g["community"].nunique()),
        "grids": len(g),
        "buildings": len(b),
        "residential_buildings": len(resid),
        "households": int(g["households"].sum()),
        "residential_without_grid": int(resid["grid_id"].isna().sum()),
        "max_deviation_pct": round(float(dev[with_hh].max()), 2) if with_hh.any() else 0.0,
        "mean_deviation_pct": round(float(dev[with_hh].mean()), 2) if with_hh.any() else 0.0,
        "deviation_lower_bound_pct": round(float(g["deviation_bound_pct"].max()), 2),
        "mean_deviation_lower_bound_pct": _mean_deviation_bound(graph, g, plan.target),
        "free_grids": int(free.sum()),
        "free_grids_over_limit": int((free & (dev > BALANCE_LIMIT_PCT)).sum()),
        "max_deviation_free_pct": round(float(dev[free].max()), 2) if free.any() else 0.0,
        "mean_deviation_free_pct": round(float(dev[free].mean()), 2) if free.any() else 0.0,
        "mean_polsby_popper": round(float(g["polsby_popper"].mean()), 4),
        "street_boundary_share": round(cut_street / cut_len, 4) if cut_len else 1.0,
        "hull_overlap_pct": round(100 * hull_overlap_share(resid[resid["grid_id"].notna()]), 3),
        "non_contiguous": int((~g["contiguous"]).sum()),
        "barrier_violations": int(g["barrier_violation"].sum()),
        "community_violations": int(g["community_violation"].sum()),
        "building_grids": int((g["buildings"] == 1).sum()),
        "target_households": plan.target,
    }


def _mean_deviation_bound(graph: nx.Graph, grids: gpd.GeoDataFrame, target: int) -> float:
    """The least mean deviation (percent, over grids with households) any plan with these
    grid counts per community can have under the hard rules (metrics.least_deviation_sum)."""
    sized = grids[grids["households"] > 0]
    counts = sized.groupby("community").size()
    nodes: dict = defaultdict(list)
    for v, data in graph.nodes(data=True):
        nodes[data["community"]].append(v)
    total = 0.0
    for community, k in counts.items():
        members = nodes.get(community, [])
        sizes = {v: graph.nodes[v]["households"] for v in members}
        mean = sum(sizes.values()) / k
        groups = [sum(sizes[v] for v in comp)
                  for comp in _components(graph, [v for v in members if sizes[v] <= target])]
        total += least_deviation_sum([s for s in sizes.values() if s > target],
                                     [t for t in groups if t > 0], k, mean) / mean
    return round(100 * total / max(int(counts.sum()), 1), 2)


def rule_violations(plan: Plan) -> dict[str, int]:
    """Counts of hard-rule violations (all must be 0)."""
    s = plan.summary
    return {k: s[k] for k in ("residential_without_grid", "non_contiguous",
                              "barrier_violations", "community_violations")}


__all__ = ["DEFAULT_TARGET", "Plan", "make_plan", "rule_violations"]
