"""View 8, referrals (转办): the areas the organisations serve (compounds, districts), coloured
by kind with the smallest drawn on top (the one responsible where areas overlap), and the
incidents referred to them, filled by stage and outlined by the referral's deadline status.

Who is responsible and the deadlines come from dispatch.incidents.referral; this module only
draws them.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from dispatch.incidents.referral import ORG_KINDS, geodesic_area_m2
from maps.base import CategoryFilter, FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import category_label, stage_label, t
from maps.incidents import DEADLINE_COLORS, STAGE_COLORS, deadline_status
from maps.layers import grids_layer

KIND_COLORS = {"property_company": "#8e24aa", "police": "#1e88e5", "sanitation": "#43a047",
               "utilities": "#fb8c00", "department": "#6d4c41", "other": "#757575"}
_TEXT = {
    "title": ("转办单位与转办事件", "Organisations and referred incidents"),
    "areas": ("服务范围", "Service areas"),
    "incidents": ("转办事件", "Referred incidents"),
    "kinds": ("单位类型", "Kinds"),
    "filter": ("按单位筛选", "Filter by organisation"),
}


def _say(key: str, lang: str) -> str:
    zh, en = _TEXT[key]
    return en if lang == "en" else zh


def organisations_map(organisations: gpd.GeoDataFrame, incidents: gpd.GeoDataFrame, *,
                      grids: gpd.GeoDataFrame | None = None, now: pd.Timestamp | None = None,
                      options: MapOptions | None = None) -> folium.Map:
    """The organisations' areas and their referred incidents.

    Args:
        organisations: one (Multi)Polygon per organisation: org_id, name, kind
            (dispatch.incidents.referral.ORG_KINDS), categories (list or text).
        incidents: points: incident_id, category, stage, organisation (its name), optional
            deadline (the referral's, ISO 8601), overdue (bool).
        grids: the plan's grids, drawn as outlines.
        now: the time deadlines are judged at (default: now).
        options: language, basemap.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(organisations, ["org_id", "name", "kind", "categories"], "organisations")
    require_columns(incidents, ["incident_id", "category", "stage", "organisation"],
                    "incidents")
    frames = [f for f in (organisations, incidents) if len(f)]
    m = new_map(options, bounds_latlon(*frames) if frames else None)
    if grids is not None and len(grids):
        grids_layer(grids, options, t("layer.grids", lang),
                    style={"color": "#90a4ae", "weight": 1, "fill": False}).add_to(m)
    legend = LegendBuilder(_say("title", lang))

    areas = organisations.to_crs("EPSG:4326")
    size = [geodesic_area_m2(g) for g in areas.geometry]
    areas = areas.assign(_size=size).sort_values("_size", ascending=False)  # small on top
    areas = areas.assign(
        kind_label=areas["kind"].map(lambda k: ORG_KINDS.get(k, (k, k))[lang == "en"]),
        categories_label=areas["categories"].map(
            lambda cs: "、".join(category_label(c, lang) for c in
                                 (cs if isinstance(cs, list | tuple) else str(cs).split(";")))),
        _color=areas["kind"].map(lambda k: KIND_COLORS.get(k, "#757575")),
        _fill=areas["kind"].map(lambda k: KIND_COLORS.get(k, "#757575")))
    fields = [["name", t("f.organisation", lang)], ["kind_label", t("f.kind", lang)],
              ["categories_label", t("f.categories", lang)]]
    FeatureLayer(feature_collection(areas, ["name", "kind_label", "categories_label",
                                            "_color", "_fill"], datum=options.datum),
                 {"style": {"weight": 2, "fillOpacity": 0.15}, "tooltip": fields,
                  "popup": fields}, _say("areas", lang)).add_to(m)
    legend.section(_say("kinds", lang))
    counts = organisations["kind"].value_counts()
    for kind, color in KIND_COLORS.items():
        if kind in counts:
            legend.swatch(f"{ORG_KINDS[kind][lang == 'en']} {int(counts[kind])}", fill=color,
                          line=color)

    shown = incidents[incidents.geometry.notna() & ~incidents.geometry.is_empty]
    status = deadline_status(shown, now)
    fill = shown["stage"].map(lambda s: STAGE_COLORS.get(s, "#757575"))
    ring = status.map(DEADLINE_COLORS)
    points = shown.assign(
        stage_label=shown["stage"].map(lambda s: stage_label(s, lang)),
        category_label=shown["category"].map(lambda c: category_label(str(c), lang)),
        organisation=shown["organisation"].fillna("").astype(str),
        status_label=status.map(lambda s: t(f"deadline.{s}", lang)),
        _html=[f"<div class='wg-incident' style='background:{f};border-color:{r}'></div>"
               for f, r in zip(fill, ring, strict=True)])
    point_fields = [["incident_id", t("f.incident", lang)],
                    ["category_label", t("f.category", lang)],
                    ["stage_label", t("f.stage", lang)],
                    ["organisation", t("f.organisation", lang)],
                    ["status_label", t("f.deadline_status", lang)]]
    layer = FeatureLayer(feature_collection(points, ["incident_id", "category_label",
                                                     "stage_label", "organisation",
                                                     "status_label", "_html"],
                                            datum=options.datum),
                         {"point": "icon", "iconClass": "wg-incident-icon",
                          "iconSize": [20, 20], "cluster": True, "tooltip": point_fields,
                          "popup": point_fields}, _say("incidents", lang))
    layer.add_to(m)
    by_org = points["organisation"].value_counts().sort_index()
    CategoryFilter(layer, "organisation", [(o, o or "—", int(n)) for o, n in by_org.items()],
                   _say("filter", lang)).add_to(m)
    legend.section(t("legend.stage", lang))
    for stage, n in shown["stage"].value_counts().sort_index().items():
        legend.swatch(f"{stage_label(str(stage), lang)} {int(n)}",
                      fill=STAGE_COLORS.get(str(stage), "#757575"), line="#555", shape="dot")
    legend.section(t("legend.deadline", lang))
    for key, n in status.value_counts().items():
        legend.swatch(f"{t(f'deadline.{key}', lang)} {int(n)}", line=DEADLINE_COLORS[key],
                      shape="dot")
    legend.text(f"{t('legend.total', lang)} {len(shown)}")
    return finish(m, options, _say("title", lang), legend)
