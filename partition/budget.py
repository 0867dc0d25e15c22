"""The work the exact steps of a plan may spend, counted so that plans repeat exactly.

The exact steps (set partitioning, partition.set_partition; neighbourhood re-splits,
partition.exact_balance) can take minutes on a group nobody tuned them for. A plan gives them
one budget (``wangge partition --time-limit``), shared out over its groups before any of them
starts (so the plan does not depend on which worker process finishes first), and each step
draws on its group's share until it is spent; what was found so far stands.

The work goes to the communities by their households (the exact steps' work lies where grids
are to be balanced: a community of forty blocks of flats and fourteen grids needs more than one
of a hundred houses and three grids), then to a community's groups by their buildings (in one
community, listing candidate grids costs by buildings). The default follows the grids too: a
reserve by the grids each community makes (:func:`default_units`).

Work is counted in CP-SAT's deterministic seconds (about a second of one core here), not on the
clock: the same seed and budget give the same plan on a loaded machine or a fast one. Listing
candidate sets is charged at ENUMERATION_STEPS_PER_UNIT steps a unit (measured: about that many
ESU steps a second on this 2-core machine).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ortools.sat.python import cp_model
from ortools.util.python import sorted_interval_list

ENUMERATION_STEPS_PER_UNIT = 400_000
# CP-SAT stops at 100x its deterministic limit on the clock too: only a guard against a hung
# solve. Deterministic work takes 1-3 s of the clock a unit on this 2-core machine, and far
# more when the machine is shared: at 4x the guard tripped under a load average of 6, so the
# plan depended on the load (tests/partition/test_budget.py loads a core eight times over).
WALL_GUARD = 100.0
# ... and never below this many seconds: a step's last few thousandths of a unit would
# otherwise get a guard shorter than loading the model takes under load.
MIN_WALL_S = 10.0


class _Model(cp_model.CpModel):
    def _add_pre_pep8_methods(self) -> None:
        pass


def new_model() -> cp_model.CpModel:
    """A CP-SAT model without the deprecated camelCase aliases ``CpModel()`` adds to every
    instance (0.35 ms each; a plan builds about a thousand models). Only the snake_case
    methods are called here."""
    return _Model()


_BOOL = sorted_interval_list.Domain(0, 1)


def bool_vars(model: cp_model.CpModel, n: int) -> list[cp_model.IntVar]:
    """``n`` new 0-1 variables of ``model``, without names: the same model as ``n`` calls of
    ``new_bool_var("")``, without a name and a domain made for each (a third of the time of
    building the set partitioning models, a third of a million variables a plan)."""
    proto = model.model_proto
    return [cp_model.IntVar(proto).with_domain(_BOOL) for _ in range(n)]


class WorkBudget:
    """Deterministic work units left for one group's exact steps (``None``: unlimited)."""

    def __init__(self, units: float | None = None) -> None:
        self.units = units
        self.spent = 0.0
        self.ran_out = False

    @property
    def left(self) -> float:
        """Units left (inf for an unlimited budget)."""
        return math.inf if self.units is None else max(0.0, self.units - self.spent)

    def allows(self, units: float = 1e-3) -> bool:
        """Whether at least ``units`` are left; marks the budget spent when not."""
        if self.left >= units:
            return True
        self.ran_out = True
        return False

    def solve(
        self, model: cp_model.CpModel, cap: float, overhead: float = 0.0,
        linearization: int | None = None,
    ) -> tuple[cp_model.CpSolverStatus, cp_model.CpSolver]:
        """Solve ``model`` with at most ``cap`` units (fewer when less is left), charged,
        with ``overhead`` units more for what the solve costs beyond CP-SAT's deterministic
        time (building the model, loading it); ``linearization``: CP-SAT's
        linearization_level (None: its default).

        One worker and seed 0: results repeat exactly. Returns CP-SAT's status (UNKNOWN
        without solving, and nothing charged, when nothing is left) and the solver."""
        solver = cp_model.CpSolver()
        work = min(cap, self.left)
        if work <= 0:
            self.ran_out = True
            return cp_model.UNKNOWN, solver
        solver.parameters.max_deterministic_time = work
        solver.parameters.max_time_in_seconds = max(MIN_WALL_S, WALL_GUARD * work)
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = 0
        if linearization is not None:
            solver.parameters.linearization_level = linearization
        status = solver.solve(model)
        self.spent += solver.deterministic_time + overhead
        if status == cp_model.UNKNOWN and work < cap:
            self.ran_out = True
        return status, solver

    def part(self, fraction: float) -> WorkBudget:
        """A budget of ``fraction`` of the units left here (unlimited when these are): what
        one step may spend of it. Add its ``spent`` back with :meth:`charge`."""
        return WorkBudget(None if self.units is None else fraction * self.left)

    def charge(self, units: float) -> None:
        """Charge ``units`` spent elsewhere (a :meth:`part` of this budget)."""
        self.spent += units

    def max_steps(self) -> int:
        """Enumeration steps still allowed."""
        left = self.left
        return 10**12 if math.isinf(left) else int(left * ENUMERATION_STEPS_PER_UNIT)

    def charge_steps(self, steps: int) -> None:
        """Charge ``steps`` enumeration steps to the budget."""
        self.spent += steps / ENUMERATION_STEPS_PER_UNIT


