"""Incidents in the store and in dispatch.incidents.lifecycle, back and forth.

A stored incident is its row (``incidents``) plus its steps (``incident_steps``, append-only).
:func:`to_domain` rebuilds a ``dispatch.incidents.lifecycle.Incident`` by replaying the steps
through the library's transition table; after the library changed it, :func:`save_domain`
inserts only the steps that are new and copies the stage, assignee, grid and escalation onto
the row. The library decides what is legal; the store never rewrites history.

Assignees are worker ids (int) for dispatched incidents, names for claimed micro-wishes and
``org:<id>`` (lifecycle.OrgRef) for incidents referred to an organisation; the row keeps the
worker in ``worker_id`` and the organisation it is with now in ``organisation_id``.
Times are stored timezone-aware (UTC); SQLite hands them back naive, and they are read as UTC.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import shapely
from sqlalchemy import Row, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from api.store import models as m
from dispatch.incidents.lifecycle import (
    OPEN_STAGES,
    WITH_ORGANISATION,
    Incident,
    OrgRef,
    Reporter,
    Step,
    restore_incident,
)

EARTH_M_PER_DEG = 111_320.0


@overload
def aware(at: datetime) -> datetime: ...
@overload
def aware(at: None) -> None: ...
def aware(at: datetime | None) -> datetime | None:
    """``at`` with a time zone: a naive time from the store is UTC."""
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _assignee(value: str | None) -> int | str | OrgRef | None:
    """A stored assignee: a worker id as int, an organisation as OrgRef, a claimant's name as
    text."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    return OrgRef.parse(value) or value


def steps_of(session: Session, incident_ids: list[int]) -> dict[int, list[m.IncidentStepRow]]:
    """The stored steps of each incident, in order."""
    out: dict[int, list[m.IncidentStepRow]] = {i: [] for i in incident_ids}
    if incident_ids:
        rows = session.scalars(select(m.IncidentStepRow)
                               .where(m.IncidentStepRow.incident_id.in_(incident_ids))
                               .order_by(m.IncidentStepRow.incident_id, m.IncidentStepRow.seq))
        for row in rows:
            out[row.incident_id].append(row)
    return out


def to_domain(row: m.IncidentRow | Row[Any],
              steps: Sequence[m.IncidentStepRow | Row[Any]]) -> Incident:
    """The library's incident for ``row`` and its stored ``steps`` (ORM objects, or Core rows
    of the same columns)."""
    history = [Step(aware(s.at), s.stage, s.action, s.who, s.note, _assignee(s.assignee))
               for s in steps]
    reporters = [Reporter(r["name"], datetime.fromisoformat(r["at"]), r.get("phone") or "",
                          r.get("report_id"), r.get("channel") or row.channel or "app")
                 for r in row.reporters or []]
    assert row.accept_by is not None and row.close_by is not None, "a stored incident has both"
    incident = restore_incident(
        str(row.id), row.category, row.geom.x, row.geom.y, aware(row.created_at),
        aware(row.accept_by), aware(row.close_by), history, description=row.description,
        grid_id=row.grid_code, escalated_to=row.escalated_to, reporters=reporters)
    return incident


def load(session: Session, rows: list[m.IncidentRow]) -> list[Incident]:
    """The library's incidents for ``rows`` (two queries in all)."""
    steps = steps_of(session, [r.id for r in rows])
    return [to_domain(r, steps[r.id]) for r in rows]


CANDIDATE_ROWS = (select(m.IncidentRow.__table__)
                  .where(m.IncidentRow.id.in_(bindparam("ids", expanding=True)))
                  .order_by(m.IncidentRow.id))
STEP_ROWS = (select(m.IncidentStepRow.__table__)
             .where(m.IncidentStepRow.incident_id.in_(bindparam("ids", expanding=True)))
             .order_by(m.IncidentStepRow.incident_id, m.IncidentStepRow.seq))


def load_rows(session: Session, ids: list[int]
              ) -> list[tuple[Row[Any], Incident, int]]:
    """The incidents ``ids`` as Core rows, library incidents and counts of stored steps (two
    queries, no ORM object), by id."""
    conn = session.connection()
    rows = conn.execute(CANDIDATE_ROWS, {"ids": ids}).all()
    steps: dict[int, list[Row[Any]]] = {r.id: [] for r in rows}
    for step in conn.execute(STEP_ROWS, {"ids": ids}):
        steps[step.incident_id].append(step)
    return [(r, to_domain(r, steps[r.id]), len(steps[r.id])) for r in rows]


def open_rows(session: Session) -> list[m.IncidentRow]:
    """The incidents not closed or rejected, by id."""
    return list(session.scalars(select(m.IncidentRow).where(m.IncidentRow.status.in_(OPEN_STAGES))
                                .order_by(m.IncidentRow.id)))


def duplicate_window(category: str, lon: float, lat: float, at: datetime,
                     radius_m: float, hours: float) -> dict:
    """The parameters of :data:`DUPLICATE_CANDIDATES` for a report at (lon, lat) at ``at``."""
    dlat = radius_m / EARTH_M_PER_DEG
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    window = timedelta(hours=hours)
    return {"category": category, "since": at - window, "until": at + window,
            "west": lon - dlon, "east": lon + dlon, "south": lat - dlat, "north": lat + dlat}


