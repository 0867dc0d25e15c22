"""Organisations (承办单位) and referrals (转办) in the store and in
dispatch.incidents.referral, back and forth.

An organisation is a row (``organisations``: its areas as one (Multi)Polygon in WGS84 with the
bounding box beside it, its categories and deadlines as text, ``1wd``...); a referral is a row
of ``referrals`` kept beside the incident's history (the steps are the history's). The
library decides who is responsible and what is legal; this module only reads and writes.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.store import models as m
from api.store.incidents import aware
from dispatch.incidents.lifecycle import Step
from dispatch.incidents.referral import (
    Organisation,
    OrganisationSpec,
    Referral,
    deadline_text,
    follow,
    parse_category_deadlines,
    parse_deadline,
)


def to_domain(row: m.OrganisationRow) -> Organisation:
    """The library's organisation for ``row``."""
    return Organisation(row.id, row.name, row.kind, frozenset(row.categories), row.geom,
                        parse_deadline(row.accept), parse_deadline(row.handle),
                        parse_category_deadlines(row.category_deadlines or None,
                                                 "category_deadlines"), row.code)


def covering(session: Session, lon: float, lat: float) -> list[Organisation]:
    """The organisations whose bounding box holds (lon, lat) (the library checks the areas)."""
    rows = session.scalars(select(m.OrganisationRow).where(
        m.OrganisationRow.minx <= lon, m.OrganisationRow.maxx >= lon,
        m.OrganisationRow.miny <= lat, m.OrganisationRow.maxy >= lat)
        .order_by(m.OrganisationRow.id))
    return [to_domain(r) for r in rows]


def _category_json(spec: OrganisationSpec) -> dict:
    return {c: {"accept": deadline_text(a), "handle": deadline_text(h)}
            for c, (a, h) in spec.category_deadlines.items()}


def fill(row: m.OrganisationRow, spec: OrganisationSpec) -> m.OrganisationRow:
    """Copy ``spec`` onto ``row`` (new or existing)."""
    row.code, row.name, row.kind = spec.code, spec.name, spec.kind
    row.categories = sorted(spec.categories)
    row.accept, row.handle = deadline_text(spec.accept), deadline_text(spec.handle)
    row.category_deadlines = _category_json(spec)
    row.phone = spec.phone or None
    row.set_geometry(spec.area)
    return row


def save_specs(session: Session, specs: list[OrganisationSpec]) -> tuple[list[int], list[int]]:
    """Create or update (by code) one row per spec; returns the ids (created, updated). The
    caller commits."""
    codes = [s.code for s in specs]
    known = {r.code: r for r in session.scalars(
        select(m.OrganisationRow).where(m.OrganisationRow.code.in_(codes)))}
    created, updated = [], []
    for spec in specs:
        row = known.get(spec.code)
        if row is None:
            row = fill(m.OrganisationRow(), spec)
            session.add(row)
            session.flush()
            created.append(row.id)
        else:
            fill(row, spec)
            updated.append(row.id)
    session.flush()
    return created, updated


# ---- referrals -------------------------------------------------------------------------------

def referral_to_domain(row: m.ReferralRow, category: str) -> Referral:
    """The library's record of referral ``row`` (of an incident of ``category``)."""
    return Referral(str(row.incident_id), row.organisation_id, category,
                    aware(row.referred_at), aware(row.accept_by), aware(row.handle_by),
                    row.status, aware(row.accepted_at), aware(row.handled_at),
                    aware(row.returned_at), row.reason)


def add_referral(session: Session, referral: Referral, token_id: int | None) -> m.ReferralRow:
    """Store a new referral."""
    row = m.ReferralRow(incident_id=int(referral.incident_id), organisation_id=referral.org_id,
                        status=referral.status, referred_at=referral.referred_at.astimezone(UTC),
                        accept_by=referral.accept_by.astimezone(UTC),
                        handle_by=referral.handle_by.astimezone(UTC), reason="",
                        token_id=token_id)
    session.add(row)
    session.flush()
    return row


def open_referral(session: Session, incident_id: int) -> m.ReferralRow | None:
    """The incident's referral still with an organisation (referred or accepted), if any."""
    return session.scalar(select(m.ReferralRow).where(
        m.ReferralRow.incident_id == incident_id,
        m.ReferralRow.status.in_(("referred", "accepted"))).order_by(m.ReferralRow.id.desc())
        .limit(1))


def follow_step(session: Session, incident_id: int, category: str, step: Step) -> None:
    """Record ``step`` on the incident's open referral (if any), as the library says."""
    row = open_referral(session, incident_id)
    if row is None:
        return
    referral = referral_to_domain(row, category)
    follow(referral, step)
    row.status, row.reason = referral.status, referral.reason
    for name in ("accepted_at", "handled_at", "returned_at"):
        value = getattr(referral, name)
        setattr(row, name, None if value is None else value.astimezone(UTC))


def referrals_of(session: Session, incident_ids: list[int] | None = None,
                 organisation_id: int | None = None) -> list[Referral]:
    """The referrals of some incidents or of an organisation (all when neither), by id."""
    query = (select(m.ReferralRow, m.IncidentRow.category)
             .join(m.IncidentRow, m.IncidentRow.id == m.ReferralRow.incident_id)
             .order_by(m.ReferralRow.id))
    if incident_ids is not None:
        query = query.where(m.ReferralRow.incident_id.in_(incident_ids))
    if organisation_id is not None:
        query = query.where(m.ReferralRow.organisation_id == organisation_id)
    return [referral_to_domain(row, category) for row, category in session.execute(query)]


def referred_to(organisation_id: int):
    """A subquery: ids of the incidents ever referred to ``organisation_id``."""
    return select(m.ReferralRow.incident_id).where(
        m.ReferralRow.organisation_id == organisation_id)
