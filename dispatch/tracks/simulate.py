"""Noisy GPS tracks simulated from known walks, for tests and the benchmark (bench/track_bench.py).

A walker follows a node path of the walk network at a walking speed that drifts around
``speed_kmh`` (4.5 km/h by default), pauses now and then (at doors, to talk), and a phone logs
a fix every ``interval_s`` seconds. The fixes carry the errors phones show in streets between
buildings: a Gaussian error of ``sigma_m`` per axis that is correlated in time (first-order
Gauss-Markov, ``correlation_s``; a phone's error drifts, it does not jump every second),
outliers (multipath: a fix ``50-300 m`` off, ``outlier_rate`` of fixes), and gaps (the phone
loses the fix or the app sleeps: ``gaps`` spans of ``gap_s`` seconds without a fix).

Optionally the walker skips part of the planned walk (``skip_share``): runs of the path are
replaced by the shortest walk between their ends, as a worker who cuts a patrol short does, so
that the truth has planned streets missed and streets walked that were not planned.

Everything is in the walk network's metric CRS (m) and seconds from the start; the truth is the
set of streets walked (:func:`walked_truth`). Random draws come from ``numpy.random.Generator``
with the given seed: the same seed gives the same track.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from shapely.geometry import LineString

from dispatch.routing.network import WalkNetwork
from dispatch.tracks.matching import Edge, edge_key


@dataclass(frozen=True)
class Noise:
    """How a phone errs (metres, seconds, shares of fixes)."""

    sigma_m: float = 10.0
    interval_s: float = 5.0
    correlation_s: float = 10.0
    outlier_rate: float = 0.01
    gaps: int = 2
    gap_s: float = 60.0


def skip_parts(net: WalkNetwork, path: list[Hashable], skip_share: float,
               rng: np.random.Generator, run: int = 8) -> list[Hashable]:
    """``path`` with about ``skip_share`` of its steps replaced by shortcuts: runs of ``run``
    nodes are cut out and their ends joined by the shortest walk."""
    if skip_share <= 0 or len(path) < run + 2:
        return list(path)
    out: list[Hashable] = [path[0]]
    i = 0
    while i < len(path) - 1:
        if rng.random() < skip_share / run * 2 and i + run < len(path) - 1:
            a, b = path[i], path[i + run]
            out += net.shortest_path(a, b)[1:]
            i += run
        else:
            out.append(path[i + 1])
            i += 1
    return out


def walked_truth(path: list[Hashable]) -> set[Edge]:
    """The streets a node path walks."""
    return {edge_key(u, v) for u, v in itertools.pairwise(path) if u != v}


def simulate_track(net: WalkNetwork, path: list[Hashable], noise: Noise | None = None, *,
                   seed: int = 0, speed_kmh: float = 4.5, pause_every_m: float = 400.0,
                   pause_s: tuple[float, float] = (20.0, 180.0),
                   start_s: float = 9 * 3600) -> pd.DataFrame:
    """Fixes a phone logs while walking ``path``.

    Args:
        net: the walk network (metric CRS).
        path: node sequence of the walk.
        noise: the phone's errors.
        seed: random seed.
        speed_kmh: mean walking speed.
        pause_every_m: a pause on average every this many metres.
        pause_s: pauses last between these many seconds (uniform).
        start_s: time of the first fix, seconds after midnight.

    Returns:
        one row a fix: ``t`` (s), ``x``, ``y`` (m, noisy), ``true_x``, ``true_y``,
        ``outlier`` (bool).
    """
    noise = noise or Noise()
    rng = np.random.default_rng(seed)
    line = net.path_geometry(path)
    if line is None:
        raise ValueError("the path needs at least two nodes")
    length = line.length
    # Position along the line as a function of time: speed drifts, pauses at random places.
    dt = 1.0
    s, t, positions = 0.0, 0.0, []
    speed = speed_kmh / 3.6
    next_pause = rng.exponential(pause_every_m)
    while s < length:
        positions.append((t, s))
        speed = float(np.clip(speed + rng.normal(0, 0.05) - 0.05 * (speed - speed_kmh / 3.6),
                              0.6, 2.0))
        s += speed * dt
        t += dt
        if s >= next_pause:
            for _ in range(int(rng.uniform(*pause_s))):
                positions.append((t, min(s, length)))
                t += dt
            next_pause = s + rng.exponential(pause_every_m)
    positions.append((t, length))
    times = np.array([p[0] for p in positions])
    along = np.array([p[1] for p in positions])
    sample = np.arange(0.0, times[-1], noise.interval_s)
    sample = sample[_outside_gaps(sample, noise, rng)]
    dist = np.interp(sample, times, along)
    true = np.array([line.interpolate(d).coords[0] for d in dist]).reshape(-1, 2)
    error = _correlated(sample, noise, rng)
    outlier = rng.random(len(sample)) < noise.outlier_rate
    angle = rng.uniform(0, 2 * np.pi, outlier.sum())
    reach = rng.uniform(50, 300, outlier.sum())
    error[outlier] += np.column_stack([np.cos(angle) * reach, np.sin(angle) * reach])
    noisy = true + error
    return pd.DataFrame({"t": sample + start_s, "x": noisy[:, 0], "y": noisy[:, 1],
                         "true_x": true[:, 0], "true_y": true[:, 1], "outlier": outlier})


def _outside_gaps(sample: np.ndarray, noise: Noise, rng: np.random.Generator) -> np.ndarray:
    keep = np.ones(len(sample), dtype=bool)
    if len(sample) and noise.gaps:
        for start in rng.uniform(sample[0], sample[-1], noise.gaps):
            keep &= ~((sample >= start) & (sample < start + noise.gap_s))
    keep[[0, -1]] = True
    return keep


def _correlated(sample: np.ndarray, noise: Noise, rng: np.random.Generator) -> np.ndarray:
    """Gauss-Markov error of standard deviation ``sigma_m`` per axis at the sample times."""
    error = np.zeros((len(sample), 2))
    if not len(sample):
        return error
    error[0] = rng.normal(0, noise.sigma_m, 2)
    for i in range(1, len(sample)):
        rho = np.exp(-(sample[i] - sample[i - 1]) / noise.correlation_s) \
            if noise.correlation_s > 0 else 0.0
        error[i] = rho * error[i - 1] + np.sqrt(1 - rho ** 2) * rng.normal(0, noise.sigma_m, 2)
    return error


def route_line(net: WalkNetwork, path: list[Hashable]) -> LineString | None:
    """The walk's geometry (metric CRS), for drawing."""
    return net.path_geometry(path)


