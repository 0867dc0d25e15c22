"""Dispatched incidents in their worker's visit route for today (routes of kind ``visits``).

A worker has up to two routes a day: the street patrol of their grids (kind ``patrol``, from
the dispatch jobs) and the visits to the incidents dispatched to them (kind ``visits``, kept
here). When an incident is dispatched, its stop is inserted into the chosen worker's visit
route with ``Dispatcher.insert_into_route`` (OR-Tools; the route's still open incident stops,
in their planned order, are the starting solution; the worker's other open incidents missing
from it, say dispatched yesterday, are inserted too). When it leaves the worker (handled,
closed, returned, rejected, dispatched to someone else) its stop is taken out and the rest
re-planned from now; a route left without stops is deleted.

A visit route starts at the worker's base at the time of the last change (stop ``seq`` 0,
kind ``start``), visits the incidents (``seq`` 1.., kind ``incident``, ``ref`` the incident id)
and walks back to the base; ETAs are ISO times in Beijing time, the path follows the streets
(dispatch.routing.route_output.visit_path), WGS84 lon/lat. Written in the caller's transaction with
the incident's new step, so both are stored or neither. Routing is not allowed to undo a
dispatch: when it fails (no active plan, a place off the network, a shift already over) the
error is logged and reported in the placement, and the route stays as it was. The worker's row
is locked first so that two dispatches to one worker update the route one after the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from shapely.geometry import Point
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.errors import ApiError
from api.settings import Settings
from api.store import incidents as store
from api.store import models as m
from api.store.plans import active_plan_id
from api.store.routes import save_route
from dispatch.incidents.lifecycle import WITH_WORKER
from dispatch.incidents.rules import Rules, beijing
from dispatch.routing.route_output import to_wgs84, visit_path
from dispatch.routing.visits import VisitPlan, Walker

log = logging.getLogger(__name__)
VISITS = "visits"
# Search time per route change. A day's route holds a handful of incidents, where the
# starting solution plus a short search is as good as a long one; the deterministic step
# budget (dispatch.routing.visits) usually ends it sooner.
ROUTE_SECONDS = 0.2


@dataclass
class Placement:
    """Where an incident went in its worker's route (schemas.RoutePlacement)."""

    route_id: int | None = None
    seq: int | None = None
    eta: datetime | None = None
    stops: int = 0
    error: dict[str, str] | None = None


