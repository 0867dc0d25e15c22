"""Workers (网格员) and party members (党员): create, read, edit, CSV bulk import, and a worker
going off duty (their open incidents dispatched to others). The logic is api.services.people.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, UploadFile

from api.auth import PeopleEdit, PeopleImport, PeopleRead, WorkersOffDuty, WorkersReadOwn
from api.deps import STEP_NOT_ALLOWED, AppSettings, IncidentRules, ReadDb, WriteDb, check_limit
from api.schemas import (
    AssignmentOut,
    ImportResult,
    OffDutyOut,
    PartyMemberIn,
    PartyMemberOut,
    PartyMemberPatch,
    WorkerIn,
    WorkerOut,
    WorkerPatch,
)
from api.services import people

router = APIRouter(tags=["people 人员"])
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key")]


# ---- workers -------------------------------------------------------------------------------

@router.post("/workers", status_code=201, response_model=WorkerOut,
             summary="新增网格员 create a worker")
def create_worker(body: WorkerIn, request: Request, session: WriteDb, who: PeopleEdit,
                  idempotency_key: IdemKey = None):
    return people.create_worker(session, who, body, idempotency_key, request.url.path)


@router.get("/workers", response_model=list[WorkerOut], summary="网格员列表 list workers")
def list_workers(session: ReadDb, who: PeopleRead, settings: AppSettings,
                 limit: int = 100, offset: int = Query(0, ge=0)):
    return people.list_workers(session, check_limit(limit, settings), offset, who)


@router.get("/workers/{worker_id}", response_model=WorkerOut, summary="网格员 one worker")
def get_worker(worker_id: int, session: ReadDb, who: WorkersReadOwn):
    return people.get_worker(session, who, worker_id)


@router.patch("/workers/{worker_id}", response_model=WorkerOut, summary="修改网格员 edit")
def edit_worker(worker_id: int, body: WorkerPatch, session: WriteDb, who: PeopleEdit):
    return people.edit_worker(session, worker_id, body, who)


@router.get("/workers/{worker_id}/assignments", response_model=list[AssignmentOut],
            summary="网格员负责的网格 grids a worker serves in the active plan")
def worker_assignments(worker_id: int, session: ReadDb, who: WorkersReadOwn):
    return people.worker_assignments(session, who, worker_id)


@router.post("/workers/{worker_id}/off-duty", response_model=OffDutyOut,
             tags=["incidents 事件"],
             summary="网格员离岗 mark a worker off duty and dispatch their open incidents "
             "to others (each into its new worker's route for today)",
             dependencies=[STEP_NOT_ALLOWED])
def off_duty(worker_id: int, session: WriteDb, who: WorkersOffDuty,
             settings: AppSettings, rules: IncidentRules):
    return people.mark_off_duty(session, settings, rules, who, worker_id)


# ---- party members -------------------------------------------------------------------------

@router.post("/party-members", status_code=201, response_model=PartyMemberOut,
             summary="新增党员 create a party member")
def create_member(body: PartyMemberIn, request: Request, session: WriteDb,
                  who: PeopleEdit,
                  settings: AppSettings, idempotency_key: IdemKey = None):
    return people.create_member(session, who, settings, body, idempotency_key, request.url.path)


@router.get("/party-members", response_model=list[PartyMemberOut],
            summary="党员列表 list party members")
def list_members(session: ReadDb, who: PeopleRead, settings: AppSettings,
                 limit: int = 100, offset: int = Query(0, ge=0)):
    return people.list_members(session, check_limit(limit, settings), offset)


@router.get("/party-members/{member_id}", response_model=PartyMemberOut)
def get_member(member_id: int, session: ReadDb, who: PeopleRead):
    return people.get_member(session, member_id)


@router.patch("/party-members/{member_id}", response_model=PartyMemberOut,
              summary="修改党员 edit a party member")
def edit_member(member_id: int, body: PartyMemberPatch, session: WriteDb,
                who: PeopleEdit,
                settings: AppSettings):
    return people.edit_member(session, settings, member_id, body)


# ---- CSV import ----------------------------------------------------------------------------

@router.post("/workers/import", response_model=ImportResult,
             summary="批量导入网格员 CSV: name, phone, employee_no, on_duty, lon, lat, "
             "shift_start, shift_end (HH:MM), work_days (1;2;3;4;5), days_off "
             "(2026-10-01;2026-10-02)")
def import_workers(file: UploadFile, session: WriteDb, who: PeopleImport,
                   settings: AppSettings):
    """Rows with an employee_no that exists update that worker; others create one. Hour
    columns left out of the file keep what is stored; an empty cell clears it.
    One transaction: a bad row imports nothing."""
    return people.import_workers(session, settings, file.file)


@router.post("/party-members/import", response_model=ImportResult,
             summary="批量导入党员 CSV: name, phone, branch, grid_code, households, building_ids")
def import_members(file: UploadFile, session: WriteDb, who: PeopleImport,
                   settings: AppSettings):
    """``building_ids`` separated by ';'. One transaction: a bad row imports nothing."""
    return people.import_members(session, settings, file.file)
