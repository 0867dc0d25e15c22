"""What the service does, called by the routers (api.routers), the jobs (api.jobs) and the
command line (api.cli); none of it knows about requests, only sessions, settings and callers.

* :mod:`~api.services.datasets` — study area files checked and kept;
* :mod:`~api.services.plans` — partition jobs, diffs, activation, export;
* :mod:`~api.services.jobs` — jobs as the API shows them, queueing, cancel, re-run;
* :mod:`~api.services.grids` — grids and buildings as GeoJSON, assignments by hand;
* :mod:`~api.services.people` — workers and party members, CSV import, going off duty;
* :mod:`~api.services.worker_hours` — shifts, work days and days off;
* :mod:`~api.services.incidents` — reports with their channel, the lifecycle and who may act
  (referral to organisations included), escalation, statistics;
* :mod:`~api.services.organisations` — organisations incidents are referred to: create,
  import, read, referral statistics;
* :mod:`~api.services.posters` — QR posters per building and the public report form;
* :mod:`~api.services.dispatcher` — the dispatch.incidents.dispatcher.Dispatcher of the active
  plan, built from the store;
* :mod:`~api.services.visit_routes` — dispatched incidents in their worker's route of today;
* :mod:`~api.services.grid_index` — which grid of the active plan holds a point;
* :mod:`~api.services.volunteers` — volunteers and teams, what each role sees, CSV import;
* :mod:`~api.services.wishes` — micro-wishes: posting with channels, the lifecycle and who
  may act, matching volunteers, the micro-star board, the office and public maps;
* :mod:`~api.services.routes` — workers' routes as GeoJSON and GPX;
* :mod:`~api.services.maps` — the map pages drawn from the store;
* :mod:`~api.services.ogc` — the OGC API - Features documents;
* :mod:`~api.services.demo` — the store ``wangge demo`` serves, filled on first run.

Role checks that depend on the data (an incident's action, a worker's own records, a plan
being active) are made here; the role each endpoint needs is the router's (api.auth).
"""
