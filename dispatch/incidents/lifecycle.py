"""The incident lifecycle: stages, legal transitions, an append-only history and merged duplicates.

Stages: 上报 reported -> 立案 accepted -> 派遣 dispatched -> 处置 in_progress -> 反馈 handled ->
核查 verified -> 结案 closed, with 退回 returned and 作废 rejected. A closed incident that a
reporter answers "not fixed" within :data:`REOPEN_DAYS` days is reopened (:func:`reopen`, the
action ``reopen``): back to 退回 returned with its history kept. Micro-wishes (微心愿) are
claimed (认领) by party members or volunteers instead of dispatched: they reach the same stage
``dispatched`` through the action ``claim``. An incident that belongs to another organisation
(a property company, the police, sanitation...) is referred (转办) instead of dispatched:
accepted (or returned) -> 转办 referred -> 承办 org_accepted -> 反馈 handled, back to the
community to verify and close; the organisation may return it (退回) with a reason. Its
assignee is then an :class:`OrgRef` (the referral's own deadlines and the choice of the
organisation are ``dispatch.incidents.referral``'s). Every step is a :class:`Step` (time,
stage, who, note), kept in an append-only history; notes without a change of stage (merged
reports, escalations) are steps too.

Positions are WGS84 lon/lat (degrees); distances for duplicates are haversine metres; times are
timezone-aware (naive ones are Beijing time, see ``dispatch.incidents.rules.beijing``).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

import pandas as pd

from dispatch.channels import check_channel
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.rules import BEIJING, Rules, beijing

STAGES: dict[str, tuple[str, str]] = {
    "reported": ("上报", "reported"),
    "accepted": ("立案", "accepted"),
    "dispatched": ("派遣", "dispatched"),
    "in_progress": ("处置", "in progress"),
    "handled": ("反馈", "handled"),
    "verified": ("核查", "verified"),
    "closed": ("结案", "closed"),
    "returned": ("退回", "returned"),
    "rejected": ("作废", "rejected"),
    "referred": ("转办", "referred to an organisation"),
    "org_accepted": ("承办", "accepted by the organisation"),
}
CLAIMED_LABEL = ("认领", "claimed")
# stage -> stages it may move to. dispatched -> dispatched is a re-dispatch (改派).
TRANSITIONS: dict[str, frozenset[str]] = {
    "reported": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"dispatched", "referred", "rejected"}),
    "dispatched": frozenset({"in_progress", "dispatched", "returned"}),
    "in_progress": frozenset({"handled", "dispatched", "returned"}),
    "handled": frozenset({"verified", "returned"}),
    "verified": frozenset({"closed"}),
    "returned": frozenset({"dispatched", "in_progress", "referred", "rejected"}),
    # referred -> referred: referred again, to another organisation (改转)
    "referred": frozenset({"org_accepted", "referred", "returned"}),
    "org_accepted": frozenset({"handled", "returned"}),
    "closed": frozenset(),
    "rejected": frozenset(),
}
OPEN_STAGES = frozenset(STAGES) - {"closed", "rejected"}
#: A reporter's "not fixed" answer reopens a closed incident within this many days of closing.
REOPEN_DAYS = 7
REOPEN_ACTION = "reopen"
REOPENED_STAGE = "returned"  # back to 退回: its worker resumes it or it is dispatched again
WITH_WORKER = frozenset({"dispatched", "in_progress"})
WITH_ORGANISATION = frozenset({"referred", "org_accepted"})
# stage -> the kind of assignee a move there names (and makes the incident's)
ASSIGNING = {"dispatched": "a dispatch needs an assignee",
             "referred": "a referral needs an organisation"}
ASSIGNING_ZH = {"dispatched": "派遣须指定处置人", "referred": "转办须指定承办单位"}
EARTH_RADIUS_M = 6_371_008.8
_When = TypeVar("_When", datetime, datetime | None)  # a deadline; a stored row's may be missing


def stage_deadline(stage: str, accept_by: _When, close_by: _When) -> _When:
    """The deadline that applies in ``stage``: to accept (立案) while reported, else to close.

    The one statement of this rule: the incidents here, the service's rows and its maps use it.
    """
    return accept_by if stage == "reported" else close_by


def past_deadline(stage: str, deadline: datetime | None, now: datetime) -> bool:
    """Overdue: still open in ``stage`` and ``now`` after its ``deadline`` (timezone-aware)."""
    return stage in OPEN_STAGES and deadline is not None and now > deadline


@dataclass(frozen=True, order=True)
class OrgRef:
    """An organisation as an incident's assignee (a referral), told apart from a worker's id.

    ``str()`` is ``org:<id>``, the form the service stores; :meth:`parse` reads it back.
    """

    org_id: int

    def __str__(self) -> str:
        return f"org:{self.org_id}"

    @staticmethod
    def parse(text: str) -> OrgRef | None:
        """The reference written as ``org:<id>``; None for any other text."""
        prefix, _, ident = text.partition(":")
        return OrgRef(int(ident)) if prefix == "org" and ident.isdigit() else None


@dataclass(frozen=True)
class Step:
    """One entry of an incident's history (never changed once written)."""

    at: datetime
    stage: str  # the stage after the step
    action: str  # the stage moved to, or "claim", "merge", "escalate", "report"
    who: str
    note: str = ""
    assignee: Hashable | None = None  # a worker's id (as the caller gives it) or a name


