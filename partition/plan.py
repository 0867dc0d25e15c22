"""Making a micro-grid plan for a study area.

:func:`make_plan` divides every community into grids of about ``target_households`` households:

- communities are cut along barriers into regions and tessellated (partition.territory);
- every building gets a grid label (partition.divide): building grids (楼栋网格), residential
  grids split from the groups no barrier crosses, pockets joined across open arterial roads
  (listed as barrier exceptions), dedicated grids (专属网格) for household-less groups cut off
  from every other grid;
- grids' polygons are their cells, each grid in one piece, land without buildings joining the
  grid of its community it borders most (partition.polygons);
- every plan is measured and checked against the hard rules (:func:`summarise`,
  :func:`rule_violations`), polygons as written included.

Grid codes are the community code plus a 3-digit sequence, numbered north to south, west to
east. All geometry is in the study area's metric CRS; :meth:`Plan.layers_wgs84` converts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from gis.errors import WanggeError
from gis.study_area import StudyArea
from partition.adjacency import building_graph, connected_parts
from partition.budget import default_units
from partition.divide import assign_grids, community_households
from partition.groups import twin_roots
from partition.metrics import (
    BALANCE_LIMIT,
    BALANCE_LIMIT_PCT,
    DEFAULT_TARGET,
    SMALL_SHARE,
    barrier_violations,
    community_means,
    community_violations,
    connected_sets_bound,
    contiguous,
    deviations,
    hull_overlap_share,
    least_deviation_sum,
    outside_own_grid,
    overlap_area,
    polsby_popper,
    polygon_pieces,
)
from partition.polygons import grid_polygons
from partition.rebalance import previous_grids
from partition.territory import community_regions, tessellate
from partition.units import split_into_units

MIN_PIECE_M2 = 1.0  # a grid polygon's part smaller than this is a sliver, not a piece


class PlanError(WanggeError, ValueError):
    """A plan that cannot be made as asked (locked grids the previous plan does not have)."""


@dataclass
class Plan:
    """A grid plan: ``grids`` and ``buildings`` (with ``grid_id``) in ``crs`` (metres)."""

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    crs: object
    target: int
    summary: dict[str, Any] = field(default_factory=dict)
    moves: pd.DataFrame | None = None  # re-balancing: building_id, from_grid, to_grid, ...
    # Pockets joined across open arterial roads: grid_code, barrier_kind, barrier_name,
    # households, and the pocket's buildings' hull.
    barrier_exceptions: gpd.GeoDataFrame | None = None
    # Communities left without grids.
    failures: list[dict[str, Any]] = field(default_factory=list)

    def layers_wgs84(self) -> dict[str, gpd.GeoDataFrame]:
        """The plan's layers (grids, buildings, barrier_exceptions) in EPSG:4326 lon/lat."""
        layers = {"grids": self.grids.to_crs("EPSG:4326"),
                  # Indexed by building_id in memory (partition.plan.build_territory).
                  "buildings": self.buildings.to_crs("EPSG:4326").reset_index(drop=True)}
        if self.barrier_exceptions is not None:
            layers["barrier_exceptions"] = self.barrier_exceptions.to_crs("EPSG:4326")
        return layers


