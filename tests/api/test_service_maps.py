"""The map pages of the service (/maps/...) on a synthetic district of 200 buildings: every
view for every role (a role x map-view matrix over every HTML page of the app, checked
against api.auth.PERMISSIONS, with a worker's pages holding only their own), a worker reading
another worker's route (403), bad input, and the static map scripts served by the app."""

from __future__ import annotations

import pytest
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.settings import Settings
from tests.api.stock import make_tokens, stock_service


@pytest.fixture(scope="module")
def mapped(open_service, map_assets):
    with open_service("maps-data", start_jobs=False, map_assets_dir=map_assets) as sv:
        client, h = sv["client"], sv["h"]
        for i, (point, category) in enumerate(zip(sv["points"] * 2,
                                                  ("noise", "parking", "environment"),
                                                  strict=False)):
            r = client.post("/incidents", headers=h["reporter"],
                            json={"category": category, "description": f"事件 {i}",
                                  "lon": point.x, "lat": point.y + 0.0005 * i})
            assert r.status_code == 201, r.text
        yield sv


def _views(sv) -> list[tuple[str, set[str]]]:
    """(path, roles allowed) for every map page."""
    p, w = sv["plan_id"], sv["h"]["worker_id"]
    readers = {"admin", "planner", "worker"}
    return [("/maps/grids", readers), ("/maps/party-zones", readers),
            ("/maps/incidents", readers), (f"/maps/routes/{w}", readers),
            ("/maps/coverage", {"admin", "planner"}),
            (f"/maps/compare?old={p}&new={p}", {"admin", "planner"})]


def test_every_map_page_for_every_role(mapped):
    c, h = mapped["client"], mapped["h"]
    for path, allowed in _views(mapped):
        assert c.get(path).status_code == 401, path
        for role in ("admin", "planner", "worker", "reporter"):
            r = c.get(path, headers=h[role])
            if role in allowed:
                assert r.status_code == 200, (path, role, r.text[:300])
                assert r.headers["content-type"].startswith("text/html")
                assert "/static/maps/leaflet/leaflet.js" in r.text
                assert "https://" not in r.text.split("<body>")[0], path  # no CDN in <head>
            else:
                assert r.status_code == 403, (path, role)



URL_ATTR = __import__("re").compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_map_pages_send_security_headers_and_load_only_from_the_service(mapped):
    c, h = mapped["client"], mapped["h"]
    for path, _ in _views(mapped):
        r = c.get(path, headers=h["admin"])
        assert r.status_code == 200, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = dict(d.strip().split(" ", 1) for d in
                   r.headers["content-security-policy"].split(";"))
        assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
        # Folium's inline scripts and styles run; nothing comes from another host
        assert csp["script-src"] == "'self' 'unsafe-inline'", csp
        assert csp["style-src"] == "'self' 'unsafe-inline'", csp
        assert "http" not in r.headers["content-security-policy"]
        for url in URL_ATTR.findall(r.text):  # every file the page loads is allowed
            assert url.startswith(("/static/maps/", "data:", "#")), (path, url)
            if url.startswith("/static/maps/"):
                asset = c.get(url)
                assert asset.status_code == 200 and \
                    asset.headers["x-content-type-options"] == "nosniff", url


def test_worker_sees_only_their_own_route_and_incidents(mapped):
    c, h = mapped["client"], mapped["h"]
    r = c.get(f"/maps/routes/{h['worker2_id']}", headers=h["worker"])
    assert r.status_code == 403 and r.json()["message"]["zh"]
    r = c.get(f"/maps/routes/{h['worker2_id']}", headers=h["admin"])
    assert r.status_code == 404 and r.json()["code"] == "no_route"
    assert c.get("/maps/routes/999999", headers=h["admin"]).status_code == 404
    page = c.get(f"/maps/routes/{h['worker_id']}", headers=h["worker"]).text
    assert "起点 base" in page and "08:10" in page
    everyone = c.get("/maps/incidents", headers=h["admin"]).text
    assert "事件 0" in everyone and "事件 1" in everyone
    mine = c.get("/maps/incidents", headers=h["worker2"]).text
    assert "事件 0" not in mine  # reported in worker 1's grid


