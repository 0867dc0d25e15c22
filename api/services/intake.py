"""Fast intake of reports (``POST /incidents``): the reports of concurrent requests written
as one set, in one transaction, answered after its commit.

The request's own work happens in the event loop, without a thread: its token (the process's
cache), the body's validation, the category and channel checks and the request's digest. The
rest is :func:`write_reports`, which the process's writer thread (api.store.batch) runs for
every report queued meanwhile, in one write transaction (on SQLite, one turn of the write
lock for all of them):

* on PostgreSQL, where the service's processes write at the same time, the batch's keys are
  locked first (advisory locks, sorted: a key another process's transaction is writing is
  waited for, then read committed);
* one query for the active plan's id and one for the idempotency keys of the whole batch
  (a retried request gets the stored answer, or 422 for a key reused with another body; a
  key sent twice within one batch is written once and replayed once);
* each point placed in the active plan's grids in memory (api.services.grid_index; 422
  ``outside_area`` outside every community);
* nothing is written until the end, so the duplicate candidates in the store are found for
  the whole batch with one query (the index on category and minx searched for each report;
  on PostgreSQL the rows locked in id order) and read with their steps (two queries); each report
  in turn is then merged by the library (dispatch.incidents.lifecycle.merge_report) into one
  of them or into an incident new in this batch, or makes a new incident with an id taken
  for the batch (PostgreSQL's sequence; on SQLite after the largest, under the write lock);
* at the end one executemany per table: new incidents, the state of stored ones merged
  into, steps (each with its reporter's token), feedback codes, key rows. No ORM object;
* nothing is written for a report answered with an error; a database error fails the whole
  batch, which api.store.batch then writes again one report at a time.

What is stored, and answered, is what api.services.incidents.take_report stores (Open311 and
the QR posters' form use that one, report by report): the same row, first step, feedback
code and key row (tests/api/test_intake.py compares them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from fastapi.responses import JSONResponse
from sqlalchemy import insert
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.idempotency import (
    INSERT_KEYS,
    StoredAnswer,
    check_key,
    check_same_request,
    key_values,
    lock_keys,
    model_hash,
    replayed,
    stored_answers,
)
from api.schemas import IncidentIn, IncidentOut
from api.services.feedback import make_code
from api.services.grid_index import GridLocator, PlanGrids, outside_error
from api.services.incidents import category_id, report_channel
from api.store import incidents as store
from api.store.batch import Grouped
from api.store.db import Database
from api.store.models import FeedbackCodeRow
from dispatch.incidents.lifecycle import Incident, merge_report
from dispatch.incidents.rules import Rules

INSERT_CODES = insert(FeedbackCodeRow)


@dataclass(frozen=True, eq=False)
class Report:
    """One report, checked in the request (category id, channel), for the writer."""

    who: Principal
    rules: Rules
    grids: GridLocator
    category: str
    channel: str
    lon: float
    lat: float
    description: str
    reporter: str
    phone: str | None
    key: str | None
    digest: str  # sha256 of the request's body (api.idempotency.request_hash)
    path: str


@dataclass(frozen=True)
class Answer:
    """What a report is answered: status and body, replayed from its key's row or not."""

    status: int
    body: dict
    replayed: bool = False

    def response(self) -> JSONResponse:
        """The HTTP answer."""
        if self.replayed:
            return replayed(self.body, self.status)
        return JSONResponse(self.body, status_code=self.status)


async def report(db: Database, who: Principal, rules: Rules, grids: GridLocator,
                 body: IncidentIn, idempotency_key: str | None, path: str) -> JSONResponse:
    """``POST /incidents``: the report stored once per ``idempotency_key`` and committed with
    the others of its batch; the answer (201, or the stored one of a retried request)."""
    check_key(idempotency_key)
    item = Report(who, rules, grids, category_id(rules, body.category),
                  report_channel(who, body.channel), body.lon, body.lat, body.description,
                  body.reporter_name or who.name, body.reporter_phone, idempotency_key,
                  model_hash(body), path)
    answer: Answer = await asyncio.wrap_future(db.batch.submit(Grouped(write_reports, item)))
    return answer.response()