@dataclass(frozen=True)
class Reporter:
    """Who reported: a name or account, a phone, when, the report's own id and the channel it
    came by (``dispatch.channels``: app, phone call, walk-in, on behalf...)."""

    name: str
    at: datetime
    phone: str = ""
    report_id: str | None = None
    channel: str = "app"


@dataclass
class Incident:
    """An incident: position (WGS84 lon/lat), category, stage, deadlines and history.

    Create with :func:`new_incident`; change only with :func:`transition`, :func:`claim`,
    :func:`add_note` and :func:`merge_report`, which keep the history append-only.
    """

    incident_id: str
    category: str
    lon: float
    lat: float
    reported_at: datetime
    accept_by: datetime
    close_by: datetime
    description: str = ""
    stage: str = "reported"
    # Ids as the caller gives them (int in the service, text from a CSV); a claimant's name;
    # an OrgRef while referred to an organisation.
    assignee: Hashable | None = None
    grid_id: Hashable | None = None
    escalated_to: Hashable | None = None
    reporters: list[Reporter] = field(default_factory=list)
    _history: list[Step] = field(default_factory=list, repr=False)

    @property
    def history(self) -> tuple[Step, ...]:
        """The steps so far, oldest first (a tuple: read-only)."""
        return tuple(self._history)

    @property
    def channel(self) -> str:
        """The channel of the first report (how the incident reached the community)."""
        return self.reporters[0].channel if self.reporters else "app"

    @property
    def is_open(self) -> bool:
        """Whether the incident is still being handled (neither closed nor rejected)."""
        return self.stage in OPEN_STAGES

    def stage_label(self, lang: str = "zh") -> str:
        """The stage's label; a micro-wish's ``dispatched`` reads 认领 claimed."""
        pair = STAGES[self.stage]
        if self.stage == "dispatched" and self.category == "micro_wish":
            pair = CLAIMED_LABEL
        return pair[lang == "en"]

    def accepted_at(self) -> datetime | None:
        """When it was accepted (立案); None before."""
        return next((s.at for s in self._history if s.action == "accepted"), None)

    def closed_at(self) -> datetime | None:
        """When it was last closed (结案); None before (a reopened one: its last closing)."""
        return next((s.at for s in reversed(self._history) if s.action == "closed"), None)

    @property
    def reopened(self) -> int:
        """How many times it was reopened (:func:`reopen`)."""
        return sum(s.action == REOPEN_ACTION for s in self._history)

    @property
    def deadline(self) -> datetime:
        """The deadline of its stage (:func:`stage_deadline`)."""
        return stage_deadline(self.stage, self.accept_by, self.close_by)

    def overdue(self, now: datetime) -> bool:
        """Open and past the deadline of its stage (:func:`past_deadline`)."""
        return past_deadline(self.stage, self.deadline, beijing(now))


