"""``wangge organisations import`` on the real Nanjing compounds (../shared/data): a file with a
bad feature imports nothing and says which feature in Chinese and English; a good one creates,
then updates by code; an organisation token is issued for one."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def compounds(nanjing_path):
    from gis.osm import read_osm

    return [a.geometry for a in read_osm(nanjing_path).areas
            if a.tags.get("landuse") == "residential"]


def test_cli_imports_organisations_all_or_none(compounds, tmp_path, capsys):
    import json

    from shapely.geometry import mapping
    from sqlalchemy import func, select

    from api.cli import main
    from api.store import models as m
    from api.store.db import Database

    def features(extra_bad: bool) -> str:
        items = [{"type": "Feature", "geometry": mapping(c),
                  "properties": {"code": f"NJ{i}", "name": f"物业{i}",
                                 "kind": "property_company", "categories": "environment"}}
                 for i, c in enumerate(compounds)]
        if extra_bad:
            items.append({"type": "Feature", "geometry": {"type": "Point",
                                                          "coordinates": [118.78, 32.04]},
                          "properties": {"code": "BAD", "name": "x", "kind": "police",
                                         "categories": "public_order"}})
        return json.dumps({"type": "FeatureCollection", "features": items})

    data = tmp_path / "data"
    bad = tmp_path / "bad.geojson"
    bad.write_text(features(True), encoding="utf-8")
    assert main(["organisations", "import", str(bad), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err
    assert "code=BAD" in err and "Polygon" in err and "面" in err
    good = tmp_path / "orgs.geojson"
    good.write_text(features(False), encoding="utf-8")
    assert main(["organisations", "import", str(good), "--data-dir", str(data)]) == 0
    assert "created 11" in capsys.readouterr().out
    assert main(["organisations", "import", str(good), "--data-dir", str(data)]) == 0
    assert "updated 11" in capsys.readouterr().out
    assert main(["token", "create", "--role", "organisation", "--organisation", "1",
                 "--data-dir", str(data)]) == 0
    assert "wg_" in capsys.readouterr().out
    db = Database(f"sqlite:///{data / 'wangge.db'}")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(m.OrganisationRow)) == 11
    db.dispose()
