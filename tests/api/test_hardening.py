"""Hardening found by an outside probe (issue 21): bodies, zips, scoping, roles, limits and
errors. A small service without a plan for the request-level checks; the ``service`` fixture
of tests/api/conftest.py (with a plan and two workers) for what needs grids."""

from __future__ import annotations

import anyio
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.stock import make_tokens

UPLOAD_LIMIT = 1_000_000
BODY_LIMIT = 64 * 1024
CHUNK = 64 * 1024
MULTIPART = "multipart/form-data; boundary=xyz"
MULTIPART_HEAD = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.osm"\r\n'
                  b"Content-Type: text/xml\r\n\r\n")


@pytest.fixture(scope="module")
def bare(open_service):
    """A service without a plan, with small limits."""
    with open_service("bare", start_jobs=False, stocked=False, max_upload_bytes=UPLOAD_LIMIT,
                      max_body_bytes=BODY_LIMIT, max_page_size=500) as sv:
        yield {**sv, "h": make_tokens(sv["app"])}


def asgi_post(app, path: str, headers: dict[str, str], total: int,
              content_type: str) -> tuple[int, int, bytes]:
    """POST ``total`` bytes to the ASGI app in chunks without Content-Length (as a chunked
    request arrives); returns the status, the body bytes the app read and the answer."""
    state = {"read": 0, "status": 0, "body": b""}
    head = (MULTIPART_HEAD if content_type == MULTIPART
            else b'{"name": "x", "description": "')

    async def receive():
        if state["read"] >= total:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = head if state["read"] == 0 else b"a" * min(CHUNK, total - state["read"])
        state["read"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
        elif message["type"] == "http.response.body":
            state["body"] += message.get("body", b"")

    raw = [(k.lower().encode(), v.encode()) for k, v in
           {**headers, "content-type": content_type, "transfer-encoding": "chunked"}.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "headers": raw,
             "client": ("127.0.0.1", 1), "server": ("testserver", 80)}
    anyio.run(app, scope, receive, send)
    return state["status"], state["read"], state["body"]




# ---- 1. authenticate before reading; count bytes whatever the headers say --------------------

@pytest.mark.parametrize("path,content_type", [("/datasets", MULTIPART),
                                               ("/workers/import", MULTIPART),
                                               ("/incidents", "application/json")])
def test_write_without_token_is_refused_before_its_body_is_read(bare, path, content_type):
    for headers in ({}, {"authorization": "Bearer wg_forged"}):
        status, read, body = asgi_post(bare["app"], path, headers, 20 * UPLOAD_LIMIT,
                                       content_type)
        assert status == 401, (path, body)
        assert read == 0, f"{path}: {read} body bytes read before the 401"


@pytest.mark.parametrize("path,content_type,limit", [
    ("/datasets", MULTIPART, UPLOAD_LIMIT), ("/workers/import", MULTIPART, UPLOAD_LIMIT),
    ("/incidents", "application/json", BODY_LIMIT), ("/workers", "application/json", BODY_LIMIT),
    ("/open311/v2/requests.json", "application/json", BODY_LIMIT)])
def test_chunked_body_stops_at_its_limit(bare, path, content_type, limit):
    token = bare["h"]["admin"]["Authorization"]
    status, read, body = asgi_post(bare["app"], path, {"authorization": token},
                                   20 * UPLOAD_LIMIT, content_type)
    assert status == 413, (path, status, body[:300])
    assert read <= limit + 2 * CHUNK, f"{path}: read {read} bytes, limit {limit}"
    assert b"upload_too_large" in body or b"body_too_large" in body


def test_chunked_json_over_the_limit_through_http(bare):
    c, h = bare["client"], bare["h"]

    def chunks():
        yield b'{"category": "noise", "lon": 118.78, "lat": 32.04, "description": "'
        for _ in range(2 * BODY_LIMIT // CHUNK + 1):
            yield b"a" * CHUNK
        yield b'"}'

    r = c.post("/incidents", headers=h["reporter"], content=chunks())
    assert r.status_code == 413, r.text
    body = r.json()
    assert body["code"] == "body_too_large" and "KB" in body["message"]["zh"]
    r = c.post("/incidents", headers={"Content-Length": str(10 * BODY_LIMIT), **h["reporter"]},
               content=b"{}")
    assert r.status_code == 413


# ---- 2. zip bombs: checked before unpacking, streamed to disk -------------------------------

def _shapefile(folder, encoding: str = "utf-8"):
    import geopandas as gpd
    import shapely

    frame = gpd.GeoDataFrame(
        {"bid": ["a", "b"], "name": ["幸福小区1栋", "和平里2号楼"], "households": [40, 60]},
        geometry=[shapely.box(118.780, 32.040, 118.7803, 32.0403),
                  shapely.box(118.781, 32.040, 118.7813, 32.0403)], crs="EPSG:4326")
    frame.to_file(folder / "b.shp", encoding=encoding)
    return folder / "b.shp"


def _zip(shp, archive, dbf_zeros: int = 0):
    """Zip a Shapefile; with ``dbf_zeros``, its .dbf is replaced by that many zero bytes,
    streamed so that the test itself never holds them."""
    import zipfile

    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for ext in ("shp", "shx", "prj", "dbf", "cpg"):
            part = shp.with_suffix(f".{ext}")
            if ext == "dbf" and dbf_zeros:
                with z.open("b.dbf", "w", force_zip64=True) as out:
                    for _ in range(dbf_zeros // CHUNK):
                        out.write(b"\0" * CHUNK)
            elif part.exists():
                z.write(part, f"b.{ext}")
    return archive


def test_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path):
    import tracemalloc

    from gis.errors import InputError
    from gis.vector_files import read_vector

    archive = _zip(_shapefile(tmp_path), tmp_path / "bomb.zip", dbf_zeros=64 * 1024 * 1024)
    assert archive.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(InputError) as err:
            read_vector(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{peak / 1e6:.0f} MB allocated for a refused zip"
    assert err.value.feature == "b.dbf"
    assert "zip bomb" in err.value.message("en") and "压缩炸弹" in err.value.message("zh")
    assert "What to do" in err.value.message("en") and "处理办法" in err.value.message("zh")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".unzip")] == []


def test_zip_over_the_total_unpacked_size_is_refused(tmp_path, monkeypatch):
    import zipfile

    import gis.vector_files as vf
    from gis.errors import InputError

    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w") as z:  # stored, so the ratio is 1
        z.writestr("b.shp", b"x" * 300_000)
        z.writestr("b.dbf", b"x" * 300_000)
    monkeypatch.setattr(vf, "ZIP_MAX_TOTAL_BYTES", 500_000)
    with pytest.raises(InputError) as err:
        vf.read_vector(archive)
    assert "unpacks to more than" in err.value.message("en")
    assert "解压后超过" in err.value.message("zh")


def test_zipped_shapefile_still_reads_and_leaves_nothing_behind(tmp_path):
    from gis.vector_files import read_vector

    gdf = read_vector(_zip(_shapefile(tmp_path), tmp_path / "ok.zip"))
    assert sorted(gdf["name"]) == sorted(["幸福小区1栋", "和平里2号楼"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".unzip")] == []


def test_zip_bomb_upload_is_a_clear_422(bare, tmp_path):
    archive = _zip(_shapefile(tmp_path), tmp_path / "bomb.zip", dbf_zeros=64 * 1024 * 1024)
    with open(archive, "rb") as f:
        r = bare["client"].post("/datasets", headers=bare["h"]["planner"],
                                files={"file": ("bomb.zip", f, "application/zip")})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "bad_input" and body["file"] == "bomb.zip"
    assert "压缩炸弹" in body["message"]["zh"] and "zip bomb" in body["message"]["en"]


# ---- 6. a GBK table whose .cpg says UTF-8 -----------------------------------------------------

@pytest.mark.parametrize("zipped", [False, True])
def test_gbk_shapefile_mislabelled_utf8_is_read_as_gbk(tmp_path, zipped):
    from gis.vector_files import read_vector

    shp = _shapefile(tmp_path, encoding="gbk")
    shp.with_suffix(".cpg").write_text("UTF-8", encoding="ascii")
    gdf = read_vector(_zip(shp, tmp_path / "gbk.zip") if zipped else shp)
    assert sorted(gdf["name"]) == sorted(["幸福小区1栋", "和平里2号楼"])


# ---- 4. one role x action table, every cell tested against the real endpoints ---------------

# admin last: its changes come after
ROLES = ("worker", "reporter", "operator", "organisation", "planner", "volunteer", "admin")
WISH_ACTIONS = ("claim", "unclaim", "done", "confirm", "reopen", "cancel")
INCIDENT_ACTIONS = ("accept", "reject", "dispatch", "verify", "close", "claim", "start",
                    "handle", "return", "note", "refer", "org_accept", "org_handle",
                    "org_return")


def inside(sv, k: int) -> tuple[float, float]:
    """A point inside the k-th grid of the service's active plan (grids are far more than
    30 m apart, so reports there never merge)."""
    import shapely.geometry

    point = shapely.geometry.shape(sv["grids"][k % len(sv["grids"])]["geometry"])
    point = point.representative_point()
    return point.x, point.y


@pytest.fixture(scope="module")
def table_service(service):
    """The service with a draft plan, an organisation over the whole area and one incident per
    action, dispatched to worker 1 (the organisation's actions: referred to it)."""
    import shapely.geometry

    from api.auth import issue_token
    from api.store import models as m

    sv, c, h = service, service["client"], service["h"]
    with sv["app"].state.db.writing() as s:
        draft = m.PlanRow(dataset_id=sv["dataset"]["id"], name="draft", status="draft",
                       target_households=300)
        s.add(draft)
        org = m.OrganisationRow(code="T1", name="物业", kind="property_company",
                                categories=["noise"], accept="1wd", handle="5wd",
                                category_deadlines={})
        org.set_geometry(shapely.box(*shapely.union_all(
            [shapely.geometry.shape(g["geometry"]) for g in sv["grids"]]).bounds))
        s.add(org)
        s.flush()
        draft_id, org_id = draft.id, org.id
        for role in ("operator", "organisation"):
            _, secret = issue_token(s, role, role, organisation_id=org.id)
            h[role] = {"Authorization": f"Bearer {secret}"}
    incidents = {}
    for i, action in enumerate(INCIDENT_ACTIONS):
        lon, lat = inside(sv, i)
        r = c.post("/incidents", headers=h["reporter"],
                   json={"category": "noise", "lon": lon, "lat": lat})
        assert r.status_code == 201, r.text
        iid = r.json()["id"]
        assert c.post(f"/incidents/{iid}/actions", headers=h["admin"],
                      json={"action": "accept"}).status_code == 200
        step = ({"action": "refer", "organisation_id": org_id} if action.startswith("org_")
                else {"action": "dispatch", "worker_id": h["worker_id"]})
        r = c.post(f"/incidents/{iid}/actions", headers=h["admin"], json=step)
        assert r.status_code == 200, r.text
        incidents[action] = iid
    return {**sv, "draft_id": draft_id, "incidents": incidents}


def _request(sv, action: str) -> tuple[str, str, dict]:
    """A real request that needs ``action`` (harmless when allowed: mostly 404/409/422)."""
    p, d, w, h = sv["plan_id"], sv["draft_id"], sv["h"]["worker_id"], sv["h"]
    if action.startswith("incidents.") and action.split(".")[1] in INCIDENT_ACTIONS:
        name = action.split(".")[1]
        body = {"action": name, "note": "测试", "claimant": "党员", "worker_id": w}
        return "post", f"/incidents/{sv['incidents'][name]}/actions", {"json": body}
    if action.startswith("wishes.") and action.split(".")[1] in WISH_ACTIONS:
        return "post", "/wishes/999999/actions", {"json": {"action": action.split(".")[1]}}
    return {
        "datasets.read": ("get", "/datasets", {}),
        "datasets.upload": ("post", "/datasets",
                            {"files": {"file": ("x.txt", b"x", "text/plain")}}),
        "plans.read": ("get", f"/plans/{p}", {}),
        "plans.draft": ("post", "/plans", {"json": {"dataset_id": 999999}}),
        "plans.activate": ("post", f"/plans/{p}/activate", {}),
        "plans.edit": ("get", f"/plans/{d}/editor/edits", {}),
        "plans.compute": ("post", f"/plans/{d}/assignments/compute",
                          {"json": {"seconds": -1}}),
        "plans.compute_active": ("post", f"/plans/{p}/party-zones/compute", {}),
        "jobs.read": ("get", "/jobs", {}),
        "jobs.manage": ("post", f"/jobs/{sv['job']['id']}/rerun", {}),
        "grids.read": ("get", "/grids", {}),
        "assignments.edit": ("put", f"/plans/{p}/grids/{sv['codes'][0]}/assignment",
                             {"json": {"worker_id": w}}),
        "people.read": ("get", "/workers", {}),
        "people.edit": ("patch", f"/workers/{h['worker2_id']}", {"json": {"phone": "138"}}),
        "people.import": ("post", "/party-members/import",
                          {"files": {"file": ("m.csv", b"name\n", "text/csv")}}),
        "levels.read": ("get", "/levels", {}),
        "levels.edit": ("post", "/districts", {"json": {"code": "990000", "name": "x"}}),
        "workers.read_own": ("get", f"/workers/{w}", {}),
        "workers.off_duty": ("post", "/workers/999999/off-duty", {}),
        "incidents.report": ("post", "/incidents", {"json": {"category": "noise",
                                                             "lon": inside(sv, 20)[0],
                                                             "lat": inside(sv, 20)[1]}}),
        "incidents.read": ("get", "/incidents", {}),
        "incidents.statistics": ("get", "/incidents/statistics", {}),
        "incidents.escalate": ("post", "/incidents/escalate", {}),
        "organisations.read": ("get", "/organisations", {}),
        "organisations.edit": ("post", "/organisations", {"json": {"code": ""}}),
        "organisations.statistics": ("get", "/organisations/statistics", {}),
        "indicators.read": ("get", "/indicators", {}),
        "maps.dashboard": ("get", "/maps/dashboard", {}),
        "maps.organisations": ("get", "/maps/organisations", {}),
        "posters.read": ("get", "/posters/buildings/none", {}),
        "incidents.feedback": ("post", "/incidents/999999/feedback",
                               {"json": {"rating": "basic"}}),
        "routes.read": ("get", "/routes", {}),
        "tracks.upload": ("post", "/routes/999999/tracks",
                          {"files": {"file": ("t.gpx", b"<gpx/>", "application/gpx+xml")}}),
        "tracks.read": ("get", "/tracks", {}),
        "ogc.read": ("get", "/ogc/collections/grids/items", {}),
        "maps.read": ("get", "/maps/incidents", {}),
        "maps.plans": ("get", "/maps/compare", {"params": {"old": 999999, "new": 999999}}),
        "facilities.read": ("get", "/facilities", {}),
        "facilities.plan": ("post", "/facilities/siting", {"json": {}}),
        "facilities.edit": ("delete", "/facilities/999999", {}),
        "volunteers.read": ("get", "/volunteers", {}),
        "volunteers.edit": ("patch", "/volunteers/999999", {"json": {"phone": "1"}}),
        "volunteers.edit_own": ("patch", "/volunteers/me", {"json": {"active": True}}),
        "wishes.post": ("post", "/wishes", {"json": {"category": "no such category",
                                                     "lon": inside(sv, 21)[0],
                                                     "lat": inside(sv, 21)[1]}}),
        "wishes.read": ("get", "/wishes", {}),
        "wishes.match": ("get", "/wishes/999999/matches", {}),
        "wishes.board": ("get", "/wishes/board", {}),
        "wishes.statistics": ("get", "/wishes/statistics", {}),
        "wishes.map": ("get", "/maps/wishes", {}),
        "visits.classes_import": ("post", f"/plans/{p}/visit-classes/import",
                                  {"files": {"file": ("x.csv", b"building_id\n", "text/csv")}}),
        "visits.classes_read": ("get", "/visit-classes", {}),
        "visits.plan": ("post", "/visit-calendar/compute", {"json": {"weeks": 0}}),
        "visits.read": ("get", "/visit-calendar", {"params": {"worker_id": w}}),
        "visits.record": ("post", "/visits/done", {"json": {"building_id": "nowhere"}}),
        "visits.route": ("get", "/visit-calendar/route", {"params": {"worker_id": w}}),
    }[action]


def _cells() -> list[tuple[str, str]]:
    from api.auth import PERMISSIONS

    return [(action, role) for action in PERMISSIONS for role in ROLES]


@pytest.mark.parametrize("action,role", _cells())
def test_role_action_table_cell(table_service, action, role):
    from api.auth import PERMISSIONS

    method, path, kwargs = _request(table_service, action)
    r = getattr(table_service["client"], method)(path, headers=table_service["h"][role],
                                                 **kwargs)
    if role in PERMISSIONS[action]:
        assert r.status_code not in (401, 403), (action, role, r.status_code, r.text[:300])
    else:
        assert r.status_code == 403, (action, role, r.status_code, r.text[:300])
        assert r.json()["code"] == "forbidden" and "权限" in r.json()["message"]["zh"]


def test_planner_changes_no_live_data():
    from api.auth import PERMISSIONS

    live = {a for a in PERMISSIONS if a.startswith(("incidents.", "workers.", "people.edit",
                                                     "people.import", "assignments.",
                                                     "plans.activate",
                                                     "plans.compute_active"))}
    live -= {"incidents.read", "incidents.statistics", "workers.read_own"}
    assert live and not any("planner" in PERMISSIONS[a] for a in live)


# Endpoints that check the table in their body (the action depends on the data) or are public.
NO_ACTION_DEPENDENCY = {
    ("POST", "/incidents/{incident_id}/actions"), ("GET", "/open311/v2/services.json"),
    # a resident's rating with the one-time code of their report needs no token
    ("POST", "/incidents/{incident_id}/feedback"),
    ("POST", "/open311/v2/requests/{request_id}/feedback.json"),
    ("POST", "/open311/v2/requests.json"), ("GET", "/open311/v2/requests.json"),
    ("GET", "/open311/v2/requests/{request_id}.json"), ("GET", "/ogc"), ("GET", "/ogc/"),
    ("GET", "/ogc/conformance"), ("GET", "/ogc/collections"),
    ("GET", "/ogc/collections/{collection_id}"),
    ("POST", "/wishes/{wish_id}/actions"),
    ("GET", "/public/wishes"),  # the public map of open wishes: no personal data
    # the QR posters' report form and its reports: the poster's key, not a token
    ("GET", "/public/report"), ("POST", "/public/report"),
    ("GET", "/docs"),  # the API documentation page: public, holds no data
    # the public notices (api.services.public): public fields only, no login
    ("GET", "/public/grids/{code}"), ("GET", "/public/grids/{code}/notice.json"),
    ("GET", "/public/grids/{code}/poster.pdf"), ("GET", "/public/indicators")}


def _actions(dependant) -> set[str]:
    found = {getattr(d.call, "action", None) for d in dependant.dependencies} - {None}
    for d in dependant.dependencies:
        found |= _actions(d)
    return found


def test_every_endpoint_names_its_action_in_the_table(bare):
    from fastapi.routing import APIRoute, iter_route_contexts

    from api.auth import PERMISSIONS

    used, bare_routes = set(), set()
    for context in iter_route_contexts(bare["app"].routes):
        if not isinstance(context.route, APIRoute):
            continue
        actions = _actions(context.route.dependant)
        assert actions <= set(PERMISSIONS)
        used |= actions
        if not actions:
            bare_routes |= {(m, context.path) for m in context.methods}
    assert len(used) > 20
    assert bare_routes == NO_ACTION_DEPENDENCY
    in_body = ({f"incidents.{a}" for a in INCIDENT_ACTIONS} | {"plans.compute_active"}
               | {f"wishes.{a}" for a in WISH_ACTIONS} | {"incidents.feedback"})
    assert used | in_body == set(PERMISSIONS)


# ---- 5. Open311 keeps the limits of POST /incidents and echoes nothing unchecked -------------

OPEN311 = "/open311/v2/requests.json"
REPORT311 = {"service_code": "noise", "lat": "32.04", "long": "118.78"}


@pytest.mark.parametrize("field,value", [
    ("description", "长" * 4001), ("device_id", "d" * 1_001), ("first_name", "x" * 51),
    ("account_id", {"nested": "object"}), ("email", ["a@b.c"]), ("phone", True),
    ("unknown_field", "y" * 201)])
def test_open311_field_limits(bare, field, value):
    c, h = bare["client"], bare["h"]
    r = c.post(OPEN311, headers=h["reporter"], json={**REPORT311, field: value})
    assert r.status_code == 400, (field, r.text[:200])
    assert r.json()["code"] == "bad_field" and field in r.json()["message"]["en"]
    if field == "description":  # the same text as a form field
        r = c.post(OPEN311, headers=h["reporter"], data={**REPORT311, field: value})
        assert r.status_code == 400


def test_open311_json_null_means_absent(bare):
    """Optional fields sent as JSON null are skipped, not refused (clients send them so)."""
    c, h = bare["client"], bare["h"]
    nulls = {"api_key": None, "email": None, "phone": None, "first_name": None,
             "device_id": None, "account_id": None, "media_url": None}
    r = c.post(OPEN311, headers=h["reporter"],
               json={**REPORT311, **nulls, "description": "空字段 null fields"})
    assert r.status_code == 201, r.text
    assert r.json()[0]["account_id"] is None
    incident = c.get(f"/incidents/{r.json()[0]['service_request_id']}",
                     headers=h["admin"]).json()
    assert incident["description"] == "空字段 null fields"
    # the token in the body, the other optional fields null; no Authorization header
    secret = h["reporter"]["Authorization"].split()[1]
    r = c.post(OPEN311, json={**REPORT311, **nulls, "api_key": secret, "lat": "32.041"})
    assert r.status_code == 201, r.text
    # null api_key and no header: unauthenticated, not a bad field
    r = c.post(OPEN311, json={**REPORT311, "api_key": None})
    assert r.status_code == 401, r.text
    # a null required field is a missing one
    r = c.post(OPEN311, headers=h["reporter"], json={**REPORT311, "lat": None})
    assert r.status_code == 400 and r.json()["code"] != "bad_field", r.text


def test_open311_echoes_only_checked_text_and_refuses_non_json(bare):
    c, h = bare["client"], bare["h"]
    r = c.post(OPEN311, headers=h["reporter"],
               json={**REPORT311, "lat": 32.05, "account_id": 12345, "description": "噪音"})
    assert r.status_code == 201, r.text
    assert r.json()[0]["account_id"] == "12345"
    r = c.post(OPEN311, headers={"Content-Type": "application/json", **h["reporter"]},
               content=b"{not json")
    assert r.status_code == 400 and r.json()["code"] == "bad_json"


# ---- 6. 4xx, never 500 -----------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"category": "noise", "lon": NaN, "lat": 32.04}',
    b'{"category": "noise", "lon": Infinity, "lat": 32.04}',
    b'{"category": "noise", "lon": 1e999, "lat": 32.04}',
    b'{"category": "noise", "lon": 118.78, "lat": 32.04, "description": "\\ud800"}',
    b'{"category": "\\ud800", "lon": 118.78, "lat": 32.04}'])
