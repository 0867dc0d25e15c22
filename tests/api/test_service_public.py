"""The public grid notice (网格公示), without login, on the synthetic district of 200
buildings: what the page, its JSON and the A4 posters show (the grid, the consenting worker's
name and published phone, the consenting party members, the month's figures, the hotline and
the report links), that no field not marked public appears anywhere in them (HTML, JSON,
tooltips, PDF text), that the posters' QR codes decode to the page and the prefilled report
form, the figures counted in SQL by grid and by level, and the page in headless Chromium."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from api.store import models as m

BASE = "https://wangge.example.cn"
HOTLINE = "025-86661234"
PUBLIC_PHONE = "025-83301234"
# Every value below is stored for the grid's people or incidents and marked not public.
PRIVATE = {
    "worker's private phone": "13812345678",
    "worker's employee number": "GZ-0001",
    "worker's notes": "内部备注：夜班",
    "unconsenting leader's name": "李强",
    "unconsenting leader's phone": "13987654321",
    "unconsenting party member": "陈红",
    "unconsenting member's phone": "13511112222",
    "consenting member's phone": "13700001111",
    "consenting member's notes": "党员备注：行动不便",
    "incident description": "楼道堆放杂物影响通行",
    "reporter's name": "赵六",
    "reporter's phone": "13600002222",
    "token secret prefix": "wg_",
}
PRIVATE_KEYS = {"phone", "employee_no", "notes", "worker_id", "reporter_name",
                "reporter_phone", "description", "households", "building_ids", "id",
                "token_id", "member_id", "secret_sha256"}


@pytest.fixture(scope="module")
def pub(open_service, map_assets):
    """A stocked service with a public address and hotline; grid 0 has a consenting worker
    with a published number, an unconsenting leader, a consenting and an unconsenting party
    member, and three incidents this month (two closed, one of them late)."""
    with open_service("public-data", start_jobs=False, map_assets_dir=map_assets,
                      public_base_url=BASE, hotline=HOTLINE) as sv:
        c, h, app = sv["client"], sv["h"], sv["app"]
        code = sv["codes"][0]
        with app.state.db.writing() as s:
            w1 = s.get(m.WorkerRow, h["worker_id"])
            w1.phone, w1.employee_no, w1.notes = "13812345678", "GZ-0001", "内部备注：夜班"
            w1.publish_name, w1.public_phone = True, PUBLIC_PHONE
            w2 = s.get(m.WorkerRow, h["worker2_id"])
            w2.phone = "13987654321"
            grid = s.scalar(select(m.GridRow).where(m.GridRow.plan_id == sv["plan_id"],
                                                    m.GridRow.code == code))
            s.add(m.AssignmentRow(plan_id=sv["plan_id"], grid_id=grid.id,
                                  worker_id=w2.id, role="leader"))
            member = s.scalar(select(m.PartyMemberRow).where(m.PartyMemberRow.name == "陈红"))
            member.phone = "13511112222"
            s.add(m.PartyMemberRow(name="刘洋", phone="13700001111", branch="第一党支部",
                                   grid_code=code, households=25, publish_consent=True,
                                   notes="党员备注：行动不便"))
        p = sv["points"][0]
        ids = []
        for category in ("noise", "parking", "environment"):
            r = c.post("/incidents", headers=h["reporter"],
                       json={"category": category, "lon": p.x, "lat": p.y,
                             "description": "楼道堆放杂物影响通行", "reporter_name": "赵六",
                             "reporter_phone": "13600002222"})
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for iid in ids[1:]:
            for role, action, extra in (("admin", "accept", {}),
                                        ("admin", "dispatch", {"worker_id": h["worker_id"]}),
                                        ("worker", "start", {}), ("worker", "handle", {}),
                                        ("admin", "verify", {}), ("admin", "close", {})):
                r = c.post(f"/incidents/{iid}/actions", headers=h[role],
                           json={"action": action, **extra})
                assert r.status_code == 200, (action, r.text)
        with app.state.db.writing() as s:  # the last one was closed past its deadline
            s.execute(update(m.IncidentRow).where(m.IncidentRow.id == ids[2])
                      .values(close_by=datetime.now(UTC) - timedelta(hours=1)))
        yield {**sv, "code": code, "incidents": ids}


def _no_private(text: str, where: str) -> None:
    for what, value in PRIVATE.items():
        assert value not in text, f"{what} ({value!r}) appears in {where}"


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_notice_json_shows_public_fields_only(pub):
    c, code = pub["client"], pub["code"]
    r = c.get(f"/public/grids/{code}/notice.json")  # no token
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=300"
    notice = r.json()
    assert notice["code"] == code and notice["hotline"] == HOTLINE
    worker, leader = notice["workers"]
    assert (worker["role"], worker["name"], worker["public_phone"]) == \
        ("worker", "王芳", PUBLIC_PHONE)
    assert (leader["role"], leader["name"], leader["public_phone"]) == ("leader", None, None)
    assert notice["party_members"] == [{"name": "刘洋", "branch": "第一党支部"}]
    assert notice["page_url"] == f"{BASE}/public/grids/{code}"
    assert notice["poster_url"] == f"{BASE}/public/grids/{code}/poster.pdf"
    _no_private(r.text, "the notice JSON")
    assert not (_keys(notice) & PRIVATE_KEYS), _keys(notice) & PRIVATE_KEYS


def test_the_month_figures_count_reported_closed_and_on_time(pub):
    c, code = pub["client"], pub["code"]
    figures = c.get(f"/public/grids/{code}/notice.json").json()["indicators"]
    month = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert figures == {"month": month.strftime("%Y-%m"), "reported": 3, "closed": 2,
                       "closed_on_time": 1, "on_time_share": 0.5}
    last = c.get(f"/public/grids/{code}/notice.json", params={"month": "2020-01"}).json()
    assert last["indicators"]["reported"] == last["indicators"]["closed"] == 0
    assert last["indicators"]["on_time_share"] is None
    assert c.get(f"/public/grids/{code}/notice.json",
                 params={"month": "2026-13"}).status_code == 400
    # by grid: the other grids have none; by street: no levels recorded, one group (None)
    table = c.get("/public/indicators", params={"by": "grid"}).json()
    assert [(g["code"], g["reported"]) for g in table["groups"]] == [(code, 3)]
    assert set(table["definitions"]) == {"reported", "closed", "closed_on_time",
                                         "on_time_share"}
    table = c.get("/public/indicators", params={"by": "street"}).json()
    assert [(g["code"], g["reported"], g["closed"]) for g in table["groups"]] == [(None, 3, 2)]
    _no_private(json.dumps(table, ensure_ascii=False), "the figures")


def test_the_figures_by_level_follow_the_levels(pub):
    c, h = pub["client"], pub["h"]
    with pub["app"].state.db.read_session() as s:
        community = s.scalar(select(m.GridRow.community).where(
            m.GridRow.plan_id == pub["plan_id"], m.GridRow.code == pub["code"]))
    text = ("district_code,district_name,street_code,street_name,community_code,"
            f"community_name\n320106,鼓楼区,{community[6:9]},宁海路街道,{community},颐和社区\n")
    r = c.post("/levels/import", headers=h["admin"],
               files={"file": ("l.csv", io.BytesIO(text.encode()), "text/csv")})
    assert r.status_code == 200, r.text
    for by, key, name in (("community", community, "颐和社区"),
                          ("street", community[:9], "宁海路街道"),
                          ("district", "320106", "鼓楼区")):
        groups = c.get("/public/indicators", params={"by": by}).json()["groups"]
        assert [(g["code"], g["name"], g["reported"], g["closed_on_time"]) for g in groups] \
            == [(key, name, 3, 1)], by
    one = c.get("/public/indicators", params={"by": "grid", "level": "street",
                                              "code": community[:9]}).json()
    assert [g["code"] for g in one["groups"]] == [pub["code"]]
    assert c.get("/public/indicators", params={"level": "street",
                                               "code": "320106999"}).status_code == 404
    notice = c.get(f"/public/grids/{pub['code']}/notice.json").json()
    assert (notice["community_name"], notice["street_name"], notice["district_name"]) == \
        ("颐和社区", "宁海路街道", "鼓楼区")


def test_notice_page_is_public_offline_and_holds_no_private_field(pub):
    c, code = pub["client"], pub["code"]
    r = c.get(f"/public/grids/{code}")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    page = r.text
    for shown in (code, "王芳", PUBLIC_PHONE, "刘洋", "第一党支部", HOTLINE,
                  "扫描楼栋的二维码海报", "按期办结率", "50%",
                  "网格员 Grid worker", "网格长 Grid leader", "未公示姓名",
                  f"{BASE}/public/grids/{code}/poster.pdf"):
        assert shown in page, shown
    _no_private(page, "the page")
    # no building's report form key on a public page: only printed posters open the form
    assert "/public/report" not in page
    assert "/static/maps/leaflet/leaflet.js" in page
    assert "https://" not in page.split("<body>")[0]  # nothing from a CDN
    assert c.get("/public/grids/999999999999999").status_code == 404
    assert c.get("/public/grids/999999999999999/notice.json").status_code == 404


def _pdf(content: bytes):
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) \
        == (210, 297)  # A4
    return reader.pages[0]


def _qr_texts(page) -> set[str]:
    import zxingcpp

    texts = set()
    for image in page.images:
        texts |= {b.text for b in zxingcpp.read_barcodes(image.image)}
    return texts


def test_grid_poster_is_an_a4_pdf_with_a_working_qr_code(pub):
    c, code = pub["client"], pub["code"]
    r = c.get(f"/public/grids/{code}/poster.pdf")
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    page = _pdf(r.content)
    text = page.extract_text()
    for shown in ("网格公示", code, "王芳", PUBLIC_PHONE, "刘洋", HOTLINE):
        assert shown in text, (shown, text[:500])
    _no_private(text, "the poster's text")
    assert _qr_texts(page) == {f"{BASE}/public/grids/{code}"}
    assert "/public/report" not in text


def test_building_poster_carries_the_building_report_form_for_the_office_only(pub):
    from api.services.posters import report_url

    c, h, code = pub["client"], pub["h"], pub["code"]
    with pub["app"].state.db.read_session() as s:
        building, other = (s.scalar(select(m.PlanBuildingRow.building_id).where(
            m.PlanBuildingRow.plan_id == pub["plan_id"], m.PlanBuildingRow.grid_code == g))
            for g in (code, pub["codes"][1]))
    path = f"/posters/buildings/{building}/notice.pdf"
    assert c.get(path).status_code == 401  # the form's key is never public
    assert c.get(path, headers=h["reporter"]).status_code == 403
    # worker2 leads grid 0 but serves no part of grid 1
    assert c.get(f"/posters/buildings/{other}/notice.pdf",
                 headers=h["worker2"]).status_code == 403
    for role in ("admin", "planner", "worker2", "worker"):
        r = c.get(path, headers=h[role])
        assert r.status_code == 200, (role, r.text[:300])
    assert r.headers["content-type"] == "application/pdf"
    page = _pdf(r.content)
    text = page.extract_text()
    assert "楼栋公示" in text and building in text and code in text and PUBLIC_PHONE in text
    _no_private(text, "the building poster")
    form = report_url(BASE, pub["settings"], building)
    assert _qr_texts(page) == {f"{BASE}/public/grids/{code}", form}
    # the QR code opens the building's report form (the poster's key accepted)
    opened = c.get(form.removeprefix(BASE))
    assert opened.status_code == 200 and building in opened.text
    assert c.get("/posters/buildings/no-such-building/notice.pdf",
                 headers=h["admin"]).status_code == 404


def test_without_a_cjk_font_the_poster_says_what_to_install(pub, monkeypatch):
    import maps.poster

    monkeypatch.delenv("WANGGE_CJK_FONT", raising=False)
    monkeypatch.setattr(maps.poster, "FONT_CANDIDATES", ())
    monkeypatch.setattr(maps.poster.shutil, "which", lambda _name: None)
    r = pub["client"].get(f"/public/grids/{pub['code']}/poster.pdf")
    assert r.status_code == 503 and r.json()["code"] == "cjk_font_missing"
    assert "fonts-wqy-microhei" in r.json()["message"]["zh"]
    assert "WANGGE_CJK_FONT" in r.json()["message"]["en"]
    monkeypatch.setenv("WANGGE_CJK_FONT", "/no/such/font.ttf")
    with pytest.raises(maps.poster.FontMissingError, match="no font file"):
        maps.poster.find_cjk_font()


def test_public_base_url_falls_back_to_the_request(open_service):
    with open_service("public-plain", start_jobs=False) as sv:
        code = sv["codes"][0]
        notice = sv["client"].get(f"/public/grids/{code}/notice.json").json()
        assert notice["page_url"] == f"http://testserver/public/grids/{code}"
        assert notice["hotline"] is None
        # no consent given: the workers are listed without name or phone
        assert all(w["name"] is None and w["public_phone"] is None for w in notice["workers"])
        assert notice["party_members"] == []


def test_consent_fields_are_set_through_the_api(pub):
    c, h = pub["client"], pub["h"]
    r = c.patch(f"/workers/{h['worker2_id']}", headers=h["admin"],
                json={"publish_name": True, "public_phone": "025-00000000"})
    assert r.status_code == 200 and r.json()["publish_name"] is True
    notice = c.get(f"/public/grids/{pub['code']}/notice.json").json()
    assert notice["workers"][1]["name"] == "李强"
    assert notice["workers"][1]["public_phone"] == "025-00000000"
    r = c.patch(f"/workers/{h['worker2_id']}", headers=h["admin"],
                json={"publish_name": False, "public_phone": None})
    assert r.status_code == 200
    notice = c.get(f"/public/grids/{pub['code']}/notice.json").json()
    assert notice["workers"][1]["name"] is None and notice["workers"][1]["public_phone"] is None
    r = c.post("/party-members/import", headers=h["admin"], files={"file": (
        "m.csv", io.BytesIO("name,grid_code,publish_consent\n周七,"
                            f"{pub['code']},是\n吴八,{pub['code']},\n".encode()),
        "text/csv")})
    assert r.status_code == 200, r.text
    names = [p["name"] for p in
             c.get(f"/public/grids/{pub['code']}/notice.json").json()["party_members"]]
    assert "周七" in names and "吴八" not in names