def _codes_on(page: str, codes: list[str]) -> set[str]:
    return {code for code in codes if f'"{code}"' in page}


def test_worker_maps_hold_only_their_own_grids_people_and_incidents(mapped):
    """A worker's map pages show what the API gives them: their own grids, the buildings and
    party member zones in them; no other worker's grids or name, no other grid's member."""
    c, h, codes = mapped["client"], mapped["h"], mapped["codes"]
    half = len(codes) // 2
    mine, theirs = set(codes[half:-1]), set(codes[:half])  # worker2's, worker 1's
    grids = c.get("/maps/grids", headers=h["worker2"]).text
    assert _codes_on(grids, codes) == mine
    assert "王芳" not in grids and "李强" in grids  # worker 1 and worker 2
    everyone = c.get("/maps/grids", headers=h["planner"]).text
    assert _codes_on(everyone, codes) == set(codes) and "王芳" in everyone
    zones = c.get("/maps/party-zones", headers=h["worker2"]).text
    assert "陈红" not in zones and not _codes_on(zones, list(theirs))  # a member of grid 0
    assert "陈红" in c.get("/maps/party-zones", headers=h["worker"]).text
    incidents = c.get("/maps/incidents", headers=h["worker2"]).text
    assert "王芳" not in incidents and _codes_on(incidents, codes) <= mine


def test_map_pages_in_english_and_bad_parameters(mapped):
    c, h, p = mapped["client"], mapped["h"], mapped["plan_id"]
    r = c.get("/maps/grids", params={"lang": "en"}, headers=h["planner"])
    assert '<html lang="en">' in r.text and "Grid plan" in r.text
    assert c.get("/maps/grids", params={"lang": "fr"}, headers=h["planner"]).status_code == 422
    r = c.get("/maps/compare", params={"old": p, "new": 999999}, headers=h["planner"])
    assert r.status_code == 404 and "999999" in r.json()["message"]["en"]
    assert c.get("/maps/compare", params={"old": p}, headers=h["planner"]).status_code == 422


def test_map_scripts_served_from_the_assets_folder(mapped):
    c = mapped["client"]
    r = c.get("/static/maps/leaflet/leaflet.js")
    assert r.status_code == 200 and "Leaflet" in r.text[:2000]
    assert c.get("/static/maps/wangge/wangge-maps.js").status_code == 200
    assert c.get("/static/maps/../../etc/passwd").status_code == 404


