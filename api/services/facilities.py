"""Facilities: the dataset of garbage points, service stations, activity rooms, canteens and
clinics (dispatch.facilities), who walks how far to them, and where new ones should go.

Facilities are imported from a file (GeoJSON, GeoPackage, zipped Shapefile, CSV, OSM) or from
a dataset's OSM file, or placed one by one; an import is one transaction, so a bad row keeps
nothing. Coverage, siting and scores are measured on the active plan: its buildings (homes
are those with households) and its dataset's walk network (api.services.dispatcher, built
once per process). A worker sees the coverage of the homes in their own grids; siting is for
the office. Siting runs in the request with the solver's time limit (at most 120 s): a
10,000-building district with 2,000 candidates answers in 2-8 s at walks up to 500 m, but at
1,000 m with few facilities CBC can overrun the limit by a minute or more while it solves the
root LP (bench/facility_results.md).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import geopandas as gpd
import shapely
from shapely.geometry import Point
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.schemas import (
    FacilityCoverageOut,
    FacilityImportOut,
    FacilityIn,
    FacilityOut,
    ProposedSite,
    ScoreIn,
    ScoreOut,
    SitingIn,
    SitingOut,
    TypeCoverageOut,
)
from api.services.basemap import BasemapStore
from api.services.dispatcher import walk_network
from api.services.maps import plan_layers
from api.settings import Settings
from api.store import models as m
from api.store.facilities import facilities_frame, save_facilities
from api.store.plans import active_plan
from dispatch.facilities import siting
from dispatch.facilities.coverage import facility_coverage
from dispatch.facilities.reading import read_facilities
from dispatch.facilities.types import FACILITY_TYPES, walking_distance
from dispatch.routing.network import WalkNetwork

SUFFIXES = (".csv", ".geojson", ".json", ".gpkg", ".zip", ".osm", ".osm.bz2", ".osm.pbf",
            ".pbf")
CHUNK = 1024 * 1024


def facility_out(row: m.FacilityRow) -> FacilityOut:
    """The API's view of a facility row."""
    return FacilityOut(id=row.id, type=row.type, name=row.name, source=row.source,
                       source_ref=row.source_ref, lon=row.geom.x, lat=row.geom.y)


def list_facilities(session: Session, type_: str | None, limit: int,
                    offset: int) -> list[FacilityOut]:
    """A page of the facilities (of one type), by id."""
    from sqlalchemy import select

    query = select(m.FacilityRow).order_by(m.FacilityRow.id)
    if type_ is not None:
        query = query.where(m.FacilityRow.type == type_)
    return [facility_out(r) for r in session.scalars(query.limit(limit).offset(offset))]


def create_facility(session: Session, who: Principal, body: FacilityIn) -> FacilityOut:
    """Add one facility placed by hand; committed."""
    row = m.FacilityRow(type=body.type, name=body.name, source="manual",
                        created_by=who.token_id)
    row.set_geometry(Point(body.lon, body.lat))
    session.add(row)
    session.flush()
    out = facility_out(row)
    session.commit()
    return out


def delete_facility(session: Session, facility_id: int) -> None:
    """Delete a facility (404 when there is none); committed."""
    row = session.get(m.FacilityRow, facility_id)
    if row is None:
        raise not_found("设施", "facility", facility_id)
    session.delete(row)
    session.commit()


def _store(session: Session, frame: gpd.GeoDataFrame, token_id: int,
           replace: bool) -> FacilityImportOut:
    ids, removed = save_facilities(session, frame, token_id=token_id, replace=replace)
    session.commit()
    counts = Counter(frame["type"])
    return FacilityImportOut(created=len(ids), replaced=removed,
                             by_type={k: counts[k] for k in FACILITY_TYPES if counts[k]},
                             ids=ids)


