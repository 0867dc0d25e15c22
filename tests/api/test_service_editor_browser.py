"""The plan editor page (/maps/editor) driven in headless Chromium against the service under
uvicorn, a whole session: select three buildings by click and shift-click and move them to the
neighbouring grid (the figures change), try an illegal move (refused with its reason, the
building outlined), box and lasso selection, lock a grid, re-balance the rest (progress bar),
undo, reload the page (nothing lost), diff against the active plan and export the CSV.
Screenshots in artifacts/. Skips without Chromium unless WANGGE_REQUIRE_BROWSER=1."""

from __future__ import annotations

import time

import httpx
import pytest
import shapely
from sqlalchemy import select

from api.app import create_app
from api.settings import Settings
from api.store import models as m
from partition import edits
from tests.api.stock import stock_service
from tests.api.test_service_maps_browser import LoopbackServer
from tests.maps.test_maps_browser import ARTIFACTS, Chromium, _require_browser

MAP_JS = "Object.values(window).find(v => v instanceof L.Map)"


@pytest.fixture(scope="module")
def session(tmp_path_factory, district, map_assets):
    _require_browser()
    settings = Settings(data_dir=tmp_path_factory.mktemp("editor-browser"),
                        map_assets_dir=map_assets)
    app = create_app(settings, start_jobs=True)
    server = LoopbackServer(app)
    try:
        info = stock_service(app, district)
        r = httpx.post(f"{server.origin}/plans/{info['plan_id']}/draft",
                       headers=info["h"]["planner"], json={"name": "2027 调整草稿"})
        assert r.status_code == 201, r.text
        info["draft"] = r.json()["id"]
        browser = Chromium(server.origin)
        try:
            browser.call("Network.enable")
            browser.call("Network.setExtraHTTPHeaders",
                         headers={"Authorization": info["h"]["planner"]["Authorization"]})
            yield server, browser, info, app
        finally:
            browser.close()
    finally:
        server.close()


def wait_for(browser, expression: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"{expression} stayed false; errors: {browser.errors}")


def open_editor(browser, origin: str, plan: int) -> float:
    browser.errors.clear()
    browser.blocked.clear()
    browser.call("Page.navigate", url=f"{origin}/maps/editor?plan={plan}")
    return float(wait_for(browser, "(() => { const m = document.querySelector('.folium-map');"
                                   " return m && m.dataset.wgEditorReady ?"
                                   " Number(m.dataset.wgEditorReadyMs) : null; })()"))


def pixel(browser, building: str) -> tuple[float, float]:
    """The page position of a building's centre."""
    lon, lat = browser.evaluate(f"wanggeEditor.centre({building!r})")
    return point_pixel(browser, lon, lat)


def point_pixel(browser, lon: float, lat: float) -> tuple[float, float]:
    """The page position of a point (WGS84)."""
    return tuple(browser.evaluate(
        f"(() => {{ const m = {MAP_JS};"
        f" const p = m.latLngToContainerPoint(L.latLng({lat}, {lon}));"
        " const r = m.getContainer().getBoundingClientRect();"
        " return [p.x + r.left, p.y + r.top]; })()"))


def click(browser, x: float, y: float, shift: bool = False) -> None:
    mods = 8 if shift else 0
    for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                     clickCount=1, modifiers=mods)


def drag(browser, points: list[tuple[float, float]]) -> None:
    browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=points[0][0],
                 y=points[0][1])
    browser.call("Input.dispatchMouseEvent", type="mousePressed", x=points[0][0],
                 y=points[0][1], button="left", clickCount=1)
    for x, y in points[1:]:
        time.sleep(0.05)  # a frame apart: Chromium sends one mousemove per frame
        browser.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left")
    browser.call("Input.dispatchMouseEvent", type="mouseReleased", x=points[-1][0],
                 y=points[-1][1], button="left", clickCount=1)


