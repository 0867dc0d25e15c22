"""dispatch.incidents.referral: who is responsible on the real Nanjing compounds (the 11
landuse=residential areas of ../shared/data), the referral's steps and deadlines in working
time, statistics per organisation, and organisations read from a layer with bad features
refused by name."""

from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point

from dispatch.incidents.errors import IncidentError
from dispatch.incidents.lifecycle import OrgRef, new_incident, transition
from dispatch.incidents.referral import (
    Organisation,
    check_area,
    deadline_text,
    follow,
    geodesic_area_m2,
    new_referral,
    org_accept,
    org_handle,
    org_return,
    organisations_from_frame,
    parse_deadline,
    refer,
    referral_statistics,
    responsible,
)
from dispatch.incidents.rules import BEIJING, Deadline, Rules
from gis.errors import InputError

RULES = Rules()
MON_10 = datetime(2026, 11, 23, 10, 0, tzinfo=BEIJING)  # a Monday


@pytest.fixture(scope="module")
def compounds(nanjing_path):
    from gis.osm import read_osm

    areas = [a.geometry for a in read_osm(nanjing_path).areas
             if a.tags.get("landuse") == "residential"]
    assert len(areas) == 11
    return areas


@pytest.fixture(scope="module")
def orgs(compounds):
    district = shapely.box(*shapely.union_all(compounds).bounds).buffer(0.002)
    out = [Organisation(i + 1, f"物业{i + 1}", "property_company",
                        frozenset({"environment", "public_facilities"}), c)
           for i, c in enumerate(compounds)]
    out.append(Organisation(100, "环卫所", "sanitation", frozenset({"environment"}), district,
                            Deadline(2, "hours"), Deadline(1, "working_days")))
    out.append(Organisation(101, "派出所", "police", frozenset({"public_order"}), district))
    return out


def test_the_smallest_holding_area_wins_on_real_compounds(compounds, orgs):
    for compound in compounds:
        p = compound.representative_point()
        # nested or overlapping compounds: the smallest one holding the point
        holders = [j for j, c in enumerate(compounds) if c.covers(p)]
        smallest = min(holders, key=lambda j: (geodesic_area_m2(compounds[j]), j))
        assert responsible(orgs, "environment", p.x, p.y).org_id == smallest + 1
        assert responsible(orgs, "public_order", p.x, p.y).name == "派出所"
        assert responsible(orgs, "noise", p.x, p.y) is None
    district = orgs[-1].area
    minx, miny, maxx, maxy = district.bounds
    between = next(q for q in (Point(minx + (maxx - minx) * i / 20, miny + (maxy - miny) * j / 20)
                               for i in range(1, 20) for j in range(1, 20))
                   if district.covers(q) and not any(c.covers(q) for c in compounds))
    assert responsible(orgs, "environment", between.x, between.y).name == "环卫所"
    assert responsible(orgs, "environment", 0.0, 0.0) is None


def test_geodesic_area_of_a_compound_is_metres(compounds):
    # the largest Nanjing compound: about 4.2e-5 square degrees at 32° N, roughly 0.44 km²
    largest = max(compounds, key=lambda c: c.area)
    assert 3.5e5 < geodesic_area_m2(largest) < 5.5e5


def test_referral_steps_and_deadlines_in_working_time(compounds, orgs):
    p = compounds[0].representative_point()
    inc = new_incident("R1", "environment", p.x, p.y, MON_10, "居民", RULES, channel="walk_in")
    assert inc.channel == "walk_in"
    transition(inc, "accepted", "admin", at=MON_10 + timedelta(minutes=5))
    company = responsible(orgs, "environment", p.x, p.y)
    at = MON_10 + timedelta(minutes=10)
    step = refer(inc, company, "admin", "请处理", at)
    assert inc.stage == "referred" and inc.assignee == OrgRef(company.org_id)
    assert step.assignee == OrgRef(company.org_id) and str(step.assignee).startswith("org:")
    record = new_referral(inc, company, at, RULES.calendar)
    # default 1 working day to accept, 5 to handle, from Monday 10:10
    assert record.accept_by == datetime(2026, 11, 24, 10, 10, tzinfo=BEIJING)
    assert record.handle_by == datetime(2026, 11, 30, 10, 10, tzinfo=BEIJING)
    with pytest.raises(IncidentError, match="not referred to organisation"):
        org_accept(inc, 999, "其他单位", at=at)
    with pytest.raises(IncidentError, match="accepted by the organisation before"):
        org_handle(inc, company.org_id, "物业", at=at)
    with pytest.raises(IncidentError, match="needs a reason"):
        org_return(inc, company.org_id, "物业", "  ", at)
    org_accept(inc, company.org_id, "物业", at=at + timedelta(hours=1))
    org_handle(inc, company.org_id, "物业", "已处理", at + timedelta(hours=3))
    assert inc.stage == "handled"
    with pytest.raises(IncidentError):  # no longer with it
        org_return(inc, company.org_id, "物业", "晚了", at + timedelta(hours=4))
    sanitation = next(o for o in orgs if o.name == "环卫所")
    fast = new_referral(inc, sanitation, MON_10, RULES.calendar)
    assert fast.accept_by == MON_10 + timedelta(hours=2)  # calendar hours


