"""Volunteers (志愿者) and volunteer teams: create, read, edit, CSV import.

A volunteer's phone, home point and notes are personal: admins and the volunteer themself
(a ``volunteer`` token) see them; other readers get the record without them, and the name is
shown publicly (the board, the public map) only with ``consent_public_name``. A party member
claims wishes through a volunteer record linked to them (``party_member_id``, one record per
member; name and phone taken from the member when not given). Skills are
dispatch.community.wishes.SKILLS (ids or names); grids served must be grids of the active plan.
"""

from __future__ import annotations

import re
from typing import BinaryIO

import shapely
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.idempotency import idempotent_create
from api.schemas import (
    AvailabilityWindow,
    ImportResult,
    TeamIn,
    TeamOut,
    VolunteerIn,
    VolunteerOut,
    VolunteerPatch,
    VolunteerSelfPatch,
)
from api.services.people import _read_csv, _row_error
from api.settings import Settings
from api.store import models as m
from api.store.plans import active_plan_id
from dispatch.community.matching import Window, parse_window
from dispatch.community.wishes import WishError, check_skills


def sees_private(who: Principal, volunteer_id: int) -> bool:
    """Whether ``who`` may see the volunteer's phone, home point and notes."""
    return who.role == "admin" or (who.role == "volunteer" and who.volunteer_id == volunteer_id)


def volunteer_out(v: m.VolunteerRow, who: Principal) -> VolunteerOut:
    """The volunteer as ``who`` may see them."""
    out = VolunteerOut(id=v.id, name=v.name, consent_public_name=v.consent_public_name,
                       skills=list(v.skills or []), availability=v.availability,
                       grid_codes=list(v.grid_codes or []), team_id=v.team_id,
                       party_member_id=v.party_member_id, max_open=v.max_open, active=v.active)
    if sees_private(who, v.id):
        out.phone, out.notes = v.phone, v.notes
        if v.geom is not None:
            out.lon, out.lat = v.geom.x, v.geom.y
    return out


def windows_of(availability: list[dict] | None) -> tuple[Window, ...]:
    """A stored availability as matching's windows (empty: any time)."""
    return tuple(parse_window(w["days"], w["start"], w["end"]) for w in availability or [])


def _availability(windows: list[AvailabilityWindow] | None) -> list[dict] | None:
    if windows is None:
        return None
    out = [w.model_dump() for w in windows]
    for w in out:
        w["days"] = sorted(set(w["days"]))
    windows_of(out)  # end after start: WishError, 422
    return out


def _grid_codes(session: Session, codes: list[str]) -> list[str]:
    """``codes`` checked against the active plan's grids (422 naming the unknown ones)."""
    codes = sorted({c.strip() for c in codes if c.strip()})
    plan_id = active_plan_id(session)
    if not codes or plan_id is None:
        return codes
    known = set(session.scalars(select(m.GridRow.code).where(m.GridRow.plan_id == plan_id,
                                                              m.GridRow.code.in_(codes))))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise ApiError(422, "unknown_grid",
                       f"网格 {', '.join(unknown)} 不在启用的方案中",
                       f"grids {', '.join(unknown)} are not in the active plan")
    return codes


def _team(session: Session, team_id: int | None) -> None:
    if team_id is not None and session.get(m.VolunteerTeamRow, team_id) is None:
        raise not_found("志愿服务队", "volunteer team", team_id)


