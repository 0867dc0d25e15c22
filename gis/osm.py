"""Reading OpenStreetMap files (.osm, .osm.bz2, .osm.gz, .osm.pbf) with pyosmium.

One pass over the file collects what Wangge needs: building areas, highway / railway / waterway
lines, water and landuse areas, community boundaries and place nodes. Coordinates are WGS84
lon/lat in degrees (EPSG:4326), as OSM stores them.

Extracts cut by a bounding box reference nodes and ways that are not in the file. osmnx crashes
on such files; here a way keeps its runs of nodes that have locations, a polygon that cannot be
closed is dropped, and every drop is counted in :class:`OsmReadReport` so the user is told.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container
from dataclasses import dataclass, field
from pathlib import Path

import osmium
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

from gis.errors import InputError, check_file

OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".xml")

# What every map and export made from OSM data carries (ODbL 1.0, see NOTICE); defined here only.
OSM_CONTRIBUTORS = "OpenStreetMap contributors"
OSM_LICENCE_URL = "https://opendatacommons.org/licenses/odbl/1-0/"
ATTRIBUTION = f"© {OSM_CONTRIBUTORS}, ODbL 1.0"

# Ways whose lines matter: streets (walk graph, arterial barriers), rails, waterways.
LINE_KEYS = ("highway", "railway", "waterway")
# Area tags kept besides buildings: water (barrier), landuse (residential test), places,
# green areas (the basemap: gis.basemap).
AREA_KEYS = ("landuse", "natural", "waterway", "amenity", "place", "boundary", "leisure")


@dataclass
class OsmWay:
    """A way's usable node runs: each run is a list of (node_id, lon, lat) with >= 2 nodes."""

    osm_id: int
    tags: dict[str, str]
    runs: list[list[tuple[int, float, float]]]


@dataclass
class OsmArea:
    """A polygon assembled from a closed way or a multipolygon/boundary relation (WGS84)."""

    osm_type: str  # "w" or "r"
    osm_id: int
    tags: dict[str, str]
    geometry: BaseGeometry


@dataclass
class OsmPlace:
    """A node tagged place=* (WGS84)."""

    osm_id: int
    tags: dict[str, str]
    lon: float
    lat: float


@dataclass
class OsmReadReport:
    """What was dropped or repaired while reading a (possibly truncated) OSM file."""

    missing_node_refs: int = 0
    ways_cut_at_missing_nodes: int = 0
    ways_dropped_no_nodes: int = 0
    areas_dropped_incomplete: int = 0
    relations_dropped_incomplete: int = 0
    dropped_examples: list[str] = field(default_factory=list)

    def note(self, example: str) -> None:
        """Keep ``example`` (e.g. "way 123") of something dropped; the first ten are kept."""
        if len(self.dropped_examples) < 10:
            self.dropped_examples.append(example)

    def lines(self) -> list[str]:
        """The report as lines for the user (English with Chinese); none when all was read."""
        out = []
        if self.missing_node_refs:
            out.append(
                f"{self.missing_node_refs} node references point outside the file "
                f"(引用了文件外的节点); {self.ways_cut_at_missing_nodes} ways were cut there, "
                f"{self.ways_dropped_no_nodes} dropped"
            )
        if self.areas_dropped_incomplete:
            out.append(f"{self.areas_dropped_incomplete} unclosed polygons dropped "
                       "(未闭合的面已舍弃)")
        if self.relations_dropped_incomplete:
            out.append(
                f"{self.relations_dropped_incomplete} relations with members outside the file "
                f"dropped (成员缺失的关系已舍弃)"
            )
        return out


@dataclass
class OsmExtract:
    """Everything Wangge reads from one OSM file. All geometry in EPSG:4326 lon/lat degrees."""

    path: str
    ways: list[OsmWay]
    areas: list[OsmArea]
    places: list[OsmPlace]
    report: OsmReadReport
    bounds: tuple[float, float, float, float] | None


