"""The maps in a real headless Chromium, driven over the DevTools protocol.

A small HTTP server on loopback serves each view at /maps/<view> and the assets at
/static/maps/ (as the service will). Chromium blocks every request to another host; the test
checks the layers are drawn (SVG paths, markers), that there was no JavaScript error and no
request elsewhere, and saves a screenshot per view in artifacts/. Skips when Chromium is
missing unless WANGGE_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from maps import page_html
from tests.maps.test_maps import VIEWS, build_view

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]


def _require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: apt-get install chromium"
    if os.environ.get("WANGGE_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " (WANGGE_REQUIRE_BROWSER=1)")
    pytest.skip(message)


class MapServer:
    """Serves pages from a dict (path -> HTML) and /static/maps/ from the assets folder."""

    def __init__(self, assets: Path):
        self.pages: dict[str, str] = {}
        pages, root = self.pages, assets

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                if path in pages:
                    body, kind = pages[path].encode(), "text/html; charset=utf-8"
                elif path.startswith("/static/maps/"):
                    file = (root / path.removeprefix("/static/maps/")).resolve()
                    if not file.is_file() or root.resolve() not in file.parents:
                        self.send_error(404)
                        return
                    body = file.read_bytes()
                    kind = {".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                            ".svg": "image/svg+xml"}.get(file.suffix, "application/octet-stream")
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Chromium:
    """Headless Chromium with one page, driven over the DevTools protocol (websocket)."""

    def __init__(self, allowed_origin: str, width: int = 1280, height: int = 900):
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="wangge-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10))
        self.allowed = allowed_origin
        self.next_id = 0
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        # Every request passes through Fetch: the service's own go on, the rest are refused.
        self.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def _handle(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Fetch.requestPaused":
            url = params["request"]["url"]
            if url.startswith(self.allowed + "/") or url.startswith("data:"):
                self._send("Fetch.continueRequest", requestId=params["requestId"])
            else:
                self.blocked.append(url)
                self._send("Fetch.failRequest", requestId=params["requestId"],
                           errorReason="BlockedByClient")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            exception = details.get("exception", {})
            self.errors.append(f"{details.get('text', '')} "
                               f"{exception.get('description') or exception.get('value', '')} "
                               f"at {details.get('url', '')}:{details.get('lineNumber')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                        for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
        elif method:
            self.events.append(message)

    def _send(self, method: str, **params) -> int:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def call(self, method: str, timeout: float = 30, **params) -> dict:
        """Send a command and return its result, handling the events that arrive meanwhile."""
        wanted = self._send(method, **params)
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._handle(message)

    def evaluate(self, expression: str, timeout: float = 30):
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 30) -> float:
        """Navigate and wait until the map is drawn and painted; return the milliseconds from
        navigation start to the map's script finishing (all layers added). Errors and blocked
        requests are gathered afresh for each page."""
        self.errors.clear()
        self.blocked.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self.evaluate(
                "(() => { const m = document.querySelector('.folium-map');"
                " return m && m.dataset.wgReady ? Number(m.dataset.wgReadyMs) : null; })()")
            if ready is not None:
                # two animation frames: the layers have been painted
                self.evaluate("new Promise(r => requestAnimationFrame("
                              "() => requestAnimationFrame(() => r(1))))")
                return float(ready)
            time.sleep(0.05)
        raise TimeoutError(f"map at {url} not ready after {timeout} s; errors: {self.errors}")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if getattr(self, "stack", None) is not None:
                self.stack.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


ZOOM_JS = ("(() => { const m = Object.values(window).find(v => v instanceof L.Map);"
           " m.setZoom(%d, {animate: false}); return 1; })()")
COUNTS_JS = """(() => {
  const q = s => document.querySelectorAll(s).length;
  const map = Object.values(window).find(v => v instanceof L.Map);
  return {
    zoom: map.getZoom(),
    paths: q('.leaflet-overlay-pane svg path'),
    markers: q('.leaflet-marker-pane .leaflet-marker-icon'),
    incidents: q('.wg-incident'), clusters: q('.marker-cluster'),
    stops: q('.wg-stop'), arrows: q('.wg-arrow'), labels: q('.wg-label'),
    heat: q('canvas.leaflet-heatmap-layer'),
    canvas: q('.leaflet-overlay-pane canvas:not(.leaflet-heatmap-layer)'),
    overlays: Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
      .map(l => l.textContent.trim()),
    legend: (document.querySelector('.wg-legend') || {}).textContent || '',
    attribution: (document.querySelector('.leaflet-control-attribution') || {}).textContent,
    scale: q('.leaflet-control-scale'), fullscreen: q('.leaflet-control-zoom-fullscreen'),
    locate: q('.leaflet-control-locate'), filter: q('.wg-filter input'),
  };
})()"""


@pytest.fixture(scope="module")
def served(map_assets):
    """The server with every view (Chinese, and the grid plan in English) and Chromium."""
    _require_browser()
    server = MapServer(map_assets)
    for view in VIEWS:
        server.pages[f"/maps/{view}"] = page_html(build_view(view))
    server.pages["/maps/grids-en"] = page_html(build_view("grids", lang="en"))
    browser = Chromium(server.origin)
    yield server, browser
    browser.close()
    server.close()


# view -> what must be drawn: at least this many SVG paths, markers of each kind
EXPECTED = {
    "grids": {"paths": 400, "labels": 5},
    "party-zones": {"paths": 10, "labels": 5},
    "incidents": {"paths": 5, "markers": 5},
    "route": {"paths": 3, "stops": 5, "arrows": 3, "locate": 1},
    "coverage": {"paths": 10, "markers": 1, "heat": 1},
    "compare": {"paths": 400},
}


@pytest.mark.parametrize("view", VIEWS)
def test_view_draws_in_chromium(served, view):
    server, browser = served
    browser.open(f"{server.origin}/maps/{view}")
    if view in ("grids", "party-zones"):  # labels are drawn when zoomed in
        browser.evaluate(ZOOM_JS % 17)
    counts = browser.evaluate(COUNTS_JS)
    browser.screenshot(ARTIFACTS / f"map-{view}.png")
    assert browser.errors == [], browser.errors
    assert browser.blocked == [], browser.blocked
    for key, least in EXPECTED[view].items():
        assert counts[key] >= least, (key, counts)
    assert counts["scale"] == 1 and counts["fullscreen"] == 1
    assert "© OpenStreetMap contributors, ODbL 1.0" in counts["attribution"]
    assert counts["legend"] and len(counts["overlays"]) >= 2, counts
    if view == "incidents":
        assert counts["filter"] >= 5 and counts["incidents"] + counts["clusters"] > 0


def test_incident_category_filter(served):
    server, browser = served
    browser.open(f"{server.origin}/maps/incidents")
    browser.evaluate(ZOOM_JS % 19)
    visible = browser.evaluate("document.querySelectorAll('.wg-incident').length")
    browser.evaluate("(() => { document.querySelectorAll('.wg-filter input').forEach(b => {"
                     " b.checked = false; b.dispatchEvent(new Event('change')); }); return 1;"
                     "})()")
    hidden = browser.evaluate("document.querySelectorAll('.wg-incident').length"
                              " + document.querySelectorAll('.marker-cluster').length")
    assert visible > 0 and hidden == 0
    assert browser.errors == [], browser.errors


def test_english_page_and_phone_view(served):
    server, browser = served
    browser.open(f"{server.origin}/maps/grids-en")
    counts = browser.evaluate(COUNTS_JS)
    assert "Grid plan" in counts["legend"] and "Buildings" in counts["overlays"]
    assert browser.evaluate("document.documentElement.lang") == "en"
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                 deviceScaleFactor=2, mobile=True)
    try:
        browser.open(f"{server.origin}/maps/route")
        browser.screenshot(ARTIFACTS / "map-route-phone.png")
        counts = browser.evaluate(COUNTS_JS)
        assert counts["stops"] >= 5 and counts["locate"] == 1
    finally:
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)
    assert browser.errors == [], browser.errors


def test_real_osm_grid_plan(served, demo_area, demo_plan):
    """The grid plan of real OpenStreetMap data (the demo extract) with its streets, barriers
    and communities."""
    from gis.export import study_area_layers
    from maps import grid_plan_map

    server, browser = served
    area, plan = demo_area, demo_plan
    layers = study_area_layers(area)
    server.pages["/maps/demo"] = page_html(grid_plan_map(
        plan.grids, plan.buildings, communities=layers["communities"],
        barriers=layers["barriers"], streets=layers["streets"]))
    browser.open(f"{server.origin}/maps/demo")
    counts = browser.evaluate(COUNTS_JS)
    browser.screenshot(ARTIFACTS / "map-grids-demo.png")
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    # grids and street lines as SVG; the 2,000+ buildings on a canvas
    assert counts["paths"] >= len(plan.grids) + len(layers["streets"]) * 0.9, counts
    assert counts["canvas"] == 1


def test_standalone_file_opens_from_disk(served, tmp_path):
    """``wangge map``'s file, opened from disk: drawn, with no request beyond the file's own
    folder."""
    from maps import save_standalone

    _server, browser = served
    out = save_standalone(build_view("incidents"), tmp_path / "incidents.html")
    browser.allowed = out.parent.as_uri()
    try:
        browser.open(out.as_uri())
        counts = browser.evaluate(COUNTS_JS)
    finally:
        browser.allowed = _server.origin
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    assert counts["paths"] > 0 and counts["filter"] > 0 and counts["fullscreen"] == 1


def test_a_request_to_another_host_is_blocked_and_seen(served):
    """The guard itself: a page that asks another host is caught, so a silent pass means no
    such request was made."""
    server, browser = served
    server.pages["/probe"] = ('<html><head><link rel="icon" href="data:,"></head><body><img src="https://tile.openstreetmap.org/0/0/0.png">'
                              '<div class="folium-map" data-wg-ready="1" data-wg-ready-ms="1">'
                              "</div></body></html>")
    browser.open(f"{server.origin}/probe")
    time.sleep(0.3)
    browser.evaluate("1")
    assert any("openstreetmap.org" in url for url in browser.blocked), browser.blocked


@functools.lru_cache(maxsize=1)
def _big_plan():
    """A synthetic 10,000-building district partitioned into about 1,000 grids, cached."""
    from gis.study_area import load_study_area
    from partition.plan import make_plan
    from partition.plan_io import read_plan, write_plan
    from tests.synthetic import write_district_osm

    cache = Path(tempfile.gettempdir()) / "wangge-maps-10k"
    cache.mkdir(exist_ok=True)
    plan_path = cache / "plan.gpkg"
    if not plan_path.exists():
        osm = cache / "district.osm"
        write_district_osm(osm, 10_000, seed=1)
        area = load_study_area(osm, with_walk_graph=False)
        write_plan(make_plan(area, target=450), plan_path)
    return read_plan(plan_path)


@pytest.mark.slow
def test_10k_buildings_1k_grids_render_fast_and_light(served):
    from maps import MapOptions, grid_plan_map

    server, browser = served
    grids, buildings = _big_plan()
    assert len(buildings) == 10_000 and 900 <= len(grids) <= 1100, len(grids)
    start = time.perf_counter()
    html = page_html(grid_plan_map(grids, buildings, options=MapOptions()))
    build_s = time.perf_counter() - start
    server.pages["/maps/big"] = html
    times = []
    for _ in range(3):
        start = time.perf_counter()
        script_ms = browser.open(f"{server.origin}/maps/big")
        times.append((script_ms, (time.perf_counter() - start) * 1000))
    counts = browser.evaluate(COUNTS_JS)
    browser.screenshot(ARTIFACTS / "map-grids-10k.png")
    size_mb = len(html.encode()) / 1e6
    print(f"\n10k map: {len(grids)} grids, {len(buildings)} buildings; HTML {size_mb:.2f} MB; "
          f"built in {build_s:.2f} s; browser (script done ms, wall ms incl. paint): {times}; "
          f"SVG paths {counts['paths']}, canvases {counts['canvas']}")
    assert browser.errors == [], browser.errors
    assert counts["paths"] >= len(grids)  # grids as SVG, the 10,000 buildings on a canvas
    assert counts["canvas"] == 1
    assert size_mb <= 5.0
    assert min(wall for _, wall in times) <= 2000
