"""gis: reading real data for Wangge.

Buildings (OSM XML/PBF, GeoJSON, GeoPackage, Shapefile), households and population, the walkable
street network (osmnx), barriers and community boundaries, in WGS84 / CGCS2000 / projected CRSs
and the GCJ-02 / BD-09 offsets of Chinese map vendors. GeoDataFrames in, GeoDataFrames out;
each function's docstring states its CRS and units.
"""

from gis.errors import DataRepairWarning, InputError, Repair, WanggeError

# The study-area names load osmnx (and scikit-learn with it): seconds of imports that commands
# such as ``wangge vrp`` never need, so they are imported on first use (PEP 562).
_LAZY = {"HouseholdOptions": "gis.households", "ATTRIBUTION": "gis.osm",
         "StudyArea": "gis.study_area", "format_summary": "gis.study_area",
         "load_study_area": "gis.study_area"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gis' has no attribute {name!r}")


__all__ = [
    "ATTRIBUTION",
    "DataRepairWarning",
    "HouseholdOptions",
    "InputError",
    "Repair",
    "StudyArea",
    "WanggeError",
    "format_summary",
    "load_study_area",
]