def _safe_name(filename: str | None) -> str:
    name = Path(filename or "upload").name
    if not name.lower().endswith(SUFFIXES):
        raise ApiError(422, "bad_format",
                       f"不支持的设施文件类型：{name}（支持 {' '.join(SUFFIXES)}）",
                       f"unsupported facility file type: {name} "
                       f"(supported: {' '.join(SUFFIXES)})")
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def import_file(session: Session, settings: Settings, who: Principal, filename: str | None,
                upload: BinaryIO, datum: str, replace: bool) -> FacilityImportOut:
    """Facilities from an uploaded file (dispatch.facilities.reading: 422 naming the row for
    bad input, nothing kept); committed in one transaction."""
    name = _safe_name(filename)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".facilities-", dir=settings.data_dir))
    try:
        size = 0
        with (folder / name).open("wb") as out:
            while chunk := upload.read(CHUNK):
                size += len(chunk)
                if size > settings.max_upload_bytes:
                    mb = settings.max_upload_bytes / 1024 / 1024
                    raise ApiError(413, "upload_too_large", f"上传文件超过上限 {mb:g} MB",
                                   f"upload larger than the limit of {mb:g} MB")
                out.write(chunk)
        frame = read_facilities(folder / name, datum=datum)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _store(session, frame, who.token_id, replace)


def import_osm(session: Session, settings: Settings, who: Principal, dataset_id: int | None,
               replace: bool) -> FacilityImportOut:
    """Facilities from a dataset's OSM file (default: the active plan's); committed."""
    if dataset_id is None:
        plan = active_plan(session)
        if plan is None:
            raise ApiError(404, "no_active_plan", "尚无启用的网格方案：请指定数据集 dataset_id",
                           "there is no active plan: give a dataset_id")
        dataset_id = plan.dataset_id
    dataset = session.get(m.DatasetRow, dataset_id)
    if dataset is None:
        raise not_found("数据集", "dataset", dataset_id)
    from gis.osm import is_osm_path

    if not is_osm_path(dataset.filename):
        raise ApiError(422, "not_osm", f"数据集 {dataset_id} 不是 OSM 文件，无法读取设施",
                       f"dataset {dataset_id} is no OSM file: it holds no amenities")
    frame = read_facilities(Path(settings.data_dir) / dataset.path)
    return _store(session, frame, who.token_id, replace)


@dataclass
class Context:
    """The active plan's walk network and homes (metric CRS), and the facilities."""

    plan_id: int
    net: WalkNetwork
    buildings: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame


def context(session: Session, settings: Settings, who: Principal) -> Context:
    """What coverage and siting measure: the active plan's buildings (a worker: those of
    their grids), its walk network and the stored facilities, all in the network's CRS."""
    plan = active_plan(session)
    if plan is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案：请先启用一个方案",
                       "there is no active plan: activate one first")
    worker = who.worker_id if who.role == "worker" else None
    _, buildings = plan_layers(session, plan.id, worker)
    net = walk_network(settings, session.get_one(m.DatasetRow, plan.dataset_id))
    if not net.nodes:
        raise ApiError(422, "no_streets", "数据集没有可步行的街道网络，无法计算步行距离",
                       "the dataset has no walk network: walking distances cannot be measured")
    return Context(plan.id, net, buildings.to_crs(net.crs),
                   facilities_frame(session).to_crs(net.crs))


def coverage(session: Session, settings: Settings, who: Principal,
             types: Sequence[str] | None,
             distance_m: float | None) -> FacilityCoverageOut:
    """Per type, households within and beyond the walk (default distance by type)."""
    ctx = context(session, settings, who)
    wanted = list(types or FACILITY_TYPES)
    distances = {t: walking_distance(t, distance_m) for t in wanted}
    result = facility_coverage(ctx.net, ctx.buildings, ctx.facilities, distances=distances,
                               types=wanted)
    return FacilityCoverageOut(plan_id=ctx.plan_id, types=[
        TypeCoverageOut.model_validate(c.summary()) for c in result.values()])


def _lonlat(ctx: Context, xs, ys) -> list[tuple[float, float]]:
    pts = gpd.GeoSeries(shapely.points(xs, ys), crs=ctx.net.crs).to_crs("EPSG:4326")
    return [(float(p.x), float(p.y)) for p in pts]


