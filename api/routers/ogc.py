"""OGC API - Features - Part 1: Core, with GeoJSON, under /ogc (so QGIS adds layers); the
documents are api.services.ogc's.

Items support ``bbox`` (CRS84), ``limit`` (default 10, at most ``settings.max_page_size``),
``offset`` and ``datetime``. The landing page, conformance and collection metadata are
public; features need a token (a worker sees their grids' only).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.auth import OgcRead, Principal, authenticate
from api.deps import READ_SLOT, AppSettings, BBoxQuery, ReadDb, check_limit, parse_bbox
from api.errors import ApiError
from api.geojson import geojson_response
from api.schemas import OgcCollection, OgcCollections, OgcConformance, OgcLandingPage
from api.services import ogc

router = APIRouter(tags=["OGC API - Features"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _caller(request: Request) -> Principal | None:
    """The caller when the request carries a valid token, else None (metadata is public)."""
    try:
        return authenticate(request)
    except ApiError:
        return None


@router.get("", include_in_schema=False, response_model=OgcLandingPage,
            response_model_exclude_none=True)
@router.get("/", summary="OGC 着陆页 landing page", response_model=OgcLandingPage,
            response_model_exclude_none=True)
def landing(request: Request):
    return ogc.landing(_base(request), str(request.base_url).rstrip("/"))


@router.get("/conformance", summary="一致性声明 conformance classes",
            response_model=OgcConformance)
def conformance():
    return ogc.conformance()


@router.get("/collections", summary="要素集合 feature collections",
            response_model=OgcCollections, response_model_exclude_none=True)
def collections(request: Request, session: ReadDb):
    return ogc.collections(session, _base(request), _caller(request))


@router.get("/collections/{collection_id}", summary="要素集合 one collection",
            response_model=OgcCollection, response_model_exclude_none=True)
def collection(collection_id: str, request: Request, session: ReadDb):
    return ogc.collection(session, collection_id, _base(request), _caller(request))


@router.get("/collections/{collection_id}/items",
            summary="要素 features (GeoJSON) with bbox, limit, offset, datetime",
            dependencies=[READ_SLOT])
def items(collection_id: str, request: Request, session: ReadDb, who: OgcRead,
          settings: AppSettings, bbox: BBoxQuery = None,
          limit: int = Query(10, description="1..max page size"),
          offset: int = Query(0, ge=0), datetime_: str | None = Query(None, alias="datetime")):
    unknown = set(request.query_params) - ogc.ITEM_PARAMS
    if unknown:
        raise ApiError(400, "unknown_parameter", f"不支持的查询参数：{', '.join(sorted(unknown))}",
                       f"unknown query parameters: {', '.join(sorted(unknown))}")
    info = ogc.collection_info(collection_id)
    check_limit(limit, settings)
    box = parse_bbox(bbox, settings)
    return geojson_response(ogc.items(session, info, who, _base(request), request.query_params,
                                      box, limit, offset, datetime_))


@router.get("/collections/{collection_id}/items/{feature_id}", summary="一个要素 one feature")
def item(collection_id: str, feature_id: str, request: Request, session: ReadDb,
         who: OgcRead):
    feature = ogc.item(session, collection_id, feature_id, who, _base(request))
    return JSONResponse(feature, media_type=ogc.GEOJSON)
