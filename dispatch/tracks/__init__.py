"""dispatch.tracks: patrol compliance from workers' GPS tracks.

A worker's phone logs a track; this package tells what it shows against the planned route.
One module a step: ``reading`` (GPX 1.1 and GeoJSON, WGS84 / GCJ-02 / BD-09 to WGS84),
``cleaning`` (duplicates, inaccurate fixes, outliers, rides faster than 15 km/h, gaps, stops,
thinning; how many fixes each rule dropped), ``matching`` (the walk network's streets walked,
with leuvenmapmatching's HMM matcher), ``compliance`` (share of planned street length
walked, streets missed by name, time in each grid, start and end, detours, planned stops
reached within 30 m for 2 minutes), ``evaluate`` (the steps in order, with the checks that the
track lies on this network in the datum given) and ``simulate`` (noisy tracks from known walks
for tests and bench/track_bench.py).

Metric CRS of the walk network inside, WGS84 lon/lat in and out; times Unix seconds (UTC)
inside, ISO 8601 in Beijing time in the figures.
"""
