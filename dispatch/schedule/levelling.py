"""The calendar's start and its levelling, before CP-SAT (which gets the result as hint).

- :func:`sweep_start`: a feasible, levelled earliest-due-first sweep over the work days.
- :func:`level`: a seeded simulated annealing on the model's own objective over the start
  (moving a visit, adding or dropping an early one, shifting the first or last visits of a
  group's chain).
- :func:`repair`: groups whose start breaks a rule go back to their latest chain.

Positions are work-day indices (0..n-1); ``offsets[k]`` is the day of position ``k`` counted
from the horizon's start.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from dispatch.schedule.horizon import (
    APPROACH_WEIGHT,
    BAND,
    BAND_WEIGHT,
    EXTRA_WEIGHT,
    LOOKAHEAD_DAYS,
    MAX_DEV_WEIGHT,
    NO_PAST,
    OVER_CAPACITY_WEIGHT,
    SUM_DEV_WEIGHT,
    Group,
    Occurrence,
    Past,
    WorkDay,
)

LEVEL_MOVES = 40_000  # moves the levelling search tries at most (about 0.6 s of Python)
LEVEL_SHIFTS = (-3, -2, -1, 1, 2, 3)  # work days a part of a group's chain is shifted by
LEVEL_T0, LEVEL_T1 = 60.0, 0.5  # the annealing's temperature, first and last move
POLISH_MOVES = 10_000  # moves of one polish (polish) at most
POLISH_AIM = 0.8  # the polish tolerates deviations up to this share of the band
POLISH_MAX_WEIGHT = 4  # the largest deviation weighs this many times more than in the model
POLISH_AIMED = 0.5  # share of the polish's moves aimed at the busiest or quietest day
POLISH_DEPTH = 3  # visits an ejection chain of the polish moves at most
POLISH_T0, POLISH_T1 = 30.0, 0.5  # the polish's temperature, first and last move


def sweep_start(occurrences: list[Occurrence], offsets: list[int], groups: Sequence[Group],
           days: Sequence[WorkDay], label: np.ndarray, work: float,
           approach: np.ndarray | None = None, lookahead_days: int = LOOKAHEAD_DAYS
           ) -> dict[int, int]:
    """A feasible, levelled start for the search (occurrence -> work-day position).

    Sweeps the work days in order: first the visits that cannot wait (their window, narrowed
    by the group's previous visit, ends before the next work day), then, up to the day's
    share of ``work``, visits whose window is open, those in a cluster the day already
    visits first, then by the end of their window; an optional early visit only once its
    group's due ones are placed. Placing a group's last due visit before the end of the
    horizon minus its period makes its optional visit due. A day's load counts the approach
    to each cluster it opens (``approach``, minutes per cluster), as the model does. An
    early visit not required is taken only in the horizon's last ``lookahead_days`` days.
    """
    horizon = offsets[-1] + 1 if offsets else 0
    total_cap = sum(d.capacity_min for d in days) or 1
    queue: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        queue[occ.group].append(oi)
    position = {gi: 0 for gi in queue}
    previous: dict[int, int] = {}
    chosen: dict[int, int] = {}
    required: set[int] = set()
    # caps[k]: the capacity of the days before position k
    caps = np.concatenate([[0], np.cumsum([d.capacity_min for d in days])])
    day_set = set(offsets)

    def next_fits(nxt: int, off: int) -> bool:
        occ = occurrences[nxt]
        lo = max(occ.lo, off + occ.min_gap)
        hi = min(occ.hi if not occ.optional else horizon - 1, off + occ.max_gap)
        return hi >= horizon or any(d in day_set for d in range(lo, hi + 1))

    for k, off in enumerate(offsets):
        next_off = offsets[k + 1] if k + 1 < len(offsets) else horizon + 10**6
        target = work * days[k].capacity_min / total_cap
        open_now: list[tuple[int, int, int]] = []  # (end, occurrence, must)
        for gi, items in queue.items():
            if position[gi] >= len(items):
                continue
            oi = items[position[gi]]
            occ = occurrences[oi]
            prev = previous.get(gi)
            lo = occ.lo if prev is None else max(occ.lo, prev + occ.min_gap)
            hi = occ.hi if prev is None else min(occ.hi, prev + occ.max_gap)
            if off < lo or k not in occ.days:
                continue
            must = 0 if occ.optional and oi not in required else 1 if next_off > hi else 0
            if (not must and position[gi] + 1 < len(items)
                    and not next_fits(items[position[gi] + 1], off)):
                continue  # the group's next visit would find no work day in its gap
            open_now.append((hi, oi, must))
        load = 0.0
        today: set[int] = set()

        def place(oi: int, k: int, off: int, today: set[int]) -> int:
            """Put ``oi`` on day ``k``; the minutes it adds to the day."""
            gi = occurrences[oi].group
            extra = (int(approach[int(label[gi])])
                     if approach is not None and int(label[gi]) not in today else 0)
            chosen[oi] = k
            previous[gi] = off
            position[gi] += 1
            today.add(int(label[gi]))
            items = queue[gi]
            if (position[gi] < len(items) and occurrences[items[position[gi]]].optional
                    and off < horizon - groups[gi].period):
                required.add(items[position[gi]])
            return groups[gi].minutes + extra

        # the lowest level at which every open visit meets its due date (EDF levelling),
        # scaled to the day's capacity
        need, cum = 0.0, 0.0
        for hi, oi, _ in sorted(open_now):
            if occurrences[oi].optional and oi not in required:
                continue
            cum += groups[occurrences[oi].group].minutes
            until = max(int(np.searchsorted(offsets, hi, side="right")), k + 1)
            span = caps[until] - caps[k]
            need = max(need, cum * days[k].capacity_min / max(span, 1))
        for _, oi, must in sorted(open_now):
            if must:
                load += place(oi, k, off, today)
        rest = [(hi, oi) for hi, oi, must in open_now if not must
                and (not occurrences[oi].optional or oi in required
                     or off >= horizon - lookahead_days)]
        rest.sort()
        while rest and load < need:  # the most urgent first, up to the level
            load += place(rest.pop(0)[1], k, off, today)
        while rest and load < target:  # then places the day already goes to
            rest.sort(key=lambda e: (int(label[occurrences[e[1]].group]) not in today,
                                     occurrences[e[1]].optional and e[1] not in required,
                                     e[0]))
            _, oi = rest.pop(0)
            if load + groups[occurrences[oi].group].minutes > target * 1.1 and load > 0:
                continue
            load += place(oi, k, off, today)
    repair(chosen, queue, occurrences, offsets, horizon, groups)
    return chosen


def level(chosen: dict[int, int], occurrences: list[Occurrence], offsets: list[int],
           groups: Sequence[Group], days: Sequence[WorkDay], label: np.ndarray,
           approach: np.ndarray, targets: list[int], max_moves: int) -> dict[int, int]:
    """Level the start's days by local search before CP-SAT (which gets the result as hint).

    CP-SAT alone improves little on the start within its budget: levelling a day often
    needs a whole chain of a group's visits moved at once (weekly visits, 8 of them in 8
    weeks, at most 7 days apart), a move its search rarely finds. This search draws, with a
    seeded generator, a group and a move: one of its visits to another allowed day, an
    early visit in or out, or its first or last ``j`` visits shifted together by
    ``LEVEL_SHIFTS`` work days; a move that keeps every rule of the model (windows, gaps,
    the end of the horizon) is kept when it lowers the model's own objective (the same
    weights: deviation from each day's target, largest deviation, the band, capacity,
    approaches, early visits), or raises it by ``delta`` with probability
    ``exp(-delta / T)``, ``T`` cooling from ``LEVEL_T0`` to ``LEVEL_T1`` (simulated
    annealing); the best state seen is returned. Deterministic: ``max_moves`` draws, no
    clock.

    Returns:
        The improved start (occurrence -> work-day position); absent optional visits are
        not keys.
    """
    n_days = len(days)
    if not n_days or not occurrences:
        return chosen
    state = _Placement(chosen, occurrences, offsets, groups, label, approach)
    at, loads = state.at, state.loads
    caps = [d.capacity_min for d in days]
    bands = [int(BAND * t) for t in targets]

    devs = [abs(v - t) for v, t in zip(loads, targets, strict=True)]

    def day_cost(k: int, load: int) -> int:
        dev = load - targets[k]
        dev = devs[k] = dev if dev > 0 else -dev
        cost = SUM_DEV_WEIGHT * dev
        if dev > bands[k]:
            cost += BAND_WEIGHT * (dev - bands[k])
        if load > caps[k]:
            cost += OVER_CAPACITY_WEIGHT * (load - caps[k])
        return cost

    costs = [day_cost(k, v) for k, v in enumerate(loads)]

    def total() -> int:
        # beyond the days' own cost: early visits, and the approaches once more (they are
        # in the loads too), as the model's objective counts them
        return (sum(costs) + MAX_DEV_WEIGHT * max(devs)
                + EXTRA_WEIGHT * state.extra + APPROACH_WEIGHT * state.walked)

    def move(oi: int, k: int | None) -> None:
        old = at[oi]
        state.move(oi, k)
        if old is not None:
            costs[old] = day_cost(old, loads[old])
        if k is not None:
            costs[k] = day_cost(k, loads[k])

    rng = np.random.default_rng(0)
    group_ids = list(state.chains)
    best = current = total()
    best_at = dict(at)
    # as Python floats (the same values): indexing them is cheaper than numpy's scalars
    temps = np.geomspace(LEVEL_T0, LEVEL_T1, max_moves).tolist()
    draws = rng.random((max_moves, 5)).tolist()
    for tried in range(max_moves):
        r = draws[tried]
        changes = _drawn_move(state, r, group_ids)
        if not changes or all(at[oi] == to for oi, to in changes):
            continue
        before = [(oi, at[oi]) for oi, _ in changes]
        for oi, to in changes:
            move(oi, to)
        if state.chain_ok(occurrences[changes[0][0]].group):  # one group's visits
            cost = total()
            if cost <= current or r[4] < math.exp((current - cost) / temps[tried]):
                current = cost
                if cost < best:
                    best, best_at = cost, dict(at)
                continue
        for oi, to in reversed(before):
            move(oi, to)
    return {oi: k for oi, k in best_at.items() if k is not None}


def repair(chosen: dict[int, int], queue: dict[int, list[int]],
            occurrences: list[Occurrence], offsets: list[int], horizon: int,
            groups: Sequence[Group]) -> None:
    """Groups whose start breaks a rule (days off can leave a visit no work day within its
    gap) go back to their latest chain, which keeps every rule by construction."""
    at = {off: k for k, off in enumerate(offsets)}
    for gi, items in queue.items():
        placed = [(oi, offsets[chosen[oi]]) for oi in items if oi in chosen]
        ok = all(not (occurrences[oi].optional is False and oi not in chosen) for oi in items)
        for (_, ta), (oi, tb) in itertools.pairwise(placed):
            ok = ok and occurrences[oi].min_gap <= tb - ta <= occurrences[oi].max_gap
        last = items[-1]
        if ok and occurrences[last].optional and last not in chosen and len(placed):
            ok = placed[-1][1] >= horizon - groups[gi].period
        if ok:
            continue
        for oi in items:
            chosen.pop(oi, None)
            if not occurrences[oi].optional:
                chosen[oi] = at[occurrences[oi].hi]


def _drawn_move(state: _Placement, r: Sequence[float],
                group_ids: list[int]) -> list[tuple[int, int | None]]:
    """A move of :func:`level` drawn from ``r[0:4]``: a group, then one of its visits to
    another allowed day or an early visit in or out, or its first or last visits shifted
    together by LEVEL_SHIFTS work days; [] when the draw gives none (nothing placed, or a
    shift beyond the horizon)."""
    occurrences, at = state.occurrences, state.at
    items = state.chains[group_ids[int(r[0] * len(group_ids))]]
    if r[1] < 0.4:
        oi = items[int(r[2] * len(items))]
        options: list[int | None] = list(occurrences[oi].days)
        if occurrences[oi].optional:
            options.append(None)
        return [(oi, options[int(r[3] * len(options))])]
    present = [oi for oi in items if at[oi] is not None]
    if not present:
        return []
    j = 1 + int(r[2] * len(present))
    part = present[:j] if r[1] < 0.7 else present[-j:]
    step = LEVEL_SHIFTS[int(r[3] * len(LEVEL_SHIFTS))]
    shifted: list[tuple[int, int | None]] = []
    for oi in part:
        k = at[oi]
        assert k is not None
        if not 0 <= k + step < len(state.offsets):
            return []
        shifted.append((oi, k + step))
    return shifted


class _Placement:
    """A calendar being changed: where each occurrence is, the days' loads, the clusters
    opened each day; and whether a group's chain keeps the model's rules."""

    def __init__(self, chosen: dict[int, int], occurrences: list[Occurrence],
                 offsets: list[int], groups: Sequence[Group], label: np.ndarray,
                 approach: np.ndarray) -> None:
        self.occurrences, self.offsets, self.groups = occurrences, offsets, groups
        self.horizon = offsets[-1] + 1
        self.allowed = [set(o.days) for o in occurrences]
        self.minutes = [groups[o.group].minutes for o in occurrences]
        self.cluster = [int(label[o.group]) for o in occurrences]
        self.walks = [int(a) for a in approach]
        self.chains: dict[int, list[int]] = defaultdict(list)
        for oi, occ in enumerate(occurrences):
            self.chains[occ.group].append(oi)
        self.optional = [o.optional for o in occurrences]
        self.early_min = [m if o.optional else 0
                          for m, o in zip(self.minutes, occurrences, strict=True)]
        self.walk_of = [self.walks[c] for c in self.cluster]  # the approach of its cluster
        self.at: dict[int, int | None] = {oi: None for oi in range(len(occurrences))}
        # visits of each cluster on each day (cluster, then day)
        self.count: list[list[int]] = [[0] * len(offsets) for _ in self.walks]
        self.loads = [0] * len(offsets)
        self.on: list[set[int]] = [set() for _ in offsets]  # the occurrences on each day
        self.walked = 0  # approach minutes of every opened cluster-day
        self.extra = 0  # minutes of early visits
        for oi, k in chosen.items():
            self.move(oi, k)

    def move(self, oi: int, k: int | None) -> None:
        """Put ``oi`` on day ``k`` (None: leave an optional visit out)."""
        old = self.at[oi]
        count, loads = self.count[self.cluster[oi]], self.loads
        minutes, walk, early = self.minutes[oi], self.walk_of[oi], self.early_min[oi]
        if old is not None:
            count[old] -= 1
            if count[old]:
                loads[old] -= minutes
            else:  # the cluster's last visit that day: its approach goes too
                loads[old] -= minutes + walk
                self.walked -= walk
            self.extra -= early
            self.on[old].discard(oi)
        if k is not None:
            if count[k]:
                loads[k] += minutes
            else:
                loads[k] += minutes + walk
                self.walked += walk
            count[k] += 1
            self.extra += early
            self.on[k].add(oi)
        self.at[oi] = k

    def chain_ok(self, gi: int) -> bool:
        """The group's visits keep their windows, gaps and the end of the horizon."""
        at, offsets, allowed, optional = self.at, self.offsets, self.allowed, self.optional
        occurrences = self.occurrences
        items = self.chains[gi]
        before: int | None = None  # the previous placed visit's day offset
        for oi in items:
            k = at[oi]
            if k is None:
                if not optional[oi]:
                    return False
                continue
            if k not in allowed[oi]:
                return False
            t = offsets[k]
            if before is not None and not (occurrences[oi].min_gap <= t - before
                                           <= occurrences[oi].max_gap):
                return False
            before = t
        last = items[-1]
        if optional[last] and at[last] is None and len(items) > 1:
            k = at[items[-2]]
            return k is not None and offsets[k] >= self.horizon - self.groups[gi].period
        return True

    def chosen(self) -> dict[int, int]:
        """Occurrence -> day of the placed ones."""
        return {oi: k for oi, k in self.at.items() if k is not None}


