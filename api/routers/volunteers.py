"""Volunteers (志愿者) and volunteer teams: create, read, edit, CSV import. The logic, and what
each caller may see of a volunteer, is api.services.volunteers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, UploadFile

from api.auth import VolunteersEdit, VolunteersEditOwn, VolunteersRead
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.schemas import (
    ImportResult,
    TeamIn,
    TeamOut,
    VolunteerIn,
    VolunteerOut,
    VolunteerPatch,
    VolunteerSelfPatch,
)
from api.services import volunteers

router = APIRouter(tags=["wishes 微心愿"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/volunteers", status_code=201, response_model=VolunteerOut,
             summary="新增志愿者 create a volunteer (or a party member's volunteer record)")
def create_volunteer(body: VolunteerIn, request: Request, session: WriteDb, who: VolunteersEdit,
                     idempotency_key: IdemKey = None):
    return volunteers.create_volunteer(session, who, body, idempotency_key, request.url.path)


@router.get("/volunteers", response_model=list[VolunteerOut],
            summary="志愿者列表 volunteers (phones and homes for admins only; a volunteer: "
            "themself)")
def list_volunteers(session: ReadDb, who: VolunteersRead, settings: AppSettings,
                    limit: int = 100, offset: int = Query(0, ge=0)):
    return volunteers.list_volunteers(session, who, check_limit(limit, settings), offset)


@router.post("/volunteers/import", response_model=ImportResult,
             summary="导入志愿者 import volunteers from CSV (one transaction)")
def import_volunteers(file: UploadFile, session: WriteDb, who: VolunteersEdit,
                      settings: AppSettings):
    return volunteers.import_volunteers(session, settings, file.file)


@router.patch("/volunteers/me", response_model=VolunteerOut,
              summary="修改本人信息 a volunteer's own phone, home, availability, pause, and "
              "consent to show their name publicly")
def edit_self(body: VolunteerSelfPatch, session: WriteDb, who: VolunteersEditOwn):
    return volunteers.edit_self(session, who, body)


@router.get("/volunteers/{volunteer_id}", response_model=VolunteerOut, summary="志愿者 one")
def get_volunteer(volunteer_id: int, session: ReadDb, who: VolunteersRead):
    return volunteers.get_volunteer(session, who, volunteer_id)


@router.patch("/volunteers/{volunteer_id}", response_model=VolunteerOut,
              summary="修改志愿者 edit a volunteer")
def edit_volunteer(volunteer_id: int, body: VolunteerPatch, session: WriteDb,
                   who: VolunteersEdit):
    return volunteers.edit_volunteer(session, who, volunteer_id, body)


@router.post("/volunteer-teams", status_code=201, response_model=TeamOut,
             summary="新增志愿服务队 create a volunteer team")
def create_team(body: TeamIn, session: WriteDb, who: VolunteersEdit):
    return volunteers.create_team(session, body)


@router.get("/volunteer-teams", response_model=list[TeamOut],
            summary="志愿服务队 volunteer teams")
def list_teams(session: ReadDb, who: VolunteersRead):
    return volunteers.list_teams(session)