def test_refer_checks_the_organisation_serves_category_and_place(compounds, orgs):
    p = compounds[0].representative_point()
    inc = new_incident("R2", "environment", p.x, p.y, MON_10, "居民", RULES)
    transition(inc, "accepted", "admin", at=MON_10)
    police = next(o for o in orgs if o.name == "派出所")
    with pytest.raises(IncidentError, match="does not serve category environment"):
        refer(inc, police, "admin", at=MON_10)
    other = next(o for o in orgs[:11] if not o.area.covers(p))
    with pytest.raises(IncidentError, match="outside the area"):
        refer(inc, other, "admin", at=MON_10)
    assert inc.stage == "accepted" and len(inc.history) == 2
    with pytest.raises(IncidentError, match="a referral names an organisation"):
        transition(inc, "referred", "admin", at=MON_10, assignee="w1")


def test_statistics_count_on_time_and_returns(compounds, orgs):
    company = orgs[0]
    p = compounds[0].representative_point()
    records = []
    for k, (accept_h, handle_h, returned) in enumerate(
            [(1, 5, False), (30, 200, False), (2, None, True)]):
        inc = new_incident(f"S{k}", "environment", p.x, p.y, MON_10, "居民", RULES)
        transition(inc, "accepted", "admin", at=MON_10)
        refer(inc, company, "admin", at=MON_10)
        record = new_referral(inc, company, MON_10, RULES.calendar)
        follow(record, org_accept(inc, company.org_id, "物业", at=MON_10 + timedelta(
            hours=accept_h)))
        if returned:
            follow(record, org_return(inc, company.org_id, "物业", "不归我们",
                                      MON_10 + timedelta(hours=accept_h + 1)))
        else:
            follow(record, org_handle(inc, company.org_id, "物业", at=MON_10 + timedelta(
                hours=handle_h)))
        records.append(record)
    stats = referral_statistics(records, MON_10 + timedelta(days=30)).iloc[0]
    assert (stats.received, stats.accepted, stats.accepted_on_time) == (3, 3, 2)
    assert (stats.handled, stats.handled_on_time, stats.returned) == (2, 1, 1)
    assert stats.median_accept_h == 2.0 and stats.median_handle_h == (5 + 200) / 2


def test_deadline_text_round_trips_and_bad_text_is_refused():
    for text in ("2h", "8wh", "1wd", "1.5wd"):
        assert deadline_text(parse_deadline(text)) == text
    for bad in ("soon", "2 days", "0h", "-1wd", ""):
        with pytest.raises(IncidentError):
            parse_deadline(bad)


def test_check_area_refuses_points_lines_and_bow_ties():
    with pytest.raises(IncidentError, match="must be a Polygon"):
        check_area(Point(118.78, 32.04), "x")
    with pytest.raises(IncidentError, match="must be a Polygon"):
        check_area(shapely.LineString([(0, 0), (1, 1)]), "x")
    bow = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    with pytest.raises(IncidentError, match="not valid"):
        check_area(bow, "x")


def test_organisations_from_a_layer_merge_by_code_and_name_the_bad_feature(compounds):
    frame = gpd.GeoDataFrame(
        {"code": ["A", "A", "B"], "name": ["物业甲", "物业甲", "环卫"],
         "kind": ["property_company", "property_company", "sanitation"],
         "categories": ["environment;parking", "environment;parking", "environment"],
         "accept": ["4wh", "4wh", None]},
        geometry=[compounds[0], compounds[1], shapely.box(*compounds[2].bounds)],
        crs="EPSG:4326")
    specs = organisations_from_frame(frame, RULES, "orgs.geojson")
    assert [s.code for s in specs] == ["A", "B"]
    assert len(specs[0].area.geoms) == 2 and specs[0].accept == Deadline(4, "working_hours")
    assert specs[1].accept == Deadline(1, "working_days")
    # the same in a projected CRS comes back in lon/lat
    again = organisations_from_frame(frame.to_crs(frame.estimate_utm_crs()), RULES)
    assert again[1].area.bounds == pytest.approx(specs[1].area.bounds, abs=1e-7)
    bad = frame.copy()
    bad.loc[2, "categories"] = "environment;graffiti"
    with pytest.raises(InputError) as err:
        organisations_from_frame(bad, RULES, "orgs.geojson")
    assert err.value.feature == "code=B" and "graffiti" in err.value.en
    assert "orgs.geojson" in err.value.zh
    clash = frame.copy()
    clash.loc[1, "name"] = "物业乙"
    with pytest.raises(InputError, match="disagree"):
        organisations_from_frame(clash, RULES)

