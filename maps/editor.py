"""The plan editor's page: a draft plan's grids and buildings, which wangge-editor.js lets
street offices change by hand through the service's editor API (api.services.editor).

The page draws the grids (filled by deviation, as on the grid map) and the buildings (outlined
in their grid's colour), and a panel: the plan's figures, the per-grid table (households,
population, deviation, buildings, worker, lock), selection by click, shift-click, box or lasso,
move, split, merge, undo, redo, re-balance with a progress bar, messages with the reason of a
refused edit (the buildings at fault outlined on the map), the diff against the active plan and
its CSV. Every edit answers with the figures and polygons it changed, which the page draws at
once. Box and lasso selection are a few lines of our own script (a point-in-polygon test on
the buildings' centres) rather than a drawing plugin: no maintained Leaflet lasso package is
among the pinned map assets, and selecting needs no shape editing.

Opening fast (10,000 buildings): the page's <head> starts the editor's three requests before
Leaflet loads; the footprints come packed as integers (maps.geometry.packed_polygons, about
a fifth of their GeoJSON) and are drawn as one canvas path per style that finds the building
under the mouse itself (wangge-editor.js ``Footprints``), not as 10,000 Leaflet layers; the
basemap is read and drawn once the draft is on screen.
"""

from __future__ import annotations

from collections.abc import Mapping

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from maps.base import LegendBuilder, MapOptions, _Payloads, finish, new_map, script_json
from maps.i18n import t, texts
from maps.layers import DEVIATION_BREAKS, DEVIATION_COLORS, deviation_legend
from partition.metrics import BALANCE_LIMIT_PCT

READY_EVENT = "wgeditorready"  # fired on the map once the editor has drawn the draft
BASEMAP_SKIP = ("buildings",)  # the editor draws the buildings itself


class EditorLayer(_Payloads, JSCSSMixin, MacroElement):
    """The editor (wangge-editor.js) on the map, with its options (the API's addresses)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        wanggeEditor.start({{ this._parent.get_name() }}, {{ this.js(this.opts) }});
        {% endmacro %}
    """)

    def __init__(self, opts: dict):
        super().__init__()
        self._name = "EditorLayer"
        self.default_js = [("wangge_editor_js", "")]
        self.default_css = [("wangge_editor_css", "")]
        self.opts = opts


def early_requests(urls: dict[str, str]) -> str:
    """A <script> for the page's <head> that starts the editor's requests (``urls``: name ->
    address) at once, while Leaflet and the page's scripts load; wangge-editor.js takes their
    answers from ``window.wgEditorFetch``."""
    return ("<script>window.wgEditorFetch = (function (u) { var o = {credentials: "
            "'same-origin'}, out = {}; Object.keys(u).forEach(function (k) { out[k] = "
            f"fetch(u[k], o); }}); return out; }})({script_json(urls)});</script>")


def editor_map(bounds: list[list[float]] | None, *, plan_id: int, name: str = "",
               api_prefix: str = "", options: MapOptions | None = None,
               basemap_data: Mapping[str, str] | None = None) -> folium.Map:
    """The plan editor page of draft ``plan_id``.

    The page holds nothing that editing changes, nor the buildings: its <head> starts three
    requests to the service at once (the draft's state: each building's grid and the grids'
    figures; the grid polygons; the buildings' footprints, packed by
    maps.geometry.packed_polygons), so one page serves every version of the draft and the
    data come while Leaflet loads. The basemap is drawn once the editor has drawn the draft.

    Args:
        bounds: [[south, west], [north, east]] around the draft's buildings (WGS84 degrees,
            maps.geometry.bounds_latlon): the first view, and the basemap's extent.
        plan_id: the draft plan, whose editor API the page calls
            (``{api_prefix}/plans/{plan_id}/editor``).
        name: the plan's name, shown in the panel.
        api_prefix: where the service's API is ("" on the same host and path root).
        options: language (and basemap, as every map).
        basemap_data: the basemap made ahead (maps.basemap.basemap_data of these bounds,
            without buildings, in the options' datum and tolerance), instead of
            ``options.basemap``.
    """
    options = options or MapOptions()
    lang = options.lang
    m = new_map(options, bounds, basemap_skip=BASEMAP_SKIP, basemap_after=READY_EVENT,
                basemap_data=basemap_data)
    api = f"{api_prefix}/plans/{plan_id}/editor"
    urls = {"state": api, "grids": f"{api}/grids", "footprints": f"{api}/footprints"}
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.header.add_child(Element(early_requests(urls)), name="wangge_editor_requests")
    opts = {"plan": plan_id, "name": name, "lang": lang, "api": api,
            "jobs": f"{api_prefix}/jobs/", "gridsUrl": urls["grids"],
            "footprintsUrl": urls["footprints"],
            "breaks": list(DEVIATION_BREAKS), "colors": list(DEVIATION_COLORS),
            "limit": BALANCE_LIMIT_PCT, "text": texts("editor", lang)}
    EditorLayer(opts).add_to(m)
    title = t("title.editor", lang)
    legend = LegendBuilder(title)
    deviation_legend(legend, lang)
    return finish(m, options, title, legend)
