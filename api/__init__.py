"""The wangge service and command line, in layers that call downwards only:

* :mod:`api.cli` — the ``wangge`` command line, one module per command group;
* :mod:`api.app` — the FastAPI application: middleware (:mod:`api.guard`, :mod:`api.web`),
  error answers (:mod:`api.errors`), the routers and the job runner;
* :mod:`api.routers` — one router per resource: parse the request, check the caller's role
  (:mod:`api.auth`), call a service, answer a response model (:mod:`api.schemas`) or
  GeoJSON (:mod:`api.geojson`), GPX, HTML;
* :mod:`api.services` — what the service does (plans, people, incidents and their dispatch,
  routes, maps, OGC API - Features, Open311), called by routers, jobs and the command line;
* :mod:`api.jobs` — long runs in worker processes: the runner and the job kinds;
* :mod:`api.store` — the database: engine and migrations, the ORM rows (``*Row``), spatial
  SQL and one repository module per aggregate.

Beside them: :mod:`api.settings` (configuration from ``WANGGE_*``), :mod:`api.deps`
(dependencies the routers share), :mod:`api.idempotency` (``Idempotency-Key`` replays),
:mod:`api.geometry_input` (GeoJSON sent by clients, checked), :mod:`api.open311` (the Open311
GeoReport v2 wire format of incidents), :mod:`api.map_assets` (the map scripts served at
/static/maps/). The algorithms come from gis/, partition/, dispatch/ and
maps/, which never import api/.
"""
