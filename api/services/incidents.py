"""Incidents (事件): report, the lifecycle from 上报 to 结案, dispatch, escalation, statistics.

The lifecycle is dispatch.incidents.lifecycle's; this module stores it (api.store.incidents: the
row plus an append-only table of steps) and checks who may do what on which incident (the
routers check the role of each endpoint, api.auth.PERMISSIONS):

* reporters (and workers, admins) report; a report within 30 m and 24 h of an open incident of
  the same category joins it (its reporter kept, a ``merge`` step) instead of making another;
* admins accept, reject, dispatch, verify, close and return; micro-wishes are claimed (认领)
  for a party member or volunteer instead of dispatched; planners only read;
* a worker sees only incidents dispatched to them and moves them to 处置 in progress and
  反馈 handled (or returns them);
* an operator (hotline, service desk) reports for residents and sees only what it entered;
* admins refer (转办) an incident to the organisation responsible (the one named, which must
  serve the category and the place, or the one dispatch.incidents.referral.responsible
  finds); the organisation's token sees only what was referred to it and accepts (承办),
  handles (办结: back to the community to verify and close) or returns (退回, with a reason)
  only what is with it now. Each referral is also a row with its own deadlines
  (api.store.organisations), written in the same transaction as the step;
* a street's admin or planner sees and moves only incidents in the grids of its communities
  (api.services.scope).

Every report records its channel (dispatch.channels): a reporter's is ``app``; a worker's
``patrol`` unless it says it entered the report for a resident (``on_behalf``,
``door_visit``...); an operator's ``phone_call`` unless it says ``walk_in``...; Open311's
``open311`` unless its ``channel`` extension field says otherwise (within what the caller's
role may say); ``qr_poster`` only through a building's poster form (api.services.posters).

Dispatch without a named worker asks dispatch.incidents.dispatcher.Dispatcher (the active plan's
grids and assignments, the workers available by duty flag, work days, days off and shift,
walking times on its dataset's streets, open loads and deadlines; api.services.dispatcher).
Every dispatch (by hand, chosen, or re-dispatch when a worker goes off duty) puts the incident
into the worker's visit route for today, and an incident leaving the worker takes its stop out
(api.services.visit_routes), in the same transaction as the incident's step; only the dispatch
actions route, so reports stay fast. Reports are idempotent with ``Idempotency-Key`` for
phones on bad networks.
"""

from __future__ import annotations

from datetime import UTC, datetime

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, check, forbid_other_worker
from api.errors import ApiError, not_found
from api.schemas import (
    Escalated,
    EscalationOut,
    IncidentActionIn,
    IncidentDispatchOut,
    IncidentOut,
    IncidentStatistics,
    IncidentStepOut,
    OffDutyOut,
    Redispatched,
    RoutePlacement,
    StatisticsBy,
)
from api.services.grid_index import GridLocator, PlanGrids, outside_error
from api.services.scope import LevelFilter, by_grid_code, out_of_scope, visible_communities
from api.services.visit_routes import TodayRoutes
from api.settings import Settings
from api.store import incidents as store
from api.store import organisations as org_store
from api.store.models import IncidentRow, IncidentStepRow, OrganisationRow, WorkerRow
from dispatch.channels import ASSISTED_CHANNELS, CHANNEL_NAMES
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import (
    WITH_ORGANISATION,
    WITH_WORKER,
    Incident,
    add_note,
    claim,
    merge_report,
    past_deadline,
    stage_deadline,
    transition,
)
from dispatch.incidents.referral import (
    check_serves,
    new_referral,
    org_accept,
    org_handle,
    org_return,
    refer,
    responsible,
)
from dispatch.incidents.rules import Rules, load_rules
from dispatch.incidents.statistics import incident_statistics

# action -> the stage it moves to
ACTION_STAGES = {"accept": "accepted", "reject": "rejected", "dispatch": "dispatched",
                 "start": "in_progress", "handle": "handled", "verify": "verified",
                 "close": "closed", "return": "returned"}
