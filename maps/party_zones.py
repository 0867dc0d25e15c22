"""View 2, party member responsibility zones (党员责任区): each zone with its member and the
households it holds."""

from __future__ import annotations

import folium
import geopandas as gpd

from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import t
from maps.layers import buildings_layer, grids_layer, labels_layer

# Qualitative colours for neighbouring zones (ColorBrewer Set3, colour-blind safer order).
ZONE_COLORS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
               "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")


def party_zones_map(zones: gpd.GeoDataFrame, *, grids: gpd.GeoDataFrame | None = None,
                    buildings: gpd.GeoDataFrame | None = None,
                    options: MapOptions | None = None) -> folium.Map:
    """The party member responsibility zones.

    Args:
        zones: one polygon per zone: member_id, name (the member's), grid_id (or grid code),
            households; any CRS.
        grids: the plan's grids (code, households) drawn as outlines for orientation.
        buildings: building_id, households footprints.
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
    if buildings is not None and len(buildings):
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
    return finish(m, options, t("title.party_zones", lang), legend)
