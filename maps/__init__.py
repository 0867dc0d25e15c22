"""Folium maps of grids, party zones, incidents, routes, coverage gaps and plan changes.

Each view takes GeoDataFrames (any defined CRS) and returns a folium.Map; the maps speak
Chinese, or English with ``MapOptions(lang="en")``. :func:`page_html` turns a map into a page
whose Leaflet scripts are served from ``/static/maps/`` (the folder :func:`ensure_assets`
gathers from the PyPI and npm packages); :func:`save_standalone` writes a file that opens from
disk with the scripts in a folder beside it. No page fetches anything from another host unless
a basemap is configured (maps.tiles).

Views (the service's URL in brackets):

* :func:`grid_plan_map` (/maps/grids), :func:`party_zones_map` (/maps/party-zones),
  :func:`incidents_map` (/maps/incidents), :func:`route_map` (/maps/routes/{worker_id}),
  :func:`coverage_map` (/maps/coverage), :func:`compare_map` (/maps/compare),
  :func:`facilities_map` (/maps/facilities: one facility type's walking coverage and the
  sites a what-if proposes), :func:`organisations_map` (/maps/organisations: the areas
  organisations serve and the incidents referred to them),
  :func:`wishes_map` (/maps/wishes and the public /public/wishes),
  :func:`grid_notice_map` (/public/grids/{code}, the public notice of one grid).
"""

from maps.assets import SERVED_PREFIX, AssetsError, assets_dir, ensure_assets, install_assets
from maps.base import MapOptions, page_html, save_standalone
from maps.compare import compare_map, moved_buildings
from maps.coverage import coverage_map
from maps.facilities import facilities_map
from maps.grid_plan import grid_plan_map
from maps.incidents import deadline_status, incidents_map
from maps.notice import NoticeSection, grid_notice_map
from maps.organisations import organisations_map
from maps.party_zones import party_zones_map
from maps.route import route_map
from maps.tiles import PROVIDERS, TileProvider, resolve_tiles
from maps.wishes import wishes_map

VIEWS = ("grids", "party-zones", "incidents", "route", "coverage", "compare")

__all__ = [
    "PROVIDERS",
    "SERVED_PREFIX",
    "VIEWS",
    "AssetsError",
    "MapOptions",
    "NoticeSection",
    "TileProvider",
    "assets_dir",
    "compare_map",
    "coverage_map",
    "deadline_status",
    "ensure_assets",
    "facilities_map",
    "grid_notice_map",
    "grid_plan_map",
    "incidents_map",
    "install_assets",
    "moved_buildings",
    "organisations_map",
    "page_html",
    "party_zones_map",
    "resolve_tiles",
    "route_map",
    "save_standalone",
    "wishes_map",
]
