"""The service's map pages in headless Chromium, from a uvicorn server on loopback as
``wangge serve`` runs it: every request to another host blocked, the layers counted, no
JavaScript error, screenshots in artifacts/. Skips without Chromium unless
WANGGE_REQUIRE_BROWSER=1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from api.app import create_app
from api.settings import Settings
from tests.api.stock import stock_service
from tests.maps.test_maps_browser import ARTIFACTS, COUNTS_JS, ZOOM_JS, Chromium, _require_browser


class LoopbackServer:
    """The app under uvicorn in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.origin = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory, district, map_assets):
    _require_browser()
    settings = Settings(data_dir=tmp_path_factory.mktemp("browser-data"),
                        map_assets_dir=map_assets)
    app = create_app(settings, start_jobs=False)
    server = LoopbackServer(app)
    try:
        info = stock_service(app, district)
        import httpx

        for i, point in enumerate(info["points"]):
            r = httpx.post(f"{server.origin}/incidents", headers=info["h"]["reporter"],
                           json={"category": ("noise", "parking")[i], "lon": point.x,
                                 "lat": point.y, "description": f"浏览器 {i}"})
            assert r.status_code == 201, r.text
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


# path -> at least this many of each count (maps' EXPECTED names)
EXPECTED = {
    "/maps/grids": {"paths": 150, "labels": 5},
    "/maps/incidents": {"paths": 10, "markers": 1, "filter": 2},
    "/maps/party-zones": {"paths": 10},
    "/maps/coverage": {"paths": 10},
}


@pytest.mark.parametrize("path", list(EXPECTED))
def test_service_map_page_draws_in_chromium(live, path):
    server, browser, _ = live
    browser.open(server.origin + path)
    if path in ("/maps/grids", "/maps/party-zones"):
        browser.evaluate(ZOOM_JS % 17)  # labels are drawn when zoomed in
    counts = browser.evaluate(COUNTS_JS)
    browser.screenshot(ARTIFACTS / f"service-{path.strip('/').replace('/', '-')}.png")
    assert browser.errors == [], browser.errors
    assert browser.blocked == [], browser.blocked
    for key, least in EXPECTED[path].items():
        assert counts[key] >= least, (key, counts)
    assert counts["scale"] == 1 and counts["fullscreen"] == 1
    assert "© OpenStreetMap contributors, ODbL 1.0" in counts["attribution"]
    assert len(counts["overlays"]) >= 2, counts


def test_route_page_draws_stops(live):
    server, browser, info = live
    browser.open(f"{server.origin}/maps/routes/{info['h']['worker_id']}")
    counts = browser.evaluate(COUNTS_JS)
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    assert counts["stops"] >= 2 and counts["locate"] == 1, counts


def test_streets_are_drawn_and_named_with_no_tiles(live):
    """The offline vector basemap: the streets on a canvas under the layers, their names when
    zoomed in, listed in the layer control, and no request to any other host."""
    server, browser, _ = live
    browser.open(server.origin + "/maps/incidents")
    browser.evaluate(ZOOM_JS % 17)
    drawn = browser.evaluate("""(() => ({
      canvas: document.querySelectorAll('.leaflet-wgBase-pane canvas').length,
      streets: Array.from(document.querySelectorAll('.wg-street')).map(e => e.textContent),
      overlays: Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
        .map(l => l.textContent.trim()),
    }))()""")
    browser.screenshot(ARTIFACTS / "service-basemap-z17.png")
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    assert drawn["canvas"] == 1, drawn
    assert len(drawn["streets"]) >= 3 and all(drawn["streets"]), drawn
    assert any(o.startswith("底图") for o in drawn["overlays"]), drawn