def share(total: float | None, sizes: list[int]) -> list[float | None]:
    """``total`` units shared out in proportion to ``sizes`` (households per community,
    buildings per group); all of it, exactly, to a single size (a community planned alone
    gets what it was given)."""
    if total is None:
        return [None] * len(sizes)
    if len(sizes) == 1:
        return [total]
    whole = sum(sizes) or 1
    return [portion(total, s, whole) for s in sizes]


def portion(total: float, size: int, whole: int) -> float:
    """The share of ``total`` units that :func:`share` gives a size ``size`` of sizes
    summing to ``whole``, to the last bit: a community of ``size`` households planned alone
    with ``portion(work, size, households of the area)`` units is planned exactly as within
    the area's plan of ``work`` units (partition.divide)."""
    return total * size / whole


# The default budget's reserve: GRID_UNITS for each grid a community makes (households /
# target), counted up to RESERVED_GRIDS grids a community; the fixed 2 units hold the first
# RESERVED_GRIDS grids' reserve. Why a reserve by community: a community may spend only its
# own share (planned alone it must get the same plan), and its needs are uneven (a few groups
# of large blocks take nearly all of it, most take nothing). A community of many grids evens
# that out over its groups in the later passes (partition.divide._second_pass); a small one
# cannot. With 2 + 0.003 per building alone, areas of many small communities of flats ran out
# where most of the work went unspent (tests.synthetic 1,500 buildings, seed 11: 6.5 units,
# 0.55 spent, 3 free grids beyond 15%; 10,000 buildings, seed 1: 32 units, 0.4 spent, 3).
GRID_UNITS = 0.03
RESERVED_GRIDS = 50
# The default is never above CAP_UNITS + CAP_PER_BUILDING x buildings: spent work is time
# (about 0.2-0.27 s of the clock a unit with 2 workers, beside 3-9 s of the plan's other
# steps), and the reserve grows with the grids while the time targets (issue 14: 10 s for
# 2,000 buildings, 30 s for 10,000) grow more slowly. A district of 10,000 buildings of
# flats (2,914 grids) had 117.5 units and took 39 s; at 60 units, 26 s.
CAP_UNITS = 25.0
CAP_PER_BUILDING = 0.0035


def default_units(buildings: int, community_households: Iterable[int] = (),
                  target: int = 300) -> float:
    """The default budget of a plan of ``buildings`` buildings whose communities hold
    ``community_households`` households (one value a community) for grids of ``target``:
    2 units, 3 per thousand buildings, and GRID_UNITS a grid each community makes, up to
    RESERVED_GRIDS a community, beyond the first RESERVED_GRIDS grids of the area (which the
    2 units hold). tests.synthetic 1,500 buildings in 16 communities: 6.5 + 7.7 units;
    10,000 buildings in 95: 32 + 42.9, capped at 60. An area of no more than RESERVED_GRIDS
    grids, or of one community (23,000 buildings given without community polygons: 71), gets
    exactly 2 + 0.003 per building, as before the reserve. Most plans spend little of it:
    it is spent where groups stay beyond 15% (times: bench/partition_results.md). At most
    CAP_UNITS + CAP_PER_BUILDING per building (2,000 buildings: 32; 10,000: 60), for the
    time targets; more work buys fewer grids beyond 15% (``--time-limit``)."""
    counted = math.fsum(min(households / target, RESERVED_GRIDS)
                        for households in community_households)
    return min(2.0 + 0.003 * buildings + GRID_UNITS * max(0.0, counted - RESERVED_GRIDS),
               CAP_UNITS + CAP_PER_BUILDING * buildings)
