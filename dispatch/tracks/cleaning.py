"""Cleaning a GPS track before it is matched: duplicates, inaccurate fixes, outliers,
implausible movement, gaps, stops and thinning.

Rules (a worker walks; 15 km/h is beyond any walk and is the limit the street offices use):

- ``duplicate``: a fix with the time of the one before it (phones repeat fixes);
- ``inaccurate``: a fix whose own accuracy (GPX ``hdop`` × 5 m, GeoJSON ``accuracy``) is worse
  than ``max_accuracy_m`` (50 m);
- ``outlier``: one or two fixes that jump away and back (multipath between tall buildings):
  further from the last good fix than ``max_speed_kmh`` allows plus ``slack_m`` (40 m, the
  error two good fixes may differ by), while the fixes after them agree with the last good one;
- ``too_fast``: three or more fixes in a row moving faster than ``max_speed_kmh`` (a ride, a
  teleport after a reboot): dropped, and the track goes on as a new piece from where three
  fixes in a row agree again (a ``jump``); and fixes moving faster than that over
  ``RIDE_WINDOW_S`` (30 s), where the slack lets single steps of a ride through;
- a gap of more than ``gap_s`` (120 s) without a fix also starts a new piece (nothing dropped;
  streets between the pieces are not credited);
- ``stop``: fixes while the worker stays within ``stop_radius_m`` (25 m) for at least
  ``stop_min_s`` (60 s), ending where they began (slow walking is no stop): kept for the
  time in the grid and the visits; those within half the radius of the stop's centre are
  left out of matching (but for the first and last of the stop);
- thinning (not a drop): positions are averaged over ``smooth_s`` (9 s) and one fix is kept
  every ``thin_m`` (15 m) of movement, which takes a day at 1 s (28,800 fixes) down to a few
  thousand and averages away part of the noise.

Coordinates are a metric CRS (m), times seconds. Hand-written: no maintained library does these
walking-specific rules (``movingpandas`` has stop detection and generalisation but pulls in a
plotting stack and has no outlier rule that keeps the points after a teleport); each rule is a
few lines of numpy.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MAX_SPEED_KMH = 15.0
SLACK_M = 40.0
MAX_ACCURACY_M = 50.0
GAP_S = 120.0
STOP_RADIUS_M = 25.0
STOP_MIN_S = 60.0
SMOOTH_S = 9.0
THIN_M = 15.0  # chosen on Nanjing by bench/track_bench.py (10 or 15 m: same accuracy)
RIDE_WINDOW_S = 30.0
AGREE = 3  # fixes in a row that must agree to start a new piece after a jump

DROP_REASONS = ("duplicate", "inaccurate", "outlier", "too_fast", "stop")
DROP_ZH = {"duplicate": "重复时间", "inaccurate": "精度差", "outlier": "离群跳点",
           "too_fast": "速度超过15公里/小时", "stop": "停留点", "thinned": "抽稀"}


@dataclass
class Stop:
    """A place where the worker stayed: centre (m), first and last fix time (s)."""

    x: float
    y: float
    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        """How long the stop lasted (s)."""
        return self.end_s - self.start_s


@dataclass
class CleanTrack:
    """A cleaned track.

    Attributes:
        points: the fixes kept (``t``, ``x``, ``y``, ``piece``, ``stop`` bool), time order;
            stop fixes are here (for time in the grid and visits).
        matching: the fixes to match (``t``, ``x``, ``y`` smoothed, ``piece``): stops and
            thinned fixes left out.
        dropped: reason -> fixes dropped (:data:`DROP_REASONS`; ``stop`` counts the stop fixes
            left out of matching, ``thinned`` those left out by thinning).
        jumps: how many times the track jumped (a new piece after ``too_fast``).
        gaps: how many gaps longer than ``gap_s`` the track has.
        stops: the stops, in time order.
        raw_points: fixes given.
    """

    points: pd.DataFrame
    matching: pd.DataFrame
    dropped: dict[str, int]
    jumps: int
    gaps: int
    stops: list[Stop] = field(default_factory=list)
    raw_points: int = 0


def clean_track(track: pd.DataFrame, *, max_speed_kmh: float = MAX_SPEED_KMH,
                slack_m: float = SLACK_M, max_accuracy_m: float = MAX_ACCURACY_M,
                gap_s: float = GAP_S, stop_radius_m: float = STOP_RADIUS_M,
                stop_min_s: float = STOP_MIN_S, smooth_s: float = SMOOTH_S,
                thin_m: float = THIN_M) -> CleanTrack:
    """Clean a track (rules in the module docstring).

    Args:
        track: one row a fix: ``t`` (s), ``x``, ``y`` (m, metric CRS), optionally
            ``accuracy_m``.
    """
    frame = track[["t", "x", "y"]].astype(float).copy()
    frame["accuracy_m"] = (track["accuracy_m"].astype(float) if "accuracy_m" in track
                           else np.nan)
    frame = frame.sort_values("t", kind="stable").reset_index(drop=True)
    dropped: Counter[str] = Counter({r: 0 for r in DROP_REASONS})
    duplicate = frame["t"].diff().eq(0).to_numpy()
    dropped["duplicate"] = int(duplicate.sum())
    inaccurate = ~duplicate & (frame["accuracy_m"].to_numpy() > max_accuracy_m)
    dropped["inaccurate"] = int(inaccurate.sum())
    frame = frame[~duplicate & ~inaccurate].reset_index(drop=True)
    t, x, y = (frame[c].to_numpy() for c in ("t", "x", "y"))
    keep, piece, outliers, fast, jumps = _plausible(t, x, y, max_speed_kmh / 3.6, slack_m)
    riding, rides = _sustained(t, x, y, keep, piece, max_speed_kmh / 3.6, slack_m)
    keep &= ~riding
    piece = piece + np.cumsum(riding)  # a new piece after each ride
    dropped["outlier"], dropped["too_fast"] = outliers, fast + int(riding.sum())
    jumps += rides
    points = frame.loc[keep, ["t", "x", "y"]].reset_index(drop=True)
    points["piece"] = piece[keep]
    # gaps start pieces too
    new_gap = points["t"].diff().gt(gap_s).to_numpy()
    gaps = int(new_gap.sum())
    points["piece"] = np.cumsum(new_gap | points["piece"].diff().fillna(0).ne(0).to_numpy())
    stops, in_stop, stop_inner = _stops(points, stop_radius_m, stop_min_s)
    points["stop"] = in_stop
    dropped["stop"] = int(stop_inner.sum())
    moving = points[~stop_inner].copy()
    smoothed = _smooth(moving, smooth_s)
    thin = _thin(smoothed, thin_m)
    dropped["thinned"] = int(len(moving) - thin.sum())
    matching = smoothed[thin].reset_index(drop=True)
    return CleanTrack(points, matching, dict(dropped), jumps, gaps, stops, len(track))


def _plausible(t: np.ndarray, x: np.ndarray, y: np.ndarray, vmax: float, slack: float
               ) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """(keep mask, piece per fix, outliers, too fast, jumps) by the speed rule."""
    n = len(t)
    keep = np.zeros(n, dtype=bool)
    piece = np.zeros(n, dtype=int)
    if n == 0:
        return keep, piece, 0, 0, 0

    tl, xl, yl = t.tolist(), x.tolist(), y.tolist()

    def fits(a: int, b: int) -> bool:
        return bool(math.hypot(xl[b] - xl[a], yl[b] - yl[a]) <= vmax * (tl[b] - tl[a]) + slack)

    anchor, current, outliers, fast, jumps = 0, 0, 0, 0, 0
    keep[0] = True
    pending: list[int] = []  # fixes that do not fit the anchor, in time order
    run: list[int] = []  # the last fixes of pending that agree with each other
    for i in range(1, n):
        if fits(anchor, i):
            outliers += len(pending)
            pending, run = [], []
            keep[i], piece[i], anchor = True, current, i
            continue
        pending.append(i)
        run = [*run, i] if run and fits(run[-1], i) else [i]
        if len(run) >= AGREE:
            thrown = len(pending) - len(run)
            if thrown >= AGREE:
                fast += thrown
            else:
                outliers += thrown
            current += 1
            jumps += 1
            for j in run:
                keep[j], piece[j] = True, current
            anchor, pending, run = run[-1], [], []
    outliers += len(pending)
    # a lone fix left as its own piece (the first fix was the outlier) is an outlier too
    for p in np.unique(piece[keep]):
        members = np.flatnonzero(keep & (piece == p))
        if len(members) == 1 and n > 1:
            keep[members] = False
            outliers += 1
            jumps -= 1 if p > 0 or current > 0 else 0
    return keep, piece, outliers, fast, max(jumps, 0)


def _sustained(t: np.ndarray, x: np.ndarray, y: np.ndarray, keep: np.ndarray,
               piece: np.ndarray, vmax: float, slack: float, window_s: float = RIDE_WINDOW_S
               ) -> tuple[np.ndarray, int]:
    """Fixes of rides: faster than ``vmax`` over ``window_s`` seconds, which the slack that
    lets single steps through at a few seconds' sampling cannot hide. A step (fix k to the
    next kept one) is fast when the fixes ``window_s`` / 2 before and after it lie further
    apart than ``vmax`` allows plus ``slack``; a fix whose steps on both sides are fast is
    riding. Returns (riding mask over all fixes, rides)."""
    idx = np.flatnonzero(keep)
    riding = np.zeros(len(t), dtype=bool)
    if len(idx) < 3:
        return riding, 0
    tt, xx, yy = t[idx], x[idx], y[idx]
    lo = np.searchsorted(tt, tt[:-1] - window_s / 2, side="left")
    hi = np.minimum(np.searchsorted(tt, tt[1:] + window_s / 2, side="right") - 1, len(tt) - 1)
    span = tt[hi] - tt[lo]
    dist = np.hypot(xx[hi] - xx[lo], yy[hi] - yy[lo])
    same = piece[idx][lo] == piece[idx][hi]
    fast = same & (dist > vmax * span + slack) & (span >= window_s / 2)
    inner = np.zeros(len(idx), dtype=bool)
    inner[1:-1] = fast[:-1] & fast[1:]
    riding[idx[inner]] = True
    rides = int(np.sum(inner[1:] & ~inner[:-1]))
    return riding, rides


def _stops(points: pd.DataFrame, radius: float, min_s: float
           ) -> tuple[list[Stop], np.ndarray, np.ndarray]:
    """Stops; fixes in a stop; fixes in a stop but its first and last (left out of matching).

    A stop grows from a fix while the next fixes stay within ``radius`` of the running
    centre; it counts when it lasts ``min_s`` and its last fix lies within ``radius`` of its
    first (slow walking stays near a running centre too, but moves on). Plain floats: numpy
    scalars cost ten times as much in this loop."""
    t = points["t"].to_numpy(float).tolist()
    x = points["x"].to_numpy(float).tolist()
    y = points["y"].to_numpy(float).tolist()
    pieces = points["piece"].to_numpy().tolist()
    n = len(t)
    in_stop = np.zeros(n, dtype=bool)
    inner = np.zeros(n, dtype=bool)
    stops: list[Stop] = []
    i = 0
    while i < n:
        j = i
        cx, cy, count = x[i], y[i], 1
        while (j + 1 < n and pieces[j + 1] == pieces[i]
               and math.hypot(x[j + 1] - cx, y[j + 1] - cy) <= radius):
            j += 1
            count += 1
            cx += (x[j] - cx) / count
            cy += (y[j] - cy) / count
        # slow walking also keeps near a running centre for a minute (0.6 m/s: 36 m a
        # minute, the centre halfway): a stop also ends about where it began
        if t[j] - t[i] >= min_s and math.hypot(x[j] - x[i], y[j] - y[i]) <= radius:
            stops.append(Stop(cx, cy, t[i], t[j]))
            in_stop[i:j + 1] = True
            # only the fixes around the centre go: those of the walk in and out of the stop
            # (up to ``radius`` along the street) stay, or a short street there is lost
            for k in range(i + 1, j):
                inner[k] = math.hypot(x[k] - cx, y[k] - cy) <= radius / 2
            i = j + 1
        else:
            i += 1
    return stops, in_stop, inner


def _smooth(points: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """Positions averaged over ``window_s`` seconds centred on each fix, within a piece."""
    out = points[["t", "x", "y", "piece"]].reset_index(drop=True)
    if window_s <= 0 or out.empty:
        return out
    t = out["t"].to_numpy()
    half = window_s / 2
    for col in ("x", "y"):
        values = out[col].to_numpy()
        smoothed = values.copy()
        for p in np.unique(out["piece"]):
            idx = np.flatnonzero(out["piece"].to_numpy() == p)
            tt, vv = t[idx], values[idx]
            csum = np.concatenate([[0.0], np.cumsum(vv)])
            lo = np.searchsorted(tt, tt - half, side="left")
            hi = np.searchsorted(tt, tt + half, side="right")
            smoothed[idx] = (csum[hi] - csum[lo]) / (hi - lo)
        out[col] = smoothed
    return out


def _thin(points: pd.DataFrame, spacing: float) -> np.ndarray:
    """Keep the first fix of each piece and then one every ``spacing`` metres."""
    x, y, pieces = (points[c].to_numpy().tolist() for c in ("x", "y", "piece"))
    keep = np.zeros(len(x), dtype=bool)
    last = -1
    for i in range(len(x)):
        if last < 0 or pieces[i] != pieces[last] or \
                math.hypot(x[i] - x[last], y[i] - y[last]) >= spacing:
            keep[i] = True
            last = i
    if len(x):
        keep[-1] = True
    return keep
