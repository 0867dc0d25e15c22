"""Party member responsibility zones (党员责任区).

Every household of a grid gets one responsible party member, from the same grid or a
neighbouring one, within the member's capacity, nearest by walking. This is a transportation
problem solved as a min-cost flow (OR-Tools SimpleMinCostFlow): buildings supply their
households, members take up to their capacity, arcs cost the walk from the member's home to the
building (metres; a neighbouring grid's member costs ``NEIGHBOUR_EXTRA_M`` more, so the grid's
own members come first). Households no member can take flow to a gap node and are reported as a
coverage gap. Zones are the buildings' Voronoi cells within their grids, merged per member.
Distances are walking metres, geometry in the walk network's metric CRS.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from ortools.graph.python import min_cost_flow

from dispatch.routing.network import WalkNetwork
from dispatch.staffing.workers import AssignmentError

DEFAULT_CAPACITY = 20  # households a member keeps contact with (10 to 30 in practice)
NEIGHBOUR_EXTRA_M = 200
GAP_COST_M = 10_000_000


@dataclass
class PartyMember:
    """A party member (党员) who keeps contact with up to ``capacity`` households near home
    (``building_id``)."""

    member_id: object
    name: str
    building_id: object  # home building
    capacity: int = DEFAULT_CAPACITY


def neighbouring_grids(grids: gpd.GeoDataFrame) -> dict[object, set[object]]:
    """grid_id -> set of grid ids whose polygons touch it (metric CRS, 1 m tolerance)."""
    pairs = gpd.sjoin(grids[["grid_id", "geometry"]].set_geometry(grids.geometry.buffer(1.0)),
                      grids[["grid_id", "geometry"]], predicate="intersects")
    near: dict[object, set[object]] = {g: set() for g in grids["grid_id"]}
    for a, b in zip(pairs["grid_id_left"], pairs["grid_id_right"], strict=True):
        if a != b:
            near[a].add(b)
    return near


def assign_households(net: WalkNetwork, buildings: gpd.GeoDataFrame,
                      members: list[PartyMember], grids: gpd.GeoDataFrame
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Give every household a responsible party member.

    Args:
        net: the walk network.
        buildings: ``building_id``, ``grid_id``, ``households`` and footprints (metric CRS).
        members: party members with their home building (one of ``buildings``).
        grids: ``grid_id`` and polygons, to find neighbouring grids.

    Returns:
        (assignment, gaps): assignment rows building_id, grid_id, member_id, households, walk_m;
        gaps rows building_id, grid_id, households without a member.

    Raises:
        AssignmentError: a member's home building is not among ``buildings``.
    """
    b = buildings[buildings["households"] > 0].reset_index(drop=True)
    homes = dict(zip(buildings["building_id"], range(len(buildings)), strict=True))
    unknown = [m.member_id for m in members if m.building_id not in homes]
    if unknown:
        raise AssignmentError(f"党员 {unknown[:5]} 所住楼栋不在方案中：请检查其 building_id",
                              f"party members {unknown[:5]} live in buildings that are not in "
                              "the plan: check their building_id")
    points = b.geometry.representative_point()
    home_points = buildings.geometry.representative_point().iloc[
        [homes[m.building_id] for m in members]]
    home_grid = buildings["grid_id"].iloc[[homes[m.building_id] for m in members]].to_numpy()
    b_nodes, b_off = net.snap(points.x.values, points.y.values)
    m_nodes, m_off = net.snap(home_points.x.values, home_points.y.values)
    walk = net.node_distances(m_nodes, b_nodes) + m_off[:, None] + b_off[None, :]

    near = neighbouring_grids(grids)
    by_grid: dict[object, list[int]] = {}
    for i, g in enumerate(home_grid):
        by_grid.setdefault(g, []).append(i)
    flow = min_cost_flow.SimpleMinCostFlow()
    n_b, n_m = len(b), len(members)
    gap, sink = n_b + n_m, n_b + n_m + 1
    households = b["households"].round().astype(int).to_numpy()
    arcs = []
    for i, grid in enumerate(b["grid_id"]):
        for extra, grid_ids in ((0, [grid]), (NEIGHBOUR_EXTRA_M, near.get(grid, ()))):
            for g in grid_ids:
                for m in by_grid.get(g, ()):
                    if np.isfinite(walk[m, i]):
                        arcs.append((i, n_b + m, int(walk[m, i]) + extra))
        flow.add_arc_with_capacity_and_unit_cost(i, gap, int(households[i]), GAP_COST_M)
        flow.set_node_supply(i, int(households[i]))
    for tail, head, cost in arcs:
        flow.add_arc_with_capacity_and_unit_cost(tail, head, int(households[tail]), cost)
    for m, member in enumerate(members):
        flow.add_arc_with_capacity_and_unit_cost(n_b + m, sink, int(member.capacity), 0)
    flow.add_arc_with_capacity_and_unit_cost(gap, sink, int(households.sum()), 0)
    flow.set_node_supply(sink, -int(households.sum()))
    if flow.solve() != flow.OPTIMAL:
        raise RuntimeError("min-cost flow failed on the party member assignment")
    rows, gaps = [], []
    for a in range(flow.num_arcs()):
        amount = flow.flow(a)
        tail, head = flow.tail(a), flow.head(a)
        if amount <= 0 or tail >= n_b:
            continue
        row = {"building_id": b["building_id"].iat[tail], "grid_id": b["grid_id"].iat[tail],
               "households": amount}
        if head == gap:
            gaps.append(row)
        else:
            m = head - n_b
            rows.append({**row, "member_id": members[m].member_id,
                         "walk_m": round(float(walk[m, tail]), 1)})
    assignment = pd.DataFrame(rows, columns=["building_id", "grid_id", "member_id",
                                             "households", "walk_m"])
    return assignment, pd.DataFrame(gaps, columns=["building_id", "grid_id", "households"])


