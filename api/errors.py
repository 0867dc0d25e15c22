r"""Errors the API returns: a code, a Chinese and an English message.

Body: ``{"code": ..., "message": {"zh": ..., "en": ...}, "detail": "<zh>\n<en>"}``
(``detail`` keeps FastAPI clients that read only that field informed).

Domain errors (gis.errors.WanggeError and its subclasses) are answered by one handler, with the
status and code :func:`error_table` gives their class; routers do not catch them. An endpoint
where the same error means something else (a step its stage forbids: 409; Open311, whose spec
answers 400 to every bad request) says so once with :func:`domain_errors_answer`.
"""

from __future__ import annotations

import math
from functools import cache

from fastapi import Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gis.errors import InputError, WanggeError


class ApiError(Exception):
    """An error answered with ``status`` and a bilingual message."""

    def __init__(self, status: int, code: str, zh: str, en: str,
                 headers: dict[str, str] | None = None, **extra) -> None:
        super().__init__(en)
        self.status = status
        self.code = code
        self.zh = zh
        self.en = en
        self.headers = headers
        self.extra = extra

    def body(self) -> dict:
        """The JSON error body: code, the message in both languages and any extra fields."""
        return {"code": self.code, "message": {"zh": self.zh, "en": self.en},
                "detail": f"{self.zh}\n{self.en}", **self.extra}


def _without_folders(text: str, path: str | None) -> str:
    """``text`` with the server's folders taken out: the file named as the user sent it."""
    if path:
        folder = path.rsplit("/", 1)[0] + "/"
        text = text.replace("/vsizip/", "").replace(folder, "")
    return text


@cache
def error_table() -> dict[type[WanggeError], tuple[int, str]]:
    """Each domain error class -> (HTTP status, code); an error takes the entry of the nearest
    class in its MRO. Built on first use: the domain packages take seconds to import, which
    commands that import this module (``wangge token``) need not spend."""
    from dispatch.community.wishes import WishError
    from dispatch.incidents.errors import IncidentError
    from dispatch.staffing.workers import AssignmentError
    from maps.assets import AssetsError
    from maps.poster import FontMissingError
    from partition.plan import PlanError

    return {
        InputError: (422, "bad_input"),
        IncidentError: (422, "bad_incident"),
        WishError: (422, "bad_wish"),
        AssignmentError: (422, "cannot_assign"),
        PlanError: (422, "bad_plan"),
        AssetsError: (503, "map_assets_missing"),
        FontMissingError: (503, "cjk_font_missing"),
        WanggeError: (422, "bad_request"),
    }


def domain_error(exc: WanggeError, status: int | None = None,
                 code: str | None = None) -> ApiError:
    """``exc`` as an answer: the table's status and code unless given. InputError names file
    and feature as the CLI does (the file by its name, never the server's path)."""
    table = error_table()
    default = next(table[c] for c in type(exc).__mro__ if c in table)
    status, code = status or default[0], code or default[1]
    if isinstance(exc, InputError):
        return ApiError(status, code, _without_folders(exc.zh, exc.path),
                        _without_folders(exc.en, exc.path),
                        file=exc.path and exc.path.rsplit("/", 1)[-1], feature=exc.feature)
    return ApiError(status, code, exc.zh, exc.en)


def domain_errors_answer(status: int, code: str | None = None):
    """A route (or router) dependency: domain errors raised while answering it get ``status``
    (and ``code``) instead of the table's."""
    def mark(request: Request) -> None:
        request.state.domain_error_answer = (status, code)

    return Depends(mark)


def not_found(what_zh: str, what_en: str, ident) -> ApiError:
    """404 for ``what`` (in Chinese and English) with id ``ident``."""
    return ApiError(404, "not_found", f"{what_zh} {ident} 不存在", f"{what_en} {ident} not found")


async def api_error_handler(_request: Request, exc: ApiError) -> JSONResponse:
    """Answer an :class:`ApiError` with its status, body and headers."""
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def json_safe(value):
    """``value`` with what JSON cannot carry made text: NaN and infinities, lone surrogates."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


async def validation_error_handler(_request: Request,
                                   exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 for malformed requests, with a bilingual message naming the fields."""
    errors = json_safe(jsonable_encoder(exc.errors()))
    fields = ", ".join(".".join(str(p) for p in e.get("loc", ()) if p != "body")
                       for e in errors[:5])
    body = ApiError(422, "invalid_request", f"请求内容无效，请检查字段：{fields}",
                    f"invalid request, check the fields: {fields}").body()
    body["detail"] = errors  # FastAPI's list, for clients that read it
    return JSONResponse(body, status_code=422)


async def domain_error_handler(request: Request, exc: WanggeError) -> JSONResponse:
    """Any domain error, answered as :func:`error_table` (or the route) says."""
    status, code = getattr(request.state, "domain_error_answer", (None, None))
    return await api_error_handler(request, domain_error(exc, status, code))


async def overflow_error_handler(request: Request, _exc: OverflowError) -> JSONResponse:
    """A number too large for the database (an id or offset beyond 64 bits): 400, not 500."""
    return await api_error_handler(request, ApiError(
        400, "number_too_large", "请求中的数字过大（编号或 offset 超出范围）",
        "a number in the request is too large (an id or offset out of range)"))


async def unicode_error_handler(request: Request, _exc: UnicodeError) -> JSONResponse:
    r"""Text that cannot be stored (a lone surrogate such as \ud800): 400, not 500."""
    return await api_error_handler(request, ApiError(
        400, "bad_text", "请求中的文字含有无效字符（如单独的代理项 \\ud800）",
        "the request holds invalid characters (such as a lone surrogate \\ud800)"))