def is_osm_path(path: str | Path) -> bool:
    """True when ``path``'s name ends like an OSM file (.osm, .osm.bz2, .osm.gz, .osm.pbf)."""
    name = str(path).lower()
    return name.endswith(OSM_SUFFIXES)


def wanted_area(tags: dict[str, str]) -> bool:
    """True for the tags of an area (closed way or relation) that Wangge reads."""
    return "building" in tags or any(k in tags for k in AREA_KEYS)


def _closed_way_is_area(tags: dict[str, str]) -> bool:
    # A closed highway or railway is a loop street unless it says area=yes.
    if tags.get("area") == "no":
        return False
    if tags.get("building", "no") != "no":
        return True
    if "highway" in tags or "railway" in tags or tags.get("barrier"):
        return tags.get("area") == "yes"
    return wanted_area(tags)


def read_osm(path: str | Path) -> OsmExtract:
    """Read the parts of an OSM file that Wangge uses.

    Args:
        path: an .osm / .osm.bz2 / .osm.gz (XML) or .osm.pbf file.

    Returns:
        An :class:`OsmExtract` in EPSG:4326 lon/lat degrees. Missing node, way and relation
        references are tolerated and counted in ``report``.

    Raises:
        InputError: the file is missing, empty or not OSM data.
    """
    path = check_file(path)
    report = OsmReadReport()
    ways: list[OsmWay] = []
    areas: list[OsmArea] = []
    places: list[OsmPlace] = []
    way_lines: dict[int, list[list[tuple[int, float, float]]]] = {}
    relations: list[tuple[int, dict[str, str], list[tuple[str, int, str]]]] = []

    try:
        reader = osmium.FileProcessor(str(path)).with_locations()
        for obj in reader:
            # isinstance, not obj.is_node(): the same test, and it narrows the type for mypy.
            if isinstance(obj, osmium.osm.Node):
                if "place" in obj.tags and obj.location.valid():
                    places.append(
                        OsmPlace(obj.id, dict(obj.tags), obj.location.lon, obj.location.lat)
                    )
            elif isinstance(obj, osmium.osm.Way):
                collect_way(obj, ways, areas, way_lines, report)
            elif isinstance(obj, osmium.osm.Relation):
                tags = dict(obj.tags)
                if tags.get("type") in ("multipolygon", "boundary") and wanted_area(tags):
                    members = [(m.type, m.ref, m.role) for m in obj.members]
                    relations.append((obj.id, tags, members))
        header = reader.header
    except InputError:
        raise
    except OSMIUM_ERRORS as exc:
        raise unreadable_error(path, exc) from exc

    areas += assemble_relations(relations, way_lines, report)
    return OsmExtract(str(path), ways, areas, places, report, header_bounds(header))


# What pyosmium raises for a file it cannot read: RuntimeError (a broken file) and
# InvalidLocationError (a node whose lat or lon is not a number, as "NaN" or "inf").
OSMIUM_ERRORS = (RuntimeError, osmium.InvalidLocationError)


def unreadable_error(path: str | Path, exc: Exception) -> InputError:
    """The error for a file pyosmium cannot read."""
    return InputError(
        path,
        f"not readable as OSM data ({exc})",
        "give an OSM XML (.osm, .osm.bz2) or PBF (.osm.pbf) file as exported from "
        "OpenStreetMap, Overpass or Geofabrik",
        problem_zh=f"无法作为 OSM 数据读取（{exc}）",
        hint_zh="请提供从 OpenStreetMap、Overpass 或 Geofabrik 导出的 OSM XML 或 PBF 文件",
    )