def _number_grids(labels: pd.Series, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Map labels to codes: community code + 3-digit sequence, north to south, west to east."""
    if labels.empty:  # every community failed: no grid to number
        return labels.astype(object)
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


def by_building_id(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``buildings`` indexed by ``building_id`` as str (unnamed: the column stays), sorted."""
    out = buildings.set_index(buildings["building_id"].astype(str).rename(None))
    return out.sort_index(kind="stable")


@dataclass
class Territory:
    """What every plan of a study area is made on: barrier-free regions, the buildings' cells
    and their adjacency graph (partition.territory, partition.adjacency). Metric CRS."""

    buildings: gpd.GeoDataFrame  # those inside a community
    regions: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    graph: nx.Graph[Hashable]


def build_territory(area: StudyArea, progress: Callable[[str], object] | None = None,
                    workers: int = 1) -> Territory:
    """Regions, tessellation (in ``workers`` processes) and adjacency graph of ``area``'s
    buildings, indexed by ``building_id`` (str), sorted: the plan depends neither on the
    order nor on the index of ``area.buildings``, and a community's buildings are the same
    nodes in the whole area as alone."""
    step = progress or (lambda _name: None)
    buildings = by_building_id(area.buildings[area.buildings["community"].notna()])
    step("区域 regions")
    regions = community_regions(area.communities, area.barriers)
    step("镶嵌 tessellation")
    cells = tessellate(buildings, regions, workers)
    step("邻接 adjacency")
    graph = building_graph(buildings, cells, area.street_lines.geometry, area.barriers)
    return Territory(buildings, regions, cells, graph)


def _households_by_community(graph: nx.Graph[Hashable],
                             buildings: gpd.GeoDataFrame) -> list[int]:
    """Households of each community as the division counts them (partition.divide), in
    community order."""
    return [community_households(graph, members) for _, members
            in sorted(buildings.groupby("community").groups.items(), key=lambda kv: str(kv[0]))]


def make_plan(area: StudyArea, target: int = DEFAULT_TARGET, *, seed: int = 0,
              previous: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
              locked: frozenset[str] = frozenset(), territory: Territory | None = None,
              split_units: str | None = None,
              progress: Callable[[str], object] | None = None, workers: int = 1,
              time_limit: float | None = None, strict_barriers: bool = False) -> Plan:
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
        workers: processes tessellating regions and dividing groups at once (the plan is
            the same for any number).
        time_limit: work (about seconds of one core, partition.budget) the exact steps may
            spend in all; None: partition.budget.default_units for the area's buildings and
            its communities' households. The same seed and limit give the same plan. It is
            shared by community (by households), then by group (by buildings): a community
            planned alone (a study area of its buildings, streets and barriers) with
            ``partition.budget.portion(time_limit, its households, the area's)`` gets exactly
            the grids it gets here.
        strict_barriers: join no pocket across an arterial road (partition.groups).

    Communities whose division fails are left without grids and listed in ``failures``
    (and the summary's ``failed_communities``); the rest of the plan stands.

    Raises:
        PlanError: ``locked`` names grids that ``previous`` does not have.
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
        codes = ", ".join(sorted(unknown))
        raise PlanError(f"锁定的网格不在原方案中：{codes}",
                        f"locked grids not in the previous plan: {codes}")
    work = (default_units(len(buildings), _households_by_community(territory.graph, buildings),
                          target) if time_limit is None else time_limit)
    division = assign_grids(territory.graph, buildings, target, seed=seed, previous=prev,
                            locked=frozenset(locked), workers=workers, work=work,
                            strict_barriers=strict_barriers)
    labels = division.labels
    codes = _number_grids(labels, buildings) if previous is None else labels
    exceptions = _exceptions_layer(division.crossings, labels, codes, buildings)
    step("指标 metrics")
    plan = plan_from_labels(area, territory, codes, target, division.bounds,
                            locked_polygons=((previous[0], locked)
                                             if locked and previous is not None else None),
                            # Locked grids stand as approved, crossings included.
                            crossing_grids=frozenset(exceptions["grid_code"]) | set(locked))
    plan.failures = division.failures
    plan.barrier_exceptions = exceptions
    plan.summary.update({
        "barrier_exceptions": len(division.crossings),
        "failed_communities": len(division.failures),
        "work_budget": round(work, 2),
        "groups_out_of_budget": len(division.budget),
        "out_of_budget": _out_of_budget(division.budget, labels, codes),
    })
    if previous is not None:  # prev is set too
        plan.moves = _moves(plan.buildings, prev, previous[1])
        plan.summary.update(_move_summary(plan.moves, previous[0], plan.grids))
    return plan


def _out_of_budget(groups: list[dict[str, Any]], labels: pd.Series,
                   codes: pd.Series) -> list[dict[str, Any]]:
    """The groups whose work ran out, each with the codes of its grids (where a street
    office finds them; division labels are internal) instead of the division's labels."""
    code_of = {str(k): v for k, v in zip(labels.values, codes.reindex(labels.index).values,
                                         strict=True)}
    return [{**{k: v for k, v in g.items() if k != "labels"},
             "grid_codes": sorted({str(code_of.get(label, label)) for label in g["labels"]})}
            for g in groups]


def _exceptions_layer(crossings: list[dict[str, Any]], labels: pd.Series, codes: pd.Series,
                      buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The barrier_exceptions layer: one row per pocket joined across a road."""
    code_of = dict(zip(labels.values, codes.reindex(labels.index).values, strict=True))
    rows = []
    for c in crossings:
        members = [b for b in c["members"] if b in buildings.index]
        hull = shapely.union_all(buildings.geometry.loc[members].values).convex_hull \
            if members else None
        rows.append({"grid_code": code_of.get(c["label"]), "barrier_kind": c["barrier_kind"],
                     "barrier_name": c["barrier_name"], "households": int(c["households"]),
                     "geometry": hull})
    return gpd.GeoDataFrame(rows, columns=["grid_code", "barrier_kind", "barrier_name",
                                           "households", "geometry"],
                            geometry="geometry", crs=buildings.crs)


def plan_from_labels(area: StudyArea, territory: Territory, labels: pd.Series, target: int,
                     bounds: pd.Series | None = None,
                     locked_polygons: tuple[gpd.GeoDataFrame, frozenset[str]] | None = None,
                     crossing_grids: frozenset[str] = frozenset()) -> Plan:
    """A plan (grids with metrics, buildings) from a grid label per building.

    Any partitioner's labels can be measured this way, ours or a peer's (bench/).
    ``bounds``: per building, the deviation bound of its group (partition.metrics).
    ``crossing_grids``: grids holding a pocket joined across an open arterial road (their
    crossing is an exception, not a violation). Buildings without a label (a community that
    failed) are in no grid.
    """
    buildings = territory.buildings.copy()
    grid_of = labels.reindex(buildings.index)
    buildings["grid_id"] = grid_of.where(grid_of.isna(), grid_of.astype(str))
    polygons, uncovered = grid_polygons(territory.cells, buildings["grid_id"],
                                        buildings["households"], territory.regions)
    if locked_polygons is not None:
        polygons = _keep_locked_polygons(polygons, *locked_polygons, area.crs)
    placed = buildings[buildings["grid_id"].notna()]
    grids = _grid_table(placed, polygons, territory.graph, area, target, crossing_grids)
    bound = (bounds.reindex(placed.index) if bounds is not None
             else pd.Series(0.0, index=placed.index)).fillna(0.0)
    grids["deviation_bound_pct"] = bound.groupby(placed["grid_id"]).max().reindex(
        grids["grid_id"]).fillna(0.0).values
    _tighten_bounds(grids, placed, territory.graph, target)
    grids["deviation_bound_pct"] = grids["deviation_bound_pct"].round(2)
    plan = Plan(grids=grids, buildings=_with_outside(area, buildings), crs=area.crs,
                target=target)
    plan.summary = summarise(plan, territory.graph)
    plan.summary["uncovered_land_m2"] = round(uncovered, 1)
    return plan


def _tighten_bounds(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                    graph: nx.Graph[Hashable], target: int) -> None:
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
        known = [f for f in found if f is not None]
        if known:
            grids.loc[row.Index, "deviation_bound_pct"] = max(row.deviation_bound_pct,
                                                              max(known))


def _keep_locked_polygons(polygons: gpd.GeoSeries, prev_grids: gpd.GeoDataFrame,
                          locked: frozenset[str], crs: object) -> gpd.GeoSeries:
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
                  grids: gpd.GeoDataFrame) -> dict[str, int]:
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
    outside = by_building_id(area.buildings[area.buildings["community"].isna()])
    outside["grid_id"] = None
    return pd.concat([buildings, outside]) if len(outside) else buildings


def _grid_table(buildings: gpd.GeoDataFrame, polygons: gpd.GeoSeries,
                graph: nx.Graph[Hashable], area: StudyArea, target: int,
                crossing_grids: frozenset[str]) -> gpd.GeoDataFrame:
    agg = buildings.groupby("grid_id").agg(
        community=("community", "first"), households=("households", "sum"),
        population=("population", "sum"), buildings=("building_id", "size"))
    grids = gpd.GeoDataFrame(agg, geometry=polygons.reindex(agg.index).values, crs=area.crs)
    grids.index.name = "grid_id"
    grids = grids.reset_index()
    grids.insert(1, "code", grids["grid_id"])
    # A building grid (楼栋网格): one building with homes, more than the target (household-
    # less buildings beside it may have joined it; a footprint mapped twice counts once).
    twin_of = twin_roots(graph.graph.get("twins", []))
    housed = buildings[buildings["households"] > 0]
    one = pd.Series([twin_of.get(b, b) for b in housed.index], index=housed.index)
    homes = housed.groupby(one).agg(grid_id=("grid_id", "first"),
                                    households=("households", "sum")).groupby("grid_id")[
        "households"].agg(["size", "max"]).reindex(grids["grid_id"])
    alone = (homes["size"] == 1).to_numpy() & (homes["max"] > target).to_numpy()
    grids.insert(2, "kind", np.where(grids["households"] <= 0, "dedicated",
                                     np.where(alone, "building", "residential")))
    grids["population"] = grids["population"].round(1)
    grids["deviation_pct"] = deviations(grids, target).round(2)
    grids["area_m2"] = grids.geometry.area.round(1)
    grids["polsby_popper"] = polsby_popper(grids.geometry).round(4)
    street, total = _boundary_lengths(graph, buildings)
    share = pd.Series({g: street[g] / total[g] for g in total if total[g] > 0}, dtype=float)
    grids["street_boundary_share"] = share.reindex(grids["grid_id"]).fillna(1.0).round(4).values
    grids["contiguous"] = contiguous(graph, buildings, crossing_grids).reindex(
        grids["grid_id"]).values
    grids["pieces"] = polygon_pieces(grids.geometry, MIN_PIECE_M2).values
    grids["barrier_violation"] = barrier_violations(
        grids, buildings, area.barriers, crossing_grids).reindex(grids["grid_id"]).values
    grids["barrier_exception"] = grids["grid_id"].isin(crossing_grids)
    grids["community_violation"] = community_violations(buildings).reindex(
        grids["grid_id"]).values
    return grids


def _boundary_lengths(graph: nx.Graph[Hashable], buildings: gpd.GeoDataFrame,
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """Per grid: metres of shared cell boundary with other grids that run along a street, and
    in all (each boundary counts for both grids it separates)."""
    grid = buildings["grid_id"].to_dict()
    total: dict[str, float] = {}
    street: dict[str, float] = {}
    for u, v, d in graph.edges(data=True):
        gu, gv = grid.get(u), grid.get(v)
        if gu is None or gv is None or gu == gv:
            continue
        for g in (gu, gv):
            total[g] = total.get(g, 0.0) + d["length"]
            street[g] = street.get(g, 0.0) + (d["length"] if d["street"] else 0.0)
    return street, total


def summarise(plan: Plan, graph: nx.Graph[Hashable]) -> dict[str, Any]:
    """Plan-level figures: balance, compactness, streets, and the hard-rule counts.

    "free" grids are those whose bound allows a deviation within BALANCE_LIMIT_PCT
    (``deviation_bound_pct`` <= 15); the balance targets apply to them, the bound to the rest.
    A grid's bound is the largest of: its group's building sizes (subset sums, division), the
    buildings next to its own, the least worst deviation set partitioning proves for its
    group (every grid of the group), connected sets around its buildings
    (:func:`_tighten_bounds`), and, for the worst grid of a group where the flow model proves
    that every split at every count has a grid beyond the limit, that proof's bound
    (partition.group_exact: one grid a group, the worst).
    """
    g = plan.grids
    b = plan.buildings
    resid = b[b["residential"]]
    dev = g["deviation_pct"].abs()
    with_hh = g["households"] > 0
    free = with_hh & (g["deviation_bound_pct"] <= BALANCE_LIMIT_PCT)
    street, total = _boundary_lengths(graph, b)
    cut_len, cut_street = sum(total.values()), sum(street.values())
    gridded = resid[resid["grid_id"].notna()]
    small = (g["kind"] == "residential") & (g["households"] < SMALL_SHARE * plan.target)
    joinable = _open_road_neighbours(graph, b, set(g.loc[small, "grid_id"]))
    return {
        "communities": int(g["community"].nunique()),
        "grids": len(g),
        "buildings": len(b),
        "residential_buildings": len(resid),
        "households": int(g["households"].sum()),
        # Homes outside every community polygon cannot have a grid: counted apart.
        "residential_without_grid": int((resid["grid_id"].isna()
                                         & resid["community"].notna()).sum()),
        "residential_outside_communities": int(resid["community"].isna().sum()),
        "max_deviation_pct": round(float(dev[with_hh].max()), 2) if with_hh.any() else 0.0,
        "mean_deviation_pct": round(float(dev[with_hh].mean()), 2) if with_hh.any() else 0.0,
        "deviation_lower_bound_pct": (round(float(g["deviation_bound_pct"].max()), 2)
                                      if len(g) else 0.0),
        "mean_deviation_lower_bound_pct": _mean_deviation_bound(graph, g, plan.target),
        "free_grids": int(free.sum()),
        "free_grids_over_limit": int((free & (dev > BALANCE_LIMIT_PCT)).sum()),
        "max_deviation_free_pct": round(float(dev[free].max()), 2) if free.any() else 0.0,
        "mean_deviation_free_pct": round(float(dev[free].mean()), 2) if free.any() else 0.0,
        "mean_polsby_popper": round(float(g["polsby_popper"].mean()), 4) if len(g) else 0.0,
        "street_boundary_share": round(cut_street / cut_len, 4) if cut_len else 1.0,
        "hull_overlap_pct": round(100 * hull_overlap_share(gridded, within="community"), 3),
        "hull_overlap_all_pct": round(100 * hull_overlap_share(gridded), 3),
        "non_contiguous": int((~g["contiguous"]).sum()),
        "barrier_violations": int(g["barrier_violation"].sum()),
        "community_violations": int(g["community_violation"].sum()),
        "multi_piece_grids": int((g["pieces"] > 1).sum()),
        "grid_overlap_m2": round(overlap_area(g.geometry), 1),
        "buildings_outside_grid": int(outside_own_grid(b, g).sum()),
        "building_grids": int((g["kind"] == "building").sum()),
        "dedicated_grids": int((g["kind"] == "dedicated").sum()),
        "residential_grids": int((g["kind"] == "residential").sum()),
        "small_grids": int(small.sum()),
        "small_grids_joinable": int((small & g["grid_id"].isin(joinable)).sum()),
        "target_households": plan.target,
    }


def _open_road_neighbours(graph: nx.Graph[Hashable], buildings: gpd.GeoDataFrame,
                          grids: set[str]) -> set[str]:
    """Those of ``grids`` that face another grid of their community across an open arterial
    road only (partition.groups could have joined them)."""
    grid = buildings["grid_id"].dropna().to_dict()
    out: set[str] = set()
    for u, v, *_ in graph.graph.get("crossings", []):
        gu, gv = grid.get(u), grid.get(v)
        if gu != gv and gu is not None and gv is not None:
            out |= {gu, gv} & grids
    return out


def _mean_deviation_bound(graph: nx.Graph[Hashable], grids: gpd.GeoDataFrame,
                          target: int) -> float:
    """The least mean deviation (percent, over grids with households) any plan with these
    grid counts per community can have under the hard rules, deviations measured from the
    plan's community means (metrics.community_means, metrics.least_deviation_sum)."""
    sized = grids[grids["households"] > 0]
    counts = sized.groupby("community").size()
    nodes: dict[Hashable, list[Hashable]] = defaultdict(list)
    for v, data in graph.nodes(data=True):
        nodes[data["community"]].append(v)
    means = community_means(grids, target)
    total = 0.0
    for community, k in counts.items():
        members = nodes.get(community, [])
        sizes = {v: graph.nodes[v]["households"] for v in members}
        mean = means[community]  # the plan's, as its deviations are measured
        groups = _group_totals(graph, [v for v in members if sizes[v] <= target], sizes,
                               target)
        total += least_deviation_sum([s for s in sizes.values() if s > target],
                                     [t for t in groups if t > 0], k, mean) / mean
    return round(100 * total / max(int(counts.sum()), 1), 2)


def _group_totals(graph: nx.Graph[Hashable], nodes: list[Hashable], sizes: dict[Hashable, int],
                  target: int) -> list[int]:
    """Households of the groups ``nodes`` fall into, a pocket (partition.groups) taken
    together with every group it faces across an open road (it may join any of them)."""
    comps = connected_parts(graph, nodes)
    of = {v: i for i, comp in enumerate(comps) for v in comp}
    totals = [sum(sizes[v] for v in comp) for comp in comps]
    meta: nx.Graph[int] = nx.Graph()
    meta.add_nodes_from(range(len(comps)))
    meta.add_edges_from((of[u], of[v]) for u, v, *_ in graph.graph.get("crossings", [])
                        if u in of and v in of and min(totals[of[u]], totals[of[v]])
                        < SMALL_SHARE * target)
    return [sum(totals[i] for i in part) for part in nx.connected_components(meta)]


def rule_violations(plan: Plan) -> dict[str, int]:
    """Counts of hard-rule violations (all must be 0)."""
    s = plan.summary
    return {k: s[k] for k in ("residential_without_grid", "non_contiguous",
                              "barrier_violations", "community_violations",
                              "multi_piece_grids", "buildings_outside_grid")}


__all__ = ["Plan", "PlanError", "make_plan", "rule_violations"]
