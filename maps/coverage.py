"""View 5, coverage gaps for planners: buildings without a grid or a worker, grids over or under
the household target, households without a party member, buildings farther than a set walk
from every service point, and hot spots of overdue incidents."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from maps.base import FeatureLayer, LegendBuilder, MapOptions, finish, heat_layer, new_map
from maps.geometry import bounds_latlon, display_geometry, feature_collection, require_columns
from maps.i18n import metres, t
from maps.incidents import deadline_status
from maps.layers import buildings_layer, grids_layer, worker_names
from maps.walking import walk_distance_m
from partition.metrics import BALANCE_LIMIT_PCT

DEFAULT_WALK_LIMIT_M = 500.0
GAP_COLORS = {"no_grid": "#d50000", "over": "#b2182b", "under": "#2166ac",
              "no_member": "#ff6f00", "far": "#6a1b9a"}


def _buildings_without_grid(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                            workers: pd.DataFrame | None, lang: str) -> gpd.GeoDataFrame:
    """Homes whose grid is missing, or (with ``workers`` or a ``worker`` column on the grids)
    has no worker."""
    grid_ids = set(grids["grid_id"].astype(str)) if "grid_id" in grids else set()
    has_grid = buildings["grid_id"].notna() & buildings["grid_id"].astype(str).isin(grid_ids)
    problem = pd.Series(np.where(has_grid, "", t("v.no_grid", lang)), index=buildings.index)
    if (workers is not None and len(workers)) or "worker" in grids:
        staffed = grids.loc[worker_names(grids, workers) != "", "grid_id"].astype(str)
        no_worker = has_grid & ~buildings["grid_id"].astype(str).isin(set(staffed))
        problem[no_worker] = t("v.no_worker", lang)
    homes = buildings["households"].fillna(0) > 0
    keep = (problem != "") & homes
    # Assign the filtered series: an empty selection must stay empty (pandas 3 would align a
    # full-length series onto an empty frame and bring every row back without geometry).
    return buildings[keep].assign(problem=problem[keep])


def _without_member(buildings: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Buildings with households whose representative point lies in no party zone."""
    homes = buildings[buildings["households"].fillna(0) > 0]
    points = gpd.GeoDataFrame(geometry=homes.geometry.representative_point(), crs=homes.crs)
    inside = gpd.sjoin(points, zones[["geometry"]].to_crs(homes.crs), predicate="within",
                       how="inner")
    return homes[~homes.index.isin(inside.index)]


