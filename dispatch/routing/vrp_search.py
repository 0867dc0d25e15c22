"""OR-Tools search for routing benchmark instances (TSP, CVRP, VRPTW).

The model is an OR-Tools RoutingModel over integer transit matrices (no Python callbacks). The
search is OR-Tools' iterated local search (ILS): each iteration ruins the reference solution with
SISR string removals (Christiaens & Vanden Berghe, Transportation Science 2020), recreates it by
cheapest insertion, improves it with OR-Tools' local search operators, and accepts it by simulated
annealing. Measured on ../shared/bench at 5 s this replaced guided local search, which stalled at
5.4% above the optimum of X-n101-k25 and 8.1% above the best-known value of RC208. Longer limits
may be split into independent runs (other renumberings of the customers), the best kept.

Two ways to stop:

- anytime (``seed=None``): at the wall-clock limit, the best for a given time;
- repeatable (``seed=N``): after a fixed amount of work, OR-Tools' count of explored solutions,
  proportional to the time limit (``IlsSettings.work_rate``, calibrated on the development machine
  so that the work takes about the time limit there). The customers are renumbered by a permutation
  drawn from ``N``: that is what varies the search between seeds, since OR-Tools seeds its ILS
  random generator with 0. Same instance, seed and time limit give the same routes on any
  machine; the wall time then follows the machine's speed and load instead of the limit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from google.protobuf import text_format
from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
    routing_parameters_pb2,
    solver_parameters_pb2,
)
from ortools.util.optional_boolean_pb2 import BOOL_FALSE, BOOL_TRUE

from dispatch.routing.vrp import route_cost

if TYPE_CHECKING:
    from dispatch.routing.vrp import Instance

SAFETY_SECONDS = 0.1  # kept back: OR-Tools finishes its current move after the limit


@dataclass(frozen=True)
class IlsSettings:
    """Search parameters; temperatures are multiples of the mean distance from a node to its five
    nearest neighbours, so that they follow the instance's distance scale."""

    guided: bool = False  # guided local search instead of ILS
    removed_visits: int = 10  # SISR average removed customers (c-bar in the paper)
    sequence_size: int = 10  # SISR maximum string length (L-max)
    bypass_factor: float = 0.01  # SISR split-string alpha
    initial_temperature: float = 1.2
    final_temperature: float = 0.012
    improve: bool = False  # OR-Tools local search after each recreate
    insertion_order: str = "SORTING_PROPERTY_RANDOM"  # recreate order of the removed customers
    run_seconds: float | None = None  # independent runs of about this length, best kept
    # Local search operators kept on (all others off) when ``improve``; None: OR-Tools' set
    # minus _SLOW_OPERATORS.
    operators: tuple[str, ...] | None = None
    # Repeatable mode: OR-Tools explored solutions allowed a second for 100 nodes (scaled by
    # 100 / nodes), measured on the development machine (2 cores shared with other jobs).
    work_rate: float = 1600.0

    def runs(self, seconds: float) -> int:
        """Independent runs in ``seconds`` (one unless ``run_seconds`` is set)."""
        return max(1, int(seconds // self.run_seconds)) if self.run_seconds else 1

    def work_budget(self, inst: Instance, seconds: float) -> int:
        """Solutions a repeatable run of ``seconds`` may explore on ``inst``."""
        return max(1, int(self.work_rate * seconds * 100 / max(inst.size, 1)))


# Moves between routes (relocate, exchange, cross = 2-opt*) and within a route (2-opt, or-opt).
# Without relocate_expensive_chain and Lin-Kernighan, each local search after a recreate takes a
# third of the time on X-n101-k25 (about 70 -> 200 ILS iterations a CPU second). OR-Tools 9.15
# cannot restrict these operators to near neighbours: with ls_operator_neighbors_ratio < 1 its
# relocate, exchange and cross scan millions of neighbours without accepting one.
_FAST_OPERATORS = ("use_relocate", "use_exchange", "use_cross", "use_two_opt", "use_or_opt")

# Tuned on ../shared/bench (bench/vrp_results.md); (shortest time limit, settings) per kind.
# TSP: guided local search reaches the kroA100 optimum in seconds where ILS stalls near 2%.
# CVRP, from 10 s: many cheap ruin-and-recreate iterations without local search, as in SISR;
# single runs on X-n101-k25 scatter widely (six seeds, 10 s of work each: 1.30 0.64 2.42 1.02
# 0.41 1.50%; at 5 s: 0.29 0.32 2.68 1.44 2.72 2.96%; at 15 s: 0.32 1.77 0.35 1.51 1.54%),
# so longer limits are split into independent 10 s runs and the best kept. On the same six
# seeds these were worse on average: the whole schedule x0.5 or x2, the final temperature x0.25
# or x2.5, ruins of 7, 12 or 15 customers, OR-Tools' default insertion order (strings of at
# most 5: no change, routes hold about 4 customers). Under 10 s, local search after each recreate is
# steadier, with _FAST_OPERATORS only: X-n101-k25 at 5 CPU s of work, seeds 1-6: 2.21 2.08 1.83 1.96
# 2.58 1.53 -> 1.52 1.79 1.13 1.91 2.08 1.81% (seeds 7, 8: 1.73 1.56; 11-22: 1.97 1.90 1.61 0.97
# 1.79 2.15 0.25 0.21 1.86 1.88 1.06 1.58%; anytime 5 s, load 1.8: 1.84 1.88 1.90 0.31 1.52 0.83
# 1.79 1.79%). Not better at equal CPU time (8-12 seeds, medians 1.5-1.8%, within the scatter):
# dropping cross or 2-opt, adding cross_exchange, temperatures x0.25/x0.5/x2, ruins of 15, random
# insertion order, parallel cheapest insertion as recreate (savings: 3.3%), SISR mixed with ruins of
# 2 or 3 spatially close routes, OR-Tools' fast local search (check_solution_period 100: 1.92%). A
# fixed cost per vehicle, or 26 vehicles, gives 26 routes but 2-4.6%; a soft capacity (penalised
# overload) ends 1-5 units over with 26 routes, and repairing that costs a 27th route (+4%). Runs
# end in one of two basins: 27 routes near 1.5-2%, 26 routes near 0.2-1%. At 10 s of work the fast
# operators still lose to no local search (single runs, seeds 1-8: median 1.46% against 0.99%), so
# the 10 s runs stay without it.
# VRPTW: local search after each recreate pays off (RC208 at 5 s, same schedule: 2.4% with,
# 5.8% without).
SETTINGS: dict[str, list[tuple[float, IlsSettings]]] = {
    "TSP": [(0.0, IlsSettings(guided=True, work_rate=70.0))],
    "CVRP": [(0.0, IlsSettings(initial_temperature=3.5, final_temperature=0.035, improve=True,
                               insertion_order="", operators=_FAST_OPERATORS, work_rate=600.0)),
             (10.0, IlsSettings(run_seconds=10.0, work_rate=1600.0))],
    "VRPTW": [(0.0, IlsSettings(initial_temperature=4.0, final_temperature=0.1, improve=True,
                                insertion_order="", work_rate=280.0))],
}


def settings_for(kind: str, seconds: float) -> IlsSettings:
    """The settings tuned for this kind of problem and time limit."""
    return [chosen for shortest, chosen in SETTINGS[kind] if seconds >= shortest][-1]


# Local search operators that rebuild paths by insertion: slow, and redundant with the ruin and
# recreate step (measured: RC208 at 5 s 2.4% with them, 1.1% without).
_SLOW_OPERATORS = (
    "use_global_cheapest_insertion_path_lns", "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns", "use_local_cheapest_insertion_visit_types_lns",
)


def node_order(size: int, seed: int, run: int = 0) -> np.ndarray:
    """Model node k is instance node order[k]: the depot (0) first, the customers in a
    permutation drawn from (seed, run)."""
    rng = np.random.default_rng([seed, run])
    return np.concatenate([[0], rng.permutation(np.arange(1, size))])


def search(inst: Instance, seconds: float, seed: int | None, started: float,
           settings: IlsSettings | None = None) -> tuple[list[list[int]], dict[str, Any]]:
    """Routes (instance node indices; TSP: one tour starting at node 0; otherwise depot excluded)
    found in ``seconds`` counted from ``started`` (a ``time.perf_counter()`` value)."""
    settings = settings or settings_for(inst.kind, seconds)
    runs = settings.runs(seconds)
    # Anytime runs are not repeatable anyway: they draw fresh renumberings, since on
    # X-n101-k25 the renumbering largely decides which of two cost levels a run ends at and a
    # fixed default would repeat the same luck on every call.
    # SeedSequence() draws its entropy as one int.
    numbering = (seed if seed is not None
                 else int(cast(int, np.random.SeedSequence().entropy) % 2**63))
    best: tuple[float, list[list[int]]] | None = None
    budget = None
    for run in range(runs):
        if seed is None:  # the time left is shared by the runs left
            run_end = time.perf_counter() + (
                seconds - (time.perf_counter() - started) - SAFETY_SECONDS) / (runs - run)
        else:
            budget = settings.work_budget(inst, seconds / runs)
            run_end = None
        routes = _run(inst, settings, node_order(inst.size, numbering, run), run_end, budget)
        cost = route_cost(inst, routes)
        if best is None or cost < best[0]:
            best = (cost, routes)
    assert best is not None, "settings give at least one run"
    return best[1], {"mode": "anytime" if seed is None else "repeatable", "runs": runs,
                     "work_budget_per_run": budget, "numbering": numbering}


def _run(inst: Instance, settings: IlsSettings, order: np.ndarray, run_end: float | None,
         budget: int | None) -> list[list[int]]:
    """One OR-Tools search on the model renumbered by ``order``, until ``run_end`` (a
    ``time.perf_counter()`` value) or, if None, until ``budget`` explored solutions."""
    manager, routing, vehicles = _build_model(inst, order)
    time_left = None if run_end is None else run_end - time.perf_counter()
    if time_left is not None and time_left <= 0:
        raise TimeoutError(f"{inst.name}: no time left for the search after building the model")
    params = _parameters(inst, settings, time_left, budget)
    if settings.guided:
        found = routing.SolveWithParameters(params)
    else:
        found = routing.SolveWithIteratedLocalSearch(params)
    if found is None:
        raise RuntimeError(f"{inst.name}: OR-Tools found no feasible solution")
    routes: list[list[int]] = []
    for v in range(vehicles):
        index = routing.Start(v)
        route: list[int] = []
        while not routing.IsEnd(index):
            node = int(order[manager.IndexToNode(index)])
            if node != 0 or inst.kind == "TSP":
                route.append(node)
            index = found.Value(routing.NextVar(index))
        if route:
            routes.append(route)
    return routes


def _build_model(
    inst: Instance, order: np.ndarray,
) -> tuple[pywrapcp.RoutingIndexManager, pywrapcp.RoutingModel, int]:
    vehicles = 1 if inst.kind == "TSP" else inst.vehicles
    distance = inst.distance[np.ix_(order, order)]
    manager = pywrapcp.RoutingIndexManager(inst.size, vehicles, 0)
    model_params = pywrapcp.DefaultRoutingModelParameters()
    # The default zlib-compressed trail costs about 9% of the search time here (X-n101-k25, same
    # routes for the same work); memory is not the constraint at these sizes.
    model_params.solver_parameters.compress_trail = (
        solver_parameters_pb2.ConstraintSolverParameters.NO_COMPRESSION)
    routing = pywrapcp.RoutingModel(manager, model_params)
    cost = routing.RegisterTransitMatrix(distance.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cost)
    if inst.demand is not None:
        demand = routing.RegisterUnaryTransitVector(inst.demand[order].tolist())
        routing.AddDimensionWithVehicleCapacity(demand, 0, [inst.capacity] * vehicles, True,
                                                "load")
    if inst.time_window is not None:
        assert inst.service is not None, "a VRPTW has service times"
        windows = inst.time_window[order]
        # Travel time equals distance; the service time is spent at the node left.
        travel = (distance + inst.service[order][:, None]).tolist()
        horizon = int(windows[0, 1])
        transit = routing.RegisterTransitMatrix(travel)
        routing.AddDimension(transit, horizon, horizon, False, "time")
        times = routing.GetDimensionOrDie("time")
        for node in range(1, inst.size):
            lo, hi = windows[node]
            times.CumulVar(manager.NodeToIndex(node)).SetRange(math.ceil(lo), int(hi))
    return manager, routing, vehicles


def _temperatures(inst: Instance, settings: IlsSettings) -> tuple[float, float]:
    distance = inst.distance.astype(float)
    np.fill_diagonal(distance, np.inf)
    k = min(5, inst.size - 1)
    scale = float(np.sort(distance, axis=1)[:, :k].mean())
    return settings.initial_temperature * scale, settings.final_temperature * scale


def _parameters(inst: Instance, settings: IlsSettings, time_left: float | None,
                budget: int | None) -> routing_parameters_pb2.RoutingSearchParameters:
    """Search parameters. With a work budget (repeatable mode) there is no time limit: the ILS
    simulated-annealing temperature follows max(elapsed / time limit, work / budget), and a wall
    clock in that formula would make the accepted solutions depend on the machine's speed."""
    params = pywrapcp.DefaultRoutingSearchParameters()
    strategy = routing_enums_pb2.FirstSolutionStrategy
    metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic
    params.first_solution_strategy = (
        strategy.SAVINGS if inst.kind == "CVRP" else strategy.PATH_CHEAPEST_ARC)
    if budget is None:
        assert time_left is not None, "a search without a work budget has a time limit"
        params.time_limit.FromMilliseconds(max(1, int(time_left * 1000)))
    else:
        params.solution_limit = budget
    if settings.guided:
        params.local_search_metaheuristic = metaheuristic.GUIDED_LOCAL_SEARCH
        return params
    params.local_search_metaheuristic = metaheuristic.GREEDY_DESCENT
    operators = params.local_search_operators
    for field in operators.DESCRIPTOR.fields:
        if settings.operators is not None:
            setattr(operators, field.name,
                    BOOL_TRUE if field.name in settings.operators else BOOL_FALSE)
        elif field.name in _SLOW_OPERATORS:
            setattr(operators, field.name, BOOL_FALSE)
    t0, t1 = _temperatures(inst, settings)
    recreate = (f"parameters {{ local_cheapest_insertion {{ insertion_sorting_properties: "
                f"{settings.insertion_order} }} }}" if settings.insertion_order else "")
    text_format.Merge(f"""
        use_iterated_local_search: true
        iterated_local_search_parameters {{
          perturbation_strategy: RUIN_AND_RECREATE
          ruin_recreate_parameters {{
            ruin_strategies {{ sisr {{
              max_removed_sequence_size: {settings.sequence_size}
              avg_num_removed_visits: {settings.removed_visits}
              bypass_factor: {settings.bypass_factor} }} }}
            recreate_strategy {{ heuristic: LOCAL_CHEAPEST_INSERTION {recreate} }}
          }}
          improve_perturbed_solution: {str(settings.improve).lower()}
          reference_solution_acceptance_strategy {{ simulated_annealing {{
            cooling_schedule_strategy: EXPONENTIAL
            initial_temperature: {t0:.6f} final_temperature: {t1:.6f} }} }}
          best_solution_acceptance_strategy {{ greedy_descent {{}} }}
        }}""", params)
    return params
