"""Referral (转办): incidents that belong to another organisation, and the organisations.

Many incidents are not the community's to handle: a leaking pipe in a compound belongs to its
property company (物业), a fight to the police station (派出所), rubbish on a street to
sanitation (环卫), a burst water main to the utility. An :class:`Organisation` serves
categories of incidents in areas (polygons: compounds, districts; WGS84 lon/lat) and answers
within its own deadlines: to accept the referral (承办) and to handle it (办结), counted from
the referral in Beijing working time (``dispatch.incidents.rules.WorkCalendar``), per
organisation and, where it says so, per category.

The rule that finds the organisation responsible (:func:`responsible`): among the
organisations that serve the incident's category and whose areas hold its point, the one whose
holding area is smallest wins (a compound over the district around it); areas are compared in
geodesic square metres on the WGS84 ellipsoid (pyproj.Geod), so no projection is needed.

The steps (each one a step of the incident's history, ``dispatch.incidents.lifecycle``):
:func:`refer` (the community: accepted or returned -> 转办 referred, the assignee an
``OrgRef``), :func:`org_accept` (the organisation: -> 承办 org_accepted), :func:`org_handle`
(the organisation: -> 反馈 handled, back to the community to verify and close) and
:func:`org_return` (the organisation: -> 退回 returned, with a reason). A :class:`Referral` is
one referral's record with its deadlines, what became of it and when;
:func:`referral_statistics` sums them per organisation.

Written here rather than taken from a library: the kinds, the specificity rule and the
deadlines are the street offices' own; shapely, pyproj and pandas do the geometry and sums.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import geopandas as gpd
import pandas as pd
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import Incident, OrgRef, Step, transition
from dispatch.incidents.rules import Deadline, Rules, WorkCalendar, beijing
from gis.errors import InputError

#: kind -> (zh, en)
ORG_KINDS: Final[dict[str, tuple[str, str]]] = {
    "property_company": ("物业公司", "property company"),
    "police": ("派出所", "police station"),
    "sanitation": ("环卫", "sanitation"),
    "utilities": ("水电气热", "utilities (water, power, gas, heating)"),
    "department": ("职能部门", "government department"),
    "other": ("其他单位", "other organisation"),
}
#: A referral's status -> (zh, en)
REFERRAL_STATUSES: Final[dict[str, tuple[str, str]]] = {
    "referred": ("待承办", "referred, not yet accepted"),
    "accepted": ("承办中", "accepted by the organisation"),
    "handled": ("已办结", "handled by the organisation"),
    "returned": ("已退回", "returned by the organisation"),
    "withdrawn": ("已改转", "referred elsewhere"),
}
DEFAULT_ACCEPT = Deadline(1, "working_days")
DEFAULT_HANDLE = Deadline(5, "working_days")
_GEOD = Geod(ellps="WGS84")
_DEADLINE_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|wh|wd)\s*$")
_UNITS = {"h": "hours", "wh": "working_hours", "wd": "working_days"}


def parse_deadline(text: str, where: str = "deadline") -> Deadline:
    """A deadline written ``2h`` (calendar hours), ``8wh`` (working hours) or ``1wd``
    (working days).

    Raises:
        IncidentError: any other text, or not positive.
    """
    match = _DEADLINE_TEXT.match(str(text))
    if match is None:
        raise IncidentError(f"{where} 应写成 2h（小时）、8wh（工作小时）或 1wd（工作日）：{text!r}",
                            f"{where} must look like 2h (hours), 8wh (working hours) or 1wd "
                            f"(working days): {text!r}")
    return Deadline(float(match.group(1)), _UNITS[match.group(2)])


def deadline_text(limit: Deadline) -> str:
    """``limit`` written as :func:`parse_deadline` reads it."""
    unit = {v: k for k, v in _UNITS.items()}[limit.unit]
    return f"{limit.amount:g}{unit}"


def geodesic_area_m2(geom: BaseGeometry) -> float:
    """The area (m²) of a WGS84 lon/lat polygon on the ellipsoid."""
    return abs(_GEOD.geometry_area_perimeter(geom)[0])


@dataclass(frozen=True)
class Organisation:
    """An organisation incidents are referred to.

    Attributes:
        org_id: its id (the service's row id).
        name: its name, as residents know it.
        kind: one of :data:`ORG_KINDS`.
        categories: the incident categories it serves (ids of ``rules.Rules.categories``).
        area: the areas it serves: a (Multi)Polygon, WGS84 lon/lat.
        accept, handle: its deadlines to accept (承办) and to handle (办结) a referral,
            from the referral.
        category_deadlines: category -> (accept, handle) where a category differs.
        code: its code in the file it came from (unique).
    """

    org_id: int
    name: str
    kind: str
    categories: frozenset[str]
    area: BaseGeometry
    accept: Deadline = DEFAULT_ACCEPT
    handle: Deadline = DEFAULT_HANDLE
    category_deadlines: Mapping[str, tuple[Deadline, Deadline]] = field(default_factory=dict)
    code: str = ""

    def kind_label(self, lang: str = "zh") -> str:
        """The kind's label in ``lang``."""
        return ORG_KINDS[self.kind][lang == "en"]

    def deadlines(self, category: str) -> tuple[Deadline, Deadline]:
        """(accept, handle) for a referral of ``category``."""
        return self.category_deadlines.get(category, (self.accept, self.handle))

    def holding_area_m2(self, point: Point) -> float | None:
        """The geodesic area (m²) of its area's part that holds ``point``; None if none."""
        parts = self.area.geoms if isinstance(self.area, MultiPolygon) else [self.area]
        sizes = [geodesic_area_m2(p) for p in parts if p.covers(point)]
        return min(sizes) if sizes else None


def check_organisation(org: Organisation, rules: Rules) -> Organisation:
    """``org`` when its kind, categories and area are usable.

    Raises:
        IncidentError: unknown kind or category, no category, an area that is not a valid
            polygon in lon/lat range.
    """
    if org.kind not in ORG_KINDS:
        raise IncidentError(f"单位 {org.name}：未知类型 {org.kind!r}"
                            f"（可用 {', '.join(ORG_KINDS)}）",
                            f"organisation {org.name}: unknown kind {org.kind!r} "
                            f"(one of {', '.join(ORG_KINDS)})")
    if not org.categories:
        raise IncidentError(f"单位 {org.name} 未列出承办的事件类别",
                            f"organisation {org.name} lists no incident category")
    for category in sorted(set(org.categories) | set(org.category_deadlines)):
        try:
            rules.category(category)
        except IncidentError as exc:
            raise IncidentError(f"单位 {org.name}：{exc.zh}",
                                f"organisation {org.name}: {exc.en}") from None
    check_area(org.area, org.name)
    return org


def check_area(area: object, name: str) -> BaseGeometry:
    """``area`` when it is a valid, non-empty (Multi)Polygon within lon/lat ranges.

    Raises:
        IncidentError: anything else (a point, a line, an empty or self-crossing polygon).
    """
    if not isinstance(area, Polygon | MultiPolygon):
        kind = getattr(area, "geom_type", type(area).__name__)
        raise IncidentError(f"单位 {name} 的服务范围应为面（Polygon/MultiPolygon），收到 {kind}",
                            f"the area of organisation {name} must be a Polygon or "
                            f"MultiPolygon, got {kind}")
    if area.is_empty or not area.is_valid:
        why = "为空" if area.is_empty else shapely.is_valid_reason(area)
        raise IncidentError(f"单位 {name} 的服务范围无效：{why}；请在 QGIS 中修复几何",
                            f"the area of organisation {name} is not valid: "
                            f"{'empty' if area.is_empty else shapely.is_valid_reason(area)}; "
                            "repair the geometry (e.g. QGIS Fix geometries)")
    minx, miny, maxx, maxy = area.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise IncidentError(f"单位 {name} 的服务范围超出经纬度范围：请用 WGS84 经纬度",
                            f"the area of organisation {name} is outside lon/lat ranges: "
                            "give WGS84 lon/lat")
    return area


def responsible(organisations: Iterable[Organisation], category: str, lon: float,
                lat: float) -> Organisation | None:
    """The organisation responsible for an incident of ``category`` at (lon, lat): among those
    serving the category whose area holds the point, the one whose holding area is smallest
    (most specific); ties go to the lowest id. None when no organisation serves it there."""
    point = Point(lon, lat)
    best: tuple[float, int] | None = None
    chosen = None
    for org in organisations:
        if category not in org.categories:
            continue
        size = org.holding_area_m2(point)
        if size is not None and (best is None or (size, org.org_id) < best):
            best, chosen = (size, org.org_id), org
    return chosen


def candidates(organisations: Iterable[Organisation], category: str, lon: float,
               lat: float) -> list[tuple[Organisation, float]]:
    """Every organisation serving ``category`` whose area holds (lon, lat), with the geodesic
    area (m²) of its holding part, most specific first (the first is :func:`responsible`)."""
    point = Point(lon, lat)
    found = []
    for org in organisations:
        size = org.holding_area_m2(point) if category in org.categories else None
        if size is not None:
            found.append((org, size))
    return sorted(found, key=lambda pair: (pair[1], pair[0].org_id))


def check_serves(org: Organisation, category: str, lon: float, lat: float) -> None:
    """Nothing when ``org`` serves ``category`` at (lon, lat).

    Raises:
        IncidentError: it serves neither the category nor the place, with what it serves.
    """
    if category not in org.categories:
        raise IncidentError(
            f"单位 {org.name} 不承办“{category}”类事件"
            f"（承办：{'、'.join(sorted(org.categories))}）",
            f"organisation {org.name} does not serve category {category} "
            f"(serves: {', '.join(sorted(org.categories))})")
    if org.holding_area_m2(Point(lon, lat)) is None:
        raise IncidentError(f"事件位置 ({lon:.6f}, {lat:.6f}) 不在单位 {org.name} 的服务范围内",
                            f"the incident at ({lon:.6f}, {lat:.6f}) is outside the area "
                            f"organisation {org.name} serves")


# ---- the steps ---------------------------------------------------------------------------

def refer(incident: Incident, org: Organisation, who: str, note: str = "",
          at: datetime | None = None) -> Step:
    """Refer ``incident`` to ``org`` (转办): the community's step, from accepted or returned
    (or referred, to refer it elsewhere).

    Raises:
        IncidentError: ``org`` does not serve the incident's category or place, or the stage
            does not allow it.
    """
    check_serves(org, incident.category, incident.lon, incident.lat)
    text = f"转办 referred to {org.name}" + (f": {note}" if note else "")
    return transition(incident, "referred", who, text, at, assignee=OrgRef(org.org_id))


def _check_holder(incident: Incident, org_id: int) -> None:
    if incident.assignee != OrgRef(org_id):
        raise IncidentError(f"事件 {incident.incident_id} 未转办给单位 {org_id}",
                            f"incident {incident.incident_id} is not referred to organisation "
                            f"{org_id}")


def org_accept(incident: Incident, org_id: int, who: str, note: str = "",
               at: datetime | None = None) -> Step:
    """The organisation accepts the referral (承办)."""
    _check_holder(incident, org_id)
    return transition(incident, "org_accepted", who, note, at)


def org_handle(incident: Incident, org_id: int, who: str, note: str = "",
               at: datetime | None = None) -> Step:
    """The organisation has handled it (办结): back to the community to verify and close."""
    _check_holder(incident, org_id)
    if incident.stage != "org_accepted":  # a clearer message than the table's
        raise IncidentError(f"事件 {incident.incident_id} 须先承办再办结",
                            f"incident {incident.incident_id} must be accepted by the "
                            "organisation before it is handled")
    return transition(incident, "handled", who, note, at)


def org_return(incident: Incident, org_id: int, who: str, reason: str,
               at: datetime | None = None) -> Step:
    """The organisation returns the referral to the community (退回), with ``reason``.

    Raises:
        IncidentError: no reason, not referred to ``org_id``, or not in its hands.
    """
    _check_holder(incident, org_id)
    if not reason.strip():
        raise IncidentError("退回须说明理由", "a return needs a reason")
    if incident.stage not in ("referred", "org_accepted"):
        raise IncidentError(f"事件 {incident.incident_id} 已不在单位手中，不能退回",
                            f"incident {incident.incident_id} is no longer with the "
                            "organisation: it cannot be returned")
    return transition(incident, "returned", who, f"单位退回 returned: {reason}", at)


# ---- a referral's record -------------------------------------------------------------------

@dataclass
class Referral:
    """One referral of an incident to an organisation, with its deadlines and what became of
    it. Times are timezone-aware (Beijing)."""

    incident_id: str
    org_id: int
    category: str
    referred_at: datetime
    accept_by: datetime
    handle_by: datetime
    status: str = "referred"
    accepted_at: datetime | None = None
    handled_at: datetime | None = None
    returned_at: datetime | None = None
    reason: str = ""

    @property
    def is_open(self) -> bool:
        """Still with the organisation (referred or accepted)."""
        return self.status in ("referred", "accepted")

    def deadline(self) -> datetime:
        """The deadline that applies now: to accept while referred, else to handle."""
        return self.accept_by if self.status == "referred" else self.handle_by

    def overdue(self, now: datetime) -> bool:
        """Still with the organisation and past the deadline of its status."""
        return self.is_open and beijing(now) > self.deadline()


def new_referral(incident: Incident, org: Organisation, at: datetime,
                 calendar: WorkCalendar) -> Referral:
    """The record of referring ``incident`` to ``org`` at ``at``, its deadlines the
    organisation's (for the incident's category) counted in ``calendar``."""
    at = beijing(at)
    accept, handle = org.deadlines(incident.category)
    return Referral(incident.incident_id, org.org_id, incident.category, at,
                    calendar.deadline(at, accept), calendar.deadline(at, handle))


def follow(referral: Referral, step: Step) -> None:
    """Record on ``referral`` the organisation's ``step`` (承办, 办结, 退回), or that the
    incident was referred elsewhere (a ``referred`` step naming another organisation)."""
    if not referral.is_open:
        return
    if step.stage == "org_accepted":
        referral.status, referral.accepted_at = "accepted", step.at
    elif step.stage == "handled":
        referral.status, referral.handled_at = "handled", step.at
    elif step.stage == "returned":
        referral.status, referral.returned_at = "returned", step.at
        referral.reason = step.note
    elif step.stage == "referred":
        referral.status = "withdrawn"


def _hours(end: pd.Series, start: pd.Series) -> pd.Series:
    delta = pd.to_datetime(end, utc=True) - pd.to_datetime(start, utc=True)
    return delta.dt.total_seconds() / 3600


STAT_COLUMNS = ["org_id", "received", "open", "overdue", "accepted", "accepted_on_time",
                "handled", "handled_on_time", "returned", "median_accept_h",
                "median_handle_h"]


def referral_statistics(referrals: Iterable[Referral], now: datetime) -> pd.DataFrame:
    """Per organisation: referrals received, open (with it), overdue, accepted and accepted
    on time, handled and handled on time, returned, and the median hours from the referral
    to accepted and to handled (NaN when none yet)."""
    now = beijing(now)
    rows = [{"org_id": r.org_id, "open": r.is_open, "overdue": r.overdue(now),
             "accepted": r.accepted_at is not None,
             "accepted_on_time": r.accepted_at is not None and r.accepted_at <= r.accept_by,
             "handled": r.handled_at is not None,
             "handled_on_time": r.handled_at is not None and r.handled_at <= r.handle_by,
             "returned": r.status == "returned", "referred_at": r.referred_at,
             "accepted_at": r.accepted_at, "handled_at": r.handled_at} for r in referrals]
    if not rows:
        return pd.DataFrame(columns=STAT_COLUMNS)
    frame = pd.DataFrame(rows)
    frame["accept_h"] = _hours(frame["accepted_at"], frame["referred_at"])
    frame["handle_h"] = _hours(frame["handled_at"], frame["referred_at"])
    stats = frame.groupby("org_id", sort=True).agg(
        received=("org_id", "size"), open=("open", "sum"), overdue=("overdue", "sum"),
        accepted=("accepted", "sum"), accepted_on_time=("accepted_on_time", "sum"),
        handled=("handled", "sum"), handled_on_time=("handled_on_time", "sum"),
        returned=("returned", "sum"), median_accept_h=("accept_h", "median"),
        median_handle_h=("handle_h", "median"))
    return stats.reset_index()[STAT_COLUMNS]


# ---- organisations from a file -------------------------------------------------------------

@dataclass(frozen=True)
class OrganisationSpec:
    """An organisation as a file describes it, before it has an id: code, name, kind,
    categories, area (WGS84), deadlines and per-category deadlines."""

    code: str
    name: str
    kind: str
    categories: frozenset[str]
    area: BaseGeometry
    accept: Deadline = DEFAULT_ACCEPT
    handle: Deadline = DEFAULT_HANDLE
    category_deadlines: Mapping[str, tuple[Deadline, Deadline]] = field(default_factory=dict)
    phone: str = ""

    def with_id(self, org_id: int) -> Organisation:
        """The organisation with its id."""
        return Organisation(org_id, self.name, self.kind, self.categories, self.area,
                            self.accept, self.handle, self.category_deadlines, self.code)


REQUIRED_COLUMNS = ("code", "name", "kind", "categories")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def parse_category_deadlines(value: object, where: str
                             ) -> dict[str, tuple[Deadline, Deadline]]:
    """``{"noise": {"accept": "2h", "handle": "1wd"}}`` (a dict or its JSON text) as
    category -> (accept, handle); a missing one is the default."""
    if value in (None, "") or (isinstance(value, float) and math.isnan(value)):
        return {}
    given: Any = value
    if isinstance(value, str):
        try:
            given = json.loads(value)
        except json.JSONDecodeError as exc:
            raise IncidentError(f"{where} 不是有效的 JSON：{exc}",
                                f"{where} is not valid JSON: {exc}") from None
    if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
        raise IncidentError(f"{where} 应写成 {{\"类别\": {{\"accept\": \"2h\", \"handle\": "
                            "\"1wd\"}}",
                            f"{where} must look like {{\"category\": {{\"accept\": \"2h\", "
                            "\"handle\": \"1wd\"}}}}")
    out = {}
    for category, spec in given.items():
        unknown = set(spec) - {"accept", "handle"}
        if unknown:
            raise IncidentError(f"{where}.{category} 有未知设置 {', '.join(sorted(unknown))}",
                                f"{where}.{category} has unknown settings "
                                f"{', '.join(sorted(unknown))} (use accept, handle)")
        out[str(category)] = (
            parse_deadline(spec.get("accept", deadline_text(DEFAULT_ACCEPT)),
                           f"{where}.{category}.accept"),
            parse_deadline(spec.get("handle", deadline_text(DEFAULT_HANDLE)),
                           f"{where}.{category}.handle"))
    return out


def organisations_from_frame(frame: gpd.GeoDataFrame, rules: Rules,
                             path: str | Path | None = None) -> list[OrganisationSpec]:
    """Organisations from a layer: one feature per area, columns ``code``, ``name``,
    ``kind`` (:data:`ORG_KINDS`), ``categories`` (ids separated by ``;`` or ``,``), optional
    ``accept``, ``handle`` (``2h``, ``8wh``, ``1wd``), ``category_deadlines`` (JSON) and
    ``phone``. Features with the same code are one organisation with several areas (their
    other columns must agree). ``frame`` in any CRS with a definition (lon/lat assumed
    without one, when the values fit).

    Raises:
        gis.errors.InputError: a missing column, or a feature with a bad value, naming the
            file, the feature (its code) and what to do; nothing is returned then.
    """
    from gis.crs import to_wgs84

    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns: {', '.join(missing)}",
                         "give each feature code, name, kind and categories",
                         problem_zh=f"缺少字段：{', '.join(missing)}",
                         hint_zh="每个要素须有 code、name、kind、categories 字段")
    frame = to_wgs84(frame, path)
    specs: dict[str, OrganisationSpec] = {}
    for number, row in enumerate(frame.itertuples(index=False), start=1):
        code = _text(row.code)
        feature = f"code={code}" if code else f"row {number}"
        try:
            spec = _spec(row, code, number, rules)
        except IncidentError as exc:
            raise InputError(path, exc.en, "correct the feature and import the file again",
                             feature=feature, problem_zh=exc.zh,
                             hint_zh="请改正该要素后重新导入") from None
        known = specs.get(code)
        if known is None:
            specs[code] = spec
            continue
        if (known.name, known.kind, known.categories, known.accept, known.handle) != (
                spec.name, spec.kind, spec.categories, spec.accept, spec.handle):
            raise InputError(path, "features with the same code disagree on name, kind, "
                             "categories or deadlines",
                             "give every area of one organisation the same values",
                             feature=feature,
                             problem_zh="同一 code 的要素名称、类型、类别或时限不一致",
                             hint_zh="同一单位的各个范围须填写相同的值")
        merged = shapely.union(known.area, spec.area)
        specs[code] = OrganisationSpec(code, spec.name, spec.kind, spec.categories,
                                       _multi(merged), spec.accept, spec.handle,
                                       known.category_deadlines or spec.category_deadlines,
                                       known.phone or spec.phone)
    return list(specs.values())


