"""Workers (网格员) and party members (党员): create, read, edit, CSV bulk import, off duty.

A street's admin or planner sees and edits only the workers serving the grids of its
communities in the active plan (api.services.scope). Workers carry their working hours,
work days and days off (api.services.worker_hours);
incidents are dispatched only to workers available by them. A worker going off duty hands
their open incidents to others (api.services.incidents.redispatch_off_duty).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import BinaryIO

import shapely
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, forbid_other_worker
from api.errors import ApiError, not_found
from api.geometry_input import geometry_json, parse_geometry
from api.idempotency import idempotent_create
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
from api.services import incidents
from api.services.scope import check_worker, visible_communities, workers_clause
from api.services.worker_hours import (
    available,
    check_shift,
    clean_days_off,
    clean_work_days,
)
from api.settings import Settings
from api.store.models import AssignmentRow, GridRow, PartyMemberRow, PlanRow, WorkerRow
from dispatch.incidents.rules import Rules

CSV_MAX_ROWS = 10_000
HOURS = {"shift_start", "shift_end", "work_days", "days_off"}


def worker_out(w: WorkerRow) -> WorkerOut:
    """The API's view of a worker row: base as lon/lat and whether on duty now."""
    out = WorkerOut.model_validate(w)
    if w.geom is not None:
        out.lon, out.lat = w.geom.x, w.geom.y
    out.available_now = available(w, datetime.now(UTC))
    return out


def _set_hours(w: WorkerRow, values: dict) -> None:
    """Set the given hour fields of ``w`` (cleaned), then check its shift as a whole."""
    if "work_days" in values:
        w.work_days = clean_work_days(values["work_days"])
    if "days_off" in values:
        w.days_off = clean_days_off(values["days_off"])
    for key in ("shift_start", "shift_end"):
        if key in values:
            setattr(w, key, values[key])
    check_shift(w.shift_start, w.shift_end)


def member_out(m: PartyMemberRow) -> PartyMemberOut:
    """The API's view of a party member row, zone as GeoJSON."""
    out = PartyMemberOut.model_validate(m, from_attributes=True)
    out.zone = geometry_json(m.geom)
    return out


def _set_point(w: WorkerRow, lon: float | None, lat: float | None) -> None:
    if (lon is None) != (lat is None):
        raise ApiError(422, "bad_geometry", "经度和纬度需同时提供", "give both lon and lat")
    if lon is not None and lat is not None:
        w.set_geometry(shapely.Point(lon, lat))


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ApiError(409, "conflict", "与已有记录冲突（例如工号重复）",
                       "conflicts with an existing record (e.g. a duplicate employee number)") \
            from exc


def _worker(session: Session, worker_id: int, who: Principal | None = None) -> WorkerRow:
    """The worker (404 if none); 403 for a street's staff when the worker serves no grid of
    its communities."""
    row = session.get(WorkerRow, worker_id)
    if row is None:
        raise not_found("网格员", "worker", worker_id)
    check_worker(session, who, worker_id)
    return row


def _member(session: Session, member_id: int) -> PartyMemberRow:
    row = session.get(PartyMemberRow, member_id)
    if row is None:
        raise not_found("党员", "party member", member_id)
    return row


# ---- workers -------------------------------------------------------------------------------

def create_worker(session: Session, who: Principal, body: WorkerIn, idempotency_key: str | None,
                  path: str):
    """A new worker, once per ``idempotency_key``; committed (201)."""
    def create(s: Session) -> WorkerOut:
        w = WorkerRow(**body.model_dump(exclude={"lon", "lat", *HOURS}))
        _set_hours(w, body.model_dump(include=HOURS))
        _set_point(w, body.lon, body.lat)
        s.add(w)
        _flush(s)
        return worker_out(w)

    return idempotent_create(session, who, idempotency_key, "POST", path, body.model_dump(),
                             create)


def list_workers(session: Session, limit: int, offset: int,
                 who: Principal | None = None) -> list[WorkerOut]:
    """A page of the workers, by id (a street's staff: those serving its communities)."""
    query = select(WorkerRow)
    scoped = workers_clause(WorkerRow.id, visible_communities(who))
    if scoped is not None:
        query = query.where(scoped)
    rows = session.scalars(query.order_by(WorkerRow.id).limit(limit).offset(offset))
    return [worker_out(w) for w in rows]


def get_worker(session: Session, who: Principal, worker_id: int) -> WorkerOut:
    """One worker; a worker token sees only themself."""
    forbid_other_worker(who, worker_id)
    return worker_out(_worker(session, worker_id, who))


def edit_worker(session: Session, worker_id: int, body: WorkerPatch,
                who: Principal | None = None) -> WorkerOut:
    """Set the fields sent; committed."""
    w = _worker(session, worker_id, who)
    for key, value in body.model_dump(exclude_unset=True,
                                      exclude={"lon", "lat", *HOURS}).items():
        setattr(w, key, value)
    _set_hours(w, body.model_dump(exclude_unset=True, include=HOURS))
    if "lon" in body.model_fields_set or "lat" in body.model_fields_set:
        _set_point(w, body.lon, body.lat)
    _flush(session)
    out = worker_out(w)
    session.commit()
    return out


