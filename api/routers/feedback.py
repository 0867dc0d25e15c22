"""Residents' feedback on closed incidents: POST /incidents/{id}/feedback, with the one-time
code given at reporting (no token) or by a grid worker on a resident's behalf (their token).
The logic is api.services.feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, authenticate
from api.deps import IncidentRules, WriteDb
from api.schemas import FeedbackIn, FeedbackOut
from api.services import feedback

router = APIRouter(tags=["incidents 事件"])


def optional_principal(request: Request) -> Principal | None:
    """The caller when a token is sent (401 for a bad one), else None: a code needs none."""
    if not request.headers.get("authorization"):
        return None
    return authenticate(request)


Caller = Annotated[Principal | None, Depends(optional_principal)]


@router.post("/incidents/{incident_id}/feedback", response_model=FeedbackOut,
             status_code=201,
             summary="群众评价 rate a closed incident: with the one-time code (no token), or a "
             "grid worker on a resident's behalf; 'not fixed' within 7 days reopens it")
def give_feedback(incident_id: int, body: FeedbackIn, session: WriteDb, who: Caller,
                  rules: IncidentRules):
    return feedback.give(session, rules, who, incident_id, body)
