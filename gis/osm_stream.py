"""Reading a large OSM file (.osm, .osm.pbf: a city or province extract) in batches, with pyosmium.

:func:`gis.osm.read_osm` holds a whole file's ways and areas in memory: right for a street office,
not for a province. Here the file is read in three passes, and no pass holds more than one batch
of buildings and lines at a time:

1. relations only (no node locations): the multipolygon / boundary relations that make
   buildings, water areas, residential landuse or communities, and the ids of their member ways;
2. ways with node locations (:func:`osm_context`): community areas and residential landuse
   (closed ways, and the relations of pass 1 assembled from their member ways), the small layers
   every batch needs; the extent of the buildings when the file's header has none;
3. ways with node locations again (:func:`osm_batches`): buildings, streets, railways, waterways
   and water areas, yielded as :class:`gis.osm.OsmExtract` batches of at most ``batch_size``
   features (the type gis.buildings, gis.streets and gis.barriers read), then the buildings and
   water areas of relations, assembled from the member ways kept in pass 3.

Ways and relations are turned into lines and polygons by the same functions as read_osm
(:func:`gis.osm.collect_way`, :func:`gis.osm.assemble_relations`), so a batch holds exactly what
read_osm would have held for those features. Node locations go to a file-backed index
(osmium's ``sparse_file_array``: 16 bytes a node on disk, paged by the operating system) in a
temporary folder, so memory does not grow with the number of nodes. What stays in memory for a
whole pass: the relations of pass 1 (tags and member lists) and the lines of their member ways,
as osmium's own multipolygon assembler keeps them. Geometry in EPSG:4326 lon/lat degrees.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import osmium

from gis.communities import COMMUNITY_ADMIN_LEVELS, COMMUNITY_PLACES
from gis.errors import check_file
from gis.osm import (
    LINE_KEYS,
    OSMIUM_ERRORS,
    OsmArea,
    OsmExtract,
    OsmReadReport,
    OsmWay,
    assemble_relations,
    collect_way,
    header_bounds,
    unreadable_error,
    wanted_area,
)

# Tags of a way that pass 3 looks at (buildings, the lines of LINE_KEYS, water areas); any other
# way is skipped without building its node list, unless a relation of pass 1 needs it.
FEATURE_KEYS = ("building", *LINE_KEYS, "natural")

Relation = tuple[int, dict[str, str], list[tuple[str, int, str]]]
Lines = dict[int, list[list[tuple[int, float, float]]]]


def is_community(tags: dict[str, str]) -> bool:
    """Tags of a community area, by the rule of :func:`gis.communities.communities_from_osm`."""
    admin = (tags.get("boundary") == "administrative"
             and tags.get("admin_level") in COMMUNITY_ADMIN_LEVELS)
    return admin or tags.get("place") in COMMUNITY_PLACES


def is_context(tags: dict[str, str]) -> bool:
    """A community or a residential landuse area (gis.study_area.residential_landuse)."""
    return is_community(tags) or tags.get("landuse") == "residential"


def is_feature(tags: dict[str, str]) -> bool:
    """A building (gis.buildings.buildings_from_osm) or a water area (gis.barriers)."""
    return (tags.get("building", "no") != "no" or tags.get("natural") == "water"
            or tags.get("waterway") == "riverbank")


@dataclass
class OsmRelations:
    """Pass 1: the area relations Wangge uses, split by the pass that assembles them."""

    context: list[Relation] = field(default_factory=list)
    features: list[Relation] = field(default_factory=list)

    def members(self, which: list[Relation]) -> set[int]:
        """The ids of the member ways of ``which``."""
        return {ref for _, _, members in which for mtype, ref, _ in members if mtype == "w"}


@dataclass
class OsmContext:
    """Pass 2: what every batch needs. Areas in EPSG:4326."""

    communities: list[OsmArea]
    landuse: list[OsmArea]
    bounds: tuple[float, float, float, float] | None  # of the buildings, else the header's
    report: OsmReadReport

    def extract(self, path: str | Path) -> OsmExtract:
        """The context as an extract (communities and landuse areas only)."""
        return OsmExtract(str(path), [], [*self.communities, *self.landuse], [], self.report,
                          self.bounds)


def read_relations(path: str | Path) -> OsmRelations:
    """Pass 1: the multipolygon / boundary relations of communities, residential landuse,
    buildings and water areas (tags and members; no geometry yet).

    Raises:
        InputError: the file is missing, empty or not OSM data.
    """
    path = check_file(path)
    out = OsmRelations()
    try:
        for obj in osmium.FileProcessor(str(path), osmium.osm.RELATION):
            if not isinstance(obj, osmium.osm.Relation):
                continue
            tags = dict(obj.tags)
            if tags.get("type") not in ("multipolygon", "boundary") or not wanted_area(tags):
                continue
            members = [(m.type, m.ref, m.role) for m in obj.members]
            if is_context(tags):
                out.context.append((obj.id, tags, members))
            if is_feature(tags):
                out.features.append((obj.id, tags, members))
    except OSMIUM_ERRORS as exc:
        raise unreadable_error(path, exc) from exc
    return out


def _processor(path: Path, index_dir: str) -> osmium.FileProcessor:
    """Ways with node locations from a file-backed index; nodes never reach Python."""
    return (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations(f"sparse_file_array,{Path(index_dir) / 'nodes.idx'}")
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))


def _header_bounds(path: Path) -> tuple[float, float, float, float] | None:
    return header_bounds(osmium.io.Reader(str(path), osmium.osm.NOTHING).header())


def osm_context(path: str | Path, relations: OsmRelations, *,
                temp_dir: str | Path | None = None) -> OsmContext:
    """Pass 2: the community and residential landuse areas of ``path`` (EPSG:4326), and the
    extent of its buildings when the file's header gives none.

    Raises:
        InputError: the file is not OSM data.
    """
    path = check_file(path)
    members = relations.members(relations.context)
    bounds = _header_bounds(path)
    box = [180.0, 90.0, -180.0, -90.0]
    report = OsmReadReport()
    areas: list[OsmArea] = []
    lines: Lines = {}
    ignored: list[OsmWay] = []
    try:
        with tempfile.TemporaryDirectory(dir=temp_dir, prefix=".osm-nodes-") as index_dir:
            for obj in _processor(path, index_dir):
                if not isinstance(obj, osmium.osm.Way):
                    continue
                tags = obj.tags
                if bounds is None and "building" in tags:
                    for node in obj.nodes:
                        if node.location.valid():
                            lon, lat = node.location.lon, node.location.lat
                            box = [min(box[0], lon), min(box[1], lat),
                                   max(box[2], lon), max(box[3], lat)]
                if obj.id in members or ("landuse" in tags or "boundary" in tags
                                         or "place" in tags):
                    collect_way(obj, ignored, areas, lines, report, keep_lines=members)
                    ignored.clear()
    except OSMIUM_ERRORS as exc:
        raise unreadable_error(path, exc) from exc
    areas = [a for a in areas if is_context(a.tags)]
    areas += assemble_relations(relations.context, lines, report)
    if bounds is None and box[0] <= box[2]:
        bounds = (box[0], box[1], box[2], box[3])
    return OsmContext(communities=[a for a in areas if is_community(a.tags)],
                      landuse=[a for a in areas if a.tags.get("landuse") == "residential"],
                      bounds=bounds, report=report)


def osm_batches(
    path: str | Path,
    relations: OsmRelations,
    *,
    batch_size: int = 50_000,
    report: OsmReadReport | None = None,
    temp_dir: str | Path | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[OsmExtract]:
    """Pass 3: the file's buildings, water areas and highway / railway / waterway lines, as
    extracts of at most ``batch_size`` features (areas + ways), in file order; the relations'
    buildings and water areas come last.

    Args:
        report: receives what was missing or dropped (a new one when None).
        temp_dir: where the node location index is written (a temporary folder in it).
        on_batch: called with the number of features of each batch before it is yielded.

    Raises:
        InputError: the file is not OSM data.
    """
    path = check_file(path)
    report = report if report is not None else OsmReadReport()
    members = relations.members(relations.features)
    ways: list[OsmWay] = []
    areas: list[OsmArea] = []
    lines: Lines = {}

    def batch() -> OsmExtract:
        nonlocal ways, areas
        out = OsmExtract(str(path), ways, areas, [], report, None)
        if on_batch is not None:
            on_batch(len(ways) + len(areas))
        ways, areas = [], []
        return out

    try:
        with tempfile.TemporaryDirectory(dir=temp_dir, prefix=".osm-nodes-") as index_dir:
            for obj in _processor(path, index_dir):
                if not isinstance(obj, osmium.osm.Way):
                    continue
                if obj.id not in members and not any(k in obj.tags for k in FEATURE_KEYS):
                    continue
                collect_way(obj, ways, areas, lines, report, keep_lines=members)
                if len(ways) + len(areas) >= batch_size:
                    yield batch()
    except OSMIUM_ERRORS as exc:
        raise unreadable_error(path, exc) from exc
    if ways or areas:
        yield batch()
    for start in range(0, len(relations.features), batch_size):
        areas = assemble_relations(relations.features[start:start + batch_size], lines,
                                   report)
        if areas:
            yield batch()
