"""The one error of the incident domain: bad rules, a bad report, or a step its stage forbids.

Raised by every module of dispatch.incidents (and by the service's Open311 wire format); the
message is in Chinese and English (gis.errors.WanggeError). Whether it answers 409 (a step not
allowed now) or 422 (bad data) is the service's call, made per endpoint (api.errors).
"""

from __future__ import annotations

from gis.errors import WanggeError


class IncidentError(WanggeError, ValueError):
    """Bad incident rules or configuration, a bad report, or an illegal step."""
