"""Household visits (入户走访): visit classes (a CSV import; sensitive), the visit calendars of
workers and party members (a job), visits done, a worker's route for today. The logic is
api.services.visits, which also decides who sees which buildings and classes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Request, Response, UploadFile

from api.auth import (
    VisitsClassesImport,
    VisitsClassesRead,
    VisitsPlan,
    VisitsRead,
    VisitsRecord,
    VisitsRoute,
)
from api.deps import AppSettings, ReadDb, WriteDb, job_accepted
from api.schemas import (
    CalendarOut,
    DayRouteAddIn,
    DayRouteOut,
    JobOut,
    VisitCalendarIn,
    VisitClassesOut,
    VisitClassImportOut,
    VisitDoneIn,
    VisitDoneOut,
)
from api.services import visits

router = APIRouter(tags=["visits 入户走访"])


@router.post("/plans/{plan_id}/visit-classes/import", response_model=VisitClassImportOut,
             summary="导入走访类别 CSV: building_id, visit_class, households[, last_visit] "
             "(replaces the plan's classes; one transaction)")
def import_classes(plan_id: int, file: UploadFile, session: WriteDb,
                   who: VisitsClassesImport):
    """Classes: key_person 重点人员 (weekly), elderly_alone 独居老人, difficulty 困难家庭,
    migrant 流动人口 (monthly), ordinary 一般户 (twice a year; households no row names)."""
    return visits.import_classes(session, plan_id, file.file, file.filename)


@router.get("/visit-classes", response_model=VisitClassesOut,
            summary="走访类别 visit classes of the active plan (rows: your grids; planners: "
            "counts only)")
def read_classes(session: ReadDb, who: VisitsClassesRead, grid_code: str | None = None,
                 plan_id: int | None = None):
    return visits.read_classes(session, who, plan_id, grid_code)


@router.post("/visit-calendar/compute", status_code=202, response_model=JobOut,
             summary="走访日历 compute the visit calendars of the active plan (a job)")
def compute_calendar(request: Request, response: Response, session: ReadDb, who: VisitsPlan,
                     body: VisitCalendarIn | None = None):
    body = body or VisitCalendarIn()
    plan_id = visits._plan_id(session, None)
    job = request.app.state.jobs.submit("visit_calendar",
                                        {"plan_id": plan_id, **body.model_dump(mode="json")},
                                        who.token_id)
    return job_accepted(response, job)


@router.get("/visit-calendar", response_model=CalendarOut,
            summary="走访日历 a worker's (workers: their own) or party member's calendar")
def read_calendar(session: ReadDb, who: VisitsRead, worker_id: int | None = None,
                  party_member_id: int | None = None, first: date | None = None,
                  last: date | None = None):
    return visits.read_calendar(session, who, worker_id=worker_id,
                                party_member_id=party_member_id, first=first, last=last)


@router.post("/visits/done", status_code=201, response_model=VisitDoneOut,
             summary="记录走访 record a household visit done at a building")
def record_done(body: VisitDoneIn, session: WriteDb, who: VisitsRecord):
    return visits.record_done(session, who, body)


@router.get("/visit-calendar/route", response_model=DayRouteOut,
            summary="今日走访路线 today's route: the day's visits and dispatched incidents, "
            "those done fixed")
def day_route(worker_id: int, session: ReadDb, settings: AppSettings, who: VisitsRoute):
    return visits.day_route(session, settings, who, worker_id, datetime.now(UTC))


@router.post("/visit-calendar/route/add", response_model=DayRouteOut,
             summary="加入走访 add a building visit to today's route and re-plan (done "
             "stops kept)")
def add_to_route(body: DayRouteAddIn, session: WriteDb, settings: AppSettings,
                 who: VisitsRoute):
    now = datetime.now(UTC)
    visits.add_visit_today(session, who, body.worker_id, body.building_id, body.households, now)
    return visits.day_route(session, settings, who, body.worker_id, now)
