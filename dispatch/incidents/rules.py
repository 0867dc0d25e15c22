"""Incident categories (事件类别) and their deadlines, with working-day arithmetic in Beijing time.

Categories follow the style of CJ/T 214 (city components and events): environment and
sanitation, public facilities, public order, neighbour disputes, parking, noise, stray animals,
building safety, and micro-wishes (微心愿). Each has a default priority (1 low .. 10 high, the
scale of ``dispatch.routing.visits.Stop.priority``) and deadlines to accept (立案) and to close
(结案) counted from the report, as 12345 hotline rules do: emergencies within 2 hours (calendar
hours, day and night); ordinary incidents accepted within 1 working day and closed within 5.

A working day is the office hours of one working day (default Mon-Fri 09:00-17:00 Beijing time,
so 8 working hours); holidays (法定节假日) and make-up working days (调休上班) are lists of dates
given by the caller (no calendar is fetched). Adding working time skips nights, weekends and
holidays: a report on Friday at 15:00 must be accepted by Monday 15:00.

Everything is configurable with a dict or a JSON file (:func:`load_rules`). Times are
timezone-aware datetimes; naive ones are taken as Beijing time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dispatch.incidents.errors import IncidentError

BEIJING = ZoneInfo("Asia/Shanghai")
UNITS = ("hours", "working_days", "working_hours")


@dataclass(frozen=True)
class Deadline:
    """A time limit: ``amount`` of ``unit`` ("hours" calendar, "working_days", "working_hours")."""

    amount: float
    unit: str = "working_days"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise IncidentError(f"未知时限单位 {self.unit!r}（可用 {', '.join(UNITS)}）",
                                f"unknown deadline unit {self.unit!r} (use {', '.join(UNITS)})")
        if not self.amount > 0:
            raise IncidentError(f"时限必须大于 0：{self.amount}",
                                f"a deadline must be positive: {self.amount}")


@dataclass(frozen=True)
class Category:
    """An incident category.

    Attributes:
        category_id: stable id (``environment``, ``noise``, ...; the maps package uses them).
        name_zh, name_en: labels.
        priority: 1 (low) .. 10 (high).
        emergency: counted in calendar hours, day and night.
        accept: deadline from report to 立案 accepted.
        close: deadline from report to 结案 closed.
        service_min: typical time on site (minutes), for routing.
        claimed: handled by party members / volunteers who claim it (微心愿), not dispatched.
    """

    category_id: str
    name_zh: str
    name_en: str
    priority: int
    emergency: bool
    accept: Deadline
    close: Deadline
    service_min: int = 20
    claimed: bool = False

    def name(self, lang: str = "zh") -> str:
        """The category's label in ``lang`` ("zh" or "en")."""
        return self.name_en if lang == "en" else self.name_zh


EMERGENCY = (Deadline(2, "hours"), Deadline(2, "hours"))
ORDINARY = (Deadline(1, "working_days"), Deadline(5, "working_days"))

DEFAULT_CATEGORIES: dict[str, Category] = {c.category_id: c for c in [
    Category("environment", "环境卫生", "environment and sanitation", 4, False, *ORDINARY, 15),
    Category("public_facilities", "公共设施", "public facilities", 5, False, *ORDINARY, 25),
    Category("public_order", "社会治安", "public order", 9, True, *EMERGENCY, 30),
    Category("neighbour_dispute", "邻里纠纷", "neighbour disputes", 5, False, *ORDINARY, 40),
    Category("parking", "停车管理", "parking", 4, False, *ORDINARY, 15),
    Category("noise", "噪声扰民", "noise", 5, False, *ORDINARY, 20),
    Category("stray_animals", "流浪动物", "stray animals", 4, False, *ORDINARY, 20),
    Category("building_safety", "房屋安全", "building safety", 10, True, *EMERGENCY, 30),
    Category("micro_wish", "微心愿", "micro-wishes", 2, False, Deadline(3, "working_days"),
             Deadline(10, "working_days"), 30, claimed=True),
]}


