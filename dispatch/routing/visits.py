"""Visit routes: door-to-door visits (入户走访), inspections and incidents for several workers.

A vehicle routing problem on the walk network, solved with the OR-Tools routing library the way
its own samples do it: distances and travel times registered as transit matrices (no Python
callbacks in the search), a time dimension carrying time windows, service times and each
worker's shift, optional stops as disjunctions whose drop penalty grows with their priority
(prize-collecting), a cheapest-insertion first solution and guided local search under a time
limit. The search is OR-Tools' iterated local search: ruin and recreate (SISR string removals,
cheapest insertion) accepted by simulated annealing, as ``dispatch.routing.vrp_search`` uses for
the benchmark instances, with larger ruins (15 visits, strings up to 15) and no local search
after each recreate, the best of the settings measured on 300 stops at 5 s (guided local search
ended 7.7% above PyVRP given 60 s; ``bench/dispatch_bench.py``).

Distances are metres, times seconds from the start of the day (0 = 00:00), coordinates the
walk network's metric CRS.
"""

from __future__ import annotations

import time as clock_time
from dataclasses import dataclass, field

import numpy as np
from google.protobuf import text_format
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_parameters_pb2

from dispatch.routing.network import WALK_SPEED_KMH, WalkNetwork
from gis.errors import ArgumentError

DAY_S = 24 * 3600
PENALTY_PER_PRIORITY_M = 1000  # dropping an optional stop of priority p costs p km of walking
MANDATORY_PENALTY_M = 10_000_000  # a mandatory stop is dropped only when it cannot fit at all
# Search steps (solutions explored) per second for 100 stops in deterministic mode, measured
# on the development machine; scaled by 100 / stops.
STEPS_PER_SECOND_100 = 120


@dataclass
class Stop:
    """A place to visit.

    Attributes:
        stop_id: the caller's id.
        x, y: position (m, the network's metric CRS).
        service_s: time spent there (s).
        window: earliest and latest arrival (s from 00:00); None for any time.
        priority: None for a mandatory stop; 1 (low) to 10 (high) for an optional one that may be
            dropped at a cost of ``priority`` km of walking.
        name: shown in turn lists and maps.
    """

    stop_id: object
    x: float
    y: float
    service_s: int = 300
    window: tuple[int, int] | None = None
    priority: int | None = None
    name: str = ""


@dataclass
class Walker:
    """A worker's day: where it starts (m, metric CRS), shift (s from 00:00) and where it ends
    (``end``, m; None: back where it started). A route re-planned during the day starts where
    the worker is and ends at the base."""

    worker_id: object
    x: float
    y: float
    shift: tuple[int, int] = (8 * 3600, 17 * 3600)
    name: str = ""
    end: tuple[float, float] | None = None


@dataclass
class Visit:
    """A stop on a route: arrival and departure (s from 00:00)."""

    stop_id: object
    arrival_s: int
    departure_s: int


@dataclass
class VisitRoute:
    """One worker's route: ordered visits, from the base and back."""

    worker_id: object
    visits: list[Visit]
    distance_m: int
    start_s: int
    end_s: int


@dataclass
class VisitPlan:
    """Every walker's route; ``distance_m`` their total walk (m), ``objective`` OR-Tools'
    cost (metres plus the penalties of dropped stops), ``seconds`` the time taken."""

    routes: list[VisitRoute]
    dropped: list[object] = field(default_factory=list)  # stop ids left out
    distance_m: int = 0
    objective: int = 0
    seconds: float = 0.0


def _end_nodes(walkers: list[Walker]) -> list[int]:
    """Matrix node where each walker ends: its start, or a node of its own after the starts."""
    ends, extra = [], len(walkers)
    for v, w in enumerate(walkers):
        if w.end is None:
            ends.append(v)
        else:
            ends.append(extra)
            extra += 1
    return ends


