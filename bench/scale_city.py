"""Synthetic cities of 100,000 to 1,000,000+ buildings for the city-scale benchmark.

    python bench/scale_city.py 1000000 --seed 0          # -> /tmp/wangge-scale/city_1000000_s0.gpkg

A city is a grid of TILES: about ten distinct seeded synthetic districts
(``tests.synthetic.write_district_osm``, 10,000 buildings each, ~95 communities), each loaded
once with ``gis.study_area.load_study_area`` (households per building, communities) and
``gis.osm.read_osm`` (street, railway and waterway lines with their tags), then laid side by
side as translated copies (copy k uses tile k mod 10). Building ids, street ids and community
codes are renamed per copy so they are unique: a community code 320106002001 of copy 42 becomes
900042002001 (still 12 digits: "9" + 5-digit copy + the district's 3-digit street and 3-digit
community; grid codes add 3 digits to it). Tiles repeat, so the communities of copies of one
tile are the same problem and take the same work.

The output is one GeoPackage (WGS84, EPSG:4326) with layers ``buildings`` (building_id,
households, building, building:levels, geometry), ``communities`` (code, name, geometry) and
``streets`` (osm_id, highway, railway, waterway, name, bridge, tunnel, layer, geometry), written
copy by copy with ``pyogrio.write_dataframe(..., append=True)``: the generator holds the ten
tiles, never the city. ``communities`` and ``streets`` are also written to files of their own
(``city_N_sS.communities.gpkg``, ``.streets.gpkg``): gis.city_store.write_city_store reads the
first layer of a file and takes no layer name. A JSON sidecar (``<file>.json``) records the
totals the benchmark checks against. Cities are cached under /tmp/wangge-scale/ keyed by size
and seed (never in the repo).

Water areas (natural=water polygons) of the tiles are left out: the ``streets`` layer holds
lines only; river lines (waterway=river) and railways are kept, so barriers remain.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = Path(os.environ.get("WANGGE_SCALE_CACHE", "/tmp/wangge-scale"))
TILE_BUILDINGS = 10_000
N_TILES = 10
METRIC_CRS = "EPSG:32650"  # UTM 50N: the tiles' origin (118.78 E, 32.04 N) lies in it
TILE_GAP_M = 300.0  # open land between neighbouring copies, metres
SIDE_LAYERS = ("communities", "streets")  # also written to files of their own (layer_file)
STREET_COLUMNS = ["osm_id", "highway", "railway", "waterway", "name", "bridge", "tunnel",
                  "layer"]


@dataclass
class Tile:
    """One distinct district, in METRIC_CRS metres, ready to be copied."""

    seed: int
    buildings: gpd.GeoDataFrame  # building_id, households, building, building:levels
    communities: gpd.GeoDataFrame  # code, name
    streets: gpd.GeoDataFrame  # STREET_COLUMNS
    bounds: tuple[float, float, float, float]  # of all three layers, metres
    households_in_communities: int
    buildings_in_communities: int


def city_path(n_buildings: int, seed: int, cache: Path = CACHE) -> Path:
    """Where the city of ``n_buildings`` and ``seed`` is cached."""
    return cache / f"city_{n_buildings}_s{seed}.gpkg"


def layer_file(city: Path, layer: str) -> Path:
    """The single-layer copy of ``layer`` beside the city GeoPackage (write_city_store reads
    the first layer of a file and takes no layer name, so communities and streets are also
    written to files of their own)."""
    return city.with_name(f"{city.stem}.{layer}.gpkg")


def tile_seeds(seed: int, n_tiles: int = N_TILES) -> list[int]:
    """The district seeds of a city's tiles."""
    return [seed * 1000 + t for t in range(n_tiles)]


