"""Errors the API returns: a code, a Chinese and an English message.

Body: ``{"code": ..., "message": {"zh": ..., "en": ...}, "detail": "<zh>\\n<en>"}``
(``detail`` keeps FastAPI clients that read only that field informed).
"""

from __future__ import annotations

import math

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gis.errors import InputError


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
        return {"code": self.code, "message": {"zh": self.zh, "en": self.en},
                "detail": f"{self.zh}\n{self.en}", **self.extra}


def _without_folders(text: str, path: str | None) -> str:
    """``text`` with the server's folders taken out: the file named as the user sent it."""
    if path:
        folder = path.rsplit("/", 1)[0] + "/"
        text = text.replace("/vsizip/", "").replace(folder, "")
    return text


def input_error(exc: InputError) -> ApiError:
    """gis.errors.InputError as a 422 answer, naming file and feature as the CLI does (the
    file by its name, never the server's path)."""
    return ApiError(422, "bad_input", _without_folders(exc.message("zh"), exc.path),
                    _without_folders(exc.message("en"), exc.path),
                    file=exc.path and exc.path.rsplit("/", 1)[-1], feature=exc.feature)


def not_found(what_zh: str, what_en: str, ident) -> ApiError:
    return ApiError(404, "not_found", f"{what_zh} {ident} 不存在", f"{what_en} {ident} not found")


async def api_error_handler(_request: Request, exc: ApiError) -> JSONResponse:
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


async def input_error_handler(_request: Request, exc: InputError) -> JSONResponse:
    return await api_error_handler(_request, input_error(exc))


async def overflow_error_handler(request: Request, _exc: OverflowError) -> JSONResponse:
    """A number too large for the database (an id or offset beyond 64 bits): 400, not 500."""
    return await api_error_handler(request, ApiError(
        400, "number_too_large", "请求中的数字过大（编号或 offset 超出范围）",
        "a number in the request is too large (an id or offset out of range)"))


async def unicode_error_handler(request: Request, _exc: UnicodeError) -> JSONResponse:
    """Text that cannot be stored (a lone surrogate such as \\ud800): 400, not 500."""
    return await api_error_handler(request, ApiError(
        400, "bad_text", "请求中的文字含有无效字符（如单独的代理项 \\ud800）",
        "the request holds invalid characters (such as a lone surrogate \\ud800)"))
