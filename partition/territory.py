"""Territory: the ground each building stands for, so that grids cover their community.

A community is first cut along barriers (arterial roads, railways, waterways, the shores of
water areas) into *regions*: no region crosses a barrier or a community boundary. Within each
region a morphological tessellation (as momepy's: a Voronoi diagram of points along the building
outlines, dissolved by building) gives every building a *cell*; the cells of a region cover it
without gaps or overlaps, streets included, and the boundary between the cells of buildings on
opposite sides of a street runs along the street. All geometry is in the study area's metric CRS
(metres).
"""

from __future__ import annotations

from collections.abc import Hashable

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
import shapely.affinity
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

from gis.barriers import barrier_lines
from partition.parallel import map_forked

# Outline sample spacing (at least, metres), points per outline and inward shrink (momepy
# uses 0.4 m shrink and 0.5 m segments; this is enough for slab blocks and far faster).
SEGMENT_M = 3.0
POINTS_PER_OUTLINE = 16
SHRINK_M = 0.4
MIN_REGION_M2 = 1.0

# A building's tessellation cell and the building it shares it with (a twin), or None.
Cell = tuple[BaseGeometry, Hashable | None]


def community_regions(
    communities: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    """Cut communities along barriers.

    Args:
        communities: ``code`` and polygon, metric CRS.
        barriers: ``kind`` and line / polygon geometry (gis.barriers), same CRS.

    Returns:
        Regions with ``region`` (int id), ``community`` (code) and polygon. Water areas become
        regions of their own (they hold no buildings).
    """
    lines = list(barrier_lines(barriers.geometry)) if len(barriers) else []
    rows = []
    barrier_index = shapely.STRtree(lines) if lines else None
    for code, poly in zip(communities["code"], communities.geometry, strict=True):
        if barrier_index is None:
            parts = list(getattr(poly, "geoms", [poly]))
        else:
            # The barriers that meet the community, in an order of their own (WKB): the same
            # regions whichever other barriers the area holds, in whatever order.
            near = sorted((lines[i] for i in barrier_index.query(poly, predicate="intersects")),
                          key=shapely.to_wkb)
            parts = split_polygon(poly, near)
        # Normalised and in the order of their WKB: a community's regions (their vertices,
        # their numbering, all that follows from them) do not depend on how GEOS ordered them.
        kept = shapely.normalize(np.array([p for p in parts if p.area >= MIN_REGION_M2],
                                          dtype=object))
        for part in sorted(kept, key=shapely.to_wkb):
            rows.append({"community": code, "geometry": part})
    regions = gpd.GeoDataFrame(rows, columns=["community", "geometry"], geometry="geometry",
                               crs=communities.crs)
    regions.insert(0, "region", np.arange(len(regions)))
    return regions


def split_polygon(poly: BaseGeometry, lines: list[BaseGeometry]) -> list[BaseGeometry]:
    """The faces of ``poly`` cut by ``lines`` (lines that end inside it cut nothing)."""
    try:
        return _faces(poly, lines)
    except shapely.errors.GEOSException:
        # Topology GEOS cannot node: cut along the lines snapped to 1 mm.
        return _faces(shapely.set_precision(poly, 0.001),
                      [shapely.set_precision(line, 0.001) for line in lines])


def _faces(poly: BaseGeometry, lines: list[BaseGeometry]) -> list[BaseGeometry]:
    if not lines:
        return list(getattr(poly, "geoms", [poly]))
    clipped = shapely.intersection(np.array(lines, dtype=object), poly)
    noded = unary_union([shapely.boundary(poly), *clipped])
    faces: list[BaseGeometry] = [f for f in polygonize(noded)
                                 if poly.contains(f.representative_point())]
    return faces or [poly]


def _outline_points(
    footprints: npt.NDArray[np.object_], region: BaseGeometry
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Points along the (slightly shrunk) outlines of ``footprints`` inside ``region``, and
    the index of the footprint each belongs to. About POINTS_PER_OUTLINE points an outline,
    never sparser than SEGMENT_M nor denser than needed."""
    shapely.prepare(region)
    inside = shapely.contains_properly(region, footprints)
    parts = footprints.copy()
    parts[~inside] = shapely.intersection(footprints[~inside], region)
    parts = np.where(shapely.is_empty(parts), footprints, parts)
    small = shapely.buffer(parts, -SHRINK_M)
    small = np.where(shapely.is_empty(small) | (shapely.area(parts) < 40 * SHRINK_M**2),
                     parts, small)
    step = np.maximum(SEGMENT_M, shapely.length(small) / POINTS_PER_OUTLINE)
    outlines = shapely.segmentize(shapely.boundary(small), step)
    coords, owner = shapely.get_coordinates(outlines, return_index=True)
    # A footprint whose outline vanished still needs one site.
    missing = np.setdiff1d(np.arange(len(footprints)), owner)
    if len(missing):
        extra = shapely.get_coordinates(shapely.point_on_surface(footprints[missing]))
        coords = np.vstack([coords, extra])
        owner = np.concatenate([owner, missing])
    return coords, owner


def tessellate(buildings: gpd.GeoDataFrame, regions: gpd.GeoDataFrame,
               workers: int = 1) -> gpd.GeoDataFrame:
    """Morphological tessellation of ``buildings`` within ``regions`` (both metric CRS).

    Each building belongs to the region holding its representative point; its cell is the part
    of that region closer to its outline than to any other building's outline. Regions are
    tessellated in ``workers`` processes (partition.parallel).

    Returns:
        Cells indexed like ``buildings``, with ``region``, ``twin`` (for a footprint mapped
        twice or overlapping another so that its point lies in the other's cell: that
        building, to be divided with it as one; else None) and polygon. Regions holding no
        building produce no cell.
    """
    reps = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point(),
                            crs=buildings.crs)
    joined = reps.sjoin(regions[["region", "geometry"]], predicate="within", how="left")
    region_of = joined[~joined.index.duplicated()]["region"]
    missing = region_of.isna()
    if missing.any():  # on a region edge: take the nearest region
        near = reps[missing].sjoin_nearest(regions[["region", "geometry"]], how="left")
        region_of[missing] = near[~near.index.duplicated()]["region"]
    region_of = region_of.astype(int)

    region_geom = dict(zip(regions["region"], regions.geometry, strict=True))
    tasks = sorted(((region_id, members.index) for region_id, members
                    in region_of.groupby(region_of)), key=lambda task: -len(task[1]))
    cells: dict[Hashable, Cell] = {}
    for part in map_forked(_region_task, tasks, workers, footprints=buildings.geometry,
                           regions=region_geom):
        cells.update(part)
    found = pd.Series(cells).reindex(buildings.index)
    return gpd.GeoDataFrame({"region": region_of, "twin": [c[1] for c in found]},
                            geometry=[c[0] for c in found], crs=buildings.crs,
                            index=buildings.index)


def _region_task(task: tuple[int, pd.Index], *, footprints: gpd.GeoSeries,
                 regions: dict[int, BaseGeometry]) -> dict[Hashable, Cell]:
    """Building -> (cell, twin or None) for one region's buildings. Should the outline
    tessellation meet topology GEOS cannot handle, the region is tessellated from one point
    per building instead (coarser cells, same guarantees)."""
    region_id, idx = task
    if len(idx) == 1:
        return {idx[0]: (regions[region_id], None)}
    try:
        return _region_cells(footprints.loc[idx], regions[region_id])
    except shapely.errors.GEOSException:
        return _point_cells(footprints.loc[idx], regions[region_id])


def _point_cells(footprints: gpd.GeoSeries, region: BaseGeometry) -> dict[Hashable, Cell]:
    """Cells of a region from one point per building (Voronoi, clipped, repaired); buildings
    sharing a point share the first one's cell, as twins."""
    region = shapely.make_valid(region)
    points = shapely.point_on_surface(shapely.make_valid(footprints.values))
    xy = np.round(shapely.get_coordinates(points), 3)
    _, first, inverse = np.unique(xy, axis=0, return_index=True, return_inverse=True)
    keys = footprints.index.to_numpy()
    sites = shapely.MultiPoint(xy[first])
    voronoi = shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=region))
    tree = shapely.STRtree(voronoi)
    cell_of_site: dict[int, BaseGeometry] = {}
    for j, site in enumerate(shapely.get_parts(sites)):
        poly = voronoi[tree.query(site, predicate="intersects")[0]]
        cell_of_site[j] = polygonal(shapely.intersection(shapely.make_valid(poly), region,
                                                          grid_size=0.001))
    out: dict[Hashable, Cell] = {}
    for i, key in enumerate(keys):
        site = inverse.ravel()[i]
        owner = keys[first[site]]
        out[key] = (cell_of_site[site], None if owner == key else owner)
    return out


