"""Editing a plan by hand: move buildings, split a grid, merge two, lock grids; with the hard
rules checked on every edit.

The plan editor (street offices redrawing their grids) works on a :class:`PlanState`, the
building -> grid map of a draft plan, and an :class:`EditContext` built once per study area:
the building adjacency graph (partition.adjacency, nodes relabelled by ``building_id``), which
already joins no buildings across a barrier or a community boundary, and the pairs of
buildings whose cells touch across an open arterial road (``graph.graph["crossings"]``).

An edit returns an :class:`Edit`: the buildings that change grid as (building, from, to)
triples, which :meth:`PlanState.apply` applies and :meth:`Edit.inverse` undoes; or it is
refused with an :class:`EditRuleError` naming the rule in Chinese and English and the buildings
at fault. The checks are incremental (only the grids an edit touches are walked), so an edit
costs milliseconds on a community of hundreds of grids:

- every moved building stays in its community (a grid never crosses a community boundary);
- the grids left and joined stay contiguous through the adjacency graph; a grid that reaches
  the moved buildings only across a barrier (arterial road, railway, river) is refused with the
  barrier's name (a grid the plan already joined across an open road, a listed barrier
  exception, may keep using that crossing);
- no grid is left empty (merge it instead), a locked grid neither gives nor takes a building,
  and a building grid (楼栋网格: one building above the target) takes no other building, nor
  does its building join another grid.

Balance (BALANCE_LIMIT) is not a refusal: the service reports the grids beyond it after every
edit (:func:`grid_stats`). Splitting uses the partition's own recursive bisection
(partition.regionalize.bisect). Written here, not with a library, because the rules are the
partition's own (partition.metrics, partition.plan); the graph walks use networkx's graph.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import pandas as pd

from gis.errors import WanggeError
from partition.adjacency import connected_parts
from partition.metrics import BALANCE_LIMIT, SMALL_SHARE
from partition.rebalance import rebalance_group
from partition.regionalize import bisect

# A building's move: (building_id, from grid code, to grid code).
Change = tuple[str, str, str]


class EditRuleError(WanggeError, ValueError):
    """An edit that would break a hard rule: ``rule`` names it, ``buildings`` and ``grids``
    are where (for the map to show)."""

    def __init__(self, rule: str, zh: str, en: str, buildings: Iterable[str] = (),
                 grids: Iterable[str] = ()) -> None:
        super().__init__(zh, en)
        self.rule = rule
        self.buildings = sorted(set(buildings))
        self.grids = sorted(set(grids))


@dataclass(frozen=True)
class EditContext:
    """What every edit of a study area's plans is checked against.

    Attributes:
        graph: building adjacency (partition.adjacency.building_graph) with nodes relabelled by
            ``building_id`` (str); node attributes ``households``, ``community``, ``x``, ``y``
            (metres), ``footprint``.
        crossings: unordered building pair -> (road type, road name) for cells touching across
            an open arterial road (not neighbours in ``graph``).
        population: building_id -> population (people).
        target: the plan's households per grid (building grids are the buildings above it).
    """

    graph: nx.Graph[Hashable]
    crossings: Mapping[frozenset[str], tuple[str | None, str | None]]
    population: Mapping[str, float]
    target: int

    @classmethod
    def from_graph(cls, graph: nx.Graph[Hashable], building_ids: Mapping[Hashable, str],
                   population: Mapping[str, float], target: int) -> EditContext:
        """The context of a graph whose nodes are the study area's building index
        (``building_ids``: index -> building_id); nodes without an id are dropped."""
        keep = [n for n in graph if n in building_ids]
        relabelled: nx.Graph[Hashable] = nx.relabel_nodes(graph.subgraph(keep),
                                                          {n: building_ids[n] for n in keep})
        crossings: dict[frozenset[str], tuple[str | None, str | None]] = {}
        for u, v, _length, kind, name in graph.graph.get("crossings", []):
            if u in building_ids and v in building_ids:
                crossings[frozenset((building_ids[u], building_ids[v]))] = (kind, name)
        return cls(relabelled, crossings, dict(population), target)

    @classmethod
    def from_territory(cls, graph: nx.Graph[Hashable], buildings: pd.DataFrame,
                       target: int) -> EditContext:
        """The context of a territory's graph and buildings (``building_id``, optional
        ``population``; partition.plan.Territory)."""
        ids = {k: str(v) for k, v in buildings["building_id"].items()}
        pop = (buildings["population"] if "population" in buildings
               else pd.Series(0.0, index=buildings.index))
        population = {ids[k]: float(v) for k, v in pop.items() if pd.notna(v)}
        return cls.from_graph(graph, ids, population, target)

    def households(self, building: str) -> int:
        """The building's households."""
        return self._households[building]

    @property
    def _households(self) -> dict[str, int]:
        cached: dict[str, int] | None = self.__dict__.get("_households_map")
        if cached is None:
            cached = {str(n): int(d["households"]) for n, d in self.graph.nodes(data=True)}
            object.__setattr__(self, "_households_map", cached)
        return cached

    def community(self, building: str) -> str:
        """The building's community code."""
        return str(self.graph.nodes[building]["community"])

    def across(self, building: str) -> list[str]:
        """Buildings whose cells touch ``building``'s across an open arterial road."""
        return self._across.get(building, [])

    @property
    def _across(self) -> dict[str, list[str]]:
        cached: dict[str, list[str]] | None = self.__dict__.get("_across_map")
        if cached is None:
            cached = defaultdict(list)
            for pair in self.crossings:
                u, v = tuple(pair)
                cached[u].append(v)
                cached[v].append(u)
            object.__setattr__(self, "_across_map", cached)
        return cached


