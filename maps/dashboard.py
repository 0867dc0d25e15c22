"""The street office's indicators dashboard: a choropleth of grids or communities by one
indicator, the ranked table, and trend charts per month (pictures, offline).

The figures come computed (api.store.indicators via the service); this module only draws them.
The trend charts are small SVG drawn here by hand: a line chart of a few series over months
needs no chart library, and inline SVG is offline by nature (nothing to package or load).
Colours: five classes, green for good and red for bad whichever way the indicator runs
(``higher_is_better``); grids without incidents are grey.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import folium
import geopandas as gpd
import pandas as pd

from maps.base import FeatureLayer, LegendBuilder, MapOptions, Panel, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns

# good -> bad
RAMP = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
NO_DATA = "#cfd8dc"
SERIES_COLORS = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00")
TEXTS = {
    "zh": {"title": "工作指标看板", "rank": "排名", "name": "名称", "value": "数值",
           "received": "受理", "no_data": "无事件", "trend": "按月趋势", "best": "最好",
           "worst": "最差", "period": "时段", "grid": "网格", "community": "社区"},
    "en": {"title": "Indicators dashboard", "rank": "Rank", "name": "Name", "value": "Value",
           "received": "Received", "no_data": "no incidents", "trend": "Trend by month",
           "best": "best", "worst": "worst", "period": "Period", "grid": "grids",
           "community": "communities"},
}


def format_value(value: float | None, unit: str) -> str:
    """A figure as shown: ratios in percent, hours with one decimal, counts whole."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:,.0f}"


def classes(values: pd.Series, unit: str, higher_is_better: bool) -> pd.Series:
    """A colour per value (five classes, good to bad); NaN: the no-data grey. Ratios use fixed
    breaks (90, 80, 70, 60 %), other units the quintiles of the values shown."""
    valid = values.dropna()
    if unit == "ratio":
        breaks = [0.9, 0.8, 0.7, 0.6] if higher_is_better else [0.1, 0.2, 0.3, 0.4]
    elif len(valid):
        qs = [0.8, 0.6, 0.4, 0.2] if higher_is_better else [0.2, 0.4, 0.6, 0.8]
        breaks = [float(valid.quantile(q)) for q in qs]
    else:
        breaks = []

    def colour(v: float) -> str:
        if pd.isna(v):
            return NO_DATA
        for k, b in enumerate(breaks):
            if (v >= b) if higher_is_better else (v <= b):
                return RAMP[k]
        return RAMP[-1]

    return values.map(colour)


def trend_svg(periods: Sequence[str], series: dict[str, Sequence[float | None]], *,
              title: str, unit: str, width: int = 280, height: int = 160) -> str:
    """A line chart as inline SVG: one line per series over ``periods`` (``YYYY-MM-DD``,
    shown as ``YYYY-MM``); ratios on a 0-100 % axis, other units from 0 to their maximum."""
    left, right, top, bottom = 40, 8, 22, 30
    w, h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    top_value = 1.0 if unit == "ratio" else max(values or [1.0]) * 1.1 or 1.0
    n = len(periods)

    def x(i: int) -> float:
        return left + (w * i / (n - 1) if n > 1 else w / 2)

    def y(v: float) -> float:
        return top + h - h * v / top_value

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' class='wg-trend' role='img' "
             f"aria-label='{html.escape(title)}'>",
             f"<text x='{left}' y='14' font-size='12' font-weight='bold'>"
             f"{html.escape(title)}</text>"]
    for k in range(5):  # horizontal grid lines and their labels
        v = top_value * k / 4
        parts.append(f"<line x1='{left}' x2='{left + w}' y1='{y(v):.1f}' y2='{y(v):.1f}' "
                     "stroke='#e0e0e0' stroke-width='1'/>")
        parts.append(f"<text x='{left - 4}' y='{y(v) + 4:.1f}' font-size='10' "
                     f"text-anchor='end'>{html.escape(format_value(v, unit))}</text>")
    step = max(1, math.ceil(n / 6))
    for i, p in enumerate(periods):
        if i % step == 0 or i == n - 1:
            parts.append(f"<text x='{x(i):.1f}' y='{top + h + 14}' font-size='10' "
                         f"text-anchor='middle'>{html.escape(p[:7])}</text>")
    for k, (name, vals) in enumerate(series.items()):
        colour = SERIES_COLORS[k % len(SERIES_COLORS)]
        points = [(x(i), y(v)) for i, v in enumerate(vals) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
            parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' "
                         f"points='{path}'/>")
        for a, b in points:
            parts.append(f"<circle cx='{a:.1f}' cy='{b:.1f}' r='2.5' fill='{colour}'/>")
        lx = left + k * (w / max(1, len(series)))
        parts.append(f"<rect x='{lx:.1f}' y='{height - 10}' width='10' height='3' "
                     f"fill='{colour}'/><text x='{lx + 13:.1f}' y='{height - 6}' "
                     f"font-size='10'>{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def ranking_html(table: pd.DataFrame, unit: str, higher_is_better: bool, lang: str,
                 top: int = 10) -> str:
    """The ranked table (best first): rank, name, value, incidents received; the ``top``
    best and worst when longer."""
    tx = TEXTS[lang]
    ranked = table.dropna(subset=["value"]).sort_values(
        ["value", "received"], ascending=[not higher_is_better, False]).reset_index(drop=True)
    rows = list(ranked.itertuples())
    if len(rows) > 2 * top:
        rows = [*rows[:top], None, *rows[-top:]]
    out = ["<table class='wg-rank'><thead><tr>", f"<th>{tx['rank']}</th>",
           f"<th>{tx['name']}</th><th>{tx['value']}</th><th>{tx['received']}</th>",
           "</tr></thead><tbody>"]
    for r in rows:
        if r is None:
            out.append("<tr><td colspan='4'>…</td></tr>")
            continue
        out.append(f"<tr><td>{r.Index + 1}</td><td>{html.escape(str(r.name))}</td>"
                   f"<td>{html.escape(format_value(r.value, unit))}</td>"
                   f"<td>{int(r.received)}</td></tr>")
    out.append("</tbody></table>")
    return "".join(out)