def test_bad_numbers_and_text_are_4xx(bare, raw):
    r = bare["client"].post("/incidents", content=raw, headers={
        "Content-Type": "application/json", **bare["h"]["reporter"]})
    assert 400 <= r.status_code < 500, (raw, r.status_code, r.text[:200])
    assert r.json()["message"]["zh"] and r.json()["message"]["en"]


@pytest.mark.parametrize("path", ["/incidents?offset=9223372036854775808",
                                  "/ogc/collections/incidents/items?offset=9223372036854775808",
                                  "/plans/99999999999999999999999",
                                  "/incidents/99999999999999999999999"])
def test_huge_numbers_are_4xx(bare, path):
    r = bare["client"].get(path, headers=bare["h"]["admin"])
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text[:200])


def _feature_collection(ring: str) -> bytes:
    """A GeoJSON file of one good building and, second, one whose outer ring is ``ring``
    (raw JSON: NaN and Infinity as some tools write them)."""
    good = "[[118.780,32.040],[118.781,32.040],[118.781,32.041],[118.780,32.040]]"
    features = [f'{{"type":"Feature","properties":{{"code":"C{i}","name":"x","building":"yes",'
                f'"type":"clinic"}},"geometry":{{"type":"Polygon","coordinates":[{r}]}}}}'
                for i, r in enumerate((good, ring))]
    return ('{"type":"FeatureCollection","features":[' + ",".join(features) + "]}").encode()


