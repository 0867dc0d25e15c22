"""Open311 GeoReport v2 under /open311/v2/, so that existing 311 clients can report (JSON).

* ``GET services.json``: one service per incident category (public, as Open311 expects);
* ``POST requests.json``: a report (form fields or JSON: service_code, lat, long, description,
  first_name, last_name, email, phone, ...; the extension ``channel``: how it came, within
  what the caller's role may say, default ``open311``); merged into a duplicate like any
  report;
* ``GET requests.json``: records filtered by service_code, status (open/closed), start_date,
  end_date, service_request_id (comma-separated), each role those it may see;
  ``extensions=true`` adds ``extended_attributes`` (channel, stage, referral);
* ``GET requests/{id}.json``: one record (in a list, as the specification has it);
* ``POST requests/{id}/feedback.json`` (an extension; the standard's fields stay standard):
  the reporter rates the closed request with the ``feedback_code`` the POST answered (no
  api_key), ``rating`` (satisfied, basic, unsatisfied), ``fixed`` (true/false), ``comment``
  (api.services.feedback).

The token goes in ``Authorization: Bearer``, or as ``api_key`` (query or form) which is what
Open311 clients send. The requests are api.services.open311's; positions WGS84.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, check, current_principal, principal_for_secret, token_cache
from api.deps import AppSettings, Grids, IncidentRules, ReadDb, WriteDb, check_limit
from api.errors import ApiError, domain_errors_answer
from api.open311 import open311_services
from api.schemas import (
    FeedbackIn,
    FeedbackOut,
    Open311Created,
    Open311Request,
    Open311Service,
    strip_controls,
)
from api.services import feedback, open311

# Open311 answers 400 to every bad request (its spec), where the rest of the API says 422.
router = APIRouter(prefix="/open311/v2", tags=["open311"],
                   dependencies=[domain_errors_answer(400)])
Lang = Annotated[str, Query(pattern="^(zh|en)$", description="语言 language")]


# The longest text each Open311 field may carry (the limits of POST /incidents where they meet).
FIELD_LIMITS = {"description": 4000, "service_code": 60, "channel": 20, "first_name": 50,
                "last_name": 50, "email": 100, "phone": 40, "device_id": 100, "account_id": 100,
                "address_string": 200, "address_id": 100, "media_url": 500, "api_key": 100,
                "lat": 40, "long": 40, "jurisdiction_id": 100}
FIELD_LIMIT_OTHER = 200


def _bad_field(name: str, zh: str, en: str) -> ApiError:
    return ApiError(400, "bad_field", f"字段 {name[:40]}：{zh}", f"field {name[:40]}: {en}",
                    field=name[:40])


def clean_fields(body: dict) -> dict[str, str]:
    """Every field as text within its limit, control characters other than newline and tab
    taken out (numbers become text; objects, lists and over-long text are refused with 400).
    A JSON null means the field is absent, as Open311 clients commonly send optional fields
    they do not fill (``"api_key": null``): it is skipped."""
    fields = {}
    for name, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _bad_field(name, "应为文字或数字", "must be text or a number")
        text = strip_controls(str(value))
        limit = FIELD_LIMITS.get(name, FIELD_LIMIT_OTHER)
        if len(text) > limit:
            raise _bad_field(name, f"超过 {limit} 个字符", f"longer than {limit} characters")
        fields[name] = text
    return fields


async def _fields(request: Request) -> dict[str, str]:
    """The POST's fields: JSON object or form, checked by :func:`clean_fields`."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "bad_json", "请求体不是有效的 JSON",
                           "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "请求体应为 JSON 对象",
                           "the body must be a JSON object")
        return clean_fields(body)
    return clean_fields(dict(await request.form()))


async def open311_principal(request: Request) -> Principal:
    """The caller: Authorization header, else ``api_key`` from the query or the form."""
    if request.headers.get("authorization"):
        return current_principal(request)
    key = request.query_params.get("api_key")
    if key is None and request.method == "POST":
        key = (await _fields(request)).get("api_key")
    if not key:
        return current_principal(request)  # answers 401
    principal = await run_in_threadpool(principal_for_secret, request.app.state.db, key,
                                        token_cache(request))
    if principal is None:
        raise ApiError(401, "unauthorized", "api_key 无效或已吊销", "invalid or revoked api_key")
    return principal

Caller = Annotated[Principal, Depends(open311_principal)]


@router.get("/services.json", response_model=list[Open311Service],
            summary="Open311 服务列表 service list (one per category)")
def services(rules: IncidentRules, lang: Lang = "zh"):
    return open311_services(rules, lang)


@router.post("/requests.json", status_code=201, response_model=list[Open311Created],
             summary="Open311 上报 post a service request")
async def post_request(request: Request, session: WriteDb, who: Caller, rules: IncidentRules,
                       grids: Grids):
    check(who, "incidents.report")
    return open311.post(session, who, rules, grids, await _fields(request))


@router.get("/requests.json", response_model=list[Open311Request],
            response_model_exclude_none=True,  # extended_attributes only when asked for
            summary="Open311 查询 service requests with filters (extensions=true: channel and "
            "referral in extended_attributes)")
def list_requests(session: ReadDb, who: Caller, rules: IncidentRules, settings: AppSettings,
                  service_code: str | None = None, status: str | None = None,
                  start_date: str | None = None, end_date: str | None = None,
                  service_request_id: str | None = None, lang: Lang = "zh",
                  limit: int = 1000, extensions: bool = False):
    check(who, "incidents.read")
    return open311.list_requests(session, who, rules, check_limit(limit, settings),
                                 service_code=service_code, status=status,
                                 start_date=start_date, end_date=end_date,
                                 service_request_id=service_request_id, lang=lang,
                                 extensions=extensions)


@router.get("/requests/{request_id}.json", response_model=list[Open311Request],
            response_model_exclude_none=True,
            summary="Open311 单条 one service request (extensions=true: channel, referral)")
def get_request(request_id: int, session: ReadDb, who: Caller, rules: IncidentRules,
                lang: Lang = "zh", extensions: bool = False):
    check(who, "incidents.read")
    return open311.get_request(session, who, rules, request_id, lang, extensions)


FALSE_WORDS = frozenset({"false", "0", "no", "否", "未解决"})


@router.post("/requests/{request_id}/feedback.json", status_code=201,
             response_model=FeedbackOut,
             summary="扩展 extension: 群众评价 rate a closed request with its feedback_code")
async def post_feedback(request_id: int, request: Request, session: WriteDb,
                        rules: IncidentRules):
    fields = await _fields(request)
    if not fields.get("feedback_code"):
        raise _bad_field("feedback_code", "缺少评价码", "the feedback code is missing")
    if fields.get("rating") not in ("satisfied", "basic", "unsatisfied"):
        raise _bad_field("rating", "应为 satisfied、basic 或 unsatisfied",
                         "must be satisfied, basic or unsatisfied")
    body = FeedbackIn.model_validate({
        "rating": fields["rating"], "code": fields["feedback_code"],
        "fixed": fields.get("fixed", "true").strip().lower() not in FALSE_WORDS,
        "comment": fields.get("comment", "")[:2000], "channel": "open311"})
    return await run_in_threadpool(feedback.give, session, rules, None, request_id, body)
