"""The light vector basemap under every map: streets with names, water, green, railways,
building outlines and community boundaries, drawn from the study area's own data
(gis.basemap) on a canvas. No tiles, no network: a planner sees the streets offline.

Street names are placed here, along each named street merged across its ways, one label
every :data:`LABEL_SPACING_M` metres turned along the street; the page draws them only when
zoomed in (arterial roads from zoom :data:`ARTERIAL_LABEL_ZOOM`, other streets from
:data:`STREET_LABEL_ZOOM`) and only around the view. Building outlines appear from zoom
:data:`BUILDING_ZOOM`. Leaflet has no labels along lines, so this small placement is ours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import folium
import geopandas as gpd
import shapely
from folium.elements import JSCSSMixin
from folium.template import Template

from gis.crs import local_metric_crs
from maps.base import _Payloads
from maps.geometry import feature_collection
from maps.i18n import t

LABEL_SPACING_M = 400.0
MIN_LABEL_LENGTH_M = 60.0
ARTERIAL_LABEL_ZOOM = 15
STREET_LABEL_ZOOM = 17
BUILDING_ZOOM = 15
AFTER_TIMEOUT_MS = 10_000  # a basemap waiting for an event is drawn after this anyway
MARGIN = 0.25  # the basemap reaches this share of the map's extent beyond each side

# property columns each layer keeps on the page
LAYER_PROPERTIES: dict[str, tuple[str, ...]] = {
    "green": (), "water": (), "waterways": ("name",), "railways": ("name",),
    "roads": ("name", "rank"), "buildings": (), "communities": ("name",),
}


def clip_layers(layers: Mapping[str, gpd.GeoDataFrame],
                bounds: list[list[float]] | None) -> dict[str, gpd.GeoDataFrame]:
    """The features of ``layers`` (EPSG:4326) within ``bounds`` ([[south, west], [north,
    east]], degrees) widened by :data:`MARGIN` of its size on each side; all without bounds."""
    if bounds is None:
        return dict(layers)
    (south, west), (north, east) = bounds
    dx, dy = (east - west) * MARGIN + 0.002, (north - south) * MARGIN + 0.002
    return {name: layer.cx[west - dx:east + dx, south - dy:north + dy] if len(layer) else layer
            for name, layer in layers.items()}


def _upright_angle(dx: float, dy: float) -> float:
    """The screen rotation (degrees, clockwise) of text along (dx, dy) in a north-up metric
    CRS, turned so that it never reads upside down."""
    angle = -math.degrees(math.atan2(dy, dx))
    if angle > 95:
        angle -= 180
    elif angle <= -85:  # near-vertical streets all read from the top down
        angle += 180
    return round(angle, 1)


def _label_positions(length: float) -> Iterable[float]:
    if length < LABEL_SPACING_M:
        yield length / 2
        return
    count = int(length // LABEL_SPACING_M)
    start = (length - (count - 1) * LABEL_SPACING_M) / 2
    for i in range(count):
        yield start + i * LABEL_SPACING_M


def street_labels(roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Label points of named streets (EPSG:4326): ``name``, ``angle`` (degrees clockwise),
    ``rank`` (gis.basemap.road_rank, the street's highest).

    Each street's ways are merged by name first, so a street cut into many ways gets labels
    :data:`LABEL_SPACING_M` metres apart rather than one per way; pieces shorter than
    :data:`MIN_LABEL_LENGTH_M` get none.
    """
    empty = gpd.GeoDataFrame(columns=["name", "angle", "rank", "geometry"],
                             geometry="geometry", crs="EPSG:4326")
    if not len(roads):
        return empty
    named = roads[roads["name"].notna() & (roads["name"].astype(str) != "")]
    if not len(named):
        return empty
    metric = named.to_crs(local_metric_crs(named))
    rows = []
    for name, group in metric.groupby("name", sort=False):
        merged = shapely.line_merge(shapely.union_all(group.geometry.values))
        rank = int(group["rank"].min())
        for part in getattr(merged, "geoms", [merged]):
            if part.geom_type != "LineString" or part.length < MIN_LABEL_LENGTH_M:
                continue
            for at in _label_positions(part.length):
                a = part.interpolate(max(at - 5.0, 0.0))
                b = part.interpolate(min(at + 5.0, part.length))
                rows.append({"name": str(name), "rank": rank,
                             "angle": _upright_angle(b.x - a.x, b.y - a.y),
                             "geometry": part.interpolate(at)})
    if not rows:
        return empty
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=metric.crs).to_crs("EPSG:4326")


