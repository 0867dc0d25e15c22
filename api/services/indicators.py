"""The work indicators (量化指标) of the street office: per grid, worker, community, street and
district, per day, week, month or a custom period, as JSON, CSV or an Excel workbook (the
monthly 考核 report).

The figures are computed in the database (api.store.indicators); what each means is stated
once in dispatch.incidents.indicators and sent with them. Who sees what: admins and planners
every level (a street's: its communities' grids); a grid worker their own grids (level
``grid``) and their own row (``worker``); reporters nothing (api.auth.PERMISSIONS
``indicators.read``).

The workbook is written with openpyxl (a maintained library; nothing of the format is ours):
one sheet of figures with the names in Chinese and English above the columns, one sheet of
definitions.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.schemas import IndicatorDefinition, IndicatorRow, IndicatorsOut
from api.services.scope import visible_communities
from api.store import indicator_cells as cells
from api.store import indicators as store
from api.store import levels as _levels  # noqa: F401  (registers the street, district levels)
from dispatch.incidents.indicators import (
    INDICATORS,
    LEVEL_NAMES,
    OPTIONAL_INDICATORS,
    PERIOD_NAMES,
    Indicator,
)
from dispatch.incidents.rules import BEIJING

MAX_DAYS = {"day": 92, "week": 370, "month": 3 * 366, "custom": 3 * 366}
WORKER_LEVELS = ("grid", "worker")
# The columns of CSV and workbook, in order: the key, then every figure.
FIGURE_COLUMNS = [f for f in IndicatorRow.model_fields if f not in ("key", "name", "period")]


def month_range(today: date) -> tuple[date, date]:
    """The first and last day of ``today``'s month."""
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _range(period: str, start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(BEIJING).date()
    if start is None and end is None:
        first, last = month_range(today)
        if period == "day" or period == "week":
            last = today
        return first, last
    if start is None or end is None:
        raise ApiError(422, "bad_period", "须同时给出 start 和 end（YYYY-MM-DD，北京时间）",
                       "give both start and end (YYYY-MM-DD, Beijing time)")
    if end < start:
        raise ApiError(422, "bad_period", f"结束日期 {end} 早于开始日期 {start}",
                       f"end {end} is before start {start}")
    if (end - start).days + 1 > MAX_DAYS[period]:
        zh, en = PERIOD_NAMES[period]
        raise ApiError(422, "bad_period",
                       f"按{zh}统计时段最长 {MAX_DAYS[period]} 天：{start} 至 {end} 过长",
                       f"by {en}, a range is at most {MAX_DAYS[period]} days: {start} to "
                       f"{end} is too long")
    return start, end


def definitions(extras: list[str] | None = None) -> list[IndicatorDefinition]:
    """The definitions of the indicators (and of the optional ones present)."""
    chosen: list[Indicator] = list(INDICATORS) + [i for i in OPTIONAL_INDICATORS
                                                  if i.key in (extras or [])]
    return [IndicatorDefinition.model_validate(i.as_dict()) for i in chosen]


def indicators(session: Session, who: Principal, level: str, period: str,
               start: date | None = None, end: date | None = None,
               as_of: datetime | None = None) -> IndicatorsOut:
    """The figures of ``level`` by ``period`` from ``start`` to ``end`` (Beijing dates,
    included; default this month), the state read at ``as_of`` (default now). A worker: only
    the levels ``grid`` (their grids) and ``worker`` (their row); 403 otherwise."""
    worker_id = None
    if who.role == "worker":
        if level not in WORKER_LEVELS:
            zh, en = LEVEL_NAMES.get(level, (level, level))
            raise ApiError(403, "forbidden",
                           f"网格员只能查看本人网格和本人的指标，不能查看{zh}层级",
                           f"a worker sees the indicators of their own grids and their own "
                           f"row only, not the {en} level")
        worker_id = who.worker_id
    first, last = _range(period, start, end)
    begin, finish = store.beijing_range(first, last)
    now = as_of or datetime.now(UTC)
    query = store.Query(level, period, begin, finish, now, worker_id,
                        visible_communities(who))  # a street's staff: its communities
    try:
        if period in store.FROM_CELLS:  # the cells marked by writes, computed again
            cells.refresh_for_reading(session)
        rows, extras = store.compute(session, query)
    except store.LevelNotConfiguredError as exc:
        raise ApiError(422, "level_not_configured", exc.zh, exc.en) from None
    # validated at once (pydantic's core loops over the rows: 5,000 rows of a month by day
    # in about two thirds of the time of one model_validate a row)
    return IndicatorsOut.model_validate({
        "level": level, "period": period, "start": first, "end": last, "as_of": now,
        "definitions": definitions(extras), "rows": rows})


def _present(out: IndicatorsOut) -> list[str]:
    keys = {d.key for d in out.definitions}
    return [c for c in FIGURE_COLUMNS if c in keys or c == "closed_ever"]


def to_csv(out: IndicatorsOut) -> str:
    """The rows as CSV (UTF-8 with a byte order mark, as Excel opens it): key, name, period,
    then one column per figure, named by its key (GET /indicators/definitions)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    columns = _present(out)
    writer = csv.writer(buf)
    writer.writerow(["key", "name", "period", *columns])
    for r in out.rows:
        values = r.model_dump()
        writer.writerow([values["key"], values["name"], values["period"],
                         *("" if values[c] is None else values[c] for c in columns)])
    return buf.getvalue()


def to_xlsx(out: IndicatorsOut) -> bytes:
    """The 考核 workbook: a sheet of figures (names zh and en above the columns) and a sheet
    of definitions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    names = {d.key: d for d in out.definitions}
    names_zh = {"closed_ever": "结案过的事件数"}
    names_en = {"closed_ever": "closed at least once"}
    level_zh, level_en = LEVEL_NAMES[out.level]
    period_zh, period_en = PERIOD_NAMES[out.period]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "指标 indicators"
    sheet.append([f"{level_zh}指标（按{period_zh}）{out.start} 至 {out.end}",
                  f"{level_en} indicators by {period_en}, {out.start} to {out.end}",
                  f"截至 as of {out.as_of.astimezone(BEIJING):%Y-%m-%d %H:%M}"])
    columns = _present(out)
    sheet.append([level_zh, "名称", "时段",
                  *(names[c].name_zh if c in names else names_zh[c] for c in columns)])
    sheet.append([level_en, "name", "period",
                  *(names[c].name_en if c in names else names_en[c] for c in columns)])
    for cell in (*sheet[2], *sheet[3]):
        cell.font = Font(bold=True)
    for r in out.rows:
        values = r.model_dump()
        sheet.append([values["key"], values["name"], values["period"],
                      *(values[c] for c in columns)])
    for k, c in enumerate(columns, start=4):
        if c in names and names[c].unit == "ratio":
            for (cell,) in sheet.iter_rows(min_row=4, min_col=k, max_col=k):
                cell.number_format = "0.0%"
    sheet.freeze_panes = "D4"
    defs = book.create_sheet("定义 definitions")
    defs.append(["key", "指标", "indicator", "计算方法", "formula", "单位", "unit"])
    for d in out.definitions:
        defs.append([d.key, d.name_zh, d.name_en, d.formula_zh, d.formula_en, d.unit_zh,
                     d.unit])
    for cell in defs[1]:
        cell.font = Font(bold=True)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
