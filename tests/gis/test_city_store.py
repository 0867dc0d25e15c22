"""The city store (gis.city_store): a study area streamed in batches into one GeoPackage keyed by
community, and read back one community at a time exactly as the whole-area load gives it."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import gis.city_store as city_store
from gis.city_store import (
    STREET_MARGIN_M,
    is_city_store,
    read_community,
    store_communities,
    store_meta,
    write_city_store,
)
from gis.communities import WHOLE_AREA_CODE
from gis.errors import ArgumentError, InputError
from gis.osm_stream import osm_batches, read_relations
from gis.study_area import load_study_area
from tests.synthetic.district import write_district_osm

N_BUILDINGS = 700


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("city") / "district.osm"
    write_district_osm(path, N_BUILDINGS, seed=5)
    return path


@pytest.fixture(scope="module")
def whole(district):
    """The whole-area load the store must agree with."""
    return load_study_area(district, with_walk_graph=False)


@pytest.fixture(scope="module")
def store(district, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store") / "city.gpkg"
    write_city_store(district, out, batch_size=250)
    return out


def _codes(area) -> list[str]:
    counts = area.buildings["community"].value_counts()
    return [*counts.index[:2], counts.index[-1]]


def _same(a: pd.Series, b: pd.Series) -> None:
    """Equal values, nulls (None, NaN) alike, whatever the dtype (str or object)."""
    a, b = a.astype(object), b.astype(object)
    pd.testing.assert_series_equal(a.where(a.notna(), None), b.where(b.notna(), None),
                                   check_names=False)


def test_osm_round_trip_matches_whole_load(store, whole):
    assert is_city_store(store)
    meta = store_meta(store)
    assert meta["crs"] == whole.crs.to_string()
    assert meta["attribution"] == whole.attribution
    comm = store_communities(store)
    assert comm.crs.to_epsg() == 4326
    assert sorted(comm["code"]) == sorted(whole.communities["code"])
    b = whole.buildings
    resid = b["residential"]
    expected = b[resid].groupby("community")["households"].sum()
    got = comm.set_index("code")["households"]
    assert (got.reindex(expected.index) == expected).all()
    assert (comm.set_index("code")["buildings"].reindex(expected.index)
            == b.groupby("community").size().reindex(expected.index)).all()
    assert meta["counts"]["buildings"] == len(b)
    assert meta["counts"]["households"] == int(b.loc[resid, "households"].sum())

    for code in _codes(whole):
        area = read_community(store, code)
        assert area.crs == whole.crs
        mine = b[b["community"] == code].reset_index(drop=True)
        got_b = area.buildings
        assert list(got_b["building_id"]) == list(mine["building_id"])
        assert set(mine.columns) == set(got_b.columns)
        for col in mine.columns.drop("geometry"):
            _same(got_b[col], mine[col])
        assert (got_b.geometry.values == mine.geometry.values).all()  # bit for bit
        zone = whole.communities.set_index("code").geometry[code].buffer(STREET_MARGIN_M)
        near = whole.street_lines[whole.street_lines.intersects(zone)]
        assert list(area.street_lines["osm_id"]) == list(near["osm_id"])
        near_b = whole.barriers[whole.barriers.intersects(zone)]
        assert list(area.barriers["osm_id"]) == list(near_b["osm_id"])
        assert len(area.communities) == 1 and area.streets.number_of_edges() == 0


def test_a_community_plans_as_in_the_whole_area(store, whole):
    from partition.plan import make_plan

    full = make_plan(whole, workers=1).buildings.set_index("building_id")["grid_id"]
    for code in _codes(whole)[:2]:
        part = make_plan(read_community(store, code), workers=1)
        grids = part.buildings.set_index("building_id")["grid_id"]
        assert grids.notna().all() and grids.nunique() > 1
        assert (full.reindex(grids.index).astype(str) == grids.astype(str)).all(), code


def test_no_batch_holds_more_than_batch_size(district, tmp_path, monkeypatch):
    written: list[tuple[str, int]] = []
    real = city_store._append

    def counting(path, layer, gdf, *, append):
        written.append((layer, len(gdf)))
        real(path, layer, gdf, append=append)

    monkeypatch.setattr(city_store, "_append", counting)
    summary = write_city_store(district, tmp_path / "s.gpkg", batch_size=100)
    sizes = [n for layer, n in written if layer == "buildings"]
    assert max(sizes) <= 100
    assert sum(sizes) == summary["buildings"] == N_BUILDINGS
    assert len(sizes) >= N_BUILDINGS // 100
    features = []
    for batch in osm_batches(district, read_relations(district), batch_size=100):
        features.append(len(batch.ways) + len(batch.areas))
    assert max(features) <= 100 and len(features) > 1


def _vector_inputs(whole, folder: Path) -> tuple[Path, Path, Path]:
    """The whole load's buildings, communities and lines written as vector files, the lines
    with OSM-like columns: every street line (highway), railways and waterways, and the water
    polygons (natural=water)."""
    raw = whole.buildings.to_crs("EPSG:4326")[
        ["building_id", "building", "name", "levels", "height", "flats", "geometry"]]
    buildings = folder / "buildings.gpkg"
    raw.rename(columns={"levels": "building:levels", "flats": "building:flats"}).to_file(
        buildings, driver="GPKG")
    comm = folder / "communities.gpkg"
    whole.communities.to_crs("EPSG:4326").to_file(comm, driver="GPKG")
    bars = whole.barriers.to_crs("EPSG:4326")
    rows = []
    for kind, osm_id, value, name, geom in zip(bars["kind"], bars["osm_id"], bars["type"],
                                               bars["name"], bars.geometry, strict=True):
        if kind == "road":
            continue  # a street line below
        tags = {kind: value} if kind != "water" else {"natural": "water"}
        rows.append({"osm_id": osm_id, "name": name, **tags, "geometry": geom})
    streets = whole.street_lines.to_crs("EPSG:4326")
    rows += [{"osm_id": i, "name": n, "highway": h, "geometry": g} for i, h, n, g in
             zip(streets["osm_id"], streets["highway"], streets["name"], streets.geometry,
                 strict=True)]
    lines = folder / "lines.gpkg"
    gpd.GeoDataFrame(rows, crs="EPSG:4326").to_file(lines, driver="GPKG")
    return buildings, comm, lines


def test_vector_input_round_trip(whole, district, tmp_path):
    buildings, comm, lines = _vector_inputs(whole, tmp_path)
    out = tmp_path / "v.gpkg"
    summary = write_city_store(buildings, out, communities=comm, streets=district,
                               batch_size=200)
    assert summary["batches"] >= N_BUILDINGS // 200
    ref = load_study_area(buildings, communities=comm, streets=district,
                          with_walk_graph=False)
    code = _codes(ref)[0]
    area = read_community(out, code)
    mine = ref.buildings[ref.buildings["community"] == code].reset_index(drop=True)
    assert list(area.buildings["building_id"]) == list(mine["building_id"])
    assert (area.buildings["households"] == mine["households"]).all()
    assert (area.buildings["residential"] == mine["residential"]).all()
    from_osm = area

    # Streets and barriers from a vector file of lines with OSM-like columns.
    out2 = tmp_path / "v2.gpkg"
    write_city_store(buildings, out2, communities=comm, streets=lines, batch_size=200)
    from_lines = read_community(out2, code)
    assert sorted(from_lines.barriers["osm_id"].str.lstrip("wr")) == sorted(
        from_osm.barriers["osm_id"].str.lstrip("wr"))
    assert sorted(from_lines.barriers["kind"]) == sorted(from_osm.barriers["kind"])
    assert len(from_lines.street_lines) == len(from_osm.street_lines)


def test_without_communities_one_covers_all(whole, tmp_path):
    buildings, _, _ = _vector_inputs(whole, tmp_path)
    out = tmp_path / "w.gpkg"
    summary = write_city_store(buildings, out, batch_size=150)
    ref = load_study_area(buildings, with_walk_graph=False)
    comm = store_communities(out)
    assert list(comm["code"]) == [WHOLE_AREA_CODE]
    assert summary["buildings_outside_communities"] == 0
    assert comm.at[0, "buildings"] == len(ref.buildings)
    # the hull of the batches' hulls is the hull of all buildings
    mine = comm.to_crs(ref.crs).geometry[0]
    theirs = ref.communities.geometry.iloc[0]
    assert shapely.symmetric_difference(mine, theirs).area < 1e-6 * theirs.area
    area = read_community(out, WHOLE_AREA_CODE)
    assert len(area.buildings) == len(ref.buildings)


def test_bad_input_writes_nothing(whole, tmp_path):
    buildings, comm, _ = _vector_inputs(whole, tmp_path)
    gdf = pyogrio.read_dataframe(buildings)
    gdf.loc[len(gdf) - 1, "building_id"] = gdf.loc[0, "building_id"]  # in another batch
    dup = tmp_path / "dup.gpkg"
    gdf.to_file(dup, driver="GPKG")
    out = tmp_path / "out" / "s.gpkg"
    with pytest.raises(InputError, match="occur more than once") as err:
        write_city_store(dup, out, communities=comm, batch_size=100)
    assert err.value.feature == f"building_id={gdf.loc[0, 'building_id']}"
    assert not out.exists() and list(out.parent.iterdir()) == []

    bad = gdf.drop_duplicates("building_id").copy()
    bad.loc[bad.index[-1], "geometry"] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    bowtie = tmp_path / "bowtie.gpkg"
    bad.to_file(bowtie, driver="GPKG")
    with pytest.raises(InputError, match="invalid"):
        write_city_store(bowtie, out, communities=comm, batch_size=100, invalid="reject")
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_store_errors(store, tmp_path):
    with pytest.raises(ArgumentError, match="no community"):
        read_community(store, "999")
    plain = tmp_path / "plain.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326).to_file(plain)
    assert not is_city_store(plain)
    with pytest.raises(InputError, match="not a city store"):
        read_community(plain, "x")
    sheet = tmp_path / "x.xlsx"
    sheet.write_text("x")
    with pytest.raises(InputError, match="unknown file format"):
        write_city_store(sheet, tmp_path / "s.gpkg")
    assert not (tmp_path / "s.gpkg").exists()


def test_pbf_gives_the_same_store(district, store, tmp_path):
    import osmium

    pbf = tmp_path / "district.osm.pbf"
    writer = osmium.SimpleWriter(str(pbf))
    for obj in osmium.FileProcessor(str(district)):
        writer.add(obj)
    writer.close()
    out = tmp_path / "pbf.gpkg"
    write_city_store(pbf, out, batch_size=300)
    a, b = store_communities(out), store_communities(store)
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    code = a["code"].iloc[0]
    x, y = read_community(out, code), read_community(store, code)
    assert list(x.buildings["building_id"]) == list(y.buildings["building_id"])
    assert (x.buildings.geometry.values == y.buildings.geometry.values).all()
    assert list(x.street_lines["osm_id"]) == list(y.street_lines["osm_id"])


def test_buildings_outside_communities(whole, tmp_path):
    buildings, comm, _ = _vector_inputs(whole, tmp_path)
    some = gpd.read_file(comm).iloc[::2]
    half = tmp_path / "half.gpkg"
    some.to_file(half, driver="GPKG")
    outside = int((~whole.buildings["community"].isin(some["code"])).sum())
    assert outside > 0
    kept = write_city_store(buildings, tmp_path / "k.gpkg", communities=half, batch_size=200)
    assert kept["buildings_outside_communities"] == outside
    assert kept["buildings"] == len(whole.buildings)
    nulls = pyogrio.read_dataframe(tmp_path / "k.gpkg", layer="buildings",
                                   where="community IS NULL", read_geometry=False)
    assert len(nulls) == outside
    dropped = write_city_store(buildings, tmp_path / "d.gpkg", communities=half,
                               batch_size=200, keep_outside=False)
    assert dropped["buildings_outside_communities"] == outside
    assert dropped["buildings"] == len(whole.buildings) - outside
    assert store_communities(tmp_path / "d.gpkg")["buildings"].sum() == dropped["buildings"]


def test_real_osm_extract_round_trip(nanjing_path, tmp_path):
    """Real OSM (Nanjing: multipolygon buildings, relations cut at the extract's edge, no
    communities: the whole area as one) gives the load's buildings, streets and barriers."""
    whole = load_study_area(nanjing_path, with_walk_graph=False)
    steps: list[str] = []
    out = tmp_path / "nanjing.gpkg"
    summary = write_city_store(nanjing_path, out, batch_size=400, progress=steps.append)
    assert sum(s.startswith("建筑 buildings") for s in steps) >= len(whole.buildings) // 400
    assert any("relations with members outside the file" in r for r in summary["repairs"])
    area = read_community(out, WHOLE_AREA_CODE)
    assert area.crs == whole.crs
    assert list(area.buildings["building_id"]) == list(whole.buildings["building_id"])
    assert (area.buildings.geometry.values == whole.buildings.geometry.values).all()
    assert (area.buildings["households"].values == whole.buildings["households"].values).all()
    assert list(area.street_lines["osm_id"]) == list(whole.street_lines["osm_id"])
    assert list(area.barriers["osm_id"]) == list(whole.barriers["osm_id"])
    assert area.attribution == whole.attribution
    assert store_communities(out).geometry[0].equals_exact(
        whole.communities.to_crs("EPSG:4326").geometry.iloc[0], 1e-9)


