"""What the input forces on a visit calendar: lower bounds of its busiest day and band.

- :func:`peak_bound`: the busiest day's visiting minutes no calendar keeping every visit on
  time goes below (the visits already due in the first days).
- :func:`relaxation`: the model's linear relaxation (HiGHS): the smallest band around the
  mean day it keeps every day within (rounded down by :func:`proven`: ``Calendar.forced_pct``),
  or its days within a given band (the targets of a second levelling).
- :func:`chain_relaxation`: a tighter one, each group's visits as one path through its
  visits' days (a flow: every fractional solution is a mix of whole chains that keep the
  gaps), whose solution, rounded to one chain per group (:meth:`ChainRelaxation.rounded`),
  is a start for the levelling against the calendar's mean.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

from dispatch.schedule.horizon import Group, Occurrence, Past, WorkDay, due_chains

PROOF_LP_METHOD = "highs-ipm"  # HiGHS's interior point for the chain relaxation's least band
# (its value only: 0.6 against 3.9 CPU s of the dual simplex on a nanjing-A worker); the
# flows rounded to starts come from HiGHS's choice ("highs", the simplex), whose vertex
# rounded better (the interior point's crossover vertex left a synthetic --seed 62 worker at
# 16.6% where the simplex's reaches 13.1%)


class Instance(Protocol):
    """One worker's calendar problem, as the relaxation reads it (``calendar._Problem``)."""

    occurrences: list[Occurrence]
    offsets: list[int]
    label: np.ndarray
    approach: np.ndarray
    minutes: list[int]
    groups: Sequence[Group]
    past: Past


def peak_bound(groups: Sequence[Group], days: Sequence[WorkDay], start: date) -> float:
    """A lower bound of the busiest day's visiting minutes that any calendar keeping every
    due visit on time has: the largest mean, over runs of consecutive work days, of the
    visits that can fall nowhere else (their windows, narrowed along each group's chain of
    gaps, inside the run). At the start of a first calendar these are the visits already
    due: a building's households last visited on one day and due in the first days. Walks
    not counted; minutes."""
    days = sorted(days, key=lambda d: d.day)
    occurrences, _ = due_chains(groups, start, list(days))
    offsets = np.array([(d.day - start).days for d in days])
    if not len(offsets):
        return 0.0
    lo = [int(offsets[o.days[0]]) if o.days else 0 for o in occurrences]
    hi = [int(offsets[o.days[-1]]) if o.days else 0 for o in occurrences]

    def up(t: int) -> int:  # the first work day on or after t
        j = int(np.searchsorted(offsets, t))
        return int(offsets[j]) if j < len(offsets) else 10**6

    def down(t: int) -> int:  # the last work day on or before t
        j = int(np.searchsorted(offsets, t, side="right")) - 1
        return int(offsets[j]) if j >= 0 else -10**6

    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        if not occ.optional:
            chains[occ.group].append(oi)
    for _ in range(3):  # the gaps narrow the windows both ways
        for items in chains.values():
            for a, b in itertools.pairwise(items):
                gap, most = occurrences[b].min_gap, occurrences[b].max_gap
                lo[b] = max(lo[b], up(lo[a] + gap))
                hi[a] = min(hi[a], down(hi[b] - gap))
                lo[a] = max(lo[a], up(lo[b] - most))
                hi[b] = min(hi[b], down(hi[a] + most))
    where = {int(t): k for k, t in enumerate(offsets)}
    must = np.zeros((len(offsets), len(offsets)))  # [first, last] work day of the window
    for items in chains.values():
        for oi in items:
            if lo[oi] in where and hi[oi] in where and lo[oi] <= hi[oi]:
                must[where[lo[oi]], where[hi[oi]]] += groups[occurrences[oi].group].minutes
    n = len(offsets)
    best = 0.0
    for a in range(n):
        total = 0.0
        for b in range(a, n):
            total += must[a:b + 1, b].sum()
            best = max(best, total / (b - a + 1))
    return float(best)


