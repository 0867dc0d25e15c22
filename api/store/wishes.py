"""Micro-wishes in the store and in dispatch.community.wishes, back and forth.

A stored wish is its row (``wishes``) plus its steps (``wish_steps``, append-only).
:func:`to_domain` rebuilds a ``dispatch.community.wishes.Wish`` by replaying the steps through
the library's table; after the library changed it, :func:`save_domain` inserts only the new
steps and copies the stage, claimant, hours and times onto the row. The library decides what is
legal; the store never rewrites history.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.store import models as m
from api.store.incidents import aware
from dispatch.community.wishes import OPEN_STAGES, Step, Wish, restore_wish


def steps_of(session: Session, wish_id: int) -> list[m.WishStepRow]:
    """The stored steps of a wish, in order."""
    return list(session.scalars(select(m.WishStepRow).where(m.WishStepRow.wish_id == wish_id)
                                .order_by(m.WishStepRow.seq)))


def to_domain(session: Session, row: m.WishRow) -> Wish:
    """The library's wish for ``row`` and its stored steps."""
    steps = [Step(aware(s.at), s.stage, s.action, s.who, s.note, s.volunteer_id, s.hours)
             for s in steps_of(session, row.id)]
    return restore_wish(str(row.id), row.category, steps)


def utc(at: datetime | None) -> datetime | None:
    """``at`` in UTC (SQLite keeps the wall time without its zone: store UTC only)."""
    return None if at is None else aware(at).astimezone(UTC)


def save_domain(session: Session, row: m.WishRow, wish: Wish, token_id: int | None) -> None:
    """Insert the steps of ``wish`` not stored yet and copy its state onto ``row``."""
    stored = session.scalar(select(func.count()).select_from(m.WishStepRow)
                            .where(m.WishStepRow.wish_id == row.id)) or 0
    for seq, s in enumerate(wish.history[stored:], start=stored + 1):
        session.add(m.WishStepRow(wish_id=row.id, seq=seq, at=utc(s.at), stage=s.stage,
                                  action=s.action, who=s.who, note=s.note,
                                  volunteer_id=s.volunteer_id, hours=s.hours,
                                  token_id=token_id))
    row.status = wish.stage
    row.volunteer_id = wish.volunteer_id
    row.hours = wish.hours
    row.done_at = utc(wish.when("done")) if wish.stage in ("done", "confirmed") else None
    row.confirmed_at = utc(wish.when("confirm")) if wish.stage == "confirmed" else None


def open_claims(session: Session) -> dict[int, int]:
    """Volunteer id -> wishes they hold claimed and not yet done."""
    rows = session.execute(select(m.WishRow.volunteer_id, func.count())
                           .where(m.WishRow.status == "claimed",
                                  m.WishRow.volunteer_id.is_not(None))
                           .group_by(m.WishRow.volunteer_id)).all()
    return {int(v): int(n) for v, n in rows if v is not None}


def open_rows(session: Session) -> list[m.WishRow]:
    """The wishes not yet confirmed or cancelled, by id."""
    return list(session.scalars(select(m.WishRow).where(m.WishRow.status.in_(OPEN_STAGES))
                                .order_by(m.WishRow.id)))