def coverage_map(grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *,
                 workers: pd.DataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
                 service_points: gpd.GeoDataFrame | None = None,
                 streets: gpd.GeoDataFrame | None = None,
                 walk_limit_m: float = DEFAULT_WALK_LIMIT_M,
                 incidents: gpd.GeoDataFrame | None = None,
                 tolerance_pct: float = BALANCE_LIMIT_PCT,
                 now: pd.Timestamp | str | None = None,
                 options: MapOptions | None = None) -> folium.Map:
    """The coverage-gap map; each kind of gap is a layer, and the legend counts them.

    Args:
        grids: the plan's grids: grid_id, code, households, deviation_pct (percent).
        buildings: the plan's buildings: building_id, grid_id, households.
        workers: worker_id, name, grids (codes); or a ``worker`` column (names) on ``grids``.
            Homes in grids without a worker are gaps.
        zones: party member zones (polygons; see maps.party_zones) - homes outside every zone
            are gaps.
        service_points: points (optional column name) such as the community service station.
        streets: street centre lines split at junctions (gis.export.study_area_layers); walking
            distances follow them. Without streets the straight-line distance is used and the
            legend says so.
        walk_limit_m: buildings farther than this walk (metres) from every service point are
            gaps.
        incidents: incidents (see maps.incidents); the overdue ones make the hot-spot heat map.
        tolerance_pct: grids whose |deviation_pct| exceeds this are over or under target.
        now: the time deadlines are judged at (default: now).
        options: language, basemap, simplification.
    """
    options = options or MapOptions()
    lang = options.lang
    require_columns(grids, ["grid_id", "code", "households", "deviation_pct"], "grids")
    require_columns(buildings, ["building_id", "grid_id", "households"], "buildings")
    m = new_map(options, bounds_latlon(grids, buildings))
    legend = LegendBuilder(t("title.coverage", lang))
    unit = "户" if lang == "zh" else "households"

    balance = np.where(grids["deviation_pct"] > tolerance_pct, "over",
                       np.where(grids["deviation_pct"] < -tolerance_pct, "under", ""))
    fill = pd.Series(balance, index=grids.index).map(
        {"over": GAP_COLORS["over"], "under": GAP_COLORS["under"], "": "#ffffff"})
    grids_layer(grids.assign(worker=worker_names(grids, workers)), options,
                t("layer.balance", lang), fill=fill,
                style={"color": "#455a64", "weight": 1, "fillOpacity": 0.45}).add_to(m)
    legend.section(t("legend.tolerance", lang, f"{tolerance_pct:g}"))
    legend.swatch(f"{t('v.over', lang)} {int((balance == 'over').sum())}",
                  fill=GAP_COLORS["over"], line="#455a64")
    legend.swatch(f"{t('v.under', lang)} {int((balance == 'under').sum())}",
                  fill=GAP_COLORS["under"], line="#455a64")

    gaps = _buildings_without_grid(grids, buildings, workers, lang)
    buildings_layer(gaps, options, t("layer.no_grid", lang),
                    color=pd.Series(GAP_COLORS["no_grid"], index=gaps.index),
                    extra={"grid_id": "f.code", "problem": "f.problem"}).add_to(m)
    legend.section(t("layer.no_grid", lang))
    legend.swatch(t("legend.summary", lang, len(gaps), int(gaps["households"].sum())),
                  fill=GAP_COLORS["no_grid"])

    if zones is not None:
        lonely = _without_member(buildings, zones)
        buildings_layer(lonely, options, t("layer.no_member", lang),
                        color=pd.Series(GAP_COLORS["no_member"], index=lonely.index),
                        extra={"grid_id": "f.code"}).add_to(m)
        legend.section(t("layer.no_member", lang))
        legend.swatch(t("legend.summary", lang, len(lonely), int(lonely["households"].sum())),
                      fill=GAP_COLORS["no_member"])

    if service_points is not None and len(service_points):
        _far_layers(m, legend, buildings, service_points, streets, walk_limit_m, options)

    if incidents is not None and len(incidents):
        overdue = incidents[deadline_status(incidents, now) == "overdue"]
        overdue = overdue[~overdue["stage"].isin({"closed", "rejected"})]
        if len(overdue):
            pts = display_geometry(overdue.to_crs("EPSG:4326").geometry.values, options.datum)
            heat_layer([[p.y, p.x] for p in pts], t("layer.overdue_heat", lang),
                       show=True).add_to(m)
        legend.section(t("layer.overdue_heat", lang))
        legend.text(f"{t('deadline.overdue', lang)} {len(overdue)}")
    legend.text(f"{t('layer.buildings', lang)} {len(buildings)} · "
                f"{int(buildings['households'].fillna(0).sum())} {unit}")
    return finish(m, options, t("title.coverage", lang), legend)


def _far_layers(m: folium.Map, legend: LegendBuilder, buildings: gpd.GeoDataFrame,
                service_points: gpd.GeoDataFrame, streets: gpd.GeoDataFrame | None,
                walk_limit_m: float, options: MapOptions) -> None:
    """The buildings beyond ``walk_limit_m`` of every service point, and the points."""
    lang = options.lang
    homes = buildings[buildings["households"].fillna(0) > 0]
    if streets is not None and len(streets):
        walk = walk_distance_m(streets, service_points, homes)
        note = ""
    else:
        metric = homes.estimate_utm_crs() if len(homes) else "EPSG:3857"
        pts = service_points.to_crs(metric).geometry.union_all()
        walk = homes.to_crs(metric).geometry.representative_point().distance(pts).to_numpy()
        note = t("legend.straight", lang)
    far = homes[walk > walk_limit_m].assign(
        walk=[t("v.unreachable", lang) if np.isinf(w) else metres(w, lang)
              for w in walk[walk > walk_limit_m]])
    buildings_layer(far, options, t("layer.far", lang),
                    color=pd.Series(GAP_COLORS["far"], index=far.index),
                    extra={"walk": "f.walk"}).add_to(m)
    names = service_points.get("name", pd.Series("", index=service_points.index))
    points = service_points.assign(name=names.fillna("").astype(str),
                                   _html="<div class='wg-service'></div>")
    FeatureLayer(feature_collection(points, ["name", "_html"], datum=options.datum),
                 {"point": "icon", "iconSize": [18, 18],
                  "tooltip": [["name", t("f.name", lang)]]},
                 t("layer.service_points", lang)).add_to(m)
    legend.section(t("legend.far_limit", lang, f"{walk_limit_m:g}") + note)
    legend.swatch(t("legend.summary", lang, len(far), int(far["households"].sum())),
                  fill=GAP_COLORS["far"])
    legend.swatch(t("layer.service_points", lang), fill="#6a1b9a", shape="dot")
