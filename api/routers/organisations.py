"""Organisations (承办单位) incidents are referred to (转办): list, read, create, import from a
GeoJSON or GeoPackage file, referral statistics per organisation, and the referrals of an
incident. The logic is api.services.organisations; the referral step itself is an incident
action (POST /incidents/{id}/actions, ``refer``, ``org_accept``, ``org_handle``,
``org_return``).
"""

from __future__ import annotations

from fastapi import APIRouter, Form, UploadFile

from api.auth import (
    IncidentsRead,
    IncidentsRefer,
    OrganisationsEdit,
    OrganisationsRead,
    OrganisationsStatistics,
)
from api.deps import AppSettings, IncidentRules, ReadDb, WriteDb
from api.schemas import (
    OrganisationImportOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationStatistics,
    OrgKind,
    ReferralCandidate,
    ReferralOut,
)
from api.services import incidents, organisations

router = APIRouter(tags=["organisations 承办单位"])


@router.get("/organisations", response_model=list[OrganisationOut],
            summary="承办单位列表 organisations (an organisation's token: itself)")
def list_organisations(session: ReadDb, who: OrganisationsRead, geometry: bool = False,
                       kind: OrgKind | None = None):
    return organisations.list_organisations(session, who, geometry, kind)


@router.post("/organisations", status_code=201, response_model=OrganisationOut,
             summary="新建承办单位 create an organisation with its areas and categories")
def create_organisation(body: OrganisationIn, session: WriteDb, who: OrganisationsEdit,
                        rules: IncidentRules):
    return organisations.create(session, rules, body)


@router.post("/organisations/import", response_model=OrganisationImportOut,
             summary="导入承办单位 GeoJSON/GeoPackage: one feature per area; code, name, kind, "
             "categories (a;b), accept, handle (1wd, 8wh, 2h), category_deadlines (JSON), "
             "phone")
def import_organisations(file: UploadFile, session: WriteDb, who: OrganisationsEdit,
                         settings: AppSettings, rules: IncidentRules,
                         layer: str | None = Form(None)):
    """Features with the same code are one organisation with several areas; an existing
    code is updated. One transaction: a bad feature imports nothing."""
    return organisations.import_file(session, settings, rules, file.filename, file.file, layer)


@router.get("/organisations/statistics", response_model=OrganisationStatistics,
            summary="承办单位统计 referrals per organisation: received, accepted and handled "
            "on time, returned, median hours")
def organisation_statistics(session: ReadDb, who: OrganisationsStatistics):
    return organisations.statistics(session)


@router.get("/organisations/{organisation_id}", response_model=OrganisationOut,
            summary="承办单位 one organisation with its areas (GeoJSON)")
def get_organisation(organisation_id: int, session: ReadDb, who: OrganisationsRead):
    return organisations.get_organisation(session, who, organisation_id)


@router.get("/incidents/{incident_id}/referral-candidates",
            response_model=list[ReferralCandidate],
            summary="可转办单位 the organisations serving the incident's category at its place, "
            "the one refer chooses first")
def referral_candidates(incident_id: int, session: ReadDb, who: IncidentsRefer):
    return organisations.candidates_for(session, incidents.visible(session, incident_id, who))


@router.get("/incidents/{incident_id}/referrals", response_model=list[ReferralOut],
            summary="转办记录 the referrals of an incident with their deadlines")
def incident_referrals(incident_id: int, session: ReadDb, who: IncidentsRead):
    incidents.visible(session, incident_id, who)
    return organisations.referrals(session, incident_id)