def relaxation(problem: Instance, band: float | None = None
                ) -> tuple[float, list[float]]:
    """The model's linear relaxation (each visit split over its window's days, clusters
    opened in part, the gaps of a group's chain on the visits' mean days; the early visits'
    gaps dropped): without ``band``, the smallest band (%) around the mean day that it
    keeps every work day within; a lower bound, so that every band below it is proven
    infeasible for the calendar itself. With ``band`` (%), every day within it and the
    least total load (fewest early visits). The deviation relative to the mean is a
    linear-fractional program, made linear by the Charnes-Cooper transformation (every
    variable divided by the horizon's total load, ``t`` = 1 / total); solved by HiGHS
    (deterministic).

    Returns:
        The band (%), and the days' loads of the relaxed solution (minutes; empty when it
        has none).
    """
    occurrences, offsets = problem.occurrences, problem.offsets
    n_days = len(offsets)
    if not n_days or not occurrences:
        return 0.0, []
    label, approach, minutes = problem.label, problem.approach, problem.minutes
    xo: list[int] = []  # per x variable: occurrence, day
    xk: list[int] = []
    for oi, occ in enumerate(occurrences):
        for k in occ.days:
            xo.append(oi)
            xk.append(k)
    n_x = len(xo)
    xo_a, xk_a = np.array(xo), np.array(xk)
    xc = label[[occurrences[oi].group for oi in xo]]
    pairs, yi = np.unique(np.stack([xc, xk_a]), axis=1, return_inverse=True)
    yi = np.asarray(yi).ravel()
    n_y = pairs.shape[1]
    t_col, p_col = n_x + n_y, n_x + n_y + 1
    n_col = p_col + 1
    x_min = np.array(minutes, dtype=float)[xo_a]
    y_app = approach[pairs[0]].astype(float)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    ub: list[float] = []
    eq_rows: list[np.ndarray] = []
    eq_cols: list[np.ndarray] = []
    eq_vals: list[np.ndarray] = []
    beq: list[float] = []
    n_ub = n_eq = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray | list[float], eq: bool,
            rhs: np.ndarray | list[float]) -> None:
        nonlocal n_ub, n_eq
        (eq_rows if eq else rows).append(np.asarray(r))
        (eq_cols if eq else cols).append(np.asarray(c))
        (eq_vals if eq else vals).append(np.asarray(v, dtype=float))
        (beq if eq else ub).extend(np.atleast_1d(rhs).tolist())

    # each due visit once, an early one at most once: sum_k x - t (= or <=) 0
    optional = np.array([o.optional for o in occurrences])
    for flag in (False, True):
        sel = optional[xo_a] == flag
        occ_ids = np.flatnonzero(optional == flag)
        if not len(occ_ids):
            continue
        rank = np.full(len(occurrences), -1)
        rank[occ_ids] = np.arange(len(occ_ids))
        base = n_eq if not flag else n_ub
        r = np.concatenate([base + rank[xo_a[sel]], base + np.arange(len(occ_ids))])
        c = np.concatenate([np.flatnonzero(sel), np.full(len(occ_ids), t_col)])
        v = np.concatenate([np.ones(int(sel.sum())), -np.ones(len(occ_ids))])
        add(r, c, v, not flag, np.zeros(len(occ_ids)))
        if flag:
            n_ub += len(occ_ids)
        else:
            n_eq += len(occ_ids)
    # a visit opens its cluster that day: x - y <= 0; y - t <= 0
    add(n_ub + np.repeat(np.arange(n_x), 2),
        np.stack([np.arange(n_x), n_x + yi], axis=1).ravel(),
        np.tile([1.0, -1.0], n_x), False, np.zeros(n_x))
    n_ub += n_x
    add(n_ub + np.repeat(np.arange(n_y), 2),
        np.stack([n_x + np.arange(n_y), np.full(n_y, t_col)], axis=1).ravel(),
        np.tile([1.0, -1.0], n_y), False, np.zeros(n_y))
    n_ub += n_y
    # the loads: their total is 1 (the scale), and n * load_k - 1 within +-p
    load_cols = np.concatenate([np.arange(n_x), n_x + np.arange(n_y)])
    load_day = np.concatenate([xk_a, pairs[1]])
    load_val = np.concatenate([x_min, y_app])
    add(np.full(len(load_cols), n_eq), load_cols, load_val, True, [1.0])
    n_eq += 1
    for sign in (1.0, -1.0):
        add(np.concatenate([n_ub + load_day, n_ub + np.arange(n_days)]),
            np.concatenate([load_cols, np.full(n_days, p_col)]),
            np.concatenate([sign * n_days * load_val, -np.ones(n_days)]), False,
            np.full(n_days, sign))
        n_ub += n_days
    # the gaps between a group's consecutive due visits: gap * t <= pos_b - pos_a <= most * t
    first_col: dict[int, int] = {}
    for j, oi in enumerate(xo):
        first_col.setdefault(oi, j)
    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        if not occ.optional:
            chains[occ.group].append(oi)
    for items in chains.values():
        for a, b in itertools.pairwise(items):
            ca = first_col[a] + np.arange(len(occurrences[a].days))
            cb = first_col[b] + np.arange(len(occurrences[b].days))
            pa = np.array([offsets[k] for k in occurrences[a].days], dtype=float)
            pb = np.array([offsets[k] for k in occurrences[b].days], dtype=float)
            c = np.concatenate([cb, ca, [t_col]])
            add(np.full(len(c), n_ub), c,
                np.concatenate([-pb, pa, [occurrences[b].min_gap]]), False, [0.0])
            add(np.full(len(c), n_ub + 1), c,
                np.concatenate([pb, -pa, [-occurrences[b].max_gap]]), False, [0.0])
            n_ub += 2
    a_ub = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(n_ub, n_col)).tocsr()
    a_eq = coo_matrix((np.concatenate(eq_vals), (np.concatenate(eq_rows),
                                                  np.concatenate(eq_cols))),
                      shape=(n_eq, n_col)).tocsr()
    cost = np.zeros(n_col)
    bounds: list[tuple[float, float | None]] = [(0.0, None)] * n_col
    if band is None:
        cost[p_col] = 1.0
    else:
        cost[t_col] = -1.0  # the largest t: the least total load
        bounds[p_col] = (0.0, band / 100)
    # HiGHS takes sparse matrices (scipy's stubs list dense arrays only)
    found = linprog(cost, A_ub=a_ub, b_ub=np.array(ub),  # type: ignore[call-overload]
                    A_eq=a_eq, b_eq=np.array(beq), bounds=bounds, method="highs")
    if found.status != 0 or found.x[t_col] <= 0:
        return (0.0 if band is None else band), []
    sol = found.x
    loads = np.bincount(load_day, weights=load_val * sol[load_cols], minlength=n_days)
    return max(0.0, float(sol[p_col]) * 100), (loads / sol[t_col]).tolist()