def test_no_active_plan_and_missing_assets_are_clear(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", map_assets_dir=tmp_path / "none")
    app = create_app(settings, start_jobs=False)
    with TestClient(app) as client:
        h = make_tokens(app)
        r = client.get("/maps/grids", headers=h["admin"])
        assert r.status_code == 503 and "wangge assets install" in r.json()["message"]["en"]
        app.state.map_assets_error = None
        r = client.get("/maps/grids", headers=h["admin"])
        assert r.status_code == 404 and r.json()["code"] == "no_active_plan"


def test_first_map_page_gathers_the_scripts_into_the_data_folder(tmp_path, district):
    """Without a shared folder the service gathers the scripts (PyPI packages, npm) into its
    data folder on the first map page, then serves them."""
    import os

    app = create_app(Settings(data_dir=tmp_path / "data"), start_jobs=False)
    with TestClient(app) as client:
        info = stock_service(app, district)
        assert client.get("/static/maps/leaflet/leaflet.js").status_code == 404
        r = client.get("/maps/grids", headers=info["h"]["planner"])
        if r.status_code == 503 and os.environ.get("WANGGE_REQUIRE_BROWSER") != "1":
            pytest.skip(f"map assets cannot be gathered here: {r.json()['message']['en']}")
        assert r.status_code == 200, r.text
        assert (tmp_path / "data" / "map-assets" / "leaflet" / "leaflet.js").is_file()
        assert client.get("/static/maps/leaflet/leaflet.js").status_code == 200


def test_coverage_page_when_every_home_has_a_grid_and_worker(mapped):
    from api.store.assignments import save_assignments as save

    app, c, h = mapped["app"], mapped["client"], mapped["h"]
    codes = mapped["codes"]
    with app.state.db.writing() as s:
        save(s, mapped["plan_id"], dict.fromkeys(codes, h["worker2_id"]))
    try:
        r = c.get("/maps/coverage", headers=h["planner"])
        assert r.status_code == 200
    finally:
        with app.state.db.writing() as s:
            half = len(codes) // 2
            save(s, mapped["plan_id"], {x: h["worker_id"] if i < half else h["worker2_id"]
                                        for i, x in enumerate(codes[:-1])})


def test_every_map_page_has_the_datasets_basemap_clipped_to_what_it_shows(mapped):
    """The basemap is kept beside the dataset when it is added and drawn under every view;
    a worker's page carries only the streets around their own grids."""
    from api.services.basemap import basemap_path, read_basemap
    from api.store.models import DatasetRow

    c, h, settings = mapped["client"], mapped["h"], mapped["settings"]
    app = mapped["app"]
    with app.state.db.writing() as s:
        dataset = s.get(DatasetRow, mapped["dataset_id"])
        path = basemap_path(settings.data_dir, dataset)
    layers = read_basemap(path)
    assert len(layers["roads"]) > 0 and layers["roads"]["name"].notna().any()
    for view, roles in _views(mapped):
        role = "admin" if "admin" in roles else sorted(roles)[0]
        page = c.get(view, headers=h[role]).text
        assert "wangge.basemap(" in page, view
    whole = c.get("/maps/incidents", headers=h["admin"]).text
    own = c.get("/maps/grids", headers=h["worker"]).text
    assert own.count('"rank"') < whole.count('"rank"')  # fewer streets: clipped


def test_a_dataset_added_before_basemaps_gets_one_on_its_first_map(mapped):
    from api.services.basemap import basemap_path
    from api.store.models import DatasetRow

    c, h, app = mapped["client"], mapped["h"], mapped["app"]
    with app.state.db.writing() as s:
        path = basemap_path(mapped["settings"].data_dir, s.get(DatasetRow, mapped["dataset_id"]))
    path.unlink()
    app.state.basemaps = None  # a new process: nothing in memory either
    page = c.get("/maps/grids", headers=h["planner"]).text
    assert "wangge.basemap(" in page and path.exists()


# ---- every role x every map view (issue 21, item 3) ------------------------------------------

ROLES = ("admin", "planner", "worker", "reporter", "operator", "organisation", "volunteer")


@pytest.fixture(scope="module")
def matrix(mapped):
    """The mapped service with a draft plan, an organisation and the tokens of every role."""
    import shapely

    from api.auth import issue_token
    from api.store import models as m

    r = mapped["client"].post(f"/plans/{mapped['plan_id']}/draft",
                              headers=mapped["h"]["planner"])
    assert r.status_code == 201, r.text
    draft_id = r.json()["id"]
    with mapped["app"].state.db.writing() as s:
        org = m.OrganisationRow(code="M1", name="物业公司", kind="property_company",
                                categories=["noise"], accept="1wd", handle="5wd",
                                category_deadlines={})
        org.set_geometry(shapely.box(-180, -90, 180, 90))
        s.add(org)
        s.flush()
        h = dict(mapped["h"])
        for role in ("operator", "organisation"):
            _, secret = issue_token(s, role, role, organisation_id=org.id)
            h[role] = {"Authorization": f"Bearer {secret}"}
        building = s.scalar(select(m.PlanBuildingRow.building_id).where(
            m.PlanBuildingRow.plan_id == mapped["plan_id"], m.PlanBuildingRow.grid_code ==
            mapped["codes"][0]).limit(1))
    return {**mapped, "h": h, "draft_id": draft_id, "building": building}


def _matrix_views(sv) -> dict[str, tuple[str, str | None]]:
    """Every HTML page of the app: its route -> (a URL of it, the action of
    api.auth.PERMISSIONS it needs; None: public). Worker 1's route, grid and building."""
    p, w, code = sv["plan_id"], sv["h"]["worker_id"], sv["codes"][0]
    return {
        "/maps/grids": ("/maps/grids", "maps.read"),
        "/maps/party-zones": ("/maps/party-zones", "maps.read"),
        "/maps/incidents": ("/maps/incidents", "maps.read"),
        "/maps/routes/{worker_id}": (f"/maps/routes/{w}", "maps.read"),
        "/maps/coverage": ("/maps/coverage", "maps.plans"),
        "/maps/compare": (f"/maps/compare?old={p}&new={p}", "maps.plans"),
        "/maps/facilities": ("/maps/facilities?type=clinic", "maps.plans"),
        "/maps/organisations": ("/maps/organisations", "maps.organisations"),
        "/maps/dashboard": ("/maps/dashboard", "maps.dashboard"),
        "/maps/wishes": ("/maps/wishes", "wishes.map"),
        "/maps/editor": (f"/maps/editor?plan={sv['draft_id']}", "plans.edit"),
        "/posters/grids/{code}": (f"/posters/grids/{code}", "posters.read"),
        "/posters/buildings/{building_id}": (f"/posters/buildings/{sv['building']}",
                                             "posters.read"),
        "/public/wishes": ("/public/wishes", None),
        "/public/grids/{code}": (f"/public/grids/{code}", None),
    }


# Pages whose grid outlines and codes are public (the public wishes map draws the same).
GRIDS_PUBLIC = {"/maps/wishes", "/public/wishes", "/public/grids/{code}"}


def test_every_html_page_is_in_the_role_matrix(matrix):
    from fastapi.routing import APIRoute, iter_route_contexts

    pages = {c.path for c in iter_route_contexts(matrix["app"].routes)
             if isinstance(c.route, APIRoute) and "GET" in c.methods
             and c.route.response_class is HTMLResponse}
    pages -= {"/public/report", "/docs"}  # a form (its poster's key), the API documentation
    assert pages == set(_matrix_views(matrix))


@pytest.mark.parametrize("role", ROLES)
def test_role_by_map_view_matrix(matrix, role):
    """Each role on each page: allowed by api.auth.PERMISSIONS (200, an HTML page with its
    security headers) or 403; a worker's pages name no other worker and (but for the
    public grid outlines) no grid but their own."""
    from api.auth import PERMISSIONS

    c, h, codes = matrix["client"], matrix["h"], matrix["codes"]
    half = len(codes) // 2
    own, others = set(codes[:half]), set(codes[half:])  # worker 1's grids, the rest
    for route, (url, action) in _matrix_views(matrix).items():
        if role == ROLES[0]:  # once: without a token
            assert c.get(url).status_code == (200 if action is None else 401), url
        r = c.get(url, headers=h[role])
        if action is not None and role not in PERMISSIONS[action]:
            assert r.status_code == 403, (role, url, r.status_code, r.text[:200])
            assert r.json()["code"] == "forbidden" and action in r.json()["message"]["en"]
            continue
        assert r.status_code == 200, (role, url, r.status_code, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], url
        if role == "worker" or action is None:
            assert "李强" not in r.text, (role, url)  # worker 2's name
        if role == "worker" and route not in GRIDS_PUBLIC:
            shown = _codes_on(r.text, codes)
            assert shown <= own and not shown & others, (url, sorted(shown & others))
    if role == "worker":  # another worker's route and grid: the page is refused
        for url in (f"/maps/routes/{h['worker2_id']}", f"/posters/grids/{codes[-2]}"):
            assert c.get(url, headers=h[role]).status_code == 403, url
