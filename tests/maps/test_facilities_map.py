"""maps.facilities_map on the real Nanjing extract: the clinics' walking catchment, the homes
within and beyond the walk (counts in the legend match dispatch.facilities.coverage), the
proposed sites, both languages, and no link to another host."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from dispatch.facilities import siting
from dispatch.facilities.coverage import catchment, facility_coverage, homes, snap_points
from dispatch.facilities.reading import read_facilities
from dispatch.routing.network import WalkNetwork
from maps import MapOptions, facilities_map, page_html

URL = re.compile(r"""https?://[^\s"'<>)]+""")


@pytest.fixture(scope="module")
def nanjing(nanjing_area, nanjing_path):
    net = WalkNetwork.from_graph(nanjing_area.streets)
    clinics = read_facilities(nanjing_path)
    clinics = clinics[clinics["type"] == "clinic"]
    return nanjing_area, net, clinics


def test_catchment_holds_what_is_within_the_walk(nanjing):
    _area, net, clinics = nanjing
    shape = catchment(net, clinics, 500.0).iloc[0]
    assert shape.area > 0
    # every street node within 450 m of walking lies in it, none beyond 600 m
    from dispatch.facilities.coverage import nearest_distances

    dist = nearest_distances(net, snap_points(net, clinics))
    xy = np.array([net.xy(n) for n in net.nodes])
    inside = shapely.contains_xy(shape, xy[:, 0], xy[:, 1])
    assert inside[dist <= 450].all()
    # beyond the walk only where a covered street passes within the buffer
    far = dist > 700
    assert far.sum() > 10 and inside[far].mean() < 0.1
    assert catchment(net, clinics.iloc[[]], 500.0).empty


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_map_layers_and_legend(nanjing, lang):
    area, net, clinics = nanjing
    cov = facility_coverage(net, area.buildings, clinics, types=["clinic"],
                            distances={"clinic": 500.0})["clinic"]
    home = homes(area.buildings).assign(walk_m=cov.walk_m)
    cands = siting.street_candidates(net, 500)
    result = siting.site_facilities(net, area.buildings, clinics, cands, 2, 500.0)
    proposed = gpd.GeoDataFrame({"households_new": result.gains},
                                geometry=shapely.points(cands.x[result.chosen],
                                                        cands.y[result.chosen]), crs=net.crs)
    view = facilities_map(home, clinics.to_crs(net.crs), facility_type="clinic",
                          distance_m=500.0, catchment=catchment(net, clinics, 500.0),
                          proposed=proposed, proposal_status=result.status,
                          options=MapOptions(lang=lang))
    html = page_html(view)
    s = cov.summary()
    beyond = f"{s['buildings_beyond']} 栋建筑，{s['households_beyond']} 户" if lang == "zh" \
        else f"{s['buildings_beyond']} buildings, {s['households_beyond']} households"
    assert beyond in html
    assert ("建议新址" if lang == "zh" else "Proposed sites") in html
    assert ("卫生服务站" if lang == "zh" else "clinic") in html
    assert "OPTIMAL" in html
    # the proposed sites are drawn with the households each adds
    gains = [int(g) for g in re.findall(r'"households_new":\s*(\d+)', html)]
    assert gains == result.gains
    hosts = {u for u in URL.findall(html) if "openstreetmap.org/copyright" not in u
             and "opendatacommons.org" not in u}
    assert not hosts, hosts
    json.dumps(result.stats)  # plain numbers