def band_cost(loads: Sequence[int], walked: int, extra: int, band_pct: float,
              past: Past = NO_PAST) -> float:
    """What :func:`polish` lowers: the model's weights, each day's deviation counted from
    the mean of the days (the measure; with ``past``, of the past days and these together)
    instead of a fixed target, and the tolerated band ``POLISH_AIM`` of ``band_pct`` around
    it."""
    mean = past.mean(loads)
    tolerated = mean * band_pct / 100 * POLISH_AIM
    worst = spread = beyond = 0.0
    for v in loads:
        dev = v - mean if v > mean else mean - v
        spread += dev
        if dev > tolerated:
            beyond += dev - tolerated
        if dev > worst:
            worst = dev
    return (MAX_DEV_WEIGHT * POLISH_MAX_WEIGHT * worst + BAND_WEIGHT * beyond
            + SUM_DEV_WEIGHT * spread + APPROACH_WEIGHT * walked + EXTRA_WEIGHT * extra)


def polish(chosen: dict[int, int], occurrences: list[Occurrence], offsets: list[int],
           groups: Sequence[Group], label: np.ndarray, approach: np.ndarray,
           band_pct: float, max_moves: int, past: Past = NO_PAST) -> dict[int, int]:
    """Level a finished calendar against the measure itself: every day's load within
    ``band_pct`` of the mean of the days (with ``past``: of the past days and these).

    The levelling (:func:`level`) and CP-SAT level against each day's share of a total fixed
    before the search; when the input forces some days above it (visits due in the first
    weeks), the calendar's own mean rises and the quiet days stay below: early visits that
    would fill them cost there. Here the deviations are counted from the mean of the
    calendar being searched (:func:`band_cost`), and half of the moves are aimed: a visit
    off the day furthest above the mean to another day of its window, or onto the day
    furthest below it from a day of its window, moving the rest of the group's chain by
    the same number of work days when the visit alone would break a gap; the other half are
    :func:`level`'s (a visit, an early visit in or out, the first or last visits of a chain
    shifted together). Every state kept keeps the model's rules; a move is kept when it
    does not raise the cost, or with probability ``exp(-delta / T)`` (``T`` cooling from
    ``POLISH_T0`` to ``POLISH_T1``); the best state is returned. Deterministic: seeded
    draws, ``max_moves`` of them, no clock.
    """
    if not offsets or not occurrences or max_moves <= 0:
        return chosen
    state = _Placement(chosen, occurrences, offsets, groups, label, approach)
    n_days = len(offsets)
    allowed_on: list[list[int]] = [[] for _ in range(n_days)]
    for oi, occ in enumerate(occurrences):
        for k in occ.days:
            allowed_on[k].append(oi)

    def cost() -> float:
        return band_cost(state.loads, state.walked, state.extra, band_pct, past)

    def shift_rest(oi: int, step: int) -> list[tuple[int, int | None]]:
        """The visits of ``oi``'s group after it (step > 0) or before it, moved by
        ``step`` work days too (placed ones only)."""
        items = state.chains[occurrences[oi].group]
        j = items.index(oi)
        part = items[j + 1:] if step > 0 else items[:j]
        out: list[tuple[int, int | None]] = []
        for other in part:
            k = state.at[other]
            if k is not None:
                if not 0 <= k + step < n_days:
                    return []
                out.append((other, k + step))
        return out

    def pushed(oi: int, frm: int, to: int) -> list[tuple[int, int | None]]:
        """``oi`` from ``frm`` to ``to``; when that day is then above the tolerated band,
        one of its other visits on to the quietest day of its window, and so on
        (``POLISH_DEPTH`` visits at most): an ejection chain off a busy day."""
        loads, minutes = list(state.loads), state.minutes
        upper = sum(loads) / n_days * (1 + band_pct / 100 * POLISH_AIM)
        changes: list[tuple[int, int | None]] = []
        moved = {oi}
        for _ in range(POLISH_DEPTH):
            changes.append((oi, to))
            loads[frm] -= minutes[oi]
            loads[to] += minutes[oi]
            if loads[to] <= upper:
                break
            on = [o for o in sorted(state.on[to])
                  if o not in moved and len(occurrences[o].days) > 1]
            if not on:
                break
            oi = min(on, key=lambda o: min([loads[k] for k in occurrences[o].days if k != to]))
            frm = to
            to = min((k for k in occurrences[oi].days if k != frm), key=loads.__getitem__)
            moved.add(oi)
        return changes

    def pulled(oi: int, frm: int, to: int) -> list[tuple[int, int | None]]:
        """``oi`` from ``frm`` onto ``to``; when ``frm`` is then below the tolerated band, a
        visit of the busiest day of those whose window holds ``frm`` onto it, and so on
        (``POLISH_DEPTH`` visits at most): an ejection chain onto a quiet day."""
        loads, minutes = list(state.loads), state.minutes
        lower = sum(loads) / n_days * (1 - band_pct / 100 * POLISH_AIM)
        changes: list[tuple[int, int | None]] = []
        moved = {oi}
        for _ in range(POLISH_DEPTH):
            changes.append((oi, to))
            loads[frm] -= minutes[oi]
            loads[to] += minutes[oi]
            if loads[frm] >= lower:
                break
            near = [o for o in allowed_on[frm] if o not in moved and state.at[o] is not None
                    and state.at[o] != frm]
            if not near:
                break
            oi = max(near, key=lambda o: loads[state.at[o]])  # type: ignore[index]
            to, frm = frm, int(state.at[oi])  # type: ignore[arg-type]
            moved.add(oi)
        return changes

    def aimed(r: Sequence[float]) -> list[list[tuple[int, int | None]]]:
        """Moves off the day furthest above the mean or onto the day furthest below it: a
        visit alone, an ejection chain from it, the visit swapped with a shorter one of the
        other day, or with the rest of its chain moved by as many work days."""
        loads, minutes = state.loads, state.minutes
        mean = past.mean(loads)
        high = loads.index(max(loads))  # the first busiest and quietest days
        low = loads.index(min(loads))
        if loads[high] - mean >= mean - loads[low]:  # off the busiest day
            on = sorted(state.on[high])
            if not on:
                return []
            oi = on[int(r[2] * len(on))]
            options: list[int | None] = [k for k in occurrences[oi].days if k != high]
            if occurrences[oi].optional:
                options.append(None)
            if not options:
                return []
            to = options[int(r[3] * len(options))]
            frm: int | None = high
        else:  # onto the quietest day
            near = allowed_on[low]
            if not near:  # no visit may take the quietest day
                return []
            oi = near[int(r[2] * len(near))]
            if state.at[oi] == low:
                return []
            to, frm = low, state.at[oi]
        out: list[list[tuple[int, int | None]]] = [[(oi, to)]]
        if to is None or frm is None:
            return out
        out.append(pushed(oi, frm, to) if frm == high else pulled(oi, frm, to))
        # a swap: a shorter visit of the day it goes to takes its place (both days move
        # towards each other)
        back = [oj for oj in sorted(state.on[to]) if frm in state.allowed[oj]
                and minutes[oj] < minutes[oi]]
        if back:
            oj = back[int(r[3] * len(back))]
            out.append([(oi, to), (oj, frm)])
        out.append([(oi, to), *shift_rest(oi, to - frm)])
        return out

    def drawn(r: Sequence[float]) -> list[list[tuple[int, int | None]]]:
        """One of :func:`level`'s moves."""
        changes = _drawn_move(state, r, group_ids)
        return [changes] if changes else []

    def trial(changes: list[tuple[int, int | None]]) -> float:
        """The cost after ``changes`` (inf when a chain breaks a rule); the state is left
        as it was."""
        before = [(oi, state.at[oi]) for oi, _ in changes]
        for oi, to in changes:
            state.move(oi, to)
        touched = {occurrences[oi].group for oi, _ in changes}
        value = cost() if all(state.chain_ok(gi) for gi in touched) else math.inf
        for oi, to in reversed(before):
            state.move(oi, to)
        return value

    rng = np.random.default_rng(1)
    group_ids = list(state.chains)
    best = current = cost()
    best_chosen = state.chosen()
    temps = np.geomspace(POLISH_T0, POLISH_T1, max_moves).tolist()  # Python floats
    draws = rng.random((max_moves, 6)).tolist()
    for tried in range(max_moves):
        r = draws[tried]
        candidates = aimed(r) if r[4] < POLISH_AIMED else drawn(r)
        # the best of the candidates that keep the rules, then kept or not as one move
        chosen_value, chosen_changes = math.inf, None
        for changes in candidates:
            if all(state.at[oi] == to for oi, to in changes):
                continue
            value = trial(changes)
            if value < chosen_value:
                chosen_value, chosen_changes = value, changes
        if chosen_changes is None:
            continue
        if (chosen_value <= current
                or r[5] < math.exp((current - chosen_value) / temps[tried])):
            for oi, to in chosen_changes:
                state.move(oi, to)
            current = chosen_value
            if chosen_value < best:
                best, best_chosen = chosen_value, state.chosen()
    return best_chosen
