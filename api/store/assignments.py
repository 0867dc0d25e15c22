"""Who serves which grid of a plan: the assignments of workers (网格员) and grid leaders (网格长).

Written by hand (the grids router) or by dispatch/ (the assignments job), inside the caller's
write transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.store import models as m
from gis.errors import ArgumentError


def save_assignments(session: Session, plan_id: int, workers_by_grid: dict[str, int],
                     role: str = "worker", source: str = "dispatch") -> int:
    """Replace the plan's ``role`` assignments with ``{grid code: worker id}``; returns how
    many were written.

    Raises:
        ValueError: a grid code not in the plan or a worker id that does not exist.
    """
    grid_ids = dict(session.execute(select(m.GridRow.code, m.GridRow.id)
                                    .where(m.GridRow.plan_id == plan_id)).all())
    unknown = set(workers_by_grid) - set(grid_ids)
    if unknown:
        raise ArgumentError(f"网格不在方案 {plan_id} 中：{', '.join(sorted(unknown))}",
                            f"grids not in plan {plan_id}: {', '.join(sorted(unknown))}")
    known = set(session.scalars(select(m.WorkerRow.id).where(
        m.WorkerRow.id.in_(set(workers_by_grid.values())))))
    missing = set(workers_by_grid.values()) - known
    if missing:
        raise ArgumentError(f"网格员不存在：{sorted(missing)}",
                            f"workers not found: {sorted(missing)}")
    session.execute(delete(m.AssignmentRow).where(m.AssignmentRow.plan_id == plan_id,
                                               m.AssignmentRow.role == role))
    session.add_all(m.AssignmentRow(plan_id=plan_id, grid_id=grid_ids[code], worker_id=worker,
                                 role=role, source=source)
                    for code, worker in workers_by_grid.items())
    session.flush()
    return len(workers_by_grid)