class BasemapLayer(_Payloads, JSCSSMixin, folium.map.Layer):
    """The basemap, drawn by wangge.basemap (wangge-maps.js) in panes under our layers; a
    basemap drawn after an event (``spec["after"]``) holds its layers as JSON text, which
    the browser reads only then, not while the page's script is parsed."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = wangge.basemap({{ this._parent.get_name() }},
            {{ this.js(this.spec) }}, {
            {%- for name, text in this.data.items() %}
            {{ name }}: {{ this.js(text) if this.spec.get("after") else this.raw(text) }},
            {%- endfor %}
            });
        {% endmacro %}
    """)

    def __init__(self, data: dict[str, str], spec: dict, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "BasemapLayer"
        self.data = data
        self.spec = spec


def basemap_data(layers: Mapping[str, gpd.GeoDataFrame], bounds: list[list[float]] | None,
                 *, datum: str = "wgs84", tolerance_m: float = 0.5,
                 skip: Iterable[str] = ()) -> dict[str, str]:
    """What the basemap of ``layers`` around ``bounds`` draws: layer name -> GeoJSON text
    (street labels under ``labels``), without the layers named in ``skip``; empty when
    nothing is left to draw. The same for every page of the same place: a page may keep it
    and hand it to :func:`basemap_layer`."""
    clipped = {name: layer for name, layer in clip_layers(layers, bounds).items()
               if name in LAYER_PROPERTIES and name not in set(skip)}
    data = {name: feature_collection(layer, LAYER_PROPERTIES[name], tolerance_m=tolerance_m,
                                     datum=datum)
            for name, layer in clipped.items() if len(layer)}
    roads = clipped.get("roads")
    if roads is not None and len(roads):
        labels = street_labels(roads)
        if len(labels):
            data["labels"] = feature_collection(labels, ("name", "angle", "rank"), datum=datum)
    return data


def basemap_layer(layers: Mapping[str, gpd.GeoDataFrame] | None,
                  bounds: list[list[float]] | None,
                  *, lang: str = "zh", datum: str = "wgs84", tolerance_m: float = 0.5,
                  skip: Iterable[str] = (), show: bool = True,
                  after: str | None = None,
                  data: Mapping[str, str] | None = None) -> BasemapLayer | None:
    """The basemap of ``layers`` (gis.basemap.basemap_layers) around ``bounds``, without the
    layers named in ``skip`` (a map that draws buildings itself skips ``buildings``); None
    when nothing is left to draw. With ``after``, the page draws it once the map fires that
    event (or after :data:`AFTER_TIMEOUT_MS` without it). ``data``: what
    :func:`basemap_data` gave for the same arguments, kept (``layers`` are then not read)."""
    if data is None:
        data = basemap_data(layers or {}, bounds, datum=datum, tolerance_m=tolerance_m,
                            skip=skip)
    if not data:
        return None
    spec = {"labelZoom": [ARTERIAL_LABEL_ZOOM, STREET_LABEL_ZOOM, STREET_LABEL_ZOOM + 1],
            "buildingZoom": BUILDING_ZOOM}
    if after:
        spec.update({"after": after, "afterTimeoutMs": AFTER_TIMEOUT_MS})
    return BasemapLayer(dict(data), spec, t("layer.basemap", lang), show=show)


def has_layers(layers: Mapping[str, gpd.GeoDataFrame] | None) -> bool:
    """True when ``layers`` hold any feature to draw."""
    return bool(layers) and any(len(v) for v in (layers or {}).values())
