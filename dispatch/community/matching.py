"""Volunteers ranked for a micro-wish: skill, availability, grids served, walking distance, load.

A volunteer is *eligible* for a wish when they are active, hold a skill of the wish's category
(:data:`dispatch.community.wishes.CATEGORIES`), are available at the wanted time (any time when
the wish names none), hold fewer open claims than their own limit, and can walk there within
``max_walk_m`` on the walk network. Eligible volunteers are ranked by a score in metres::

    score = walk_m + GRID_PENALTY_M (unless they serve the wish's grid) + LOAD_PENALTY_M * open

so that a volunteer of the wish's own grid 400 m away ranks level with an outsider next door,
and each open claim counts as 250 m more. Volunteers without a home or base point have no
walking distance; they are eligible (a team's members may be placed by their team) but rank
after every volunteer with one. Every volunteer is listed, the ineligible after the eligible
with the reason, so that a coordinator sees why someone is missing.

Walking distances: one Dijkstra from the wish's nearest network node to every node, cut at
``max_walk_m`` (scipy.sparse.csgraph, the network's own CSR matrix), then read at each
volunteer's nearest node; the straight walks onto and off the network are added (as
``dispatch.routing.network`` does). The walk graph is undirected, so the distance from the wish
is the distance to it. Metric CRS of the network in; metres out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from dispatch.community.wishes import WishError, category_skills, check_skills
from dispatch.incidents.rules import beijing
from dispatch.routing.network import WalkNetwork
from dispatch.staffing.workers import DAY_S, clock_seconds

GRID_PENALTY_M: Final = 400.0
LOAD_PENALTY_M: Final = 250.0
MAX_WALK_M: Final = 3000.0
DEFAULT_MAX_OPEN: Final = 3
COLUMNS: Final = ["volunteer_id", "rank", "eligible", "reason", "skill_match", "available",
                  "serves_grid", "walk_m", "open_claims", "score_m"]


@dataclass(frozen=True)
class Window:
    """A weekly time window: ISO weekdays (1 = Monday) and a span of the day (s after 00:00,
    Beijing time; the end after the start, ``DAY_S`` for midnight at the end)."""

    days: frozenset[int]
    start_s: int
    end_s: int

    def covers(self, at: datetime) -> bool:
        """Whether ``at`` (Beijing time) falls in the window."""
        local = beijing(at)
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return local.isoweekday() in self.days and self.start_s <= seconds < self.end_s


def parse_window(days: Iterable[int], start: str, end: str) -> Window:
    """A :class:`Window` from ISO weekdays and "HH:MM" times.

    Raises:
        WishError: a weekday outside 1..7, no weekday, a bad time or an end not after the start.
    """
    day_set = frozenset(int(d) for d in days)
    if not day_set or not day_set <= set(range(1, 8)):
        raise WishError(f"可服务时段的星期应为 1–7（1 = 周一），收到 {sorted(day_set)}",
                        f"a window's weekdays must be 1-7 (1 = Monday), got {sorted(day_set)}")
    try:
        begin, finish = clock_seconds(start), clock_seconds(end)
    except ValueError as exc:
        raise WishError(f"时间 {exc} 格式应为 时:分（00:00–24:00）",
                        f"time {exc} should be HH:MM (00:00-24:00)") from None
    if finish <= begin or finish > DAY_S:
        raise WishError(f"时段结束 {end} 须晚于开始 {start}",
                        f"a window's end {end} must come after its start {start}")
    return Window(day_set, begin, finish)


@dataclass(frozen=True)
class Volunteer:
    """A volunteer as matching sees them.

    Attributes:
        volunteer_id: the store's id.
        skills: skill ids (:data:`dispatch.community.wishes.SKILLS`).
        x, y: home or base in the network's metric CRS (m); None when unknown.
        grids: grid codes they serve; empty: any grid.
        windows: when they are available; empty: any time.
        max_open: open claims they take at most.
        active: False for a volunteer who paused.
    """

    volunteer_id: int
    skills: frozenset[str]
    x: float | None = None
    y: float | None = None
    grids: frozenset[str] = field(default_factory=frozenset)
    windows: tuple[Window, ...] = ()
    max_open: int = DEFAULT_MAX_OPEN
    active: bool = True

    def available_at(self, at: datetime | None) -> bool:
        """Available at ``at`` (None: no time wanted, always)."""
        return at is None or not self.windows or any(w.covers(at) for w in self.windows)


@dataclass(frozen=True)
class WishRequest:
    """What matching needs of a wish: category, place (metric CRS, m), grid, wanted time."""

    category: str
    x: float
    y: float
    grid_id: str | None = None
    wanted_at: datetime | None = None


def walk_from(net: WalkNetwork, x: float, y: float, xs: np.ndarray, ys: np.ndarray,
              max_walk_m: float = MAX_WALK_M) -> np.ndarray:
    """Walking distance (m) from point (x, y) to each point (xs, ys), metric CRS; ``inf``
    beyond ``max_walk_m`` or unconnected. One Dijkstra from the point's nearest node."""
    if len(xs) == 0:
        return np.zeros(0)
    (source,), off_source = net.snap([x], [y])
    nodes, off = net.snap(xs, ys)
    along = dijkstra(net.matrix, directed=False, indices=[net.index[source]],
                     limit=max_walk_m)[0]
    idx = np.fromiter((net.index[n] for n in nodes), dtype=np.int64, count=len(nodes))
    dist: np.ndarray = along[idx] + off + off_source[0]
    dist[dist > max_walk_m] = np.inf
    return dist


