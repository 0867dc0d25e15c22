"""What every map has, and how a map becomes a page.

Every map: no basemap unless one is configured (maps.tiles), the layers of our own data, a
layer control, a legend with the title, a scale bar, a fullscreen button and the attribution
(gis.osm.ATTRIBUTION). Pages link Leaflet and its plugins from a local
prefix (maps.assets): ``/static/maps/`` when the service serves them, or a folder written beside
a standalone file. No page makes a request to another host unless a basemap is configured.
"""

from __future__ import annotations

import html
import json
import shutil
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import folium
import folium.plugins
import geopandas as gpd
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from gis.osm import ATTRIBUTION
from maps import assets
from maps.i18n import check_lang, t
from maps.tiles import TileProvider, resolve_tiles

LABEL_ZOOM = 16  # labels (grid code, worker, households) are drawn from this zoom level on
CANVAS_ABOVE = 2000  # a layer with more features is drawn on a canvas, not as SVG elements
MAX_ZOOM = 20


def script_json(value: object) -> str:
    """``value`` as JSON safe inside a <script> element (Chinese kept readable)."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


class _Payloads(Element):
    """Puts data into the page after Folium renders it. Branca turns each element's rendered
    script into a new Jinja template, so data put in directly would be parsed again as a
    template (slow for megabytes, and wrong for a name holding "{{"); a token stands in for it
    until :func:`page_html` swaps the data in."""

    def js(self, value: object) -> str:
        """A token for ``value`` as JSON."""
        return self.raw(script_json(value))

    def raw(self, text: str) -> str:
        """A token for ``text``, JavaScript already (GeoJSON from maps.geometry)."""
        token = f"__wangge_payload_{uuid.uuid4().hex}__"
        self.get_root().__dict__.setdefault("wangge_payloads", {})[token] = text
        return token


@dataclass(frozen=True)
class MapOptions:
    """How a map is drawn.

    Attributes:
        lang: "zh" (default) or "en".
        tiles: None (no basemap), "osm", "tianditu", "gaode", a URL template or a TileProvider.
        tiles_key: the key for providers that need one (Tianditu).
        tolerance_m: buildings and lines are simplified by this many metres before they are
            drawn (Douglas-Peucker).
        grid_tolerance_m: grids are simplified together as a coverage by about this many
            metres (shapely.coverage_simplify), so neighbours keep sharing their edges.
        basemap: the study area's basemap layers (gis.basemap.basemap_layers, EPSG:4326),
            drawn under the map's own layers (maps.basemap); shown by default when no tiles
            are configured, in the layer control either way.
    """

    lang: str = "zh"
    tiles: str | TileProvider | None = None
    tiles_key: str | None = None
    tolerance_m: float = 0.5
    grid_tolerance_m: float = 3.0
    basemap: Mapping[str, gpd.GeoDataFrame] | None = None

    def provider(self) -> TileProvider | None:
        """The basemap's tile provider; None for a map without basemap."""
        return resolve_tiles(self.tiles, self.tiles_key)

    @property
    def datum(self) -> str:
        """The datum our layers are drawn in: the basemap's (GCJ-02 for Gaode), else WGS84."""
        provider = self.provider()
        return provider.datum if provider else "wgs84"


class FeatureLayer(_Payloads, JSCSSMixin, folium.map.Layer):
    """A GeoJSON layer drawn by wangge-maps.js: style from ``spec["style"]`` and the
    ``_color``/``_fill`` properties, tooltip and popup tables from ``spec["tooltip"]`` /
    ``spec["popup"]`` ([[property, label], ...]), points as circles or ``_html`` div icons,
    clustered with ``spec["cluster"]``. ``data`` is GeoJSON text (maps.geometry)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = wangge.featureLayer({{ this._parent.get_name() }},
            {{ this.js(this.spec) }}, {{ this.raw(this.data) }});
        {% endmacro %}
    """)

    def __init__(self, data: str, spec: dict, name: str, show: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "FeatureLayer"
        self.data = data
        self.spec = spec
        if spec.get("cluster"):
            self.default_js = [("markerclusterjs", "")]
            self.default_css = [("markerclustercss", ""), ("markerclusterdefaultcss", "")]


class CategoryFilter(_Payloads, MacroElement):
    """Check boxes that keep in a clustered FeatureLayer only the markers of ticked values."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        wangge.categoryFilter({{ this._parent.get_name() }}, {{ this.layer.get_name() }},
            {{ this.js(this.prop) }}, {{ this.js(this.choices) }}, {{ this.js(this.title) }});
        {% endmacro %}
    """)

    def __init__(self, layer: FeatureLayer, prop: str, choices: list[tuple[str, str, int]],
                 title: str):
        super().__init__()
        self._name = "CategoryFilter"
        self.layer, self.prop, self.choices, self.title = layer, prop, choices, title


