"""Household visits in the store: visit classes per building, scheduled visits of the
calendars, visits done.

Call these inside one write transaction (a request's ``WriteDb`` or a job's final
transaction): an import replaces a plan's classes whole, a calendar replaces a person's
visits from its start, so that a failure leaves the previous rows as they were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.store import models as m
from dispatch.incidents.rules import beijing
from dispatch.schedule.classes import ORDINARY
from dispatch.schedule.horizon import batch_of_trip, split_group_id


def replace_classes(session: Session, plan_id: int, classes: pd.DataFrame,
                    grid_of: dict[str, str | None]) -> int:
    """Replace the plan's visit classes with ``classes`` (dispatch.schedule.classes'
    ``read_visit_classes`` frame); returns the rows written."""
    session.execute(delete(m.VisitClassRow).where(m.VisitClassRow.plan_id == plan_id))
    session.add_all(m.VisitClassRow(plan_id=plan_id, building_id=r.building_id,
                                    grid_code=grid_of.get(r.building_id),
                                    visit_class=r.visit_class, households=int(r.households),
                                    last_visit=r.last_visit)
                    for r in classes.itertuples())
    session.flush()
    return len(classes)


def classes(session: Session, plan_id: int,
            grid_codes: Iterable[str] | None = None) -> list[m.VisitClassRow]:
    """The plan's visit classes, of the given grids only when ``grid_codes`` is given."""
    q = select(m.VisitClassRow).where(m.VisitClassRow.plan_id == plan_id)
    if grid_codes is not None:
        q = q.where(m.VisitClassRow.grid_code.in_(list(grid_codes)))
    return list(session.scalars(q.order_by(m.VisitClassRow.building_id,
                                           m.VisitClassRow.visit_class,
                                           m.VisitClassRow.id)))


def replace_calendar(session: Session, plan_id: int, person_kind: str, person_id: int,
                     start: date, rows: list[dict], job_id: int | None = None) -> int:
    """Replace a person's scheduled visits from ``start`` on with ``rows`` (ScheduledVisitRow
    fields); earlier days stay as they were planned."""
    session.execute(delete(m.ScheduledVisitRow).where(
        m.ScheduledVisitRow.plan_id == plan_id, m.ScheduledVisitRow.person_kind == person_kind,
        m.ScheduledVisitRow.person_id == person_id, m.ScheduledVisitRow.day >= start))
    session.add_all(m.ScheduledVisitRow(plan_id=plan_id, person_kind=person_kind,
                                        person_id=person_id, job_id=job_id, **r)
                    for r in rows)
    session.flush()
    return len(rows)


def calendar(session: Session, plan_id: int, person_kind: str, person_id: int,
             first: date | None = None, last: date | None = None) -> list[m.ScheduledVisitRow]:
    """A person's scheduled visits between ``first`` and ``last`` (inclusive), by day."""
    q = select(m.ScheduledVisitRow).where(
        m.ScheduledVisitRow.plan_id == plan_id, m.ScheduledVisitRow.person_kind == person_kind,
        m.ScheduledVisitRow.person_id == person_id)
    if first is not None:
        q = q.where(m.ScheduledVisitRow.day >= first)
    if last is not None:
        q = q.where(m.ScheduledVisitRow.day <= last)
    return list(session.scalars(q.order_by(m.ScheduledVisitRow.day,
                                           m.ScheduledVisitRow.building_id,
                                           m.ScheduledVisitRow.id)))


