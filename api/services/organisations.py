"""Organisations (承办单位) that incidents are referred to (转办): create one, import many from
a GeoJSON or GeoPackage file, read them (an organisation's token: itself only), the referrals
of an incident, and the statistics per organisation.

The rules (kinds, areas, who is responsible, deadlines) are dispatch.incidents.referral's; a
bad feature of an imported file is refused with the file, the feature (its code) and what to
do in Chinese and English, and nothing of the file is written (one transaction).
"""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import shapely.geometry
from shapely.geometry import mapping
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError, not_found
from api.schemas import (
    OrganisationImportOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationStatistics,
    OrganisationStats,
    ReferralCandidate,
    ReferralOut,
)
from api.services.datasets import _save_upload
from api.settings import Settings
from api.store import organisations as store
from api.store.models import IncidentRow, OrganisationRow
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.referral import (
    ORG_KINDS,
    OrganisationSpec,
    candidates,
    check_area,
    check_organisation,
    deadline_text,
    parse_category_deadlines,
    parse_deadline,
    read_organisations,
    referral_statistics,
)
from dispatch.incidents.rules import Rules

SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".shp")


def organisation_out(row: OrganisationRow, geometry: bool = False) -> OrganisationOut:
    """The API's view of an organisation (its areas as GeoJSON with ``geometry``)."""
    zh, en = ORG_KINDS.get(row.kind, (row.kind, row.kind))
    bbox = (None if row.minx is None or row.miny is None or row.maxx is None
            or row.maxy is None else [row.minx, row.miny, row.maxx, row.maxy])
    return OrganisationOut(id=row.id, code=row.code, name=row.name, kind=row.kind, kind_zh=zh,
                           kind_en=en, categories=list(row.categories), accept=row.accept,
                           handle=row.handle, category_deadlines=row.category_deadlines or {},
                           phone=row.phone, bbox=bbox,
                           area=mapping(row.geom) if geometry and row.geom is not None else None)


def _own(who: Principal, organisation_id: int) -> None:
    if who.role == "organisation" and who.organisation_id != organisation_id:
        raise ApiError(403, "forbidden", "承办单位只能查看本单位", "an organisation may only "
                       "see itself")


def list_organisations(session: Session, who: Principal, geometry: bool = False,
                       kind: str | None = None) -> list[OrganisationOut]:
    """The organisations by id (an organisation's token: itself)."""
    query = select(OrganisationRow).order_by(OrganisationRow.id)
    if who.role == "organisation":
        query = query.where(OrganisationRow.id == (who.organisation_id or -1))
    if kind is not None:
        query = query.where(OrganisationRow.kind == kind)
    return [organisation_out(r, geometry) for r in session.scalars(query)]


def get_organisation(session: Session, who: Principal, organisation_id: int,
                     geometry: bool = True) -> OrganisationOut:
    """One organisation (404 if none; an organisation's token: itself only)."""
    _own(who, organisation_id)
    row = session.get(OrganisationRow, organisation_id)
    if row is None:
        raise not_found("承办单位", "organisation", organisation_id)
    return organisation_out(row, geometry)


def spec_from_body(body: OrganisationIn, rules: Rules) -> OrganisationSpec:
    """The organisation ``body`` describes, checked (IncidentError: 422)."""
    try:
        area = shapely.geometry.shape(body.area)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise IncidentError(f"单位 {body.name} 的服务范围不是有效的 GeoJSON 几何：{exc}",
                            f"the area of organisation {body.name} is not a valid GeoJSON "
                            f"geometry: {exc}") from None
    check_area(area, body.name)
    per_category = parse_category_deadlines(
        {c: d.model_dump() for c, d in body.category_deadlines.items()}, "category_deadlines")
    spec = OrganisationSpec(body.code, body.name, body.kind, frozenset(body.categories), area,
                            parse_deadline(body.accept, "accept"),
                            parse_deadline(body.handle, "handle"), per_category,
                            body.phone or "")
    check_organisation(spec.with_id(0), rules)
    return spec