class Panel(_Payloads, MacroElement):
    """A panel (the legend, a route summary) with HTML made by :class:`LegendBuilder`."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        wangge.legend({{ this._parent.get_name() }}, {{ this.js(this.html) }},
            {{ this.js(this.position) }});
        {% endmacro %}
    """)

    def __init__(self, html_text: str, position: str = "bottomright"):
        super().__init__()
        self._name = "Panel"
        self.html = html_text
        self.position = position


class Frame(_Payloads, JSCSSMixin, MacroElement):
    """Loads wangge-maps.js/css and, once the layers exist, sets the attribution, language,
    title and view (wangge.frame)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        wangge.frame({{ this._parent.get_name() }}, {{ this.js(this.opts) }});
        {% endmacro %}
    """)

    def __init__(self, opts: dict):
        super().__init__()
        self._name = "Frame"
        self.default_js = [("wangge_js", "")]
        self.default_css = [("wangge_css", "")]
        self.opts = opts


class LegendBuilder:
    """Builds the legend's HTML: a title, then sections of swatches and lines of text."""

    def __init__(self, title: str):
        self.parts = [f"<details open><summary>{html.escape(title)}</summary>"]

    def section(self, heading: str) -> LegendBuilder:
        """Start a section under ``heading``."""
        self.parts.append(f"<h4>{html.escape(heading)}</h4>")
        return self

    def swatch(self, label: str, fill: str | None = None, line: str | None = None,
               shape: str = "box", dashed: bool = False) -> LegendBuilder:
        """A row with a swatch (``shape`` box, line or dot; CSS colours) and its label."""
        cls = {"box": "", "line": " wg-line", "dot": " wg-dot"}[shape]
        style = [f"background:{fill}" if fill else "background:transparent"]
        if line:
            style.append(f"border-color:{line}")
        if dashed:
            style.append("border-style:dashed")
        self.parts.append(f"<div class='wg-row'><span class='wg-swatch{cls}' "
                          f"style='{';'.join(style)}'></span>{html.escape(label)}</div>")
        return self

    def text(self, line: str) -> LegendBuilder:
        """A row of plain text."""
        self.parts.append(f"<div>{html.escape(line)}</div>")
        return self

    def html(self) -> str:
        """The legend's HTML so far, closed."""
        return "".join(self.parts) + "</details>"


class WanggeMap(folium.Map):
    """A folium map that carries what :func:`finish` and :func:`page_html` draw its frame with."""

    wangge_bounds: list[list[float]] | None = None  # [[south, west], [north, east]], degrees
    wangge_title = "Wangge"
    wangge_lang = "zh"


