"""The store: the database and everything written to or read from it.

* :mod:`api.store.db` — the engine, read and write sessions (SQLite's write gate), migrations;
* :mod:`api.store.models` — the tables as SQLAlchemy rows, named ``*Row`` (``PlanRow``,
  ``WorkerRow``, ``IncidentRow``...) so that they never clash with the domain's ``Plan``,
  ``Worker`` or ``Incident`` of partition/ and dispatch/;
* :mod:`api.store.spatial` — geometry columns on PostGIS and on plain SQLite, bbox filters;
* :mod:`api.store.migrations` — the Alembic migrations (``alembic upgrade head`` on start);
* one repository module per aggregate: :mod:`api.store.plans` (plans, grids, buildings),
  :mod:`api.store.incidents` (incidents and their steps), :mod:`api.store.routes` (workers'
  routes and grid assignments).

Nothing here knows about HTTP: services and jobs call these with a session.
"""