def _multi(geom: BaseGeometry) -> BaseGeometry:
    return MultiPolygon([geom]) if isinstance(geom, Polygon) else geom


def _spec(row: Any, code: str, number: int, rules: Rules) -> OrganisationSpec:
    if not code:
        raise IncidentError(f"第 {number} 个要素缺少 code", f"feature {number} has no code")
    name = _text(row.name)
    if not name:
        raise IncidentError("缺少名称 name", "the name is missing")
    categories = frozenset(c.strip() for c in re.split(r"[;,；，]", _text(row.categories))
                           if c.strip())
    extra = row._asdict()
    accept = parse_deadline(_text(extra.get("accept")) or "1wd", "accept")
    handle = parse_deadline(_text(extra.get("handle")) or "5wd", "handle")
    per_category = parse_category_deadlines(extra.get("category_deadlines"),
                                            "category_deadlines")
    area = check_area(row.geometry, name)
    org = check_organisation(Organisation(0, name, _text(row.kind), categories, area, accept,
                                          handle, per_category, code), rules)
    return OrganisationSpec(code, name, org.kind, categories, _multi(area), accept, handle,
                            per_category, _text(extra.get("phone")))


def read_organisations(path: str | Path, rules: Rules,
                       layer: str | None = None) -> list[OrganisationSpec]:
    """Organisations from a GeoJSON, GeoPackage or Shapefile (:func:`organisations_from_frame`).

    Raises:
        gis.errors.InputError: unreadable file, missing column, bad feature.
    """
    from gis.vector_files import read_vector

    return organisations_from_frame(read_vector(path, layer=layer), rules, path)