def duplicate_candidates(session: Session, category: str, lon: float, lat: float,
                         at: datetime, radius_m: float, hours: float) -> list[m.IncidentRow]:
    """Open incidents of ``category`` reported within ``hours`` of ``at`` whose bounding box
    is within about ``radius_m`` of the point (the library checks the exact distance), locked
    for this transaction."""
    return list(session.scalars(DUPLICATE_CANDIDATES, duplicate_window(
        category, lon, lat, at, radius_m, hours)))


def duplicate_ids_many(session: Session, windows: list[dict]) -> list[list[int]]:
    """The ids of :func:`duplicate_candidates` of many reports (``windows``:
    :func:`duplicate_window` of each), with one query and without loading the rows: on
    PostgreSQL one round trip (the rows locked in id order); on SQLite one statement (a
    query a report gave up the GIL and waited to get it back as often: up to 5 ms each while
    other threads of the process run Python)."""
    found: list[list[int]] = [[] for _ in windows]
    if not windows:
        return found
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        columns = {k: [w[k] for w in windows] for k in windows[0]}
        rows = conn.execute(DUPLICATE_IDS_MANY, {"n": list(range(len(windows))), **columns})
    else:
        stamp = _sqlite_time(conn.dialect)
        rows = conn.execute(DUPLICATE_IDS_SQLITE, {"windows": json.dumps([
            [w["category"], stamp(w["since"]), stamp(w["until"]), w["west"], w["east"],
             w["south"], w["north"]] for w in windows])})
    for n, ident in rows:
        found[n].append(ident)
    return found


def _sqlite_time(dialect) -> Callable[[datetime], str]:
    """How SQLite stores a time of the incidents' columns (SQLAlchemy's text form)."""
    column = m.IncidentRow.__table__.c.created_at
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None, "SQLite stores times as text"
    return processor


# The queries above, built once (index ix_incidents_duplicate: category, minx).
_DUPLICATE_WHERE = (
    m.IncidentRow.category == bindparam("category"), m.IncidentRow.status.in_(OPEN_STAGES),
    m.IncidentRow.created_at >= bindparam("since"),
    m.IncidentRow.created_at <= bindparam("until"),
    m.IncidentRow.minx <= bindparam("east"), m.IncidentRow.maxx >= bindparam("west"),
    # an incident is a point (minx = maxx): this bounds the index range on both sides
    m.IncidentRow.minx >= bindparam("west"),
    m.IncidentRow.miny <= bindparam("north"), m.IncidentRow.maxy >= bindparam("south"))
# Locked (PostgreSQL; SQLite writes one at a time anyway): two reports merged into one
# incident at once would otherwise both append step n + 1.
DUPLICATE_CANDIDATES = (select(m.IncidentRow).where(*_DUPLICATE_WHERE)
                        .order_by(m.IncidentRow.id).with_for_update())
DUPLICATE_IDS_MANY = text(
    "SELECT r.n, i.id FROM unnest(CAST(:n AS int[]), CAST(:category AS text[]), "
    "CAST(:since AS timestamptz[]), CAST(:until AS timestamptz[]), "
    "CAST(:west AS float8[]), CAST(:east AS float8[]), CAST(:south AS float8[]), "
    "CAST(:north AS float8[])) AS r(n, category, since, until, west, east, south, north) "
    "JOIN incidents i ON i.category = r.category AND i.status = ANY(CAST(:open AS text[])) "
    "AND i.created_at >= r.since AND i.created_at <= r.until "
    "AND i.minx <= r.east AND i.maxx >= r.west AND i.minx >= r.west "
    "AND i.miny <= r.north AND i.maxy >= r.south "
    "ORDER BY i.id, r.n FOR UPDATE OF i").bindparams(open=sorted(OPEN_STAGES))
_OPEN_LIST = ", ".join(f"'{stage}'" for stage in sorted(OPEN_STAGES))  # constants
DUPLICATE_IDS_SQLITE = text(
    "SELECT CAST(r.key AS INTEGER) AS n, i.id FROM json_each(:windows) AS r "
    "JOIN incidents AS i ON i.category = json_extract(r.value, '$[0]') "
    f"AND i.status IN ({_OPEN_LIST}) "
    "AND i.created_at >= json_extract(r.value, '$[1]') "
    "AND i.created_at <= json_extract(r.value, '$[2]') "
    "AND i.minx <= json_extract(r.value, '$[4]') AND i.maxx >= json_extract(r.value, '$[3]') "
    "AND i.minx >= json_extract(r.value, '$[3]') "
    "AND i.miny <= json_extract(r.value, '$[6]') AND i.maxy >= json_extract(r.value, '$[5]') "
    "ORDER BY i.id, n")
INSERT_INCIDENT = insert(m.IncidentRow)
INSERT_STEPS = insert(m.IncidentStepRow)


def _reporter_json(r: Reporter) -> dict:
    return {"name": r.name, "at": r.at.isoformat(), "phone": r.phone or None,
            "report_id": r.report_id, "channel": r.channel}


