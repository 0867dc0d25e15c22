"""The levels above the community in the store: districts, streets, communities, and the
mapping of every grid to them.

:func:`grid_levels` is the one join from a grid to its community, street and district; the
indicators group by its columns (``GROUP BY district_code`` gives an indicator per district).
A grid whose community is in no street has NULL levels (outer joins): it still counts at the
grid level and in the totals. :func:`area_table` gives the work indicators
(api.store.indicators) their ``street`` and ``district`` levels once any street is recorded.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from api.store import indicators
from api.store.models import CommunityRow, DistrictRow, GridRow, StreetRow

LEVELS = ("community", "street", "district")


def grid_levels(plan_id: int | None = None):
    """A subquery, one row per grid (of ``plan_id``, or of every plan): ``grid_id``,
    ``plan_id``, ``grid_code``, ``community`` (the code as the plan has it), ``community_name``,
    ``street_id``, ``street_code`` (9 digits), ``street_name``, ``district_id``,
    ``district_code`` (6 digits, GB/T 2260), ``district_name``; NULL where the community is
    not in the levels."""
    query = (select(GridRow.id.label("grid_id"), GridRow.plan_id.label("plan_id"),
                    GridRow.code.label("grid_code"), GridRow.community.label("community"),
                    CommunityRow.name.label("community_name"),
                    StreetRow.id.label("street_id"), StreetRow.full_code.label("street_code"),
                    StreetRow.name.label("street_name"),
                    DistrictRow.id.label("district_id"), DistrictRow.code.label("district_code"),
                    DistrictRow.name.label("district_name"))
             .outerjoin(CommunityRow, CommunityRow.code == GridRow.community)
             .outerjoin(StreetRow, StreetRow.id == CommunityRow.street_id)
             .outerjoin(DistrictRow, DistrictRow.id == StreetRow.district_id))
    if plan_id is not None:
        query = query.where(GridRow.plan_id == plan_id)
    return query.subquery("grid_levels")


def community_codes(level: str, code: str) -> Select:
    """A query of the codes of the communities at or under ``level`` ``code``: a community's
    own code, a street's 9-digit code, a district's 6-digit code."""
    query = select(CommunityRow.code)
    if level == "community":
        return query.where(CommunityRow.code == code)
    query = query.join(StreetRow, StreetRow.id == CommunityRow.street_id)
    if level == "street":
        return query.where(StreetRow.full_code == code)
    if level == "district":
        return (query.join(DistrictRow, DistrictRow.id == StreetRow.district_id)
                .where(DistrictRow.code == code))
    raise ValueError(f"unknown level {level!r}: one of {', '.join(LEVELS)}")


def street_community_codes(street_id: int) -> Select:
    """A query of the codes of the communities of street ``street_id``."""
    return select(CommunityRow.code).where(CommunityRow.street_id == street_id)


def level_exists(session: Session, level: str, code: str) -> bool:
    """Whether ``level`` ``code`` is a record."""
    ident = {"community": (CommunityRow.id, CommunityRow.code),
             "street": (StreetRow.id, StreetRow.full_code),
             "district": (DistrictRow.id, DistrictRow.code)}[level]
    return session.scalar(select(ident[0]).where(ident[1] == code)) is not None


def area_table(session: Session) -> Select | None:
    """The community -> street -> district table the work indicators group by (columns
    ``community``, ``street`` (9 digits), ``street_name``, ``district`` (6 digits),
    ``district_name``); None while no street is recorded."""
    if session.scalar(select(StreetRow.id).limit(1)) is None:
        return None
    return (select(CommunityRow.code.label("community"), StreetRow.full_code.label("street"),
                   StreetRow.name.label("street_name"), DistrictRow.code.label("district"),
                   DistrictRow.name.label("district_name"))
            .join(StreetRow, StreetRow.id == CommunityRow.street_id)
            .join(DistrictRow, DistrictRow.id == StreetRow.district_id))


if area_table not in indicators.AREA_LEVELS:
    indicators.AREA_LEVELS.append(area_table)