def _region_cells(footprints: gpd.GeoSeries, region: BaseGeometry) -> dict[Hashable, Cell]:
    """Cells of the buildings of one region: Voronoi of outline points, dissolved."""
    points, index = _outline_points(footprints.values, region)
    owner = footprints.index.to_numpy()[index]
    # Drop repeated points (shared walls): Voronoi needs distinct sites.
    owner = np.asarray(owner, dtype=object)
    _, first, inverse = np.unique(np.round(points, 3), axis=0, return_index=True,
                                  return_inverse=True)
    twins = _twins(owner, owner[first][inverse.ravel()])
    first.sort()
    points, owner = points[first], owner[first]
    # Work near the origin: Voronoi in UTM coordinates (millions of metres) loses precision.
    x0, y0 = region.centroid.x, region.centroid.y
    local_region = shapely.affinity.translate(region, -x0, -y0)
    voronoi = shapely.voronoi_polygons(shapely.MultiPoint(points - [x0, y0]),
                                       extend_to=local_region, ordered=True)
    polys = shapely.get_parts(voronoi)
    # Clip to the region only the polygons that reach outside it.
    shapely.prepare(local_region)
    outside = ~shapely.contains_properly(local_region, polys)
    polys[outside] = shapely.intersection(polys[outside], local_region)
    # Group the Voronoi polygons by building without pandas' per-group overhead.
    codes, keys = pd.factorize(owner)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    local_cells = np.array([polygonal(dissolve(polys[members]))
                            for members in np.split(order, bounds)], dtype=object)
    local_feet = shapely.transform(footprints.reindex(keys).values, lambda xy: xy - [x0, y0])
    local_cells = _single_part_cells(local_cells, local_feet)
    offset = np.array([x0, y0])
    cells = dict(zip(keys, shapely.transform(local_cells, lambda xy: xy + offset),
                     strict=True))
    for twin, partner in twins.items():
        cells[twin] = cells[partner]
    twins.update(_overlapping(cells, footprints, twins))
    return {key: (cell, twins.get(key)) for key, cell in cells.items()}


