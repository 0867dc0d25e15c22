"""dispatch.routing: walking on the street network and the routes walked on it.

Owns the walk network (``network``: distances and times at the walking speed), street patrols
(``patrol``: rural postman over a grid's streets), visit routes (``visits``: OR-Tools routing
with time windows, shifts and priorities), what a worker carries (``route_output``: geometry,
turn lists, GPX) and the benchmark solver for TSPLIB/VRPLIB instances (``vrp``, ``vrp_search``).
Knows nothing of workers or incidents: callers hand in stops, walkers and bases.
"""