def proven(bound: float) -> float:
    """The relaxation's band rounded down to 0.1% (below HiGHS's tolerance): still a bound."""
    return max(0.0, math.floor((bound - 1e-6) * 10) / 10)


@dataclass
class ChainRelaxation:
    """The solution of :func:`chain_relaxation`: its band and its flow on each arc of each
    group's chain of visits."""

    band: float  # %: no calendar keeps every day closer to its mean
    flow: np.ndarray  # per arc, as a share of one chain
    tails: np.ndarray  # per arc: the node it leaves (-1: the group's source)
    heads: np.ndarray  # per arc: the node it enters (-1: the chain ends, no early visit)
    group: np.ndarray  # per arc: the group
    node_occurrence: np.ndarray  # per node: the visit
    node_day: np.ndarray  # per node: the work day (position)

    def rounded(self, seed: int = 0) -> dict[int, int]:
        """One chain per group along the flow (occurrence -> day): seed 0 the largest flow
        at each step, others drawn in proportion to the flow (seeded: repeatable). Every
        arc keeps the windows, gaps and end of the horizon; a chain that runs into a node
        with no flow out (a draw along an arc of no flow) is left short (the caller checks
        the chains)."""
        rng = np.random.default_rng(seed) if seed else None
        out: dict[int, list[int]] = defaultdict(list)
        source: dict[int, list[int]] = defaultdict(list)
        for a, (t, g) in enumerate(zip(self.tails.tolist(), self.group.tolist(), strict=True)):
            (source[g] if t < 0 else out[t]).append(a)

        def pick(arcs: list[int]) -> int:
            w = np.maximum(self.flow[arcs], 0.0)
            if rng is None or w.sum() <= 0:
                return arcs[int(np.argmax(w))]
            return arcs[int(rng.choice(len(arcs), p=w / w.sum()))]

        chosen: dict[int, int] = {}
        for g in sorted(source):
            a = pick(source[g])
            while self.heads[a] >= 0:
                node = int(self.heads[a])
                chosen[int(self.node_occurrence[node])] = int(self.node_day[node])
                if not out[node]:
                    break
                a = pick(out[node])
        return chosen