def new_incident(incident_id: str, category: str, lon: float, lat: float, reported_at: datetime,
                 reporter: str, rules: Rules, *, description: str = "", phone: str = "",
                 report_id: str | None = None, channel: str = "app") -> Incident:
    """A reported incident with its deadlines from ``rules``, reported by ``channel``
    (``dispatch.channels.CHANNELS``).

    Raises:
        IncidentError: unknown category, lon/lat out of range.
        gis.errors.ArgumentError: unknown channel.
    """
    check_channel(channel)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise IncidentError(f"经纬度超出范围：{lon}, {lat}（应为 WGS84 经度, 纬度）",
                            f"lon/lat out of range: {lon}, {lat} (give WGS84 lon, lat)")
    at = beijing(reported_at)
    accept_by, close_by = rules.deadlines(category, at)
    incident = Incident(incident_id, category, float(lon), float(lat), at, accept_by, close_by,
                        description, reporters=[Reporter(reporter, at, phone, report_id,
                                                         channel)])
    incident._history.append(Step(at, "reported", "report", reporter, description))
    return incident


def _check_time(incident: Incident, at: datetime) -> datetime:
    at = beijing(at)
    last = incident._history[-1].at if incident._history else at
    if at < last:
        raise IncidentError(f"时间 {at:%Y-%m-%d %H:%M} 早于上一步 {last:%Y-%m-%d %H:%M}",
                            f"time {at:%Y-%m-%d %H:%M} is before the last step "
                            f"{last:%Y-%m-%d %H:%M}")
    return at


def _label(stage: str) -> tuple[str, str]:
    return STAGES.get(stage, (stage, stage))


def allowed_next(incident: Incident) -> list[str]:
    """The stages ``incident`` may move to now (``claim`` shown as ``dispatched``)."""
    return sorted(TRANSITIONS[incident.stage])


def transition(incident: Incident, to_stage: str, who: str, note: str = "",
               at: datetime | None = None, *, assignee: Hashable | None = None) -> Step:
    """Move ``incident`` to ``to_stage`` and append the step to its history.

    Args:
        to_stage: one of :data:`STAGES`.
        who: the person or system acting (an account or worker id).
        note: free text kept with the step.
        at: when (default now, Beijing time); not before the last step.
        assignee: the worker for ``dispatched``, the :class:`OrgRef` for ``referred``
            (required there; ``dispatch.incidents.referral.refer`` checks the organisation).

    Raises:
        IncidentError: unknown stage, a move the table does not allow, a micro-wish
            dispatched (it is claimed: :func:`claim`), a dispatch or referral without
            assignee, a time before the last step.
    """
    if to_stage == "dispatched" and incident.category == "micro_wish":
        raise IncidentError("微心愿由党员或志愿者认领，不派遣：请用 claim",
                            "micro-wishes are claimed by party members or volunteers, not "
                            "dispatched: use claim")
    return _move(incident, to_stage, who, note, at, assignee, to_stage)


def _move(incident: Incident, to_stage: str, who: str, note: str, at: datetime | None,
          assignee: Hashable | None, action: str) -> Step:
    at = _check_time(incident, at or datetime.now(BEIJING))
    if to_stage not in STAGES:
        raise IncidentError(f"未知状态 {to_stage!r}（可用：{', '.join(STAGES)}）",
                            f"unknown stage {to_stage!r} (known: {', '.join(STAGES)})")
    if to_stage not in TRANSITIONS[incident.stage]:
        zh_from, en_from = _label(incident.stage)
        zh_to, en_to = _label(to_stage)
        nexts = allowed_next(incident)
        raise IncidentError(
            f"事件 {incident.incident_id} 不能从“{zh_from}”转为“{zh_to}”；可转为："
            f"{'、'.join(_label(s)[0] for s in nexts) or '无（已终结）'}",
            f"incident {incident.incident_id} cannot go from {en_from} to {en_to}; allowed: "
            f"{', '.join(_label(s)[1] for s in nexts) or 'none (final stage)'}")
    if to_stage in ASSIGNING:
        if not assignee:
            raise IncidentError(ASSIGNING_ZH[to_stage], ASSIGNING[to_stage])
        if (to_stage == "referred") != isinstance(assignee, OrgRef):
            raise IncidentError("转办须指定单位，派遣须指定人员",
                                "a referral names an organisation, a dispatch a person")
        incident.assignee = assignee
    step = Step(at, to_stage, action, who, note, incident.assignee)
    incident.stage = to_stage
    incident._history.append(step)
    return step


