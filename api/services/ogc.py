"""OGC API - Features - Part 1: Core, with GeoJSON: the documents behind /ogc.

Collections: ``grids`` and ``buildings`` of the active plan, ``party-zones`` (party members'
responsibility zones) and ``incidents``. Items support ``bbox`` (CRS84), ``limit``, ``offset``
and ``datetime`` (incidents: report time; the other collections have no time and ignore it);
paging by ``next``/``prev`` links. Features are RFC 7946 GeoJSON (lon/lat, counter-clockwise
outer rings).

Conformance declared: core and geojson. The OpenAPI definition (/openapi.json) is OpenAPI 3.1
as FastAPI writes it, so the oas30 class is not claimed. The landing page, conformance and
collection metadata are public; features need a token (a worker sees their grids' only, a
street's admin or planner its communities', api.services.scope).
Collections of people's records (incidents, party zones) reveal their extent only to those
who may read them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.auth import PERMISSIONS, Principal
from api.errors import ApiError, not_found
from api.geojson import collection_bytes, features_json
from api.schemas import OgcCollection, OgcCollections, OgcConformance, OgcLandingPage
from api.services.grids import building_features
from api.services.scope import by_grid_code, grids_clause, visible_communities
from api.store.models import (
    AssignmentRow,
    GridRow,
    IncidentRow,
    PartyMemberRow,
    PlanBuildingRow,
    PlanRow,
)
from api.store.plans import active_plan_id, grid_records
from api.store.spatial import bbox_filter, decode_geometries, raw_geometry
from gis.osm import ATTRIBUTION

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
JSON = "application/json"
ITEM_PARAMS = {"bbox", "limit", "offset", "datetime", "f"}
WORLD = [-180.0, -90.0, 180.0, 90.0]


@dataclass(frozen=True)
class CollectionInfo:
    """An OGC API Features collection: its id, labels, the table it serves and who sees what."""
    id: str
    title: str
    description: str
    model: Any  # the row class: id, geom and its box, plan_id / grid_code where it has them
    plan_scoped: bool  # features of the active plan only
    personal: bool = False  # records of people: extent only for those who may read them


COLLECTIONS = {c.id: c for c in (
    CollectionInfo("grids", "网格 Grids", "启用方案的微网格 micro-grids of the active plan",
                   GridRow, True),
    CollectionInfo("buildings", "建筑 Buildings",
                   "启用方案的建筑及所属网格 buildings of the active plan with their grid",
                   PlanBuildingRow, True),
    CollectionInfo("party-zones", "党员责任区 Party member zones",
                   "党员责任区 responsibility zones of party members", PartyMemberRow, False,
                   personal=True),
    CollectionInfo("incidents", "事件 Incidents", "上报的事件 reported incidents", IncidentRow,
                   False, personal=True),
)}


def landing(base: str, root: str) -> OgcLandingPage:
    """The landing page; ``base`` is the URL of /ogc, ``root`` the service's."""
    return OgcLandingPage.model_validate({
        "title": "Wangge 网格 OGC API - Features",
        "description": "网格、建筑、党员责任区与事件 grids, buildings, party zones, incidents",
        "attribution": ATTRIBUTION,
        "links": [
            {"href": f"{base}/", "rel": "self", "type": JSON, "title": "this document"},
            {"href": f"{root}/openapi.json", "rel": "service-desc",
             "type": "application/vnd.oai.openapi+json;version=3.1", "title": "API definition"},
            {"href": f"{root}/docs", "rel": "service-doc", "type": "text/html",
             "title": "API documentation"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": JSON,
             "title": "conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": JSON,
             "title": "feature collections"},
        ],
    })


def conformance() -> OgcConformance:
    """The OGC API conformance classes the service implements."""
    return OgcConformance.model_validate({"conformsTo": CONFORMANCE})


def _extent(session: Session, info: CollectionInfo, who: Principal | None) -> list[float]:
    """The collection's bounding box. Collections of people's records (incidents, party
    zones) reveal their records' extent only to callers who may read those records (a worker:
    their own); anyone else gets the extent of the active plan's grids, the area served."""
    model = info.model
    active = select(PlanRow.id).where(PlanRow.status == "active").limit(1).scalar_subquery()
    if info.personal and (who is None or who.role not in PERMISSIONS["ogc.read"]):
        model, where = GridRow, [GridRow.plan_id == active]
    elif who is not None:
        where = scope(session, info, who)
    else:  # grids and buildings of the active plan: the area served, public
        where = [model.plan_id == active]
    box = session.execute(select(func.min(model.minx), func.min(model.miny),
                                 func.max(model.maxx), func.max(model.maxy)).where(*where)).one()
    return [float(v) for v in box] if box[0] is not None else WORLD