BAD_GEOMETRY_FILES = {
    "unclosed ring": ("x.geojson", _feature_collection(
        "[[118.78,32.04],[118.781,32.04],[118.781,32.041],[118.7805,32.0405]]")),
    "ring of 2 points": ("x.geojson", _feature_collection("[[118.78,32.04],[118.781,32.04]]")),
    "NaN in a closed ring": ("x.geojson", _feature_collection(
        "[[118.78,32.04],[NaN,32.04],[118.781,32.041],[118.78,32.04]]")),
    "unclosed ring with NaN": ("x.geojson", _feature_collection(
        "[[NaN,32.04],[118.781,32.04],[118.781,32.041],[NaN,32.04]]")),
    "Infinity in a closed ring": ("x.geojson", _feature_collection(
        "[[118.78,32.04],[118.781,Infinity],[118.781,32.041],[118.78,32.04]]")),
    "OSM node at NaN": ("x.osm", b'''<?xml version="1.0"?><osm version="0.6">
<node id="1" lat="NaN" lon="118.78"/><node id="2" lat="32.04" lon="118.781"/>
<node id="3" lat="32.041" lon="118.781"/>
<way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="1"/><tag k="building" v="yes"/>
</way></osm>'''),
}


@pytest.mark.parametrize("path,case", [
    (path, case) for path in ("/datasets", "/facilities/import", "/organisations/import")
    for case in BAD_GEOMETRY_FILES if path == "/datasets" or "OSM" not in case])