def claim(incident: Incident, who: str, note: str = "", at: datetime | None = None) -> Step:
    """A party member or volunteer ``who`` claims an accepted micro-wish (认领): it moves to
    ``dispatched`` with ``who`` as assignee and the action ``claim``."""
    if incident.category != "micro_wish":
        raise IncidentError("只有微心愿可以认领，其他事件须派遣",
                            "only micro-wishes are claimed; other incidents are dispatched")
    return _move(incident, "dispatched", who, note, at, who, "claim")


def reopen(incident: Incident, who: str, note: str = "", at: datetime | None = None, *,
           close_by: datetime | None = None,
           within: timedelta | None = timedelta(days=REOPEN_DAYS)) -> Step:
    """Reopen a closed incident (重新办理): a reporter answered "not fixed" within ``within``
    of its last closing. It moves to :data:`REOPENED_STAGE` with the action ``reopen``; its
    assignee stays (they resume it, or it is dispatched again) and its history is kept.

    Args:
        who: who reopens (the reporter's feedback, or a worker recording it for them).
        note: free text kept with the step (the resident's comment).
        at: when (default now); not before the last step.
        close_by: the new deadline to close (the rules' deadline counted from ``at``); the old
            one stays when None.
        within: how long after closing a reopening is allowed; None: any time (replaying a
            stored history).

    Raises:
        IncidentError: not closed, or closed longer ago than ``within``.
    """
    at = _check_time(incident, at or datetime.now(BEIJING))
    closed = incident.closed_at()
    if incident.stage != "closed" or closed is None:
        zh, en = _label(incident.stage)
        raise IncidentError(f"事件 {incident.incident_id} 处于“{zh}”，只有已结案的事件可以重新办理",
                            f"incident {incident.incident_id} is {en}: only a closed incident "
                            "can be reopened")
    if within is not None and at - closed > within:
        days = within.total_seconds() / 86400
        raise IncidentError(f"事件 {incident.incident_id} 结案已超过 {days:g} 天，不能重新办理",
                            f"incident {incident.incident_id} was closed more than {days:g} "
                            "days ago: it cannot be reopened")
    if close_by is not None:
        incident.close_by = beijing(close_by)
    step = Step(at, REOPENED_STAGE, REOPEN_ACTION, who, note, incident.assignee)
    incident.stage = REOPENED_STAGE
    incident._history.append(step)
    return step


def add_note(incident: Incident, action: str, who: str, note: str,
             at: datetime | None = None) -> Step:
    """A step without a change of stage (e.g. ``escalate``, ``merge``, ``remark``)."""
    at = _check_time(incident, at or datetime.now(BEIJING))
    step = Step(at, incident.stage, action, who, note, incident.assignee)
    incident._history.append(step)
    return step


