"""The layers several maps share: grids, grid labels, buildings, communities, barriers, streets.

Each function takes a GeoDataFrame in any defined CRS and returns a :class:`FeatureLayer`.
"""

from __future__ import annotations

import html

import geopandas as gpd
import numpy as np
import pandas as pd

from maps.base import CANVAS_ABOVE, LABEL_ZOOM, FeatureLayer, LegendBuilder, MapOptions
from maps.geometry import feature_collection, require_columns
from maps.i18n import t
from partition.metrics import BALANCE_LIMIT_PCT

# Household deviation classes (percent from target): upper bounds and colours, under -> over.
DEVIATION_BREAKS = (-BALANCE_LIMIT_PCT, -5.0, 5.0, BALANCE_LIMIT_PCT)  # beyond: the balance rule
DEVIATION_COLORS = ("#2166ac", "#92c5de", "#e0f3db", "#f4a582", "#b2182b")
COMMUNITY_COLOR = "#6a1b9a"
BARRIER_COLOR = "#c62828"
BUILDING_COLOR = "#8d8d8d"
STREET_COLOR = "#b0a999"


def deviation_color(deviation_pct: pd.Series) -> pd.Series:
    """The colour class of each deviation (percent); grey where missing."""
    idx = np.searchsorted(DEVIATION_BREAKS, deviation_pct.fillna(0.0).to_numpy(), side="left")
    colors = np.asarray(DEVIATION_COLORS)[idx]
    return pd.Series(np.where(deviation_pct.isna(), "#cccccc", colors), index=deviation_pct.index)


def deviation_legend(legend: LegendBuilder, lang: str) -> None:
    """The legend section of the deviation colours (percent from the community's mean)."""
    legend.section(t("legend.deviation", lang))
    lows = ("", *(f"{b:+.0f}%" for b in DEVIATION_BREAKS))
    highs = (*(f"{b:+.0f}%" for b in DEVIATION_BREAKS), "")
    for color, low, high in zip(DEVIATION_COLORS, lows, highs, strict=True):
        label = f"< {high}" if not low else (f"> {low}" if not high else f"{low} … {high}")
        legend.swatch(label, fill=color, line="#444")


def worker_names(grids: gpd.GeoDataFrame, workers: pd.DataFrame | None) -> pd.Series:
    """The names of each grid's workers ("、"-joined), from ``grids["worker"]`` or ``workers``.

    ``workers`` columns: worker_id, name, grids (a list of grid codes, or one string of codes
    separated by ";" or ",").
    """
    if workers is None or len(workers) == 0:
        if "worker" in grids.columns:
            return grids["worker"].fillna("").astype(str)
        return pd.Series("", index=grids.index)
    require_columns(workers, ["worker_id", "name", "grids"], "workers")
    by_code: dict[str, list[str]] = {}
    for name, codes in zip(workers["name"], workers["grids"], strict=True):
        if isinstance(codes, str):
            codes = [c.strip() for c in codes.replace(",", ";").split(";")]
        for code in codes or []:
            if code:
                by_code.setdefault(str(code), []).append(str(name))
    return grids["code"].astype(str).map(lambda c: "、".join(by_code.get(c, [])))


def grids_layer(grids: gpd.GeoDataFrame, options: MapOptions, name: str, *,
                fill: pd.Series | None = None, style: dict | None = None,
                show: bool = True) -> FeatureLayer:
    """Grid polygons with a tooltip of their figures, filled with ``fill`` colours.

    ``grids`` columns: code, households; optional community, worker, population, deviation_pct
    (percent), area_m2, polsby_popper, street_boundary_share (0-1), contiguous.
    """
    lang = options.lang
    require_columns(grids, ["code", "households"], "grids")
    frame = grids.copy()
    columns = {"code": "f.code", "community": "f.community", "worker": "f.worker",
               "households": "f.households", "population": "f.population",
               "deviation": "f.deviation", "area": "f.area", "compactness": "f.compactness",
               "street_share": "f.street_share", "contiguous": "f.contiguous"}
    if "deviation_pct" in frame:
        frame["deviation"] = frame["deviation_pct"].map(
            lambda v: "" if pd.isna(v) else f"{v:+.1f}%")
    if "area_m2" in frame:
        frame["area"] = frame["area_m2"].map(
            lambda v: "" if pd.isna(v) else (f"{v / 10000:.2f} 公顷" if lang == "zh"
                                             else f"{v / 10000:.2f} ha"))
    if "polsby_popper" in frame:
        frame["compactness"] = frame["polsby_popper"].round(2)
    if "street_boundary_share" in frame:
        frame["street_share"] = frame["street_boundary_share"].map(
            lambda v: "" if pd.isna(v) else f"{v * 100:.0f}%")
    if "contiguous" in frame:
        frame["contiguous"] = frame["contiguous"].map(
            lambda v: t("v.yes", lang) if v else t("v.no", lang))
    if "population" in frame:
        frame["population"] = frame["population"].round(0)
    present = [c for c in columns if c in frame.columns]
    props = list(present)
    if fill is not None:
        frame["_fill"] = fill
        props.append("_fill")
    data = feature_collection(frame, props, tolerance_m=options.grid_tolerance_m,
                              coverage=True, datum=options.datum)
    spec = {"style": style or {"color": "#37474f", "weight": 1.2, "fillOpacity": 0.55,
                               "fillColor": "#e0f3db"},
            "tooltip": [[c, t(columns[c], lang)] for c in present]}
    return FeatureLayer(data, spec, name, show=show)


