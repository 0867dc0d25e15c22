"""Workers' working hours, work days and days off (Beijing time), as the store keeps them.

A worker row holds ``shift_start``/``shift_end`` ("HH:MM", "24:00" for midnight at the end of
the day; both None: round the clock), ``work_days`` (ISO weekdays, 1 = Monday; None: every
day) and ``days_off`` (ISO dates: leave, public holidays). A worker is available at a moment
when marked on duty, the day is a work day and not a day off, and the moment lies in the shift.
Shifts over midnight are not modelled: the end comes after the start on the same day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from api.errors import ApiError
from dispatch.incidents.dispatcher import seconds_of_day
from dispatch.incidents.rules import beijing
from dispatch.staffing.workers import DAY_S, clock_seconds

ALL_DAY = (0, DAY_S)


def hours_error(zh: str, en: str, **extra) -> ApiError:
    """422 ``bad_hours`` with the message in both languages."""
    return ApiError(422, "bad_hours", zh, en, **extra)


def check_shift(start: str | None, end: str | None) -> None:
    """Both or neither given, each "HH:MM", the end after the start.

    Raises:
        ApiError: 422 ``bad_hours`` with a bilingual message.
    """
    if (start is None) != (end is None):
        raise hours_error("上班和下班时间需同时填写（或都不填：全天）",
                          "give both shift_start and shift_end (or neither: round the clock)")
    if start is None or end is None:
        return
    try:
        begin, finish = clock_seconds(start), clock_seconds(end)
    except ValueError as exc:
        raise hours_error(f"时间 {exc} 格式应为 时:分（00:00–24:00）",
                          f"time {exc} should be HH:MM (00:00-24:00)") from None
    if finish <= begin:
        raise hours_error(f"下班时间 {end} 须晚于上班时间 {start}（不支持跨午夜的班次）",
                          f"shift_end {end} must come after shift_start {start} "
                          "(shifts over midnight are not supported)")


def clean_work_days(days: Iterable[int] | None) -> list[int] | None:
    """Sorted distinct ISO weekdays (1 = Monday ... 7 = Sunday); None stays None (every day).

    Raises:
        ApiError: a value outside 1..7 or an empty list (never working: mark off duty).
    """
    if days is None:
        return None
    out = sorted(set(days))
    if not out:
        raise hours_error("工作日不能为空（长期不在岗请设为离岗）",
                          "work_days cannot be empty (mark the worker off duty instead)")
    bad = [d for d in out if not 1 <= d <= 7]
    if bad:
        raise hours_error(f"工作日 {bad} 应为 1（周一）到 7（周日）",
                          f"work_days {bad} must be 1 (Monday) to 7 (Sunday)")
    return out


def clean_days_off(days: Iterable[date | str] | None) -> list[str] | None:
    """Sorted distinct ISO dates (as text, for the JSON column); None stays None."""
    if days is None:
        return None
    out = set()
    for d in days:
        try:
            out.add(d if isinstance(d, date) else date.fromisoformat(str(d).strip()))
        except ValueError:
            raise hours_error(f"休息日 {d!r} 应为日期 YYYY-MM-DD",
                              f"day off {d!r} should be a date YYYY-MM-DD") from None
    return [d.isoformat() for d in sorted(out)]


def shift_seconds(worker) -> tuple[int, int]:
    """(start, end) of ``worker``'s shift in seconds after 00:00 Beijing time."""
    if worker.shift_start is None or worker.shift_end is None:
        return ALL_DAY
    return clock_seconds(worker.shift_start), clock_seconds(worker.shift_end)


def works_on(worker, day: date) -> bool:
    """``day`` (a Beijing date) is one of ``worker``'s work days and not a day off."""
    if worker.work_days and day.isoweekday() not in worker.work_days:
        return False
    return day.isoformat() not in (worker.days_off or [])


def available(worker, now: datetime) -> bool:
    """On duty, working today (Beijing) and inside the shift at ``now``."""
    start, end = shift_seconds(worker)
    return (bool(worker.on_duty) and works_on(worker, beijing(now).date())
            and start <= seconds_of_day(now) < end)
