"""View 4, a worker's route on a phone: numbered stops in order, arrows for the direction of
travel, the street patrol path, distance and time, and a locate-me button."""

from __future__ import annotations

import math

import folium
import folium.plugins
import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

from gis.errors import ArgumentError
from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import metres, minutes, t
from maps.layers import grids_layer, streets_layer

ROUTE_COLOR = "#1565c0"
PATROL_COLOR = "#ef6c00"
WALKED_COLOR = "#2e7d32"  # planned streets the GPS track walked
MISSED_COLOR = "#c62828"  # planned streets it missed
DETOUR_COLOR = "#6a1b9a"  # streets walked off the plan
ARROW_SPACING_M = 120.0  # one arrow every this many metres of route ...
MAX_ARROWS = 60  # ... but no more than this many on the whole route


def _single_line(lines: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> gpd.GeoSeries:
    """The lines joined end to end in row order into one LineString (a one-row GeoSeries in
    the same CRS); the rows are the legs of the route in travel order."""
    series = lines.geometry if isinstance(lines, gpd.GeoDataFrame) else lines
    series = series[series.notna() & ~series.is_empty]
    if series.crs is None:
        raise ArgumentError(f"{what} 没有坐标参考系", f"{what} has no CRS")
    kinds = set(series.geom_type)
    if not kinds or not kinds <= {"LineString", "MultiLineString"}:
        raise ArgumentError(f"{what} 应为线，实为 {sorted(kinds)}",
                            f"{what} must be lines, got {sorted(kinds)}")
    parts = [np.asarray(part.coords) for part in series.explode(index_parts=False).values]
    coords = np.vstack(parts)
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)  # the joint of two legs once
    return gpd.GeoSeries([LineString(coords[keep])], crs=series.crs)