Key = tuple[int, str]  # (token id, Idempotency-Key)


@dataclass
class _Touched:
    """An incident this batch writes: new (its id taken from the batch's ids, its row
    inserted at the end) or stored (its row updated at the end), the library's incident with
    every report of the batch in it, and the token of each of its steps not stored yet."""

    id: int
    incident: Incident
    plan_id: int | None
    created_at: datetime
    stored: int  # steps in the store already (0 for a new incident)
    tokens: list[int | None] = field(default_factory=list)
    row: dict | None = None  # a new incident's columns that do not follow from its state

    def took(self, token_id: int | None) -> None:
        """The steps added since the last call were made by ``token_id``."""
        self.tokens += [token_id] * (len(self.incident.history) - self.stored
                                     - len(self.tokens))


@dataclass
class _Batch:
    """What a batch writes at its end: one executemany per table."""

    ids: Iterator[int]  # ids for new incidents
    new: list[_Touched] = field(default_factory=list)
    stored: dict[int, _Touched] = field(default_factory=dict)  # by id
    codes: list[dict] = field(default_factory=list)
    keys: list[dict] = field(default_factory=list)

    def write(self, session: Session) -> None:
        conn = session.connection()
        if self.new:
            conn.execute(store.INSERT_INCIDENT, [store.new_row(t.id, t.incident, t.row or {})
                                                 for t in self.new])
        for t in self.stored.values():
            store.update_state(session, t.id, t.incident, datetime.now(UTC))
        steps = [step for t in (*self.new, *self.stored.values())
                 for step in store.step_values(t.id, t.incident, t.tokens, t.stored)]
        for statement, rows in ((store.INSERT_STEPS, steps), (INSERT_CODES, self.codes),
                                (INSERT_KEYS, self.keys)):
            if rows:
                conn.execute(statement, rows)


def write_reports(session: Session, reports: list[Report]) -> list[Answer | Exception]:
    """Write ``reports`` in ``session``'s transaction (the caller commits); each answered
    with its :class:`Answer` or its error (then nothing of it is written).

    First every report is checked without writing (its key answered already, in the store or
    earlier in the batch; its point in a grid), then those left are taken in order (merged
    into an incident, stored or new in this batch, or a new one), and the rows are written
    together at the end."""
    plans: dict[int, PlanGrids | None] = {}  # the active plan, by locator (one per app)
    for r in reports:
        if id(r.grids) not in plans:
            plans[id(r.grids)] = r.grids.active(session)
    keys = sorted({(r.who.token_id, r.key) for r in reports if r.key is not None})
    if session.get_bind().dialect.name == "postgresql":
        lock_keys(session, keys)  # another process may be writing one of them
    answers = stored_answers(session, keys)
    out: list[Answer | Exception | None] = [None] * len(reports)
    writers: dict[Key, int] = {}  # key -> the report of this batch that writes it
    copies: list[tuple[int, int]] = []  # (i, j): report i is answered as report j
    todo: list[tuple[int, str | None]] = []  # (report, its grid code) to write
    for i, r in enumerate(reports):
        key = None if r.key is None else (r.who.token_id, r.key)
        try:
            if key is not None and key in answers:
                out[i] = _replay(answers[key], r.digest)
            elif key is not None and key in writers:
                check_same_request(reports[writers[key]].digest, r.digest)
                copies.append((i, writers[key]))
            else:
                todo.append((i, _grid_code(r, plans[id(r.grids)])))
                if key is not None:
                    writers[key] = i
        except ApiError as error:
            out[i] = error
    if todo:
        batch = _Batch(store.new_ids(session, len(todo)))
        # Nothing is written before the end: the candidates in the store are found at once
        # (those new in this batch are the batch's own, in memory)
        times = [datetime.now(UTC) for _ in todo]
        found = store.duplicate_ids_many(session, [store.duplicate_window(
            reports[i].category, reports[i].lon, reports[i].lat, now,
            reports[i].rules.duplicate_m, reports[i].rules.duplicate_hours)
            for (i, _), now in zip(todo, times, strict=True)])
        ids = sorted({ident for idents in found for ident in idents})
        for row, incident, stored in store.load_rows(session, ids) if ids else ():
            batch.stored[row.id] = _Touched(row.id, incident, row.plan_id,
                                            store.aware(row.created_at), stored)
        for (i, grid_code), now, idents in zip(todo, times, found, strict=True):
            out[i] = _take(reports[i], plans[id(reports[i].grids)], grid_code, now, idents,
                           batch)
        batch.write(session)
    for i, j in copies:
        first = out[j]
        out[i] = first if not isinstance(first, Answer) else Answer(first.status, first.body,
                                                                     replayed=True)
    assert all(a is not None for a in out), "every report answered"
    return cast(list[Answer | Exception], out)