def add_done(session: Session, *, plan_id: int, building_id: str, grid_code: str | None,
             done_at: datetime, source: str, visit_class: str | None = None,
             worker_id: int | None = None, party_member_id: int | None = None,
             token_id: int | None = None, group_id: str | None = None) -> m.VisitDoneRow:
    """Record a visit done and move the building's last visit (of ``visit_class``, or of
    every class) to its Beijing date when later. Where a class has several rows (households
    last visited on different days), the visit goes to the row visited longest ago (not known
    first), the one a calendar makes due first: one visit does not make a whole building's
    households fall due together again; none moves when a row of the class already has
    this day (the visit is counted, :func:`visited_first`). With ``group_id`` (the
    calendar's group, ``building_id/class/trip``, checked by the caller: of this building
    and of ``visit_class``), the row that trip belongs to moves (:func:`batch_of_trip`, the
    trips numbered as the calendar numbers them), whatever the others' days; a trip of the
    households no row names (ordinary, last visit not known) moves no row (the class table
    gives them the visit, :func:`last_visits`)."""
    row = m.VisitDoneRow(plan_id=plan_id, building_id=building_id, grid_code=grid_code,
                         visit_class=visit_class, done_at=done_at, source=source,
                         worker_id=worker_id, party_member_id=party_member_id,
                         token_id=token_id, group_id=group_id)
    session.add(row)
    day = beijing(done_at).date()
    named = split_group_id(group_id) if group_id is not None else None
    if named is not None:
        rows = list(session.scalars(select(m.VisitClassRow).where(
            m.VisitClassRow.plan_id == plan_id, m.VisitClassRow.building_id == building_id,
            m.VisitClassRow.visit_class == named[1]).order_by(m.VisitClassRow.id)))
        k = batch_of_trip([r.households for r in rows], named[1], named[2])
        if k is not None and before(rows[k].last_visit, day):
            rows[k].last_visit = day
        session.flush()
        return row
    q = select(m.VisitClassRow).where(m.VisitClassRow.plan_id == plan_id,
                                      m.VisitClassRow.building_id == building_id)
    if visit_class is not None:
        q = q.where(m.VisitClassRow.visit_class == visit_class)
    by_class: dict[str, list[m.VisitClassRow]] = {}
    for cls in session.scalars(q.order_by(m.VisitClassRow.id)):
        by_class.setdefault(cls.visit_class, []).append(cls)
    for rows in by_class.values():
        k = visited_first([r.last_visit for r in rows], day)
        if k is not None:
            rows[k].last_visit = day
    session.flush()
    return row


def visited_first(lasts: Sequence[date | None], day: date) -> int | None:
    """Which of one building's rows of a class (their last visits, in order) a visit on
    ``day`` is counted for: the one last visited longest ago (not known first; the first
    among equals) when before ``day``; None when a row was already visited on ``day`` (the
    same visit recorded twice, say by the worker and from the track: a visit record does not
    say which households, and counting it once errs on visiting early, not late)."""
    if not lasts or day in lasts:
        return None
    k = min(range(len(lasts)), key=lambda i: (lasts[i] is not None, lasts[i] or day))
    return k if before(lasts[k], day) else None


def before(last: date | None, day: date) -> bool:
    """Whether a visit on ``day`` moves a last visit ``last`` (not known, or earlier)."""
    return last is None or last < day


def done_between(session: Session, plan_id: int, start: datetime, end: datetime,
                 worker_id: int | None = None) -> list[m.VisitDoneRow]:
    """Visits done in [start, end), of one worker when given, in the order they were done."""
    q = select(m.VisitDoneRow).where(m.VisitDoneRow.plan_id == plan_id,
                                     m.VisitDoneRow.done_at >= start,
                                     m.VisitDoneRow.done_at < end)
    if worker_id is not None:
        q = q.where(m.VisitDoneRow.worker_id == worker_id)
    return list(session.scalars(q.order_by(m.VisitDoneRow.done_at, m.VisitDoneRow.id)))


def last_visits(session: Session, plan_id: int, unnamed: bool = False
                ) -> dict[str, datetime]:
    """The latest visit done at each building of the plan (any class, any source); with
    ``unnamed``, of the visits that name no visit group (those count for the group's
    batch only, :func:`group_visits`)."""
    out: dict[str, datetime] = {}
    q = select(m.VisitDoneRow.building_id, m.VisitDoneRow.done_at).where(
        m.VisitDoneRow.plan_id == plan_id)
    if unnamed:
        q = q.where(m.VisitDoneRow.group_id.is_(None))
    for building, at in session.execute(q):
        if building not in out or at > out[building]:
            out[building] = at
    return out


def group_visits(session: Session, plan_id: int, visit_class: str = ORDINARY
                 ) -> dict[tuple[str, int], datetime]:
    """The latest visit done naming each visit group of ``visit_class``: (building id,
    trip number) -> when."""
    out: dict[tuple[str, int], datetime] = {}
    for group, at in session.execute(select(m.VisitDoneRow.group_id, m.VisitDoneRow.done_at)
                                     .where(m.VisitDoneRow.plan_id == plan_id,
                                            m.VisitDoneRow.group_id.is_not(None))):
        named = split_group_id(group or "")
        if named is None or named[1] != visit_class:
            continue
        key = (named[0], named[2])
        if key not in out or at > out[key]:
            out[key] = at
    return out
