"""Incidents (事件): report, list, read, history, statistics, escalation and the actions of
the lifecycle (accept, dispatch, start, handle, verify, close, return, reject, claim, note).
The logic, and who may act on which incident, is api.services.incidents.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request

from api.auth import (
    Authenticated,
    IncidentsEscalate,
    IncidentsRead,
    IncidentsReport,
    IncidentsStatistics,
)
from api.deps import (
    STEP_NOT_ALLOWED,
    AppSettings,
    Grids,
    IncidentRules,
    LevelCodeQuery,
    LevelQuery,
    ReadDb,
    WriteDb,
    check_limit,
)
from api.schemas import (
    EscalationOut,
    IncidentActionIn,
    IncidentDispatchOut,
    IncidentIn,
    IncidentOut,
    IncidentStatistics,
    IncidentStepOut,
)
from api.services import incidents, intake
from api.services.scope import level_filter
from dispatch.channels import Channel

router = APIRouter(tags=["incidents 事件"])


@router.post("/incidents", status_code=201, response_model=IncidentOut,
             summary="上报事件 report an incident (send Idempotency-Key when retrying)")
async def report_incident(body: IncidentIn, request: Request, who: IncidentsReport,
                          rules: IncidentRules, grids: Grids,
                          idempotency_key: Annotated[str | None,
                                                     Header(alias="Idempotency-Key")] = None):
    # async: no thread is held while the report waits for its batch (api.services.intake)
    return await intake.report(request.app.state.db, who, rules, grids, body,
                               idempotency_key, request.url.path)


@router.get("/incidents", response_model=list[IncidentOut],
            summary="事件列表 incidents (a worker sees those dispatched to them, an operator "
            "those it entered, an organisation those referred to it)")
def list_incidents(session: ReadDb, who: IncidentsRead, settings: AppSettings,
                   limit: int = 100, offset: int = Query(0, ge=0),
                   status: str | None = None, category: str | None = None,
                   grid_code: str | None = None, worker_id: int | None = None,
                   channel: Channel | None = None, organisation_id: int | None = None,
                   level: LevelQuery = None, code: LevelCodeQuery = None):
    return incidents.list_incidents(session, who, check_limit(limit, settings), offset,
                                    status=status, category=category, grid_code=grid_code,
                                    worker_id=worker_id, channel=channel,
                                    organisation_id=organisation_id,
                                    asked=level_filter(session, level, code))


@router.get("/incidents/statistics", response_model=IncidentStatistics,
            response_model_exclude_unset=True,  # a group names only the key grouped by
            summary="事件统计 statistics per grid, worker, category or channel "
            "(open, overdue, median hours to accept and to close); ?channel= filters")
def statistics(session: ReadDb, who: IncidentsStatistics,
               by: Literal["grid", "worker", "category", "channel"] = "category",
               channel: Channel | None = None):
    return incidents.statistics(session, by, channel, who)


@router.post("/incidents/escalate", response_model=EscalationOut,
             summary="超期上报 escalate every overdue open incident to its community's grid "
             "leader (网格长), once")
def escalate(session: WriteDb, who: IncidentsEscalate, settings: AppSettings,
             rules: IncidentRules):
    return incidents.escalate(session, settings, rules, who)


@router.get("/incidents/{incident_id}", response_model=IncidentOut)
def get_incident(incident_id: int, session: ReadDb, who: IncidentsRead):
    return incidents.get_incident(session, who, incident_id)


@router.get("/incidents/{incident_id}/history", response_model=list[IncidentStepOut],
            summary="事件处置记录 the incident's steps, oldest first (append-only)")
def incident_history(incident_id: int, session: ReadDb, who: IncidentsRead):
    return incidents.history(session, who, incident_id)


@router.post("/incidents/{incident_id}/actions", response_model=IncidentDispatchOut,
             summary="处置事件 move an incident on: accept, dispatch, start, handle, verify, "
             "close, return, reject, claim, note; refer 转办 to an organisation, and the "
             "organisation's org_accept, org_handle, org_return",
             dependencies=[STEP_NOT_ALLOWED])
def act(incident_id: int, body: IncidentActionIn, session: WriteDb, who: Authenticated,
        settings: AppSettings, rules: IncidentRules):
    return incidents.act(session, settings, rules, who, incident_id, body)
