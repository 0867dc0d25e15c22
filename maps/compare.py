"""View 6, plan comparison: old and new grid boundaries, moved buildings highlighted."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from maps.base import LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, require_columns
from maps.i18n import t
from maps.layers import buildings_layer, grids_layer

OLD_COLOR = "#757575"
NEW_COLOR = "#1565c0"
MOVED_COLOR = "#ff6f00"


def moved_buildings(old_grids: gpd.GeoDataFrame, old_buildings: gpd.GeoDataFrame,
                    new_grids: gpd.GeoDataFrame, new_buildings: gpd.GeoDataFrame
                    ) -> gpd.GeoDataFrame:
    """Buildings of the new plan whose grid code differs from the old plan's.

    Returns the new plan's rows with ``old_grid`` and ``new_grid`` (codes); buildings new in the
    new plan are not counted as moved.
    """
    old_code = old_buildings["grid_id"].map(old_grids.set_index("grid_id")["code"])
    old_by_id = pd.Series(old_code.to_numpy(), index=old_buildings["building_id"].astype(str))
    old_by_id = old_by_id[~old_by_id.index.duplicated()]
    new_code = new_buildings["grid_id"].map(new_grids.set_index("grid_id")["code"])
    before = new_buildings["building_id"].astype(str).map(old_by_id)
    moved = before.notna() & (before != new_code)
    return new_buildings[moved].assign(old_grid=before[moved], new_grid=new_code[moved])


def compare_map(old_grids: gpd.GeoDataFrame, new_grids: gpd.GeoDataFrame,
                old_buildings: gpd.GeoDataFrame, new_buildings: gpd.GeoDataFrame, *,
                moved: gpd.GeoDataFrame | None = None,
                options: MapOptions | None = None) -> folium.Map:
    """Two plans on one map.

    Args:
        old_grids, new_grids: ``grids`` layers of the two plans (grid_id, code, households;
            optional deviation_pct).
        old_buildings, new_buildings: their ``buildings`` layers (building_id, grid_id,
            households).
        moved: the moved buildings when the caller has them (building_id, households,
            old_grid, new_grid, footprint); else computed by :func:`moved_buildings`.
        options: language, basemap, simplification.
    """
    options = options or MapOptions()
    lang = options.lang
    for name, frame in (("old grids", old_grids), ("new grids", new_grids)):
        require_columns(frame, ["grid_id", "code", "households"], name)
    for name, frame in (("old buildings", old_buildings), ("new buildings", new_buildings)):
        require_columns(frame, ["building_id", "grid_id", "households"], name)
    if moved is None:
        moved = moved_buildings(old_grids, old_buildings, new_grids, new_buildings)
    require_columns(moved, ["building_id", "households", "old_grid", "new_grid"], "moved")
    m = new_map(options, bounds_latlon(old_grids, new_grids))
    buildings_layer(new_buildings, options, t("layer.buildings", lang),
                    style={"color": "#9e9e9e", "weight": 0.5, "fillColor": "#e0e0e0",
                           "fillOpacity": 0.6}).add_to(m)
    grids_layer(old_grids, options, t("layer.old_grids", lang),
                style={"color": OLD_COLOR, "weight": 3, "dashArray": "6 6", "fill": False,
                       "opacity": 0.9}).add_to(m)
    grids_layer(new_grids, options, t("layer.new_grids", lang),
                style={"color": NEW_COLOR, "weight": 2, "fillOpacity": 0.06,
                       "fillColor": NEW_COLOR}).add_to(m)
    buildings_layer(moved, options, t("layer.moved", lang),
                    color=pd.Series(MOVED_COLOR, index=moved.index),
                    extra={"old_grid": "f.old_grid", "new_grid": "f.new_grid"},
                    style={"weight": 2, "fillOpacity": 0.85}).add_to(m)
    legend = LegendBuilder(t("title.compare", lang))
    legend.swatch(f"{t('layer.old_grids', lang)} {len(old_grids)}", line=OLD_COLOR,
                  shape="line", dashed=True)
    legend.swatch(f"{t('layer.new_grids', lang)} {len(new_grids)}", line=NEW_COLOR,
                  shape="line")
    legend.swatch(t("layer.moved", lang) + " · "
                  + t("legend.summary", lang, len(moved), int(moved["households"].sum())),
                  fill=MOVED_COLOR)
    return finish(m, options, t("title.compare", lang), legend)