def create(session: Session, rules: Rules, body: OrganisationIn) -> OrganisationOut:
    """A new organisation (409 when its code is taken); committed."""
    spec = spec_from_body(body, rules)
    if session.scalar(select(OrganisationRow.id).where(OrganisationRow.code == spec.code)):
        raise ApiError(409, "exists", f"编码 {spec.code} 已被其他单位使用",
                       f"code {spec.code} is taken by another organisation")
    created, _ = store.save_specs(session, [spec])
    session.commit()
    return organisation_out(session.get_one(OrganisationRow, created[0]), True)


def import_file(session: Session, settings: Settings, rules: Rules, filename: str | None,
                upload: BinaryIO, layer: str | None = None) -> OrganisationImportOut:
    """Organisations from an uploaded GeoJSON, GeoPackage or zipped Shapefile, created or
    updated by code, all or none (a bad feature: 422 naming it); committed."""
    name = re.sub(r"[^\w.\-]+", "_", Path(filename or "upload").name) or "upload"
    if not name.lower().endswith(SUFFIXES):
        raise ApiError(422, "bad_format", f"不支持的文件类型：{name}（支持 {' '.join(SUFFIXES)}）",
                       f"unsupported file type: {name} (supported: {' '.join(SUFFIXES)})")
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".org-import-") as folder:
        target = Path(folder) / name
        _save_upload(upload, target, settings)
        specs = read_organisations(target, rules, layer)
    created, updated = store.save_specs(session, specs)
    session.commit()
    rows = session.scalars(select(OrganisationRow).where(
        OrganisationRow.id.in_(created + updated)).order_by(OrganisationRow.id))
    return OrganisationImportOut(created=len(created), updated=len(updated),
                                 organisations=[organisation_out(r) for r in rows])


def candidates_for(session: Session, row: IncidentRow) -> list[ReferralCandidate]:
    """The organisations that serve incident ``row``'s category at its place, the one
    ``refer`` would choose first."""
    lon, lat = row.geom.x, row.geom.y
    out = []
    for org, size in candidates(store.covering(session, lon, lat), row.category, lon, lat):
        accept, handle = org.deadlines(row.category)
        out.append(ReferralCandidate(organisation_id=org.org_id, name=org.name, kind=org.kind,
                                     area_m2=round(size, 1), accept=deadline_text(accept),
                                     handle=deadline_text(handle)))
    return out


def referrals(session: Session, incident_id: int) -> list[ReferralOut]:
    """The referrals of an incident, oldest first (the caller checked that it may see it)."""
    now = datetime.now(UTC)
    return [ReferralOut(incident_id=int(r.incident_id), organisation_id=r.org_id,
                        status=r.status, referred_at=r.referred_at, accept_by=r.accept_by,
                        handle_by=r.handle_by, accepted_at=r.accepted_at,
                        handled_at=r.handled_at, returned_at=r.returned_at, reason=r.reason,
                        overdue=r.overdue(now))
            for r in store.referrals_of(session, incident_ids=[incident_id])]


def statistics(session: Session) -> OrganisationStatistics:
    """Per organisation: referrals received, open, overdue, accepted (on time), handled (on
    time), returned, median hours to accept and to handle."""
    frame = referral_statistics(store.referrals_of(session), datetime.now(UTC))
    by_org = {int(r["org_id"]): r for r in
              frame.astype(object).where(frame.notna(), None).to_dict("records")}
    out = []
    for row in session.scalars(select(OrganisationRow).order_by(OrganisationRow.id)):
        r = by_org.get(row.id, {})
        counts = {k: int(r.get(k) or 0) for k in (
            "received", "open", "overdue", "accepted", "accepted_on_time", "handled",
            "handled_on_time", "returned")}
        out.append(OrganisationStats(organisation_id=row.id, name=row.name, kind=row.kind,
                                     median_accept_h=r.get("median_accept_h"),
                                     median_handle_h=r.get("median_handle_h"), **counts))
    return OrganisationStatistics(organisations=out)
