"""``wangge facilities coverage`` and ``wangge facilities site`` on the real Nanjing extract:
the printed figures match dispatch.facilities, the GeoJSON of proposed sites, and bad input
ending with a bilingual message, exit status 2 and no file."""

from __future__ import annotations

import json

from api.cli import main


def test_coverage_and_site(nanjing_path, tmp_path, capsys):
    assert main(["facilities", "coverage", str(nanjing_path), "--type", "clinic",
                 "--type", "canteen", "--json"]) == 0
    rows = {r["type"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"clinic", "canteen"}
    assert rows["clinic"]["facilities"] >= 5 and rows["canteen"]["facilities"] == 0
    out = tmp_path / "sites.geojson"
    assert main(["facilities", "site", str(nanjing_path), "--type", "canteen", "-k", "3",
                 "--distance", "300", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "OPTIMAL" and summary["covered_before"] == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert [f["properties"]["rank"] for f in data["features"]] == [1, 2, 3]
    assert sum(f["properties"]["households_new"] for f in data["features"]) == \
        summary["covered_after"]
    assert "OpenStreetMap" in data["attribution"]
    # given sites: the proposal is among them
    sites = tmp_path / "sites.csv"
    first = data["features"][0]["geometry"]["coordinates"]
    sites.write_text(f"lon,lat\n{first[0]},{first[1]}\n{first[0] + 0.01},{first[1]}\n")
    out2 = tmp_path / "given.geojson"
    assert main(["facilities", "site", str(nanjing_path), "--type", "canteen", "-k", "1",
                 "--distance", "300", "--sites", str(sites), "--out", str(out2)]) == 0
    assert "OPTIMAL" in capsys.readouterr().out
    got = json.loads(out2.read_text(encoding="utf-8"))["features"][0]["properties"]
    assert got["households_new"] == summary["gains"][0]


def test_bad_input(nanjing_path, tmp_path, capsys):
    bad = tmp_path / "f.csv"
    bad.write_text("type,lon,lat\nclinic,118.78,32.04\nschool,118.78,32.04\n")
    out = tmp_path / "x.geojson"
    assert main(["facilities", "site", str(nanjing_path), "--type", "clinic", "-k", "2",
                 "--facilities", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "未知的设施类型" in err and "unknown facility type 'school'" in err and "row 3" in err
    assert not out.exists()
    assert main(["facilities", "site", str(nanjing_path), "--type", "clinic", "-k", "0",
                 "--out", str(out)]) == 2
    assert "k" in capsys.readouterr().err and not out.exists()
