"""Incident statistics per grid, worker, category or channel: counts, open, overdue, median
hours.

Built on ``lifecycle.incidents_frame``; times are timezone-aware (Beijing time when naive).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import Incident, incidents_frame

BY = ("grid_id", "assignee", "category", "channel")


def incident_statistics(incidents: Iterable[Incident], by: str, now: datetime) -> pd.DataFrame:
    """Per ``by`` ("grid_id", "assignee", "category" or "channel", the channel of the first
    report): incidents, open, overdue, and the median hours from report to accepted and to
    closed (NaN when none yet)."""
    if by not in BY:
        raise IncidentError(f"不能按 {by!r} 统计（可用 {'、'.join(BY)}）",
                            f"cannot group by {by!r} (use {', '.join(BY)})")
    frame = incidents_frame(incidents, now)
    columns = [by, "incidents", "open", "overdue", "median_accept_h", "median_close_h"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["open"] = ~frame["stage"].isin(["closed", "rejected"])
    frame["accept_h"] = _hours(frame["accepted_at"], frame["reported_at"])
    frame["close_h"] = _hours(frame["closed_at"], frame["reported_at"])
    stats = frame.groupby(frame[by].fillna("—"), sort=True).agg(
        incidents=("incident_id", "size"), open=("open", "sum"), overdue=("overdue", "sum"),
        median_accept_h=("accept_h", "median"), median_close_h=("close_h", "median"))
    return stats.reset_index()[columns]


def _hours(end: pd.Series, start: pd.Series) -> pd.Series:
    delta = pd.to_datetime(end, utc=True) - pd.to_datetime(start, utc=True)
    return delta.dt.total_seconds() / 3600
