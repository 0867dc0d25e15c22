"""The public grid notice (网格公示): one grid's boundary on the basemap and, below the map,
what the street office publishes about it (its worker, party members, the month's figures,
how to report), in Chinese with English.

The map draws only the grid's outline with its code in the tooltip; everything else on the
page comes from the ``sections`` given, escaped: this view adds no property of its own, so
what a caller leaves out of the sections is nowhere on the page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import folium
import geopandas as gpd
from branca.element import Element

from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, feature_collection, require_columns

NOTICE_CSS = """<style>
.wg-notice{box-sizing:border-box;height:45%;overflow:auto;padding:8px 14px;
  font:15px/1.5 "Noto Sans CJK SC","WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;
  color:#212121;background:#fafafa;border-top:3px solid #c62828}
.wg-notice h1{font-size:19px;margin:4px 0 6px}
.wg-notice h2{font-size:16px;margin:10px 0 2px;color:#b71c1c}
.wg-notice p{margin:2px 0}
.wg-notice a{color:#0d47a1}
</style>"""


@dataclass(frozen=True)
class NoticeSection:
    """A section of the notice: a heading, lines of text, and links (label, href)."""

    heading: str
    lines: Sequence[str] = ()
    links: Sequence[tuple[str, str]] = field(default_factory=tuple)


def notice_html(title: str, sections: Sequence[NoticeSection]) -> str:
    """The notice below the map as HTML: every text escaped, links as given."""
    parts = [f"<section class='wg-notice' id='wg-notice'><h1>{html.escape(title)}</h1>"]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.heading)}</h2>")
        parts.extend(f"<p>{html.escape(line)}</p>" for line in s.lines)
        parts.extend(f"<p><a href='{html.escape(href, quote=True)}'>{html.escape(label)}</a></p>"
                     for label, href in s.links)
    return "".join(parts) + "</section>"


def grid_notice_map(grid: gpd.GeoDataFrame, sections: Sequence[NoticeSection], *,
                    title: str, options: MapOptions | None = None) -> folium.Map:
    """The public notice of one grid: its outline over the basemap, the notice below.

    Args:
        grid: the grid's polygon (any defined CRS) with ``code``; no other column is drawn.
        sections: what the notice says (:class:`NoticeSection`), in order.
        title: the page's and the notice's title.
        options: language of the map's controls, basemap.
    """
    options = options or MapOptions()
    require_columns(grid, ["code"], "grid")
    m = new_map(options, bounds_latlon(grid))
    m.height = (55.0, "%")
    data = feature_collection(grid, ["code"], datum=options.datum)
    spec = {"style": {"color": "#c62828", "weight": 3, "fillOpacity": 0.08,
                      "fillColor": "#ef9a9a"},
            "tooltip": [["code", "网格编码 Grid code"]]}
    FeatureLayer(data, spec, "网格 Grid").add_to(m)
    legend = LegendBuilder(title).swatch("网格边界 Grid boundary", fill="#ef9a9a",
                                         line="#c62828")
    finish(m, options, title, legend)
    root = m.get_root()
    root.header.add_child(Element(NOTICE_CSS), name="wg_notice_css")  # type: ignore[attr-defined]
    root.html.add_child(Element(notice_html(title, sections)),  # type: ignore[attr-defined]
                        name="wg_notice")
    return m