def load_tile(seed: int, n_buildings: int = TILE_BUILDINGS, cache: Path = CACHE) -> Tile:
    """Write (or reuse) the OSM file of one district and load it into a :class:`Tile`."""
    from gis.osm import read_osm
    from gis.study_area import load_study_area
    from tests.synthetic import write_district_osm

    folder = cache / "tiles"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"district_{n_buildings}_s{seed}.osm"
    if not path.exists():
        tmp = path.with_suffix(".tmp.osm")
        write_district_osm(tmp, n_buildings, seed=seed)
        tmp.replace(path)
    area = load_study_area(path, with_walk_graph=False)
    b = area.buildings.to_crs(METRIC_CRS)
    buildings = gpd.GeoDataFrame({
        "building_id": b["building_id"].astype(str),
        "households": b["households"].fillna(0).astype("int64"),
        "building": b["building"].astype(str),
        "building:levels": b["levels"],
    }, geometry=b.geometry.values, crs=METRIC_CRS)
    inside = b["community"].notna().to_numpy()
    communities = gpd.GeoDataFrame(
        {"code": area.communities["code"].astype(str), "name": area.communities["name"]},
        geometry=area.communities.to_crs(METRIC_CRS).geometry.values, crs=METRIC_CRS)
    bad = [c for c in communities["code"] if len(c) != 12 or not c.isdigit()]
    if bad or communities["code"].str[6:].duplicated().any():
        raise ValueError(f"tile seed {seed}: community codes are not 12 unique digits: {bad[:3]}")
    rows = []
    for way in read_osm(path).ways:
        t = way.tags
        if not any(k in t for k in ("highway", "railway", "waterway")) or t.get("area") == "yes":
            continue
        for run in way.runs:
            rows.append({"osm_id": f"w{way.osm_id}", **{c: t.get(c) for c in STREET_COLUMNS[1:]},
                         "geometry": shapely.LineString([(x, y) for _, x, y in run])})
    streets = gpd.GeoDataFrame(rows, columns=[*STREET_COLUMNS, "geometry"], geometry="geometry",
                               crs="EPSG:4326").to_crs(METRIC_CRS)
    bounds = np.array([frame.total_bounds for frame in (buildings, communities, streets)])
    box = (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
    return Tile(seed, buildings, communities, streets, tuple(float(v) for v in box),
                int(buildings.loc[inside, "households"].sum()), int(inside.sum()))


def _copy(tile: Tile, k: int, dx: float, dy: float) -> dict[str, gpd.GeoDataFrame]:
    """Copy ``k`` of ``tile`` moved by (dx, dy) metres, renamed, in WGS84."""
    prefix = f"9{k:05d}"
    b = tile.buildings.copy()
    b["building_id"] = f"c{k}-" + b["building_id"]
    c = tile.communities.copy()
    c["code"] = prefix + c["code"].str[6:]
    s = tile.streets.copy()
    s["osm_id"] = f"c{k}-" + s["osm_id"]
    out = {}
    for name, frame in (("buildings", b), ("communities", c), ("streets", s)):
        moved = shapely.transform(frame.geometry.values, lambda xy: xy + np.array([dx, dy]))
        out[name] = frame.set_geometry(gpd.GeoSeries(moved, index=frame.index,
                                                     crs=METRIC_CRS)).to_crs("EPSG:4326")
    return out


def generate_city(n_buildings: int, seed: int = 0, *, out: Path | None = None,
                  n_tiles: int = N_TILES, tile_buildings: int = TILE_BUILDINGS,
                  cache: Path = CACHE, progress=print) -> dict:
    """Write (or reuse from the cache) a city of ``n_buildings`` buildings; return its totals.

    ``n_buildings`` is rounded up to whole tiles of ``tile_buildings``. Copies are placed on a
    near-square grid, row by row from the south-west, ``TILE_GAP_M`` apart.
    """
    out = out or city_path(n_buildings, seed, cache)
    meta_path = Path(str(out) + ".json")
    sides = {layer: layer_file(out, layer) for layer in SIDE_LAYERS}
    if out.exists() and meta_path.exists() and all(p.exists() for p in sides.values()):
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return meta
    t0 = time.perf_counter()
    copies = math.ceil(n_buildings / tile_buildings)
    tiles = [load_tile(s, tile_buildings, cache) for s in tile_seeds(seed, min(n_tiles, copies))]
    t_tiles = time.perf_counter() - t0
    pitch_x = max(t.bounds[2] - t.bounds[0] for t in tiles) + TILE_GAP_M
    pitch_y = max(t.bounds[3] - t.bounds[1] for t in tiles) + TILE_GAP_M
    x0, y0 = tiles[0].bounds[0], tiles[0].bounds[1]
    cols = math.ceil(math.sqrt(copies))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".part.gpkg")
    side_tmp = {layer: p.with_name(p.stem + ".part.gpkg") for layer, p in sides.items()}
    for path in (tmp, *side_tmp.values()):
        path.unlink(missing_ok=True)
    totals = {"buildings": 0, "households": 0, "communities": 0, "streets": 0,
              "buildings_in_communities": 0, "households_in_communities": 0}
    for k in range(copies):
        tile = tiles[k % len(tiles)]
        row, col = divmod(k, cols)
        dx = x0 + col * pitch_x - tile.bounds[0]
        dy = y0 + row * pitch_y - tile.bounds[1]
        for layer, frame in _copy(tile, k, dx, dy).items():
            pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", append=k > 0)
            if layer in side_tmp:
                pyogrio.write_dataframe(frame, side_tmp[layer], layer=layer, driver="GPKG",
                                        append=k > 0)
            totals[layer] += len(frame)
        totals["households"] += int(tile.buildings["households"].sum())
        totals["households_in_communities"] += tile.households_in_communities
        totals["buildings_in_communities"] += tile.buildings_in_communities
        if progress and (k + 1) % 10 == 0:
            progress(f"  city {n_buildings}: {k + 1}/{copies} copies, "
                     f"{time.perf_counter() - t0:.0f} s")
    for layer, path in side_tmp.items():
        path.replace(sides[layer])
    tmp.replace(out)
    meta = {"path": str(out), **{f"{layer}_path": str(p) for layer, p in sides.items()},
            "n_buildings_requested": n_buildings, "seed": seed,
            "copies": copies, "distinct_tiles": len(tiles),
            "tile_seeds": [t.seed for t in tiles], "tile_buildings": tile_buildings,
            "grid": [math.ceil(copies / cols), cols],
            "extent_km": [round(cols * pitch_x / 1000, 1),
                          round(math.ceil(copies / cols) * pitch_y / 1000, 1)],
            "tiles_seconds": round(t_tiles, 1),
            "seconds": round(time.perf_counter() - t0, 1), **totals, "cached": False}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n_buildings", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    print(json.dumps(generate_city(args.n_buildings, args.seed, out=args.out), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