@dataclass(frozen=True)
class WorkCalendar:
    """Office hours in Beijing time.

    Attributes:
        start, end: office hours of a working day (local time).
        weekdays: working weekdays (0 = Monday).
        holidays: dates off even on a working weekday.
        workdays: make-up working days (调休) even on a weekend.
    """

    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise IncidentError(f"下班时间 {self.end} 须晚于上班时间 {self.start}",
                                f"office hours end {self.end} must be after start {self.start}")

    @property
    def day_hours(self) -> float:
        """Working hours in one working day."""
        return _seconds(self.end) / 3600 - _seconds(self.start) / 3600

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` has office hours (a make-up working day, or a working weekday
        that is no holiday)."""
        if day in self.workdays:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def add_working_time(self, at: datetime, hours: float) -> datetime:
        """The time ``hours`` of office hours after ``at`` (Beijing time)."""
        left = timedelta(hours=hours)
        now = beijing(at)
        for _ in range(3660):  # ten years of days: a calendar without working days stops here
            day = now.date()
            if self.is_working_day(day):
                open_ = datetime.combine(day, self.start, BEIJING)
                close = datetime.combine(day, self.end, BEIJING)
                begin = max(now, open_)
                if begin < close:
                    if begin + left <= close:
                        return begin + left
                    left -= close - begin
            now = datetime.combine(day + timedelta(days=1), time(0), BEIJING)
        raise IncidentError("日历十年内没有工作日", "the calendar has no working day in ten years")

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours (h) between two times; negative when ``end`` is before ``start``."""
        a, b = beijing(start), beijing(end)
        if b < a:
            return -self.working_hours_between(b, a)
        total, day = 0.0, a.date()
        while day <= b.date():
            if self.is_working_day(day):
                lo = max(a, datetime.combine(day, self.start, BEIJING))
                hi = min(b, datetime.combine(day, self.end, BEIJING))
                total += max(0.0, (hi - lo).total_seconds() / 3600)
            day += timedelta(days=1)
        return total

    def deadline(self, at: datetime, limit: Deadline) -> datetime:
        """The time ``limit`` after ``at``."""
        if limit.unit == "hours":
            return beijing(at) + timedelta(hours=limit.amount)
        hours = limit.amount * (self.day_hours if limit.unit == "working_days" else 1)
        return self.add_working_time(at, hours)


@dataclass(frozen=True)
class Rules:
    """Categories, the calendar and the duplicate rule (same category within ``duplicate_m``
    metres and ``duplicate_hours`` hours)."""

    categories: dict[str, Category] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    duplicate_m: float = 30.0
    duplicate_hours: float = 24.0

    def category(self, category_id: str) -> Category:
        """The category ``category_id``; IncidentError when there is none."""
        try:
            return self.categories[category_id]
        except KeyError:
            known = ", ".join(self.categories)
            raise IncidentError(f"未知事件类别 {category_id!r}（可用：{known}）",
                                f"unknown incident category {category_id!r} (known: {known})"
                                ) from None

    def deadlines(self, category_id: str, reported_at: datetime) -> tuple[datetime, datetime]:
        """(accept by, close by) for a report of ``category_id`` at ``reported_at``."""
        c = self.category(category_id)
        return (self.calendar.deadline(reported_at, c.accept),
                self.calendar.deadline(reported_at, c.close))


def beijing(at: datetime) -> datetime:
    """``at`` in Beijing time; a naive datetime is taken as Beijing time already."""
    return at.replace(tzinfo=BEIJING) if at.tzinfo is None else at.astimezone(BEIJING)


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def _parse_time(value: str, key: str) -> time:
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise IncidentError(f"{key} 应为 HH:MM 时间：{value!r}",
                            f"{key} must be a time HH:MM: {value!r}") from None


def _parse_dates(values: Iterable[object], key: str) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(str(v)) for v in values)
    except ValueError as err:
        raise IncidentError(f"{key} 应为 YYYY-MM-DD 日期列表：{err}",
                            f"{key} must be a list of dates YYYY-MM-DD: {err}") from None


def _deadline(value: object, key: str) -> Deadline:
    """``{"hours": 2}`` / ``{"working_days": 1}`` / ``{"working_hours": 4}``."""
    if not isinstance(value, dict) or len(value) != 1:
        raise IncidentError(f"{key} 应写成 {{\"working_days\": 1}} 或 {{\"hours\": 2}}：{value!r}",
                            f"{key} must look like {{\"working_days\": 1}} or {{\"hours\": 2}}: "
                            f"{value!r}")
    (unit, amount), = value.items()
    return Deadline(float(amount), unit)


CATEGORY_KEYS = {"name_zh", "name_en", "priority", "emergency", "accept", "close", "service_min",
                 "claimed"}
TOP_KEYS = {"categories", "calendar", "duplicate_m", "duplicate_hours"}
CALENDAR_KEYS = {"start", "end", "weekdays", "holidays", "workdays"}


def _check_keys(given: Iterable[str], allowed: set[str], where: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed))
        raise IncidentError(f"{where} 中有未知设置：{', '.join(unknown)}（可用：{known}）",
                            f"unknown settings in {where}: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(allowed))})")


def _category(cid: str, spec: dict[str, Any], base: Category | None) -> Category:
    _check_keys(spec, CATEGORY_KEYS, f"categories.{cid}")
    if base is None:
        missing = {"name_zh", "name_en", "accept", "close"} - set(spec)
        if missing:
            raise IncidentError(f"新类别 {cid} 缺少：{', '.join(sorted(missing))}",
                                f"new category {cid} lacks: {', '.join(sorted(missing))}")
        base = Category(cid, "", "", 5, False, *ORDINARY)
    changes = {k: v for k, v in spec.items() if k not in ("accept", "close")}
    for k in ("accept", "close"):
        if k in spec:
            changes[k] = _deadline(spec[k], f"categories.{cid}.{k}")
    priority = int(changes.get("priority", base.priority))
    if not 1 <= priority <= 10:
        raise IncidentError(f"类别 {cid} 的优先级须在 1 到 10 之间：{priority}",
                            f"category {cid}: priority must be 1 to 10: {priority}")
    return replace(base, **changes)


def load_rules(overrides: dict[str, Any] | str | Path | None = None) -> Rules:
    """The default rules changed by ``overrides`` (a dict or a JSON file), e.g.::

        {"categories": {"noise": {"priority": 6, "close": {"working_days": 3}},
                        "graffiti": {"name_zh": "乱涂乱画", "name_en": "graffiti",
                                     "accept": {"working_days": 1},
                                     "close": {"working_days": 5}}},
         "calendar": {"start": "08:30", "end": "17:30", "holidays": ["2026-10-01"],
                      "workdays": ["2026-10-10"]},
         "duplicate_m": 30, "duplicate_hours": 24}

    Raises:
        IncidentError: unreadable file, unknown setting, bad value.
    """
    if overrides is None:
        return Rules()
    given: dict[str, Any]
    if isinstance(overrides, dict):
        given = overrides
    else:
        path = Path(overrides)
        try:
            given = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise IncidentError(f"无法读取事件规则文件 {path}：{err}",
                                f"cannot read the incident rules file {path}: {err}") from None
    _check_keys(given, TOP_KEYS, "rules")
    categories = dict(DEFAULT_CATEGORIES)
    for cid, spec in (given.get("categories") or {}).items():
        categories[cid] = _category(cid, spec, categories.get(cid))
    cal = given.get("calendar") or {}
    _check_keys(cal, CALENDAR_KEYS, "calendar")
    calendar = WorkCalendar(
        start=_parse_time(cal["start"], "calendar.start") if "start" in cal else time(9),
        end=_parse_time(cal["end"], "calendar.end") if "end" in cal else time(17),
        weekdays=frozenset(int(d) for d in cal.get("weekdays", range(5))),
        holidays=_parse_dates(cal.get("holidays", []), "calendar.holidays"),
        workdays=_parse_dates(cal.get("workdays", []), "calendar.workdays"))
    return Rules(categories, calendar, float(given.get("duplicate_m", 30.0)),
                 float(given.get("duplicate_hours", 24.0)))