def test_uploads_with_broken_geometries_are_4xx(bare, path, case):
    """A ring not closed, too short, or a NaN/Infinity coordinate: a bilingual 422 naming
    the file and the feature (#2), not a GEOSException's 500 (OSM: datasets only)."""
    name, content = BAD_GEOMETRY_FILES[case]
    r = bare["client"].post(path, headers=bare["h"]["admin"],
                            files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == 422, (case, r.status_code, r.text[:300])
    body = r.json()
    assert body["code"] == "bad_input" and name in body["message"]["en"], body
    assert "处理办法" in body["message"]["zh"] and "What to do" in body["message"]["en"]
    if name.endswith(".geojson"):
        assert "feature #2" in body["message"]["en"] and "要素 #2" in body["message"]["zh"]


def test_a_dataset_whose_footprints_have_no_area_is_4xx(bare):
    """Every footprint a point drawn as a polygon: the repair drops them all; a 422 (was a
    500 from the metric CRS of no buildings)."""
    ring = "[[118.78,32.04],[118.78,32.04],[118.78,32.04],[118.78,32.04]]"
    content = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
               f'"geometry":{{"type":"Polygon","coordinates":[{ring}]}}}}]}}').encode()
    r = bare["client"].post("/datasets", headers=bare["h"]["planner"],
                            files={"file": ("flat.geojson", content, "application/geo+json")})
    assert r.status_code == 422, r.text
    assert "flat.geojson" in r.json()["message"]["en"] and "area" in r.json()["message"]["en"]
    assert "面积" in r.json()["message"]["zh"]


