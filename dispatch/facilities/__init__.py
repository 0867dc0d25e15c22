"""dispatch.facilities: neighbourhood facilities and who can walk to them.

- ``types``: the facility types (garbage points, service stations, activity rooms, canteens,
  clinics) with names in Chinese and English and default walking distances from the Chinese
  planning standards (GB 50180-2018, CJJ 27-2012).
- ``reading``: facilities from OSM amenities or from files with a type column (GeoJSON,
  GeoPackage, Shapefile, CSV), checked, in WGS84.
- ``coverage``: the walk from every home to its nearest facility of each type, on the walk
  network (one multi-source Dijkstra a type), and the households beyond the distance.
- ``siting``: where k new facilities should go to serve the most households within a walk
  (maximal covering location, exact with a MIP (CBC via OR-Tools) after an optimum-preserving
  reduction), a greedy baseline, brute force for checks, and the score of a hand-placed site.

Metric work in the walk network's CRS (metres); facilities in and out in any CRS as
GeoDataFrames (files are read to EPSG:4326).
"""