STAT_KEYS = {"grid": "grid_id", "worker": "assignee", "category": "category",
             "channel": "channel"}
ORG_ACTIONS = {"org_accept": org_accept, "org_handle": org_handle}

# The channels each role may give a report, the first its default (a report of its own: a
# reporter's by the app, a worker's found on patrol; the others entered for a resident).
ROLE_CHANNELS: dict[str, tuple[str, ...]] = {
    "reporter": ("app",),
    "worker": ("patrol", *sorted(ASSISTED_CHANNELS)),
    "operator": ("phone_call", *sorted(ASSISTED_CHANNELS - {"phone_call"})),
    "admin": ("on_behalf", *sorted(ASSISTED_CHANNELS - {"on_behalf"}), "app", "patrol"),
}


def report_channel(who: Principal, given: str | None, via: str = "api") -> str:
    """The channel of a report: ``given`` if the caller's role may say it, else its
    default; ``via`` "open311" adds (and defaults to) ``open311``, "poster" is always
    ``qr_poster``.

    Raises:
        IncidentError: a channel the role may not give (422), with the ones it may.
    """
    if via == "poster":
        return "qr_poster"
    allowed = ROLE_CHANNELS.get(who.role, ())
    if via == "open311":
        allowed = ("open311", *allowed)
    if given is None:
        return allowed[0]
    if given not in allowed:
        zh, en = CHANNEL_NAMES.get(given, (given, given))
        raise IncidentError(
            f"{who.role} 令牌不能以“{zh}”渠道上报（可用：{'、'.join(allowed)}）",
            f"a {who.role} token cannot report by channel {given} ({en}); "
            f"it may give: {', '.join(allowed)}")
    return given


def rules_in_force(settings: Settings) -> Rules:
    """The categories and deadlines of ``settings.incident_rules``; 500 ``bad_rules`` when
    the file cannot be read."""
    try:
        return load_rules(settings.incident_rules)
    except IncidentError as exc:  # the server's own settings: not the client's error
        raise ApiError(500, "bad_rules", exc.zh, exc.en) from None


def category_id(rules: Rules, text: str) -> str:
    """A category id from its id or its Chinese or English name."""
    for c in rules.categories.values():
        if text in (c.category_id, c.name_zh, c.name_en):
            return c.category_id
    rules.category(text)  # an unknown one: IncidentError, 422
    return text


def is_overdue(i: IncidentRow, now: datetime) -> bool:
    """Whether incident row ``i`` is past the deadline of its stage at ``now``."""
    deadline = store.aware(stage_deadline(i.status, i.accept_by, i.close_by))
    return past_deadline(i.status, deadline, now)


def incident_out(i: IncidentRow, merged: bool = False) -> IncidentOut:
    """The API's view of incident row ``i`` (``merged``: a report was merged into it)."""
    return IncidentOut(id=i.id, category=i.category, description=i.description, status=i.status,
                       lon=i.geom.x, lat=i.geom.y, plan_id=i.plan_id, grid_code=i.grid_code,
                       worker_id=i.worker_id, organisation_id=i.organisation_id,
                       channel=i.channel, created_at=store.aware(i.created_at),
                       accept_by=store.aware(i.accept_by), close_by=store.aware(i.close_by),
                       overdue=is_overdue(i, datetime.now(UTC)), escalated_to=i.escalated_to,
                       reporters=max(1, len(i.reporters or [])), merged=merged)


# ---- reports -------------------------------------------------------------------------------