WALL_GAP = 0.5  # metres: footprints nearer than this share a wall


def _overlapping(cells: dict[Hashable, BaseGeometry], footprints: gpd.GeoSeries,
                 twins: dict[Hashable, Hashable]) -> dict[Hashable, Hashable]:
    """Buildings whose own point lies in another building's cell (footprints overlapping
    each other, as when a building is mapped twice a little apart): building -> that other
    building, so that they are divided as one and each lies in its grid."""
    keys = [k for k in cells if k not in twins]
    polys = np.array([cells[k] for k in keys], dtype=object)
    points = shapely.point_on_surface(footprints.reindex(keys).values)
    inside = shapely.contains(polys, points) | shapely.is_empty(polys)
    out: dict[Hashable, Hashable] = {}
    if inside.all():
        return out
    tree = shapely.STRtree(polys)
    feet = footprints.reindex(keys).values
    for i in np.flatnonzero(~inside):
        # Only a footprint the other's overlaps or shares a wall with (no road between
        # them): dividing one as one with a building across a road would join them across
        # it (a window of the Nanjing extract: a 12,600 m2 footprint across a primary road,
        # its point in the cell of a tower 4 m away over the road, took 18 buildings into
        # that grid); one whose walls the buildings round it share has its point in their
        # cells (a Helsinki block) and lies in its grid only as their twin.
        hits = [j for j in tree.query(points[i], predicate="intersects")
                if j != i and shapely.dwithin(feet[i], feet[j], WALL_GAP)]
        if hits:
            out[keys[i]] = keys[hits[0]]
    return out


