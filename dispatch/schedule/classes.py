"""Household visit classes (走访类别) and how often each is visited.

Local rules (e.g. 网格化服务管理 rules of Chinese street offices) set the visit frequency by a
household's situation: key persons (重点人员) weekly; people living alone in old age (独居老人),
households in difficulty (困难家庭) and migrants (流动人口) monthly; ordinary households
(一般户) twice a year. Party members visit at least 5 households a week in their
responsibility zone (每周至少走访5户, :data:`PARTY_MIN_WEEKLY`).

The classes are sensitive. They are kept with the least detail a calendar needs: per building,
the number of households of each class, and optionally the day the class was last visited
there. No names, no flat numbers. A CSV file of them::

    building_id,visit_class,households[,last_visit]
    way/123456,key_person,2,2026-11-20
    way/123456,独居老人,5,
    way/777,migrant,12

``visit_class`` is the key or the Chinese name of a class (:data:`CLASSES`). A building's
households of one class may be split by when they were last visited, one row each (paper
records often say which households, or which batch of them, were visited when)::

    way/123456,ordinary,30,2026-10-01
    way/123456,ordinary,40,2026-08-15

Each row is kept apart (a calendar's trips never mix them: the batch visited longer ago falls
due first). Two rows of one building and class with the same last visit (or both without) are
refused, not summed: the file then most likely holds a row twice (copied, or one row per
household pasted over a count). All rows of a building together may not exceed its households.
Households that no row names are ordinary, with no known last visit (a calendar spreads them
over the period before it, see :func:`dispatch.schedule.horizon.make_groups`): a row of
ordinary households with a count names that many, not the rest of the building. UTF-8 or GBK,
as Excel saves it. Reading checks everything first and raises :class:`gis.errors.InputError`
naming the row and column, in Chinese and English.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from gis.errors import InputError

PARTY_MIN_WEEKLY = 5  # households a party member visits each week at least


@dataclass(frozen=True)
class VisitClass:
    """A household situation and its visit frequency.

    Attributes:
        key: identifier used in files and the API.
        zh, en: names shown to users.
        period_days: the longest time between two visits (days).
        service_min: minutes spent at one household of the class.
    """

    key: str
    zh: str
    en: str
    period_days: int
    service_min: int

    def name(self, lang: str = "zh") -> str:
        """The class's name in ``lang``."""
        return self.zh if lang == "zh" else self.en


CLASSES: dict[str, VisitClass] = {c.key: c for c in (
    VisitClass("key_person", "重点人员", "key persons", 7, 20),
    VisitClass("elderly_alone", "独居老人", "older people living alone", 30, 15),
    VisitClass("difficulty", "困难家庭", "households in difficulty", 30, 15),
    VisitClass("migrant", "流动人口", "migrants", 30, 10),
    VisitClass("ordinary", "一般户", "ordinary households", 182, 10),
)}
ORDINARY = "ordinary"
_BY_NAME = {**{c.zh: c.key for c in CLASSES.values()},
            **{c.en.lower(): c.key for c in CLASSES.values()},
            **{k: k for k in CLASSES}}
COLUMNS = ("building_id", "visit_class", "households", "last_visit")


def class_key(text: str) -> str:
    """The class key of a key, Chinese or English name (case and spaces ignored).

    Raises:
        KeyError: no such class.
    """
    return _BY_NAME[text.strip().lower() if text.strip().isascii() else text.strip()]


def _read_text(source: str | Path | bytes, name: str) -> pd.DataFrame:
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        try:
            return pd.read_csv(io.StringIO(text), dtype=str).fillna("")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise InputError(name, f"not a readable CSV ({exc})", "save it as CSV (UTF-8)",
                             problem_zh="无法读取 CSV",
                             hint_zh="请另存为 UTF-8 编码的 CSV") from exc
    raise InputError(name, "unknown text encoding", "save it as CSV (UTF-8)",
                     problem_zh="无法识别文字编码", hint_zh="请另存为 UTF-8 编码的 CSV")