@dataclass
class TodayRoutes:
    """The visit routes of today (Beijing) for one request, on ``session``; the dispatcher of
    the active plan and the roster are built once, when first needed."""

    session: Session
    settings: Settings
    rules: Rules
    now: datetime
    _context: tuple | None = field(default=None, repr=False)

    @property
    def day(self) -> date:
        """Today's date in Beijing time."""
        return beijing(self.now).date()

    def context(self):
        """(Dispatcher of the active plan, roster at ``now``, the active plan's id)."""
        if self._context is None:
            from api.services.dispatcher import active_plan, dispatcher, roster

            self._context = (dispatcher(self.session, self.settings, self.rules),
                             roster(self.session, self.now), active_plan(self.session).id)
        return self._context

    def place(self, row: m.IncidentRow, previous: int | None = None) -> Placement:
        """Insert dispatched incident ``row`` into its worker's route for today, after taking
        it out of the route of ``previous``, the worker who held it until now (if another)."""
        worker_id = row.worker_id
        if previous is not None and previous != worker_id:
            self.release(previous, [row.id])
        if worker_id is None:
            return Placement()
        self._lock(worker_id)
        try:
            disp, status, plan_id = self.context()
            route = self._route(worker_id, plan_id)
            keep, order = self._open_stops(route, worker_id, exclude={row.id})
            stops = [disp.incident_stop(i, self.now) for i in keep]
            new = disp.incident_stop(store.load(self.session, [row])[0], self.now)
            plan = disp.insert_into_route(worker_id, status, stops, order, new, self.now,
                                          seconds=ROUTE_SECONDS)
            rows = self._route_rows(disp, worker_id, plan, [*stops, new])
        except SQLAlchemyError:
            raise
        except Exception as exc:  # routing must not undo the dispatch: report it instead
            log.warning("incident %s dispatched to worker %s, route not updated: %s",
                        row.id, worker_id, exc, exc_info=not isinstance(exc, ApiError))
            return Placement(error=_error(exc))
        saved = self._save(plan_id, worker_id, rows)
        placed = [s for s in rows["stops"] if s["kind"] == "incident" and s["ref"] == str(row.id)]
        if not placed:
            return Placement(saved.id if saved else None, stops=len(rows["stops"]) - 1, error={
                "zh": "今日班次内已排不下该事件，未加入路线",
                "en": "the incident does not fit into the rest of today's shift: not routed"})
        assert saved is not None, "a route with the incident in it was saved"
        return Placement(saved.id, placed[0]["seq"], datetime.fromisoformat(placed[0]["eta"]),
                         len(rows["stops"]) - 1)

    def release(self, worker_id: int, incident_ids: list[int]) -> None:
        """Take ``incident_ids`` out of ``worker_id``'s route for today and re-plan the rest
        from now (delete the route when none is left)."""
        plan_id = active_plan_id(self.session)
        if plan_id is None:
            return
        self._lock(worker_id)
        route = self._route(worker_id, plan_id)
        gone = {str(i) for i in incident_ids}
        if route is None or not gone & {s["ref"] for s in route.stops
                                        if s["kind"] == "incident"}:
            return
        keep, order = self._open_stops(route, worker_id, exclude=set(incident_ids))
        if not keep:
            self.session.delete(route)
            self.session.flush()
            return
        try:
            disp, status, _ = self.context()
            stops = [disp.incident_stop(i, self.now) for i in keep]
            plan = disp.insert_into_route(worker_id, status, stops, order, None, self.now,
                                          seconds=ROUTE_SECONDS)
            rows = self._route_rows(disp, worker_id, plan, stops)
        except SQLAlchemyError:
            raise
        except Exception as exc:  # the stop still goes: keep the others as they were
            log.warning("route of worker %s not re-planned after incidents %s left: %s",
                        worker_id, incident_ids, exc, exc_info=not isinstance(exc, ApiError))
            left = [s for s in route.stops if s["kind"] != "incident" or s["ref"] not in gone]
            route.stops = [dict(s, seq=i) for i, s in enumerate(left)]
            self.session.flush()
            return
        self._save(plan_id, worker_id, rows)

    def follow(self, row: m.IncidentRow, before: int | None, dispatched: bool) -> Placement | None:
        """Bring the routes in line after an action on ``row``, which was with worker
        ``before``: a dispatch places it; a worker it left loses its stop."""
        if dispatched:
            return self.place(row, before)
        holder = row.worker_id if row.status in WITH_WORKER else None
        if before is not None and before != holder:
            self.release(before, [row.id])
        return None

    # ---- reading and writing ---------------------------------------------------------------

    def _lock(self, worker_id: int) -> None:
        """Hold ``worker_id``'s row for this transaction (PostgreSQL; SQLite writes one at a
        time anyway): concurrent changes of one route queue here. ``FOR NO KEY UPDATE``: the
        incident rows updated before already hold ``FOR KEY SHARE`` on the worker through
        their foreign key, which ``FOR UPDATE`` would wait for (a deadlock of two
        dispatches)."""
        self.session.execute(select(m.WorkerRow.id).where(m.WorkerRow.id == worker_id)
                             .with_for_update(key_share=True))

    def _route(self, worker_id: int, plan_id: int) -> m.RouteRow | None:
        return self.session.scalar(select(m.RouteRow).where(
            m.RouteRow.plan_id == plan_id, m.RouteRow.worker_id == worker_id,
            m.RouteRow.day == self.day, m.RouteRow.kind == VISITS))

    def _open_stops(self, route: m.RouteRow | None, worker_id: int,
                    exclude: set[int]) -> tuple[list, list[str]]:
        """Every incident still with ``worker_id`` (dispatched or in progress) but
        ``exclude``, as the library's incidents, and the ids of those already in ``route`` in
        its order (the search's starting solution; the others, e.g. dispatched on an earlier
        day or when routing failed, are inserted by the search)."""
        rows = list(self.session.scalars(select(m.IncidentRow).where(
            m.IncidentRow.worker_id == worker_id, m.IncidentRow.status.in_(WITH_WORKER))
            .order_by(m.IncidentRow.close_by, m.IncidentRow.id)))
        rows = [r for r in rows if r.id not in exclude]
        held = {str(r.id) for r in rows}
        order = [] if route is None else [s["ref"] for s in route.stops
                                          if s["kind"] == "incident" and s["ref"] in held]
        rank = {ref: i for i, ref in enumerate(order)}
        rows.sort(key=lambda r: rank.get(str(r.id), len(rank)))  # stable: deadlines after
        return store.load(self.session, rows), order

    def _route_rows(self, disp, worker_id: int, plan: VisitPlan, stops: list) -> dict:
        """The stored form of ``plan``'s route: stops (start first) with ETAs, the street
        path, metres and seconds."""
        by_id = {s.stop_id: s for s in stops}
        route = plan.routes[0]
        w = disp.workers[worker_id]
        walker = Walker(worker_id, w.x, w.y)  # the service keeps no live positions: the base
        net = disp.net
        line = net.path_geometry(visit_path(net, walker, route, by_id))
        visited = [by_id[v.stop_id] for v in route.visits]
        lonlat = to_wgs84([Point(w.x, w.y)] + [Point(s.x, s.y) for s in visited], net.crs)
        midnight = beijing(self.now).replace(hour=0, minute=0, second=0, microsecond=0)

        def clock(seconds: int) -> str:
            return (midnight + timedelta(seconds=int(seconds))).isoformat()

        rows = [{"seq": 0, "kind": "start", "ref": str(worker_id), "name": "出发 start",
                 "lon": lonlat[0].x, "lat": lonlat[0].y, "eta": clock(route.start_s)}]
        for seq, (visit, stop, p) in enumerate(zip(route.visits, visited, lonlat[1:],
                                                   strict=True), start=1):
            category = self.rules.category(stop.name)
            rows.append({"seq": seq, "kind": "incident", "ref": str(stop.stop_id),
                         "name": f"{category.name_zh} {category.name_en} #{stop.stop_id}",
                         "category": stop.name, "lon": p.x, "lat": p.y,
                         "eta": clock(visit.arrival_s), "leave": clock(visit.departure_s),
                         "service_s": stop.service_s})
        path = to_wgs84([line], net.crs)[0] if line is not None else None
        return {"stops": rows, "path": path, "distance_m": float(route.distance_m),
                "duration_s": float(route.end_s - route.start_s)}

    def _save(self, plan_id: int, worker_id: int, rows: dict) -> m.RouteRow | None:
        if len(rows["stops"]) <= 1:  # nothing to visit: no route
            self.session.execute(delete(m.RouteRow).where(
                m.RouteRow.plan_id == plan_id, m.RouteRow.worker_id == worker_id,
                m.RouteRow.day == self.day, m.RouteRow.kind == VISITS))
            return None
        return save_route(self.session, plan_id=plan_id, worker_id=worker_id, day=self.day,
                          kind=VISITS, **rows)


def _error(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ApiError):
        return {"zh": f"未更新路线：{exc.zh}", "en": f"route not updated: {exc.en}"}
    return {"zh": f"路线计算失败，未更新路线：{exc}", "en": f"routing failed, route not "
            f"updated: {exc}"}
