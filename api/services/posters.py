"""QR posters (楼栋二维码): a printable poster per building with a QR code that opens a report
form prefilled with that building, and the public form itself, for residents who do not use
the phone app (channel ``qr_poster``, dispatch.channels).

How an anonymous resident reports, safely:

* the QR code holds ``/public/report?b=<building id>&k=<key>``; the key is an HMAC-SHA256 of
  the building id under a secret kept in the data folder (``poster.key``, made on first use,
  readable by the service only), cut to 80 bits: only a printed poster opens the form, a
  guessed building id does not, and reprinting is never needed when the plan changes (the
  building is looked up in the active plan when the form is sent);
* the report's place is the building (a point inside its footprint), never a position the
  sender types, so a report lands in that building's grid; what the sender may type is the
  category, a description (at most 1,000 characters) and optionally a name and a phone;
* each building takes at most :data:`PER_BUILDING` reports an hour and each sender address
  :data:`PER_ADDRESS` (per service process: with N processes up to N times that), and a
  repeat of an open report of the same category within 30 m and 24 h joins it as any report
  does; every report is stored as made by the system's ``qr-poster`` reporter token.

The pages are plain HTML (zh with en), without scripts or anything from another host; the
QR code is drawn by segno as inline SVG.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import io
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from urllib.parse import urlencode

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.auth import Principal, issue_token
from api.errors import ApiError, not_found
from api.services.grid_index import GridLocator
from api.services.incidents import take_report
from api.settings import Settings
from api.store import models as m
from api.store.plans import active_plan_id
from dispatch.incidents.rules import Rules

KEY_FILE = "poster.key"
KEY_HEX = 20  # 80 bits
POSTER_TOKEN = "qr-poster"
PER_BUILDING = 5  # reports an hour through one building's poster
PER_ADDRESS = 20  # reports an hour from one sender address
WINDOW_S = 3600.0
MAX_DESCRIPTION = 1000

_key_lock = threading.Lock()


def poster_secret(settings: Settings) -> bytes:
    """The secret the poster keys are made with: ``data_dir/poster.key``, made once (32
    random bytes, mode 0600); every process of the service reads the same file."""
    path = Path(settings.data_dir) / KEY_FILE
    with _key_lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(secrets.token_bytes(32))
        return path.read_bytes()


def poster_key(settings: Settings, building_id: str) -> str:
    """The key a poster of ``building_id`` carries."""
    digest = hmac.new(poster_secret(settings), building_id.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:KEY_HEX]


def key_matches(settings: Settings, building_id: str, key: str) -> bool:
    """Whether ``key`` is the key of ``building_id`` (compared in constant time)."""
    return hmac.compare_digest(poster_key(settings, building_id), key or "")


class RateLimiter:
    """At most ``limit`` events per key in a sliding ``window`` (seconds), in this process."""

    MAX_KEYS = 100_000

    def __init__(self, limit: int, window: float = WINDOW_S) -> None:
        self.limit, self.window = limit, window
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count an event for ``key`` if it is within the limit; False (not counted) if not."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._events) > self.MAX_KEYS:
                self._events.clear()
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


class PosterLimits:
    """The limits of the public form: per building and per sender address."""

    def __init__(self) -> None:
        self.building = RateLimiter(PER_BUILDING)
        self.address = RateLimiter(PER_ADDRESS)

    def allow(self, building_id: str, address: str) -> bool:
        """Whether one more report may come now from ``address`` for ``building_id``."""
        return self.address.allow(address) and self.building.allow(building_id)


# ---- the building ---------------------------------------------------------------------------

def active_building(session: Session, building_id: str) -> m.PlanBuildingRow | None:
    """The building in the active plan, when it is there and in a grid."""
    plan_id = active_plan_id(session)
    if plan_id is None:
        return None
    return session.scalar(select(m.PlanBuildingRow).where(
        m.PlanBuildingRow.plan_id == plan_id, m.PlanBuildingRow.building_id == building_id,
        m.PlanBuildingRow.grid_code.is_not(None)))


def _own_grid(session: Session, who: Principal, plan_id: int, grid_code: str) -> None:
    """403 for a worker asking for a building outside their grids."""
    if who.role != "worker":
        return
    mine = session.scalar(select(m.GridRow.id).join(
        m.AssignmentRow, m.AssignmentRow.grid_id == m.GridRow.id).where(
        m.GridRow.plan_id == plan_id, m.GridRow.code == grid_code,
        m.AssignmentRow.worker_id == who.worker_id))
    if mine is None:
        raise ApiError(403, "forbidden", "网格员只能打印本人网格内楼栋的二维码",
                       "a worker may print posters of the buildings in their own grids only")


# ---- the printable posters ------------------------------------------------------------------

def report_url(base_url: str, settings: Settings, building_id: str) -> str:
    """The address a building's QR code holds."""
    query = urlencode({"b": building_id, "k": poster_key(settings, building_id)})
    return f"{base_url.rstrip('/')}/public/report?{query}"


