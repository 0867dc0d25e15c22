"""Token authentication and roles.

A token is ``wg_`` + 43 random URL-safe characters, sent as ``Authorization: Bearer <token>``
(or as the password of HTTP Basic authentication, for GIS clients). Only its sha256 is stored.
Roles:

- ``admin`` (street office): everything;
- ``planner``: reads everything, uploads datasets and makes draft plans (and computes
  assignments, routes and party zones for a plan that is not active); changes no live data;
- ``worker`` (网格员): their own grids, routes and incidents only (a token is tied to a worker);
  reports (for themself, or entered for a resident: channel ``on_behalf``, ``door_visit``...);
- ``reporter``: may only report incidents (channel ``app``), post micro-wishes (a resident's
  app) and see and confirm the wishes they posted;
- ``operator`` (热线接线员, a hotline or service-desk operator): reports for residents who
  call or walk in (channel ``phone_call`` by default, or ``walk_in``, ``on_behalf``...) and
  reads the incidents it entered (their status, history), to answer the resident's call
  back; no other incident, worker or plan; enters micro-wishes for residents the same way;
- ``organisation`` (承办单位: a property company, the police, sanitation, a utility...): a
  token tied to one organisation; sees only the incidents referred to it (转办) and only
  accepts, handles or returns those that are with it now; reads its own record.
- ``volunteer`` (志愿者, a party member too): claims micro-wishes, marks them done, sees their
  own record (a token is tied to a volunteer record).

A token of an admin or planner may name a street (``street_id``): its holder sees and changes
only the grids, incidents, workers and maps of that street's communities (one function does
the scoping: api.services.scope), and may do none of the district-wide actions
(:data:`WHOLE_AREA`: activating plans, editing the levels...).

A process remembers a valid token for ``Settings.token_cache_s`` seconds (:class:`TokenCache`),
so that a request costs no token query; revoking a token (:func:`revoke_token`) empties every
cache of its process at once, and other processes (the CLI, the service's other workers)
stop accepting it within those seconds.

Who may do what is :data:`PERMISSIONS`, one table of action -> roles; every endpoint names its
action with the type of its caller, ``who: PlansRead`` (a :class:`Principal` allowed
``plans.read``, defined below for each action an endpoint names), or, when the action depends
on the data (an incident's action, a plan's status), calls :func:`check`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Protocol, cast

from fastapi import Depends, Request
from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.store.models import ROLES, OrganisationRow, StreetRow, TokenRow, VolunteerRow, WorkerRow
from gis.errors import ArgumentError

TOKEN_PREFIX = "wg_"
ROLE_ZH = {"admin": "管理员（街道办）", "planner": "规划人员", "worker": "网格员",
           "reporter": "上报人", "operator": "热线接线员", "organisation": "承办单位",
           "volunteer": "志愿者"}
STREET_ROLES = ("admin", "planner")  # the roles a token may scope to one street


def hash_secret(secret: str) -> str:
    """sha256 hex digest of a token secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(session: Session, role: str, name: str = "",
                worker_id: int | None = None,
                organisation_id: int | None = None,
                volunteer_id: int | None = None,
                street_id: int | None = None) -> tuple[TokenRow, str]:
    """Create a token; returns the row and the secret (shown once, never stored).
    ``street_id``: an admin or planner of that street only.

    Raises:
        ValueError: unknown role, a worker token without a worker, or an unknown worker; an
            organisation (volunteer) token without an organisation (volunteer), or an unknown
            one; a street for another role than admin or planner, or an unknown street.
    """
    if role not in ROLES:
        raise ArgumentError(f"未知角色 {role!r}：角色应为 {', '.join(ROLES)}",
                            f"unknown role {role!r}: one of {', '.join(ROLES)}")
    if role == "worker":
        if worker_id is None:
            raise ArgumentError("网格员令牌需指定网格员编号（--worker ID）",
                                "a worker token needs --worker ID")
        if session.get(WorkerRow, worker_id) is None:
            raise ArgumentError(f"网格员 {worker_id} 不存在", f"worker {worker_id} not found")
    if role == "organisation":
        if organisation_id is None:
            raise ArgumentError("承办单位令牌需指定单位编号（--organisation ID）",
                                "an organisation token needs --organisation ID")
        if session.get(OrganisationRow, organisation_id) is None:
            raise ArgumentError(f"单位 {organisation_id} 不存在",
                                f"organisation {organisation_id} not found")
    if role == "volunteer":
        if volunteer_id is None:
            raise ArgumentError("志愿者令牌需指定志愿者编号（--volunteer ID）",
                                "a volunteer token needs --volunteer ID")
        if session.get(VolunteerRow, volunteer_id) is None:
            raise ArgumentError(f"志愿者 {volunteer_id} 不存在",
                                f"volunteer {volunteer_id} not found")
    if street_id is not None:
        if role not in STREET_ROLES:
            raise ArgumentError(f"只有管理员和规划人员的令牌可限定街道，{ROLE_ZH[role]}不可",
                                f"only admin and planner tokens may name a street, not {role}")
        if session.get(StreetRow, street_id) is None:
            raise ArgumentError(f"街道 {street_id} 不存在", f"street {street_id} not found")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = TokenRow(name=name or role, role=role, secret_sha256=hash_secret(secret),
                  worker_id=worker_id if role == "worker" else None,
                  organisation_id=organisation_id if role == "organisation" else None,
                  volunteer_id=volunteer_id if role == "volunteer" else None,
                  street_id=street_id)
    session.add(token)
    session.flush()
    return token, secret


