"""A worker's route for one day: the day's household visits and the incidents dispatched to
them, re-planned during the day with what is already done kept as it was.

The same OR-Tools routing model as ``dispatch.routing.visits`` (walking distance and time as
transit matrices, a time dimension with the shift and the stops' time windows), one vehicle.
Re-planning when a visit or an incident is added during the day: the stops already done are a
*locked prefix* of the route. The model is closed, the prefix is fixed with
``RoutingModel.ApplyLocksToAllVehicles`` and held by constraints on its ``NextVar``s (so that
no local search move undoes it), the previous order is read back with
``ReadAssignmentFromRoutes`` as the first solution, and stops not yet done may start no earlier
than ``now``. Distances in metres, times in seconds from 00:00, positions in the walk
network's metric CRS.
"""

from __future__ import annotations

import itertools
import time as clock_time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.routing.network import WALK_SPEED_KMH, WalkNetwork
from dispatch.routing.visits import DAY_S, MANDATORY_PENALTY_M, PENALTY_PER_PRIORITY_M, Stop
from gis.errors import ArgumentError

STEPS_PER_STOP = 40  # local search solutions per stop: a fixed amount of work, repeatable


@dataclass
class DayVisit:
    """A stop of the day's route: arrival and departure (s from 00:00), done or not."""

    stop_id: object
    arrival_s: int
    departure_s: int
    done: bool = False


@dataclass
class DayRoute:
    """A worker's route for the day.

    Attributes:
        worker_id: the caller's id.
        visits: the stops in walking order, those done first.
        distance_m: walk from the base through every stop and back (m).
        dropped: stops that do not fit in the shift.
        seconds: solve time.
    """

    worker_id: object
    visits: list[DayVisit]
    distance_m: int
    dropped: list[object] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def order(self) -> list[object]:
        """The stop ids in walking order."""
        return [v.stop_id for v in self.visits]


def _matrices(net: WalkNetwork, base: tuple[float, float], stops: Sequence[Stop],
              speed_kmh: float) -> tuple[np.ndarray, np.ndarray]:
    xs = [base[0]] + [s.x for s in stops]
    ys = [base[1]] + [s.y for s in stops]
    metres = net.point_distances(xs, ys)
    if not np.isfinite(metres).all():
        bad = [str(stops[i - 1].stop_id) for i in range(1, len(xs))
               if not np.isfinite(metres[i]).all()]
        raise ArgumentError(f"这些走访点在步行路网上无法到达：{', '.join(bad[:5])}",
                            f"these stops cannot be reached on the walk network: "
                            f"{', '.join(bad[:5])}")
    metres = np.rint(metres).astype(np.int64)
    service = np.array([0] + [s.service_s for s in stops], dtype=np.int64)
    seconds = np.rint(metres / (speed_kmh / 3.6)).astype(np.int64) + service[:, None]
    np.fill_diagonal(seconds, 0)
    return metres, seconds