def _replay(found: StoredAnswer, digest: str) -> Answer:
    check_same_request(found.request_sha256, digest)
    return Answer(found.status_code, found.response, replayed=True)


def _grid_code(r: Report, plan: PlanGrids | None) -> str | None:
    """The code of the active plan's grid holding the report (None without an active plan);
    422 ``outside_area`` outside every grid."""
    grid_code = None if plan is None else plan.code_at(r.lon, r.lat)
    if plan is not None and grid_code is None:
        raise outside_error(r.lon, r.lat, plan)
    return grid_code


def _take(r: Report, plan: PlanGrids | None, grid_code: str | None, now: datetime,
          found: list[int], batch: _Batch) -> Answer:
    """Report ``r`` at ``now`` merged into a duplicate (one of the stored incidents ``found``
    near it, or one new in this batch) or a new incident; its feedback code and its key's
    answer."""
    # stored ones by id, then this batch's new ones (by id too): the nearest wins
    candidates = [batch.stored[i] for i in found] + [
        t for t in batch.new if t.incident.category == r.category]
    incident, merged = merge_report([t.incident for t in candidates], "new", r.category,
                                    r.lon, r.lat, now, r.reporter, r.rules,
                                    description=r.description, phone=r.phone or "",
                                    channel=r.channel)
    if merged:
        touched = next(t for t in candidates if t.incident is incident)
    else:
        incident.grid_id = grid_code
        plan_id = None if plan is None else plan.plan_id
        touched = _Touched(next(batch.ids), incident, plan_id, now, 0, row={
            "category": r.category, "description": r.description, "reporter_name": r.reporter,
            "reporter_phone": r.phone, "reporter_token_id": r.who.token_id,
            "plan_id": plan_id, "created_at": now, "updated_at": now})
        incident.incident_id = str(touched.id)
        batch.new.append(touched)
    touched.took(r.who.token_id)
    out = incident_view(touched.id, incident, touched.plan_id, touched.created_at, merged)
    code, code_sha256 = make_code()
    batch.codes.append({"incident_id": touched.id, "code_sha256": code_sha256,
                        "created_at": now})
    out.feedback_code = code  # shown once (api.services.feedback)
    body = out.model_dump(mode="json")  # what jsonable_encoder makes of it
    if r.key is not None:
        batch.keys.append(key_values(r.who, r.key, "POST", r.path, r.digest, 201, body))
    return Answer(201, body)


def incident_view(incident_id: int, incident: Incident, plan_id: int | None,
                  created_at: datetime, merged: bool) -> IncidentOut:
    """The API's view of an incident just written (what api.services.incidents.incident_out
    makes of its row): its id, plan and time reported from the row, the rest from the
    library's incident the row's state was copied from."""
    state = store.state_values(incident)
    return IncidentOut(id=incident_id, category=incident.category,
                       description=incident.description, status=state["status"],
                       lon=incident.lon, lat=incident.lat, plan_id=plan_id,
                       grid_code=state["grid_code"], worker_id=state["worker_id"],
                       organisation_id=state["organisation_id"], channel=state["channel"],
                       created_at=created_at, accept_by=state["accept_by"],
                       close_by=state["close_by"],
                       overdue=incident.overdue(datetime.now(UTC)),
                       escalated_to=state["escalated_to"],
                       reporters=max(1, len(incident.reporters)), merged=merged)
