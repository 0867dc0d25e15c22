"""View 3, open incidents: clustered markers filled by stage and outlined by deadline status, a
heat map to switch on, a filter by category, and the channel of each report (counted in the
legend: how many came by phone, walk-in, door visit... for residents without a smartphone)."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from gis.errors import ArgumentError
from maps.base import (
    CategoryFilter,
    FeatureLayer,
    LegendBuilder,
    MapOptions,
    finish,
    heat_layer,
    new_map,
)
from maps.geometry import bounds_latlon, display_geometry, feature_collection, require_columns
from maps.i18n import STAGES, category_label, channel_label, stage_label, t
from maps.layers import grids_layer

LOCAL_TZ = "Asia/Shanghai"  # a deadline written without an offset is Beijing time
DUE_SOON = pd.Timedelta(hours=24)
CLOSED_STAGES = frozenset({"closed", "rejected"})
STAGE_COLORS = {
    "reported": "#8e24aa", "accepted": "#3949ab", "dispatched": "#1e88e5",
    "in_progress": "#fb8c00", "handled": "#43a047", "verified": "#00897b",
    "returned": "#6d4c41", "closed": "#9e9e9e", "rejected": "#bdbdbd",
    "referred": "#d81b60", "org_accepted": "#f06292",
}
DEADLINE_COLORS = {"overdue": "#d50000", "due_soon": "#ffab00", "on_time": "#2e7d32",
                   "none": "#757575"}


def _timestamp(value: object) -> pd.Timestamp | None:
    if value is None or value == "" or (not isinstance(value, str) and pd.isna(value)):
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError as exc:
        raise ArgumentError(f"无法识别的时限 {value!r}，请用 ISO 8601（如 2026-11-21T17:00+08:00）",
                            f"unreadable deadline {value!r}: use ISO 8601 "
                            "(e.g. 2026-11-21T17:00+08:00)") from exc
    return stamp.tz_localize(LOCAL_TZ) if stamp.tzinfo is None else stamp


def _deadline_label(value: object) -> str:
    stamp = _timestamp(value)
    return "" if stamp is None else stamp.tz_convert(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def deadline_status(incidents: pd.DataFrame, now: pd.Timestamp | None = None) -> pd.Series:
    """"overdue", "due_soon" (within 24 h), "on_time" or "none" for each incident.

    Overdue when the ``overdue`` flag is set or the deadline has passed at ``now`` (default:
    the current time). Deadlines are ISO 8601 strings or timestamps; without an offset they
    are taken as Beijing time. Either column may be absent ("none" without both).
    """
    now = _timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    flags = incidents["overdue"].fillna(False).astype(bool) if "overdue" in incidents \
        else pd.Series(False, index=incidents.index)
    deadlines = incidents["deadline"] if "deadline" in incidents \
        else pd.Series(None, index=incidents.index, dtype=object)
    out = []
    for deadline, flag in zip(deadlines, flags, strict=True):
        stamp = _timestamp(deadline)
        if flag or (stamp is not None and stamp < now):
            out.append("overdue")
        elif stamp is None:
            out.append("none")
        else:
            out.append("due_soon" if stamp - now <= DUE_SOON else "on_time")
    return pd.Series(out, index=incidents.index)


def incidents_map(incidents: gpd.GeoDataFrame, *, grids: gpd.GeoDataFrame | None = None,
                  open_only: bool = True, now: pd.Timestamp | str | None = None,
                  options: MapOptions | None = None) -> folium.Map:
    """The open incidents map.

    Args:
        incidents: one point per incident: incident_id, category (e.g. "noise", see
            maps.i18n.CATEGORIES; others shown as given), stage (reported, accepted,
            dispatched, in_progress, handled, verified, closed, returned, rejected, referred,
            org_accepted); optional deadline (ISO 8601 datetime, null for none), overdue
            (bool), title, channel (dispatch.channels, counted in the legend), organisation
            (the name of the organisation it is referred to).
        grids: the plan's grids (code, households), drawn as outlines.
        open_only: leave out closed and rejected incidents.
        now: the time deadlines are judged at (default: now).
        options: language, basemap.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(incidents, ["incident_id", "category", "stage"], "incidents")
    unknown = sorted(set(incidents["stage"].dropna()) - set(STAGES))
    if unknown:
        raise ArgumentError(f"未知事件状态：{', '.join(map(str, unknown))}",
                            f"unknown incident stages: {', '.join(map(str, unknown))}")
    shown = incidents[~incidents["stage"].isin(CLOSED_STAGES)] if open_only else incidents
    shown = shown[shown.geometry.notna() & ~shown.geometry.is_empty]
    status = deadline_status(shown, now)
    fill = shown["stage"].map(STAGE_COLORS)
    ring = status.map(DEADLINE_COLORS)
    frame = shown.assign(
        stage_label=shown["stage"].map(lambda s: stage_label(s, lang)),
        category_label=shown["category"].map(lambda c: category_label(str(c), lang)),
        deadline_label=[_deadline_label(d) for d in shown.get("deadline", [None] * len(shown))],
        status_label=status.map(lambda s: t(f"deadline.{s}", lang)),
        channel_label=(shown["channel"].map(lambda c: channel_label(str(c), lang))
                       if "channel" in shown else ""),
        organisation=(shown["organisation"].fillna("") if "organisation" in shown else ""),
        _html=[f"<div class='wg-incident' style='background:{f};border-color:{r}'></div>"
               for f, r in zip(fill, ring, strict=True)])
    props = ["incident_id", "category", "category_label", "stage_label", "deadline_label",
             "status_label", "channel_label", "organisation", "_html"] + (
                 ["title"] if "title" in frame else [])
    m = new_map(options, bounds_latlon(shown if len(shown) else incidents, grids))
    if grids is not None and len(grids):
        grids_layer(grids, options, t("layer.grids", lang),
                    style={"color": "#546e7a", "weight": 1, "fill": False}).add_to(m)
    fields = [["incident_id", t("f.incident", lang)], ["title", t("f.name", lang)],
              ["category_label", t("f.category", lang)], ["stage_label", t("f.stage", lang)],
              ["deadline_label", t("f.deadline", lang)],
              ["status_label", t("f.deadline_status", lang)]]
    if "channel" in shown:
        fields.append(["channel_label", t("f.channel", lang)])
    if "organisation" in shown:
        fields.append(["organisation", t("f.organisation", lang)])
    data = feature_collection(frame, props, datum=options.datum)
    spec = {"point": "icon", "iconClass": "wg-incident-icon", "iconSize": [20, 20],
            "cluster": True, "tooltip": fields, "popup": fields}
    layer = FeatureLayer(data, spec, t("layer.incidents", lang))
    layer.add_to(m)
    points = display_geometry(shown.to_crs("EPSG:4326").geometry.values, options.datum)
    heat_layer([[p.y, p.x] for p in points], t("layer.heat", lang), show=False).add_to(m)
    counts = shown["category"].astype(str).value_counts()
    choices = [(c, category_label(c, lang), int(n)) for c, n in counts.sort_index().items()]
    CategoryFilter(layer, "category", choices, t("legend.filter", lang)).add_to(m)
    legend = LegendBuilder(t("title.incidents", lang))
    legend.section(t("legend.stage", lang))
    stage_counts = shown["stage"].value_counts()
    for stage, color in STAGE_COLORS.items():
        if stage in stage_counts or (stage not in CLOSED_STAGES):
            legend.swatch(f"{stage_label(stage, lang)} {int(stage_counts.get(stage, 0))}",
                          fill=color, line="#555", shape="dot")
    legend.section(t("legend.deadline", lang))
    status_counts = status.value_counts()
    for key, color in DEADLINE_COLORS.items():
        legend.swatch(f"{t(f'deadline.{key}', lang)} {int(status_counts.get(key, 0))}",
                      line=color, shape="dot")
    if "channel" in shown and len(shown):
        legend.section(t("legend.channel", lang))
        for channel, n in shown["channel"].astype(str).value_counts().sort_index().items():
            legend.text(f"{channel_label(channel, lang)} {int(n)}")
    legend.text(f"{t('legend.total', lang)} {len(shown)}")
    return finish(m, options, t("title.incidents", lang), legend)
