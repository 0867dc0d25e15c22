"""Idempotent creates: a client that retries a POST with the same ``Idempotency-Key`` header
gets the first answer again instead of a second record.

The key row is written in the same transaction as the record, so either both exist or
neither. Keys are per token. Reusing a key for a different request body is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import ApiError
from api.store.models import IdempotencyKeyRow

MAX_KEY_LENGTH = 200


def request_hash(payload) -> str:
    """The sha256 of a request's body (``payload``: its JSON-able fields), as keys store it."""
    data = json.dumps(jsonable_encoder(payload), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def model_hash(model: BaseModel) -> str:
    """:func:`request_hash` of a model's fields (``model.model_dump()``), the model's own
    JSON dump sorted instead of the encoder's walk over it (the same digest: tested)."""
    data = json.dumps(model.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _lookup(session: Session, principal: Principal, key: str) -> IdempotencyKeyRow | None:
    return session.scalar(select(IdempotencyKeyRow).where(
        IdempotencyKeyRow.token_id == principal.token_id, IdempotencyKeyRow.key == key))


def check_same_request(stored_sha256: str, digest: str) -> None:
    """422 when a key is used again for a request of another body (``digest``: its
    :func:`request_hash`)."""
    if stored_sha256 != digest:
        raise ApiError(422, "idempotency_key_reused",
                       "该 Idempotency-Key 已用于另一个不同的请求",
                       "this Idempotency-Key was already used for a different request")


def replayed(response: dict, status_code: int) -> JSONResponse:
    """A stored answer, sent again (with ``Idempotent-Replayed: true``)."""
    return JSONResponse(response, status_code=status_code,
                        headers={"Idempotent-Replayed": "true"})


def _replay(found: IdempotencyKeyRow, digest: str) -> JSONResponse:
    check_same_request(found.request_sha256, digest)
    return replayed(found.response, found.status_code)


@dataclass(frozen=True)
class StoredAnswer:
    """What a key's row holds: the request's sha256 and the answer given."""

    request_sha256: str
    status_code: int
    response: dict


STORED_ANSWERS = (select(IdempotencyKeyRow.token_id, IdempotencyKeyRow.key,
                         IdempotencyKeyRow.request_sha256, IdempotencyKeyRow.status_code,
                         IdempotencyKeyRow.response)
                  .where(IdempotencyKeyRow.token_id.in_(bindparam("tokens", expanding=True)),
                         IdempotencyKeyRow.key.in_(bindparam("keys", expanding=True))))
INSERT_KEYS = insert(IdempotencyKeyRow)


def stored_answers(session: Session, keys: list[tuple[int, str]]
                   ) -> dict[tuple[int, str], StoredAnswer]:
    """The stored answers of (token id, key) pairs, found with one query (the unique index
    on token_id, key)."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = session.connection().execute(STORED_ANSWERS, {
        "tokens": sorted({t for t, _ in wanted}), "keys": sorted({k for _, k in wanted})})
    return {(token, key): StoredAnswer(sha, status, response)
            for token, key, sha, status, response in rows if (token, key) in wanted}


# PostgreSQL: a transaction-scoped lock per key, taken in one order by every process (sorted
# keys): a transaction writing a key another process's transaction is writing waits for it,
# then reads its answer (READ COMMITTED: each statement sees what was committed before it).
LOCK_KEYS = text("SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) "
                 "FROM unnest(CAST(:keys AS text[])) AS k")


def lock_keys(session: Session, keys: list[tuple[int, str]]) -> None:
    """Lock (token id, key) pairs until the transaction ends, in the order given (PostgreSQL;
    a lock shared by two keys whose hashes collide only makes one wait)."""
    if keys:
        session.connection().execute(LOCK_KEYS, {"keys": [f"{t}:{k}" for t, k in keys]})


def key_values(principal: Principal, key: str, method: str, path: str, digest: str,
               status_code: int, response: dict) -> dict:
    """The row of a new key (for :data:`INSERT_KEYS`)."""
    return {"token_id": principal.token_id, "key": key, "method": method, "path": path,
            "request_sha256": digest, "status_code": status_code, "response": response,
            "created_at": datetime.now(UTC)}


def check_key(key: str | None) -> None:
    """400 for an Idempotency-Key that is empty or longer than :data:`MAX_KEY_LENGTH`."""
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ApiError(400, "bad_idempotency_key",
                       f"Idempotency-Key 长度应为 1 到 {MAX_KEY_LENGTH} 个字符",
                       f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")


def known_answer(session: Session, principal: Principal, key: str | None,
                 payload) -> JSONResponse | None:
    """The stored answer to ``key`` (replayed), or None when the key is new; read before the
    write transaction so that a retry costs no write lock."""
    check_key(key)
    if key is None or (found := _lookup(session, principal, key)) is None:
        return None
    return _replay(found, request_hash(payload))


def idempotent_create(session: Session, principal: Principal, key: str | None, method: str,
                      path: str, payload, create: Callable[[Session], object],
                      status_code: int = 201, *, looked_up: bool = False) -> JSONResponse:
    """Run ``create`` (which adds and flushes a record and returns its response model) and
    commit, once per ``key``; a repeated key returns the stored response. ``looked_up``: the
    caller has found no answer for ``key`` with :func:`known_answer` (a concurrent request
    with the same key then meets the unique constraint, answered as above)."""
    answer = idempotent_write(session, principal, key, method, path, payload, create,
                              status_code, looked_up=looked_up)
    session.commit()
    return answer


def idempotent_write(session: Session, principal: Principal, key: str | None, method: str,
                     path: str, payload, create: Callable[[Session], object],
                     status_code: int = 201, *, looked_up: bool = False) -> JSONResponse:
    """:func:`idempotent_create` without the commit: the record and its key row are written
    in a savepoint, rolled back together when the key turns out to be taken (by a concurrent
    request, or an earlier one in the same batch of writes, api.store.batch)."""
    check_key(key)
    digest = request_hash(payload)
    if key is not None and not looked_up and (found := _lookup(session, principal, key)) \
            is not None:
        return _replay(found, digest)
    try:
        with session.begin_nested():
            body = jsonable_encoder(create(session))
            if key is not None:
                session.add(IdempotencyKeyRow(
                    token_id=principal.token_id, key=key, method=method, path=path,
                    request_sha256=digest, status_code=status_code, response=body))
            session.flush()  # the key's unique constraint, before anything is answered
    except IntegrityError:
        # The same key written by a concurrent request: answer as it did.
        found = _lookup(session, principal, key) if key is not None else None
        if found is None:
            raise
        return _replay(found, digest)
    return JSONResponse(body, status_code=status_code)
