"""Routing benchmark instances (TSPLIB, VRPLIB: TSP, CVRP, VRPTW) solved with OR-Tools.

Costs follow each file's own distance convention: TSPLIB EUC_2D rounds to the nearest integer
(TSP and the CVRPLIB X set); a Solomon instance with ``SCALE : 10`` (DIMACS convention) truncates
distances to one decimal, and its travel times equal its distances. Internally every distance is
an integer (times the scale), as OR-Tools needs; the solver is given transit matrices, never
Python callbacks, for speed.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from gis.errors import InputError, check_file


@dataclass
class Instance:
    """A routing instance; node 0 is the depot (TSP: the first city)."""

    name: str
    kind: str  # "TSP", "CVRP" or "VRPTW"
    labels: list[int]  # the file's own node numbers
    distance: np.ndarray  # integers: file distance x scale
    scale: int = 1
    demand: np.ndarray | None = None
    capacity: int | None = None
    vehicles: int = 1
    time_window: np.ndarray | None = None  # (n, 2), scaled
    service: np.ndarray | None = None  # scaled
    coords: np.ndarray | None = None  # (n, 2) file coordinates, for solvers that use geometry

    @property
    def size(self) -> int:
        """Number of nodes, the depot included."""
        return len(self.labels)


@dataclass
class Solution:
    """Routes found for an instance, their cost and the wall time taken (s)."""

    cost: float  # in the file's units
    routes: list[list[int]]  # the file's node numbers, depot excluded
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def _sections(text: str) -> tuple[dict[str, str], dict[str, list[list[str]]]]:
    header: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        match = re.match(r"^([A-Z_]+)\s*:\s*(.*)$", line)
        if match and not line.endswith("SECTION"):
            header[match.group(1)] = match.group(2).strip().strip('"')
            current = None
        elif line.endswith("SECTION"):
            current = line
            sections[current] = []
        elif current:
            sections[current].append(line.split())
    return header, sections


def read_instance(path: str | Path) -> Instance:
    """Read a TSPLIB (.tsp) or VRPLIB (.vrp) file with EUC_2D coordinates.

    Raises:
        InputError: an unreadable file, or one without node coordinates.
    """
    path = check_file(path)
    header, sec = _sections(path.read_text(encoding="utf-8", errors="replace"))
    coords = sec.get("NODE_COORD_SECTION")
    if not coords or header.get("EDGE_WEIGHT_TYPE", "EUC_2D") != "EUC_2D":
        raise InputError(path, "no EUC_2D NODE_COORD_SECTION",
                         "give a TSPLIB/VRPLIB file with EUC_2D node coordinates",
                         problem_zh="缺少 EUC_2D 坐标节",
                         hint_zh="请提供带 EUC_2D 坐标的 TSPLIB/VRPLIB 文件")
    labels = [int(r[0]) for r in coords]
    xy = np.array([[float(r[1]), float(r[2])] for r in coords])
    depot = 0
    if "DEPOT_SECTION" in sec:
        first = int(sec["DEPOT_SECTION"][0][0])
        depot = labels.index(first)
    order = [depot] + [i for i in range(len(labels)) if i != depot]
    labels = [labels[i] for i in order]
    xy = xy[order]
    euclid = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    scale = int(header.get("SCALE", 1))
    kind = "TSP" if header.get("TYPE", "").upper() == "TSP" else (
        "VRPTW" if "TIME_WINDOW_SECTION" in sec else "CVRP")
    if scale > 1:  # DIMACS: truncate to 1/scale
        distance = np.floor(euclid * scale + 1e-9).astype(np.int64)
    else:  # TSPLIB nint
        distance = np.floor(euclid + 0.5).astype(np.int64)
    inst = Instance(header.get("NAME", path.stem), kind, labels, distance, scale, coords=xy)
    if kind != "TSP":
        demand = {int(r[0]): int(r[1]) for r in sec.get("DEMAND_SECTION", [])}
        inst.demand = np.array([demand.get(lab, 0) for lab in labels], dtype=np.int64)
        inst.capacity = int(header["CAPACITY"])
        inst.vehicles = int(header.get("VEHICLES", 0)) or _vehicles_from_name(
            inst.name, inst.demand, inst.capacity)
    if kind == "VRPTW":
        windows = {int(r[0]): (float(r[1]), float(r[2])) for r in sec["TIME_WINDOW_SECTION"]}
        inst.time_window = np.array([windows[lab] for lab in labels]) * scale
        service = float(header.get("SERVICE_TIME", 0))
        inst.service = np.full(len(labels), round(service * scale), dtype=np.int64)
        inst.service[0] = 0
    return inst


def _vehicles_from_name(name: str, demand: np.ndarray, capacity: int) -> int:
    match = re.search(r"-k(\d+)", name)
    lower: int = math.ceil(demand.sum() / capacity)
    return max(int(match.group(1)) if match else lower, lower) + 2


def solve(inst: Instance, seconds: float, seed: int | None = None) -> Solution:
    """Solve with OR-Tools (iterated local search with SISR ruin-and-recreate; guided local
    search for the TSP; see dispatch.routing.vrp_search) in ``seconds`` of wall time, model building
    included.

    Args:
        seed: None stops at the time limit (anytime); an integer stops after a fixed amount of
            work proportional to ``seconds`` instead, so that the same instance, seed and
            ``seconds`` give the same routes; the wall time then depends on the machine (about
            ``seconds`` on the development machine, see dispatch.routing.vrp_search).

    Raises:
        InputError: a negative seed.
        RuntimeError: OR-Tools found no feasible solution.
        TimeoutError: ``seconds`` too short to build the model.
    """
    from dispatch.routing.vrp_search import search

    if seed is not None and seed < 0:
        raise InputError(None, f"seed {seed} is negative", "give a seed of 0 or more",
                         problem_zh=f"随机种子 {seed} 为负数", hint_zh="请给出 0 或更大的种子")
    started = time.perf_counter()
    routes, stats = search(inst, seconds, seed, started)
    check_routes(inst, routes)
    return Solution(route_cost(inst, routes), [[inst.labels[n] for n in r] for r in routes],
                    round(time.perf_counter() - started, 3), stats)


def route_cost(inst: Instance, routes: list[list[int]]) -> float:
    """Cost of routes (internal node indices) in the file's units, from and back to node 0."""
    total = 0
    for route in routes:
        path = [*route, route[0]] if inst.kind == "TSP" else [0, *route, 0]
        total += int(sum(inst.distance[a, b] for a, b in pairwise(path)))
    return total / inst.scale


