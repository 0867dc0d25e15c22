"""Facilities (设施): garbage points, service stations, activity rooms, canteens and clinics;
who walks how far to them, and where new ones should go (api.services.facilities)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, UploadFile

from api.auth import FacilitiesEdit, FacilitiesPlan, FacilitiesRead
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.schemas import (
    FacilityCoverageOut,
    FacilityImportOut,
    FacilityIn,
    FacilityOsmImport,
    FacilityOut,
    FacilityTypeKey,
    ScoreIn,
    ScoreOut,
    SitingIn,
    SitingOut,
)
from api.services import facilities

router = APIRouter(tags=["facilities 设施"])


@router.get("/facilities", response_model=list[FacilityOut], summary="设施列表 list facilities")
def list_facilities(session: ReadDb, who: FacilitiesRead, settings: AppSettings,
                    type: FacilityTypeKey | None = None, limit: int = 100,
                    offset: int = Query(0, ge=0)):
    return facilities.list_facilities(session, type, check_limit(limit, settings), offset)


@router.post("/facilities", status_code=201, response_model=FacilityOut,
             summary="新增设施 add a facility")
def create_facility(body: FacilityIn, session: WriteDb, who: FacilitiesEdit):
    return facilities.create_facility(session, who, body)


@router.delete("/facilities/{facility_id}", status_code=204, summary="删除设施 delete a facility")
def delete_facility(facility_id: int, session: WriteDb, who: FacilitiesEdit):
    facilities.delete_facility(session, facility_id)


@router.post("/facilities/import", status_code=201, response_model=FacilityImportOut,
             summary="导入设施文件 import facilities (CSV, GeoJSON, GeoPackage, zip, OSM)")
def import_facilities(file: UploadFile, session: WriteDb, who: FacilitiesEdit,
                      settings: AppSettings,
                      datum: Annotated[Literal["wgs84", "cgcs2000", "gcj02", "bd09"],
                                       Form()] = "wgs84",
                      replace: Annotated[bool, Form()] = False):
    return facilities.import_file(session, settings, who, file.filename, file.file, datum,
                                  replace)


@router.post("/facilities/import-osm", status_code=201, response_model=FacilityImportOut,
             summary="从数据集 OSM 导入设施 import facilities from a dataset's OSM amenities")
def import_osm(body: FacilityOsmImport, session: WriteDb, who: FacilitiesEdit,
               settings: AppSettings):
    return facilities.import_osm(session, settings, who, body.dataset_id, body.replace)


@router.get("/facilities/coverage", response_model=FacilityCoverageOut,
            summary="设施步行覆盖 households within a walk of each facility type")
def coverage(session: ReadDb, who: FacilitiesRead, settings: AppSettings,
             type: Annotated[list[FacilityTypeKey] | None, Query()] = None,
             distance_m: float | None = Query(None, gt=0, le=5000)):
    return facilities.coverage(session, settings, who, type, distance_m)


@router.post("/facilities/siting", response_model=SitingOut,
             summary="新设施选址 where k new facilities serve the most households")
def siting(body: SitingIn, session: ReadDb, who: FacilitiesPlan, settings: AppSettings):
    return facilities.site(session, settings, who, body)


@router.post("/facilities/score", response_model=ScoreOut,
             summary="评估手动选址 households a hand-placed site newly serves")
def score(body: ScoreIn, session: ReadDb, who: FacilitiesPlan, settings: AppSettings):
    return facilities.score(session, settings, who, body)