def restore_incident(incident_id: str, category: str, lon: float, lat: float,
                     reported_at: datetime, accept_by: datetime, close_by: datetime,
                     steps: Iterable[Step], *, description: str = "",
                     grid_id: Hashable | None = None, escalated_to: Hashable | None = None,
                     reporters: Iterable[Reporter] = ()) -> Incident:
    """An incident rebuilt from stored fields and its stored history, every step replayed
    through the transition table (so a tampered or corrupt history is refused).

    Raises:
        IncidentError: the history does not start with the report or holds an illegal step.
    """
    steps = list(steps)
    if not steps or steps[0].action != "report":
        raise IncidentError("事件历史须以上报开始", "an incident history must start with the "
                            "report")
    inc = Incident(incident_id, category, float(lon), float(lat), beijing(reported_at),
                   beijing(accept_by), beijing(close_by), description, grid_id=grid_id,
                   escalated_to=escalated_to, reporters=list(reporters))
    inc._history.append(steps[0])
    for step in steps[1:]:
        if step.action in STAGES or step.action == "claim":
            _move(inc, step.stage, step.who, step.note, step.at, step.assignee, step.action)
        elif step.action == REOPEN_ACTION:
            reopen(inc, step.who, step.note, step.at, within=None)
        else:
            add_note(inc, step.action, step.who, step.note, step.at)
    return inc


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (m) between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


def find_duplicate(incidents: Iterable[Incident], category: str, lon: float, lat: float,
                   at: datetime, rules: Rules) -> Incident | None:
    """The open incident a new report duplicates: same category, within ``rules.duplicate_m``
    of its first report's position and ``rules.duplicate_hours`` of its first report; the
    nearest when several qualify."""
    at = beijing(at)
    window = timedelta(hours=rules.duplicate_hours)
    best, best_d = None, math.inf
    for inc in incidents:
        if inc.category != category or not inc.is_open or abs(at - inc.reported_at) > window:
            continue
        d = haversine_m(lon, lat, inc.lon, inc.lat)
        if d <= rules.duplicate_m and d < best_d:
            best, best_d = inc, d
    return best


def merge_report(incidents: list[Incident], incident_id: str, category: str, lon: float,
                 lat: float, at: datetime, reporter: str, rules: Rules, *,
                 description: str = "", phone: str = "",
                 report_id: str | None = None,
                 channel: str = "app") -> tuple[Incident, bool]:
    """Take a report that came by ``channel``: merge it into a duplicate (its reporter added,
    a ``merge`` step) or add a new incident ``incident_id`` to ``incidents``.

    Returns:
        (the incident, True when merged).
    """
    check_channel(channel)
    dup = find_duplicate(incidents, category, lon, lat, at, rules)
    if dup is not None:
        dup.reporters.append(Reporter(reporter, beijing(at), phone, report_id, channel))
        step_at = max(beijing(at), dup._history[-1].at)  # a late-arriving report keeps order
        add_note(dup, "merge", reporter,
                 f"重复上报已合并 duplicate report merged: {description}".strip(), step_at)
        return dup, True
    incident = new_incident(incident_id, category, lon, lat, at, reporter, rules,
                            description=description, phone=phone, report_id=report_id,
                            channel=channel)
    incidents.append(incident)
    return incident, False


def incidents_frame(incidents: Iterable[Incident], now: datetime | None = None) -> pd.DataFrame:
    """One row per incident (the maps package's incident columns): incident_id, category,
    stage, lon, lat, grid_id, assignee, reporters, reported_at, accept_by, close_by, deadline
    (the one that applies now), overdue, accepted_at, closed_at, escalated_to, channel (of
    the first report)."""
    now = beijing(now or datetime.now(BEIJING))
    rows = []
    for i in incidents:
        rows.append({"incident_id": i.incident_id, "category": i.category, "stage": i.stage,
                     "lon": i.lon, "lat": i.lat, "grid_id": i.grid_id, "assignee": i.assignee,
                     "reporters": len(i.reporters), "reported_at": i.reported_at,
                     "accept_by": i.accept_by, "close_by": i.close_by,
                     "deadline": i.deadline,
                     "overdue": i.overdue(now), "accepted_at": i.accepted_at(),
                     "closed_at": i.closed_at(), "escalated_to": i.escalated_to,
                     "channel": i.channel})
    return pd.DataFrame(rows)


def history_frame(incident: Incident) -> pd.DataFrame:
    """The history as a table: at, stage, action, who, note, assignee."""
    return pd.DataFrame([vars(s) for s in incident.history],
                        columns=["at", "stage", "action", "who", "note", "assignee"])
