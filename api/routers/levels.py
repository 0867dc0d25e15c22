"""Districts, streets and communities (api.services.levels): the tree, one-by-one changes and
a CSV import (admins of the whole area; a street's token reads its street only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile

from api.auth import LevelsEdit, LevelsRead
from api.deps import AppSettings, ReadDb, WriteDb
from api.schemas import (
    CommunityIn,
    CommunityOut,
    DistrictIn,
    DistrictOut,
    LevelPatch,
    LevelsImportResult,
    LevelsTree,
    StreetIn,
    StreetOut,
)
from api.services import levels

router = APIRouter(tags=["levels 区县·街道·社区"])


@router.get("/levels", response_model=LevelsTree,
            summary="层级树 districts > streets > communities (with grid counts)")
def levels_tree(session: ReadDb, who: LevelsRead):
    return levels.tree(session, who)


@router.post("/levels/import", response_model=LevelsImportResult,
             summary="导入层级 import districts, streets and communities from a CSV "
             "(district_code, district_name, street_code, street_name, community_code, "
             "community_name)")
def import_levels(file: UploadFile, session: WriteDb, who: LevelsEdit, settings: AppSettings):
    return levels.import_levels(session, settings, file.file)


@router.post("/districts", status_code=201, response_model=DistrictOut,
             summary="新增区县 create a district (GB/T 2260 code)")
def create_district(body: DistrictIn, session: WriteDb, who: LevelsEdit):
    return levels.create_district(session, body)


@router.patch("/districts/{district_id}", response_model=DistrictOut,
              summary="修改区县 rename a district")
def edit_district(district_id: int, body: LevelPatch, session: WriteDb, who: LevelsEdit):
    return levels.edit_district(session, district_id, body)


@router.post("/streets", status_code=201, response_model=StreetOut,
             summary="新增街道 create a street office of a district")
def create_street(body: StreetIn, session: WriteDb, who: LevelsEdit):
    return levels.create_street(session, body)


@router.patch("/streets/{street_id}", response_model=StreetOut,
              summary="修改街道 rename a street or move it to another district")
def edit_street(street_id: int, body: LevelPatch, session: WriteDb, who: LevelsEdit):
    return levels.edit_street(session, street_id, body)


@router.post("/communities", status_code=201, response_model=CommunityOut,
             summary="新增社区 create a community of a street")
def create_community(body: CommunityIn, session: WriteDb, who: LevelsEdit):
    return levels.create_community(session, body)


@router.patch("/communities/{community_id}", response_model=CommunityOut,
              summary="修改社区 rename a community or move it to another street")
def edit_community(community_id: int, body: LevelPatch, session: WriteDb, who: LevelsEdit):
    return levels.edit_community(session, community_id, body)


@router.delete("/districts/{district_id}", status_code=204,
               summary="删除区县 delete a district (409 while it has streets)")
def delete_district(district_id: int, session: WriteDb, who: LevelsEdit):
    levels.delete_level(session, "district", district_id)
    return Response(status_code=204)


@router.delete("/streets/{street_id}", status_code=204,
               summary="删除街道 delete a street (409 while it has communities or tokens)")
def delete_street(street_id: int, session: WriteDb, who: LevelsEdit):
    levels.delete_level(session, "street", street_id)
    return Response(status_code=204)


@router.delete("/communities/{community_id}", status_code=204,
               summary="删除社区 delete a community")
def delete_community(community_id: int, session: WriteDb, who: LevelsEdit):
    levels.delete_level(session, "community", community_id)
    return Response(status_code=204)
