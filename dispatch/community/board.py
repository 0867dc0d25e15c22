"""The micro-star board (微星光): wishes fulfilled and hours per volunteer, team and grid; and
wishes counted per channel, category or grid (:func:`wish_statistics`).

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

from dispatch.community.wishes import OPEN_STAGES, WishError
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


StatsBy = Literal["channel", "category", "grid"]
STATS_KEYS: Final[dict[str, str]] = {"channel": "channel", "category": "category",
                                     "grid": "grid_id"}
STATS_INPUT: Final = ["wish_id", "channel", "category", "grid_id", "stage", "posted_at",
                      "confirmed_at"]
STATS_OUTPUT: Final = ["wishes", "open", "confirmed", "cancelled", "median_confirm_h"]


def wish_statistics(wishes: pd.DataFrame, by: StatsBy = "channel") -> pd.DataFrame:
    """Wishes per channel (how they reached the community), category or grid: how many,
    still open, confirmed, cancelled, and the median hours from posting to confirmation.

    Args:
        wishes: one row per wish: :data:`STATS_INPUT` (times timezone-aware; ``confirmed_at``
            None until confirmed).
        by: ``channel``, ``category`` or ``grid``.

    Returns:
        The key column and :data:`STATS_OUTPUT`, most wishes first (``median_confirm_h``
        NaN for a group with none confirmed).

    Raises:
        WishError: an unknown ``by`` or missing columns.
    """
    if by not in STATS_KEYS:
        raise WishError(f"统计依据应为 {', '.join(STATS_KEYS)}，收到 {by!r}",
                        f"by must be one of {', '.join(STATS_KEYS)}, got {by!r}")
    missing = [c for c in STATS_INPUT if c not in wishes.columns]
    if missing:
        raise WishError(f"心愿表缺少列：{', '.join(missing)}",
                        f"the wishes table lacks columns: {', '.join(missing)}")
    key = STATS_KEYS[by]
    frame = wishes.assign(
        _open=wishes["stage"].isin(OPEN_STAGES),
        _confirmed=wishes["stage"] == "confirmed",
        _cancelled=wishes["stage"] == "cancelled",
        _hours=(pd.to_datetime(wishes["confirmed_at"], utc=True)
                - pd.to_datetime(wishes["posted_at"], utc=True)).dt.total_seconds() / 3600)
    table = frame.groupby(key, dropna=False).agg(
        wishes=("wish_id", "count"), open=("_open", "sum"), confirmed=("_confirmed", "sum"),
        cancelled=("_cancelled", "sum"), median_confirm_h=("_hours", "median"))
    for column in ("wishes", "open", "confirmed", "cancelled"):
        table[column] = table[column].astype(int)
    table["median_confirm_h"] = table["median_confirm_h"].round(2)
    table = table.reset_index().sort_values(["wishes", key], ascending=[False, True],
                                            kind="stable")
    return table[[key, *STATS_OUTPUT]].reset_index(drop=True)
