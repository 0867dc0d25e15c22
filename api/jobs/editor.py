"""The plan editor's re-balancing job: partition.edits.rebalance over a draft's unlocked
grids (partition.rebalance, which can take seconds on a large draft), written as one edit of
the draft (undoable like any other) with the job's success in one transaction, only if the
draft is still at the version the job started from."""

from __future__ import annotations

from sqlalchemy import update

from api.jobs.runner import LeaseLostError, finish_job, owned
from api.settings import Settings
from api.store.db import Database
from api.store.models import JobRow
from gis.errors import ArgumentError


def run_rebalance(db: Database, settings: Settings, job_id: int, params: dict) -> None:
    """Re-balance the draft ``params["plan_id"]`` from ``params["version"]``."""
    from api.services.editor import EditorCache, commit_edit, load, rebalance_edit

    cache = EditorCache()
    plan_id, version = params["plan_id"], params["version"]

    def stale(now: int) -> ArgumentError:
        return ArgumentError(
            f"草稿在重新平衡期间已被修改（版本 {version} → {now}）：结果未写入，请重新运行",
            f"the draft changed while re-balancing (version {version} -> {now}): nothing "
            "was written, run it again")

    def progress(done: int, total: int) -> None:
        with db.writing() as session:
            session.execute(update(JobRow).where(*owned(job_id)).values(
                progress=round(0.1 + 0.85 * done / max(total, 1), 3),
                step=f"重新平衡 re-balancing {done}/{total}"))

    with db.read_session() as session:
        loaded = load(session, settings, cache, plan_id)
        if loaded.plan.version != version:
            raise stale(loaded.plan.version)
        session.expunge_all()
    edit = rebalance_edit(loaded, params.get("seed", 0), progress)
    with db.writing() as session:
        current = load(session, settings, cache, plan_id)
        if current.plan.version != version:
            raise stale(current.plan.version)
        moved = len(edit.changes)
        result = {"plan_id": plan_id, "buildings_moved": moved,
                  "households_moved": sum(current.ctx.households(b) for b, _, _ in edit.changes),
                  "version": version + 1 if moved else version}
        if not finish_job(session, job_id, result):
            raise LeaseLostError(job_id)
        if moved:
            commit_edit(session, cache, current, edit, version, params.get("token_id"),
                        "rebalance")
