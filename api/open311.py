"""Open311 GeoReport v2 views of incidents: the service's wire format for them.

Open311 (https://wiki.open311.org/GeoReport_v2) is what existing 311 clients speak: a service
list (one service per category, :func:`open311_services`), a POST of a
request (``service_code``, ``lat``, ``long``, ...) and request records with an ``open`` or
``closed`` status. These functions turn Open311 fields into the arguments of
``dispatch.incidents.lifecycle.merge_report`` and incidents into Open311 records; the service
wraps them in HTTP. Positions are WGS84; times ISO 8601 with the Beijing offset.

Extensions, kept out of the standard fields: a POST may carry ``channel`` (how the report
reached the community, ``dispatch.channels``: a hotline client posts ``phone_call``); with
``extensions=true`` a record carries ``extended_attributes`` (the GeoReport v2 extensions
convention, as Chicago's and other servers do) with the channel and the referral (转办: the
organisation, its status and deadlines). ``agency_responsible`` is standard: the organisation
an incident is referred to, else the worker it is dispatched to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dispatch.channels import CHANNEL_NAMES, CHANNELS
from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import Incident
from dispatch.incidents.rules import Rules


@dataclass(frozen=True)
class Open311Report:
    """A validated Open311 POST: the arguments of ``merge_report``."""

    category: str
    lon: float
    lat: float
    description: str
    reporter: str
    phone: str
    channel: str | None = None


def open311_services(rules: Rules, lang: str = "zh") -> list[dict]:
    """The Open311 GeoReport v2 service list (services.json): one service per category."""
    out = []
    for c in rules.categories.values():
        kind = ("微心愿 wish" if c.claimed
                else "紧急 emergency" if c.emergency else "一般 ordinary")
        out.append({"service_code": c.category_id, "service_name": c.name(lang),
                    "description": f"{c.name_zh} / {c.name_en}", "metadata": False,
                    "type": "realtime", "keywords": c.category_id.replace("_", ","),
                    "group": kind})
    return out


def parse_open311_post(fields: dict, rules: Rules) -> Open311Report:
    """Check the fields of an Open311 POST requests.json.

    Requires ``service_code`` (a category id) and ``lat`` + ``long`` (WGS84); ``address_string``
    alone is not geocoded here. Optional: ``description``, ``first_name``, ``last_name``,
    ``email``, ``phone``, ``device_id``, ``account_id``, and the extension ``channel``
    (``dispatch.channels.CHANNELS``; which ones a caller may give is the service's call).

    Raises:
        IncidentError: missing or bad field, unknown service code or channel (message in zh
            and en).
    """
    code = fields.get("service_code")
    if not code:
        raise IncidentError("缺少 service_code（事件类别）",
                            "service_code (the category) is missing")
    rules.category(str(code))
    if fields.get("lat") in (None, "") or fields.get("long") in (None, ""):
        raise IncidentError("须提供 lat 和 long（WGS84 经纬度）；不支持仅有地址",
                            "lat and long (WGS84) are required; address_string alone is not "
                            "supported")
    try:
        lat, lon = float(fields["lat"]), float(fields["long"])
    except (TypeError, ValueError):
        raise IncidentError(f"lat/long 不是数字：{fields['lat']!r}, {fields['long']!r}",
                            f"lat/long are not numbers: {fields['lat']!r}, {fields['long']!r}"
                            ) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise IncidentError(f"经纬度超出范围：lat {lat}, long {lon}",
                            f"lat/long out of range: lat {lat}, long {lon}")
    name = " ".join(str(fields[k]) for k in ("last_name", "first_name") if fields.get(k))
    reporter = (name or fields.get("email") or fields.get("account_id")
                or fields.get("device_id") or "open311")
    channel = fields.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise IncidentError(f"未知的上报渠道 channel {channel!r}（可用：{', '.join(CHANNELS)}）",
                            f"unknown channel {channel!r} (one of {', '.join(CHANNELS)})")
    return Open311Report(str(code), lon, lat, str(fields.get("description") or ""),
                         str(reporter), str(fields.get("phone") or ""),
                         None if channel is None else str(channel))


def open311_request(incident: Incident, rules: Rules, lang: str = "zh", *,
                    organisation: str | None = None, extensions: bool = False,
                    referral: dict | None = None) -> dict:
    """One incident as an Open311 service request record (GET requests.json / {id}.json).

    Args:
        organisation: the name of the organisation it is referred to now, if any (then the
            ``agency_responsible``).
        extensions: add ``extended_attributes``: ``channel`` with its name, and ``referral``
            (``referral``: the latest referral as the service shows it, or None).
    """
    last = incident.history[-1]
    record: dict[str, object] = {
        "service_request_id": incident.incident_id,
        "status": "open" if incident.is_open else "closed",
        "status_notes": f"{incident.stage_label(lang)}: {last.note}".strip(": "),
        "service_name": rules.category(incident.category).name(lang),
        "service_code": incident.category,
        "description": incident.description,
        "agency_responsible": organisation or incident.assignee or "",
        "service_notice": "",
        "requested_datetime": incident.reported_at.isoformat(),
        "updated_datetime": last.at.isoformat(),
        "expected_datetime": incident.close_by.isoformat(),
        "address": "",
        "lat": incident.lat,
        "long": incident.lon,
    }
    if extensions:
        zh, en = CHANNEL_NAMES.get(incident.channel, (incident.channel, incident.channel))
        record["extended_attributes"] = {
            "channel": incident.channel, "channel_name": en if lang == "en" else zh,
            "stage": incident.stage, "stage_name": incident.stage_label(lang),
            "referral": referral}
    return record


def filter_open311(incidents: Iterable[Incident], *, service_code: str | None = None,
                   status: str | None = None, start_date: datetime | None = None,
                   end_date: datetime | None = None,
                   service_request_ids: Iterable[str] | None = None) -> list[Incident]:
    """The GET requests.json filters: category, open/closed, requested between the dates."""
    if status not in (None, "open", "closed"):
        raise IncidentError(f"status 须为 open 或 closed：{status!r}",
                            f"status must be open or closed: {status!r}")
    ids = set(service_request_ids) if service_request_ids is not None else None
    out = []
    for i in incidents:
        if ids is not None and i.incident_id not in ids:
            continue
        if service_code and i.category != service_code:
            continue
        if status and (i.is_open != (status == "open")):
            continue
        if start_date and i.reported_at < start_date:
            continue
        if end_date and i.reported_at > end_date:
            continue
        out.append(i)
    return out