def zone_polygons(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame,
                  assignment: pd.DataFrame, members: list[PartyMember]) -> gpd.GeoDataFrame:
    """Zone polygons: each building's Voronoi cell within its grid goes to the member holding
    most of its households; cells merged per member.

    Returns:
        GeoDataFrame member_id, name, grid_id (of the member's home), households, geometry
        (metric CRS of ``buildings``).
    """
    main = (assignment.sort_values("households", ascending=False)
            .drop_duplicates("building_id").set_index("building_id")["member_id"])
    cells = []
    for grid_id, polygon in zip(grids["grid_id"], grids.geometry, strict=True):
        inside = buildings[(buildings["grid_id"] == grid_id)
                           & buildings["building_id"].isin(main.index)]
        if inside.empty:
            continue
        points = inside.geometry.representative_point()
        if len(inside) == 1:
            parts = [polygon]
        else:
            regions = shapely.voronoi_polygons(shapely.MultiPoint(points.values),
                                               extend_to=polygon, ordered=True)
            parts = [shapely.intersection(r, polygon) for r in shapely.get_parts(regions)]
        cells += [(main[bid], part) for bid, part in zip(inside["building_id"], parts,
                                                          strict=True)]
    frame = gpd.GeoDataFrame(cells, columns=["member_id", "geometry"], crs=buildings.crs)
    zones = frame.dissolve("member_id").reset_index()
    held = assignment.groupby("member_id")["households"].sum()
    info = {m.member_id: m for m in members}
    home_grid = dict(zip(buildings["building_id"], buildings["grid_id"], strict=True))
    zones["name"] = [info[m].name for m in zones["member_id"]]
    zones["grid_id"] = [home_grid[info[m].building_id] for m in zones["member_id"]]
    zones["households"] = held.reindex(zones["member_id"]).fillna(0).astype(int).values
    return zones[["member_id", "name", "grid_id", "households", "geometry"]]
