"""The work indicators (量化指标) of community grid management: what each figure means, once.

A street office appraises its grid workers monthly (考核) and compares communities by
residents' satisfaction (以群众满意度为核心) and by quantitative indicators. This module states
each indicator: its key, name (zh, en), formula (zh, en) and unit; the service computes them
in the database (api.store.indicators) and returns these definitions as the metadata of every
answer, so that a figure and its definition never part.

Conventions, the same for every indicator:

* the incidents of a period are those **reported** in it (Beijing time; a merged duplicate
  report counts once, with its incident); the state of each (open, closed, overdue) is the
  state when the indicators are computed (``as_of``);
* an incident is overdue when it is open and ``as_of`` is past the deadline of its stage:
  to accept (立案) while reported, else to close (``dispatch.incidents.lifecycle.past_deadline``);
* durations are hours from the report (first report of the incident) to its first acceptance
  and to its last closing; medians and 90th percentiles interpolate linearly between the two
  nearest values (PostgreSQL's ``percentile_cont``, :func:`percentile`);
* rates are fractions from 0 to 1, None (empty) when their denominator is 0.

Also two indicators from other parts of the service, present when their data exists:
patrol coverage (巡查覆盖率) and household visits done (走访户数).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

Level = Literal["grid", "worker", "community", "street", "district"]
LEVELS: Final[tuple[str, ...]] = ("grid", "worker", "community", "street", "district")
LEVEL_NAMES: Final[dict[str, tuple[str, str]]] = {
    "grid": ("网格", "grid"), "worker": ("网格员", "grid worker"),
    "community": ("社区", "community"), "street": ("街道", "street (subdistrict)"),
    "district": ("区", "district")}
Period = Literal["day", "week", "month", "custom"]
PERIODS: Final[tuple[str, ...]] = ("day", "week", "month", "custom")
PERIOD_NAMES: Final[dict[str, tuple[str, str]]] = {
    "day": ("日", "day"), "week": ("周（周一起）", "week (from Monday)"),
    "month": ("月", "month"), "custom": ("自定义时段", "custom period")}
Unit = Literal["count", "ratio", "hours"]
UNIT_NAMES: Final[dict[str, tuple[str, str]]] = {
    "count": ("件", "count"), "ratio": ("比例（0–1）", "fraction 0-1"),
    "hours": ("小时", "hours")}
#: Ratings a resident gives (zh, en).
RATINGS: Final[dict[str, tuple[str, str]]] = {
    "satisfied": ("满意", "satisfied"), "basic": ("基本满意", "basically satisfied"),
    "unsatisfied": ("不满意", "not satisfied")}


@dataclass(frozen=True)
class Indicator:
    """One indicator: key, names, formula (zh, en) and unit."""

    key: str
    name_zh: str
    name_en: str
    formula_zh: str
    formula_en: str
    unit: Unit
    source: str = "incidents"  # where it comes from: incidents, feedback, patrols, visits

    def as_dict(self) -> dict[str, str]:
        """The definition as the API's metadata carries it."""
        return {"key": self.key, "name_zh": self.name_zh, "name_en": self.name_en,
                "formula_zh": self.formula_zh, "formula_en": self.formula_en,
                "unit": self.unit, "unit_zh": UNIT_NAMES[self.unit][0], "source": self.source}


_OVERDUE_ZH = "未结且已过其阶段时限（上报阶段为立案时限，其后为结案时限）"
_OVERDUE_EN = ("open and past the deadline of its stage (to accept while reported, else to "
               "close)")

INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("received", "受理事件数", "reports received",
              "时段内上报的事件数（合并的重复上报计一件）",
              "incidents reported in the period (merged duplicate reports count once)",
              "count"),
    Indicator("accepted", "已立案数", "accepted", "其中已立案的事件数",
              "of them, incidents accepted (立案)", "count"),
    Indicator("accepted_on_time", "按时立案数", "accepted on time",
              "首次立案时间不晚于立案时限的事件数",
              "incidents first accepted no later than their deadline to accept", "count"),
    Indicator("accept_overdue", "超期未立案数", "not accepted, overdue",
              "仍为上报状态且已过立案时限的事件数",
              "incidents still reported and past their deadline to accept", "count"),
    Indicator("accept_on_time_rate", "按时立案率", "accepted on time, rate",
              "按时立案数 ÷（已立案数 + 超期未立案数）",
              "accepted on time ÷ (accepted + not accepted and overdue)", "ratio"),
    Indicator("closed", "已结案数", "closed", "当前为结案状态的事件数",
              "incidents closed (结案) now", "count"),
    Indicator("closed_on_time", "按期结案数", "closed on time",
              "已结案且最后一次结案不晚于结案时限的事件数",
              "closed incidents whose last closing was no later than their deadline to close",
              "count"),
    Indicator("open_overdue", "超期未结数", "open and overdue",
              f"{_OVERDUE_ZH}的事件数", f"incidents {_OVERDUE_EN}", "count"),
    Indicator("on_time_rate", "按期办结率", "on-time rate",
              "按期结案数 ÷（已结案数 + 超期未结数）：超期未结的事件计入分母",
              "closed on time ÷ (closed + open and overdue): overdue open cases count "
              "against it", "ratio"),
    Indicator("accept_h_median", "立案时长中位数", "time to accept, median",
              "已立案事件从上报到首次立案的小时数的中位数（线性插值）",
              "median hours from report to first acceptance of accepted incidents (linear "
              "interpolation)", "hours"),
    Indicator("accept_h_p90", "立案时长90分位", "time to accept, 90th percentile",
              "已立案事件从上报到首次立案的小时数的第90百分位数（线性插值）",
              "90th percentile of the hours from report to first acceptance (linear "
              "interpolation)", "hours"),
    Indicator("close_h_median", "结案时长中位数", "time to close, median",
              "已结案事件从上报到最后一次结案的小时数的中位数（线性插值）",
              "median hours from report to last closing of closed incidents (linear "
              "interpolation)", "hours"),
    Indicator("close_h_p90", "结案时长90分位", "time to close, 90th percentile",
              "已结案事件从上报到最后一次结案的小时数的第90百分位数（线性插值）",
              "90th percentile of the hours from report to last closing (linear "
              "interpolation)", "hours"),
    Indicator("reopened", "重新办理数", "reopened",
              "因群众评价“未解决”而重新办理过的事件数",
              "incidents reopened at least once by a resident's 'not fixed' answer", "count"),
    Indicator("reopened_share", "重新办理率", "share reopened",
              "重新办理数 ÷ 结案过的事件数（已结案 + 重新办理后未结）",
              "reopened ÷ incidents closed at least once (closed now + reopened and open)",
              "ratio"),
    Indicator("escalated", "超期上报数", "escalations",
              "因超期上报网格长的事件数", "incidents escalated to the grid leader for being "
              "overdue", "count"),
    Indicator("ratings", "评价数", "ratings",
              "时段内事件收到的群众评价数（每次结案每个评价码一次）",
              "residents' ratings of the period's incidents (one per code and closing)",
              "count", "feedback"),
    Indicator("satisfied", "满意数", "satisfied", "评价为“满意”的数量",
              "ratings 'satisfied'", "count", "feedback"),
    Indicator("basic", "基本满意数", "basically satisfied", "评价为“基本满意”的数量",
              "ratings 'basically satisfied'", "count", "feedback"),
    Indicator("unsatisfied", "不满意数", "not satisfied", "评价为“不满意”的数量",
              "ratings 'not satisfied'", "count", "feedback"),
    Indicator("satisfaction_rate", "群众满意率", "satisfaction rate",
              "（满意数 + 基本满意数）÷ 评价数", "(satisfied + basically satisfied) ÷ ratings",
              "ratio", "feedback"),
)

#: Indicators from other parts of the service, listed when their data exists.
OPTIONAL_INDICATORS: Final[tuple[Indicator, ...]] = (
    Indicator("patrol_coverage", "巡查覆盖率", "patrol coverage",
              "时段内巡查轨迹走过的网格街道长度 ÷ 应巡查街道长度",
              "street length of the grids walked by patrol tracks in the period ÷ street "
              "length to patrol", "ratio", "patrols"),
    Indicator("visits_done", "走访户数", "household visits done",
              "时段内完成的定期入户走访数", "periodic household visits done in the period",
              "count", "visits"),
)

BY_KEY: Final[dict[str, Indicator]] = {i.key: i for i in INDICATORS + OPTIONAL_INDICATORS}
#: The indicators a choropleth or a ranking may use, and whether higher is better.
HIGHER_IS_BETTER: Final[dict[str, bool]] = {
    "on_time_rate": True, "accept_on_time_rate": True, "satisfaction_rate": True,
    "reopened_share": False, "open_overdue": False, "close_h_median": False,
    "close_h_p90": False, "accept_h_median": False, "accept_h_p90": False, "received": False,
    "escalated": False, "patrol_coverage": True, "visits_done": True}


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``; None when the denominator is 0."""
    return None if not denominator else numerator / denominator


def rates(figures: dict[str, float | None]) -> dict[str, float | None]:
    """The rates of one row from its counts (the formulas of :data:`INDICATORS`)."""
    n = figures.get  # a figure, 0 when missing or None (called once a row of every answer)
    return {
        "accept_on_time_rate": ratio(n("accepted_on_time") or 0,
                                     (n("accepted") or 0) + (n("accept_overdue") or 0)),
        "on_time_rate": ratio(n("closed_on_time") or 0,
                              (n("closed") or 0) + (n("open_overdue") or 0)),
        "reopened_share": ratio(n("reopened") or 0, n("closed_ever") or 0),
        "satisfaction_rate": ratio((n("satisfied") or 0) + (n("basic") or 0),
                                   n("ratings") or 0),
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values``, interpolating linearly between the nearest
    two (PostgreSQL ``percentile_cont``); None for no values. The reference the database's
    figures are tested against."""
    if not 0 <= q <= 1:
        raise ValueError(f"q must be within 0..1, got {q}")
    ordered = sorted(values)
    if not ordered:
        return None
    return percentile_of_sorted(ordered, q)


def percentile_of_sorted(ordered: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already sorted (at least one; any sequence that indexes,
    a numpy array too): the same arithmetic, in Python floats."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    low, high = float(ordered[lo]), float(ordered[hi])
    return low + (high - low) * (pos - lo)