def _collection(session: Session, info: CollectionInfo, base: str,
                who: Principal | None) -> dict:
    href = f"{base}/collections/{info.id}"
    return {
        "id": info.id, "title": info.title, "description": info.description,
        "itemType": "feature", "crs": [CRS84],
        "extent": {"spatial": {"bbox": [_extent(session, info, who)], "crs": CRS84}},
        "links": [
            {"href": href, "rel": "self", "type": JSON, "title": info.title},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": info.title},
        ],
    }


def collections(session: Session, base: str, who: Principal | None) -> OgcCollections:
    """Every collection's metadata (``who``: the caller, None without a valid token)."""
    return OgcCollections.model_validate({
        "links": [{"href": f"{base}/collections", "rel": "self", "type": JSON}],
        "collections": [_collection(session, c, base, who) for c in COLLECTIONS.values()],
    })


def collection_info(collection_id: str) -> CollectionInfo:
    """The collection ``collection_id``; 404 when there is none."""
    if collection_id not in COLLECTIONS:
        raise not_found("要素集合", "collection", collection_id)
    return COLLECTIONS[collection_id]


def collection(session: Session, collection_id: str, base: str,
               who: Principal | None) -> OgcCollection:
    """Collection ``collection_id``'s description, its extent as the caller may see it."""
    return OgcCollection.model_validate(
        _collection(session, collection_info(collection_id), base, who))


def _parse_instant(text: str, bound: str) -> datetime | None:
    if text in ("", ".."):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_datetime", f"datetime 格式无效：{text}（应为 RFC 3339）",
                       f"invalid datetime {text!r} (RFC 3339 expected)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if len(text) == 10 and bound == "end":  # a date as an end includes that whole day
        value = value.replace(hour=23, minute=59, second=59, microsecond=999999)
    return value


def _time_filter(model, text: str | None):
    if not text or model is not IncidentRow:
        return []
    start, _, end = text.partition("/")
    lo = _parse_instant(start, "start")
    hi = _parse_instant(end, "end") if _ else _parse_instant(start, "end")
    clauses = []
    if lo is not None:
        clauses.append(IncidentRow.created_at >= lo)
    if hi is not None:
        clauses.append(IncidentRow.created_at <= hi)
    return clauses


def _communities_clause(model, who: Principal):
    """The clause keeping a street's staff to its communities (None for everyone else)."""
    communities = visible_communities(who)
    if communities is None:
        return None
    if model is GridRow:
        return grids_clause(communities)
    if model is PlanBuildingRow:
        return PlanBuildingRow.community.in_(communities)
    return by_grid_code(model.grid_code, communities)


def scope(session: Session, info: CollectionInfo, who: Principal) -> list:
    """WHERE clauses: the active plan for plan collections, a worker's own features, a
    street's communities for its staff."""
    clauses = []
    plan_id = None
    if info.plan_scoped:
        plan_id = active_plan_id(session)
        clauses.append(info.model.plan_id == plan_id)
    street = _communities_clause(info.model, who)
    if street is not None:
        clauses.append(street)
    if who.role != "worker":
        return clauses
    if info.model is IncidentRow:
        return [*clauses, IncidentRow.worker_id == who.worker_id]
    if plan_id is None:
        plan_id = active_plan_id(session)
    own = select(AssignmentRow.grid_id).where(AssignmentRow.plan_id == plan_id,
                                              AssignmentRow.worker_id == who.worker_id)
    if info.model is GridRow:
        return [*clauses, GridRow.id.in_(own)]
    codes = select(GridRow.code).where(GridRow.id.in_(own))
    return [*clauses, info.model.grid_code.in_(codes)]