def to_wgs84_fixes(track: pd.DataFrame, crs: object, *, day: str = "2026-12-01"
                   ) -> pd.DataFrame:
    """A simulated track as lon/lat fixes: ``time`` (UTC; ``t`` is seconds after midnight,
    Beijing time, of ``day``), ``lon``, ``lat``."""
    import geopandas as gpd

    points = gpd.GeoSeries(gpd.points_from_xy(track["x"], track["y"]), crs=crs).to_crs(4326)
    midnight = pd.Timestamp(day, tz="Asia/Shanghai")
    return pd.DataFrame({"time": (midnight + pd.to_timedelta(track["t"], unit="s"))
                         .dt.tz_convert("UTC"),
                         "lon": points.x.to_numpy(), "lat": points.y.to_numpy()})


def to_gpx(fixes: pd.DataFrame, name: str = "track") -> str:
    """Lon/lat fixes (``time``, ``lon``, ``lat``; ``time`` may be missing) as GPX 1.1 text,
    as a phone's tracking app writes it."""
    rows = []
    for r in fixes.itertuples(index=False):
        when = getattr(r, "time", None)
        stamp = (f"<time>{pd.Timestamp(when).tz_convert('UTC').strftime('%Y-%m-%dT%H:%M:%SZ')}"
                 "</time>" if when is not None and not pd.isna(when) else "")
        rows.append(f'<trkpt lat="{r.lat:.7f}" lon="{r.lon:.7f}">{stamp}</trkpt>')
    body = "\n".join(rows)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="wangge-sim" '
            'xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"<trk><name>{name}</name><trkseg>\n{body}\n</trkseg></trk></gpx>\n")
