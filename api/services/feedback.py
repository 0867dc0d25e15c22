"""Residents' feedback on closed incidents (群众满意度评价), the heart of the indicators.

* Every report gets a one-time feedback code (评价码), returned once in the report's answer
  (POST /incidents, and Open311 as the extension field ``feedback_code``); only its sha256 is
  stored, like tokens. A reporter without a token rates with it: ``POST
  /incidents/{id}/feedback`` with ``code`` (or Open311's ``requests/{id}/feedback.json``).
  A code rates each closing of its incident once.
* A grid worker records a rating on behalf of a resident without a phone (their token, the
  incident in one of their grids; an admin any incident); the channel is recorded
  (dispatch.channels, default ``on_behalf``).
* Ratings: satisfied (满意), basically satisfied (基本满意), not satisfied (不满意); with
  ``fixed`` false within ``REOPEN_DAYS`` days of closing, the incident is reopened
  (dispatch.incidents.lifecycle.reopen: back to 退回 with its history and a new deadline to
  close counted from now), in the same transaction as the rating.

A retried report (Idempotency-Key) answers the stored answer, code included: the phone that
lost the first answer needs it. That stored answer is the one place the code is kept in clear.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, check
from api.errors import ApiError, not_found
from api.schemas import FeedbackIn, FeedbackOut
from api.store import incidents as store
from api.store import models as m
from dispatch.channels import check_channel
from dispatch.incidents.indicators import RATINGS
from dispatch.incidents.lifecycle import REOPEN_DAYS, reopen
from dispatch.incidents.rules import Rules

# No 0/O, 1/I/L: read aloud or typed from paper. 31 symbols, 10 of them: about 49.5 bits.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
RESIDENT_CHANNEL = "app"
ON_BEHALF_CHANNEL = "on_behalf"


def _digest(code: str) -> str:
    normal = re.sub(r"[\s-]", "", code).upper()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def make_code() -> tuple[str, str]:
    """A new one-time feedback code and the sha256 to store (the code itself never is)."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return code, _digest(code)


def new_code(session: Session, incident_id: int) -> str:
    """A one-time feedback code for a report of incident ``incident_id``; only its sha256 is
    stored (in ``session``'s transaction). Returns the code (shown once)."""
    code, digest = make_code()
    session.add(m.FeedbackCodeRow(incident_id=incident_id, code_sha256=digest))
    session.flush()
    return code


def _bad_code() -> ApiError:
    # one answer for an unknown code and another incident's: nothing to learn by guessing
    return ApiError(403, "bad_feedback_code", "评价码无效：请核对上报时收到的评价码",
                    "invalid feedback code: check the code given when you reported")


def _worker_serves(session: Session, worker_id: int | None, row: m.IncidentRow) -> bool:
    """Whether ``worker_id`` serves the incident's grid in the incident's plan."""
    if worker_id is None or row.grid_code is None:
        return False
    found = session.scalar(
        select(func.count()).select_from(m.AssignmentRow)
        .join(m.GridRow, m.GridRow.id == m.AssignmentRow.grid_id)
        .where(m.GridRow.plan_id == row.plan_id, m.GridRow.code == row.grid_code,
               m.AssignmentRow.worker_id == worker_id))
    return bool(found)


