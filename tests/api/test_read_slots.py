"""The read gate (api.deps.read_slot): a process builds ``Settings.read_slots`` GeoJSON
collections at a time, the others wait in the event loop, every one is answered, and a
report is taken while reads wait their turn; the interpreter's switch interval set on start
(Settings.switch_interval_ms)."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import shapely.geometry

from api.services import ogc
from api.settings import Settings

READ_S = 0.15  # how long each gated read takes in these tests


def _watch(monkeypatch) -> dict:
    """Make every OGC items page take READ_S and count how many are built at once."""
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()
    items = ogc.items

    def slow_items(*args, **kwargs):
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        try:
            time.sleep(READ_S)
            return items(*args, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(ogc, "items", slow_items)
    return seen


def _pages(client, headers, n: int) -> list:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: client.get(
            "/ogc/collections/buildings/items", headers=headers,
            params={"limit": 5, "offset": 5 * i}), range(n)))


@pytest.mark.parametrize("slots", [1, 3])
def test_collections_are_built_read_slots_at_a_time(open_service, monkeypatch, slots):
    with open_service(f"read-slots-{slots}", start_jobs=False, read_slots=slots) as sv:
        seen = _watch(monkeypatch)
        started = time.perf_counter()
        answers = _pages(sv["client"], sv["h"]["planner"], 6)
        took = time.perf_counter() - started
    assert [r.status_code for r in answers] == [200] * 6
    assert [len(r.json()["features"]) for r in answers] == [5] * 6
    assert len({r.json()["features"][0]["id"] for r in answers}) == 6  # each its own page
    assert seen["most"] == slots
    assert took >= 6 / slots * READ_S * 0.95


def test_a_report_is_taken_while_reads_wait(open_service, monkeypatch):
    with open_service("read-slots-report", start_jobs=False, read_slots=1) as sv:
        c, h = sv["client"], sv["h"]
        grid = c.get("/grids", headers=h["admin"]).json()["features"][0]
        point = shapely.geometry.shape(grid["geometry"]).representative_point()
        seen = _watch(monkeypatch)
        with ThreadPoolExecutor(1) as pool:
            reads = pool.submit(_pages, c, h["planner"], 6)  # 6 x 0.15 s, one at a time
            while seen["now"] == 0:
                time.sleep(0.005)
            started = time.perf_counter()
            r = c.post("/incidents", headers={**h["reporter"], "Idempotency-Key": "gate-1"},
                       json={"category": "environment", "lon": point.x, "lat": point.y})
            took = time.perf_counter() - started
            assert not reads.done()  # the reads still queue behind the gate
            answers = reads.result()
    assert r.status_code == 201, r.text
    assert took < 2 * READ_S
    assert [a.status_code for a in answers] == [200] * 6


def test_read_slots_must_be_positive():
    with pytest.raises(ValueError, match="WANGGE_READ_SLOTS"):
        Settings(read_slots=0)


def test_the_switch_interval_is_set_on_start(open_service):
    before = sys.getswitchinterval()
    try:
        with open_service("switch-interval", start_jobs=False, stocked=False,
                          switch_interval_ms=2.5):
            assert sys.getswitchinterval() == pytest.approx(0.0025)
    finally:
        sys.setswitchinterval(before)
    with pytest.raises(ValueError, match="WANGGE_SWITCH_INTERVAL_MS"):
        Settings(switch_interval_ms=0)
