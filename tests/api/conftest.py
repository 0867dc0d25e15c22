"""Fixtures of the service tests: the synthetic district they upload, services opened on a
fresh data folder (stocked by :func:`tests.api.stock.stock_service`), and PostGIS databases.

PostGIS tests use WANGGE_TEST_POSTGIS_URL (a server where we may create databases); each
test gets a database of its own, dropped after it. They skip when it is unset or
unreachable, and fail instead when WANGGE_REQUIRE_POSTGIS=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from api.settings import Settings
from tests.api.stock import make_tokens, stock_service, upload, wait_job
from tests.synthetic import write_district_osm

OpenService = Callable[..., AbstractContextManager[dict]]


@pytest.fixture(scope="session")
def district(tmp_path_factory):
    path = tmp_path_factory.mktemp("api-district") / "district.osm"
    write_district_osm(path, 200, seed=5)
    return path


@pytest.fixture(scope="session")
def open_service(tmp_path_factory, district) -> OpenService:
    """``with open_service(folder, **settings) as sv``: the service on a fresh data folder
    named ``folder``, with its TestClient open. ``sv`` holds the client, the app and its
    settings and, unless ``stocked=False``, what stock_service made on the district.
    ``start_jobs`` is passed to create_app, ``client`` holds TestClient options."""

    @contextmanager
    def open_(folder: str, *, start_jobs: bool = True, stocked: bool = True,
              client: dict | None = None, **settings) -> Iterator[dict]:
        config = Settings(data_dir=tmp_path_factory.mktemp(folder), **settings)
        app = create_app(config, start_jobs=start_jobs)
        with TestClient(app, **(client or {})) as test_client:
            sv = {"client": test_client, "app": app, "settings": config}
            if stocked:
                sv.update(stock_service(app, district))
            yield sv

    return open_


@pytest.fixture(scope="module")
def service(open_service, district):
    """A running service with a dataset, an active plan and two workers with grids."""
    with open_service("data", stocked=False, max_upload_bytes=5_000_000, max_page_size=500,
                      max_bbox_km2=100) as sv:
        client, app = sv["client"], sv["app"]
        h = make_tokens(app)
        r = upload(client, district, h["planner"])
        assert r.status_code == 201, r.text
        dataset = r.json()
        r = client.post("/plans", headers=h["planner"],
                        json={"dataset_id": dataset["id"], "target_households": 300})
        assert r.status_code == 202, r.text
        job = wait_job(client, r.json()["id"], h["planner"])
        assert job["status"] == "succeeded", job
        plan_id = job["result"]["plan_id"]
        assert client.post(f"/plans/{plan_id}/activate", headers=h["admin"]).status_code == 200
        grids = client.get(f"/plans/{plan_id}/grids", headers=h["planner"]).json()["features"]
        codes = sorted(f["properties"]["code"] for f in grids)
        for code, worker in ((codes[0], "worker_id"), (codes[1], "worker2_id")):
            r = client.put(f"/plans/{plan_id}/grids/{code}/assignment", headers=h["admin"],
                           json={"worker_id": h[worker]})
            assert r.status_code == 200, r.text
        yield {**sv, "h": h, "dataset": dataset, "plan_id": plan_id, "job": job, "codes": codes,
               "grids": grids}


# ---- PostGIS ----------------------------------------------------------------------------------

def _postgis_unavailable(reason: str):
    if os.environ.get("WANGGE_REQUIRE_POSTGIS") == "1":
        pytest.fail(f"PostGIS required (WANGGE_REQUIRE_POSTGIS=1) but {reason}")
    pytest.skip(f"PostGIS tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgis_server_url():
    """The PostGIS server URL, or skip/fail as WANGGE_REQUIRE_POSTGIS says."""
    url = os.environ.get("WANGGE_TEST_POSTGIS_URL")
    if not url:
        _postgis_unavailable("WANGGE_TEST_POSTGIS_URL is not set")
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        _postgis_unavailable(f"cannot connect to {url}: {exc}")
    return url


def make_postgis_database(server_url: str) -> str:
    """Create an empty database with PostGIS on the server; returns its URL."""
    url = make_url(server_url)
    name = f"wangge_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    test_url = url.set(database=name)
    engine = create_engine(test_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    return test_url.render_as_string(hide_password=False)


def drop_postgis_database(server_url: str, db_url: str) -> None:
    name = make_url(db_url).database
    admin = create_engine(make_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgis_url(postgis_server_url):
    url = make_postgis_database(postgis_server_url)
    yield url
    drop_postgis_database(postgis_server_url, url)
