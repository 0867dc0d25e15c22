"""Micro-wishes (微心愿) on a map: open wishes as clustered markers coloured by stage, filtered
by category, with the micro-star board in the legend.

The same view draws the office map (the service passes the points each caller may see) and the
public map, which must show no personal data: the service passes each wish at its grid's
representative point with its category and stage only, and volunteers' names only where they
consented. This module draws what it is given and adds nothing from elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import folium
import geopandas as gpd

from dispatch.community.wishes import CATEGORIES, STAGES
from gis.errors import ArgumentError
from maps.base import CategoryFilter, FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import t
from maps.layers import grids_layer

STAGE_COLORS = {"posted": "#e53935", "claimed": "#1e88e5", "done": "#43a047",
                "confirmed": "#9e9e9e", "cancelled": "#bdbdbd"}
TEXT = {
    "title": ("微心愿地图", "Micro-wishes"),
    "public_title": ("微心愿（公开）", "Micro-wishes (public)"),
    "layer": ("心愿", "Wishes"),
    "wish": ("心愿", "Wish"),
    "category": ("类别", "Category"),
    "stage": ("状态", "Stage"),
    "grid": ("网格", "Grid"),
    "board": ("微星光（服务时长）", "Micro-stars (hours)"),
    "filter": ("按类别筛选", "Filter by category"),
    "coarse": ("位置为所在网格的代表点，不是住户位置",
               "shown at its grid's representative point, not the household"),
}


def _t(key: str, lang: str) -> str:
    return TEXT[key][lang == "en"]


def _category(category: str, lang: str) -> str:
    """A category's name (the id itself when unknown)."""
    if category not in CATEGORIES:
        return category
    zh, en = CATEGORIES[category][:2]
    return en if lang == "en" else zh


def wishes_map(wishes: gpd.GeoDataFrame, *, grids: gpd.GeoDataFrame | None = None,
               board: Sequence[tuple[str, int, float]] = (), public: bool = False,
               options: MapOptions | None = None) -> folium.Map:
    """The wishes map.

    Args:
        wishes: one point per wish (any CRS): wish_id, category (an id of
            dispatch.community.wishes.CATEGORIES), stage (posted, claimed, done, confirmed,
            cancelled); optional grid_code. Every column given may end up in the page.
        grids: the plan's grids (code, households), drawn as outlines.
        board: the micro-star board's top rows, (name, wishes fulfilled, hours).
        public: the public page's title and the note that points are coarse.
        options: language, basemap.

    Raises:
        gis.errors.ArgumentError: missing columns or an unknown stage.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(wishes, ["wish_id", "category", "stage"], "wishes")
    unknown = sorted(set(wishes["stage"].dropna()) - set(STAGES))
    if unknown:
        raise ArgumentError(f"未知心愿状态：{', '.join(map(str, unknown))}",
                            f"unknown wish stages: {', '.join(map(str, unknown))}")
    shown = wishes[wishes.geometry.notna() & ~wishes.geometry.is_empty]
    frame = shown.assign(
        category_label=shown["category"].map(lambda c: _category(str(c), lang)),
        stage_label=shown["stage"].map(lambda s: STAGES[s][lang == "en"]),
        _html=[f"<div class='wg-incident' style='background:{STAGE_COLORS[s]};"
               f"border-color:#fff'></div>" for s in shown["stage"]])
    props = ["wish_id", "category", "category_label", "stage_label", "_html"]
    fields = [["wish_id", _t("wish", lang)], ["category_label", _t("category", lang)],
              ["stage_label", _t("stage", lang)]]
    if "grid_code" in frame:
        props.append("grid_code")
        fields.append(["grid_code", _t("grid", lang)])
    m = new_map(options, bounds_latlon(shown, grids))
    if grids is not None and len(grids):
        grids_layer(grids, options, t("layer.grids", lang),
                    style={"color": "#546e7a", "weight": 1, "fill": False}).add_to(m)
    spec = {"point": "icon", "iconClass": "wg-incident-icon", "iconSize": [18, 18],
            "cluster": True, "tooltip": fields, "popup": fields}
    layer = FeatureLayer(feature_collection(frame, props, datum=options.datum), spec,
                         _t("layer", lang))
    layer.add_to(m)
    counts = shown["category"].astype(str).value_counts().sort_index()
    CategoryFilter(layer, "category",
                   [(str(c), _category(str(c), lang), int(n)) for c, n in counts.items()],
                   _t("filter", lang)).add_to(m)
    title = _t("public_title" if public else "title", lang)
    legend = LegendBuilder(title)
    legend.section(_t("stage", lang))
    stage_counts = shown["stage"].value_counts()
    for stage, color in STAGE_COLORS.items():
        if stage in stage_counts:
            legend.swatch(f"{STAGES[stage][lang == 'en']} {int(stage_counts[stage])}",
                          fill=color, line="#555", shape="dot")
    legend.text(f"{t('legend.total', lang)} {len(shown)}")
    if public:
        legend.text(_t("coarse", lang))
    if board:
        legend.section(_t("board", lang))
        for name, fulfilled, hours in board:
            legend.text(f"{name}: {fulfilled} · {hours:g} h")
    return finish(m, options, title, legend)