def check_routes(inst: Instance, routes: list[list[int]]) -> None:
    """Raise ValueError unless ``routes`` (internal node indices) are a feasible solution: every
    customer served once, loads within capacity, arrivals within time windows (waiting allowed,
    service times spent at each customer, back at the depot before it closes), fleet size kept.
    """
    served = sorted(n for r in routes for n in r)
    expected = list(range(inst.size)) if inst.kind == "TSP" else list(range(1, inst.size))
    if served != expected:
        raise ValueError(f"{inst.name}: customers not served exactly once")
    if inst.kind == "TSP":
        if len(routes) != 1 or routes[0][0] != 0:
            raise ValueError(f"{inst.name}: a TSP tour must be one route from node 1")
        return
    if len(routes) > inst.vehicles:
        raise ValueError(f"{inst.name}: {len(routes)} routes for {inst.vehicles} vehicles")
    demand, capacity, window, service = inst.demand, inst.capacity, inst.time_window, inst.service
    assert demand is not None and capacity is not None, "a CVRP or VRPTW has demands"
    for route in routes:
        if demand[route].sum() > capacity:
            raise ValueError(f"{inst.name}: route {route} exceeds the capacity")
        if window is None:
            continue
        assert service is not None, "a VRPTW has service times"
        t, prev = 0.0, 0
        for node in [*route, 0]:
            t = max(t + service[prev] + inst.distance[prev, node], window[node, 0])
            if t > window[node, 1]:
                raise ValueError(f"{inst.name}: route {route} reaches node {node} too late")
            prev = node