def qr_svg(url: str) -> str:
    """``url`` as a QR code (error correction M), inline SVG."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=5, border=4, xmldecl=False,
                                    svgns=True, nl=False)
    return out.getvalue().decode("ascii")


POSTER_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;color:#222}
.poster{width:180mm;margin:10mm auto;text-align:center;page-break-after:always;
border:2px solid #c62828;border-radius:6mm;padding:8mm}
.poster:last-child{page-break-after:auto}
h1{font-size:24pt;margin:0 0 2mm}h2{font-size:15pt;font-weight:normal;margin:0 0 6mm}
.qr svg{width:90mm;height:90mm}.where{font-size:13pt;margin:4mm 0}
.how{font-size:12pt;text-align:left;margin:4mm 10mm}.en{color:#555}
@media print{.poster{border-color:#000}}
"""


def _poster(building: m.PlanBuildingRow, url: str) -> str:
    e = html.escape
    return (f"<section class='poster'><h1>扫码反映问题</h1>"
            f"<h2 class='en'>Scan to report a problem</h2>"
            f"<div class='qr'>{qr_svg(url)}</div>"
            f"<p class='where'>楼栋 Building <b>{e(building.building_id)}</b> · 网格 Grid "
            f"<b>{e(building.grid_code or '')}</b> · 社区 Community "
            f"{e(building.community or '')}</p>"
            "<p class='how'>用手机扫描二维码，选择问题类别并简单描述，无需下载应用或登录；"
            "不方便扫码的居民可请网格员代报或拨打社区热线。<br>"
            "<span class='en'>Scan with a phone camera, pick what is wrong and describe it: "
            "no app, no login. If you cannot scan, ask your grid worker or call the "
            "community hotline.</span></p></section>")


def _page(title: str, body: str, css: str) -> str:
    return (f"<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{css}</style></head>"
            f"<body>{body}</body></html>")


def building_poster(session: Session, settings: Settings, who: Principal, base_url: str,
                    building_id: str) -> str:
    """The printable poster of one building of the active plan (a worker: in their grids)."""
    building = active_building(session, building_id)
    if building is None:
        raise not_found("启用方案中网格内的楼栋", "building in a grid of the active plan",
                        building_id)
    _own_grid(session, who, building.plan_id, building.grid_code or "")
    url = report_url(base_url, settings, building.building_id)
    return _page(f"二维码 QR poster {building.building_id}", _poster(building, url), POSTER_CSS)


def grid_posters(session: Session, settings: Settings, who: Principal, base_url: str,
                 grid_code: str) -> str:
    """The posters of every building with households in a grid of the active plan, one a
    printed page."""
    plan_id = active_plan_id(session)
    if plan_id is None:
        raise ApiError(404, "no_active_plan", "尚无启用的网格方案", "there is no active plan")
    _own_grid(session, who, plan_id, grid_code)
    rows = list(session.scalars(select(m.PlanBuildingRow).where(
        m.PlanBuildingRow.plan_id == plan_id, m.PlanBuildingRow.grid_code == grid_code,
        m.PlanBuildingRow.households > 0).order_by(m.PlanBuildingRow.building_id)))
    if not rows:
        raise not_found("有住户楼栋的网格", "grid with homes", grid_code)
    body = "".join(_poster(b, report_url(base_url, settings, b.building_id)) for b in rows)
    return _page(f"网格 {grid_code} 楼栋二维码 QR posters", body, POSTER_CSS)


# ---- the public form ------------------------------------------------------------------------