@dataclass
class PlanState:
    """A draft plan being edited: each building's grid, each grid's kind and community,
    the locked grids, and the grids allowed to join across an open road (barrier exceptions
    the plan already had)."""

    grid_of: dict[str, str]
    kind: dict[str, str]
    community: dict[str, str]
    locked: set[str] = field(default_factory=set)
    crossing_grids: set[str] = field(default_factory=set)
    members: dict[str, set[str]] = field(init=False)
    # Once :meth:`weigh` ran: building -> (households, population), and per grid the sums,
    # kept up to date by :meth:`apply` (so figures cost O(grids), not O(buildings)).
    weights: Mapping[str, tuple[int, float]] | None = field(default=None, init=False)
    totals: dict[str, list[float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.members = defaultdict(set)
        for b, g in self.grid_of.items():
            self.members[g].add(b)

    def weigh(self, ctx: EditContext) -> None:
        """Keep each grid's households and population from now on."""
        self.weights = {b: (ctx.households(b), float(ctx.population.get(b, 0.0)))
                        for b in self.grid_of if b in ctx.graph}
        self.totals = {}
        for g, members in self.members.items():
            w = [self.weights.get(b, (0, 0.0)) for b in members]
            self.totals[g] = [sum(x[0] for x in w), sum(x[1] for x in w)]

    def copy(self) -> PlanState:
        """An independent copy."""
        out = PlanState({}, dict(self.kind), dict(self.community), set(self.locked),
                        set(self.crossing_grids))
        out.grid_of = dict(self.grid_of)
        out.members = defaultdict(set, {g: set(m) for g, m in self.members.items()})
        out.weights = self.weights
        out.totals = {g: list(t) for g, t in self.totals.items()}
        return out

    def apply(self, edit: Edit) -> None:
        """Apply ``edit``'s moves, grid kinds and locks (grids left empty disappear)."""
        for b, src, dst in edit.changes:
            self.members[src].discard(b)
            self.members[dst].add(b)
            self.grid_of[b] = dst
            if self.weights is not None:
                hh, pop = self.weights.get(b, (0, 0.0))
                self.totals[src][0] -= hh
                self.totals[src][1] -= pop
                dst_total = self.totals.setdefault(dst, [0, 0.0])
                dst_total[0] += hh
                dst_total[1] += pop
        for code, (community, kind) in edit.created.items():
            self.community[code] = community
            self.kind[code] = kind
        for code in [g for g, m in self.members.items() if not m]:
            del self.members[code]
            self.totals.pop(code, None)
            self.kind.pop(code, None)
            self.community.pop(code, None)
            self.locked.discard(code)
        self.locked |= set(edit.lock)
        self.locked -= set(edit.unlock)

    def touched(self, edit: Edit) -> set[str]:
        """The grids an edit changes."""
        return ({g for _, src, dst in edit.changes for g in (src, dst)} | set(edit.lock)
                | set(edit.unlock))


@dataclass
class Edit:
    """What an edit does: buildings changing grid, grids it creates (code -> (community,
    kind)) and the ones it removes (same), grids locked and unlocked."""

    kind: str
    changes: list[Change] = field(default_factory=list)
    created: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: dict[str, tuple[str, str]] = field(default_factory=dict)
    lock: list[str] = field(default_factory=list)
    unlock: list[str] = field(default_factory=list)

    def inverse(self) -> Edit:
        """The edit that undoes this one."""
        return Edit(f"undo {self.kind}", [(b, dst, src) for b, src, dst in self.changes],
                    dict(self.removed), dict(self.created), list(self.unlock), list(self.lock))

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (stored with the edit)."""
        return {"kind": self.kind, "changes": [list(c) for c in self.changes],
                "created": {k: list(v) for k, v in self.created.items()},
                "removed": {k: list(v) for k, v in self.removed.items()},
                "lock": self.lock, "unlock": self.unlock}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Edit:
        """The edit :meth:`to_json` stored."""
        return cls(str(data["kind"]), [(str(b), str(s), str(d)) for b, s, d in data["changes"]],
                   {k: (str(v[0]), str(v[1])) for k, v in data.get("created", {}).items()},
                   {k: (str(v[0]), str(v[1])) for k, v in data.get("removed", {}).items()},
                   list(data.get("lock", [])), list(data.get("unlock", [])))


# ---- the checks ------------------------------------------------------------------------------

def _reach(ctx: EditContext, start: str, inside: set[str], roads: bool) -> set[str]:
    """The buildings of ``inside`` reachable from ``start`` through ``inside`` (through open
    road crossings too with ``roads``)."""
    seen = {start}
    queue = deque([start])
    graph = ctx.graph
    while queue:
        u = queue.popleft()
        nbs: Iterable[Hashable] = graph[u]
        if roads:
            nbs = [*nbs, *ctx.across(u)]
        for nb in nbs:
            if nb in inside and nb not in seen:
                seen.add(str(nb))
                queue.append(str(nb))
    return seen


def _known(ctx: EditContext, state: PlanState, buildings: Iterable[str]) -> list[str]:
    out = list(dict.fromkeys(str(b) for b in buildings))
    unknown = [b for b in out if b not in state.grid_of or b not in ctx.graph]
    if unknown:
        names = ", ".join(unknown[:10])
        raise EditRuleError("unknown_building", f"方案中没有这些建筑：{names}",
                          f"buildings not in this plan: {names}", unknown)
    if not out:
        raise EditRuleError("empty_selection", "未选择任何建筑", "no building selected")
    return out


def _known_grid(state: PlanState, grid: str) -> None:
    if grid not in state.members:
        raise EditRuleError("unknown_grid", f"方案中没有网格 {grid}",
                          f"grid {grid} is not in this plan", grids=[grid])


def _check_unlocked(state: PlanState, grids: Iterable[str]) -> None:
    locked = sorted(set(grids) & state.locked)
    if locked:
        names = ", ".join(locked)
        raise EditRuleError("locked", f"网格 {names} 已锁定：先解锁再修改",
                          f"grid {names} is locked: unlock it first", grids=locked)


def _check_connected(ctx: EditContext, state: PlanState, grid: str, members: set[str],
                     anchor: Iterable[str], moved: set[str]) -> None:
    """Refuse unless ``members`` (grid's buildings after the edit) are connected: from
    ``anchor`` (the buildings it keeps) every building must be reached, across open roads only
    where the grid is a listed barrier exception."""
    start = next((a for a in anchor if a in members), None)
    if start is None:
        return
    roads = grid in state.crossing_grids
    reached = _reach(ctx, start, members, roads)
    if len(reached) == len(members):
        return
    cut_off = members - reached
    by_road = _reach(ctx, start, members, True) if not roads else reached
    if len(by_road) == len(members):
        pairs = [ctx.crossings[frozenset((a, b))] for a in cut_off for b in ctx.across(a)
                 if b in reached]
        kind, name = pairs[0] if pairs else (None, None)
        road = name or kind or "干道 arterial road"
        raise EditRuleError(
            "barrier", f"网格 {grid} 将跨越道路 {road}：网格不能跨越干道、铁路或河流",
            f"grid {grid} would cross the road {road}: grids do not cross arterial roads, "
            "railways or rivers", cut_off & moved or cut_off, [grid])
    if cut_off & moved:
        raise EditRuleError(
            "contiguity", f"所选建筑与网格 {grid} 不相邻：网格须连成一片（隔着干道、铁路、河流或"
            "其他网格的建筑不算相邻）",
            f"the selected buildings do not border grid {grid}: a grid must be one connected "
            "piece (buildings across an arterial road, railway, river or another grid do not "
            "count)", cut_off & moved, [grid])
    raise EditRuleError(
        "contiguity", f"移走所选建筑会把网格 {grid} 断成几块（{len(cut_off)} 栋建筑与其余部分"
        "不再相连）",
        f"moving the selected buildings would cut grid {grid} in pieces ({len(cut_off)} "
        "buildings no longer connected to the rest)", cut_off, [grid])


def move(ctx: EditContext, state: PlanState, buildings: Iterable[str], to_grid: str) -> Edit:
    """Move ``buildings`` (building ids) to the grid ``to_grid``.

    Raises:
        EditRuleError: an unknown building or grid, a building of another community, a grid
            locked, a building grid broken, a grid left empty, cut in pieces or joined across
            a barrier.
    """
    chosen = _known(ctx, state, buildings)
    _known_grid(state, to_grid)
    moving = [b for b in chosen if state.grid_of[b] != to_grid]
    if not moving:
        raise EditRuleError("no_change", f"所选建筑已在网格 {to_grid} 中",
                          f"the selected buildings are in grid {to_grid} already",
                          chosen, [to_grid])
    community = state.community[to_grid]
    other = [b for b in moving if ctx.community(b) != community]
    if other:
        raise EditRuleError(
            "community", f"{len(other)} 栋建筑属于其他社区：网格不能跨越社区边界",
            f"{len(other)} buildings belong to another community: a grid does not cross a "
            "community boundary", other, [to_grid])
    sources: dict[str, set[str]] = defaultdict(set)
    for b in moving:
        sources[state.grid_of[b]].add(b)
    _check_unlocked(state, [to_grid, *sources])
    if state.kind.get(to_grid) == "building":
        raise EditRuleError(
            "building_grid", f"网格 {to_grid} 是楼栋网格，只含一栋大楼，不能再加入其他建筑",
            f"grid {to_grid} is a building grid (one building above the target): it takes no "
            "other building", moving, [to_grid])
    big = [b for b in moving if ctx.households(b) > ctx.target]
    if big:
        raise EditRuleError(
            "building_grid", f"该建筑住户数超过目标 {ctx.target} 户，应单独成为楼栋网格",
            f"this building has more households than the target {ctx.target}: it stays a "
            "building grid of its own", big)
    moved = set(moving)
    for src, leaving in sources.items():
        rest = state.members[src] - leaving
        if not rest:
            raise EditRuleError(
                "empty_grid", f"网格 {src} 将没有建筑：请改用合并网格",
                f"grid {src} would be left without buildings: merge it instead",
                leaving, [src])
        _check_connected(ctx, state, src, rest, rest, moved)
    _check_connected(ctx, state, to_grid, state.members[to_grid] | moved,
                     state.members[to_grid], moved)
    return Edit("move", [(b, state.grid_of[b], to_grid) for b in moving])


def state_of(grids: pd.DataFrame, buildings: pd.DataFrame,
             locked: Iterable[str] = ()) -> PlanState:
    """The state of a plan's ``grids`` (``grid_id``, ``community``, optional ``kind`` and
    ``contiguous``) and ``buildings`` (``building_id``, ``grid_id``; buildings without a grid
    are left out). See :func:`allow_crossings` for the plan's barrier exceptions."""
    placed = buildings[buildings["grid_id"].notna()]
    grid_of = dict(zip(placed["building_id"].astype(str), placed["grid_id"].astype(str),
                       strict=True))
    codes = grids["grid_id"].astype(str)
    kinds = grids["kind"] if "kind" in grids else pd.Series("residential", index=grids.index)
    return PlanState(grid_of, dict(zip(codes, kinds.astype(str), strict=True)),
                     dict(zip(codes, grids["community"].astype(str), strict=True)),
                     set(locked) & set(codes))


def allow_crossings(ctx: EditContext, state: PlanState) -> None:
    """Mark the grids that the plan joined across an open arterial road (its barrier
    exceptions: not connected through the graph alone) as allowed to keep that crossing."""
    for g, members in state.members.items():
        inside = {b for b in members if b in ctx.graph}
        if len(inside) > 1 and len(_reach(ctx, next(iter(inside)), inside, False)) < len(inside):
            state.crossing_grids.add(g)


def next_code(state: PlanState, community: str, taken: Iterable[str] = ()) -> str:
    """The next free grid code of ``community``: its code and a 3-digit sequence."""
    used = set(state.members) | set(taken)
    seq = 1 + max((int(c[len(community):]) for c in used
                   if c.startswith(community) and c[len(community):].isdigit()), default=0)
    return f"{community}{seq:03d}"


def split(ctx: EditContext, state: PlanState, grid: str) -> Edit:
    """Divide ``grid`` in two by the partition's bisection; the part holding the building
    listed first (by id) keeps the code, the other gets the community's next free code.

    Raises:
        EditRuleError: unknown or locked grid, a building grid, a grid of one building.
    """
    _known_grid(state, grid)
    _check_unlocked(state, [grid])
    members = sorted(state.members[grid])
    if state.kind.get(grid) == "building" or len(members) < 2:
        raise EditRuleError("too_small", f"网格 {grid} 只有一栋建筑，不能拆分",
                          f"grid {grid} holds a single building: it cannot be split",
                          members, [grid])
    parts = bisect(ctx.graph, list(members), 2)
    keep = parts[members[0]]
    community = state.community[grid]
    new = next_code(state, community)
    changes = [(b, grid, new) for b in members if parts[b] != keep]
    if not changes:  # bisection found no cut (a group not connected through cells)
        raise EditRuleError("too_small", f"网格 {grid} 找不到可行的拆分",
                          f"grid {grid} has no feasible cut", members, [grid])
    return Edit("split", changes, created={new: (community, "residential")})


def merge(ctx: EditContext, state: PlanState, grid: str, other: str) -> Edit:
    """Merge ``other`` into ``grid`` (``grid`` keeps its code).

    Raises:
        EditRuleError: unknown, locked or building grids, grids of different communities or not
            bordering each other.
    """
    _known_grid(state, grid)
    _known_grid(state, other)
    if grid == other:
        raise EditRuleError("no_change", "不能把网格与自身合并", "a grid cannot merge with itself",
                          grids=[grid])
    _check_unlocked(state, [grid, other])
    if state.community[grid] != state.community[other]:
        raise EditRuleError("community", f"网格 {grid} 与 {other} 属于不同社区，不能合并",
                          f"grids {grid} and {other} belong to different communities",
                          grids=[grid, other])
    big = [g for g in (grid, other) if state.kind.get(g) == "building"]
    if big:
        raise EditRuleError("building_grid", f"网格 {big[0]} 是楼栋网格，不能合并",
                          f"grid {big[0]} is a building grid: it is not merged", grids=big)
    mine = state.members[grid]
    theirs = state.members[other]
    _check_connected(ctx, state, grid, mine | theirs, mine, set(theirs))
    return Edit("merge", [(b, other, grid) for b in sorted(theirs)],
                removed={other: (state.community[other], state.kind.get(other, "residential"))})


def lock(state: PlanState, grids: Iterable[str], locked: bool = True) -> Edit:
    """Lock (or unlock) ``grids``: a locked grid keeps its buildings through edits and
    re-balancing."""
    codes = list(dict.fromkeys(grids))
    for g in codes:
        _known_grid(state, g)
    if locked:
        return Edit("lock", lock=[g for g in codes if g not in state.locked])
    return Edit("unlock", unlock=[g for g in codes if g in state.locked])


def rebalance(ctx: EditContext, state: PlanState, seed: int = 0,
              progress: Callable[[int, int], object] | None = None) -> Edit:
    """Re-balance the unlocked residential grids with as few moves as possible
    (partition.rebalance.rebalance_group: each grid keeps what it can, moving a building costs,
    grids beyond BALANCE_LIMIT are trimmed, then repaired by ejection chains or a small
    CP-SAT model of their neighbourhood), keeping the number of grids of each connected
    group of unlocked buildings. Balance aims at each community's mean as it will be after
    (:func:`_means_after`). Locked, building and dedicated grids stay as they are.
    ``progress(done, total)`` is called after each group.
    """
    stats = {s.code: s for s in grid_stats(ctx, state)}
    free = {g for g in state.members if g not in state.locked
            and state.kind.get(g, "residential") == "residential"}
    by_comm: dict[str, set[str]] = defaultdict(set)
    for g in free:
        by_comm[state.community[g]] |= state.members[g]
    groups: list[tuple[str, list[str]]] = []
    for comm in sorted(by_comm):
        groups += [(comm, [str(b) for b in members])
                   for members in connected_parts(ctx.graph, by_comm[comm])]
    created: dict[str, tuple[str, str]] = {}
    changes: list[Change] = []
    means = _means_after(ctx, state, stats, groups)
    for i, (comm, members) in enumerate(groups):
        grids = {state.grid_of[b] for b in members}
        mean = means[comm]

        def new_label(comm: str = comm) -> Hashable:
            code = next_code(state, comm, created)
            created[code] = (comm, "residential")
            return code

        previous: dict[Hashable, Hashable] = {b: state.grid_of[b] for b in members}
        labels = rebalance_group(ctx.graph, list(members), len(grids), previous, new_label,
                                 seed=seed, mean=mean)
        changes += [(b, state.grid_of[b], str(labels[b])) for b in members
                    if str(labels[b]) != state.grid_of[b]]
        if progress is not None:
            progress(i + 1, len(groups))
    after = state.copy()
    edit = Edit("rebalance", changes, created={c: v for c, v in created.items()
                                               if any(d == c for _, _, d in changes)})
    after.apply(edit)
    edit.removed = {g: (state.community[g], state.kind.get(g, "residential"))
                    for g in state.members if g not in after.members}
    return edit


def _means_after(ctx: EditContext, state: PlanState, stats: Mapping[str, GridStats],
                 groups: list[tuple[str, list[str]]]) -> dict[str, float | None]:
    """Each community's mean grid size as :func:`grid_stats` will find it once the
    re-balance of ``groups`` ((community, buildings) of connected unlocked grids) is made:
    a grid below SMALL_SHARE of the target now counts when its group holds a regular grid's
    households a grid (a split's new half is a regular grid after the re-balance). Each grid
    counts once (a grid the plan joined across an open road spans several groups), with its
    households now: moves between the grids counted leave their sum as it is. Aiming at the
    present mean left the grid that a split had just made below the mean it then counted in.
    """
    regular = SMALL_SHARE * ctx.target
    lifted: set[str] = set()
    for _, members in groups:
        grids = {state.grid_of[b] for b in members}
        if sum(ctx.households(b) for b in members) / len(grids) >= regular:
            lifted |= grids
    counted: dict[str, list[int]] = defaultdict(list)
    sized: dict[str, list[int]] = defaultdict(list)
    for s in stats.values():
        if s.kind == "building" or s.households <= 0:
            continue
        sized[s.community].append(s.households)
        if s.households >= regular or s.code in lifted:
            counted[s.community].append(s.households)
    out: dict[str, float | None] = {}
    for comm in {c for c, _ in groups}:
        sizes = counted[comm] or sized[comm]
        out[comm] = sum(sizes) / len(sizes) if sizes else None
    return out


# ---- statistics ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridStats:
    """One grid's figures: households, population, buildings and deviation (percent from its
    community's mean, as partition.metrics.deviations)."""

    code: str
    community: str
    kind: str
    households: int
    population: float
    buildings: int
    deviation_pct: float
    locked: bool


def grid_stats(ctx: EditContext, state: PlanState) -> list[GridStats]:
    """Every grid's figures, by code. The community mean counts the grids the plan sizes
    (residential grids of at least SMALL_SHARE of the target; all grids with households where
    a community has none such), as partition.metrics.community_means."""
    hh: dict[str, int] = {}
    pop: dict[str, float] = {}
    for g, members in state.members.items():
        if state.weights is not None:
            hh[g], pop[g] = int(state.totals[g][0]), state.totals[g][1]
        else:
            hh[g] = sum(ctx.households(b) for b in members)
            pop[g] = sum(ctx.population.get(b, 0.0) for b in members)
    by_comm: dict[str, list[str]] = defaultdict(list)
    for g in state.members:
        by_comm[state.community[g]].append(g)
    mean: dict[str, float] = {}
    for comm, grids in by_comm.items():
        regular = [hh[g] for g in grids if hh[g] > 0 and state.kind.get(g) != "building"
                   and hh[g] >= SMALL_SHARE * ctx.target]
        counted = regular or [hh[g] for g in grids if hh[g] > 0]
        mean[comm] = sum(counted) / len(counted) if counted else 0.0
    out = []
    for g in sorted(state.members):
        m = mean[state.community[g]]
        dev = (hh[g] - m) / m * 100 if m > 0 else 0.0
        out.append(GridStats(g, state.community[g], state.kind.get(g, "residential"), hh[g],
                             round(pop[g], 1), len(state.members[g]), round(dev, 2),
                             g in state.locked))
    return out


def beyond_limit(stats: Iterable[GridStats]) -> list[str]:
    """Residential grids whose deviation is beyond BALANCE_LIMIT (marked, not refused)."""
    return [s.code for s in stats if s.kind == "residential" and s.households > 0
            and abs(s.deviation_pct) > 100 * BALANCE_LIMIT]