def _matrices(net: WalkNetwork, walkers: list[Walker], stops: list[Stop],
              speed_kmh: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer walking distance (m) and time (s, with the service at the origin) matrices.

    Nodes: one per walker's start, one per distinct end (:func:`_end_nodes`), then the stops.
    """
    ends = [w.end for w in walkers if w.end is not None]
    xs = [w.x for w in walkers] + [e[0] for e in ends] + [s.x for s in stops]
    ys = [w.y for w in walkers] + [e[1] for e in ends] + [s.y for s in stops]
    metres = net.point_distances(xs, ys)
    if not np.isfinite(metres).all():
        bad = [i for i in range(len(xs)) if not np.isfinite(metres[i]).all()]
        raise ArgumentError(f"{len(bad)} 个地点在步行路网上无法到达："
                            "请检查出发点和走访点是否在研究区域内",
                            f"{len(bad)} places cannot be reached on the walk network: "
                            "check that bases and stops lie inside the study area")
    metres = np.rint(metres).astype(np.int64)
    service = np.array([0] * (len(walkers) + len(ends)) + [s.service_s for s in stops],
                       dtype=np.int64)
    seconds = np.rint(metres / (speed_kmh / 3.6)).astype(np.int64) + service[:, None]
    np.fill_diagonal(seconds, 0)
    return metres, seconds


def plan_visits(net: WalkNetwork, walkers: list[Walker], stops: list[Stop], *,
                seconds: float = 5.0, deterministic: bool = False,
                steps: int | None = None, speed_kmh: float = WALK_SPEED_KMH,
                initial_routes: list[list[object]] | None = None) -> VisitPlan:
    """Route ``walkers`` over ``stops``.

    Args:
        net: the walk network.
        walkers: the workers out today, each from and back to their base.
        stops: the places to visit.
        seconds: time limit for the search.
        deterministic: stop after a number of search steps proportional to ``seconds``
            (``STEPS_PER_SECOND_100``) so the same input gives the same routes (on a machine
            much slower than the development one the time limit, still a safety net, may end
            the search first); otherwise the best found within ``seconds``.
        steps: a fixed number of search steps (solutions explored), whatever the machine's
            load: repeatable as long as the time limit does not end the search first.
        speed_kmh: walking speed.
        initial_routes: stop ids per walker to start from (e.g. today's routes before an
            incident is inserted); stops not in them are inserted by the search.

    Returns:
        A :class:`VisitPlan`; stops that cannot be served are listed in ``dropped``.
    """
    if not walkers:
        raise ArgumentError("没有可规划路线的网格员：请至少给出一名",
                            "no worker to route: give at least one worker")
    started = clock_time.perf_counter()
    metres, times = _matrices(net, walkers, stops, speed_kmh)
    n_w = len(walkers)
    first_stop = len(metres) - len(stops)
    manager = pywrapcp.RoutingIndexManager(len(metres), n_w, list(range(n_w)),
                                           _end_nodes(walkers))
    routing = pywrapcp.RoutingModel(manager)
    distance = routing.RegisterTransitMatrix(metres.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(distance)
    time = routing.RegisterTransitMatrix(times.tolist())
    routing.AddDimension(time, DAY_S, DAY_S, False, "time")
    clock = routing.GetDimensionOrDie("time")
    for v, w in enumerate(walkers):
        clock.CumulVar(routing.Start(v)).SetRange(*w.shift)
        clock.CumulVar(routing.End(v)).SetRange(*w.shift)
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.Start(v)))
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(v)))
    for i, stop in enumerate(stops):
        index = manager.NodeToIndex(first_stop + i)
        if stop.window is not None:
            clock.CumulVar(index).SetRange(*stop.window)
        penalty = (MANDATORY_PENALTY_M if stop.priority is None
                   else PENALTY_PER_PRIORITY_M * int(stop.priority))
        routing.AddDisjunction([index], penalty)

    if steps is None and deterministic:
        steps = max(1, int(STEPS_PER_SECOND_100 * seconds * 100 / max(len(stops), 1)))
    params = _search_parameters(metres, seconds, steps)
    solution = None
    if initial_routes:
        position = {s.stop_id: first_stop + i for i, s in enumerate(stops)}
        routes = [[manager.NodeToIndex(position[s]) for s in r if s in position]
                  for r in initial_routes]
        start = routing.ReadAssignmentFromRoutes(routes, True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        solution = routing.SolveWithIteratedLocalSearch(params)
    if solution is None:
        raise RuntimeError("no route found: check shifts and time windows")
    plan = _read_plan(routing, manager, solution, walkers, stops, metres, clock, first_stop)
    plan.seconds = round(clock_time.perf_counter() - started, 3)
    return plan


def _search_parameters(metres: np.ndarray, seconds: float,
                       steps: int | None) -> routing_parameters_pb2.RoutingSearchParameters:
    """Iterated local search with SISR ruin and recreate; temperatures scale with the mean
    walk to a place's five nearest neighbours."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT)
    near = metres.astype(float)
    np.fill_diagonal(near, np.inf)
    scale = float(np.sort(near, axis=1)[:, :min(5, len(near) - 1)].mean()) if len(near) > 1 else 1
    text_format.Merge(f"""
        use_iterated_local_search: true
        iterated_local_search_parameters {{
          perturbation_strategy: RUIN_AND_RECREATE
          ruin_recreate_parameters {{
            ruin_strategies {{ sisr {{ max_removed_sequence_size: 15
                                      avg_num_removed_visits: 15 bypass_factor: 0.01 }} }}
            recreate_strategy {{ heuristic: LOCAL_CHEAPEST_INSERTION }}
          }}
          improve_perturbed_solution: false
          reference_solution_acceptance_strategy {{ simulated_annealing {{
            cooling_schedule_strategy: EXPONENTIAL
            initial_temperature: {12 * scale:.4f} final_temperature: {0.012 * scale:.4f} }} }}
          best_solution_acceptance_strategy {{ greedy_descent {{}} }}
        }}""", params)
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    if steps is not None:
        params.solution_limit = steps
    return params


def _read_plan(routing: pywrapcp.RoutingModel, manager: pywrapcp.RoutingIndexManager,
               solution: pywrapcp.Assignment, walkers: list[Walker], stops: list[Stop],
               metres: np.ndarray, clock: pywrapcp.RoutingDimension,
               first_stop: int) -> VisitPlan:
    routes: list[VisitRoute] = []
    served: set[int] = set()
    for v, walker in enumerate(walkers):
        index = routing.Start(v)
        visits: list[Visit] = []
        dist, prev = 0, manager.IndexToNode(index)
        while not routing.IsEnd(index):
            index = solution.Value(routing.NextVar(index))
            node = manager.IndexToNode(index)
            dist += int(metres[prev, node])
            prev = node
            if not routing.IsEnd(index):
                stop = stops[node - first_stop]
                arrival = solution.Min(clock.CumulVar(index))
                visits.append(Visit(stop.stop_id, arrival, arrival + stop.service_s))
                served.add(node - first_stop)
        routes.append(VisitRoute(walker.worker_id, visits, dist,
                                 solution.Min(clock.CumulVar(routing.Start(v))),
                                 solution.Min(clock.CumulVar(routing.End(v)))))
    dropped = [s.stop_id for i, s in enumerate(stops) if i not in served]
    return VisitPlan(routes, dropped, sum(r.distance_m for r in routes),
                     solution.ObjectiveValue())