def header_bounds(header: osmium.io.Header) -> tuple[float, float, float, float] | None:
    """The bounding box (lon/lat) a file's header gives, None when it gives none."""
    box = header.box()
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def assemble_relations(
    relations: list[tuple[int, dict[str, str], list[tuple[str, int, str]]]],
    way_lines: dict[int, list[list[tuple[int, float, float]]]],
    report: OsmReadReport,
) -> list[OsmArea]:
    """The polygons of multipolygon / boundary ``relations`` (id, tags, members), assembled
    from their member ways' lines; those that cannot close are counted in ``report``."""
    areas = []
    for rel_id, tags, members in relations:
        geom = relation_polygon(members, way_lines)
        if geom is None:
            report.relations_dropped_incomplete += 1
            report.note(f"relation {rel_id}")
            continue
        areas.append(OsmArea("r", rel_id, tags, geom))
    return areas


def collect_way(
    obj: osmium.osm.Way,
    ways: list[OsmWay],
    areas: list[OsmArea],
    way_lines: dict[int, list[list[tuple[int, float, float]]]],
    report: OsmReadReport,
    keep_lines: Container[int] | None = None,
) -> None:
    """Add way ``obj`` to ``ways`` (a line of LINE_KEYS) or ``areas`` (a closed way that is an
    area), its node runs to ``way_lines`` (for relations; only ids in ``keep_lines`` when
    given), and what was missing to ``report``."""
    tags = dict(obj.tags)
    runs: list[list[tuple[int, float, float]]] = [[]]
    missing = 0
    for node in obj.nodes:
        loc = node.location
        if loc.valid():
            runs[-1].append((node.ref, loc.lon, loc.lat))
        else:
            missing += 1
            if runs[-1]:
                runs.append([])
    runs = [r for r in runs if len(r) >= 2]
    if missing:
        report.missing_node_refs += missing
        if runs:
            report.ways_cut_at_missing_nodes += 1
        else:
            report.ways_dropped_no_nodes += 1
        report.note(f"way {obj.id}")
    # Relations may need any way as a member; keep the geometry of untagged ways too.
    if runs and (keep_lines is None or obj.id in keep_lines):
        way_lines[obj.id] = runs

    closed = len(obj.nodes) >= 4 and obj.nodes[0].ref == obj.nodes[-1].ref
    if closed and _closed_way_is_area(tags):
        if missing:
            report.areas_dropped_incomplete += 1
            return
        geom = shapely.Polygon([(lon, lat) for _, lon, lat in runs[0]])
        areas.append(OsmArea("w", obj.id, tags, geom))
        return
    if runs and any(k in tags for k in LINE_KEYS):
        ways.append(OsmWay(obj.id, tags, runs))


def relation_polygon(
    members: list[tuple[str, int, str]],
    way_lines: dict[int, list[list[tuple[int, float, float]]]],
) -> BaseGeometry | None:
    """Assemble a (multi)polygon from a relation's way members, or None if it cannot close.

    Outer and inner rings are polygonised from the member lines; inner rings become holes.
    """
    outer: list[shapely.LineString] = []
    inner: list[shapely.LineString] = []
    for mtype, ref, role in members:
        if mtype != "w":
            continue
        runs = way_lines.get(ref)
        if runs is None or len(runs) != 1:
            return None  # a member is missing or cut: the ring cannot be trusted
        line = shapely.LineString([(lon, lat) for _, lon, lat in runs[0]])
        (inner if role == "inner" else outer).append(line)
    if not outer:
        return None
    outer_polys = list(polygonize(unary_union(outer)))
    if not outer_polys:
        return None
    shape = unary_union(outer_polys)
    if inner:
        holes = list(polygonize(unary_union(inner)))
        if holes:
            shape = shape.difference(unary_union(holes))
    # Every outer member must lie on the assembled boundary, or a ring was left open.
    if shape.is_empty or shape.boundary.buffer(1e-9).contains(unary_union(outer)) is False:
        return None
    return shape


def tag_counts(extract: OsmExtract, key: str) -> Counter[str]:
    """Count values of ``key`` over the extract's ways and areas (for reports and tests)."""
    counts: Counter[str] = Counter()
    items: list[OsmWay | OsmArea] = [*extract.ways, *extract.areas]
    for item in items:
        if key in item.tags:
            counts[item.tags[key]] += 1
    return counts
