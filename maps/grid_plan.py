"""View 1, the grid plan: grids coloured by household deviation and labelled with code, worker
and households, over building footprints, community boundaries and barriers."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from maps.base import LegendBuilder, MapOptions, finish, new_map
from maps.geometry import bounds_latlon, require_columns
from maps.i18n import t
from maps.layers import (
    BARRIER_COLOR,
    COMMUNITY_COLOR,
    barriers_layer,
    buildings_layer,
    communities_layer,
    deviation_color,
    deviation_legend,
    grids_layer,
    labels_layer,
    streets_layer,
    worker_names,
)


def grid_plan_map(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None = None, *,
                  workers: pd.DataFrame | None = None,
                  communities: gpd.GeoDataFrame | None = None,
                  barriers: gpd.GeoDataFrame | None = None,
                  streets: gpd.GeoDataFrame | None = None,
                  options: MapOptions | None = None) -> folium.Map:
    """The grid plan map.

    Args:
        grids: the plan's ``grids`` layer (partition.plan_io.read_plan): code, households,
            deviation_pct (percent from target, signed); optional community, population,
            area_m2, polsby_popper, street_boundary_share (0-1), contiguous, worker (names).
        buildings: the plan's ``buildings`` layer: building_id, households; optional name.
        workers: worker_id, name, grids (grid codes: a list or a ";"-separated string); gives
            the worker named on each grid (else ``grids["worker"]``).
        communities: community polygons (gis.export.study_area_layers): code, name.
        barriers: barrier lines/areas: kind, name.
        streets: street centre lines: name.
        options: language, basemap, simplification.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(grids, ["code", "households", "deviation_pct"], "grids")
    grids = grids.assign(worker=worker_names(grids, workers))
    # the plan's buildings are drawn coloured by grid: the basemap's outlines would hide under
    m = new_map(options, bounds_latlon(grids, buildings),
                basemap_skip=("buildings",) if buildings is not None and len(buildings) else ())
    legend = LegendBuilder(t("title.grids", lang))
    if streets is not None and len(streets):
        streets_layer(streets, options).add_to(m)
    grids_layer(grids, options, t("layer.grids", lang),
                fill=deviation_color(grids["deviation_pct"])).add_to(m)
    if buildings is not None and len(buildings):
        buildings_layer(buildings, options, t("layer.buildings", lang)).add_to(m)
    if communities is not None and len(communities):
        communities_layer(communities, options).add_to(m)
    if barriers is not None and len(barriers):
        barriers_layer(barriers, options).add_to(m)
    households = grids["households"].astype(int)
    unit = " 户" if lang == "zh" else " hh"
    labels_layer(grids, [grids["code"], grids["worker"], households.astype(str) + unit],
                 options, t("layer.grid_labels", lang)).add_to(m)
    deviation_legend(legend, lang)
    legend.section(t("layer.grids", lang))
    legend.text(t("legend.grids", lang, len(grids), int(households.sum())))
    if len(grids):
        dev = grids["deviation_pct"].abs()
        legend.text(t("legend.deviation_stats", lang, dev.max(), dev.mean()))
    legend.swatch(t("layer.buildings", lang), fill="#bdbdbd", line="#8d8d8d")
    legend.swatch(t("layer.communities", lang), line=COMMUNITY_COLOR, shape="line", dashed=True)
    legend.swatch(t("layer.barriers", lang), line=BARRIER_COLOR, shape="line")
    return finish(m, options, t("title.grids", lang), legend)