def _flush(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ApiError(409, "conflict", "与已有记录冲突（例如该党员已有志愿者记录，或队名重复）",
                       "conflicts with an existing record (e.g. the party member already has "
                       "a volunteer record, or the team name is taken)") from exc


def _set_point(v: m.VolunteerRow, lon: float | None, lat: float | None) -> None:
    if (lon is None) != (lat is None):
        raise ApiError(422, "bad_geometry", "经度和纬度需同时提供", "give both lon and lat")
    v.set_geometry(None if lon is None or lat is None else shapely.Point(lon, lat))


def _volunteer(session: Session, volunteer_id: int) -> m.VolunteerRow:
    row = session.get(m.VolunteerRow, volunteer_id)
    if row is None:
        raise not_found("志愿者", "volunteer", volunteer_id)
    return row


def create_volunteer(session: Session, who: Principal, body: VolunteerIn,
                     idempotency_key: str | None, path: str):
    """A new volunteer, once per ``idempotency_key``; committed (201)."""
    def create(s: Session) -> VolunteerOut:
        name, phone = body.name, body.phone
        if body.party_member_id is not None:
            member = s.get(m.PartyMemberRow, body.party_member_id)
            if member is None:
                raise not_found("党员", "party member", body.party_member_id)
            name, phone = name or member.name, phone or member.phone
        if not name:
            raise ApiError(422, "bad_volunteer", "志愿者须有姓名（或关联党员）",
                           "a volunteer needs a name (or a party member)")
        _team(s, body.team_id)
        v = m.VolunteerRow(name=name, phone=phone,
                           consent_public_name=body.consent_public_name,
                           skills=check_skills(body.skills),
                           availability=_availability(body.availability),
                           grid_codes=_grid_codes(s, body.grid_codes), team_id=body.team_id,
                           party_member_id=body.party_member_id, max_open=body.max_open,
                           active=body.active, notes=body.notes)
        _set_point(v, body.lon, body.lat)
        s.add(v)
        _flush(s)
        return volunteer_out(v, who)

    return idempotent_create(session, who, idempotency_key, "POST", path, body.model_dump(),
                             create)


def list_volunteers(session: Session, who: Principal, limit: int,
                    offset: int) -> list[VolunteerOut]:
    """A page of volunteers by id (a volunteer: themself only)."""
    query = select(m.VolunteerRow).order_by(m.VolunteerRow.id)
    if who.role == "volunteer":
        query = query.where(m.VolunteerRow.id == who.volunteer_id)
    return [volunteer_out(v, who) for v in session.scalars(query.limit(limit).offset(offset))]


def get_volunteer(session: Session, who: Principal, volunteer_id: int) -> VolunteerOut:
    """One volunteer (a volunteer: themself only, 403 otherwise)."""
    if who.role == "volunteer" and who.volunteer_id != volunteer_id:
        raise ApiError(403, "forbidden", "志愿者只能查看本人记录",
                       "a volunteer may only see their own record")
    return volunteer_out(_volunteer(session, volunteer_id), who)


def edit_volunteer(session: Session, who: Principal, volunteer_id: int,
                   body: VolunteerPatch) -> VolunteerOut:
    """Set the fields sent; committed."""
    v = _volunteer(session, volunteer_id)
    given = body.model_fields_set
    for key in ("name", "phone", "consent_public_name", "max_open", "active", "notes"):
        if key in given and (getattr(body, key) is not None or key in ("phone", "notes")):
            setattr(v, key, getattr(body, key))
    if "skills" in given and body.skills is not None:
        v.skills = check_skills(body.skills)
    if "availability" in given:
        v.availability = _availability(body.availability)
    if "grid_codes" in given and body.grid_codes is not None:
        v.grid_codes = _grid_codes(session, body.grid_codes)
    if "team_id" in given:
        _team(session, body.team_id)
        v.team_id = body.team_id
    if "lon" in given or "lat" in given:
        _set_point(v, body.lon, body.lat)
    _flush(session)
    out = volunteer_out(v, who)
    session.commit()
    return out


def edit_self(session: Session, who: Principal, body: VolunteerSelfPatch) -> VolunteerOut:
    """A volunteer's change of their own record (a ``volunteer`` token); committed."""
    assert who.volunteer_id is not None, "a volunteer token names its volunteer"
    v = _volunteer(session, who.volunteer_id)
    given = body.model_fields_set
    if "phone" in given:
        v.phone = body.phone
    for key in ("consent_public_name", "active"):
        if key in given and getattr(body, key) is not None:
            setattr(v, key, getattr(body, key))
    if "availability" in given:
        v.availability = _availability(body.availability)
    if "lon" in given or "lat" in given:
        _set_point(v, body.lon, body.lat)
    _flush(session)
    out = volunteer_out(v, who)
    session.commit()
    return out


# ---- teams ---------------------------------------------------------------------------------

def create_team(session: Session, body: TeamIn) -> TeamOut:
    """A new team; committed."""
    team = m.VolunteerTeamRow(name=body.name, grid_codes=_grid_codes(session, body.grid_codes),
                              notes=body.notes)
    session.add(team)
    _flush(session)
    out = TeamOut.model_validate(team)
    session.commit()
    return out


def list_teams(session: Session) -> list[TeamOut]:
    """Every team, by id."""
    return [TeamOut.model_validate(t) for t in
            session.scalars(select(m.VolunteerTeamRow).order_by(m.VolunteerTeamRow.id))]


# ---- CSV import ----------------------------------------------------------------------------

_WINDOW = re.compile(r"^\s*([1-7](?:\s*[-,，]\s*[1-7])*)\s*@\s*(\d{1,2}:\d{2})\s*-\s*"
                     r"(\d{1,2}:\d{2})\s*$")


def parse_availability(text: str) -> list[dict] | None:
    """``1-5@08:00-12:00;6,7@09:00-17:00`` as stored windows (empty: any time).

    Raises:
        WishError: a window not in that form, or with its end before its start.
    """
    out = []
    for item in (t for t in re.split("[;；]", text) if t.strip()):
        match = _WINDOW.match(item)
        if match is None:
            raise WishError(f"可服务时段 {item.strip()!r} 格式应为 星期@开始-结束，如 "
                            "1-5@08:00-12:00",
                            f"availability {item.strip()!r} should be days@start-end, e.g. "
                            "1-5@08:00-12:00")
        days: set[int] = set()
        for part in re.split("[,，]", match.group(1)):
            first, _, last = part.partition("-")
            days |= set(range(int(first), int(last or first) + 1))
        start, end = match.group(2).zfill(5), match.group(3).zfill(5)
        parse_window(days, start, end)
        out.append({"days": sorted(days), "start": start, "end": end})
    return out or None


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in re.split("[;；]", text or "") if t.strip()]


