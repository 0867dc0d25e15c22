"""View 7, facility coverage for planners: the facilities of one type, the streets within the
walking distance of them (their catchment), the homes beyond it shaded, and the sites a
what-if proposes, each with the households it newly serves.

The walking distances come from dispatch.facilities (coverage and siting); this module only
draws them.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from dispatch.facilities.types import FACILITY_TYPES
from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import metres, t
from maps.layers import buildings_layer

COVERED_COLOR = "#66bb6a"
BEYOND_COLOR = "#c62828"
FACILITY_COLOR = "#1565c0"
PROPOSED_COLOR = "#ff6f00"
CATCHMENT_COLOR = "#42a5f5"

_TEXT = {
    "title": ("设施步行覆盖：{0}（{1} 米）", "Facility coverage: {0} ({1} m walk)"),
    "facilities": ("现有设施", "Existing facilities"),
    "catchment": ("步行 {0} 米可达的街道", "Streets within {0} m walk"),
    "covered": ("步行距离内的住户", "Homes within the walk"),
    "beyond": ("超出步行距离的住户", "Homes beyond the walk"),
    "proposed": ("建议新址", "Proposed sites"),
    "rank": ("顺序", "Rank"),
    "new": ("新增覆盖户数", "Households newly served"),
    "share": ("覆盖 {0} 户，占 {1:.1%}", "{0} households served, {1:.1%}"),
    "after": ("新增 {0} 处后：{1} 户，占 {2:.1%}（{3}）",
              "With {0} new: {1} households, {2:.1%} ({3})"),
}


def _say(key: str, lang: str, *args: object) -> str:
    zh, en = _TEXT[key]
    return (en if lang == "en" else zh).format(*args)


def facilities_map(homes: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *,
                   facility_type: str, distance_m: float,
                   catchment: gpd.GeoSeries | None = None,
                   proposed: gpd.GeoDataFrame | None = None,
                   proposal_status: str = "",
                   options: MapOptions | None = None) -> folium.Map:
    """The coverage map of one facility type.

    Args:
        homes: buildings with households: building_id, households, walk_m (walk to the
            nearest facility of the type, m; ``inf`` when none is reachable).
        facilities: the facilities of the type (points): name.
        facility_type: the type's key (dispatch.facilities.types).
        distance_m: the walking distance (m).
        catchment: the streets within the walk (a polygon, any CRS), drawn under the rest.
        proposed: proposed sites (points): households_new, in order of gain.
        proposal_status: the solver's status shown in the legend (OPTIMAL, FEASIBLE).
        options: language, basemap, simplification.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(homes, ["building_id", "households", "walk_m"], "homes")
    kind = FACILITY_TYPES[facility_type]
    name = kind.en if lang == "en" else kind.zh
    title = _say("title", lang, name, f"{distance_m:g}")
    frames = [f for f in (homes, facilities) if len(f)]
    m = new_map(options, bounds_latlon(*frames) if frames else None)
    legend = LegendBuilder(title)

    if catchment is not None and len(catchment):
        area = gpd.GeoDataFrame(geometry=catchment.values, crs=catchment.crs)
        FeatureLayer(feature_collection(area, [], datum=options.datum),
                     {"style": {"color": CATCHMENT_COLOR, "weight": 0, "fillColor":
                                CATCHMENT_COLOR, "fillOpacity": 0.18}},
                     _say("catchment", lang, f"{distance_m:g}")).add_to(m)
        legend.swatch(_say("catchment", lang, f"{distance_m:g}"), fill=CATCHMENT_COLOR)

    walk = homes["walk_m"].to_numpy(dtype=float)
    within = walk <= distance_m
    shown = homes.assign(walk=[t("v.unreachable", lang) if np.isinf(w) else metres(w, lang)
                               for w in walk])
    for mask, key, color in ((within, "covered", COVERED_COLOR),
                             (~within, "beyond", BEYOND_COLOR)):
        part = shown[mask]
        buildings_layer(part, options, _say(key, lang),
                        color=pd.Series(color, index=part.index),
                        extra={"walk": "f.walk"}).add_to(m)
        colon = "：" if lang == "zh" else ": "
        legend.swatch(_say(key, lang) + colon
                      + t("legend.summary", lang, len(part), int(part["households"].sum())),
                      fill=color)
    total = float(homes["households"].sum())
    served = float(homes.loc[within, "households"].sum())
    legend.text(_say("share", lang, int(served), served / total if total else 1.0))

    points = facilities.assign(name=facilities.get("name", pd.Series("", index=facilities.index))
                               .fillna("").astype(str))
    FeatureLayer(feature_collection(points, ["name"], datum=options.datum),
                 {"style": {"color": "#ffffff", "weight": 2, "fillColor": FACILITY_COLOR,
                            "fillOpacity": 1}, "radius": 7,
                  "tooltip": [["name", t("f.name", lang)]]},
                 _say("facilities", lang)).add_to(m)
    legend.swatch(f"{_say('facilities', lang)} {len(facilities)}", fill=FACILITY_COLOR,
                  shape="dot")

    if proposed is not None and len(proposed):
        require_columns(proposed, ["households_new"], "proposed")
        sites = proposed.assign(rank=np.arange(1, len(proposed) + 1))
        FeatureLayer(feature_collection(sites, ["rank", "households_new"], datum=options.datum),
                     {"style": {"color": "#ffffff", "weight": 2, "fillColor": PROPOSED_COLOR,
                                "fillOpacity": 1}, "radius": 9,
                      "tooltip": [["rank", _say("rank", lang)],
                                  ["households_new", _say("new", lang)]]},
                     _say("proposed", lang)).add_to(m)
        after = served + float(sites["households_new"].sum())
        legend.swatch(_say("proposed", lang), fill=PROPOSED_COLOR, shape="dot")
        legend.text(_say("after", lang, len(sites), int(after), after / total if total else 1.0,
                         proposal_status))
    return finish(m, options, title, legend)
