"""wangge assign / patrol / party on the demo extract, as a street office runs them."""

from __future__ import annotations

import json

import pandas as pd
import pyogrio
import pytest

from api.cli import main


@pytest.fixture(scope="module")
def planned(demo_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dispatch")
    plan = folder / "plan.gpkg"
    assert main(["partition", str(demo_path), "--out", str(plan), "--json"]) == 0
    buildings = pyogrio.read_dataframe(plan, layer="buildings")
    homes = buildings[buildings["households"] > 0].sample(60, random_state=1)
    points = homes.geometry.representative_point()
    workers = pd.DataFrame({
        "worker_id": [f"w{i}" for i in range(21)], "name": [f"网格员{i}" for i in range(21)],
        "lon": points.x[:21].values, "lat": points.y[:21].values,
        "role": ["grid_worker"] * 20 + ["grid_leader"]})
    workers.to_csv(folder / "workers.csv", index=False)
    members = pd.DataFrame({"member_id": range(39), "name": [f"党员{i}" for i in range(39)],
                            "building_id": homes["building_id"].values[21:], "capacity": 25})
    members.to_csv(folder / "members.csv", index=False, encoding="gb18030")  # as Excel saves
    return folder, plan, buildings


def test_assign_then_patrol_from_the_workers_bases(planned, demo_path, capsys):
    folder, plan, _ = planned
    capsys.readouterr()
    assert main(["assign", str(plan), "--area", str(demo_path), "--workers",
                 str(folder / "workers.csv"), "--out", str(folder / "a.csv"),
                 "--levels", str(folder / "levels.csv"), "--json", "--seconds", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    grids = pyogrio.read_dataframe(plan, layer="grids")
    assignment = pd.read_csv(folder / "a.csv", dtype=str)
    assert summary["grids"] == len(grids) == assignment["grid_id"].nunique()
    levels = pd.read_csv(folder / "levels.csv", dtype=str)
    assert levels.loc[levels["level"] == "community", "worker_id"].tolist() == ["w20"]

    assert main(["patrol", str(plan), "--area", str(demo_path), "--workers",
                 str(folder / "workers.csv"), "--assignment", str(folder / "a.csv"),
                 "--out", str(folder / "patrols.gpkg"), "--gpx", str(folder / "gpx"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    patrols = pyogrio.read_dataframe(folder / "patrols.gpkg", layer="patrols")
    assert len(patrols) == len(grids)
    assert (patrols["length_m"] + 0.5 >= patrols["lower_bound_m"]).all()
    assert summary["km"] >= summary["street_km"] > 0
    assert len(list((folder / "gpx").glob("*.gpx"))) == summary["grids"]


def test_patrol_team_walks_every_street_of_the_community(planned, demo_path, capsys):
    """--by community: one route per community from the patrol-role worker nearest its
    centre; the demo's streets are one piece, so the route meets the postman bound."""
    folder, plan, _ = planned
    workers = pd.read_csv(folder / "workers.csv")
    workers.loc[len(workers)] = {**workers.iloc[0].to_dict(), "worker_id": "p1",
                                 "name": "巡查队员", "role": "patrol"}
    workers.to_csv(folder / "team.csv", index=False)
    capsys.readouterr()
    assert main(["patrol", str(plan), "--area", str(demo_path), "--by", "community",
                 "--workers", str(folder / "team.csv"), "--out", str(folder / "team.gpkg"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    patrols = pyogrio.read_dataframe(folder / "team.gpkg", layer="patrols")
    communities = pyogrio.read_dataframe(plan, layer="grids")["community"].unique()
    assert summary["by"] == "community" and sorted(patrols["grid_id"]) == sorted(communities)
    assert patrols["optimal"].all()
    assert (patrols["length_m"] <= patrols["postman_bound_m"] * 1.001).all()


def test_party_zones_cover_within_capacity(planned, demo_path, capsys):
    folder, plan, buildings = planned
    capsys.readouterr()
    out = folder / "zones.gpkg"
    assert main(["party", str(plan), "--area", str(demo_path), "--members",
                 str(folder / "members.csv"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["households_assigned"] == 39 * 25
    total = round(buildings["households"].sum())
    assert summary["households_assigned"] + summary["households_without_member"] == \
        pytest.approx(total, abs=len(buildings))
    zones = pyogrio.read_dataframe(out, layer="zones")
    assert len(zones) == 39 and zones.crs.to_epsg() == 4326


def test_workers_file_without_coordinates_is_refused(planned, demo_path, capsys, tmp_path):
    _, plan, _ = planned
    bad = tmp_path / "workers.csv"
    bad.write_text("worker_id,name\nw1,李四\n", encoding="utf-8")
    assert main(["assign", str(plan), "--area", str(demo_path), "--workers", str(bad),
                 "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err
    assert "lon" in err and "缺少列" in err
    assert not (tmp_path / "a.csv").exists()
