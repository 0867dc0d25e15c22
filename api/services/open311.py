"""Open311 GeoReport v2 requests on the incidents: a report posted as a service request, and
incidents read back as service request records (the record format is
api.open311's; a worker reads only those dispatched to them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, forbid_other_worker
from api.errors import ApiError, not_found
from api.open311 import filter_open311, open311_request, parse_open311_post
from api.schemas import Open311Created, Open311Request
from api.services.grid_index import GridLocator
from api.services.incidents import take_report
from api.store import incidents as store
from api.store.models import IncidentRow
from dispatch.incidents.rules import Rules, beijing

MERGED_NOTICE = "重复上报已合并 merged into an open report"


def post(session: Session, who: Principal, rules: Rules, grids: GridLocator,
         fields: dict[str, str]) -> list[Open311Created]:
    """Store a posted service request as a report (merged into a duplicate like any report;
    bad fields: IncidentError, which the Open311 router answers 400); committed."""
    report = parse_open311_post(fields, rules)
    row, merged = take_report(session, who, rules, grids, category=report.category,
                              lon=report.lon,
                              lat=report.lat, description=report.description,
                              reporter=report.reporter, phone=report.phone or None,
                              report_id=fields.get("device_id"))
    session.commit()
    return [Open311Created(service_request_id=str(row.id),
                           service_notice=MERGED_NOTICE if merged else "",
                           account_id=fields.get("account_id"))]


def _record(incident, rules: Rules, lang: str) -> Open311Request:
    """The Open311 record, its text fields as text (the assignee is a worker id)."""
    record = open311_request(incident, rules, lang)
    record["agency_responsible"] = str(record["agency_responsible"] or "")
    return Open311Request.model_validate(record)


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
                  service_request_id: str | None = None,
                  lang: str = "zh") -> list[Open311Request]:
    """The newest ``limit`` records, filtered (ids comma-separated; dates ISO 8601); a worker
    gets those dispatched to them."""
    query = select(IncidentRow).order_by(IncidentRow.id.desc())
    if who.role == "worker":
        query = query.where(IncidentRow.worker_id == who.worker_id)
    if service_code:
        query = query.where(IncidentRow.category == service_code)
    rows = list(session.scalars(query.limit(limit)))
    ids = service_request_id.split(",") if service_request_id else None
    chosen = filter_open311(store.load(session, rows), service_code=service_code,
                            status=status, start_date=_date(start_date, "start_date"),
                            end_date=_date(end_date, "end_date"), service_request_ids=ids)
    return [_record(i, rules, lang) for i in chosen]


def get_request(session: Session, who: Principal, rules: Rules, request_id: int,
                lang: str = "zh") -> list[Open311Request]:
    """One record, in a list as the specification has it (a worker: theirs only)."""
    row = session.get(IncidentRow, request_id)
    if row is None:
        raise not_found("事件", "service request", request_id)
    forbid_other_worker(who, row.worker_id)
    return [_record(store.load(session, [row])[0], rules, lang)]
