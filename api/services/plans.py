"""Plans (网格方案): start a partition job, read, diff, activate, export as GeoPackage, and
make an active plan at once (``wangge demo``, scripts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from api.errors import ApiError, not_found
from api.jobs.runner import JobRunner
from api.schemas import PlanCreate, PlanOut
from api.services.datasets import load_dataset
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow, JobRow, PlanRow
from api.store.plans import as_partition_plan, diff_plans, save_plan
from gis.errors import ArgumentError
from partition.metrics import DEFAULT_TARGET
from partition.plan_io import write_plan


def plan_row(session: Session, plan_id: int) -> PlanRow:
    """The plan (404 if none)."""
    plan = session.get(PlanRow, plan_id)
    if plan is None:
        raise not_found("网格方案", "plan", plan_id)
    return plan


def start_partition(session: Session, runner: JobRunner, token_id: int,
                    body: PlanCreate) -> JobRow:
    """Queue the partition job of a new draft plan (404 for an unknown dataset or previous
    plan; locked grids need a previous plan)."""
    if session.get(DatasetRow, body.dataset_id) is None:
        raise not_found("数据集", "dataset", body.dataset_id)
    if body.previous_plan_id is not None:
        plan_row(session, body.previous_plan_id)
    elif body.locked:
        raise ApiError(422, "bad_request", "锁定网格需要指定原方案 previous_plan_id",
                       "locked grids need previous_plan_id")
    return runner.submit("partition", body.model_dump(), token_id)


def list_plans(session: Session, limit: int, offset: int,
               status: str | None = None) -> list[PlanRow]:
    """A page of the plans, by id, of one ``status`` when given."""
    query = select(PlanRow).order_by(PlanRow.id)
    if status:
        query = query.where(PlanRow.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


def diff(session: Session, plan_id: int, other_id: int) -> dict:
    """What changed from ``plan_id`` to ``other_id`` (api.store.plans.diff_plans)."""
    plan_row(session, plan_id)
    plan_row(session, other_id)
    return diff_plans(session, plan_id, other_id)


def activate(session: Session, plan_id: int) -> PlanOut:
    """Make the plan the active one, the previous one archived; committed."""
    plan = plan_row(session, plan_id)
    session.execute(update(PlanRow).where(PlanRow.status == "active", PlanRow.id != plan_id)
                    .values(status="archived"))
    plan.status = "active"
    plan.activated_at = datetime.now(UTC)
    session.flush()
    out = PlanOut.model_validate(plan)
    session.commit()
    return out


def export(session: Session, settings: Settings, plan_id: int) -> Path:
    """The plan written as a GeoPackage (layers grids, buildings) under data_dir/exports; the
    caller deletes it once sent."""
    plan = plan_row(session, plan_id)
    exports = settings.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    path = exports / f"plan-{plan_id}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}.gpkg"
    write_plan(as_partition_plan(session, plan), path, plan.attribution)
    return path


def make_active_plan(db: Database, settings: Settings, dataset_id: int,
                     target_households: int = DEFAULT_TARGET, name: str = "", seed: int = 0,
                     progress=None) -> int:
    """Partition the dataset now (in this process), store the plan and make it the active
    one, in one transaction; returns the plan id."""
    from api.jobs.partition import footprints_for_editor, territory_for_editor
    from partition.plan import make_plan

    with db.read_session() as session:
        dataset = session.get(DatasetRow, dataset_id)
    if dataset is None:
        raise ArgumentError(f"数据集 {dataset_id} 不存在", f"dataset {dataset_id} not found")
    area = load_dataset(settings, dataset, progress)
    plan = make_plan(area, target_households, seed=seed, progress=progress,
                     territory=territory_for_editor(settings, dataset_id, area, None, progress))
    with db.writing() as session:
        session.execute(update(PlanRow).where(PlanRow.status == "active")
                        .values(status="archived"))
        row = save_plan(session, plan, dataset_id=dataset_id, name=name or dataset.name,
                        params={"seed": seed}, attribution=area.attribution, job_id=None)
        row.status = "active"
        session.flush()
        plan_id = row.id
    footprints_for_editor(db, settings, plan_id)
    return plan_id