def _features(session: Session, info: CollectionInfo, ids: list[int]) -> list[str]:
    """GeoJSON Feature strings (with ``id``) of the rows ``ids`` of a collection."""
    model = info.model
    if not ids:
        return []
    if model in (GridRow, PlanBuildingRow):
        plan_id = session.scalar(select(model.plan_id).where(model.id.in_(ids)).limit(1))
        if plan_id is None:  # the rows went meanwhile: nothing to read
            return []
        if model is PlanBuildingRow:
            return building_features(session, plan_id, ids, ids=True)
        props, geoms = grid_records(session, plan_id, model.id.in_(ids))
        return features_json(props, geoms, [str(p["code"]) for p in props])
    if model is IncidentRow:  # the columns a feature shows, the geometries decoded together
        i = IncidentRow
        found = session.execute(select(i.id, i.category, i.description, i.status, i.grid_code,
                                       i.worker_id, i.created_at, raw_geometry(i.geom))
                                .where(i.id.in_(ids)).order_by(i.id)).all()
        records = [{"id": r.id, "category": r.category, "description": r.description,
                    "status": r.status, "grid_code": r.grid_code, "worker_id": r.worker_id,
                    "created_at": r.created_at.isoformat()} for r in found]
        return features_json(records, decode_geometries([r.geom for r in found]),
                             [str(r.id) for r in found])
    rows = list(session.scalars(select(model).where(model.id.in_(ids)).order_by(model.id)))
    return features_json([_record(r) for r in rows], [r.geom for r in rows],
                         [str(r.id) for r in rows])


def _record(row: PartyMemberRow) -> dict:
    return {"id": row.id, "name": row.name, "branch": row.branch,
            "grid_code": row.grid_code, "households": row.households,
            "buildings": len(row.building_ids or [])}


def items(session: Session, info: CollectionInfo, who: Principal, base: str,
          query: Mapping[str, str], bbox: tuple[float, float, float, float] | None,
          limit: int, offset: int, datetime_: str | None) -> bytes:
    """A page of the collection's features the caller may see, as a FeatureCollection with
    the counts and the paging links (``query``: the request's parameters, kept in them)."""
    model = info.model
    where = scope(session, info, who) + _time_filter(model, datetime_)
    if bbox:
        where.append(bbox_filter(model, bbox, session.get_bind().dialect.name,
                                 points=model is IncidentRow))
    where.append(model.geom.is_not(None))
    matched = session.scalar(select(func.count()).select_from(model).where(*where)) or 0
    ids = list(session.scalars(select(model.id).where(*where).order_by(model.id)
                               .limit(limit).offset(offset)))
    attribution = None
    if info.plan_scoped:
        attribution = session.scalar(select(PlanRow.attribution)
                                     .where(PlanRow.status == "active"))
    features = _features(session, info, ids)
    href = f"{base}/collections/{info.id}/items"

    def page(at: int) -> str:
        params = {k: v for k, v in query.items() if k not in ("offset", "limit")}
        params.update(limit=str(limit), offset=str(at))
        return f"{href}?" + "&".join(f"{k}={v}" for k, v in params.items())

    links = [{"href": page(offset), "rel": "self", "type": GEOJSON, "title": "this page"},
             {"href": f"{base}/collections/{info.id}", "rel": "collection",
              "type": JSON}]
    if offset + len(features) < matched:
        links.append({"href": page(offset + limit), "rel": "next", "type": GEOJSON,
                      "title": "next page"})
    if offset > 0:
        links.append({"href": page(max(0, offset - limit)), "rel": "prev", "type": GEOJSON,
                      "title": "previous page"})
    members = {"links": links, "timeStamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "numberMatched": matched, "numberReturned": len(features)}
    if attribution:
        members["attribution"] = attribution
    return collection_bytes(features, members)


def item(session: Session, collection_id: str, feature_id: str, who: Principal,
         base: str) -> dict:
    """One feature the caller may see, as a GeoJSON Feature with its links (404 else)."""
    info = collection_info(collection_id)
    model = info.model
    where = scope(session, info, who)
    if model is GridRow:
        where.append(GridRow.code == feature_id)
    elif model is PlanBuildingRow:
        where.append(PlanBuildingRow.building_id == feature_id)
    elif feature_id.isdigit():
        where.append(model.id == int(feature_id))
    else:
        raise not_found("要素", "feature", feature_id)
    ident = session.scalar(select(model.id).where(*where))
    if ident is None:
        raise not_found("要素", "feature", feature_id)
    href = f"{base}/collections/{collection_id}"
    feature = json.loads(_features(session, info, [ident])[0])
    feature["links"] = [
        {"href": f"{href}/items/{feature_id}", "rel": "self", "type": GEOJSON},
        {"href": href, "rel": "collection", "type": JSON},
    ]
    return feature