def test_households_csv_across_batches(district, whole, tmp_path):
    """CSV households join in every batch; rows matching no building are counted once."""
    from gis.households import HouseholdOptions

    ids = [*whole.buildings["building_id"][::3], "nope1", "nope2"]
    csv = tmp_path / "hh.csv"
    pd.DataFrame({"building_id": ids, "households": range(len(ids))}).to_csv(csv, index=False)
    opts = HouseholdOptions(csv_path=str(csv))
    ref = load_study_area(district, with_walk_graph=False, households=opts).summary()
    summary = write_city_store(district, tmp_path / "hh.gpkg", households=opts, batch_size=200)
    assert summary["households"] == ref["households"]
    unmatched = [r for r in summary["repairs"] if "matches no building" in r]
    assert unmatched == [r for r in ref["repairs"] if "matches no building" in r]
    assert ": 2 (e.g. nope1, nope2)" in unmatched[0]


def test_extent_without_header_bounds(district, whole, tmp_path):
    """An OSM file without <bounds>: the extent (for the whole-area fallback's CRS) is that of
    its buildings, found in the second pass."""
    from gis.osm_stream import osm_context

    bare = tmp_path / "bare.osm"
    with district.open(encoding="utf-8") as src, bare.open("w", encoding="utf-8") as dst:
        dst.writelines(line for line in src if "<bounds" not in line)
    context = osm_context(bare, read_relations(bare))
    expected = whole.buildings.to_crs("EPSG:4326").total_bounds
    assert context.bounds == pytest.approx(tuple(expected), abs=1e-9)
    assert len(context.communities) == len(whole.communities)


