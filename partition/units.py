"""Splitting large buildings by unit (单元), when the user gives the units and asks for it.

A building with more households than the target is normally a grid of its own (楼栋网格). A
slab building of several entrances (单元) can instead be divided by unit: its footprint is cut
across its long axis into as many equal strips as it has units, each strip becoming a
"building" ``<id>#<n>`` with an equal share of the households. Metric CRS (metres).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.errors import ArgumentError


def unit_strips(footprint: BaseGeometry, units: int) -> list[BaseGeometry]:
    """``units`` pieces of ``footprint`` cut across the long axis of its minimum rotated
    rectangle, in order along that axis."""
    rect = shapely.minimum_rotated_rectangle(footprint)
    assert isinstance(rect, shapely.Polygon), "a footprint with an area has a rectangle"
    corners = np.asarray(rect.exterior.coords)[:4]
    sides = np.diff(np.vstack([corners, corners[:1]]), axis=0)
    long_side = int(np.argmax(np.hypot(sides[:, 0], sides[:, 1])))
    origin, along = corners[long_side], sides[long_side]
    across = sides[(long_side + 1) % 4]
    pieces = []
    for i in range(units):
        a, b = origin + along * i / units, origin + along * (i + 1) / units
        strip = shapely.Polygon([a, b, b + across, a + across]).buffer(0.01)
        piece = shapely.intersection(footprint, strip)
        pieces.append(piece)
    return pieces


def split_into_units(buildings: gpd.GeoDataFrame, target: int,
                     units_col: str = "units") -> gpd.GeoDataFrame:
    """Replace every building with more than ``target`` households and a ``units_col`` of 2
    or more by its units (see module docstring). Households are shared as evenly as whole
    numbers allow; population in proportion. Other buildings are returned unchanged."""
    if units_col not in buildings.columns:
        raise ArgumentError(f"没有“{units_col}”列，无法按单元划分",
                            f"no '{units_col}' column to split buildings by unit")
    units = pd.to_numeric(buildings[units_col], errors="coerce").fillna(0).astype(int)
    split = (buildings["households"] > target) & (units >= 2)
    rows = []
    for idx, row in buildings[split].iterrows():
        n = int(units[idx])
        share, extra = divmod(int(row["households"]), n)
        for i, piece in enumerate(unit_strips(row.geometry, n)):
            unit = row.copy()
            unit["building_id"] = f"{row['building_id']}#{i + 1}"
            unit["households"] = share + (1 if i < extra else 0)
            unit["population"] = row["population"] * unit["households"] / row["households"]
            unit["geometry"] = piece
            rows.append(unit)
    if not rows:
        return buildings
    pieces = gpd.GeoDataFrame(rows, geometry="geometry", crs=buildings.crs)
    out = pd.concat([buildings[~split], pieces], ignore_index=True)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=buildings.crs)
