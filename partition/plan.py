"""Making a micro-grid plan for a study area.

:func:`make_plan` divides every community into grids of about ``target_households`` households:

- communities are cut along barriers into regions and tessellated (partition.territory);
- a building with more households than the target becomes a grid of its own (楼栋网格);
- every other connected group of buildings (no barrier, no community boundary inside it) is split
  into round(households / target) grids (partition.regionalize);
- groups without households (shops, schools cut off by a barrier) and land without buildings
  join the neighbouring grid they share the longest boundary with.

Grid codes are the community code plus a 3-digit sequence, numbered north to south, west to
east. All geometry is in the study area's metric CRS; :meth:`Plan.layers_wgs84` converts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import pandas as pd
import shapely

from gis.study_area import StudyArea
from partition.adjacency import building_graph
from partition.metrics import (
    barrier_violations,
    community_violations,
    contiguous,
    deviation_lower_bound,
    deviations,
    hull_overlap_share,
    polsby_popper,
)
from partition.regionalize import split
from partition.territory import community_regions, dissolve, tessellate

DEFAULT_TARGET = 300


@dataclass
class Plan:
    """A grid plan: ``grids`` and ``buildings`` (with ``grid_id``) in ``crs`` (metres)."""

    grids: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    crs: object
    target: int
    summary: dict = field(default_factory=dict)

    def layers_wgs84(self) -> dict[str, gpd.GeoDataFrame]:
        return {"grids": self.grids.to_crs("EPSG:4326"),
                "buildings": self.buildings.to_crs("EPSG:4326")}


def _components(graph: nx.Graph, nodes: list) -> list[list]:
    return [sorted(c, key=str) for c in nx.connected_components(graph.subgraph(nodes))]


def assign_grids(graph: nx.Graph, buildings: gpd.GeoDataFrame, target: int,
                 seed: int = 0) -> tuple[pd.Series, dict]:
    """Grid labels ("<community>/<n>") for every building in the graph, and bounds.

    Returns the label per building and, per community, the lower bound (percent) that building
    sizes put on the largest deviation.
    """
    labels: dict = {}
    bounds: dict = {}
    for community, members in buildings.groupby("community").groups.items():
        members = list(members)
        hh = buildings.loc[members, "households"]
        big = [b for b in members if hh[b] > target]
        rest = [b for b in members if hh[b] <= target]
        groups: list[tuple[list, int]] = [([b], 1) for b in big]
        empty: list[list] = []
        for comp in _components(graph, rest):
            total = int(hh[comp].sum())
            if total == 0:
                empty.append(comp)
            else:
                groups.append((comp, max(1, round(total / target))))
        n = 0
        for comp, k in groups:
            parts = split(graph, comp, k, seed=seed)
            for b, p in parts.items():
                labels[b] = f"{community}/{n + p}"
            n += k
        _attach_empty(graph, empty, labels, community)
        mean = hh.sum() / max(n, 1)
        bounds[community] = max(
            (deviation_lower_bound(list(hh[comp]), mean) for comp, _ in groups), default=0.0)
    return pd.Series(labels), bounds


def _attach_empty(graph: nx.Graph, empty: list[list], labels: dict, community) -> None:
    """Give household-less groups the label of the neighbour grid with the longest border."""
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
                label = max(shared, key=shared.get)
                for b in comp:
                    labels[b] = label
            else:
                still.append(comp)
        if len(still) == len(pending):
            # Cut off from every grid by barriers: a grid of its own, without households.
            for i, comp in enumerate(still):
                for b in comp:
                    labels[b] = f"{community}/empty{i}"
            return
        pending = still


def _number_grids(labels: pd.Series, buildings: gpd.GeoDataFrame,
                  communities: gpd.GeoDataFrame) -> pd.Series:
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
    community_of_grid = {}
    for g in polys:
        region = cells.loc[cells["grid_id"] == g, "region"].iloc[0]
        community_of_grid[g] = regions.set_index("region").at[region, "community"]
    spare = regions[~regions["region"].isin(occupied)]
    grid_ids = list(polys)
    for _ in range(3):  # empty regions may border only other empty regions at first
        left = []
        tree = shapely.STRtree([polys[g] for g in grid_ids])
        for _, row in spare.iterrows():
            hits = tree.query(row.geometry, predicate="intersects")
            best, best_len = None, 0.0
            for h in hits:
                g = grid_ids[h]
                length = shapely.intersection(row.geometry.boundary, polys[g].boundary).length
                same = community_of_grid[g] == row["community"]
                score = length + (1e9 if same else 0)
                if length > 0 and score > best_len:
                    best, best_len = g, score
            if best is None:
                left.append(row)
            else:
                polys[best] = shapely.union_all([polys[best], row.geometry])
        if not left:
            break
        spare = gpd.GeoDataFrame(left, crs=regions.crs)
    return gpd.GeoSeries(polys, crs=cells.crs)


def make_plan(area: StudyArea, target: int = DEFAULT_TARGET, *, seed: int = 0,
              progress=None) -> Plan:
    """Divide every community of ``area`` into micro-grids of about ``target`` households."""
    step = progress or (lambda _name: None)
    buildings = area.buildings[area.buildings["community"].notna()].copy()
    step("区域 regions")
    regions = community_regions(area.communities, area.barriers)
    step("镶嵌 tessellation")
    cells = tessellate(buildings, regions)
    step("邻接 adjacency")
    graph = building_graph(buildings, cells, area.street_lines.geometry,
                           area.barriers.geometry)
    step("划分 partition")
    labels, bounds = assign_grids(graph, buildings, target, seed=seed)
    grid_of = _number_grids(labels, buildings, area.communities)
    buildings["grid_id"] = grid_of.reindex(buildings.index)
    step("指标 metrics")
    polygons = _grid_polygons(cells, buildings["grid_id"], regions)
    grids = _grid_table(buildings, polygons, graph, area)
    plan = Plan(grids=grids, buildings=_with_outside(area, buildings), crs=area.crs,
                target=target)
    plan.summary = summarise(plan, graph, bounds)
    return plan


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
    grids["street_boundary_share"] = _street_share(graph, buildings).reindex(
        grids["grid_id"]).fillna(1.0).round(4).values
    grids["contiguous"] = contiguous(graph, buildings).reindex(grids["grid_id"]).values
    grids["barrier_violation"] = barrier_violations(
        grids, buildings, area.barriers).reindex(grids["grid_id"]).values
    grids["community_violation"] = community_violations(buildings).reindex(
        grids["grid_id"]).values
    return grids


def _street_share(graph: nx.Graph, buildings: gpd.GeoDataFrame) -> pd.Series:
    """Per grid: share of its boundary with other grids (metres of shared cell boundary) that
    runs along a street."""
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
    return pd.Series({g: street[g] / total[g] for g in total if total[g] > 0}, dtype=float)


def summarise(plan: Plan, graph: nx.Graph, bounds: dict) -> dict:
    """Plan-level figures: balance, compactness, streets, and the hard-rule counts."""
    g = plan.grids
    b = plan.buildings
    resid = b[b["residential"]]
    dev = g["deviation_pct"].abs()
    with_hh = g["households"] > 0
    cut_len = sum(d["length"] for u, v, d in graph.edges(data=True)
                  if b.at[u, "grid_id"] != b.at[v, "grid_id"])
    cut_street = sum(d["length"] for u, v, d in graph.edges(data=True)
                     if d["street"] and b.at[u, "grid_id"] != b.at[v, "grid_id"])
    return {
        "communities": int(g["community"].nunique()),
        "grids": len(g),
        "buildings": len(b),
        "residential_buildings": len(resid),
        "households": int(g["households"].sum()),
        "residential_without_grid": int(resid["grid_id"].isna().sum()),
        "max_deviation_pct": round(float(dev[with_hh].max()), 2) if with_hh.any() else 0.0,
        "mean_deviation_pct": round(float(dev[with_hh].mean()), 2) if with_hh.any() else 0.0,
        "deviation_lower_bound_pct": round(max(bounds.values(), default=0.0), 2),
        "mean_polsby_popper": round(float(g["polsby_popper"].mean()), 4),
        "street_boundary_share": round(cut_street / cut_len, 4) if cut_len else 1.0,
        "hull_overlap_pct": round(100 * hull_overlap_share(resid[resid["grid_id"].notna()]), 3),
        "non_contiguous": int((~g["contiguous"]).sum()),
        "barrier_violations": int(g["barrier_violation"].sum()),
        "community_violations": int(g["community_violation"].sum()),
        "building_grids": int((g["buildings"] == 1).sum()),
        "target_households": plan.target,
    }


def rule_violations(plan: Plan) -> dict[str, int]:
    """Counts of hard-rule violations (all must be 0)."""
    s = plan.summary
    return {k: s[k] for k in ("residential_without_grid", "non_contiguous",
                              "barrier_violations", "community_violations")}


__all__ = ["DEFAULT_TARGET", "Plan", "make_plan", "rule_violations"]
