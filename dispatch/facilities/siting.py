"""Where k new facilities should go: the maximal covering location problem, solved exactly.

Given homes (buildings weighted by households), candidate sites (street nodes, or sites a
planner gives), the facilities already there and a walking distance D, choose at most k
candidates so that the most households have a facility within D (Church and ReVelle's maximal
covering location problem, 1974). Homes an existing facility already serves count as covered
and do not steer the choice.

1. Coverage sets: one Dijkstra per distinct candidate node, truncated at D (scipy), in
   chunks; a candidate covers a home when its snap walk + the street walk + the home's snap
   walk is at most D (the distance of dispatch.facilities.coverage).
2. Reduction, each step keeping the optimum: homes already covered dropped; homes no
   candidate reaches dropped (counted); homes covered by exactly the same candidates merged
   (weights summed); candidates covering nothing dropped; a candidate whose set lies inside
   another's (equal sets: the later one) dropped, since swapping it for the larger one never
   loses. Then homes made identical by that are merged again.
3. The exact model, a MIP: x_c (site chosen), y_g (home group covered),
   y_g <= sum of x_c over the candidates covering g, sum x_c <= k, maximise
   sum w_g y_g (households, integers), solved by CBC through OR-Tools (pywraplp; SCIP is
   the other choice) with the greedy solution (largest gain first) as a hint. The LP
   relaxation of this model is nearly tight at short distances, so branch and bound proves
   the optimum in well under a second there; at 1,000 m, where each site reaches a tenth of
   a district, it takes tens of seconds (bench/facility_results.md). OR-Tools CP-SAT on the
   same model (``solver="cp-sat"``) found the same values but on two threads could not close
   its bound in 10 s even on the 456-node Nanjing extract with k = 3, so it is kept for
   comparison only; HiGHS through pywraplp crashed on the district model (OR-Tools 9.15).
   The answer is OPTIMAL (proven), or FEASIBLE at the time limit with the solver's bound:
   the gap is (bound - value) / bound.

:func:`brute_force` enumerates every set of k candidates (for tests and the benchmark), and
:func:`score_site` what a site moved by hand adds. Everything metric is in the walk network's
CRS (metres).

Written here, not taken from a library: PySAL spopt has an MCLP, but it builds a dense PuLP
model over all candidates and homes (no reduction) and needs a distance matrix we already
hold in sparse form; the model itself is a few lines of OR-Tools, which the project uses
elsewhere.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Hashable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dispatch.facilities.coverage import SnappedPoints, homes, nearest_distances, snap_points
from dispatch.routing.network import WalkNetwork
from gis.errors import ArgumentError

CHUNK = 256  # candidate nodes per Dijkstra call (CHUNK x nodes floats in memory)
MAX_K = 500
MAX_CANDIDATES = 20_000
MIP_BACKENDS = ("CBC", "SCIP")
SOLVERS = ("cbc", "scip", "cp-sat")


@dataclass
class Candidates:
    """Candidate sites: metric x/y (the network's CRS) and their snap to the network."""

    x: np.ndarray
    y: np.ndarray
    snapped: SnappedPoints
    node_ids: list[Hashable] = field(default_factory=list)

    def __len__(self) -> int:
        """How many candidates."""
        return len(self.x)


def street_candidates(net: WalkNetwork, max_candidates: int = 2000) -> Candidates:
    """Street nodes as candidate sites, at most ``max_candidates``: when there are more, one
    node per square cell of a grid (the node nearest the cell's centre), with the smallest
    cell that leaves few enough."""
    if not net.nodes:
        raise ArgumentError("步行路网为空：没有可选的街道节点",
                            "the walk network is empty: no street node to choose")
    if max_candidates < 1:
        raise ArgumentError("候选点数量至少为 1", "at least one candidate is needed")
    xy = np.array([net.xy(n) for n in net.nodes])
    keep = np.arange(len(xy))
    if len(xy) > max_candidates:
        # The smallest cell (bisection on its side, m) that leaves at most max_candidates.
        low, high = 0.0, float(np.ptp(xy, axis=0).max()) + 1.0
        keep = _one_per_cell(xy, high)
        for _ in range(30):
            mid = (low + high) / 2
            trial = _one_per_cell(xy, mid)
            if len(trial) <= max_candidates:
                high, keep = mid, trial
            else:
                low = mid
    return Candidates(xy[keep, 0], xy[keep, 1],
                      SnappedPoints(keep.astype(np.int64), np.zeros(len(keep))),
                      [net.nodes[i] for i in keep])


def _one_per_cell(xy: np.ndarray, cell: float) -> np.ndarray:
    """Of the points ``xy`` (m), the one nearest the centre of each square cell of side
    ``cell``, as sorted indices."""
    cells = np.floor((xy - xy.min(axis=0)) / cell).astype(np.int64)
    centre = (cells + 0.5) * cell + xy.min(axis=0)
    off = np.hypot(*(xy - centre).T)
    order = np.lexsort((off, cells[:, 1], cells[:, 0]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(cells[order][1:] != cells[order][:-1], axis=1)
    kept: np.ndarray = np.sort(order[first])
    return kept


def point_candidates(net: WalkNetwork, sites: gpd.GeoDataFrame) -> Candidates:
    """Given sites (points, any CRS) as candidates."""
    if len(sites) == 0:
        raise ArgumentError("没有给出候选地点", "no candidate sites were given")
    if len(sites) > MAX_CANDIDATES:
        raise ArgumentError(f"候选地点超过 {MAX_CANDIDATES} 个",
                            f"more than {MAX_CANDIDATES} candidate sites")
    snapped = snap_points(net, sites)
    pts = sites.to_crs(net.crs).geometry.representative_point()
    return Candidates(pts.x.to_numpy(), pts.y.to_numpy(), snapped,
                      [net.nodes[i] for i in snapped.node])


def coverage_matrix(net: WalkNetwork, candidates: SnappedPoints, demand: SnappedPoints,
                    distance_m: float, chunk: int = CHUNK) -> csr_matrix:
    """Which candidate covers which demand point within ``distance_m`` (walk, m): a boolean
    candidates x demand CSR matrix."""
    unique, inverse = np.unique(candidates.node, return_inverse=True)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, len(unique), chunk):
        block = unique[start:start + chunk]
        dist = dijkstra(net.matrix, directed=False, indices=block, limit=distance_m)
        at_demand = dist[:, demand.node] + demand.offset[None, :]
        members = np.flatnonzero((inverse >= start) & (inverse < start + len(block)))
        for member in members:
            within = np.flatnonzero(at_demand[inverse[member] - start]
                                    + candidates.offset[member] <= distance_m)
            rows.append(np.full(len(within), member, dtype=np.int64))
            cols.append(within)
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    return csr_matrix((np.ones(len(r), dtype=bool), (r, c)),
                      shape=(len(candidates.node), len(demand.node)))


@dataclass
class CoverProblem:
    """A maximal covering problem: ``cover`` (candidates x demand, bool) and the demand's
    integer weights (households). Demand already served is left out beforehand."""

    cover: csr_matrix
    weight: np.ndarray

    def value(self, chosen: list[int] | np.ndarray) -> int:
        """Households the ``chosen`` candidates cover."""
        if len(chosen) == 0:
            return 0
        hit = np.asarray(self.cover[np.asarray(chosen)].sum(axis=0)).ravel() > 0
        return int(self.weight[hit].sum())


@dataclass
class Reduction:
    """The reduced problem and how to map it back: ``candidates`` are the original indices
    of the kept candidates (rows of ``problem.cover``)."""

    problem: CoverProblem
    candidates: np.ndarray
    demand_before: int
    demand_unreachable: int
    weight_unreachable: int
    candidates_before: int


def _merge_demand(cover: csr_matrix, weight: np.ndarray) -> tuple[csr_matrix, np.ndarray]:
    """Merge demand columns with identical candidate sets; drop those no candidate covers."""
    by_demand = cover.T.tocsr()
    by_demand.sort_indices()
    groups: dict[bytes, int] = {}
    label = np.empty(by_demand.shape[0], dtype=np.int64)
    for d in range(by_demand.shape[0]):
        key = by_demand.indices[by_demand.indptr[d]:by_demand.indptr[d + 1]].tobytes()
        label[d] = groups.setdefault(key, len(groups)) if key else -1
    keep = label >= 0
    merged_weight = np.bincount(label[keep], weights=weight[keep], minlength=len(groups))
    rows, cols = cover[:, np.flatnonzero(keep)].nonzero()
    merged = csr_matrix((np.ones(len(rows), dtype=bool), (rows, label[keep][cols])),
                        shape=(cover.shape[0], len(groups)))
    return merged, np.rint(merged_weight).astype(np.int64)


def _undominated(cover: csr_matrix) -> np.ndarray:
    """Indices of the candidates no other candidate dominates (a superset of its set; equal
    sets: the first kept)."""
    size = np.asarray(cover.sum(axis=1)).ravel()
    ints = cover.astype(np.int32)
    inter = (ints @ ints.T).tocoo()
    i, j, v = inter.row, inter.col, inter.data
    dominated_by = (i != j) & (v == size[i]) & ((size[j] > size[i]) | (j < i))
    dominated = np.zeros(cover.shape[0], dtype=bool)
    dominated[i[dominated_by]] = True
    return np.flatnonzero(~dominated & (size > 0))


def reduce_problem(problem: CoverProblem) -> Reduction:
    """The smaller problem with the same optimum (see the module docstring, step 2)."""
    n_cand, n_dem = problem.cover.shape
    reached = np.asarray(problem.cover.sum(axis=0)).ravel() > 0
    cover, weight = _merge_demand(problem.cover, problem.weight)
    kept = _undominated(cover)
    cover, weight = _merge_demand(cover[kept], weight)
    return Reduction(CoverProblem(cover, weight), kept, n_dem, int((~reached).sum()),
                     int(problem.weight[~reached].sum()), n_cand)


def greedy(problem: CoverProblem, k: int) -> list[int]:
    """The greedy choice: k times the candidate adding the most uncovered weight."""
    left = problem.weight.astype(float).copy()
    chosen: list[int] = []
    cover = problem.cover.astype(np.float64)
    for _ in range(min(k, cover.shape[0])):
        gain = cover @ left
        gain[chosen] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        left[problem.cover[best].indices] = 0
    return chosen


def brute_force(problem: CoverProblem, k: int) -> tuple[int, tuple[int, ...]]:
    """The optimum by enumerating every set of min(k, n) candidates: (value, the set)."""
    n = problem.cover.shape[0]
    dense = problem.cover.toarray()
    best: tuple[int, tuple[int, ...]] = (-1, ())
    for combo in itertools.combinations(range(n), min(k, n)):
        hit = dense[list(combo)].any(axis=0)
        value = int(problem.weight[hit].sum())
        if value > best[0]:
            best = (value, combo)
    return best


@dataclass
class SolveResult:
    """What the solver found: chosen rows of the problem, value, bound, status and time."""

    chosen: list[int]
    value: int
    bound: float
    status: str
    seconds: float

    @property
    def gap(self) -> float:
        """(bound - value) / bound; 0 when proven optimal."""
        return max(0.0, (self.bound - self.value) / self.bound) if self.bound > 0 else 0.0


def _trivial(problem: CoverProblem, k: int, started: float) -> SolveResult | None:
    """The answer without a solver: nothing to cover, or k enough for every candidate."""
    n_cand, n_dem = problem.cover.shape
    if n_cand == 0 or n_dem == 0 or k == 0:
        return SolveResult([], 0, 0.0, "OPTIMAL", time.perf_counter() - started)
    if k >= n_cand:
        chosen = list(range(n_cand))
        value = problem.value(chosen)
        return SolveResult(chosen, value, float(value), "OPTIMAL",
                           time.perf_counter() - started)
    return None


def _rows_of(problem: CoverProblem) -> list[np.ndarray]:
    """For each demand group, the candidates covering it."""
    by_demand = problem.cover.T.tocsr()
    return [by_demand.indices[by_demand.indptr[d]:by_demand.indptr[d + 1]]
            for d in range(by_demand.shape[0])]


def solve_mip(problem: CoverProblem, k: int, *, time_limit_s: float = 10.0,
              backend: str = "CBC", hint: list[int] | None = None) -> SolveResult:
    """Choose at most ``k`` rows of ``problem.cover`` covering the most weight, exactly: the
    MIP above with ``backend`` (``CBC`` or ``SCIP``, both bundled with OR-Tools), within
    ``time_limit_s``."""
    if backend not in MIP_BACKENDS:
        raise ArgumentError(f"未知求解器 {backend!r}：应为 {', '.join(MIP_BACKENDS)}",
                            f"unknown solver {backend!r}: one of {', '.join(MIP_BACKENDS)}")
    started = time.perf_counter()
    done = _trivial(problem, k, started)
    if done is not None:
        return done
    solver = pywraplp.Solver.CreateSolver(backend)
    if solver is None:  # pragma: no cover - OR-Tools wheels ship both
        raise RuntimeError(f"OR-Tools was built without {backend}")
    n_cand, n_dem = problem.cover.shape
    x = [solver.BoolVar(f"x{c}") for c in range(n_cand)]
    y = [solver.BoolVar(f"y{d}") for d in range(n_dem)]
    for d, cands in enumerate(_rows_of(problem)):
        solver.Add(y[d] <= solver.Sum([x[int(c)] for c in cands]))
    solver.Add(solver.Sum(x) <= k)
    solver.Maximize(solver.Sum([int(w) * y[d] for d, w in enumerate(problem.weight)]))
    if hint:
        on = set(hint)
        solver.SetHint(x, [1.0 if c in on else 0.0 for c in range(n_cand)])
    solver.SetTimeLimit(int(time_limit_s * 1000))
    status = solver.Solve()
    seconds = time.perf_counter() - started
    names = {pywraplp.Solver.OPTIMAL: "OPTIMAL", pywraplp.Solver.FEASIBLE: "FEASIBLE"}
    if status not in names:
        chosen = list(hint or [])
        return SolveResult(chosen, problem.value(chosen), float(problem.weight.sum()),
                           "NOT_SOLVED", seconds)
    chosen = [c for c in range(n_cand) if x[c].solution_value() > 0.5]
    value = problem.value(chosen)
    bound = float(solver.Objective().BestBound()) if status != pywraplp.Solver.OPTIMAL \
        else float(value)
    return SolveResult(chosen, value, max(bound, float(value)), names[status], seconds)


def solve_cp_sat(problem: CoverProblem, k: int, *, time_limit_s: float = 10.0,
                 workers: int = 2, hint: list[int] | None = None) -> SolveResult:
    """The same model with OR-Tools CP-SAT (for comparison: on two threads its bound moves
    slowly on this model, see bench/facility_results.md)."""
    started = time.perf_counter()
    done = _trivial(problem, k, started)
    if done is not None:
        return done
    n_cand, n_dem = problem.cover.shape
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{c}") for c in range(n_cand)]
    y = [model.new_bool_var(f"y{d}") for d in range(n_dem)]
    for d, cands in enumerate(_rows_of(problem)):
        model.add(y[d] <= sum(x[int(c)] for c in cands))
    model.add(sum(x) <= k)
    model.maximize(sum(int(w) * y[d] for d, w in enumerate(problem.weight)))
    if hint:
        on = set(hint)
        for c in range(n_cand):
            model.add_hint(x[c], c in on)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = int(workers)
    status = solver.solve(model)
    seconds = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = list(hint or [])
        return SolveResult(chosen, problem.value(chosen), float(problem.weight.sum()),
                           solver.status_name(status), seconds)
    chosen = [c for c in range(n_cand) if solver.boolean_value(x[c])]
    return SolveResult(chosen, round(solver.objective_value),
                       float(solver.best_objective_bound), solver.status_name(status), seconds)


@dataclass
class SitingResult:
    """A proposal for k new facilities.

    Attributes:
        chosen: indices into the candidates of the chosen sites, in order of their gain.
        gains: households each chosen site adds, in that order (each counted once, for the
            first site that covers it).
        households: all households of the homes.
        covered_before: households the existing facilities serve.
        covered_after: households served with the chosen sites added.
        greedy_covered_after: the same for the greedy choice (the baseline).
        status: the solver's status (OPTIMAL: proven best; FEASIBLE: time limit, see gap).
        gap: (bound - value) / bound of the new households.
        seconds: total time; ``solve_seconds``: the solver's.
        stats: sizes before and after the reduction.
    """

    chosen: list[int]
    gains: list[int]
    households: int
    covered_before: int
    covered_after: int
    greedy_covered_after: int
    status: str
    gap: float
    bound: float
    seconds: float
    solve_seconds: float
    stats: dict[str, int | float]


def check_k(k: int, distance_m: float) -> None:
    """Bilingual errors for a k or distance the solver cannot use."""
    if not 1 <= int(k) <= MAX_K:
        raise ArgumentError(f"新增设施数量 k 应在 1 到 {MAX_K} 之间，收到 {k}",
                            f"k (new facilities) must be between 1 and {MAX_K}, got {k}")
    if not distance_m > 0:
        raise ArgumentError("步行距离应大于 0", "the walking distance must be above 0")


def site_facilities(net: WalkNetwork, buildings: gpd.GeoDataFrame,
                    existing: gpd.GeoDataFrame, candidates: Candidates, k: int,
                    distance_m: float, *, time_limit_s: float = 10.0,
                    solver: str = "cbc", workers: int = 2) -> SitingResult:
    """Choose at most ``k`` of ``candidates`` to serve the most households within
    ``distance_m`` of walking, besides what ``existing`` facilities serve.

    Args:
        net: the walk network (metric CRS).
        buildings: buildings with ``households`` (any CRS); homes are those with households.
        existing: the facilities of the type already there (points, any CRS; may be empty).
        candidates: street nodes (:func:`street_candidates`) or given sites
            (:func:`point_candidates`).
        k: how many new facilities (1-500).
        distance_m: the walking distance (m).
        time_limit_s: the solver's time limit (s).
        solver: ``cbc`` (the default), ``scip`` or ``cp-sat``.
        workers: CP-SAT's threads.
    """
    check_k(k, distance_m)
    if solver not in SOLVERS:
        raise ArgumentError(f"未知求解器 {solver!r}：应为 {', '.join(SOLVERS)}",
                            f"unknown solver {solver!r}: one of {', '.join(SOLVERS)}")
    started = time.perf_counter()
    home = homes(buildings)
    weight = np.rint(home["households"].to_numpy(dtype=float)).astype(np.int64)
    demand = snap_points(net, home)
    walk_existing = nearest_distances(net, snap_points(net, existing), limit=distance_m)
    served = walk_existing[demand.node] + demand.offset <= distance_m
    open_demand = SnappedPoints(demand.node[~served], demand.offset[~served])
    cover = coverage_matrix(net, candidates.snapped, open_demand, distance_m)
    full = CoverProblem(cover, weight[~served])
    cover_seconds = time.perf_counter() - started
    red = reduce_problem(full)
    greedy_rows = greedy(red.problem, k)
    if solver == "cp-sat":
        solved = solve_cp_sat(red.problem, k, time_limit_s=time_limit_s, workers=workers,
                              hint=greedy_rows)
    else:
        solved = solve_mip(red.problem, k, time_limit_s=time_limit_s,
                           backend=solver.upper(), hint=greedy_rows)
    chosen = [int(red.candidates[c]) for c in solved.chosen]
    # Order by gain: each next site the one adding the most to those before.
    ordered: list[int] = []
    gains: list[int] = []
    covered = np.zeros(full.cover.shape[1], dtype=bool)
    left = set(chosen)
    while left:
        gain = {c: int(full.weight[full.cover[c].indices[~covered[full.cover[c].indices]]].sum())
                for c in left}
        best = min(left, key=lambda c: (-gain[c], c))
        ordered.append(best)
        gains.append(gain[best])
        covered[full.cover[best].indices] = True
        left.remove(best)
    before = int(weight[served].sum())
    greedy_value = full.value([int(red.candidates[c]) for c in greedy_rows])
    stats: dict[str, int | float] = {
        "homes": len(weight), "homes_served_already": int(served.sum()),
        "candidates": len(candidates), "candidates_kept": len(red.candidates),
        "demand_points": red.demand_before, "demand_groups": red.problem.cover.shape[1],
        "homes_unreachable": red.demand_unreachable,
        "households_unreachable": red.weight_unreachable,
        "coverage_seconds": round(cover_seconds, 3)}
    return SitingResult(ordered, gains, int(weight.sum()), before, before + full.value(chosen),
                        before + greedy_value, solved.status, solved.gap,
                        before + solved.bound, time.perf_counter() - started,
                        solved.seconds, stats)


@dataclass
class SiteScore:
    """What one site adds: households newly served (not by an existing facility nor another
    proposed site), households it reaches at all, and its walk to the network (m)."""

    households_new: int
    households_within: int
    homes_new: int
    snap_m: float


def score_site(net: WalkNetwork, buildings: gpd.GeoDataFrame, existing: gpd.GeoDataFrame,
               site: gpd.GeoDataFrame, distance_m: float,
               others: gpd.GeoDataFrame | None = None) -> SiteScore:
    """Score a site a planner placed by hand (one point, any CRS): the households within
    ``distance_m`` of it that neither ``existing`` facilities nor the ``others`` proposed
    sites serve."""
    if len(site) != 1:
        raise ArgumentError("应给出一个地点", "give exactly one site")
    if not distance_m > 0:
        raise ArgumentError("步行距离应大于 0", "the walking distance must be above 0")
    home = homes(buildings)
    weight = np.rint(home["households"].to_numpy(dtype=float)).astype(np.int64)
    demand = snap_points(net, home)
    sources = [snap_points(net, f) for f in (existing, others) if f is not None and len(f)]
    walk_before = nearest_distances(net, SnappedPoints(
        np.concatenate([s.node for s in sources]) if sources else np.zeros(0, np.int64),
        np.concatenate([s.offset for s in sources]) if sources else np.zeros(0)),
        limit=distance_m)
    served = walk_before[demand.node] + demand.offset <= distance_m
    mine = snap_points(net, site)
    walk = nearest_distances(net, mine, limit=distance_m)
    within = walk[demand.node] + demand.offset <= distance_m
    new = within & ~served
    return SiteScore(int(weight[new].sum()), int(weight[within].sum()), int(new.sum()),
                     float(mine.offset[0]))