def revoke_token(session: Session, token_id: int) -> bool:
    """Mark the token revoked in ``session``'s transaction; this process's token caches are
    emptied now and again when the transaction commits."""
    token = session.get(TokenRow, token_id)
    if token is None or token.revoked_at is not None:
        return False
    token.revoked_at = datetime.now(UTC)
    forget_tokens()
    event.listen(session, "after_commit", lambda _session: forget_tokens(), once=True)
    return True


_generation = 0  # bumped by every revocation in this process: older cache entries are void
_generation_lock = threading.Lock()


def forget_tokens() -> None:
    """Void every cached token of this process (all :class:`TokenCache` objects)."""
    global _generation
    with _generation_lock:
        _generation += 1


@dataclass(frozen=True)
class Principal:
    """Who is calling: token id, role, the worker a worker token belongs to, the
    organisation an organisation token acts for, the volunteer of a volunteer token, and the
    street a street admin's (or planner's) token is limited to."""

    token_id: int
    role: str
    name: str
    worker_id: int | None = None
    organisation_id: int | None = None
    volunteer_id: int | None = None
    street_id: int | None = None


def _unauthorized(request: Request, zh: str, en: str) -> ApiError:
    # Map pages are opened in a browser, which asks for a user name and password only when
    # challenged with Basic: the token goes in as the password.
    challenge = ('Basic realm="Wangge", charset="UTF-8"'
                 if request.url.path.startswith("/maps") else "Bearer")
    return ApiError(401, "unauthorized", zh, en, headers={"WWW-Authenticate": challenge})


def _secret(header: str) -> str | None:
    """The token from ``Bearer <token>``, or from HTTP Basic with the token as password (for
    clients such as QGIS whose connection settings offer user name and password only)."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


class TokenCache:
    """Valid tokens of one service process by the sha256 of their secret, each kept
    ``ttl`` seconds (0: none kept). Unknown and revoked tokens are never kept."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, Principal]] = {}

    def get(self, digest: str) -> Principal | None:
        """The principal cached for a token's sha256 ``digest``; None when absent, expired or
        revoked since."""
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, generation, principal = entry
        if generation != _generation or expires < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, generation: int) -> None:
        """Keep ``principal``, looked up when the revocation count was ``generation`` (a
        revocation since then voids the entry)."""
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, generation, principal)