def _twins(owner: npt.NDArray[np.object_],
           kept_owner: npt.NDArray[np.object_]) -> dict[Hashable, Hashable]:
    """Buildings all of whose outline points another building has too (a footprint mapped
    twice): building -> the building that keeps those points. They share its cell and are
    divided as one (partition.groups)."""
    kept = set(kept_owner)
    out: dict[Hashable, Hashable] = {}
    for i, building in enumerate(owner):
        if building not in kept and building not in out:
            out[building] = kept_owner[i]
    return out


def _single_part_cells(cells: npt.NDArray[np.object_],
                       footprints: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Cells in one piece each: a cell that a concave region (or a footprint across its edge)
    left in several parts keeps the part holding most of its footprint; every other part
    joins the cell it shares the longest boundary with (rounds, as parts may touch only other
    parts). Cells of one region share exact edges, so the unions are clean."""
    cells = cells.copy()
    loose: list[BaseGeometry] = []
    for i, cell in enumerate(cells):
        parts = shapely.get_parts(cell)
        if len(parts) < 2:
            continue
        held = shapely.area(shapely.intersection(parts, footprints[i]))
        near = -shapely.distance(parts, footprints[i])
        main = int(np.lexsort((near, held))[-1])
        cells[i] = parts[main]
        loose += [p for j, p in enumerate(parts) if j != main]
    for _round in range(5):
        if not loose:
            break
        tree = shapely.STRtree(cells)
        joined: dict[int, list[BaseGeometry]] = {}
        waiting = []
        for part in loose:
            hits = tree.query(part, predicate="intersects")
            shared = shapely.length(shapely.intersection(part.boundary,
                                                         shapely.boundary(cells[hits])))
            if len(hits) and shared.max() > 0:
                joined.setdefault(int(hits[int(np.argmax(shared))]), []).append(part)
            else:
                waiting.append(part)
        for i, extra in joined.items():
            cells[i] = _largest(dissolve(np.array([cells[i], *extra], dtype=object)))
        loose = waiting
    return cells


def _largest(geom: BaseGeometry) -> BaseGeometry:
    """The largest polygon of ``geom``."""
    parts = [p for p in shapely.get_parts(polygonal(geom)) if p.area > 0]
    return max(parts, key=lambda p: p.area) if parts else geom


def dissolve(polys: npt.NDArray[np.object_]) -> BaseGeometry:
    """Union of polygons that tile without overlaps: a fast coverage union when the edges
    match exactly (cells of one region) and the result is valid, else a union snapped to
    1 mm, else one of the repaired polygons; never raises on real-world topology."""
    try:
        merged = shapely.coverage_union_all(polys)
        if shapely.is_valid(merged):
            return merged
    except shapely.errors.GEOSException:
        pass
    for grid in (0.001, 0.01):
        try:
            return shapely.union_all(polys, grid_size=grid)
        except shapely.errors.GEOSException:
            continue
    fixed = shapely.make_valid(np.asarray(polys, dtype=object))
    try:
        return shapely.union_all(fixed)
    except shapely.errors.GEOSException:
        # The buffer-union: slower, and it rounds corners by nothing, but GEOS's buffer
        # builds its result from scratch and does not fail on bad noding.
        return shapely.buffer(shapely.GeometryCollection(list(fixed)), 0)


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygons of ``geom`` (lines and points of a geometry collection dropped)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()