def take_report(s: Session, who: Principal, rules: Rules, grids: GridLocator, *,
                category: str, lon: float, lat: float, description: str, reporter: str,
                phone: str | None, report_id: str | None = None,
                placed: tuple[PlanGrids | None, str | None] | None = None,
                channel: str = "app") -> tuple[IncidentRow, bool]:
    """Store a report: merged into a duplicate open incident, or a new incident placed in its
    grid of the active plan; returns (the row, merged). A point outside every grid of the
    active plan (outside every community) is refused with 422. ``placed``: the active plan
    and the grid code already found by :func:`place_report` (before the write lock);
    ``channel``: how it came (:func:`report_channel`)."""
    now = datetime.now(UTC)
    plan, grid_code = placed if placed is not None else place_report(s, grids, lon, lat)
    candidates = store.duplicate_candidates(s, category, lon, lat, now, rules.duplicate_m,
                                            rules.duplicate_hours)
    domain = store.load(s, candidates)
    incident, merged = merge_report(domain, "new", category, lon, lat, now, reporter, rules,
                                    description=description, phone=phone or "",
                                    report_id=report_id, channel=channel)
    if merged:
        row = s.get_one(IncidentRow, int(incident.incident_id))
        store.save_domain(s, row, incident, who.token_id)
        return row, merged
    # A new incident: its row complete before the one INSERT, then its first step.
    incident.grid_id = grid_code
    row = IncidentRow(category=category, description=description, reporter_name=reporter,
                      reporter_phone=phone, reporter_token_id=who.token_id,
                      plan_id=None if plan is None else plan.plan_id, grid_code=grid_code,
                      channel=channel, created_at=now)
    row.set_geometry(shapely.Point(lon, lat))
    store.copy_state(row, incident)
    s.add(row)
    s.flush()
    incident.incident_id = str(row.id)
    store.save_domain(s, row, incident, who.token_id, stored=0)
    return row, merged


def place_report(s: Session, grids: GridLocator, lon: float,
                 lat: float) -> tuple[PlanGrids | None, str | None]:
    """The active plan and the code of its grid holding (lon, lat) (None, None without an
    active plan); 422 ``outside_area`` outside every grid."""
    plan = grids.active(s)
    grid_code = None if plan is None else plan.code_at(lon, lat)
    if plan is not None and grid_code is None:
        raise outside_error(lon, lat, plan)
    return plan, grid_code


# ---- reading -------------------------------------------------------------------------------

def scope(query, who: Principal):
    """``query`` over IncidentRow narrowed to what the caller may see: a worker those
    dispatched to them, an operator those it entered, an organisation those ever referred to
    it; office roles everything."""
    if who.role == "worker":
        return query.where(IncidentRow.worker_id == who.worker_id)
    if who.role == "operator":
        return query.where(IncidentRow.reporter_token_id == who.token_id)
    if who.role == "organisation":
        return query.where(IncidentRow.id.in_(org_store.referred_to(
            who.organisation_id if who.organisation_id is not None else -1)))
    return query


def list_incidents(session: Session, who: Principal, limit: int, offset: int, *,
                   status: str | None = None, category: str | None = None,
                   grid_code: str | None = None, worker_id: int | None = None,
                   channel: str | None = None,
                   organisation_id: int | None = None,
                   asked: LevelFilter | None = None) -> list[IncidentOut]:
    """Incidents by id, filtered (``asked``: in one community, street or district), within
    what the caller may see (:func:`scope`; a worker asking for another worker's: 403)."""
    query = select(IncidentRow).order_by(IncidentRow.id)
    scoped = by_grid_code(IncidentRow.grid_code, visible_communities(who, asked))
    if scoped is not None:
        query = query.where(scoped)
    if who.role == "worker":
        forbid_other_worker(who, worker_id if worker_id is not None else who.worker_id)
    query = scope(query, who)
    for column, value in ((IncidentRow.status, status), (IncidentRow.category, category),
                          (IncidentRow.grid_code, grid_code), (IncidentRow.worker_id, worker_id),
                          (IncidentRow.channel, channel),
                          (IncidentRow.organisation_id, organisation_id)):
        if value is not None:
            query = query.where(column == value)
    rows = session.scalars(query.limit(limit).offset(offset))
    return [incident_out(i) for i in rows]