@pytest.mark.parametrize("households", ["Infinity", "1e300"])
def test_a_dataset_with_infinite_households_is_4xx(bare, households):
    """households Infinity (as JSON some tools write) no integer holds: a 422 naming the
    building (was a 500 casting it), and 1e300 too (was stored as a garbage integer)."""
    content = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
               f'{{"id":"b1","households":{households}}},"geometry":{{"type":"Polygon",'
               '"coordinates":[[[118.78,32.04],[118.781,32.04],[118.781,32.041],'
               '[118.78,32.04]]]}}]}').encode()
    r = bare["client"].post("/datasets", headers=bare["h"]["planner"],
                            files={"file": ("homes.geojson", content, "application/geo+json")})
    assert r.status_code == 422, r.text
    assert "building_id=b1" in r.json()["message"]["en"] and "100,000" in r.json()["message"]["en"]


# ---- 7. error messages name the file as sent, never a server path ---------------------------

@pytest.mark.parametrize("name,content", [("empty.geojson", b""),
                                          ("broken.geojson", b'{"type": "FeatureCollection"'),
                                          ("notzip.zip", b"PK\x03\x04 not a zip")])
def test_upload_errors_name_the_file_not_the_server_path(bare, name, content):
    r = bare["client"].post("/datasets", headers=bare["h"]["planner"],
                            files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == 422, r.text
    text = r.text
    data_dir = str(bare["settings"].data_dir)
    assert data_dir not in text and "/vsizip" not in text and "datasets/" not in text, text
    assert name in r.json()["message"]["en"]


# ---- 12. reports outside every community are refused; control characters stripped ---------

def _incident_count(sv) -> int:
    from sqlalchemy import func, select

    from api.store import models as m

    with sv["app"].state.db.read_session() as s:
        return s.scalar(select(func.count()).select_from(m.IncidentRow))


@pytest.mark.parametrize("lon,lat", [(0.0, -89.0), (118.70, 32.00), (32.04, 118.78 - 100)])
def test_report_outside_every_community_is_a_clear_422(service, lon, lat):
    c, h = service["client"], service["h"]
    before = _incident_count(service)
    r = c.post("/incidents", headers=h["reporter"],
               json={"category": "noise", "lon": lon, "lat": lat})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "outside_area"
    assert "不在任何社区" in body["message"]["zh"] and "WGS84" in body["message"]["zh"]
    assert "outside every community" in body["message"]["en"]
    assert "swapped" in body["message"]["en"]
    minx, miny, maxx, maxy = body["bounds"]  # the area served, named in both messages
    assert minx < maxx and miny < maxy and f"{minx:.4f}" in body["message"]["en"]
    assert f"{maxy:.4f}" in body["message"]["zh"]
    r = c.post(OPEN311, headers=h["reporter"],
               data={"service_code": "noise", "lat": str(lat), "long": str(lon)})
    assert r.status_code == 422 and r.json()["code"] == "outside_area", r.text
    assert _incident_count(service) == before
    # the same report inside a grid is placed in it
    lon, lat = inside(service, 7)
    r = c.post("/incidents", headers=h["reporter"],
               json={"category": "noise", "lon": lon, "lat": lat})
    assert r.status_code == 201 and r.json()["grid_code"] == service["grids"][7]["properties"][
        "code"] and r.json()["plan_id"] == service["plan_id"], r.text


def test_control_characters_are_stripped_from_free_text(service):
    c, h = service["client"], service["h"]
    lon, lat = inside(service, 11)
    r = c.post("/incidents", headers=h["reporter"], json={
        "category": "environment", "lon": lon, "lat": lat,
        "description": "垃圾\x00堆放\x1b[31m\r\n第二行\t完\x7f\x85",
        "reporter_name": "张\x08三", "reporter_phone": "138\x0c0000"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    assert r.json()["description"] == "垃圾堆放[31m\n第二行\t完"
    from api.store import models as m

    with service["app"].state.db.read_session() as s:
        row = s.get(m.IncidentRow, iid)
        assert (row.reporter_name, row.reporter_phone) == ("张三", "1380000")
    r = c.post(f"/incidents/{iid}/actions", headers=h["admin"],
               json={"action": "note", "note": "已\x07电话\x1b联系\n明日处理"})
    assert r.status_code == 200, r.text
    steps = c.get(f"/incidents/{iid}/history", headers=h["admin"]).json()
    assert steps[-1]["note"] == "已电话联系\n明日处理"
    # Open311 fields too
    lon, lat = inside(service, 12)
    r = c.post(OPEN311, headers=h["reporter"], json={
        "service_code": "environment", "lat": lat, "long": lon,
        "description": "噪\x00音\x1b扰民\r\n夜间", "first_name": "李\x01"})
    assert r.status_code == 201, r.text
    rid = r.json()[0]["service_request_id"]
    record = c.get(f"/open311/v2/requests/{rid}.json", headers=h["admin"]).json()[0]
    assert record["description"] == "噪音扰民\n夜间"


# ---- 8. OGC collection metadata reveals no incident positions without a token ---------------

def _bbox(client, path: str, headers: dict | None = None) -> list[float]:
    r = client.get(path, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()["extent"]["spatial"]["bbox"][0]


def test_ogc_incident_extent_only_for_those_who_may_read_incidents(service):
    from sqlalchemy import func, select

    from api.store import models as m

    c, h = service["client"], service["h"]
    lon, lat = inside(service, 5)
    assert c.post("/incidents", headers=h["reporter"],
                  json={"category": "noise", "lon": lon, "lat": lat}).status_code == 201
    served = _bbox(c, "/ogc/collections/grids")  # the area served: public
    with service["app"].state.db.read_session() as s:
        real = list(s.execute(select(func.min(m.IncidentRow.minx), func.min(m.IncidentRow.miny),
                                     func.max(m.IncidentRow.maxx),
                                     func.max(m.IncidentRow.maxy))).one())
    assert real != served
    for headers in (None, h["reporter"], {"Authorization": "Bearer wg_not_a_token"}):
        assert _bbox(c, "/ogc/collections/incidents", headers) == served
        assert _bbox(c, "/ogc/collections/party-zones", headers) == served
        listed = {col["id"]: col for col in c.get("/ogc/collections",
                                                   headers=headers or {}).json()["collections"]}
        assert listed["incidents"]["extent"]["spatial"]["bbox"][0] == served
    assert _bbox(c, "/ogc/collections/incidents", h["admin"]) == real
    # a worker: the extent of the incidents dispatched to them, nobody else's
    with service["app"].state.db.read_session() as s:
        own = list(s.execute(select(func.min(m.IncidentRow.minx), func.min(m.IncidentRow.miny),
                                    func.max(m.IncidentRow.maxx), func.max(m.IncidentRow.maxy))
                             .where(m.IncidentRow.worker_id == h["worker2_id"])).one())
    own = [-180.0, -90.0, 180.0, 90.0] if own[0] is None else own
    assert _bbox(c, "/ogc/collections/incidents", h["worker2"]) == own != real


# ---- 9. security headers; the API docs work offline -----------------------------------------

URL_ATTR = __import__("re").compile(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""")


def test_docs_load_nothing_from_another_host(bare):
    c = bare["client"]
    r = c.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text, r.text
    urls = URL_ATTR.findall(r.text)
    assert {"/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css",
            "/openapi.json"} <= set(urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = c.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "javascript" in c.get("/static/docs/swagger-ui-bundle.js").headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "http" not in csp and "frame-ancestors 'none'" in csp
    assert c.get("/redoc").status_code == 404  # ReDoc would need a CDN


def test_every_answer_carries_the_security_headers(bare):
    c = bare["client"]
    for r in (c.get("/ogc"), c.get("/incidents"), c.get("/docs"),
              c.get("/maps/grids", headers=bare["h"]["admin"])):
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in c.get("/ogc").headers  # JSON needs none


# ---- 11. the job queue has limits: per user and for everyone ---------------------------------

@pytest.fixture()
def queue(tmp_path):
    """A service whose jobs stay queued (no runner), with 2 jobs per user and 3 in all."""
    from api.store import models as m

    settings = Settings(data_dir=tmp_path, max_jobs_per_user=2, max_jobs=3,
                        job_retry_after_s=17)
    app = create_app(settings, start_jobs=False)
    with TestClient(app) as client:
        h = make_tokens(app)
        with app.state.db.writing() as s:
            dataset = m.DatasetRow(name="d", filename="d.osm", path="datasets/d.osm",
                                size_bytes=1)
            s.add(dataset)
            s.flush()
            dataset_id = dataset.id
        yield {"client": client, "app": app, "h": h, "dataset_id": dataset_id}


def test_job_queue_limits_per_user_and_in_all(queue):
    c, h = queue["client"], queue["h"]
    body = {"dataset_id": queue["dataset_id"], "target_households": 300}
    first = [c.post("/plans", headers=h["planner"], json=body) for _ in range(2)]
    assert [r.status_code for r in first] == [202, 202]
    r = c.post("/plans", headers=h["planner"], json=body)
    assert r.status_code == 429 and r.headers["retry-after"] == "17", r.text
    assert r.json()["code"] == "too_many_jobs" and "2" in r.json()["message"]["zh"]
    assert "cancel" in r.json()["message"]["en"]
    assert c.post("/plans", headers=h["admin"], json=body).status_code == 202  # 3 in all
    r = c.post("/plans", headers=h["admin"], json=body)
    assert r.status_code == 429 and r.json()["code"] == "job_queue_full", r.text
    assert r.headers["retry-after"] == "17"
    # a cancelled job no longer counts
    job_id = first[0].json()["id"]
    assert c.post(f"/jobs/{job_id}/cancel", headers=h["planner"]).status_code in (200, 202)
    assert c.post("/plans", headers=h["planner"], json=body).status_code == 202
    assert len(c.get("/jobs", headers=h["admin"]).json()) == 4  # the 429s made none


def test_concurrent_submissions_never_pass_the_limit(queue):
    from concurrent.futures import ThreadPoolExecutor

    c, h = queue["client"], queue["h"]
    body = {"dataset_id": queue["dataset_id"], "target_households": 300}
    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(lambda i: c.post("/plans", json=body, headers=h[
            ("planner", "admin")[i % 2]]).status_code, range(20)))
    assert codes.count(202) == 3 and codes.count(429) == 17, codes


def test_job_limits_from_the_environment(monkeypatch):
    monkeypatch.setenv("WANGGE_MAX_JOBS_PER_USER", "5")
    monkeypatch.setenv("WANGGE_MAX_JOBS", "40")
    monkeypatch.setenv("WANGGE_JOB_RETRY_AFTER_S", "9")
    s = Settings.from_env()
    assert (s.max_jobs_per_user, s.max_jobs, s.job_retry_after_s) == (5, 40, 9)
