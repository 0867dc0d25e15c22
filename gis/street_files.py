"""Streets from a vector line file (GeoJSON, GeoPackage, Shapefile, zipped Shapefile, or a
PostGIS table for the city store), as the OSM ways the rest of gis/ reads.

Street offices often hold building outlines and road centre lines from a survey or a map
vendor, with no OSM file. The lines become :class:`gis.osm.OsmWay` s, so the walk graph
(gis.streets), the street lines the partition follows and the barriers (gis.barriers) come
from them as from OSM. All geometry in EPSG:4326 lon/lat.

A line's non-empty columns are its tags (OSM-like columns: ``highway``, ``railway``,
``waterway``, ``name``, ``bridge``, ``tunnel``, ``layer`` ...; names lower-cased). A line with
none of ``highway``, ``railway``, ``waterway`` takes its class from ``fclass`` (Geofabrik's
Shapefile export: a railway or waterway value there makes it a railway or waterway), else it
is a residential street (walkable, no barrier) and the import report counts it. Water
polygons (``natural=water``, ``waterway=riverbank``) become water areas; other polygons and
points are ignored and counted.

Lines can be split where they cross or where one ends on another (``shapely.node``: vendor
layers often draw a T-junction without a shared vertex), so the walk graph connects there;
bridges and tunnels are not split by what they pass over or under and meet the others only
at shared vertices. What is ours here is the mapping of columns to tags; noding is GEOS's and
the graph is built by osmnx, as for OSM.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gis.barriers import RAILWAYS, UNDERGROUND, WATERWAYS
from gis.crs import to_wgs84
from gis.errors import InputError, Repair
from gis.osm import OsmArea, OsmExtract, OsmReadReport, OsmWay
from gis.osm_stream import is_feature
from gis.vector_files import read_vector

# A line with no class: a walkable street that bounds grids but is no barrier.
DEFAULT_HIGHWAY = "residential"
CLASS_KEYS = ("highway", "railway", "waterway")
LINE_TYPES = ("LineString", "MultiLineString")
YES = ("yes", "true", "t", "1", "y", "是")
# Vertices closer than this many decimals of a degree (~1 cm) are one node.
NODE_DECIMALS = 7
# A line's end this near another line meets it (metres): vendor layers draw T-junctions a
# little short or long, and a reprojected end is off a straight street by millimetres.
SNAP_M = 1.0
METRES_PER_DEGREE = 111_320.0  # of latitude; a degree of longitude is shorter, so the
# tolerance in longitude is a little less than SNAP_M


def streets_from_vector(path: str | Path, *, datum: str = "wgs84",
                        repairs: list[Repair] | None = None) -> OsmExtract:
    """The lines of a vector file as OSM ways (EPSG:4326), split at their crossings.

    Args:
        path: the line file.
        datum: the lon/lat datum of the file: wgs84, cgcs2000, gcj02 or bd09.
        repairs: notes for the import report are appended here.

    Raises:
        InputError: the file cannot be read or holds no line.
    """
    raw = read_vector(path)
    if not raw.geometry.geom_type.isin(LINE_TYPES).any():
        kinds = ", ".join(sorted(set(raw.geometry.geom_type.dropna())))
        raise InputError(path, f"the street file holds no lines (only {kinds})",
                         "give the road centre-line layer (LineString features)",
                         problem_zh=f"街道文件中没有线要素（只有 {kinds}）",
                         hint_zh="请提供道路中心线图层（线要素）")
    return lines_extract(to_wgs84(raw, path, datum=datum, repairs=repairs), path,
                         repairs=repairs)


def lines_extract(frame: gpd.GeoDataFrame, path: str | Path, *, first_row: int = 1,
                  node: bool = True, repairs: list[Repair] | None = None) -> OsmExtract:
    """Lines (and water polygons) with OSM-like columns, EPSG:4326, as an extract.

    Args:
        first_row: the number of ``frame``'s first row in its file (ids of rows without an
            ``osm_id`` or ``id``; a file read in batches passes its batch's).
        node: split the lines at their crossings (a whole file; a batch cannot see the lines
            of the others).
    """
    id_col = next((c for c in ("osm_id", "id") if c in frame.columns), None)
    attrs = frame.drop(columns=frame.geometry.name)
    attrs.columns = [str(c).lower() for c in attrs.columns]
    lines, line_tags, areas = [], [], []
    ignored = unclassed = 0
    for i, (row, geom) in enumerate(zip(attrs.itertuples(index=False, name=None),
                                        frame.geometry.values, strict=True)):
        tags = {k: str(v).strip() for k, v in zip(attrs.columns, row, strict=True)
                if v is not None and not (isinstance(v, float) and np.isnan(v))
                and str(v).strip() != ""}
        osm_id = _osm_number(tags.get(id_col) if id_col else None, first_row + i)
        if geom is None or geom.is_empty:
            continue
        if geom.geom_type not in LINE_TYPES:
            if geom.geom_type in ("Polygon", "MultiPolygon") and is_feature(tags):
                areas.append(OsmArea("w", osm_id, tags, geom))
            else:
                ignored += 1
            continue
        unclassed += _classify(tags)
        for part in shapely.get_parts(geom):
            if shapely.get_num_coordinates(part) >= 2:
                lines.append(part)
                line_tags.append((osm_id, tags))
    _note(repairs, path, ignored, unclassed)
    pieces, source = _noded(np.array(lines, dtype=object), [t for _, t in line_tags], node)
    return OsmExtract(str(path), _ways(pieces, [line_tags[i] for i in source]), areas, [],
                      OsmReadReport(), None)


def _osm_number(value: object, fallback: int) -> int:
    digits = "".join(ch for ch in str(value) if ch.isdigit()) if value is not None else ""
    return int(digits) if digits else fallback


def _classify(tags: dict[str, str]) -> int:
    """Give ``tags`` a class from ``fclass`` or the default; 1 when it had none at all."""
    for key in ("bridge", "tunnel"):  # Geofabrik writes T/F
        value = tags.get(key, "").lower()
        if value in YES:
            tags[key] = "yes"
        elif value in ("f", "false", "0", "no", "n", "否"):
            del tags[key]
    if any(k in tags for k in CLASS_KEYS):
        return 0
    fclass = tags.get("fclass")
    if fclass in (*RAILWAYS, "tram"):
        tags["railway"] = fclass
    elif fclass in (*WATERWAYS, "stream", "drain", "ditch"):
        tags["waterway"] = fclass
    elif fclass:
        tags["highway"] = fclass
    else:
        tags["highway"] = DEFAULT_HIGHWAY
        return 1
    return 0


def _note(repairs: list[Repair] | None, path: str | Path, ignored: int, unclassed: int) -> None:
    if repairs is None:
        return
    if ignored:
        repairs.append(Repair(str(path), "street file features that are neither lines nor "
                              "water areas, ignored (街道文件中非线、非水面的要素已忽略)",
                              ignored, []))
    if unclassed:
        repairs.append(Repair(str(path), "street lines without a class (highway, railway, "
                              "waterway, fclass) taken as residential streets "
                              "(无道路等级的线按居住区道路计)", unclassed, []))


def _crosses_at_grade(tags: dict[str, str]) -> bool:
    return ("bridge" not in tags and tags.get("tunnel", "no") not in (*UNDERGROUND, "yes")
            and tags.get("layer", "0") in ("0", ""))


def _noded(lines: np.ndarray, tags: list[dict[str, str]], node: bool) -> tuple[list, list[int]]:
    """The lines split where they cross or touch (bridges, tunnels and other layers kept
    whole), each piece with the index of the line it came from."""
    ground = np.array([node and _crosses_at_grade(t) for t in tags], dtype=bool)
    pieces: list = list(lines[~ground])
    source: list[int] = np.flatnonzero(~ground).tolist()
    if ground.any():
        on_ground = np.array(_snapped(list(lines[ground])), dtype=object)
        noded = shapely.get_parts(shapely.node(shapely.multilinestrings(list(on_ground))))
        # Each piece lies on the line it came from: the line nearest its middle point.
        middles = shapely.line_interpolate_point(noded, 0.5, normalized=True)
        _, nearest = shapely.STRtree(on_ground).query_nearest(middles, all_matches=False)
        pieces += list(noded)
        source += np.flatnonzero(ground)[nearest].tolist()
    return pieces, source


def _snapped(lines: list) -> list:
    """The lines with each end that lies within :data:`SNAP_M` of another line moved onto it:
    onto that line's vertex if one is that near, else onto the line, where the point is added
    to it as a vertex. Ends drawn a little short of a street, or computed in another CRS, then
    share a vertex with it exactly."""
    tolerance = SNAP_M / METRES_PER_DEGREE
    tree = shapely.STRtree(lines)
    coords = [shapely.get_coordinates(line) for line in lines]
    added: dict[int, list[tuple[float, np.ndarray]]] = {}
    for i in range(len(lines)):
        for end in (0, -1):
            point = shapely.Point(coords[i][end])
            hits = [j for j in tree.query(point, predicate="dwithin", distance=tolerance)
                    if j != i]
            if not hits:
                continue
            j = min(hits, key=lambda k: (lines[k].distance(point), k))
            gaps = np.hypot(*(coords[j] - coords[i][end]).T)
            if gaps.min() <= tolerance:  # meet the other line's nearest vertex
                coords[i][end] = coords[j][int(gaps.argmin())]
                continue
            along = lines[j].project(point)
            coords[i][end] = shapely.get_coordinates(lines[j].interpolate(along))[0]
            added.setdefault(j, []).append((along, coords[i][end]))
    return [shapely.LineString(_with_vertices(c, added.get(j, [])))
            for j, c in enumerate(coords)]


def _with_vertices(coords: np.ndarray, added: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """``coords`` with points added at their distances along the line."""
    if not added:
        return coords
    along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(coords, axis=0).T))])
    points = [(a, 0, c) for a, c in zip(along, coords, strict=True)]
    points += [(a, 1, c) for a, c in added]
    return np.array([c for _, _, c in sorted(points, key=lambda p: (p[0], p[1]))])


def _ways(pieces: list, tagged: list[tuple[int, dict[str, str]]]) -> list[OsmWay]:
    """OSM ways whose vertices at one place (to :data:`NODE_DECIMALS`) share a node id. The
    pieces of one line share its id, as the runs of an OSM way cut at missing nodes do."""
    node_ids: dict[tuple[float, float], int] = {}
    runs: dict[int, list[list[tuple[int, float, float]]]] = {}
    tags_of: dict[int, dict[str, str]] = {}
    for piece, (osm_id, tags) in zip(pieces, tagged, strict=True):
        run: list[tuple[int, float, float]] = []
        for lon, lat in shapely.get_coordinates(piece):
            key = (round(float(lon), NODE_DECIMALS), round(float(lat), NODE_DECIMALS))
            node_id = node_ids.setdefault(key, len(node_ids) + 1)
            if not run or run[-1][0] != node_id:
                run.append((node_id, key[0], key[1]))
        if len(run) >= 2:
            runs.setdefault(osm_id, []).append(run)
            tags_of[osm_id] = tags
    return [OsmWay(osm_id, tags_of[osm_id], r) for osm_id, r in runs.items()]