def give(session: Session, rules: Rules, who: Principal | None, incident_id: int,
         body: FeedbackIn, now: datetime | None = None) -> FeedbackOut:
    """Record a rating of closed incident ``incident_id``: with ``body.code`` (``who`` may be
    None), or by ``who`` on a resident's behalf (incidents.feedback: an admin, or a worker
    serving the incident's grid). Reopens it when not fixed within ``REOPEN_DAYS`` days of
    closing. Committed.

    Raises:
        ApiError: 401 neither code nor token; 403 a bad code, a role or worker not allowed;
            404 no such incident; 409 not closed, or this code has rated this closing.
        gis.errors.ArgumentError: an unknown channel (422).
    """
    now = now or datetime.now(UTC)
    code_id = None
    if body.code:
        code_row = session.scalar(select(m.FeedbackCodeRow).where(
            m.FeedbackCodeRow.code_sha256 == _digest(body.code)))
        if code_row is None or code_row.incident_id != incident_id:
            raise _bad_code()
        code_id = code_row.id
        channel = check_channel(body.channel or RESIDENT_CHANNEL)
        by = "居民评价 resident"
    else:
        if who is None:
            raise ApiError(401, "unauthorized",
                           "须提供评价码，或由网格员登录后代为评价",
                           "give the feedback code, or a grid worker records the rating "
                           "with their token")
        check(who, "incidents.feedback")
        channel = check_channel(body.channel or ON_BEHALF_CHANNEL)
        by = f"{who.name}（代居民评价 on a resident's behalf）"
    row = session.get(m.IncidentRow, incident_id, with_for_update=True)
    if row is None:
        raise not_found("事件", "incident", incident_id)
    if code_id is None and who is not None and who.role == "worker" \
            and not _worker_serves(session, who.worker_id, row):
        raise ApiError(403, "forbidden", "网格员只能为本人网格的事件代录评价",
                       "a worker records ratings for incidents in their own grids only")
    if row.status != "closed":
        raise ApiError(409, "not_closed", f"事件 {incident_id} 尚未结案，结案后才能评价",
                       f"incident {incident_id} is not closed: it can be rated once closed")
    closed_seq = session.scalar(select(func.max(m.IncidentStepRow.seq)).where(
        m.IncidentStepRow.incident_id == incident_id, m.IncidentStepRow.action == "closed"))
    assert closed_seq is not None, "a closed incident has a closing step"
    if code_id is not None and session.scalar(select(func.count()).select_from(m.FeedbackRow)
                                              .where(m.FeedbackRow.code_id == code_id,
                                                     m.FeedbackRow.closed_seq == closed_seq)):
        raise ApiError(409, "already_rated", "此评价码已评价过本次结案",
                       "this code has already rated this closing of the incident")
    reopened = False
    zh, en = RATINGS[body.rating]
    note_zh, note_en = f"已记录评价：{zh}", f"rating recorded: {en}"
    if not body.fixed:
        incident = store.load(session, [row])[0]
        closed_at = incident.closed_at()
        assert closed_at is not None
        if (now - closed_at).total_seconds() <= REOPEN_DAYS * 86400:
            close_by = rules.deadlines(row.category, now)[1]
            reopen(incident, by, f"群众评价未解决 not fixed: {body.comment}".strip(), now,
                   close_by=close_by)
            store.save_domain(session, row, incident, None if who is None else who.token_id)
            reopened = True
            note_zh += "；问题未解决，事件已重新办理"
            note_en += "; not fixed: the incident is reopened"
        else:
            note_zh += f"；结案已超过 {REOPEN_DAYS} 天，不再重新办理"
            note_en += f"; closed more than {REOPEN_DAYS} days ago: not reopened"
    feedback = m.FeedbackRow(
        incident_id=incident_id, closed_seq=closed_seq, rating=body.rating, fixed=body.fixed,
        comment=body.comment, channel=channel, code_id=code_id,
        worker_id=who.worker_id if code_id is None and who is not None else None,
        token_id=None if who is None else who.token_id, reopened=reopened, created_at=now)
    session.add(feedback)
    try:
        session.flush()
    except IntegrityError:  # the same code and closing at the same moment
        session.rollback()
        raise ApiError(409, "already_rated", "此评价码已评价过本次结案",
                       "this code has already rated this closing of the incident") from None
    session.commit()
    return FeedbackOut(id=feedback.id, incident_id=incident_id, rating=body.rating,
                       fixed=body.fixed, channel=channel,
                       on_behalf_of_resident=code_id is None, reopened=reopened,
                       status=row.status, note_zh=note_zh, note_en=note_en)