def worker_assignments(session: Session, who: Principal, worker_id: int) -> list[AssignmentOut]:
    """The grids ``worker_id`` serves in the active plan; a worker token sees only their own."""
    forbid_other_worker(who, worker_id)
    _worker(session, worker_id, who)
    rows = session.execute(
        select(AssignmentRow, GridRow.code).join(GridRow, GridRow.id == AssignmentRow.grid_id)
        .join(PlanRow, PlanRow.id == AssignmentRow.plan_id)
        .where(AssignmentRow.worker_id == worker_id, PlanRow.status == "active")
        .order_by(GridRow.code))
    return [AssignmentOut.model_validate(a).model_copy(update={"grid_code": code})
            for a, code in rows]


def mark_off_duty(session: Session, settings: Settings, rules: Rules, who: Principal,
                  worker_id: int) -> OffDutyOut:
    """Mark the worker off duty and dispatch their open incidents to others; committed."""
    worker = _worker(session, worker_id, who)
    worker.on_duty = False
    session.flush()
    return incidents.redispatch_off_duty(session, settings, rules, who, worker_id)


# ---- party members -------------------------------------------------------------------------

def _set_zone(m: PartyMemberRow, zone: dict | None, settings: Settings) -> None:
    geom = None if zone is None else parse_geometry(zone, settings, ("Polygon", "MultiPolygon"),
                                                    "责任区 zone")
    m.set_geometry(geom)


def create_member(session: Session, who: Principal, settings: Settings, body: PartyMemberIn,
                  idempotency_key: str | None, path: str):
    """A new party member, once per ``idempotency_key``; committed (201)."""
    def create(s: Session) -> PartyMemberOut:
        m = PartyMemberRow(**body.model_dump(exclude={"zone"}))
        _set_zone(m, body.zone, settings)
        s.add(m)
        _flush(s)
        return member_out(m)

    return idempotent_create(session, who, idempotency_key, "POST", path, body.model_dump(),
                             create)


def list_members(session: Session, limit: int, offset: int) -> list[PartyMemberOut]:
    """A page of the party members, by id."""
    rows = session.scalars(select(PartyMemberRow).order_by(PartyMemberRow.id)
                           .limit(limit).offset(offset))
    return [member_out(m) for m in rows]


def get_member(session: Session, member_id: int) -> PartyMemberOut:
    """Party member ``member_id``; 404 when there is none."""
    return member_out(_member(session, member_id))


def edit_member(session: Session, settings: Settings, member_id: int,
                body: PartyMemberPatch) -> PartyMemberOut:
    """Set the fields sent; committed."""
    m = _member(session, member_id)
    for key, value in body.model_dump(exclude_unset=True, exclude={"zone"}).items():
        setattr(m, key, value)
    if "zone" in body.model_fields_set:
        _set_zone(m, body.zone, settings)
    _flush(session)
    out = member_out(m)
    session.commit()
    return out


# ---- CSV import ----------------------------------------------------------------------------

def read_csv_upload(upload: BinaryIO, settings: Settings) -> list[dict[str, str]]:
    """Rows of an uploaded CSV (UTF-8 with or without BOM, or GBK/GB18030 as Excel saves):
    413 beyond the upload limit or CSV_MAX_ROWS rows, 422 in another encoding."""
    raw = upload.read(settings.max_upload_bytes + 1)
    if len(raw) > settings.max_upload_bytes:
        raise _too_large(settings)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ApiError(422, "bad_csv", "CSV 编码无法识别（应为 UTF-8 或 GBK）",
                       "CSV encoding not recognised (UTF-8 or GBK expected)")
    rows = list(csv.DictReader(io.StringIO(text)))
    if len(rows) > CSV_MAX_ROWS:
        raise ApiError(413, "too_many_rows", f"CSV 行数超过上限 {CSV_MAX_ROWS}",
                       f"more than {CSV_MAX_ROWS} CSV rows")
    return rows


def _read_csv(upload: BinaryIO, settings: Settings) -> list[dict[str, str]]:
    """Rows of an uploaded CSV of people (read_csv_upload), which must have a name column."""
    rows = read_csv_upload(upload, settings)
    if not rows or "name" not in rows[0]:
        raise ApiError(422, "bad_csv", "CSV 需要表头且包含 name 列（姓名）",
                       "the CSV needs a header row with a name column")
    return rows


def _too_large(settings: Settings) -> ApiError:
    mb = settings.max_upload_bytes / 1024 / 1024
    return ApiError(413, "upload_too_large", f"上传文件超过上限 {mb:g} MB",
                    f"upload larger than the limit of {mb:g} MB")


