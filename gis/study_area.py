"""Loading a study area: buildings with households, streets, barriers and communities.

:func:`load_study_area` is the one entry point the rest of Wangge uses. Everything it returns is
in one local metric CRS (the UTM zone of the data, metres); :meth:`StudyArea.layer_wgs84` gives
any layer in WGS84 lon/lat for storage and APIs. All checks run before anything is returned, so
bad input fails whole, with an :class:`gis.errors.InputError` that names file and feature.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd

from gis.barriers import BarrierOptions, barriers_from_osm
from gis.basemap import basemap_layers, green_areas
from gis.buildings import (
    buildings_from_osm,
    buildings_from_vector,
    check_duplicate_ids,
    classify_residential,
    drop_underground,
    repair_polygons,
)
from gis.communities import communities_from_osm, read_communities, whole_area
from gis.crs import local_metric_crs, to_wgs84
from gis.errors import InputError, Repair, check_file
from gis.households import HouseholdOptions, assign_households
from gis.osm import ATTRIBUTION, OsmExtract, OsmReadReport, is_osm_path, read_osm
from gis.street_files import streets_from_vector
from gis.streets import StreetReport, street_lines, walk_graph
from gis.vector_files import is_vector_path, read_vector, unknown_format_error

LOAD_STEPS = ("读取 reading", "户数 households", "街道 streets", "社区 communities")


@dataclass
class StudyArea:
    """A study area in one metric CRS (``crs``; coordinates and areas in metres)."""

    source: str
    crs: object
    buildings: gpd.GeoDataFrame
    streets: nx.MultiDiGraph
    street_report: StreetReport
    barriers: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    street_lines: gpd.GeoDataFrame
    repairs: list[Repair] = field(default_factory=list)
    osm_notes: list[str] = field(default_factory=list)
    attribution: str | None = None
    green: gpd.GeoDataFrame | None = None  # parks, grass, woods (gis.basemap.green_areas)

    def layer_wgs84(self, name: str) -> gpd.GeoDataFrame:
        """``buildings``, ``barriers`` or ``communities`` in EPSG:4326 lon/lat."""
        return getattr(self, name).to_crs("EPSG:4326")

    def basemap(self) -> dict[str, gpd.GeoDataFrame]:
        """The layers of the vector basemap drawn under every map (gis.basemap), EPSG:4326."""
        return basemap_layers(streets=self.street_lines, barriers=self.barriers,
                              green=self.green, buildings=self.buildings,
                              communities=self.communities)

    def summary(self) -> dict[str, object]:
        """Counts for the import report (see :func:`format_summary`)."""
        b = self.buildings
        resid = b["residential"]
        est = b["households_estimated"] & resid
        kinds = self.barriers["kind"].value_counts()
        return {
            "source": self.source,
            "buildings": len(b),
            "residential": int(resid.sum()),
            "other": int((~resid).sum()),
            "households": int(b.loc[resid, "households"].sum()),
            "households_given": int(b.loc[resid & ~est, "households"].sum()),
            "households_estimated": int(b.loc[est, "households"].sum()),
            "buildings_estimated": int(est.sum()),
            "households_by_source": {
                str(k): int(v) for k, v in
                b[resid].groupby("households_source")["households"].sum().items()},
            "population": round(float(b.loc[resid, "population"].sum())),
            "street_nodes": self.street_report.nodes,
            "street_edges": self.street_report.edges,
            "street_km": round(self.street_report.km, 2),
            "street_components": self.street_report.components,
            "street_nodes_dropped": self.street_report.nodes_dropped,
            "barrier_lines": int(kinds.drop("water", errors="ignore").sum()),
            "barriers_by_kind": {str(k): int(v) for k, v in kinds.items()},
            "communities": len(self.communities),
            "buildings_outside_communities": int(b["community"].isna().sum()),
            "repairs": [str(r) for r in self.repairs] + self.osm_notes,
            "crs": str(self.crs),
        }


def format_summary(summary: dict[str, object]) -> str:
    """The import report as the command line prints it (Chinese, with English)."""
    s = summary
    lines = [
        f"数据 source: {s['source']}",
        f"建筑 buildings: {s['buildings']} (住宅 residential {s['residential']}, "
        f"其他 other {s['other']})",
        f"户数 households: {s['households']} (已知 given {s['households_given']}, "
        f"估算 estimated {s['households_estimated']} in {s['buildings_estimated']} buildings)",
        f"  按来源 by source: {s['households_by_source']}",
        f"人口 population: {s['population']}",
        f"街道网络 street graph: {s['street_nodes']} nodes 节点, {s['street_edges']} edges 边, "
        f"{s['street_km']} km 公里 (largest of {s['street_components']} parts; "
        f"{s['street_nodes_dropped']} nodes dropped 舍弃)",
        f"障碍线 barrier lines: {s['barrier_lines']} {s['barriers_by_kind']}",
        f"社区 communities: {s['communities']} "
        f"(社区外建筑 buildings outside: {s['buildings_outside_communities']})",
    ]
    repairs = s["repairs"]
    assert isinstance(repairs, list), "summary() lists the repairs"
    lines.append(f"修复 repairs: {len(repairs) if repairs else '无 none'}")
    lines += [f"  - {r}" for r in repairs]
    return "\n".join(lines)


# A footprint layer with neither building types nor a residential column (vendor and survey
# layers often carry only outlines and floors): every footprint holds homes until marked.
UNTYPED_NOTE = ("no building type or residential column: every footprint counted as "
                "residential; add a residential column (true/false) to mark the others "
                "(文件没有建筑类型或 residential 列：所有建筑按住宅计；"
                "可加 residential 列标出非住宅)")


def _untyped(data: gpd.GeoDataFrame) -> bool:
    return "building" not in data.columns and "residential" not in data.columns


def _street_source(path: str | Path, datum: str, repairs: list[Repair]) -> OsmExtract:
    if is_osm_path(path):
        return read_osm(path)
    return streets_from_vector(path, datum=datum, repairs=repairs)


def _read_source(path: Path) -> OsmExtract | gpd.GeoDataFrame:
    if is_osm_path(path):
        return read_osm(path)
    if is_vector_path(path):
        return read_vector(path)
    raise unknown_format_error(check_file(path))


def residential_landuse(extract: OsmExtract | None) -> gpd.GeoSeries | None:
    """The landuse=residential areas of ``extract`` (EPSG:4326), None when it has none."""
    if extract is None:
        return None
    polys = [a.geometry for a in extract.areas if a.tags.get("landuse") == "residential"]
    return gpd.GeoSeries(polys, crs="EPSG:4326") if polys else None


def load_study_area(
    source: str | Path,
    *,
    streets: str | Path | None = None,
    communities: str | Path | None = None,
    datum: str = "wgs84",
    id_col: str | None = None,
    households: HouseholdOptions | None = None,
    barriers: BarrierOptions | None = None,
    invalid: str = "repair",
    with_walk_graph: bool = True,
    progress: Callable[[str], None] | None = None,
) -> StudyArea:
    """Read a study area from files.

    Args:
        source: buildings as OSM (.osm/.osm.bz2/.osm.pbf: streets, barriers and communities
            come from it too), GeoJSON, GeoPackage, Shapefile or zipped Shapefile.
        streets: streets and barriers when ``source`` has none: an OSM file, or a line file
            (GeoJSON, GeoPackage, Shapefile) read by gis.street_files, in ``datum``.
        communities: a polygon file of communities (code, name); else OSM communities of the
            source, else the whole area as one community.
        datum: the lon/lat datum of vector input: wgs84, cgcs2000, gcj02 or bd09.
        id_col: the building id column of vector input.
        households: where households come from (gis.households).
        barriers: which features are barriers (gis.barriers).
        invalid: "repair" or "reject" invalid polygons.
        with_walk_graph: build the osmnx walk graph (routing needs it, partitioning only the
            street lines); without it ``streets`` is empty.
        progress: called with the name of each of the :data:`LOAD_STEPS` as it starts.

    Raises:
        InputError: any bad input, naming file and feature; nothing is returned half-done.
    """
    step = progress or (lambda _name: None)
    path = Path(source)
    repairs: list[Repair] = []
    step(LOAD_STEPS[0])
    data = _read_source(path)
    extract = data if isinstance(data, OsmExtract) else None
    if extract is not None:
        raw = drop_underground(buildings_from_osm(extract), path, repairs)
        if raw.empty:
            raise InputError(path, "the OSM data holds no building polygons",
                             "export an area with buildings (building=*)",
                             problem_zh="OSM 数据中没有建筑面",
                             hint_zh="请导出包含建筑（building=*）的区域")
        check_duplicate_ids(raw, path)
        buildings = repair_polygons(raw, path, invalid=invalid, repairs=repairs)
    else:
        raw = buildings_from_vector(data, path, id_col=id_col)
        check_duplicate_ids(raw, path)
        buildings = repair_polygons(raw, path, invalid=invalid, repairs=repairs)
        buildings = to_wgs84(buildings, path, datum=datum, repairs=repairs)
        if _untyped(data):
            buildings = buildings.assign(residential=True)
            repairs.append(Repair(str(path), UNTYPED_NOTE, len(buildings), []))
    if buildings.empty:  # every footprint had no area: the repair dropped them all
        raise InputError(path, f"none of the {len(raw)} building footprints has an area "
                         "(each is a point or a line drawn as a polygon)",
                         "draw the buildings as footprint polygons, or export that layer",
                         problem_zh=f"{len(raw)} 个建筑轮廓都没有面积（点或线被存成了面）",
                         hint_zh="请把建筑画成有面积的轮廓面，或导出建筑轮廓图层")

    street_extract = _street_source(streets, datum, repairs) if streets else extract
    step(LOAD_STEPS[1])
    osm_notes = []
    for ex in {id(e): e for e in (extract, street_extract) if e is not None}.values():
        osm_notes += [f"{ex.path}: {line}" for line in ex.report.lines()]

    crs = local_metric_crs(buildings)
    buildings = classify_residential(buildings, residential_landuse(extract)).to_crs(crs)
    buildings = assign_households(buildings, households, path=path, repairs=repairs)

    step(LOAD_STEPS[2])
    if street_extract is None:
        street_extract = OsmExtract(str(path), [], [], [], OsmReadReport(), None)
    if with_walk_graph and street_extract.ways:
        graph, street_report = walk_graph(street_extract, crs)
    else:
        graph, street_report = nx.MultiDiGraph(crs=crs), StreetReport(0, 0, 0, 0, 0.0, 0, 0.0)
    barrier_gdf = barriers_from_osm(street_extract, barriers)
    lines = street_lines(street_extract).to_crs(crs)

    step(LOAD_STEPS[3])
    if communities:
        comm = read_communities(communities, repairs=repairs)
    else:
        comm = communities_from_osm(extract) if extract is not None else None
        if comm is None or comm.empty:
            comm = whole_area(buildings)
    comm = comm.to_crs(crs)
    buildings = join_communities(buildings, comm)

    return StudyArea(
        source=str(path), crs=crs, buildings=buildings, streets=graph,
        street_report=street_report, barriers=barrier_gdf.to_crs(crs), communities=comm,
        street_lines=lines, repairs=repairs, osm_notes=osm_notes,
        green=green_areas(street_extract).to_crs(crs),
        attribution=ATTRIBUTION if extract is not None or (streets and is_osm_path(streets))
        else None,
    )


def join_communities(buildings: gpd.GeoDataFrame, comm: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add ``community`` (code): the community holding the building's representative point."""
    points = gpd.GeoDataFrame(geometry=buildings.geometry.representative_point(),
                              crs=buildings.crs)
    joined = points.sjoin(comm[["code", "geometry"]], predicate="within", how="left")
    first = joined[~joined.index.duplicated(keep="first")]["code"]
    out = buildings.copy()
    out["community"] = pd.Series(first, index=buildings.index).astype(object)
    out.loc[out["community"].isna(), "community"] = None
    return out