def plan_day(net: WalkNetwork, worker_id: object, base: tuple[float, float],
             stops: Sequence[Stop], *, shift: tuple[int, int] = (8 * 3600, 17 * 3600),
             done: Sequence[object] = (), previous: Sequence[object] | None = None,
             now_s: int | None = None, steps: int | None = None, seconds: float = 5.0,
             speed_kmh: float = WALK_SPEED_KMH) -> DayRoute:
    """Route one worker's day, keeping the stops already done.

    Args:
        net: the walk network.
        worker_id: the caller's id.
        base: where the day starts and ends (m, metric CRS).
        stops: every stop of the day: household visits (one per building, the service time
            of its households) and incidents (mandatory, optionally with a time window);
            the stops already done among them.
        shift: the worker's shift (s from 00:00).
        done: ids of the stops already done, in the order they were done: the route's
            locked prefix.
        previous: the order planned before (ids; new stops missing from it are inserted),
            the first solution of the search.
        now_s: the time of re-planning: stops not done start no earlier.
        steps: local search solutions explored (default ``STEPS_PER_STOP`` per stop), a
            fixed amount of work so that the same input gives the same route.
        seconds: wall-clock safety limit.
        speed_kmh: walking speed.

    Returns:
        The :class:`DayRoute`.

    Raises:
        ArgumentError: a done stop is not among ``stops``, or a stop cannot be reached.
    """
    started = clock_time.perf_counter()
    ids = [s.stop_id for s in stops]
    position = {sid: i + 1 for i, sid in enumerate(ids)}
    unknown = [d for d in done if d not in position]
    if unknown:
        raise ArgumentError(f"已完成的走访点 {unknown[:5]} 不在当天的走访点中",
                            f"done stops {unknown[:5]} are not among the day's stops")
    if len(set(done)) != len(done):
        raise ArgumentError("已完成的走访点重复出现", "a done stop is listed twice")
    metres, times = _matrices(net, base, stops, speed_kmh)
    manager = pywrapcp.RoutingIndexManager(len(metres), 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    distance = routing.RegisterTransitMatrix(metres.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(distance)
    time_cb = routing.RegisterTransitMatrix(times.tolist())
    routing.AddDimension(time_cb, DAY_S, DAY_S, False, "time")
    clock = routing.GetDimensionOrDie("time")
    clock.CumulVar(routing.Start(0)).SetRange(*shift)
    clock.CumulVar(routing.End(0)).SetRange(shift[0], max(shift[1], now_s or 0))
    routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(0)))
    done_set = set(done)
    for i, stop in enumerate(stops):
        index = manager.NodeToIndex(i + 1)
        lo, hi = stop.window if stop.window is not None else (0, DAY_S)
        if now_s is not None and stop.stop_id not in done_set:
            lo = max(lo, now_s)
            hi = max(hi, lo)
        clock.CumulVar(index).SetRange(lo, hi)
        if stop.stop_id not in done_set:
            penalty = (MANDATORY_PENALTY_M if stop.priority is None
                       else PENALTY_PER_PRIORITY_M * int(stop.priority))
            routing.AddDisjunction([index], penalty)

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    params.solution_limit = steps or max(50, STEPS_PER_STOP * len(stops))
    routing.CloseModelWithParameters(params)

    locked = [manager.NodeToIndex(position[d]) for d in done]
    if locked:
        # the prefix, as a search lock and as constraints local search cannot undo
        routing.ApplyLocksToAllVehicles([locked], False)
        chain = [routing.Start(0), *locked]
        solver = routing.solver()
        for a, b in itertools.pairwise(chain):
            solver.Add(routing.NextVar(a) == b)
    solution = None
    if previous is not None or locked:
        order = [d for d in done]
        order += [s for s in (previous or []) if s in position and s not in done_set]
        order += [s for s in ids if s not in set(order)]
        start = routing.ReadAssignmentFromRoutes(
            [[manager.NodeToIndex(position[s]) for s in order]], True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, params)
    if solution is None:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        raise RuntimeError(f"no route for {worker_id}: check the shift and time windows")

    visits: list[DayVisit] = []
    index = routing.Start(0)
    dist, prev = 0, 0
    served: set[int] = set()
    while not routing.IsEnd(index):
        index = solution.Value(routing.NextVar(index))
        node = manager.IndexToNode(index)
        dist += int(metres[prev, node])
        prev = node
        if not routing.IsEnd(index):
            stop = stops[node - 1]
            arrival = solution.Min(clock.CumulVar(index))
            visits.append(DayVisit(stop.stop_id, arrival, arrival + stop.service_s,
                                   stop.stop_id in done_set))
            served.add(node - 1)
    dropped = [s.stop_id for i, s in enumerate(stops) if i not in served]
    return DayRoute(worker_id, visits, dist, dropped,
                    round(clock_time.perf_counter() - started, 3))