def read_visit_classes(source: str | Path | bytes, *,
                       buildings: pd.Series | None = None,
                       name: str | None = None) -> pd.DataFrame:
    """Read and check a visit-class CSV file.

    Args:
        source: a path, or the file's bytes (an upload).
        buildings: households per building id (the plan's residential buildings); when
            given, every building must be one of them and the households of its rows (all
            classes, ordinary too) may not exceed its households.
        name: the file name shown in messages (default: the path, or ``upload.csv``).

    Returns:
        The file's rows in its order: ``building_id`` (str), ``visit_class`` (key),
        ``households`` (int > 0), ``last_visit`` (date or None); several rows of one
        building and class when their last visits differ. Rows naming the same building,
        class and last visit are an error, not summed.

    Raises:
        InputError: the first problem found, naming the row (as a spreadsheet numbers it) and
            the column, in Chinese and English; nothing is returned half-read.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "upload.csv")
    frame = _read_text(source, label)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in COLUMNS[:3] if c not in frame.columns]
    if missing:
        raise InputError(label, f"missing columns {', '.join(missing)}",
                         "give the columns building_id,visit_class,households[,last_visit]",
                         problem_zh=f"缺少列 {', '.join(missing)}",
                         hint_zh="需要列 building_id,visit_class,households[,last_visit]")
    known = None if buildings is None else buildings.astype(int).to_dict()
    rows: list[tuple[str, str, int, date | None]] = []
    seen: dict[tuple[str, str, date | None], int] = {}
    for i, rec in enumerate(frame.to_dict("records")):
        line = i + 2
        bid = str(rec["building_id"]).strip()
        if not bid:
            raise _row_error(label, line, "building_id", "is empty", "为空",
                             "give the building id of the plan", "请填写方案中的楼栋编号")
        if known is not None and bid not in known:
            raise _row_error(label, line, "building_id", f"{bid!r} is no residential building "
                             "of the plan", f"{bid!r} 不是本方案的住宅楼栋",
                             "use the building ids of the active plan's buildings",
                             "请使用当前方案楼栋的编号")
        try:
            key = class_key(str(rec["visit_class"]))
        except KeyError:
            names = ", ".join(f"{c.key} ({c.zh})" for c in CLASSES.values())
            raise _row_error(label, line, "visit_class", f"{rec['visit_class']!r} is no "
                             "visit class", f"{rec['visit_class']!r} 不是走访类别",
                             f"write one of {names}", f"请填写以下之一：{names}") from None
        count_text = str(rec["households"]).strip()
        if not count_text.isdigit() or int(count_text) <= 0:
            raise _row_error(label, line, "households", f"{count_text!r} is not a whole number "
                             "above 0", f"{count_text!r} 不是大于 0 的整数",
                             "write the number of households of this class in the building",
                             "请填写该楼栋此类别的户数")
        last: date | None = None
        last_text = str(rec.get("last_visit", "")).strip()
        if last_text:
            try:
                last = date.fromisoformat(last_text)
            except ValueError:
                raise _row_error(label, line, "last_visit", f"{last_text!r} is not a date",
                                 f"{last_text!r} 不是日期", "write YYYY-MM-DD or leave it empty",
                                 "请填写 YYYY-MM-DD 或留空") from None
        if (bid, key, last) in seen:
            when = last.isoformat() if last else "no last visit"
            when_zh = last.isoformat() if last else "未填上次走访日期"
            first = seen[bid, key, last]
            raise _row_error(label, line, "visit_class", f"building {bid} has class {key} "
                             f"with {when} twice (also row {first})",
                             f"楼栋 {bid} 的类别 {key}（{when_zh}）重复出现（另见第 {first} 行）",
                             "give one row per building, class and last visit: add the "
                             "households up into one row",
                             "每个楼栋、类别和上次走访日期只写一行：请将户数合并为一行")
        seen[bid, key, last] = line
        rows.append((bid, key, int(count_text), last))
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out["households"] = out["households"].astype(int)
    if known is not None and len(out):
        # every row counts, ordinary ones too: each names that many of the building's homes
        classed = out.groupby("building_id", sort=False)["households"].sum()
        over = [(b, int(n), known[b]) for b, n in classed.items() if n > known[b]]
        if over:
            b, n, have = over[0]
            raise InputError(label, f"building {b} has {n} households in the file's rows but "
                             f"only {have} households ({len(over)} buildings like this)",
                             "check the counts, or correct the building's households",
                             problem_zh=f"楼栋 {b} 标注了 {n} 户，但只有 {have} 户"
                                        f"（共 {len(over)} 栋如此）",
                             hint_zh="请核对户数，或更正楼栋户数")
    return out


def _row_error(label: str, line: int, column: str, problem: str, problem_zh: str,
               hint: str, hint_zh: str) -> InputError:
    return InputError(label, f"row {line}, column {column}: {problem}", hint,
                      problem_zh=f"第 {line} 行 {column} 列：{problem_zh}", hint_zh=hint_zh)


def household_classes(buildings: pd.Series, classes: pd.DataFrame) -> pd.DataFrame:
    """Every household of every building in a class: the CSV's rows, and the rest ordinary.

    Args:
        buildings: households per building id.
        classes: :func:`read_visit_classes`' frame (or the store's rows): several rows of one
            building and class are kept apart (households last visited on different days).

    Returns:
        ``building_id, visit_class, households, last_visit``: per building, its rows by class
        (:data:`CLASSES`' order; a class's rows in the given order) and, after them, the
        households no row names as ``ordinary`` with ``last_visit`` None, when any remain.
        The rows' order is kept for a building and class so that
        :func:`dispatch.schedule.horizon.make_groups` numbers their trips the same from one
        calendar to the next.
    """
    order = {k: i for i, k in enumerate(CLASSES)}
    given: dict[str, list[tuple[str, int, object]]] = {}
    for rec in classes.itertuples():
        given.setdefault(str(rec.building_id), []).append(
            (str(rec.visit_class), int(rec.households), rec.last_visit))
    rows = []
    for bid, total in buildings.items():
        bid = str(bid)
        named = sorted(given.get(bid, []), key=lambda r: order[r[0]])  # stable: file order
        rows += [(bid, key, n, last) for key, n, last in named]
        rest = int(total) - sum(n for _, n, _ in named)
        if rest > 0:
            rows.append((bid, ORDINARY, rest, None))
    return pd.DataFrame(rows, columns=list(COLUMNS))