def check_street(session: Session, who: Principal, row: IncidentRow) -> None:
    """403 for a street's staff when ``row`` lies outside the street's communities."""
    scoped = by_grid_code(IncidentRow.grid_code, visible_communities(who))
    if scoped is not None and session.scalar(
            select(IncidentRow.id).where(IncidentRow.id == row.id, scoped)) is None:
        raise out_of_scope("事件", "incident")


def visible(session: Session, incident_id: int, who: Principal) -> IncidentRow:
    """The incident (404 if none), 403 when the caller may not see it (:func:`scope`)."""
    row = session.get(IncidentRow, incident_id)
    if row is None:
        raise not_found("事件", "incident", incident_id)
    if who.role == "worker":
        forbid_other_worker(who, row.worker_id)
    elif who.role in ("operator", "organisation") and session.scalar(
            scope(select(IncidentRow.id).where(IncidentRow.id == incident_id), who)) is None:
        raise ApiError(403, "forbidden", "只能查看本人录入或转办给本单位的事件",
                       "an operator sees the incidents it entered, an organisation those "
                       "referred to it")
    check_street(session, who, row)
    return row


def get_incident(session: Session, who: Principal, incident_id: int) -> IncidentOut:
    """Incident ``incident_id`` if the caller may see it (404 otherwise)."""
    return incident_out(visible(session, incident_id, who))


def history(session: Session, who: Principal, incident_id: int) -> list[IncidentStepOut]:
    """The incident's steps, oldest first."""
    visible(session, incident_id, who)
    steps = session.scalars(select(IncidentStepRow)
                            .where(IncidentStepRow.incident_id == incident_id)
                            .order_by(IncidentStepRow.seq))
    return [IncidentStepOut(seq=s.seq, at=store.aware(s.at), stage=s.stage, action=s.action,
                            who=s.who, note=s.note, assignee=s.assignee) for s in steps]


def statistics(session: Session, by: StatisticsBy,
               channel: str | None = None,
               who: Principal | None = None) -> IncidentStatistics:
    """Per grid, worker, category or channel: incidents, open, overdue, median hours to
    accept and to close (None when none yet); the group of incidents without one is None.
    ``channel``: only the incidents first reported by that channel. A street's staff count
    the incidents of its communities."""
    query = select(IncidentRow).order_by(IncidentRow.id)
    if channel is not None:
        query = query.where(IncidentRow.channel == channel)
    scoped = by_grid_code(IncidentRow.grid_code, visible_communities(who))
    if scoped is not None:
        query = query.where(scoped)
    rows = list(session.scalars(query))
    frame = incident_statistics(store.load(session, rows), STAT_KEYS[by], datetime.now(UTC))
    frame = frame.rename(columns={STAT_KEYS[by]: by})
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for r in records:
        r[by] = None if r[by] == "—" else str(r[by])
        r["incidents"], r["open"], r["overdue"] = (int(r["incidents"]), int(r["open"]),
                                                   int(r["overdue"]))
    return IncidentStatistics.model_validate({"by": by, "channel": channel,
                                              "groups": records})


# ---- changes -------------------------------------------------------------------------------

def _save_all(session: Session, rows: list[IncidentRow], domain: list, who: Principal,
              changed: set[str]) -> None:
    by_id = {str(r.id): r for r in rows}
    for incident in domain:
        if incident.incident_id in changed:
            store.save_domain(session, by_id[incident.incident_id], incident, who.token_id)


def escalate(session: Session, settings: Settings, rules: Rules,
             who: Principal) -> EscalationOut:
    """Escalate every overdue open incident to its community's grid leader (网格长), once;
    committed."""
    from api.services.dispatcher import dispatcher

    rows = store.open_rows(session)
    domain = store.load(session, rows)
    table = dispatcher(session, settings, rules).escalate_overdue(
        domain, datetime.now(UTC), who.name)
    _save_all(session, rows, domain, who, set(table["incident_id"]))
    session.commit()
    return EscalationOut(escalated=[
        Escalated(incident_id=int(r.incident_id), grid_code=r.grid_id, community=r.community,
                  leader_worker_id=int(r.leader), overdue_h=float(r.overdue_h))
        for r in table.itertuples()])