def direction_arrows(path: gpd.GeoSeries, spacing_m: float = ARROW_SPACING_M,
                     max_arrows: int = MAX_ARROWS) -> gpd.GeoDataFrame:
    """Points along ``path`` (one line, any CRS) with the screen angle of travel.

    Returns points in EPSG:4326 with ``angle_deg``: clockwise from east as CSS rotates, measured
    in Web Mercator (EPSG:3857) so that arrows match the line on the map.
    """
    mercator = path.to_crs("EPSG:3857").iloc[0]
    metric = path.to_crs(path.estimate_utm_crs()).iloc[0]
    length = metric.length
    if length == 0:
        return gpd.GeoDataFrame({"angle_deg": []}, geometry=[], crs="EPSG:4326")
    count = int(min(max_arrows, max(1, length // spacing_m)))
    fractions = (np.arange(count) + 0.5) / count
    angles, points = [], []
    for f in fractions:
        # Metric fractions map to Mercator fractions closely over a district.
        a = mercator.interpolate(max(0.0, f - 0.002), normalized=True)
        b = mercator.interpolate(min(1.0, f + 0.002), normalized=True)
        angles.append(-math.degrees(math.atan2(b.y - a.y, b.x - a.x)))
        points.append(mercator.interpolate(f, normalized=True))
    frame = gpd.GeoDataFrame({"angle_deg": angles}, geometry=points, crs="EPSG:3857")
    return frame.to_crs("EPSG:4326")


def _time_label(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and len(value) <= 5:  # "HH:MM"
        return value
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("Asia/Shanghai")
    return stamp.strftime("%H:%M")


def route_map(stops: gpd.GeoDataFrame, path: gpd.GeoDataFrame | gpd.GeoSeries, *,
              patrol: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
              distance_m: float | None = None, duration_s: float | None = None,
              worker_name: str | None = None, grids: gpd.GeoDataFrame | None = None,
              streets: gpd.GeoDataFrame | None = None,
              track_streets: gpd.GeoDataFrame | None = None,
              options: MapOptions | None = None) -> folium.Map:
    """A worker's route for a phone.

    Args:
        stops: points in visiting order: seq (int; 0 for the base/start), name, arrival
            (ISO 8601 datetime, or "HH:MM"; null allowed); optionally ``reached`` (bool, or
            null where not checked): drawn green when the GPS track reached the stop, red
            when it did not.
        path: the walking route along the streets, one or more LineStrings in travel order.
        patrol: the street patrol path (dispatch.routing.patrol), LineStrings; optional.
        distance_m: the route's length in metres as the router measured it (else the length
            of ``path``).
        duration_s: the route's duration in seconds as the router computed it (not shown
            when not given).
        worker_name: shown in the summary.
        grids: the worker's grids (code, households), drawn as outlines.
        streets: street centre lines (name) for orientation.
        track_streets: what a GPS track walked (dispatch.tracks): streets with ``name``,
            ``length_m``, ``planned``, ``walked``; drawn as walked, missed (planned, not
            walked) and detour (walked, not planned).
        options: language, basemap.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(stops, ["seq", "name", "arrival"], "stops")
    stops = stops.sort_values("seq").reset_index(drop=True)
    line = _single_line(path, "path")
    if distance_m is None:
        distance_m = float(line.to_crs(line.estimate_utm_crs()).length.iloc[0])
    m = new_map(options, bounds_latlon(stops, gpd.GeoDataFrame(geometry=line)))
    if streets is not None and len(streets):
        streets_layer(streets, options).add_to(m)
    if grids is not None and len(grids):
        grids_layer(grids, options, t("layer.grids", lang),
                    style={"color": "#546e7a", "weight": 1.5, "fillOpacity": 0.08,
                           "fillColor": "#90a4ae"}).add_to(m)
    legend = LegendBuilder(t("title.route", lang) + (f" · {worker_name}" if worker_name else ""))
    if patrol is not None and len(patrol):
        patrol_line = _single_line(patrol, "patrol")
        patrol_m = float(patrol_line.to_crs(patrol_line.estimate_utm_crs()).length.iloc[0])
        data = feature_collection(gpd.GeoDataFrame(geometry=patrol_line), [],
                                  datum=options.datum)
        FeatureLayer(data, {"style": {"color": PATROL_COLOR, "weight": 4, "opacity": 0.8,
                                      "dashArray": "2 8", "lineCap": "round"}},
                     t("layer.patrol", lang)).add_to(m)
        legend.swatch(f"{t('layer.patrol', lang)} {metres(patrol_m, lang)}", line=PATROL_COLOR,
                      shape="line", dashed=True)
    if track_streets is not None and len(track_streets):
        _track_layers(m, legend, track_streets, options)
    data = feature_collection(gpd.GeoDataFrame(geometry=line), [], datum=options.datum)
    FeatureLayer(data, {"style": {"color": ROUTE_COLOR, "weight": 5, "opacity": 0.85}},
                 t("layer.route", lang)).add_to(m)
    arrows = direction_arrows(line)
    arrows["_html"] = [f"<div class='wg-arrow' style='transform:rotate({a:.0f}deg)'></div>"
                       for a in arrows["angle_deg"]]
    FeatureLayer(feature_collection(arrows, ["_html"], datum=options.datum),
                 {"point": "icon", "iconSize": [16, 16], "iconClass": "wg-arrow-icon"},
                 t("layer.arrows", lang)).add_to(m)
    first = stops["seq"].iloc[0] if len(stops) else 0
    reached = (list(stops["reached"]) if "reached" in stops.columns
               else [None] * len(stops))
    frame = stops.assign(
        arrival_label=stops["arrival"].map(_time_label),
        reached_label=[_reached_label(r, lang) for r in reached],
        _html=[f"<div class='wg-stop{_stop_class(s == first, r)}'>{int(s)}</div>"
               for s, r in zip(stops["seq"], reached, strict=True)])
    fields = [["seq", t("f.stop", lang)], ["name", t("f.name", lang)],
              ["arrival_label", t("f.arrival", lang)]]
    if "reached" in stops.columns:
        fields.append(["reached_label", t("track.reached_field", lang)])
    FeatureLayer(feature_collection(frame, ["seq", "name", "arrival_label", "reached_label",
                                            "_html"],
                                    datum=options.datum),
                 {"point": "icon", "iconSize": [24, 24], "tooltip": fields, "popup": fields},
                 t("layer.stops", lang)).add_to(m)
    folium.plugins.LocateControl(
        position="topleft", flyTo=True, keepCurrentZoomLevel=True,
        strings={"title": t("locate.title", lang)}).add_to(m)
    n_stops = int((stops["seq"] > 0).sum()) if len(stops) else 0
    time_text = minutes(duration_s, lang) if duration_s is not None else "—"
    legend.text(t("route.summary", lang, n_stops, metres(distance_m, lang), time_text))
    legend.swatch(t("layer.route", lang), line=ROUTE_COLOR, shape="line")
    for seq, name, arrival, got in zip(frame["seq"], frame["name"], frame["arrival_label"],
                                       frame["reached_label"], strict=True):
        legend.text(f"{int(seq)}. {name} {arrival} {got}".rstrip())
    return finish(m, options, t("title.route", lang), legend)


def _stop_class(start: bool, reached: object) -> str:
    if start:
        return " wg-start"
    if reached is True:
        return " wg-reached"
    if reached is False:
        return " wg-missed"
    return ""


def _reached_label(reached: object, lang: str) -> str:
    if reached is True:
        return t("track.reached", lang)
    if reached is False:
        return t("track.missed_stop", lang)
    return ""


def _track_layers(m: folium.Map, legend: LegendBuilder, streets: gpd.GeoDataFrame,
                  options: MapOptions) -> None:
    """Walked, missed and detour streets of a GPS track, with their lengths in the legend."""
    lang = options.lang
    require_columns(streets, ["name", "length_m", "planned", "walked"], "track_streets")
    planned = streets["planned"].astype(bool)
    walked = streets["walked"].astype(bool)
    planned_m = float(streets.loc[planned, "length_m"].sum())
    parts = (("walked", planned & walked, WALKED_COLOR, 6, None),
             ("missed", planned & ~walked, MISSED_COLOR, 5, "6 6"),
             ("detour", ~planned & walked, DETOUR_COLOR, 3, None))
    for key, mask, color, weight, dash in parts:
        part = streets[mask]
        if not len(part):
            continue
        label = t(f"track.{key}", lang)
        style = {"color": color, "weight": weight, "opacity": 0.9}
        if dash:
            style["dashArray"] = dash
        fields = [["name", t("f.name", lang)], ["length_m", t("track.length", lang)]]
        FeatureLayer(feature_collection(part, ["name", "length_m"], datum=options.datum),
                     {"style": style, "tooltip": fields}, label).add_to(m)
        legend.swatch(f"{label} {metres(float(part['length_m'].sum()), lang)}", line=color,
                      shape="line", dashed=bool(dash))
    if planned_m:
        share = float(streets.loc[planned & walked, "length_m"].sum()) / planned_m
        legend.text(t("track.coverage", lang, f"{share:.0%}"))


def stops_from_points(points: list[tuple[float, float]], names: list[str],
                      arrivals: list[str]) -> gpd.GeoDataFrame:
    """Stops (seq from 0) from lon/lat pairs in WGS84; a convenience for callers and tests."""
    return gpd.GeoDataFrame({"seq": range(len(points)), "name": names, "arrival": arrivals},
                            geometry=[Point(p) for p in points], crs="EPSG:4326")