def labels_layer(frame: gpd.GeoDataFrame, lines: list[pd.Series], options: MapOptions,
                 name: str, show: bool = True) -> FeatureLayer:
    """Text labels (one line per series in ``lines``) at a point inside each polygon of
    ``frame``; drawn only from zoom maps.base.LABEL_ZOOM on, around the view."""
    points = gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)

    def label(i: int) -> str:
        parts = [html.escape(str(s.iloc[i])) for s in lines if str(s.iloc[i]) not in ("", "nan")]
        return "<div>" + "<br>".join(parts) + "</div>"

    points["_html"] = [label(i) for i in range(len(points))]
    data = feature_collection(points, ["_html"], datum=options.datum)
    spec = {"point": "icon", "iconClass": "wg-label", "iconSize": [0, 0],
            "minZoom": LABEL_ZOOM}
    return FeatureLayer(data, spec, name, show=show)


def buildings_layer(buildings: gpd.GeoDataFrame, options: MapOptions, name: str, *,
                    color: pd.Series | None = None, extra: dict[str, str] | None = None,
                    style: dict | None = None, show: bool = True) -> FeatureLayer:
    """Building footprints with building_id, households and ``extra`` columns ({column: label
    key}) in the tooltip; ``color`` gives each footprint's colour.

    ``buildings`` columns: building_id, households; optional name, grid_id.
    """
    lang = options.lang
    require_columns(buildings, ["building_id", "households"], "buildings")
    frame = buildings
    fields = [("building_id", "f.building"), ("name", "f.name"), ("households", "f.households"),
              *(extra or {}).items()]
    fields = [(c, key) for c, key in fields if c in frame.columns]
    props = [c for c, _ in fields]
    if color is not None:
        frame = frame.assign(_color=color, _fill=color)
        props += ["_color", "_fill"]
    data = feature_collection(frame, props, tolerance_m=options.tolerance_m, datum=options.datum)
    spec = {"style": style or {"color": BUILDING_COLOR, "weight": 0.6, "fillColor": "#bdbdbd",
                               "fillOpacity": 0.7},
            "tooltip": [[c, t(key, lang)] for c, key in fields],
            "canvas": len(frame) > CANVAS_ABOVE}
    return FeatureLayer(data, spec, name, show=show)


def communities_layer(communities: gpd.GeoDataFrame, options: MapOptions,
                      show: bool = True) -> FeatureLayer:
    """Community boundaries (columns: code and/or name)."""
    lang = options.lang
    props = [c for c in ("name", "code") if c in communities.columns]
    data = feature_collection(communities, props, tolerance_m=options.tolerance_m,
                              datum=options.datum)
    spec = {"style": {"color": COMMUNITY_COLOR, "weight": 3, "dashArray": "8 5", "fill": False,
                      "interactive": False},
            "popup": [[c, t("f.name" if c == "name" else "f.community", lang)] for c in props]}
    return FeatureLayer(data, spec, t("layer.communities", lang), show=show)


def barriers_layer(barriers: gpd.GeoDataFrame, options: MapOptions,
                   show: bool = True) -> FeatureLayer:
    """Barrier lines and areas (arterials, railways, rivers); optional column name/kind."""
    props = [c for c in ("name", "kind") if c in barriers.columns]
    data = feature_collection(barriers, props, tolerance_m=options.tolerance_m,
                              datum=options.datum)
    spec = {"style": {"color": BARRIER_COLOR, "weight": 3, "opacity": 0.8, "fillOpacity": 0.15,
                      "interactive": False}}
    return FeatureLayer(data, spec, t("layer.barriers", options.lang), show=show)


def streets_layer(streets: gpd.GeoDataFrame, options: MapOptions,
                  show: bool = True) -> FeatureLayer:
    """Street centre lines (optional column name)."""
    props = [c for c in ("name",) if c in streets.columns]
    data = feature_collection(streets, props, tolerance_m=options.tolerance_m,
                              datum=options.datum)
    spec = {"style": {"color": STREET_COLOR, "weight": 2, "opacity": 0.9, "interactive": False}}
    return FeatureLayer(data, spec, t("layer.streets", options.lang), show=show)
