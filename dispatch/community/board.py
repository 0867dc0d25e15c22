"""The micro-star board (微星光): wishes fulfilled and hours per volunteer, team and grid.

A wish counts as fulfilled when the resident confirmed it (``confirmed``), on the day of the
confirmation; its hours are those its ``done`` step recorded. Wishes done but not yet confirmed
are counted apart (``awaiting``, by the time they were done), so that a coordinator can chase
the confirmations. Periods are half-open, ``[start, end)``, timezone-aware (naive: Beijing).
Plain pandas: a group-by is all it takes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import pandas as pd

from dispatch.community.wishes import WishError
from dispatch.incidents.rules import beijing

BoardBy = Literal["volunteer", "team", "grid"]
KEYS: Final[dict[str, str]] = {"volunteer": "volunteer_id", "team": "team_id",
                               "grid": "grid_id"}
INPUT: Final = ["wish_id", "volunteer_id", "team_id", "grid_id", "stage", "hours", "done_at",
                "confirmed_at"]
OUTPUT: Final = ["fulfilled", "hours", "awaiting"]


def _in(period_start: datetime | None, period_end: datetime | None,
        times: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(times, utc=True)
    inside = stamps.notna()
    if period_start is not None:
        inside &= stamps >= pd.Timestamp(beijing(period_start))
    if period_end is not None:
        inside &= stamps < pd.Timestamp(beijing(period_end))
    return inside


def micro_star_board(wishes: pd.DataFrame, by: BoardBy = "volunteer", *,
                     start: datetime | None = None,
                     end: datetime | None = None) -> pd.DataFrame:
    """Wishes fulfilled, hours and wishes awaiting confirmation per ``by``, most hours first.

    Args:
        wishes: one row per wish: :data:`INPUT` (``hours`` of the done step, ``done_at`` and
            ``confirmed_at`` timezone-aware or None; ``team_id`` None for a volunteer without
            team).
        by: ``volunteer``, ``team`` or ``grid``.
        start, end: the period ``[start, end)``; None: open-ended.

    Returns:
        The key column (``volunteer_id``, ``team_id`` or ``grid_id``) and :data:`OUTPUT`;
        only keys with something in the period; rows without a key (no team) left out.

    Raises:
        WishError: an unknown ``by`` or missing columns.
    """
    if by not in KEYS:
        raise WishError(f"排行依据应为 {', '.join(KEYS)}，收到 {by!r}",
                        f"by must be one of {', '.join(KEYS)}, got {by!r}")
    missing = [c for c in INPUT if c not in wishes.columns]
    if missing:
        raise WishError(f"心愿表缺少列：{', '.join(missing)}",
                        f"the wishes table lacks columns: {', '.join(missing)}")
    key = KEYS[by]
    frame = wishes[wishes[key].notna()]
    confirmed = frame[(frame["stage"] == "confirmed")
                      & _in(start, end, frame["confirmed_at"])]
    awaiting = frame[(frame["stage"] == "done") & _in(start, end, frame["done_at"])]
    done = confirmed.groupby(key).agg(fulfilled=("wish_id", "count"),
                                      hours=("hours", "sum"))
    waiting = awaiting.groupby(key).agg(awaiting=("wish_id", "count"))
    table = done.join(waiting, how="outer").fillna(0)
    table["fulfilled"] = table["fulfilled"].astype(int)
    table["awaiting"] = table["awaiting"].astype(int)
    table["hours"] = table["hours"].astype(float).round(2)
    table = table.reset_index().sort_values(["hours", "fulfilled", key],
                                            ascending=[False, False, True], kind="stable")
    return table[[key, *OUTPUT]].reset_index(drop=True)