FORM_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0 auto;max-width:34em;
padding:1em;font-size:18px;color:#222}
h1{font-size:1.4em}label{display:block;margin:.8em 0 .3em;font-weight:bold}
select,textarea,input{width:100%;font-size:1em;padding:.4em;box-sizing:border-box}
button{margin-top:1em;width:100%;font-size:1.2em;padding:.6em;background:#c62828;color:#fff;
border:0;border-radius:.3em}.en{color:#555;font-weight:normal}.note{color:#555;font-size:.85em}
.error{color:#b71c1c;border:1px solid #b71c1c;padding:.6em}.ok{border:1px solid #2e7d32;
padding:.6em}
"""


class FormError(Exception):
    """A public form answered with a page (status, zh, en) instead of JSON."""

    def __init__(self, status: int, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.zh, self.en = status, zh, en


def message_page(title_zh: str, title_en: str, zh: str, en: str, css_class: str) -> str:
    """A page that says one thing, in Chinese then English."""
    e = html.escape
    body = (f"<h1>{e(title_zh)} <span class='en'>{e(title_en)}</span></h1>"
            f"<div class='{css_class}'><p>{e(zh)}</p><p class='en'>{e(en)}</p></div>")
    return _page(title_en, body, FORM_CSS)


def _checked(session: Session, settings: Settings, building_id: str,
             key: str) -> m.PlanBuildingRow:
    if not building_id or not key_matches(settings, building_id, key):
        raise FormError(404, "二维码无效：请扫描楼栋张贴的二维码，或拨打社区热线。",
                        "this QR code is not valid: scan the poster on the building, or call "
                        "the community hotline.")
    building = active_building(session, building_id)
    if building is None:
        raise FormError(404, "此二维码已过期（楼栋不在当前网格方案中）：请拨打社区热线反映。",
                        "this poster is out of date (the building is not in the current grid "
                        "plan): please call the community hotline.")
    return building


def form_page(session: Session, settings: Settings, rules: Rules, building_id: str,
              key: str) -> str:
    """The report form of a building, prefilled with it (no login)."""
    building = _checked(session, settings, building_id, key)
    e = html.escape
    options = "".join(
        f"<option value='{e(c.category_id)}'>{e(c.name_zh)} {e(c.name_en)}</option>"
        for c in rules.categories.values() if not c.claimed)
    body = (
        "<h1>反映问题 <span class='en'>Report a problem</span></h1>"
        f"<p>楼栋 Building <b>{e(building.building_id)}</b> · 网格 Grid "
        f"{e(building.grid_code or '')} · {e(building.community or '')}</p>"
        "<form method='post' action='/public/report'>"
        f"<input type='hidden' name='b' value='{e(building.building_id)}'>"
        f"<input type='hidden' name='k' value='{e(key)}'>"
        "<label for='category'>问题类别 <span class='en'>What is wrong</span></label>"
        f"<select id='category' name='category' required>{options}</select>"
        "<label for='description'>情况说明 <span class='en'>Describe it</span></label>"
        f"<textarea id='description' name='description' rows='4' maxlength='{MAX_DESCRIPTION}'"
        "></textarea>"
        "<label for='name'>称呼（可不填） <span class='en'>Your name (optional)</span></label>"
        "<input id='name' name='name' maxlength='50'>"
        "<label for='phone'>联系电话（可不填，便于回访） <span class='en'>Phone (optional, for "
        "a call back)</span></label><input id='phone' name='phone' type='tel' maxlength='20'>"
        "<button type='submit'>提交 Send</button></form>"
        "<p class='note'>位置按此楼栋登记；电话只用于回访，不会公开。<br><span class='en'>The "
        "place is this building; a phone number is used only to call you back and is never "
        "shown to others.</span></p>")
    return _page("反映问题 Report a problem", body, FORM_CSS)


def _field(fields: dict[str, str], name: str, limit: int) -> str:
    from api.schemas import strip_controls

    value = strip_controls(fields.get(name) or "").strip()
    if len(value) > limit:
        raise FormError(422, f"“{name}”超过 {limit} 个字符", f"{name} is longer than {limit} "
                        "characters")
    return value


def submit(session: Session, settings: Settings, rules: Rules, grids: GridLocator,
           limits: PosterLimits, fields: dict[str, str], address: str) -> str:
    """Take a report sent from a building's form: checked, within the limits, stored with
    channel ``qr_poster`` at the building; committed. Returns the thank-you page; bad input
    raises :class:`FormError` (nothing written)."""
    building = _checked(session, settings, fields.get("b", ""), fields.get("k", ""))
    category = fields.get("category") or ""
    chosen = rules.categories.get(category)
    if chosen is None or chosen.claimed:
        raise FormError(422, "请从列表中选择问题类别", "choose what is wrong from the list")
    description = _field(fields, "description", MAX_DESCRIPTION)
    name = _field(fields, "name", 50)
    phone = _field(fields, "phone", 20)
    if phone and not all(ch.isdigit() or ch in "+-() " for ch in phone):
        raise FormError(422, "电话只能包含数字和 + - ( )", "a phone number holds digits and + - "
                        "( ) only")
    if not limits.allow(building.building_id, address):
        raise FormError(429, "提交过于频繁，请稍后再试或拨打社区热线。",
                        "too many reports from here just now: try again later or call the "
                        "community hotline.")
    who = poster_principal(session)
    point = building.geom.representative_point()
    text = f"[楼栋 {building.building_id}] {description}".strip()
    row, merged = take_report(session, who, rules, grids, category=category, lon=point.x,
                              lat=point.y, description=text, reporter=name or "居民 resident",
                              phone=phone or None, report_id=f"poster:{building.building_id}",
                              channel="qr_poster")
    session.commit()
    zh = (f"已收到，编号 {row.id}。" + ("同一问题已有人反映，已合并处理。" if merged else "")
          + "社区会尽快处理。")
    en = (f"Received: number {row.id}. " + ("Someone reported the same; it is handled "
                                              "together. " if merged else "")
          + "The community will see to it soon.")
    return message_page("谢谢", "Thank you", zh, en, "ok")


def poster_principal(session: Session) -> Principal:
    """The system's reporter token the posters' reports are made with (made once; its
    secret is never shown, so nobody can use it elsewhere)."""
    row = session.scalar(select(m.TokenRow).where(
        m.TokenRow.name == POSTER_TOKEN, m.TokenRow.role == "reporter",
        m.TokenRow.revoked_at.is_(None)).order_by(m.TokenRow.id).limit(1))
    if row is None:
        row, _ = issue_token(session, "reporter", POSTER_TOKEN)
    return Principal(row.id, "reporter", POSTER_TOKEN)
