"""Visit calendars as a job (api.jobs.JOB_KINDS ``visit_calendar``): the calendars of the
active plan's workers and party members (api.services.visits), computed from a read session
and written with the job's success in one transaction, so that a failure or a cancel leaves
the previous calendars whole."""

from __future__ import annotations

from api.jobs.runner import JobProgress, finish_job
from api.services.incidents import rules_in_force
from api.services.visits import plan_calendars_for, save_calendars
from api.settings import Settings
from api.store.db import Database


def run_visit_calendar(db: Database, settings: Settings, job_id: int | None,
                       params: dict) -> dict:
    """Compute and store the visit calendars of ``params`` (VisitCalendarIn, ``plan_id``)."""
    step = JobProgress(db, job_id, 2) if job_id is not None else (lambda _name: None)
    step("日历 calendars")
    with db.read_session() as session:
        computed = plan_calendars_for(session, rules_in_force(settings), params, step)
    result = {k: v for k, v in computed.items() if k != "rows"}
    with db.writing() as session:
        if job_id is None or finish_job(session, job_id, result):
            save_calendars(session, computed, job_id)
    return result
