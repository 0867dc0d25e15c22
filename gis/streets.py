"""The walkable street network, built with osmnx from the walkable highway ways of an OSM file.

osmnx's ``graph_from_xml`` turns every way of a file into edges, building outlines included, so
the walkable ways are selected first (with the rules of osmnx's own "walk" network type) and
written to a small OSM XML file that osmnx then reads. Ways cut at missing nodes arrive here
already split into their usable runs (see gis.osm). Edge ``length`` is in metres.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import networkx as nx
import shapely
from pyproj import CRS

from gis.osm import OsmExtract, OsmWay

# osmnx's "walk" filter: highway values that are not walkable (matched as in its Overpass
# query, where "motor" covers motorway and motorway_link).
NOT_WALKABLE = ("abandoned", "bus_guideway", "construction", "cycleway", "motor", "no",
                "planned", "platform", "proposed", "raceway", "razed", "rest_area", "services")
EDGE_TAGS = ("highway", "name", "name:en", "ref", "footway", "service", "oneway", "bridge",
             "tunnel", "access", "foot")


def is_walkable(tags: dict[str, str]) -> bool:
    """True for a way osmnx's "walk" network type would keep."""
    highway = tags.get("highway")
    if not highway or tags.get("area") == "yes":
        return False
    if any(word in highway for word in NOT_WALKABLE):
        return False
    if tags.get("access") == "private" or tags.get("foot") == "no":
        return False
    if tags.get("service") == "private":
        return False
    return all(tags.get(k) != "separate"
               for k in ("sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right"))


@dataclass
class StreetReport:
    """The walk graph before and after keeping its largest connected part."""

    components: int
    nodes_all: int
    nodes: int
    edges: int
    km: float
    nodes_dropped: int
    km_dropped: float

    def lines(self) -> list[str]:
        """The report as lines for the user (English with Chinese)."""
        return [
            f"street graph: {self.nodes} nodes, {self.edges} edges, {self.km:.1f} km "
            f"(街道网络：{self.nodes} 个节点，{self.edges} 条边，{self.km:.1f} 公里)",
            f"  largest of {self.components} connected parts kept; dropped {self.nodes_dropped} "
            f"nodes, {self.km_dropped:.1f} km (保留最大连通部分，舍弃 {self.nodes_dropped} 个节点)",
        ]


def _write_walk_xml(ways: list[OsmWay], path: Path) -> int:
    """Write the walkable ways as OSM XML for osmnx; returns the number of ways written."""
    nodes: dict[int, tuple[float, float]] = {}
    out_ways: list[tuple[int, list[int], dict[str, str]]] = []
    next_id = 10**15  # ids for the second and later runs of a way cut at missing nodes
    for way in ways:
        if not is_walkable(way.tags):
            continue
        for i, run in enumerate(way.runs):
            for node_id, lon, lat in run:
                nodes[node_id] = (lon, lat)
            way_id = way.osm_id if i == 0 else next_id + i
            if i:
                next_id += len(way.runs)
            tags = {k: way.tags[k] for k in EDGE_TAGS if k in way.tags}
            out_ways.append((way_id, [n for n, _, _ in run], tags))
    with path.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">\n')
        for node_id, (lon, lat) in nodes.items():
            f.write(f'<node id="{node_id}" lat="{lat:.7f}" lon="{lon:.7f}"/>\n')
        for way_id, refs, tags in out_ways:
            f.write(f'<way id="{way_id}">')
            f.write("".join(f'<nd ref="{r}"/>' for r in refs))
            f.write("".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()))
            f.write("</way>\n")
        f.write("</osm>\n")
    return len(out_ways)


def _street_km(graph: nx.MultiDiGraph) -> float:
    """Street length in km, each street counted once (the graph holds both directions)."""
    # osmnx's to_undirected does this too, but takes half a minute on 20,000 edges.
    once = {(min(u, v), max(u, v), round(d["length"], 2)): d["length"]
            for u, v, d in graph.edges(data=True)}
    return float(sum(once.values())) / 1000.0


def walk_graph(
    extract: OsmExtract, crs: CRS | None = None, *, largest_only: bool = True
) -> tuple[nx.MultiDiGraph, StreetReport]:
    """The walkable street graph of an OSM extract.

    Args:
        extract: an OSM file read by gis.osm.read_osm.
        crs: project the graph to this metric CRS (node x/y in metres); None keeps lon/lat.
        largest_only: keep only the largest (weakly) connected part, for routing.

    Returns:
        An osmnx MultiDiGraph (two edges per street, one each way; ``length`` in metres)
        and a report of what was kept and dropped. An extract with no walkable way gives an
        empty graph.
    """
    import osmnx as ox  # seconds to import: only loaded where a walk graph is built

    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "walk.osm"
        if _write_walk_xml(extract.ways, xml) == 0:
            empty: nx.MultiDiGraph[int] = nx.MultiDiGraph(crs=crs or "epsg:4326")
            return empty, StreetReport(0, 0, 0, 0, 0.0, 0, 0.0)
        graph = ox.graph_from_xml(xml, bidirectional=True, simplify=True, retain_all=True)
    components = nx.number_weakly_connected_components(graph)
    nodes_all, km_all = len(graph), _street_km(graph)
    if largest_only:
        graph = ox.truncate.largest_component(graph, strongly=False)
    km = _street_km(graph)
    if crs is not None:
        graph = ox.project_graph(graph, to_crs=crs)
    report = StreetReport(components, nodes_all, len(graph), graph.number_of_edges(), km,
                          nodes_all - len(graph), km_all - km)
    return graph, report


def street_lines(extract: OsmExtract) -> gpd.GeoDataFrame:
    """Centre lines of every street of the extract (EPSG:4326): all highway ways but areas,
    walkable or not, connected or not. Columns: ``osm_id``, ``highway``, ``name``."""
    rows = [
        {"osm_id": f"w{way.osm_id}", "highway": way.tags["highway"],
         "name": way.tags.get("name"),
         "geometry": shapely.LineString([(lon, lat) for _, lon, lat in run])}
        for way in extract.ways
        if "highway" in way.tags and way.tags.get("area") != "yes"
        for run in way.runs
    ]
    return gpd.GeoDataFrame(rows, columns=["osm_id", "highway", "name", "geometry"],
                            geometry="geometry", crs="EPSG:4326")
