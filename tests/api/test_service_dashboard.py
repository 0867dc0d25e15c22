"""The indicators dashboard page /maps/dashboard (issue #17 part 3): the choropleth, the
ranked table and the monthly trend charts from the seeded month of the indicators tests;
roles; a headless Chromium check with a screenshot artefact (skipped without Chromium)."""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest

from api.services import dashboard
from maps.dashboard import classes, format_value, trend_svg
from tests.api.test_service_indicators import seed_november


@pytest.fixture(scope="module")
def sv(open_service):
    with open_service("dashboard-data", start_jobs=False) as sv:
        sv["grid"] = seed_november(sv["app"], sv["plan_id"], sv["codes"])
        yield sv


def test_the_data_of_the_dashboard(sv):
    from api.auth import Principal

    admin = Principal(0, "admin", "admin")
    with sv["app"].state.db.read_session() as s:
        areas, figures, trend = dashboard.dashboard_data(s, admin, "on_time_rate", "grid", 3,
                                                         today=date(2026, 11, 20))
    assert trend["periods"] == ["2026-09-01", "2026-10-01", "2026-11-01"]
    # November, the whole street: by hand from the seeded incidents (A, C and D)
    assert trend["counts"]["received"] == [0.0, 1.0, 10.0]
    assert trend["counts"]["closed"][-1] == 5.0 and trend["counts"]["open_overdue"][-1] == 3.0
    assert trend["rates"]["on_time_rate"][-1] == pytest.approx(4 / 8)  # (2+1+1) / (5+3)
    assert trend["rates"]["satisfaction_rate"][-1] == pytest.approx(4 / 7)
    assert trend["rates"]["on_time_rate"][0] is None  # no incidents in September
    values = dict(zip(figures["key"], figures["value"], strict=True))
    grid = sv["grid"]
    assert values[grid["A"]] == pytest.approx(0.4) and values[grid["D"]] == 1.0
    assert set(areas["key"]) == set(sv["codes"])


def test_colours_svg_and_formats():
    assert format_value(0.4, "ratio") == "40.0%" and format_value(None, "ratio") == "—"
    assert format_value(12.345, "hours") == "12.3 h"
    col = classes(pd.Series([0.95, 0.85, 0.5, float("nan")]), "ratio", True)
    assert list(col) == ["#1a9850", "#91cf60", "#d73027", "#cfd8dc"]
    worse = classes(pd.Series([0.05, 0.5]), "ratio", False)
    assert list(worse) == ["#1a9850", "#d73027"]
    svg = trend_svg(["2026-10-01", "2026-11-01"], {"a": [0.5, 1.0], "b": [None, 0.2]},
                    title="趋势", unit="ratio")
    assert svg.startswith("<svg") and svg.count("<polyline") == 1 and "2026-11" in svg
    assert svg.count("<circle") == 3 and "100.0%" in svg


def test_the_page_and_its_roles(sv):
    c, h = sv["client"], sv["h"]
    r = c.get("/maps/dashboard", headers=h["admin"],
              params={"indicator": "satisfaction_rate", "months": 3, "month": "2026-11"})
    assert r.status_code == 200, r.text[:500]
    page = r.text
    assert "工作指标看板" in page and "群众满意率" in page and "<svg" in page
    assert "wg-rank" in page and "/static/maps/" in page and "60.0%" in page  # grid A
    assert not re.search(r"(src|href)=[\"']https?://", page)  # offline: nothing elsewhere
    r = c.get("/maps/dashboard", headers=h["planner"],
              params={"by": "community", "lang": "en", "indicator": "close_h_median"})
    assert r.status_code == 200 and "Indicators dashboard" in r.text
    assert c.get("/maps/dashboard", headers=h["worker"]).status_code == 403
    assert c.get("/maps/dashboard", headers=h["reporter"]).status_code == 403
    r = c.get("/maps/dashboard", headers=h["admin"], params={"indicator": "happiness"})
    assert r.status_code == 422 and "happiness" in r.json()["message"]["en"]


@pytest.fixture(scope="module")
def live(tmp_path_factory, district, map_assets):
    from api.app import create_app
    from api.settings import Settings
    from tests.api.stock import stock_service
    from tests.api.test_service_maps_browser import LoopbackServer
    from tests.maps.test_maps_browser import Chromium, _require_browser

    _require_browser()
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("dashboard-browser"),
                              map_assets_dir=map_assets), start_jobs=False)
    server = LoopbackServer(app)
    try:
        info = stock_service(app, district)
        seed_november(app, info["plan_id"], info["codes"])
        browser = Chromium(server.origin)
        try:
            browser.call("Network.enable")
            browser.call("Network.setExtraHTTPHeaders",
                         headers={"Authorization": info["h"]["admin"]["Authorization"]})
            yield server, browser, info
        finally:
            browser.close()
    finally:
        server.close()


def test_the_dashboard_draws_in_chromium(live):
    from tests.maps.test_maps_browser import ARTIFACTS, COUNTS_JS

    server, browser, info = live
    browser.open(f"{server.origin}/maps/dashboard?months=3&month=2026-11")
    counts = browser.evaluate(COUNTS_JS)
    drawn = browser.evaluate("""(() => ({
      charts: document.querySelectorAll('svg.wg-trend').length,
      lines: document.querySelectorAll('svg.wg-trend polyline').length,
      ranked: document.querySelectorAll('table.wg-rank tbody tr').length,
      coloured: Array.from(document.querySelectorAll('path.leaflet-interactive'))
        .map(p => p.getAttribute('fill')).filter(f => f && f !== '#cfd8dc').length,
    }))()""")
    browser.screenshot(ARTIFACTS / "service-dashboard.png")
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    assert drawn["charts"] == 2 and drawn["lines"] >= 3, drawn
    assert drawn["ranked"] == 3, drawn  # grids A, C and D had November incidents
    assert drawn["coloured"] == 3, drawn
    assert counts["paths"] >= len(info["codes"]), counts
