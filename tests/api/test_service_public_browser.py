"""The public grid notice in headless Chromium, opened without any token from a uvicorn
server on loopback: the grid drawn on the offline basemap, the notice's text, the tooltip of
the grid, and none of the fields not marked public anywhere in the page (its text, its HTML
with the map's data, the notice JSON it links to). Every request to another host blocked; a
screenshot in artifacts/. Skips without Chromium unless WANGGE_REQUIRE_BROWSER=1."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from api.app import create_app
from api.settings import Settings
from api.store import models as m
from tests.api.stock import stock_service
from tests.api.test_service_maps_browser import LoopbackServer
from tests.maps.test_maps_browser import ARTIFACTS, Chromium, _require_browser

PUBLIC_PHONE = "025-83301234"
PRIVATE = {"13812345678": "worker's private phone", "GZ-0001": "employee number",
           "夜班备注": "worker's notes", "李强": "unconsenting worker's name",
           "13987654321": "unconsenting worker's phone", "陈红": "unconsenting party member",
           "13511112222": "party member's phone", "楼道堆放杂物": "incident description",
           "赵六": "reporter's name", "13600002222": "reporter's phone",
           "wg_": "token secret"}


@pytest.fixture(scope="module")
def public_live(tmp_path_factory, district, map_assets):
    _require_browser()
    settings = Settings(data_dir=tmp_path_factory.mktemp("public-browser"),
                        map_assets_dir=map_assets, hotline="025-86661234")
    app = create_app(settings, start_jobs=False)
    server = LoopbackServer(app)
    try:
        info = stock_service(app, district)
        h, code = info["h"], info["codes"][0]
        with app.state.db.writing() as s:
            w1 = s.get(m.WorkerRow, h["worker_id"])
            w1.phone, w1.employee_no, w1.notes = "13812345678", "GZ-0001", "夜班备注"
            w1.publish_name, w1.public_phone = True, PUBLIC_PHONE
            w2 = s.get(m.WorkerRow, h["worker2_id"])
            w2.phone = "13987654321"
            grid = s.scalar(select(m.GridRow).where(m.GridRow.plan_id == info["plan_id"],
                                                    m.GridRow.code == code))
            s.add(m.AssignmentRow(plan_id=info["plan_id"], grid_id=grid.id,
                                  worker_id=w2.id, role="leader"))
            s.scalar(select(m.PartyMemberRow)).phone = "13511112222"
            s.add(m.PartyMemberRow(name="刘洋", branch="第一党支部", grid_code=code,
                                   publish_consent=True, phone="13700001111"))
        import httpx

        p = info["points"][0]
        r = httpx.post(f"{server.origin}/incidents", headers=h["reporter"],
                       json={"category": "noise", "lon": p.x, "lat": p.y,
                             "description": "楼道堆放杂物", "reporter_name": "赵六",
                             "reporter_phone": "13600002222"})
        assert r.status_code == 201, r.text
        browser = Chromium(server.origin, width=420, height=860)  # a phone held upright
        try:
            yield server, browser, code
        finally:
            browser.close()
    finally:
        server.close()


def test_public_page_in_chromium_shows_the_notice_and_nothing_private(public_live):
    server, browser, code = public_live
    browser.open(f"{server.origin}/public/grids/{code}")
    seen = browser.evaluate("""(async () => {
      const notice = document.getElementById('wg-notice');
      const paths = document.querySelectorAll('.leaflet-overlay-pane path').length;
      const grid = Array.from(document.querySelectorAll('.leaflet-overlay-pane path'))
        .find(p => p.getAttribute('stroke') === '#c62828');
      let tooltip = '';
      if (grid) {
        grid.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
        grid.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: 200,
                                                        clientY: 200}));
        await new Promise(r => setTimeout(r, 200));
        tooltip = Array.from(document.querySelectorAll('.leaflet-tooltip'))
          .map(t => t.textContent).join(' | ');
      }
      const json = await (await fetch(location.pathname + '/notice.json')).text();
      return {text: notice ? notice.innerText : '', html: document.documentElement.outerHTML,
              body: document.body.innerText, paths, tooltip, json,
              canvas: document.querySelectorAll('.leaflet-wgBase-pane canvas').length,
              noticeTop: notice ? notice.getBoundingClientRect().top : -1,
              noticeHeight: notice ? notice.getBoundingClientRect().height : 0};
    })()""")
    browser.screenshot(ARTIFACTS / "public-grid-notice.png")
    assert browser.errors == [], browser.errors
    assert browser.blocked == [], browser.blocked
    for shown in (code, "王芳", PUBLIC_PHONE, "刘洋", "第一党支部", "025-86661234",
                  "网格员 Grid worker", "网格长 Grid leader", "未公示姓名", "上报事件 Reported: 1",
                  "扫描楼栋的二维码海报"):
        assert shown in seen["text"], (shown, seen["text"][:800])
    assert seen["paths"] >= 1 and seen["canvas"] == 1, seen  # the grid over the basemap
    # the notice is on the first screen, beside the map
    assert 0 <= seen["noticeTop"] < 860 and seen["noticeHeight"] > 200, seen["noticeTop"]
    assert code in seen["tooltip"], seen["tooltip"]
    assert json.loads(seen["json"])["code"] == code
    for where in ("text", "body", "html", "tooltip", "json"):
        for value, what in PRIVATE.items():
            assert value not in seen[where], f"{what} ({value!r}) in the page's {where}"
