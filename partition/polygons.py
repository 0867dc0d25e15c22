"""Grid polygons that tile their community, each in one piece.

A grid's polygon is the union of its buildings' cells (partition.territory). Real data leaves
pieces that belong nowhere obvious: a cell split in two by a concave region, land between
barriers without buildings, slivers where cells do not meet exactly. Every such piece joins the
grid of its community it shares the longest boundary with, round after round (a piece may first
border only other pieces), never a grid it does not touch; so each grid is one polygon, grids
do not overlap, and their union is the land of their community the cells and regions cover.
A piece touching no grid of its community (a part of a multi-part community without
buildings) stays out and is reported as uncovered land. All geometry in metres.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from partition.territory import dissolve, polygonal

TOUCH_M = 0.01  # shared boundary (m) below which pieces only meet at a point
SNAP_M = 0.001  # regions' cells meet within this (their Voronoi is computed apart)
MAX_ROUNDS = 20  # rounds of attaching pieces (each reaches one piece further)

Piece = tuple[BaseGeometry, Hashable]  # land without a grid yet, and its community


def grid_polygons(cells: gpd.GeoDataFrame, grid_of: pd.Series, weight: pd.Series,
                  regions: gpd.GeoDataFrame) -> tuple[gpd.GeoSeries, float]:
    """One polygon per grid, and the area (m²) left uncovered.

    Args:
        cells: tessellation cells (``region``, polygon) indexed like the buildings.
        grid_of: building -> grid label (buildings without one are left out).
        weight: building -> households, for choosing a grid's main piece.
        regions: ``region``, ``community`` and polygon (partition.territory).
    """
    grid_of = grid_of.reindex(cells.index)
    labelled = cells[grid_of.notna()].assign(grid_id=grid_of[grid_of.notna()].values)
    region_community = dict(zip(regions["region"], regions["community"], strict=True))
    polys: dict[Hashable, BaseGeometry] = {}
    community: dict[Hashable, Hashable] = {}
    pieces: list[Piece] = []  # (polygon, community) waiting for a grid
    weights = weight.reindex(labelled.index).fillna(0).to_numpy()
    for g, rows, region_runs in _grid_rows(labelled):
        # Cells of one region share exact edges; across regions they meet only nearly.
        geoms = labelled.geometry.values[rows]
        by_region = [dissolve(geoms[run]) for run in region_runs]
        whole = polygonal(by_region[0] if len(by_region) == 1 else _union(by_region))
        parts = [p for p in shapely.get_parts(whole) if p.area > 0]
        first = int(rows.min())  # the grid's first cell: its region gives the community
        community[g] = region_community[labelled["region"].values[first]]
        if len(parts) <= 1:
            polys[g] = parts[0] if parts else whole
            continue
        held = np.zeros(len(parts))
        tree = shapely.STRtree(parts)
        mine = np.sort(rows)  # in the cells' order, as the weights are summed
        pts = shapely.point_on_surface(labelled.geometry.values[mine])
        hit_pt, hit_part = tree.query(pts, predicate="within")
        np.add.at(held, hit_part, 1 + weights[mine][hit_pt])
        main = int(np.argmax(held + np.array([p.area for p in parts]) * 1e-12))
        polys[g] = parts[main]
        pieces += [(p, community[g]) for i, p in enumerate(parts) if i != main]
    occupied = set(labelled["region"])
    for row in regions[~regions["region"].isin(occupied)].itertuples():
        pieces += [(p, row.community) for p in shapely.get_parts(row.geometry) if p.area > 0]
    left = _attach_pieces(polys, community, pieces)
    return gpd.GeoSeries(polys, crs=cells.crs), float(sum(p.area for p, _ in left))


def _grid_rows(labelled: gpd.GeoDataFrame) -> list[tuple[Hashable, np.ndarray, list[slice]]]:
    """Per grid (sorted by label): its rows of ``labelled`` (positions, by region, each
    region's in their order) and the slices of those rows that are one region each: the
    order ``groupby("grid_id")`` then ``groupby("region")`` give, without their cost (a
    union's result depends on the order of its input)."""
    if labelled.empty:
        return []
    grids, grid_code = np.unique(labelled["grid_id"].to_numpy(dtype=object), return_inverse=True)
    region = labelled["region"].to_numpy()
    order = np.lexsort((region, grid_code))  # stable: rows keep their order within a region
    bounds = np.flatnonzero(np.diff(grid_code[order])) + 1
    out = []
    for g, rows in zip(grids, np.split(order, bounds), strict=True):
        cuts = [0, *(np.flatnonzero(np.diff(region[rows])) + 1), len(rows)]
        out.append((g, rows, [slice(a, b) for a, b in itertools.pairwise(cuts)]))
    return out


def _attach_pieces(polys: dict[Hashable, BaseGeometry], community: dict[Hashable, Hashable],
                   pieces: list[Piece]) -> list[Piece]:
    """Give each piece to the touching grid of its community with the longest shared
    boundary, in rounds, while that places any; returns the pieces left."""
    for _round in range(MAX_ROUNDS):
        if not pieces:
            return []
        labels = list(polys)
        tree = shapely.STRtree([polys[g] for g in labels])
        joined: dict[Hashable, list[BaseGeometry]] = {}
        left: list[Piece] = []
        for piece, comm in pieces:
            best: Hashable | None = None
            length = TOUCH_M
            for i in tree.query(piece, predicate="intersects"):
                g = labels[i]
                if community[g] != comm:
                    continue
                shared = shapely.intersection(piece.boundary, polys[g].boundary,
                                              grid_size=SNAP_M).length
                if shared > length:
                    best, length = g, shared
            if best is None:
                left.append((piece, comm))
            else:
                joined.setdefault(best, []).append(piece)
        if not joined:
            return left
        for g, extra in joined.items():
            merged = polygonal(_union([polys[g], *extra]))
            parts = [p for p in shapely.get_parts(merged) if p.area > 0]
            # Pieces that met the grid only along a hairline come apart again: the part
            # holding most of the grid's own polygon stays the grid, the rest wait.
            own = polys[g]
            main = max(range(len(parts)), key=lambda i: parts[i].intersection(own).area)
            polys[g] = parts[main]
            left += [(p, community[g]) for i, p in enumerate(parts) if i != main]
        pieces = left
    return pieces


def _union(geoms: list[BaseGeometry]) -> BaseGeometry:
    """Union of touching polygons whose shared edges may not match exactly (snapped to
    SNAP_M), never raising."""
    return dissolve(np.array(geoms, dtype=object))