def _points(sites, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[Point(s.lon, s.lat) for s in sites],
                            crs="EPSG:4326").to_crs(crs)


def site(session: Session, settings: Settings, who: Principal, body: SitingIn) -> SitingOut:
    """Where ``body.k`` new facilities of ``body.type`` serve the most households."""
    ctx = context(session, settings, who)
    distance = walking_distance(body.type, body.distance_m)
    if body.candidates == "sites":
        if not body.sites:
            raise ApiError(422, "no_sites", "候选方式为 sites 时需给出候选地点 sites",
                           "candidates=sites needs the candidate sites in 'sites'")
        candidates = siting.point_candidates(ctx.net, _points(body.sites, ctx.net.crs))
    else:
        candidates = siting.street_candidates(ctx.net, body.max_candidates)
    existing = ctx.facilities[ctx.facilities["type"] == body.type]
    result = siting.site_facilities(ctx.net, ctx.buildings, existing, candidates, body.k,
                                    distance, time_limit_s=body.time_limit_s)
    where = _lonlat(ctx, candidates.x[result.chosen], candidates.y[result.chosen])
    total = result.households or 1
    return SitingOut(
        type=body.type, distance_m=distance, k=body.k,
        sites=[ProposedSite(lon=lon, lat=lat, households_new=g)
               for (lon, lat), g in zip(where, result.gains, strict=True)],
        households=result.households, covered_before=result.covered_before,
        covered_after=result.covered_after,
        share_before=round(result.covered_before / total, 4),
        share_after=round(result.covered_after / total, 4),
        greedy_covered_after=result.greedy_covered_after, status=result.status,
        gap=round(result.gap, 6), seconds=round(result.seconds, 3),
        stats={k: float(v) for k, v in result.stats.items()})


def score(session: Session, settings: Settings, who: Principal, body: ScoreIn) -> ScoreOut:
    """What a hand-placed site adds to the existing facilities and the other proposals."""
    ctx = context(session, settings, who)
    distance = walking_distance(body.type, body.distance_m)
    existing = ctx.facilities[ctx.facilities["type"] == body.type]
    result = siting.score_site(ctx.net, ctx.buildings, existing,
                               _points([body], ctx.net.crs), distance,
                               others=_points(body.proposed, ctx.net.crs))
    return ScoreOut(type=body.type, distance_m=distance, households_new=result.households_new,
                    households_within=result.households_within,
                    buildings_new=result.homes_new, snap_m=round(result.snap_m, 1))


def map_page(session: Session, settings: Settings, who: Principal, lang: str, type_: str,
             distance_m: float | None, k: int, basemaps: BasemapStore | None = None) -> str:
    """The coverage map of one facility type (maps.facilities_map) over the dataset's
    basemap, with ``k`` proposed sites on the street nodes when k > 0 (time limit 10 s)."""
    import maps
    from dispatch.facilities.coverage import catchment, homes

    ctx = context(session, settings, who)
    distance = walking_distance(type_, distance_m)
    existing = ctx.facilities[ctx.facilities["type"] == type_]
    walk = facility_coverage(ctx.net, ctx.buildings, existing, distances={type_: distance},
                             types=[type_])[type_].walk_m
    home = homes(ctx.buildings).assign(walk_m=walk)
    proposed, status = None, ""
    if k > 0:
        candidates = siting.street_candidates(ctx.net)
        result = siting.site_facilities(ctx.net, ctx.buildings, existing, candidates, k,
                                        distance)
        proposed = gpd.GeoDataFrame(
            {"households_new": result.gains},
            geometry=shapely.points(candidates.x[result.chosen], candidates.y[result.chosen]),
            crs=ctx.net.crs)
        status = result.status
    area = catchment(ctx.net, existing, distance) if len(existing) else None
    basemap = basemaps.for_plan(session, ctx.plan_id) if basemaps is not None else None
    view = maps.facilities_map(home, existing, facility_type=type_, distance_m=distance,
                               catchment=area, proposed=proposed, proposal_status=status,
                               options=maps.MapOptions(lang=lang, basemap=basemap or None))
    return maps.page_html(view)