def step_values(incident_id: int, incident: Incident, token_ids: Sequence[int | None],
                stored: int) -> list[dict]:
    """The rows (column values) of the steps of ``incident`` after the first ``stored``,
    made by the tokens ``token_ids`` (one per step)."""
    steps = incident.history[stored:]
    assert len(token_ids) == len(steps), "one token per new step"
    return [{"incident_id": incident_id, "seq": seq, "at": step.at.astimezone(UTC),
             "stage": step.stage, "action": step.action, "who": str(step.who),
             "note": step.note or "",
             "assignee": None if step.assignee is None else str(step.assignee),
             "token_id": token_id}
            for seq, step, token_id in zip(range(stored + 1, len(incident.history) + 1),
                                           steps, token_ids, strict=True)]


def save_domain(session: Session, row: m.IncidentRow, incident: Incident,
                token_id: int | None, stored: int | None = None) -> list[m.IncidentStepRow]:
    """Append the steps of ``incident`` not stored yet (``stored``: how many are, when the
    caller knows; else they are counted) and copy its state onto ``row``; returns the new
    step rows. The caller commits."""
    if stored is None:
        stored = session.scalar(select(m.IncidentStepRow.seq).where(
            m.IncidentStepRow.incident_id == row.id).order_by(m.IncidentStepRow.seq.desc())
            .limit(1)) or 0
    tokens = [token_id] * (len(incident.history) - stored)
    new = [m.IncidentStepRow(**values) for values in step_values(row.id, incident, tokens,
                                                                  stored)]
    session.add_all(new)
    copy_state(row, incident)
    session.flush()
    return new


def new_ids(session: Session, count: int) -> Iterator[int]:
    """``count`` ids for new incidents of this write transaction: PostgreSQL's sequence
    (those not used are skipped, as after a rollback); on SQLite, after the largest id, which
    no one else can take while this transaction holds the write lock (what SQLite would
    give)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return iter(conn.execute(NEXT_IDS, {"n": count}).scalars().all())
    largest = conn.execute(select(func.max(m.IncidentRow.id))).scalar() or 0
    return iter(range(largest + 1, largest + 1 + count))


NEXT_IDS = text("SELECT nextval(pg_get_serial_sequence('incidents', 'id')) "
                "FROM generate_series(1, :n)")


def new_row(incident_id: int, incident: Incident, values: dict) -> dict:
    """The row of a new ``incident`` for :data:`INSERT_INCIDENT`: its id, ``values`` (the
    columns that do not follow from the incident: reporter, plan, times), its state, point
    and bounding box."""
    lon, lat = incident.lon, incident.lat
    return {**values, **state_values(incident), "id": incident_id,
            "geom": shapely.Point(lon, lat), "minx": lon, "miny": lat, "maxx": lon, "maxy": lat}


def update_state(session: Session, incident_id: int, incident: Incident,
                 at: datetime) -> None:
    """Write the state of ``incident`` (:func:`state_values`) on its row with one Core UPDATE
    (the ORM's save_domain without the ORM; its new steps are the caller's to insert)."""
    values = {f"b_{k}": v for k, v in state_values(incident).items()}
    session.connection().execute(UPDATE_STATE, {**values, "b_id": incident_id,
                                                "b_updated_at": at})


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)


def state_values(incident: Incident) -> dict:
    """The row's columns that follow from the library's incident: the stage, assignee
    (worker or organisation), grid, escalation, reporters, channel, deadlines, first
    acceptance, last closing (while closed) and times reopened."""
    assignee = incident.assignee
    return {
        "status": incident.stage,
        "worker_id": int(assignee) if isinstance(assignee, numbers.Integral) else None,
        "organisation_id": (assignee.org_id if isinstance(assignee, OrgRef)
                            and incident.stage in WITH_ORGANISATION else None),
        "channel": incident.channel,
        "grid_code": None if incident.grid_id is None else str(incident.grid_id),
        "escalated_to": None if incident.escalated_to is None else str(incident.escalated_to),
        "reporters": [_reporter_json(r) for r in incident.reporters],
        "accept_by": incident.accept_by.astimezone(UTC),
        "close_by": incident.close_by.astimezone(UTC),
        "accepted_at": _utc(incident.accepted_at()),
        "closed_at": _utc(incident.closed_at()) if incident.stage == "closed" else None,
        "reopened": incident.reopened}


STATE_COLUMNS = ("status", "worker_id", "organisation_id", "channel", "grid_code",
                 "escalated_to", "reporters", "accept_by", "close_by", "accepted_at",
                 "closed_at", "reopened")
UPDATE_STATE = (update(m.IncidentRow).where(m.IncidentRow.id == bindparam("b_id"))
                .values({c: bindparam(f"b_{c}") for c in (*STATE_COLUMNS, "updated_at")}))


def copy_state(row: m.IncidentRow, incident: Incident) -> None:
    """Copy :func:`state_values` onto ``row`` (attributes set to what they hold already are
    not written again)."""
    for name, value in state_values(incident).items():
        if name not in row.__dict__ or getattr(row, name) != value:
            setattr(row, name, value)