def _row_error(n: int, column: str, value: str, zh: str, en: str) -> ApiError:
    return ApiError(422, "bad_csv", f"CSV 第 {n} 行，列 {column}={value!r}：{zh}",
                    f"CSV row {n}, column {column}={value!r}: {en}", row=n, column=column)


def _float(row: dict, n: int, col: str) -> float | None:
    value = (row.get(col) or "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise _row_error(n, col, value, "不是数字", "not a number") from None


def _bool(row: dict, n: int, col: str) -> bool:
    value = (row.get(col) or "").strip().lower()
    if value in ("", "1", "true", "yes", "y", "是", "在岗"):
        return True
    if value in ("0", "false", "no", "n", "否", "离岗"):
        return False
    raise _row_error(n, col, value, "应为 是/否", "expected yes/no")


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


# CSV column -> worker field; ``start``/``end`` as dispatch.staffing.people reads them
HOUR_COLUMNS = {"shift_start": "shift_start", "start": "shift_start", "shift_end": "shift_end",
                "end": "shift_end", "work_days": "work_days", "days_off": "days_off"}


def _csv_hours(row: dict, n: int) -> dict:
    """The hour fields of a CSV row whose columns are present (empty cell: none)."""
    values: dict = {}
    for column, field in HOUR_COLUMNS.items():
        if column not in row:
            continue
        text = (row.get(column) or "").strip()
        if field in ("shift_start", "shift_end"):
            values[field] = text or None
            continue
        items = [t.strip() for t in text.replace("；", ";").replace(",", ";").split(";")
                 if t.strip()]
        if field == "work_days":
            if not all(t.isdigit() for t in items):
                raise _row_error(n, column, text, "工作日应为 1–7 的数字，用分号分隔",
                                 "work days are numbers 1-7 separated by ';'")
            values[field] = [int(t) for t in items] or None
        else:
            values[field] = items or None
    return values


def import_workers(session: Session, settings: Settings, upload: BinaryIO) -> ImportResult:
    """Workers from a CSV: rows with an employee_no that exists update that worker; others
    create one. Hour columns left out of the file keep what is stored; an empty cell clears
    it. One transaction, committed: a bad row imports nothing."""
    rows = _read_csv(upload, settings)
    created = updated = 0
    ids = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        name = _clean(row.get("name"))
        if name is None:
            raise _row_error(n, "name", "", "姓名为空", "empty name")
        no = _clean(row.get("employee_no"))
        w = session.scalar(select(WorkerRow).where(WorkerRow.employee_no == no)) if no else None
        if w is None:
            w = WorkerRow(employee_no=no)
            session.add(w)
            created += 1
        else:
            updated += 1
        w.name, w.phone = name, _clean(row.get("phone"))
        w.on_duty = _bool(row, n, "on_duty")
        if "public_phone" in row:
            w.public_phone = _clean(row.get("public_phone"))
        if "publish_name" in row:  # consent: an empty cell is no
            w.publish_name = _bool(row, n, "publish_name") if _clean(
                row.get("publish_name")) else False
        try:
            _set_hours(w, _csv_hours(row, n))
        except ApiError as exc:
            if exc.code != "bad_hours":
                raise
            raise ApiError(422, "bad_csv", f"CSV 第 {n} 行：{exc.zh}", f"CSV row {n}: {exc.en}",
                           row=n) from None
        lon, lat = _float(row, n, "lon"), _float(row, n, "lat")
        if lon is not None and lat is not None:
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise _row_error(n, "lon/lat", f"{lon},{lat}", "超出经纬度范围",
                                 "outside lon/lat ranges")
            w.set_geometry(shapely.Point(lon, lat))
        _flush(session)
        ids.append(w.id)
    session.commit()
    return ImportResult(created=created, updated=updated, ids=ids)


def import_members(session: Session, settings: Settings, upload: BinaryIO) -> ImportResult:
    """Party members from a CSV, ``building_ids`` separated by ';'. One transaction,
    committed: a bad row imports nothing."""
    rows = _read_csv(upload, settings)
    ids = []
    for n, row in enumerate(rows, start=2):
        name = _clean(row.get("name"))
        if name is None:
            raise _row_error(n, "name", "", "姓名为空", "empty name")
        households = _float(row, n, "households") or 0
        if households < 0 or households != int(households):
            raise _row_error(n, "households", row.get("households", ""), "应为非负整数",
                             "must be a whole number >= 0")
        buildings = [b.strip() for b in (row.get("building_ids") or "").split(";") if b.strip()]
        consent = _bool(row, n, "publish_consent") if _clean(
            row.get("publish_consent")) else False  # consent: an empty cell is no
        m = PartyMemberRow(name=name, phone=_clean(row.get("phone")),
                           branch=_clean(row.get("branch")), publish_consent=consent,
                           grid_code=_clean(row.get("grid_code")),
                           households=int(households), building_ids=buildings)
        session.add(m)
        _flush(session)
        ids.append(m.id)
    session.commit()
    return ImportResult(created=len(ids), updated=0, ids=ids)