TOKEN_BY_DIGEST = (select(TokenRow.id, TokenRow.role, TokenRow.name, TokenRow.worker_id,
                          TokenRow.organisation_id, TokenRow.volunteer_id,
                          TokenRow.street_id, TokenRow.revoked_at)
                   .where(TokenRow.secret_sha256 == bindparam("digest")))


def principal_for_secret(db, secret: str, cache: TokenCache | None = None) -> Principal | None:
    """The holder of ``secret``, or None when it is unknown or revoked (from ``cache`` when
    it knows the token)."""
    digest = hash_secret(secret.strip())
    if cache is not None and (known := cache.get(digest)) is not None:
        return known
    generation = _generation
    with db.engine.connect() as conn:
        row = conn.execute(TOKEN_BY_DIGEST, {"digest": digest}).first()
    if row is None or row.revoked_at is not None:
        return None
    principal = Principal(row.id, row.role, row.name, row.worker_id, row.organisation_id,
                          row.volunteer_id, row.street_id)
    if cache is not None:
        cache.put(digest, principal, generation)
    return principal


def token_cache(request: Request) -> TokenCache | None:
    """The app's token cache (None outside the service, e.g. in tests of a bare router)."""
    return getattr(request.app.state, "tokens", None)


def cached_principal(request: Request) -> Principal | None:
    """The caller when their token is in this process's cache (no database access), else
    None (then :func:`authenticate` decides)."""
    cache = token_cache(request)
    secret = _secret(request.headers.get("authorization", ""))
    if cache is None or secret is None:
        return None
    return cache.get(hash_secret(secret.strip()))


def authenticate(request: Request) -> Principal:
    """The caller from the Authorization header; raises the 401 ApiError otherwise.

    Also called by api.guard before a write's body is read."""
    secret = _secret(request.headers.get("authorization", ""))
    if secret is None:
        raise _unauthorized(request, "需要登录：请在 Authorization 头中提供 Bearer 令牌",
                            "authentication required: send Authorization: Bearer <token>")
    principal = principal_for_secret(request.app.state.db, secret, token_cache(request))
    if principal is None:
        raise _unauthorized(request, "令牌无效或已吊销", "invalid or revoked token")
    return principal


def current_principal(request: Request) -> Principal:
    """The caller of this request (401 without a valid, unrevoked token)."""
    return authenticate(request)


async def request_principal(request: Request) -> Principal:
    """:func:`current_principal` as a dependency that stays in the event loop when the token
    is in this process's cache (every request but a token's first in ``token_cache_s``):
    a dependency that is a plain function costs each request a trip to a worker thread."""
    known = cached_principal(request)
    if known is not None:
        return known
    return await run_in_threadpool(authenticate, request)


