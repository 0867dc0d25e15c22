"""dispatch: the people and the walking that turn a micro-grid plan into work on the ground.

Seven subpackages, imported in this order (each may use the ones before it, never after):

- ``dispatch.routing``: the walk network and everything routed on it: street patrols, visit
  routes, route output (geometry, turn lists, GPX) and the TSPLIB/VRPLIB benchmark solver.
- ``dispatch.staffing``: grid workers to grids (CP-SAT), the four-level structure, party members
  to households (min-cost flow), and reading both from CSV files.
- ``dispatch.incidents``: incidents from report to closing: categories and deadlines, the
  lifecycle, dispatching to workers, and statistics.
- ``dispatch.community``: micro-wishes (微心愿) and volunteers: the wish lifecycle, volunteers
  ranked for a wish on the walk network, and the micro-star board of hours fulfilled.
- ``dispatch.tracks``: workers' GPS tracks against their planned routes: reading (GPX,
  GeoJSON, GCJ-02), cleaning, map matching to the walk network (leuvenmapmatching), streets
  walked and missed, time in each grid, stops reached; and a noisy-track simulator.
- ``dispatch.facilities``: neighbourhood facilities (garbage points, service stations,
  activity rooms, canteens, clinics): reading them, who walks how far to them, and where k
  new ones serve the most households (maximal covering location, solved exactly). Uses
  ``dispatch.routing``'s walk network only.
- ``dispatch.schedule``: periodic household visits (入户走访): visit classes and their
  frequencies, each worker's and party member's visit calendar over several weeks (CP-SAT:
  every visit within its frequency, days balanced against shifts and days off, visits grouped
  by place), the nearest-due-first baseline, and a day's route over the day's visits and
  incidents re-planned with what is done kept fixed (OR-Tools routing). Uses
  ``dispatch.routing``.

``dispatch.channels`` (how a report or wish reached the community) sits beside them.

Metric CRS of the walk network in, plain data and GeoDataFrames out; distances in walking
metres. Wire formats (Open311) belong to the service, in ``api``.
"""