def three_to_move(app, plan_id: int) -> tuple[list[str], str, str]:
    """Three connected buildings of one grid that may move together to a neighbouring grid
    (checked by partition.edits on the service's own state)."""
    cache = app.state.editor_cache
    entry = cache.plans[plan_id]
    ground = next(iter(cache.grounds.values()))
    state, graph = entry.state, ground.ctx.graph
    ctx = ground.ctx
    from dataclasses import replace

    ctx = replace(ctx, target=300)
    for b, src in sorted(state.grid_of.items()):
        if state.kind.get(src) != "residential":
            continue
        for nb in graph[b]:
            dst = state.grid_of.get(nb)
            if dst in (None, src) or state.kind.get(dst) != "residential":
                continue
            chosen = [b]
            for c in graph[b]:
                if state.grid_of.get(c) == src and c not in chosen:
                    chosen.append(c)
                if len(chosen) == 3:
                    break
            if len(chosen) < 3:
                continue
            try:
                edits.move(ctx, state, chosen, dst)
            except edits.EditRuleError:
                continue
            return [str(c) for c in chosen], src, dst
    raise AssertionError("no three buildings to move")


def text(browser, selector: str) -> str:
    return browser.evaluate(f"document.querySelector({selector!r}).textContent")


def test_editor_session_in_chromium(session):
    server, browser, info, app = session
    draft, h = info["draft"], info["h"]
    ready_ms = open_editor(browser, server.origin, draft)
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    api = f"{server.origin}/plans/{draft}/editor"
    st0 = httpx.get(api, headers=h["planner"]).json()
    assert text(browser, ".wg-ver") == f"(版本 {st0['version']})"
    rows = browser.evaluate("document.querySelectorAll('.wg-stats tbody tr').length")
    assert rows == len(st0["grids"])
    # the grids are one canvas path holding every grid
    assert browser.evaluate("wanggeEditor.grids().ids") == sorted(g["code"] for g in st0["grids"])
    browser.screenshot(ARTIFACTS / "editor-1-open.png")

    # select three buildings: click, shift-click, shift-click; move them to the neighbour
    chosen, src, dst = three_to_move(app, draft)
    centre = browser.evaluate(f"wanggeEditor.centre({chosen[0]!r})")
    browser.evaluate(f"(() => {{ {MAP_JS}.setView(L.latLng({centre[1]}, {centre[0]}), 19,"
                     " {animate: false}); return 1; })()")
    for i, b in enumerate(chosen):
        click(browser, *pixel(browser, b), shift=i > 0)
    selected = browser.evaluate("Object.keys(wanggeEditor.state.selected).sort()")
    assert selected == sorted(chosen), (selected, chosen)
    assert text(browser, ".wg-selcount") == "已选 3 栋"
    before = {g["code"]: g for g in st0["grids"]}
    browser.evaluate(f"(() => {{ document.querySelector('.wg-target').value = {dst!r};"
                     " document.querySelector('.wg-move').click(); return 1; })()")
    wait_for(browser, "document.querySelector('.wg-message').dataset.kind === 'ok'")
    st1 = httpx.get(api, headers=h["planner"]).json()
    after = {g["code"]: g for g in st1["grids"]}
    ctx = next(iter(app.state.editor_cache.grounds.values())).ctx
    moved_hh = sum(ctx.households(b) for b in chosen)
    assert after[dst]["households"] == before[dst]["households"] + moved_hh
    row_hh = browser.evaluate(f"document.querySelector('tr[data-code=\"{dst}\"] .wg-hh')"
                              ".textContent")
    assert int(row_hh) == after[dst]["households"]
    assert text(browser, ".wg-ver") == f"(版本 {st1['version']})"
    assert browser.evaluate("document.querySelector('.wg-maxdev').textContent") == \
        f"{st1['summary']['max_deviation_pct']:.1f}%"
    browser.screenshot(ARTIFACTS / "editor-2-moved.png")
    # the grids the move changed are drawn as the service now has them
    polygons = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in
                httpx.get(f"{api}/grids", headers=h["planner"]).json()["features"]}
    for code in (src, dst):
        box = browser.evaluate(f"(() => {{ const g = wanggeEditor.grids();"
                               f" const b = g.bounds(g.index[{code!r}]);"
                               " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];"
                               " })()")
        # (the page's polygons are simplified by 1e-5 degree, the edit's answer is not)
        assert box == pytest.approx(polygons[code].bounds, abs=1.1e-5), code
    browser.evaluate(f"(() => {{ {MAP_JS}.setView(L.latLng({centre[1]}, {centre[0]}), 17,"
                     " {animate: false}); return 1; })()")
    browser.screenshot(ARTIFACTS / "editor-2-moved-z17.png")

    # an illegal move: a building of the source grid far from the target
    state = app.state.editor_cache.plans[draft].state
    graph = next(iter(app.state.editor_cache.grounds.values())).ctx.graph
    far = next(b for b in sorted(state.grid_of) if state.grid_of[b] not in (dst,)
               and state.community[state.grid_of[b]] == state.community[dst]
               and all(state.grid_of.get(n) != dst for n in graph[b])
               and len(state.members[state.grid_of[b]]) > 1)
    far_centre = browser.evaluate(f"wanggeEditor.centre({far!r})")
    browser.evaluate(f"(() => {{ {MAP_JS}.setView(L.latLng({far_centre[1]}, {far_centre[0]}),"
                     " 19, {animate: false}); return 1; })()")
    click(browser, *pixel(browser, far))
    assert browser.evaluate("Object.keys(wanggeEditor.state.selected)") == [far]
    browser.evaluate(f"(() => {{ document.querySelector('.wg-target').value = {dst!r};"
                     " document.querySelector('.wg-move').click(); return 1; })()")
    wait_for(browser, "document.querySelector('.wg-message').dataset.kind === 'error'")
    reason = text(browser, ".wg-message")
    assert "不允许" in reason and ("网格" in reason) and "grid" in reason, reason
    assert browser.evaluate(f"!!wanggeEditor.state.fault[{far!r}]")
    assert httpx.get(api, headers=h["planner"]).json()["version"] == st1["version"]
    browser.screenshot(ARTIFACTS / "editor-3-refused.png")

    # box and lasso selection around the first building
    browser.evaluate(f"(() => {{ {MAP_JS}.setView(L.latLng({centre[1]}, {centre[0]}), 18,"
                     " {animate: false}); return 1; })()")
    x, y = pixel(browser, chosen[0])
    browser.evaluate("document.querySelector('[data-mode=box]').click()")
    drag(browser, [(x - 40, y - 40), (x, y), (x + 40, y + 40)])
    boxed = browser.evaluate("Object.keys(wanggeEditor.state.selected)")
    assert chosen[0] in boxed, boxed
    browser.evaluate("document.querySelector('[data-mode=lasso]').click()")
    drag(browser, [(x - 30, y - 30), (x + 30, y - 30), (x + 30, y + 30), (x - 30, y + 30),
                   (x - 31, y - 29)])
    lassoed = browser.evaluate("Object.keys(wanggeEditor.state.selected)")
    assert chosen[0] in lassoed and set(lassoed) <= set(boxed), (lassoed, boxed)
    browser.evaluate("document.querySelector('[data-mode=click]').click()")
    browser.screenshot(ARTIFACTS / "editor-4-lasso.png")

    # lock a grid that the move did not touch
    keep = next(g["code"] for g in st1["grids"] if g["code"] not in (src, dst))
    browser.evaluate(f"document.querySelector('input.wg-lock[data-code=\"{keep}\"]').click()")
    wait_for(browser, f"document.querySelector('tr[data-code=\"{keep}\"]')"
                      ".classList.contains('wg-locked')")
    st2 = httpx.get(api, headers=h["planner"]).json()
    assert next(g for g in st2["grids"] if g["code"] == keep)["locked"]
    assert browser.evaluate(f"(() => {{ const g = wanggeEditor.grids();"
                            f" return g.styleOf(g.index[{keep!r}]).dash; }})()") == [6, 4]
    # a click on the grid where no building stands picks it in the panel
    with app.state.db.read_session() as s:
        homes = shapely.union_all(list(s.scalars(select(m.PlanBuildingRow.geom).where(
            m.PlanBuildingRow.plan_id == draft))))
    spot = polygons[keep].buffer(-2e-5).difference(homes.buffer(2e-5)).representative_point()
    browser.evaluate(f"(() => {{ {MAP_JS}.setView(L.latLng({spot.y}, {spot.x}), 18,"
                     " {animate: false}); return 1; })()")
    click(browser, *point_pixel(browser, spot.x, spot.y))
    assert browser.evaluate("document.querySelector('.wg-grid').value") == keep
    kept = {b for b, g in st2["buildings"].items() if g == keep}

    # re-balance the rest: a job with a progress bar, then the result as an undoable edit
    browser.evaluate("document.querySelector('.wg-rebalance').click()")
    assert browser.evaluate("!document.querySelector('.wg-progress').hidden")
    wait_for(browser, "document.querySelector('.wg-editor').dataset.rebalanced === '1'",
             timeout=120)
    st3 = httpx.get(api, headers=h["planner"]).json()
    assert {b for b, g in st3["buildings"].items() if g == keep} == kept
    assert text(browser, ".wg-ver") == f"(版本 {st3['version']})"
    browser.screenshot(ARTIFACTS / "editor-5-rebalanced.png")

    # undo (the re-balance if it moved anything, else the lock)
    browser.evaluate("document.querySelector('.wg-undo').click()")
    wait_for(browser, f"wanggeEditor.state.version === {st3['version'] + 1}")
    st4 = httpx.get(api, headers=h["planner"]).json()
    if st3["version"] > st2["version"]:  # the re-balance moved buildings: undone
        assert st4["buildings"] == st2["buildings"]

    # reload: nothing lost
    open_editor(browser, server.origin, draft)
    assert browser.errors == [], browser.errors
    assert browser.evaluate("wanggeEditor.state.version") == st4["version"]
    grid_of = browser.evaluate("wanggeEditor.state.gridOf")
    assert all(grid_of[b] == dst for b in chosen)

    # diff against the active plan, and the CSV for the notice
    browser.evaluate("document.querySelector('.wg-diff').click()")
    moved = int(wait_for(browser, "document.querySelector('.wg-diffout').dataset.moved"))
    assert moved >= 3
    assert "栋建筑" in text(browser, ".wg-diffsum")
    csv_text = browser.evaluate("fetch(document.querySelector('.wg-csv').href)"
                                ".then(r => r.text())")
    lines = csv_text.lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("楼栋 building_id") and len(lines) >= moved + 1
    assert all(any(line.startswith(b + ",") for line in lines) for b in chosen)
    browser.screenshot(ARTIFACTS / "editor-6-diff.png")
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
    print(f"editor page ready in {ready_ms:.0f} ms")


def test_editor_page_roles_and_plans(session):
    server, _browser, info, _app = session
    h = info["h"]
    url = f"{server.origin}/maps/editor?plan={info['draft']}"
    assert httpx.get(url, headers=h["reporter"]).status_code == 403
    assert httpx.get(url).status_code == 401
    r = httpx.get(f"{server.origin}/maps/editor?plan={info['plan_id']}", headers=h["admin"])
    assert r.status_code == 409 and r.json()["code"] == "not_draft"
    r = httpx.get(url + "&lang=en", headers=h["admin"])
    assert r.status_code == 200 and "Plan editor" in r.text


def test_empty_draft_opens_in_chromium(session):
    """A draft without buildings (made in the database) opens an empty editor: no grids in
    the panel, no script error."""
    from tests.api.test_service_editor import empty_draft

    server, browser, info, app = session
    draft = empty_draft(app, info["plan_id"])
    open_editor(browser, server.origin, draft)
    assert browser.evaluate("wanggeEditor.state.order.length") == 0
    assert browser.evaluate("document.querySelectorAll('.wg-stats tbody tr').length") == 0
    assert browser.errors == [] and browser.blocked == [], (browser.errors, browser.blocked)