def rank_volunteers(net: WalkNetwork, wish: WishRequest, volunteers: Iterable[Volunteer],
                    open_claims: Mapping[int, int] | None = None, *,
                    max_walk_m: float = MAX_WALK_M) -> pd.DataFrame:
    """Every volunteer for ``wish``: eligible ones ranked first by score, then the others.

    Args:
        net: the walk network (metric CRS).
        wish: the wish (its category's skills, place, grid and wanted time).
        volunteers: the candidates.
        open_claims: volunteer id -> wishes they hold claimed now (default none).
        max_walk_m: farther than this (m) on foot is not eligible.

    Returns:
        One row per volunteer: :data:`COLUMNS` (``rank`` 1.. for the eligible, None for the
        others; ``reason`` empty when eligible, else the first unmet condition: ``inactive``,
        ``skill``, ``time``, ``load``, ``distance``; ``walk_m`` None without a home point).

    Raises:
        WishError: an unknown category or a volunteer with an unknown skill.
    """
    wanted = category_skills(wish.category)
    people = list(volunteers)
    if not people:
        return pd.DataFrame(columns=COLUMNS)
    check_skills(frozenset().union(*(v.skills for v in people)))  # once for all of them
    open_claims = open_claims or {}
    placed = np.array([v.x is not None and v.y is not None for v in people])
    walk = np.full(len(people), np.nan)
    at = np.flatnonzero(placed)
    walk[at] = walk_from(net, wish.x, wish.y,
                         np.array([people[i].x for i in at], dtype=float),
                         np.array([people[i].y for i in at], dtype=float), max_walk_m)
    ids = np.array([v.volunteer_id for v in people], dtype=np.int64)
    skill = np.array([bool(v.skills & wanted) for v in people])
    available = np.array([v.available_at(wish.wanted_at) for v in people])
    serves = np.array([not v.grids or (wish.grid_id is not None and wish.grid_id in v.grids)
                       for v in people])
    load = np.array([int(open_claims.get(v.volunteer_id, 0)) for v in people], dtype=np.int64)
    limit = np.array([v.max_open for v in people], dtype=np.int64)
    active = np.array([v.active for v in people])
    reason = np.full(len(people), "", dtype=object)
    # the first unmet condition wins: assigned from the last to the first
    for name, failed in (("distance", np.isinf(walk)), ("load", load >= limit),
                         ("time", ~available), ("skill", ~skill), ("inactive", ~active)):
        reason[failed] = name
    eligible = reason == ""
    reachable = np.where(np.isfinite(walk), walk, np.nan)
    score = (np.nan_to_num(reachable, nan=0.0) + np.where(serves, 0.0, GRID_PENALTY_M)
             + LOAD_PENALTY_M * load).round(1)
    # eligible first, then those with a home point, then by score and id
    order = np.lexsort((ids, score, ~placed, ~eligible))
    walk_m = pd.array(reachable.round(1), dtype="Float64")
    frame = pd.DataFrame({
        "volunteer_id": ids, "eligible": eligible, "reason": reason, "skill_match": skill,
        "available": available, "serves_grid": serves, "walk_m": walk_m, "open_claims": load,
        "score_m": score}).iloc[order].reset_index(drop=True)
    ranked = frame["eligible"].to_numpy(dtype=bool)
    frame["rank"] = pd.array(np.where(ranked, np.arange(1, len(frame) + 1), 0), dtype="Int64")
    frame.loc[~ranked, "rank"] = pd.NA
    return frame[COLUMNS]