def import_volunteers(session: Session, settings: Settings, upload: BinaryIO) -> ImportResult:
    """Volunteers from a CSV: ``name`` and optionally ``phone, skills`` (';'-separated ids or
    names), ``grid_codes`` (';'), ``team`` (a team's name, made when new), ``availability``
    (:func:`parse_availability`), ``lon, lat`` (home, WGS84), ``consent`` (是/否),
    ``max_open``. One transaction, committed: a bad row imports nothing."""
    rows = _read_csv(upload, settings)
    teams = {t.name: t for t in session.scalars(select(m.VolunteerTeamRow))}
    ids = []
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        name = (row.get("name") or "").strip()
        if not name:
            raise _row_error(n, "name", "", "姓名为空", "empty name")
        try:
            skills = check_skills(_split(row.get("skills")))
            availability = parse_availability(row.get("availability") or "")
        except WishError as exc:
            raise ApiError(422, "bad_csv", f"CSV 第 {n} 行：{exc.zh}", f"CSV row {n}: {exc.en}",
                           row=n) from None
        try:
            grids = _grid_codes(session, _split(row.get("grid_codes")))
        except ApiError as exc:
            raise ApiError(422, "bad_csv", f"CSV 第 {n} 行：{exc.zh}", f"CSV row {n}: {exc.en}",
                           row=n) from None
        consent = (row.get("consent") or "").strip().lower()
        if consent not in ("", "0", "1", "yes", "no", "y", "n", "true", "false", "是", "否"):
            raise _row_error(n, "consent", consent, "应为 是/否", "expected yes/no")
        max_open = (row.get("max_open") or "").strip() or "3"
        if not max_open.isdigit() or not 1 <= int(max_open) <= 50:
            raise _row_error(n, "max_open", max_open, "应为 1–50 的整数",
                             "must be a whole number 1-50")
        team_name = (row.get("team") or "").strip()
        team = teams.get(team_name) if team_name else None
        if team_name and team is None:
            team = teams[team_name] = m.VolunteerTeamRow(name=team_name, grid_codes=[])
            session.add(team)
            session.flush()
        v = m.VolunteerRow(name=name, phone=(row.get("phone") or "").strip() or None,
                           consent_public_name=consent in ("1", "yes", "y", "true", "是"),
                           skills=skills, availability=availability, grid_codes=grids,
                           team_id=None if team is None else team.id, max_open=int(max_open),
                           active=True)
        lon_text, lat_text = (row.get("lon") or "").strip(), (row.get("lat") or "").strip()
        if lon_text or lat_text:
            try:
                lon, lat = float(lon_text), float(lat_text)
            except ValueError:
                raise _row_error(n, "lon/lat", f"{lon_text},{lat_text}", "不是数字",
                                 "not a number") from None
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise _row_error(n, "lon/lat", f"{lon},{lat}", "超出经纬度范围",
                                 "outside lon/lat ranges")
            v.set_geometry(shapely.Point(lon, lat))
        session.add(v)
        _flush(session)
        ids.append(v.id)
    session.commit()
    return ImportResult(created=len(ids), updated=0, ids=ids)