def dashboard_map(areas: gpd.GeoDataFrame, figures: pd.DataFrame, *, indicator: dict,
                  higher_is_better: bool, trend_periods: Sequence[str],
                  trend_rates: dict[str, Sequence[float | None]],
                  trend_counts: dict[str, Sequence[float | None]], period_label: str,
                  by: str = "grid", options: MapOptions | None = None) -> folium.Map:
    """The dashboard page's map.

    Args:
        areas: grids or communities to colour (WGS84 polygons): ``key`` and ``name``.
        figures: the period's figures per key: ``key``, ``value`` (of ``indicator``),
            ``received``.
        indicator: its definition (dispatch.incidents.indicators.Indicator.as_dict).
        higher_is_better: the direction of the colours and the ranking.
        trend_periods: the months of the trend charts (``YYYY-MM-DD``, first days).
        trend_rates: rates per month (0..1) by series name, drawn on a percent axis.
        trend_counts: counts per month by series name.
        period_label: the period the map and ranking show, as text.
        by: "grid" or "community" (names in the legend).
        options: language, basemap.
    """
    options = options or MapOptions()
    lang = options.lang
    tx = TEXTS[lang]
    require_columns(areas, ["key", "name"], "areas")
    require_columns(figures, ["key", "value", "received"], "figures")
    name = indicator["name_zh"] if lang == "zh" else indicator["name_en"]
    unit = indicator["unit"]
    frame = areas.merge(figures[["key", "value", "received"]], on="key", how="left")
    frame["received"] = frame["received"].fillna(0).astype(int)
    frame["_fill"] = classes(frame["value"], unit, higher_is_better)
    frame["shown"] = [format_value(v, unit) if r else tx["no_data"]
                      for v, r in zip(frame["value"], frame["received"], strict=True)]
    m = new_map(options, bounds_latlon(frame))
    data = feature_collection(frame, ["name", "shown", "received", "_fill"],
                              tolerance_m=options.grid_tolerance_m, coverage=True,
                              datum=options.datum)
    spec = {"style": {"color": "#37474f", "weight": 1, "fillOpacity": 0.7,
                      "fillColor": NO_DATA},
            "tooltip": [["name", tx["name"]], ["shown", name], ["received", tx["received"]]]}
    FeatureLayer(data, spec, f"{name} · {tx[by]}").add_to(m)
    legend = LegendBuilder(f"{name} · {period_label}")
    legend.section(indicator["formula_zh"] if lang == "zh" else indicator["formula_en"])
    valid = frame["value"].dropna()
    if len(valid):
        order = valid.sort_values(ascending=not higher_is_better)
        legend.swatch(f"{tx['best']} {format_value(float(order.iloc[0]), unit)}",
                      fill=RAMP[0])
        legend.swatch(f"{tx['worst']} {format_value(float(order.iloc[-1]), unit)}",
                      fill=RAMP[-1])
    legend.swatch(tx["no_data"], fill=NO_DATA)
    table = frame[["name", "value", "received"]].drop_duplicates()
    charts = (trend_svg(trend_periods, trend_rates, title=tx["trend"], unit="ratio")
              + trend_svg(trend_periods, trend_counts, title=tx["trend"], unit="count"))
    Panel(f"<details open class='wg-dashboard'><summary>{html.escape(tx['rank'])} · "
          f"{html.escape(name)}</summary>"
          + ranking_html(table, unit, higher_is_better, lang) + charts + "</details>",
          "topleft").add_to(m)
    return finish(m, options, f"{tx['title']} · {name}", legend)