ALL_READERS = frozenset({"admin", "planner", "worker"})
OFFICE = frozenset({"admin", "planner"})
ADMIN = frozenset({"admin"})
REPORTERS = frozenset({"admin", "worker", "reporter", "operator"})
WORKERS = frozenset({"admin", "worker"})  # a worker: their own incidents only
# who reads incidents: a worker those dispatched to them, an operator those it entered, an
# organisation those referred to it
INCIDENT_READERS = ALL_READERS | {"operator", "organisation"}
ORGANISATIONS = frozenset({"admin", "organisation"})  # an organisation: what is with it now
# Micro-wishes: a worker acts on the wishes of their own grids, a volunteer on their own
# claims, a reporter (the resident's app) or operator (the hotline) on the wishes it posted
# (api.services.wishes).
WISH_READERS = frozenset({"admin", "planner", "worker", "reporter", "operator", "volunteer"})
CLAIMERS = frozenset({"admin", "worker", "volunteer"})
RESIDENT_SIDE = frozenset({"admin", "worker", "reporter", "operator"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "datasets.read": OFFICE,
    "datasets.upload": OFFICE,
    "plans.read": OFFICE,
    "plans.draft": OFFICE,  # start a partition job
    "plans.edit": OFFICE,  # the plan editor: edit a draft plan by hand
    "plans.activate": ADMIN,
    "plans.compute": OFFICE,  # assignments, routes, party zones of a plan not active
    "plans.compute_active": ADMIN,  # ... of the active plan (live data)
    "jobs.read": OFFICE,
    "jobs.manage": OFFICE,  # cancel, re-run
    "grids.read": ALL_READERS,  # a worker: their own
    "assignments.edit": ADMIN,
    "people.read": OFFICE,
    "people.edit": ADMIN,  # create, edit workers and party members
    "people.import": ADMIN,  # CSV imports of workers and party members
    "workers.read_own": ALL_READERS,  # one worker and their assignments; a worker: themself
    "workers.off_duty": ADMIN,
    "incidents.report": REPORTERS,
    "incidents.read": INCIDENT_READERS,  # scoped per role, see INCIDENT_READERS
    "incidents.statistics": OFFICE,
    "incidents.escalate": ADMIN,
    "incidents.accept": ADMIN,
    "incidents.reject": ADMIN,
    "incidents.dispatch": ADMIN,
    "incidents.verify": ADMIN,
    "incidents.close": ADMIN,
    "incidents.claim": ADMIN,
    "incidents.refer": ADMIN,  # 转办 to the organisation responsible
    "incidents.org_accept": ORGANISATIONS,  # 承办
    "incidents.org_handle": ORGANISATIONS,  # 办结: back to the community to verify
    "incidents.org_return": ORGANISATIONS,  # 退回, with a reason
    "organisations.read": OFFICE | {"operator", "organisation"},  # an organisation: itself
    "organisations.edit": ADMIN,  # create, import
    "organisations.statistics": OFFICE,
    "maps.organisations": OFFICE | {"organisation"},  # an organisation: its area, its incidents
    "posters.read": OFFICE | {"worker"},  # QR posters; a worker: the buildings of their grids
    "incidents.start": WORKERS,
    "incidents.handle": WORKERS,
    "incidents.return": WORKERS,
    "incidents.note": WORKERS,
    "incidents.feedback": WORKERS,  # a rating on a resident's behalf; a worker: their grids
    "indicators.read": ALL_READERS,  # a worker: their own grids and their own row
    "maps.dashboard": OFFICE,  # the street office's indicators dashboard
    "routes.read": ALL_READERS,  # a worker: their own
    # GPS tracks are personal data (where a person was): a worker their own, office all
    "tracks.upload": WORKERS,  # a worker: to their own routes
    "tracks.read": ALL_READERS,  # a worker: their own; figures per grid and worker too
    "ogc.read": ALL_READERS,  # a worker: their own grids and what lies in them
    "maps.read": ALL_READERS,  # a worker: their own
    "maps.plans": OFFICE,  # coverage, plan comparison, facility coverage
    "facilities.read": ALL_READERS,  # a worker: coverage of the homes in their grids
    "facilities.plan": OFFICE,  # what-if siting, scoring a moved site
    "facilities.edit": ADMIN,  # add, import, delete facilities
    "volunteers.read": ALL_READERS | {"volunteer"},  # phones, homes: admins; a volunteer: self
    "volunteers.edit": ADMIN,  # volunteers and teams: create, edit, import
    "volunteers.edit_own": frozenset({"volunteer"}),  # availability, consent, pause, contact
    "wishes.post": RESIDENT_SIDE,  # a worker: in their grids, with the channel
    "wishes.read": WISH_READERS,  # residents' details: admins and the grid's worker
    "wishes.match": WORKERS,
    "wishes.claim": CLAIMERS,  # admins and workers on a volunteer's behalf
    "wishes.unclaim": CLAIMERS,
    "wishes.done": CLAIMERS,
    "wishes.confirm": RESIDENT_SIDE,  # a reporter or operator with the one-time code
    "wishes.reopen": RESIDENT_SIDE,
    "wishes.cancel": RESIDENT_SIDE,
    "wishes.board": ALL_READERS | {"volunteer"},
    "wishes.statistics": OFFICE,
    "wishes.map": ALL_READERS,  # the office map; /public/wishes needs no token
    "visits.classes_import": ADMIN,  # household visit classes (sensitive)
    "visits.classes_read": ALL_READERS,  # a worker: their grids' (and as leader); planner: counts
    "visits.plan": ADMIN,  # compute visit calendars (live data)
    "visits.read": ALL_READERS,  # a worker: their own calendar; planner: counts per day
    "visits.record": WORKERS,  # record a visit done; a worker: in their grids
    "visits.route": WORKERS,  # a day's visit route, add a visit mid-day; a worker: their own
    "levels.read": ALL_READERS,  # districts, streets, communities
    "levels.edit": ADMIN,
}

# Actions over the whole area: never for a token limited to one street.
WHOLE_AREA = frozenset({"levels.edit", "plans.activate", "plans.compute_active",
                        "incidents.escalate", "datasets.upload", "people.import"})


def _forbidden(principal: Principal, action: str) -> ApiError:
    roles = sorted(PERMISSIONS[action])
    allowed_zh = "、".join(ROLE_ZH[r] for r in roles)
    return ApiError(403, "forbidden",
                    f"权限不足：{ROLE_ZH[principal.role]}不能执行此操作（{action}，需要{allowed_zh}）",
                    f"forbidden: role {principal.role} may not do {action} "
                    f"(needs {', '.join(roles)})")


def check(principal: Principal, action: str) -> Principal:
    """``principal`` when :data:`PERMISSIONS` lets their role do ``action`` (and, for a token
    limited to a street, the action is not one of :data:`WHOLE_AREA`), else 403."""
    if principal.role not in PERMISSIONS[action]:
        raise _forbidden(principal, action)
    if principal.street_id is not None and action in WHOLE_AREA:
        raise ApiError(403, "forbidden",
                       f"街道范围的令牌不能执行全区操作（{action}）",
                       f"a token limited to one street may not do {action}, which spans "
                       "the whole area")
    return principal


class ActionDependency(Protocol):
    """A dependency that gives the caller allowed ``action``, named for tests that list each
    endpoint's action."""

    action: str

    def __call__(self, principal: Principal) -> Principal:
        """The caller, checked against :data:`PERMISSIONS` (403 when not allowed)."""
        ...


def require(action: str) -> ActionDependency:
    """A dependency: the caller, who must be allowed ``action`` (403 otherwise)."""
    if action not in PERMISSIONS:
        raise KeyError(f"no such action in PERMISSIONS: {action}")

    async def dependency(principal: Annotated[Principal, Depends(request_principal)]
                         ) -> Principal:
        return check(principal, action)

    named = cast(ActionDependency, dependency)
    named.action = action
    return named


def forbid_other_worker(principal: Principal, worker_id: int | None) -> None:
    """403 when a worker token asks for another worker's data."""
    if principal.role == "worker" and principal.worker_id != worker_id:
        raise ApiError(403, "forbidden", "网格员只能查看本人负责的数据",
                       "a worker may only see their own data")


Authenticated = Annotated[Principal, Depends(request_principal)]

# An endpoint's caller, who must be allowed the action named (403 otherwise): ``who: PlansRead``.
AssignmentsEdit = Annotated[Principal, Depends(require("assignments.edit"))]
DatasetsRead = Annotated[Principal, Depends(require("datasets.read"))]
DatasetsUpload = Annotated[Principal, Depends(require("datasets.upload"))]
GridsRead = Annotated[Principal, Depends(require("grids.read"))]
FacilitiesEdit = Annotated[Principal, Depends(require("facilities.edit"))]
FacilitiesPlan = Annotated[Principal, Depends(require("facilities.plan"))]
FacilitiesRead = Annotated[Principal, Depends(require("facilities.read"))]
IncidentsEscalate = Annotated[Principal, Depends(require("incidents.escalate"))]
IncidentsRead = Annotated[Principal, Depends(require("incidents.read"))]
IncidentsRefer = Annotated[Principal, Depends(require("incidents.refer"))]
IncidentsReport = Annotated[Principal, Depends(require("incidents.report"))]
IncidentsStatistics = Annotated[Principal, Depends(require("incidents.statistics"))]
IndicatorsRead = Annotated[Principal, Depends(require("indicators.read"))]
OrganisationsEdit = Annotated[Principal, Depends(require("organisations.edit"))]
OrganisationsRead = Annotated[Principal, Depends(require("organisations.read"))]
OrganisationsStatistics = Annotated[Principal, Depends(require("organisations.statistics"))]
JobsManage = Annotated[Principal, Depends(require("jobs.manage"))]
JobsRead = Annotated[Principal, Depends(require("jobs.read"))]
LevelsEdit = Annotated[Principal, Depends(require("levels.edit"))]
LevelsRead = Annotated[Principal, Depends(require("levels.read"))]
MapsOrganisations = Annotated[Principal, Depends(require("maps.organisations"))]
MapsDashboard = Annotated[Principal, Depends(require("maps.dashboard"))]
MapsPlans = Annotated[Principal, Depends(require("maps.plans"))]
MapsRead = Annotated[Principal, Depends(require("maps.read"))]
OgcRead = Annotated[Principal, Depends(require("ogc.read"))]
PeopleEdit = Annotated[Principal, Depends(require("people.edit"))]
PeopleImport = Annotated[Principal, Depends(require("people.import"))]
PeopleRead = Annotated[Principal, Depends(require("people.read"))]
PostersRead = Annotated[Principal, Depends(require("posters.read"))]
PlansActivate = Annotated[Principal, Depends(require("plans.activate"))]
PlansCompute = Annotated[Principal, Depends(require("plans.compute"))]
PlansDraft = Annotated[Principal, Depends(require("plans.draft"))]
PlansEdit = Annotated[Principal, Depends(require("plans.edit"))]
PlansRead = Annotated[Principal, Depends(require("plans.read"))]
RoutesRead = Annotated[Principal, Depends(require("routes.read"))]
TracksRead = Annotated[Principal, Depends(require("tracks.read"))]
TracksUpload = Annotated[Principal, Depends(require("tracks.upload"))]
VolunteersEdit = Annotated[Principal, Depends(require("volunteers.edit"))]
VolunteersEditOwn = Annotated[Principal, Depends(require("volunteers.edit_own"))]
VolunteersRead = Annotated[Principal, Depends(require("volunteers.read"))]
WishesBoard = Annotated[Principal, Depends(require("wishes.board"))]
WishesMap = Annotated[Principal, Depends(require("wishes.map"))]
WishesMatch = Annotated[Principal, Depends(require("wishes.match"))]
WishesPost = Annotated[Principal, Depends(require("wishes.post"))]
WishesRead = Annotated[Principal, Depends(require("wishes.read"))]
WishesStatistics = Annotated[Principal, Depends(require("wishes.statistics"))]
WorkersOffDuty = Annotated[Principal, Depends(require("workers.off_duty"))]
WorkersReadOwn = Annotated[Principal, Depends(require("workers.read_own"))]
VisitsClassesImport = Annotated[Principal, Depends(require("visits.classes_import"))]
VisitsClassesRead = Annotated[Principal, Depends(require("visits.classes_read"))]
VisitsPlan = Annotated[Principal, Depends(require("visits.plan"))]
VisitsRead = Annotated[Principal, Depends(require("visits.read"))]
VisitsRecord = Annotated[Principal, Depends(require("visits.record"))]
VisitsRoute = Annotated[Principal, Depends(require("visits.route"))]
