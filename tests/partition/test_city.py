"""A city planned one community per task (partition.city): the same plan as the whole-area
make_plan, in forked processes or on a Dask LocalCluster, with a worker killed mid-run, and
a failing community reported while the rest are written."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely

import partition.plan
from api.cli import main
from gis.city_store import write_city_store
from gis.study_area import load_study_area
from partition.budget import default_units, portion
from partition.city import city_tasks, plan_city
from partition.plan import make_plan
from partition.plan_io import write_plan
from tests.synthetic.district import write_district_osm

N_BUILDINGS = 900


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("city") / "district.osm"
    write_district_osm(path, N_BUILDINGS, seed=11)
    return path


@pytest.fixture(scope="module")
def store(district, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "city.gpkg"
    write_city_store(district, out, batch_size=300)
    return out


@pytest.fixture(scope="module")
def whole_plan(district, tmp_path_factory) -> Path:
    """The one-process plan of the whole area, as `wangge partition` makes it."""
    area = load_study_area(district, with_walk_graph=False)
    out = tmp_path_factory.mktemp("whole") / "plan.gpkg"
    write_plan(make_plan(area, workers=1), out, area.attribution)
    return out


def _labels(path: Path) -> pd.Series:
    b = pyogrio.read_dataframe(path, layer="buildings", read_geometry=False)
    return b.set_index("building_id")["grid_id"].astype(object).sort_index()


def _grids(path: Path) -> pd.DataFrame:
    g = pyogrio.read_dataframe(path, layer="grids")
    g = g.set_index("grid_id").sort_index()
    g["wkb"] = shapely.to_wkb(shapely.set_precision(g.geometry.values, 1e-7))
    return g[["community", "households", "wkb"]]


def _same_plan(a: Path, b: Path) -> None:
    la, lb = _labels(a), _labels(b)
    assert list(la.index) == list(lb.index)
    assert (la.fillna("-") == lb.fillna("-")).all(), \
        f"{int((la.fillna('-') != lb.fillna('-')).sum())} buildings in another grid"
    pd.testing.assert_frame_equal(_grids(a), _grids(b))


def test_city_in_processes_is_the_whole_plan(store, whole_plan, tmp_path):
    seen: list[tuple[str, int, int]] = []
    out = tmp_path / "city.gpkg"
    result = plan_city(store, out, workers=2,
                       progress=lambda r, done, total: seen.append((r["community"], done, total)))
    assert not result.failures
    _same_plan(whole_plan, out)
    total = len(result.tasks)
    assert [s[1] for s in seen] == list(range(1, total + 1)) and {s[2] for s in seen} == {total}
    assert sorted(s[0] for s in seen) == sorted(t["community"] for t in result.tasks)
    grids = pyogrio.read_dataframe(out, layer="grids", read_geometry=False)
    assert result.summary["grids"] == len(grids) == sum(t["grids"] for t in result.tasks)
    assert grids["grid_id"].is_unique
    assert (grids["grid_id"].str[:-3] == grids["community"].astype(str)).all()
    assert not out.with_name(out.name + ".parts").exists()  # parts removed once written


def test_city_tasks_share_the_default_work_as_the_whole_plan(district, store, tmp_path):
    """Each community's task gets what it gets in the whole-area plan: the default of the
    area's buildings and communities' households, shared by households (partition.budget)."""
    area = load_study_area(district, with_walk_graph=False)
    inside = area.buildings[area.buildings["community"].notna()]
    households = inside["households"].astype(int).groupby(inside["community"]).sum()
    work = default_units(len(inside), list(households), 300)
    assert work > 2 + 0.003 * len(inside)  # the reserve by grids counts here
    tasks = city_tasks(store, tmp_path)
    assert {t.code for t in tasks} == set(households.index.astype(str))
    for task in tasks:
        assert task.units == portion(work, int(households[task.code]), int(households.sum()))


def test_dask_with_a_killed_worker_gives_the_same_plan(store, whole_plan, tmp_path):
    distributed = pytest.importorskip("distributed")
    killed: list[int] = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:

        def kill_a_busy_worker(report, done, total):
            if killed:
                return
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        out = tmp_path / "dask.gpkg"
        result = plan_city(store, out, cluster=client, progress=kill_a_busy_worker)
    assert killed, "no worker was busy to kill"
    assert not result.failures
    _same_plan(whole_plan, out)


def test_failing_community_is_reported_and_the_rest_written(store, tmp_path, monkeypatch,
                                                            capsys):
    codes = sorted(pyogrio.read_dataframe(store, layer="communities",
                                          read_geometry=False)["code"])
    bad = codes[0]
    real = partition.plan.make_plan

    def failing(area, *args, **kwargs):
        if set(area.communities["code"]) == {bad}:
            raise RuntimeError("broken community")
        return real(area, *args, **kwargs)

    monkeypatch.setattr(partition.plan, "make_plan", failing)  # inherited by forked workers
    out = tmp_path / "plan.gpkg"
    status = main(["partition", str(store), "--out", str(out), "--workers", "2"])
    assert status == 3
    err = capsys.readouterr().err
    assert f"社区 {bad} 划分失败" in err and "broken community" in err
    grids = pyogrio.read_dataframe(out, layer="grids", read_geometry=False)
    assert bad not in set(grids["community"].astype(str))
    assert set(grids["community"].astype(str)) == set(codes) - {bad}


def test_city_options_that_need_the_whole_area_are_refused(store, tmp_path, capsys):
    status = main(["partition", str(store), "--out", str(tmp_path / "p.gpkg"),
                   "--split-units", "units"])
    assert status == 2
    assert "--split-units" in capsys.readouterr().err
    assert not (tmp_path / "p.gpkg").exists()
