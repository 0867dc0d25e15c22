"""Open311 GeoReport v2 requests on the incidents: a report posted as a service request, and
incidents read back as service request records (the record format is
api.open311's; each role reads what api.services.incidents.scope lets it: a worker those
dispatched to them, an operator those it entered, an organisation those referred to it).
With ``extensions=true`` a record carries the channel and the latest referral."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.open311 import filter_open311, open311_request, parse_open311_post
from api.schemas import Open311Created, Open311Request
from api.services.feedback import new_code
from api.services.grid_index import GridLocator
from api.services.incidents import report_channel, scope, take_report, visible
from api.store import incidents as store
from api.store import organisations as org_store
from api.store.models import IncidentRow, OrganisationRow
from dispatch.incidents.lifecycle import Incident
from dispatch.incidents.rules import Rules, beijing

MERGED_NOTICE = "重复上报已合并 merged into an open report"


def post(session: Session, who: Principal, rules: Rules, grids: GridLocator,
         fields: dict[str, str]) -> list[Open311Created]:
    """Store a posted service request as a report (merged into a duplicate like any report;
    bad fields: IncidentError, which the Open311 router answers 400); committed."""
    report = parse_open311_post(fields, rules)
    channel = report_channel(who, report.channel, via="open311")
    row, merged = take_report(session, who, rules, grids, category=report.category,
                              lon=report.lon,
                              lat=report.lat, description=report.description,
                              reporter=report.reporter, phone=report.phone or None,
                              report_id=fields.get("device_id"), channel=channel)
    code = new_code(session, row.id)  # the extension field feedback_code, shown once
    session.commit()
    return [Open311Created(service_request_id=str(row.id),
                           service_notice=MERGED_NOTICE if merged else "",
                           account_id=fields.get("account_id"), feedback_code=code)]


def _records(session: Session, incidents: list[Incident], rules: Rules, lang: str,
             extensions: bool) -> list[Open311Request]:
    """The Open311 records, their text fields as text (the agency: the organisation's name
    while referred, else the worker id), with the latest referral as an extension."""
    ids = [int(i.incident_id) for i in incidents]
    latest = {r.incident_id: r for r in org_store.referrals_of(session, incident_ids=ids)}
    names: dict[int, str] = {org_id: name for org_id, name in session.execute(
        select(OrganisationRow.id, OrganisationRow.name).where(
            OrganisationRow.id.in_({r.org_id for r in latest.values()})))}
    out = []
    for incident in incidents:
        referral = latest.get(incident.incident_id)
        info = None if referral is None else {
            "organisation_id": referral.org_id, "organisation": names.get(referral.org_id),
            "status": referral.status, "referred_at": referral.referred_at.isoformat(),
            "accept_by": referral.accept_by.isoformat(),
            "handle_by": referral.handle_by.isoformat(), "reason": referral.reason or None}
        holder = (names.get(referral.org_id) if referral is not None and referral.is_open
                  else None)
        record = open311_request(incident, rules, lang, organisation=holder,
                                 extensions=extensions, referral=info)
        record["agency_responsible"] = str(record["agency_responsible"] or "")
        out.append(Open311Request.model_validate(record))
    return out


def _date(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        return beijing(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError(400, "bad_date", f"{name} 应为 ISO 8601 时间：{text}",
                       f"{name} must be an ISO 8601 time: {text}") from None


def list_requests(session: Session, who: Principal, rules: Rules, limit: int, *,
                  service_code: str | None = None, status: str | None = None,
                  start_date: str | None = None, end_date: str | None = None,
                  service_request_id: str | None = None, lang: str = "zh",
                  extensions: bool = False) -> list[Open311Request]:
    """The newest ``limit`` records, filtered (ids comma-separated; dates ISO 8601), of those
    the caller may see."""
    query = scope(select(IncidentRow).order_by(IncidentRow.id.desc()), who)
    if service_code:
        query = query.where(IncidentRow.category == service_code)
    rows = list(session.scalars(query.limit(limit)))
    ids = service_request_id.split(",") if service_request_id else None
    chosen = filter_open311(store.load(session, rows), service_code=service_code,
                            status=status, start_date=_date(start_date, "start_date"),
                            end_date=_date(end_date, "end_date"), service_request_ids=ids)
    return _records(session, chosen, rules, lang, extensions)


def get_request(session: Session, who: Principal, rules: Rules, request_id: int,
                lang: str = "zh", extensions: bool = False) -> list[Open311Request]:
    """One record, in a list as the specification has it (if the caller may see it)."""
    row = visible(session, request_id, who)
    return _records(session, [store.load(session, [row])[0]], rules, lang, extensions)