def redispatch_off_duty(session: Session, settings: Settings, rules: Rules, who: Principal,
                        worker_id: int) -> OffDutyOut:
    """Dispatch the open incidents of ``worker_id``, just marked off duty in ``session``, to
    others, each into its new worker's route for today (and out of theirs); committed. No
    worker to take one: IncidentError (the route answers it 409)."""
    rows = store.open_rows(session)
    domain = store.load(session, rows)
    now = datetime.now(UTC)
    today = TodayRoutes(session, settings, rules, now)
    disp, status, _ = today.context()
    table = disp.redispatch_off_duty(worker_id, domain, status, now, who.name)
    moved = set(table["incident_id"])
    _save_all(session, rows, domain, who, moved)
    today.release(worker_id, [int(i) for i in moved])
    placed = {str(row.id): today.place(row) for row in rows if str(row.id) in moved}
    session.commit()
    return OffDutyOut(worker_id=worker_id, on_duty=False, redispatched=[
        Redispatched(incident_id=int(r.incident_id), to_worker=int(r.to_worker),
                     reason=r.reason, route=RoutePlacement(**vars(placed[r.incident_id])))
        for r in table.itertuples()])


def _dispatch(session: Session, today: TodayRoutes, row: IncidentRow, body: IncidentActionIn,
              who: Principal) -> tuple[Incident, str | None, list[dict]]:
    """Dispatch ``row`` to ``body.worker_id`` or to the Dispatcher's choice; returns the
    domain incident, the reason and the ranking."""
    now = today.now
    if body.worker_id is not None:
        if session.get(WorkerRow, body.worker_id) is None:
            raise not_found("网格员", "worker", body.worker_id)
        incident = store.load(session, [row])[0]
        transition(incident, "dispatched", who.name, body.note or "指定派遣 dispatched by hand",
                   now, assignee=body.worker_id)
        return incident, "指定 chosen by hand", []
    rows = [r for r in store.open_rows(session) if r.id != row.id] + [row]
    domain = store.load(session, rows)
    incident = domain[-1]
    disp, status, _ = today.context()
    ranking = disp.rank(incident, domain, status, now)
    worker, reason = disp.choose(incident, domain, status, now)
    worker = int(worker)  # a numpy integer from the ranking table
    note = f"派遣 dispatched: {reason}" + (f"; {body.note}" if body.note else "")
    transition(incident, "dispatched", who.name, note, now, assignee=worker)
    table = ranking.head(5).assign(eta=ranking["eta"].head(5).map(lambda t: t.isoformat()))
    return incident, reason, table.astype(object).to_dict("records")


def _refer(session: Session, rules: Rules, row: IncidentRow, incident: Incident,
           body: IncidentActionIn, who: Principal, now: datetime) -> str:
    """Refer ``incident`` to ``body.organisation_id`` or to the organisation responsible,
    and store the referral with its deadlines; returns the reason given to the caller."""
    lon, lat = incident.lon, incident.lat
    if body.organisation_id is not None:
        org_row = session.get(OrganisationRow, body.organisation_id)
        if org_row is None:
            raise not_found("承办单位", "organisation", body.organisation_id)
        org = org_store.to_domain(org_row)
        try:
            check_serves(org, incident.category, lon, lat)
        except IncidentError as exc:  # bad data, not a step out of turn: 422
            raise ApiError(422, "not_served", exc.zh, exc.en) from None
        reason = "指定 chosen by hand"
    else:
        found = responsible(org_store.covering(session, lon, lat), incident.category, lon, lat)
        if found is None:
            category = rules.category(incident.category)
            raise ApiError(422, "no_organisation",
                           f"没有单位在此位置承办“{category.name_zh}”类事件：请指定 "
                           "organisation_id 或先导入承办单位",
                           f"no organisation serves {category.name_en} at this place: name "
                           "organisation_id or import the organisations first")
        org = found
        reason = f"按区域和类别 by area and category: {org.name}"
    step = refer(incident, org, who.name, body.note, now)
    org_store.follow_step(session, row.id, row.category, step)  # an earlier one withdrawn
    org_store.add_referral(session, new_referral(incident, org, now, rules.calendar),
                           who.token_id)
    return reason