def new_map(options: MapOptions, bounds: list[list[float]] | None,
            basemap_skip: Iterable[str] = (), basemap_after: str | None = None,
            basemap_data: Mapping[str, str] | None = None) -> WanggeMap:
    """An empty map with the scale bar, fullscreen button and, when configured, a basemap:
    the vector basemap of ``options.basemap`` (without its layers named in ``basemap_skip``:
    a map drawing buildings itself skips ``buildings``; drawn once the map fires the event
    ``basemap_after`` when given, so that a page's own layers come first) and tiles.
    ``basemap_data``: the basemap as maps.basemap.basemap_data made it for these bounds,
    options and skipped layers, kept by the caller (``options.basemap`` is then not read).

    ``bounds`` is [[south, west], [north, east]] in WGS84 degrees (maps.geometry.bounds_latlon).
    """
    check_lang(options.lang)
    provider = options.provider()
    centre = ([(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
              if bounds else [32.04, 118.78])
    m = WanggeMap(location=centre, zoom_start=15, tiles=None, control_scale=True,
                  prefer_canvas=False)
    # Folium gives max_zoom to its tile layer only; marker clustering needs it on the map.
    m.options.update(maxZoom=MAX_ZOOM, minZoom=3)
    if provider is not None:
        folium.TileLayer(tiles=provider.url, attr=provider.attribution,
                         name=t("layer.tiles", options.lang), subdomains=provider.subdomains,
                         max_zoom=MAX_ZOOM, max_native_zoom=provider.max_zoom, overlay=False,
                         control=True).add_to(m)
    if options.basemap or basemap_data:
        from maps.basemap import basemap_layer  # maps.basemap builds on this module

        layer = basemap_layer(options.basemap, bounds, lang=options.lang, datum=options.datum,
                              tolerance_m=options.tolerance_m, skip=basemap_skip,
                              show=provider is None, after=basemap_after, data=basemap_data)
        if layer is not None:
            layer.add_to(m)
    folium.plugins.Fullscreen(position="topleft", title=t("fullscreen.title", options.lang),
                              title_cancel=t("fullscreen.cancel", options.lang)).add_to(m)
    m.wangge_bounds = bounds
    return m


def finish(m: WanggeMap, options: MapOptions, title: str, legend: LegendBuilder) -> folium.Map:
    """Add the legend, the layer control and the frame (attribution, language, view)."""
    Panel(legend.html(), "bottomright").add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    attribution = ATTRIBUTION
    provider = options.provider()
    if provider is not None and provider.attribution != ATTRIBUTION:
        attribution = f"{ATTRIBUTION} | {provider.attribution}"
    Frame({"lang": options.lang, "title": title, "attribution": attribution,
           "bounds": m.wangge_bounds}).add_to(m)
    m.wangge_title = title
    m.wangge_lang = options.lang
    return m


def _walk(element: Element) -> Iterable[Element]:
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _localise(m: folium.Map, prefix: str) -> set[str]:
    """Point every script and style sheet of the map at ``prefix``; return the names used."""
    used = set()
    for element in _walk(m):
        if not isinstance(element, JSCSSMixin):
            continue
        for attr in ("default_js", "default_css"):
            links = []
            for name, _url in getattr(element, attr):
                url = assets.local_url(name, prefix)
                if url is not None:
                    links.append((name, url))
                    used.add(name)
            setattr(element, attr, links)
    return used


def page_html(m: folium.Map, asset_prefix: str = assets.SERVED_PREFIX) -> str:
    """The map as a complete HTML page whose scripts and styles are under ``asset_prefix``
    (the service: ``/static/maps/``, serving :func:`maps.assets.ensure_assets`'s folder)."""
    _localise(m, asset_prefix)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.title = getattr(m, "wangge_title", "Wangge")
    # _Payloads.raw fills this while the figure renders.
    payloads: dict[str, str] = {}
    figure.__dict__["wangge_payloads"] = payloads
    text = figure.render()
    for token, payload in payloads.items():
        text = text.replace(token, payload, 1)
    lang = "en" if getattr(m, "wangge_lang", "zh") == "en" else "zh-CN"
    text = text.replace("<html>", f'<html lang="{lang}">', 1)
    # An empty icon: browsers would otherwise ask the server for /favicon.ico.
    return text.replace("<head>", '<head>\n<link rel="icon" href="data:,">', 1)


def save_standalone(m: folium.Map, path: str | Path, data_dir: str | Path | None = None) -> Path:
    """Write the map to ``path`` with its scripts and styles copied into ``<stem>_files/``
    beside it, so that the file opened from disk makes no request to any host.

    Raises:
        maps.assets.AssetsError: the assets cannot be gathered (npm missing, no network).
    """
    path = Path(path)
    folder_name = f"{path.stem}_files"
    used = _localise(m, f"{folder_name}/")
    text = page_html(m, f"{folder_name}/")
    source = assets.ensure_assets(data_dir)
    folder = path.parent / folder_name
    if folder.exists():
        shutil.rmtree(folder)
    for top in sorted(assets.files_for(used)):
        shutil.copytree(source / top, folder / top)
    path.write_text(text, encoding="utf-8")
    return path


def heat_layer(points: Sequence[Sequence[float]], name: str, show: bool = False,
               radius: int = 22) -> folium.plugins.HeatMap:
    """A heat map of [lat, lon] or [lat, lon, weight] points (Leaflet.heat)."""
    return folium.plugins.HeatMap([list(p) for p in points], name=name, show=show,
                                  radius=radius, blur=15, min_opacity=0.35, overlay=True)
