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
"""

from __future__ import annotations

import folium
import geopandas as gpd
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from maps.base import LegendBuilder, MapOptions, _Payloads, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns
from maps.i18n import t, texts
from maps.layers import DEVIATION_BREAKS, DEVIATION_COLORS, deviation_legend
from partition.metrics import BALANCE_LIMIT_PCT


class EditorLayer(_Payloads, JSCSSMixin, MacroElement):
    """The editor (wangge-editor.js) on the map: its options, grids and buildings as GeoJSON
    text (maps.geometry)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        wanggeEditor.start({{ this._parent.get_name() }}, {{ this.js(this.opts) }},
            {{ this.raw(this.grids) }}, {{ this.raw(this.buildings) }});
        {% endmacro %}
    """)

    def __init__(self, opts: dict, grids: str, buildings: str):
        super().__init__()
        self._name = "EditorLayer"
        self.default_js = [("wangge_editor_js", "")]
        self.default_css = [("wangge_editor_css", "")]
        self.opts, self.grids, self.buildings = opts, grids, buildings


def editor_map(buildings: gpd.GeoDataFrame, *, plan_id: int, name: str = "",
               grids: gpd.GeoDataFrame | None = None, api_prefix: str = "",
               options: MapOptions | None = None) -> folium.Map:
    """The plan editor page of draft ``plan_id``.

    The page holds what does not change while the draft is edited: the buildings' footprints
    (and the basemap). Each building's grid, the grids' figures and their polygons are read
    from the service when the page opens (and after each edit), so one page serves every
    version of the draft.

    Args:
        buildings: the draft's buildings (any CRS): building_id, households.
        plan_id: the draft plan, whose editor API the page calls
            (``{api_prefix}/plans/{plan_id}/editor``).
        name: the plan's name, shown in the panel.
        grids: grid polygons (code) to draw before the service's answer comes; optional.
        api_prefix: where the service's API is ("" on the same host and path root).
        options: language (and basemap, as every map).
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(buildings, ["building_id", "households"], "buildings")
    m = new_map(options, bounds_latlon(buildings), basemap_skip=("buildings",))
    grid_text = (feature_collection(grids, ["code"], datum=options.datum)
                 if grids is not None and len(grids) else
                 '{"type":"FeatureCollection","features":[]}')
    building_text = feature_collection(buildings, ["building_id", "households"],
                                       tolerance_m=options.tolerance_m, datum=options.datum)
    opts = {"plan": plan_id, "name": name, "lang": lang,
            "api": f"{api_prefix}/plans/{plan_id}/editor", "jobs": f"{api_prefix}/jobs/",
            "gridsUrl": f"{api_prefix}/plans/{plan_id}/editor/grids",
            "breaks": list(DEVIATION_BREAKS), "colors": list(DEVIATION_COLORS),
            "limit": BALANCE_LIMIT_PCT, "text": texts("editor", lang)}
    EditorLayer(opts, grid_text, building_text).add_to(m)
    title = t("title.editor", lang)
    legend = LegendBuilder(title)
    deviation_legend(legend, lang)
    return finish(m, options, title, legend)