def _org_step(session: Session, row: IncidentRow, incident: Incident, body: IncidentActionIn,
              who: Principal, now: datetime) -> None:
    """The organisation's step (承办, 办结, 退回) on an incident with it now."""
    org_id = row.organisation_id
    if org_id is None:
        raise IncidentError(f"事件 {row.id} 当前未转办给任何单位",
                            f"incident {row.id} is not with an organisation now")
    if body.action == "org_return":
        step = org_return(incident, org_id, who.name, body.note, now)
    else:
        step = ORG_ACTIONS[body.action](incident, org_id, who.name, body.note, now)
    org_store.follow_step(session, row.id, row.category, step)


def _check_holder(who: Principal, row: IncidentRow, action: str) -> None:
    """403 for a worker on another's incident or an organisation on one not with it now;
    the community's own steps on an incident with an organisation are refused."""
    forbid_other_worker(who, row.worker_id)
    if who.role == "organisation" and (row.organisation_id is None
                                       or row.organisation_id != who.organisation_id):
        raise ApiError(403, "forbidden", "承办单位只能处理当前转办给本单位的事件",
                       "an organisation may act only on incidents referred to it now")
    if row.status in WITH_ORGANISATION and action in ("handle", "return", "start"):
        raise IncidentError(f"事件 {row.id} 已转办给单位：由单位办结或退回"
                            "（org_handle、org_return）",
                            f"incident {row.id} is with an organisation: it handles or returns "
                            "it (org_handle, org_return)")


def act(session: Session, settings: Settings, rules: Rules, who: Principal, incident_id: int,
        body: IncidentActionIn) -> IncidentDispatchOut:
    """Move the incident on by ``body.action`` if the caller's role may (a worker only
    theirs, an organisation only what is with it now); a dispatch also answers the reason,
    the ranking and the stop in the worker's route for today. Committed."""
    row = session.get(IncidentRow, incident_id, with_for_update=True)  # one change at a time
    if row is None:
        raise not_found("事件", "incident", incident_id)
    check(who, f"incidents.{body.action}")
    _check_holder(who, row, body.action)
    check_street(session, who, row)
    reason: str | None = None
    ranking: list[dict] = []
    before = row.worker_id if row.status in WITH_WORKER else None
    today = TodayRoutes(session, settings, rules, datetime.now(UTC))
    if body.action == "dispatch":
        incident, reason, ranking = _dispatch(session, today, row, body, who)
    else:
        incident = store.load(session, [row])[0]
        if body.action == "claim":
            if not body.claimant:
                raise IncidentError("认领须填写认领人 claimant", "a claim needs a claimant")
            claim(incident, body.claimant, body.note, today.now)
        elif body.action == "note":
            add_note(incident, "remark", who.name, body.note, today.now)
        elif body.action == "refer":
            reason = _refer(session, rules, row, incident, body, who, today.now)
        elif body.action.startswith("org_"):
            _org_step(session, row, incident, body, who, today.now)
        else:
            transition(incident, ACTION_STAGES[body.action], who.name, body.note, today.now)
    store.save_domain(session, row, incident, who.token_id)
    placed = today.follow(row, before, dispatched=body.action == "dispatch")
    session.commit()
    route = None if placed is None else RoutePlacement(**vars(placed))
    return IncidentDispatchOut(incident=incident_out(row), reason=reason, ranking=ranking,
                               route=route)