def chain_relaxation(problem: Instance, aim: float | None = None) -> ChainRelaxation | None:
    """The smallest band around the mean day (%) of the linear relaxation in which each
    group's visits form one path through their days: a node per visit and day of its
    window, an arc from each node to the next visit's days within the gap (or, before an
    early visit, to the end when the visit covers the end of the horizon without it), one
    unit of flow a group. The relaxation of each group's chain is exact (a flow is a mix of
    whole paths: the gaps hold for every chain in the mix, not only for the mean days as in
    :func:`relaxation`), the band couples the groups; a cluster's approach on a day at least
    each group's visit of it there and at most all its visits there. Charnes-Cooper as in
    :func:`relaxation`; a re-plan's past days (``problem.past``) count in the mean. A lower
    bound of the band of any calendar keeping the model's rules (at least
    :func:`relaxation`'s). With ``aim`` (%), the flow is that of the least total load
    (the fewest early visits) with every day within ``aim``, or, when no flow keeps every
    day within ``aim``, within the band. None: no solution (no work day or visit, or HiGHS
    failed)."""
    occurrences, offsets = problem.occurrences, problem.offsets
    n_days = len(offsets)
    if not n_days or not occurrences or any(not o.days and not o.optional
                                            for o in occurrences):
        return None
    horizon = offsets[-1] + 1
    label, approach, minutes, past = problem.label, problem.approach, problem.minutes, problem.past
    chains: dict[int, list[int]] = defaultdict(list)
    for oi, occ in enumerate(occurrences):
        chains[occ.group].append(oi)
    node_of: dict[tuple[int, int], int] = {}
    node_oi: list[int] = []
    node_k: list[int] = []
    for oi, occ in enumerate(occurrences):
        for k in occ.days:
            node_of[oi, k] = len(node_oi)
            node_oi.append(oi)
            node_k.append(k)
    tails: list[int] = []
    heads: list[int] = []
    arc_group: list[int] = []
    last = np.zeros(len(node_oi), dtype=bool)  # the chain's last visit: no flow out
    for gi in sorted(chains):
        items = chains[gi]
        period = problem.groups[gi].period
        for k in occurrences[items[0]].days:
            tails.append(-1)
            heads.append(node_of[items[0], k])
            arc_group.append(gi)
        if occurrences[items[0]].optional:  # the group's only visit is early: may be left out
            tails.append(-1)
            heads.append(-1)
            arc_group.append(gi)
        for a, b in itertools.pairwise(items):
            ob = occurrences[b]
            for ka in occurrences[a].days:
                ta = offsets[ka]
                for kb in ob.days:
                    if ob.min_gap <= offsets[kb] - ta <= ob.max_gap:
                        tails.append(node_of[a, ka])
                        heads.append(node_of[b, kb])
                        arc_group.append(gi)
                if ob.optional and ta >= horizon - period:
                    tails.append(node_of[a, ka])
                    heads.append(-1)
                    arc_group.append(gi)
        for k in occurrences[items[-1]].days:
            last[node_of[items[-1], k]] = True
    tail_a, head_a, group_a = np.array(tails), np.array(heads), np.array(arc_group)
    n_arc, n_node = len(tail_a), len(node_oi)
    node_oi_a, node_k_a = np.array(node_oi), np.array(node_k)
    node_g = np.array([occurrences[oi].group for oi in node_oi])
    node_c = label[node_g]
    pairs, yi = np.unique(np.stack([node_c, node_k_a]), axis=1, return_inverse=True)
    yi = np.asarray(yi).ravel()
    n_y = pairs.shape[1]
    y0, t_col = n_arc, n_arc + n_y
    p_col = t_col + 1
    n_col = p_col + 1
    eq_r: list[np.ndarray] = []
    eq_c: list[np.ndarray] = []
    eq_v: list[np.ndarray] = []
    ub_r: list[np.ndarray] = []
    ub_c: list[np.ndarray] = []
    ub_v: list[np.ndarray] = []
    b_eq: list[float] = []
    b_ub: list[float] = []

    def add(eq: bool, r: np.ndarray, c: np.ndarray, v: np.ndarray | float,
            rhs: list[float]) -> None:
        r, c = np.asarray(r), np.asarray(c)
        (eq_r if eq else ub_r).append(r)
        (eq_c if eq else ub_c).append(c)
        (eq_v if eq else ub_v).append(np.broadcast_to(np.asarray(v, dtype=float), r.shape))
        (b_eq if eq else b_ub).extend(rhs)

    # one unit (t) of flow out of each group's source
    groups_sorted = sorted(chains)
    row_of_group = {g: r for r, g in enumerate(groups_sorted)}
    src = np.flatnonzero(tail_a < 0)
    n_g = len(groups_sorted)
    add(True, np.array([row_of_group[g] for g in group_a[src]]), src, 1.0, [])
    add(True, np.arange(n_g), np.full(n_g, t_col), -1.0, [0.0] * n_g)
    n_eq = n_g
    # flow in = flow out at every node but the chains' last
    kept = np.flatnonzero(~last)
    row = np.full(n_node, -1)
    row[kept] = n_eq + np.arange(len(kept))
    n_eq += len(kept)
    b_eq.extend([0.0] * len(kept))
    into = np.flatnonzero(head_a >= 0)
    sel = into[~last[head_a[into]]]
    add(True, row[head_a[sel]], sel, 1.0, [])
    out = np.flatnonzero(tail_a >= 0)
    sel = out[~last[tail_a[out]]]
    add(True, row[tail_a[sel]], sel, -1.0, [])
    # a visit is the flow into its node; the cluster's approach that day: at least each
    # group's visit (a group visits once a day at most), at most all its visits, at most t
    head_in = head_a[into]
    gk, gki = np.unique(np.stack([node_g[head_in], node_k_a[head_in]]), axis=1,
                        return_inverse=True)
    gki = np.asarray(gki).ravel()
    y_of = {(int(c), int(k)): i for i, (c, k) in enumerate(zip(pairs[0], pairs[1],
                                                                strict=True))}
    n_gk = gk.shape[1]
    add(False, gki, into, 1.0, [])
    add(False, np.arange(n_gk),
        y0 + np.array([y_of[int(label[g]), int(k)] for g, k in zip(gk[0], gk[1], strict=True)]),
        -1.0, [0.0] * n_gk)
    n_ub = n_gk
    add(False, n_ub + np.arange(n_y), y0 + np.arange(n_y), 1.0, [0.0] * n_y)
    add(False, n_ub + yi[head_in], into, -1.0, [])
    n_ub += n_y
    add(False, n_ub + np.arange(n_y), y0 + np.arange(n_y), 1.0, [0.0] * n_y)
    add(False, n_ub + np.arange(n_y), np.full(n_y, t_col), -1.0, [])
    n_ub += n_y
    # the loads (the past days' fixed total in the mean): their total is 1 (the scale),
    # and n * load_k - 1 within +-p
    n = n_days + past.days
    load_cols = np.concatenate([into, y0 + np.arange(n_y)])
    load_day = np.concatenate([node_k_a[head_in], pairs[1]])
    load_val = np.concatenate([np.asarray(minutes, dtype=float)[node_oi_a[head_in]],
                               approach[pairs[0]].astype(float)])
    add(True, np.full(len(load_cols) + 1, n_eq), np.append(load_cols, t_col),
        np.append(load_val, float(past.total)), [1.0])
    n_eq += 1
    for sign in (1.0, -1.0):
        add(False, np.concatenate([n_ub + load_day, n_ub + np.arange(n_days)]),
            np.concatenate([load_cols, np.full(n_days, p_col)]),
            np.concatenate([sign * n * load_val, -np.ones(n_days)]), [sign] * n_days)
        n_ub += n_days
    a_ub = coo_matrix((np.concatenate(ub_v), (np.concatenate(ub_r), np.concatenate(ub_c))),
                      shape=(n_ub, n_col)).tocsr()
    a_eq = coo_matrix((np.concatenate(eq_v), (np.concatenate(eq_r), np.concatenate(eq_c))),
                      shape=(n_eq, n_col)).tocsr()
    def solve(least_total: bool, most_band: float | None) -> np.ndarray | None:
        method = "highs" if least_total else PROOF_LP_METHOD
        cost = np.zeros(n_col)
        cost[t_col if least_total else p_col] = -1.0 if least_total else 1.0
        bounds: list[tuple[float, float | None]] = [(0.0, None)] * n_col
        bounds[p_col] = (0.0, most_band)
        found = linprog(cost, A_ub=a_ub, b_ub=np.array(b_ub),  # type: ignore[call-overload]
                        A_eq=a_eq, b_eq=np.array(b_eq), bounds=bounds, method=method)
        return found.x if found.status == 0 and found.x[t_col] > 0 else None

    # the least band (the proof) first, by the interior point; then, with ``aim``, the
    # least total within the aim or, above it, within the band (the flow to round)
    least = solve(False, None)
    if least is None:
        return None
    band = max(0.0, float(least[p_col]) * 100)
    sol = least
    if aim is not None:
        again = solve(True, max(aim / 100, float(least[p_col])))
        sol = least if again is None else again
    return ChainRelaxation(band, sol[:n_arc] / sol[t_col], tail_a, head_a, group_a,
                           node_oi_a, node_k_a)