def test_community_without_buildings(whole, tmp_path):
    _, comm, _ = _vector_inputs(whole, tmp_path)
    polys = gpd.read_file(comm)
    far = polys.iloc[[0]].copy()
    far["code"], far["name"] = "999", "empty"
    far["geometry"] = far.translate(0.5, 0.0).geometry  # half a degree east: no buildings
    more = tmp_path / "more.gpkg"
    pd.concat([polys, far]).to_file(more, driver="GPKG")
    buildings, _, _ = _vector_inputs(whole, tmp_path)
    out = tmp_path / "e.gpkg"
    write_city_store(buildings, out, communities=more, batch_size=300)
    assert store_communities(out).set_index("code").at["999", "buildings"] == 0
    area = read_community(out, "999")
    assert area.buildings.empty and "households" in area.buildings.columns
    assert area.street_lines.empty and len(area.communities) == 1


def test_population_raster_across_batches(district, whole, tmp_path):
    """A raster cell's people are shared by its residential buildings in every batch: the
    store's households are the whole load's (a second pass over the store)."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from gis.households import HouseholdOptions

    minx, miny, maxx, maxy = whole.buildings.total_bounds
    size = 250.0  # m: cells hold buildings of several batches
    width = int((maxx - minx) * 0.6 // size) + 1  # the east of the district lies outside
    height = int((maxy - miny) // size) + 1
    tif = tmp_path / "pop.tif"
    data = np.random.default_rng(1).uniform(0, 3000, (height, width)).astype("float32")
    with rasterio.open(tif, "w", driver="GTiff", height=height, width=width, count=1,
                       dtype="float32", crs=whole.crs,
                       transform=from_origin(minx, maxy, size, size)) as dst:
        dst.write(data, 1)
    opts = HouseholdOptions(raster_path=str(tif))
    ref = load_study_area(district, with_walk_graph=False, households=opts)
    summary = write_city_store(district, tmp_path / "r.gpkg", households=opts, batch_size=150)
    by_id = ref.buildings.set_index("building_id")
    sources = by_id["households_source"].value_counts()
    assert sources["raster"] > 20 and sources["estimated"] > 20  # both, in the test data
    for code in _codes(ref):
        got = read_community(tmp_path / "r.gpkg", code).buildings.set_index("building_id")
        want = by_id[by_id["community"] == code]
        assert (got["households"] == want["households"]).all()
        _same(got["households_source"], want["households_source"])
        assert np.allclose(got["population"], want["population"])
    assert summary["households"] == ref.summary()["households"]
    placed = [r for r in summary["repairs"] if "not placed" in r]
    assert placed == [r for r in ref.summary()["repairs"] if "not placed" in r]
    with sqlite3.connect(tmp_path / "r.gpkg") as con:  # the working table is gone
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
    assert "buildings" in tables and city_store.RASTER_TABLE not in tables


@pytest.fixture
def postgis_db():
    """An empty PostGIS database of its own (see tests/api/conftest.py)."""
    from tests.api.conftest import drop_postgis_database, make_postgis_database

    server = os.environ.get("WANGGE_TEST_POSTGIS_URL")
    if not server:
        if os.environ.get("WANGGE_REQUIRE_POSTGIS") == "1":
            pytest.fail("PostGIS required (WANGGE_REQUIRE_POSTGIS=1): WANGGE_TEST_POSTGIS_URL")
        pytest.skip("PostGIS tests skipped: WANGGE_TEST_POSTGIS_URL is not set")
    url = make_postgis_database(server)
    yield url
    drop_postgis_database(server, url)


def test_postgis_tables_give_the_same_store(whole, postgis_db, tmp_path):
    """Buildings (in a metric CRS, with a primary key), communities and street lines read
    from PostGIS tables in batches store what the same data gives from files."""
    from sqlalchemy import create_engine, text

    buildings, comm, lines = _vector_inputs(whole, tmp_path)
    engine = create_engine(postgis_db)
    raw = pyogrio.read_dataframe(buildings)
    raw.to_crs(whole.crs).rename_geometry("footprint").to_postgis(
        "footprints", engine, schema="public")
    pyogrio.read_dataframe(comm).rename_geometry("geom").to_postgis("communities", engine)
    pyogrio.read_dataframe(lines).rename_geometry("geom").to_postgis("lines", engine)
    with engine.begin() as conn:
        conn.execute(text('ALTER TABLE footprints ADD PRIMARY KEY ("building_id")'))
    engine.dispose()

    from_files = write_city_store(buildings, tmp_path / "f.gpkg", communities=comm,
                                  streets=lines, batch_size=200)
    summary = write_city_store(f"{postgis_db}?table=public.footprints", tmp_path / "p.gpkg",
                               communities=f"{postgis_db}?table=communities",
                               streets=f"{postgis_db}?table=lines", batch_size=200)
    assert summary["batches"] >= N_BUILDINGS // 200
    for key in ("buildings", "households", "residential", "communities", "street_rows",
                "barrier_rows", "buildings_outside_communities"):
        assert summary[key] == from_files[key], key
    assert summary["source"].endswith("?table=public.footprints")
    a, b = store_communities(tmp_path / "f.gpkg"), store_communities(tmp_path / "p.gpkg")
    assert list(a["code"]) == list(b["code"])
    assert list(a["households"]) == list(b["households"])
    code = _codes(whole)[0]
    mine, theirs = read_community(tmp_path / "p.gpkg", code), read_community(
        tmp_path / "f.gpkg", code)
    assert sorted(mine.buildings["building_id"]) == sorted(theirs.buildings["building_id"])
    assert list(mine.street_lines["osm_id"]) == list(theirs.street_lines["osm_id"])


def test_postgis_source_errors_name_the_table(postgis_db, tmp_path):
    from gis.postgis_source import parse_source, read_table_batches

    out = tmp_path / "s.gpkg"
    with pytest.raises(ArgumentError, match="needs its table"):
        write_city_store(postgis_db, out)
    with pytest.raises(InputError, match="no such geometry table") as err:
        write_city_store(f"{postgis_db}?table=nowhere", out)
    assert "?table=public.nowhere" in str(err.value)
    assert not out.exists()
    secret = parse_source("postgresql://u:s3cret@127.0.0.1:1/x?table=b")
    with pytest.raises(InputError, match="cannot read the database") as err:
        next(read_table_batches(secret))
    assert "s3cret" not in str(err.value) and "127.0.0.1:1/x?table=public.b" in str(err.value)
