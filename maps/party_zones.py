"""View 2, party member responsibility zones (党员责任区): each zone with its member and the
households it holds."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import t
from maps.layers import buildings_layer, grids_layer, labels_layer

# Qualitative colours for neighbouring zones (ColorBrewer Set3, colour-blind safer order).
ZONE_COLORS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
               "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
# Days since the last household visit (入户走访): upper bounds of the classes and their colours
# (ColorBrewer RdYlGn, reversed: green is recent), then "never" in grey.
VISIT_AGE = ((7, "week", "#1a9850"), (30, "month", "#91cf60"), (90, "quarter", "#fee08b"),
             (182, "half", "#fc8d59"), (np.inf, "over", "#d73027"))
NEVER_COLOR = "#757575"


def visit_age_colors(days: pd.Series) -> pd.Series:
    """The colour of each building by days since its last visit (NaN: never visited)."""
    out = pd.Series(NEVER_COLOR, index=days.index)
    for upper, _, color in reversed(VISIT_AGE):
        out[days.notna() & (days <= upper)] = color
    return out


def party_zones_map(zones: gpd.GeoDataFrame, *, grids: gpd.GeoDataFrame | None = None,
                    buildings: gpd.GeoDataFrame | None = None,
                    options: MapOptions | None = None) -> folium.Map:
    """The party member responsibility zones; buildings shaded by the days since their last
    household visit when ``buildings`` has a ``visit_days`` column (NaN: never).

    Args:
        zones: one polygon per zone: member_id, name (the member's), grid_id (or grid code),
            households; any CRS.
        grids: the plan's grids (code, households) drawn as outlines for orientation.
        buildings: building_id, households footprints; optional ``visit_days`` (days since
            the last visit of any household there).
        options: language, basemap, simplification.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(zones, ["member_id", "name", "grid_id", "households"], "zones")
    m = new_map(options, bounds_latlon(zones, grids),
                basemap_skip=("buildings",) if buildings is not None and len(buildings) else ())
    legend = LegendBuilder(t("title.party_zones", lang))
    if grids is not None and len(grids):
        grids_layer(grids, options, t("layer.grids", lang),
                    style={"color": "#37474f", "weight": 2, "fill": False}).add_to(m)
    frame = zones.assign(_fill=[ZONE_COLORS[i % len(ZONE_COLORS)] for i in range(len(zones))],
                         households=zones["households"].astype(int))
    data = feature_collection(frame, ["member_id", "name", "grid_id", "households", "_fill"],
                              tolerance_m=options.tolerance_m, datum=options.datum)
    spec = {"style": {"color": "#c62828", "weight": 1.5, "fillOpacity": 0.5},
            "tooltip": [["name", t("f.member", lang)], ["grid_id", t("f.code", lang)],
                        ["households", t("f.households", lang)]],
            "popup": [["member_id", "ID"], ["name", t("f.member", lang)],
                      ["grid_id", t("f.code", lang)], ["households", t("f.households", lang)]]}
    FeatureLayer(data, spec, t("layer.zones", lang)).add_to(m)
    aged = buildings is not None and "visit_days" in buildings.columns
    if buildings is not None and len(buildings):
        if aged:
            shown = buildings.assign(visit_days=buildings["visit_days"].round().astype("Int64")
                                     .astype(str).replace("<NA>", "—"))
            buildings_layer(shown, options, t("layer.buildings", lang),
                            color=visit_age_colors(buildings["visit_days"]),
                            extra={"visit_days": "f.visit_days"},
                            style={"weight": 0.5, "fillOpacity": 0.8}).add_to(m)
        else:
            buildings_layer(buildings, options, t("layer.buildings", lang),
                            style={"color": "#616161", "weight": 0.5, "fillColor": "#9e9e9e",
                                   "fillOpacity": 0.6}).add_to(m)
    unit = " 户" if lang == "zh" else " hh"
    labels_layer(zones, [zones["name"], zones["households"].astype(int).astype(str) + unit],
                 options, t("layer.zone_labels", lang)).add_to(m)
    legend.swatch(t("layer.zones", lang), fill=ZONE_COLORS[0], line="#c62828")
    legend.text(t("legend.zones", lang, len(zones), int(zones["households"].sum())))
    if grids is not None and len(grids):
        legend.swatch(t("layer.grids", lang), line="#37474f")
    if aged:
        legend.text(t("legend.visit_age", lang))
        for _, key, color in VISIT_AGE:
            legend.swatch(t(f"visit_age.{key}", lang), fill=color)
        legend.swatch(t("visit_age.never", lang), fill=NEVER_COLOR)
    return finish(m, options, t("title.party_zones", lang), legend)
