"""gis: reading real data for Wangge.

Buildings (OSM XML/PBF, GeoJSON, GeoPackage, Shapefile), households and population, the walkable
street network (osmnx), barriers and community boundaries, in WGS84 / CGCS2000 / projected CRSs
and the GCJ-02 / BD-09 offsets of Chinese map vendors. GeoDataFrames in, GeoDataFrames out;
each function's docstring states its CRS and units.
"""

from gis.errors import DataRepairWarning, InputError, Repair
from gis.households import HouseholdOptions
from gis.study_area import ATTRIBUTION, StudyArea, format_summary, load_study_area

__all__ = [
    "ATTRIBUTION",
    "DataRepairWarning",
    "HouseholdOptions",
    "InputError",
    "Repair",
    "StudyArea",
    "format_summary",
    "load_study_area",
]
