"""Reading grid workers and party members from CSV files (UTF-8 or GBK, as Excel saves them).

Workers: ``worker_id, name, lon, lat`` (WGS84 base) and optional ``phone, role, max_grids,
max_households, skills`` (separated by ``;``), ``start, end`` (working hours, HH:MM).
Party members: ``member_id, name, building_id`` and optional ``capacity`` (default 20).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from dispatch.staffing.party import DEFAULT_CAPACITY, PartyMember
from dispatch.staffing.workers import ROLES, Worker, clock_seconds
from gis.errors import InputError, check_file


def _read_csv(path: Path) -> pd.DataFrame:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(path, dtype=str, encoding=encoding).fillna("")
        except UnicodeDecodeError:
            continue
        except pd.errors.ParserError as exc:
            raise InputError(path, f"not a readable CSV ({exc})", "save it as CSV (UTF-8)",
                             problem_zh="无法读取 CSV",
                             hint_zh="请另存为 UTF-8 编码的 CSV") from exc
    raise InputError(path, "unknown text encoding", "save it as CSV (UTF-8)",
                     problem_zh="无法识别文字编码", hint_zh="请另存为 UTF-8 编码的 CSV")


def _require(path: Path, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing columns {', '.join(missing)}",
                         f"give at least the columns {','.join(columns)}",
                         problem_zh=f"缺少列 {', '.join(missing)}",
                         hint_zh=f"至少需要列 {','.join(columns)}")


def _number(path: Path, row: int, column: str, text: str, default: float) -> float:
    if text.strip() == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise InputError(path, f"row {row + 2}, column {column}: {text!r} is not a number",
                         "write a number or leave it empty",
                         problem_zh=f"第 {row + 2} 行 {column} 列 {text!r} 不是数字",
                         hint_zh="请填写数字或留空") from None


def _clock(path: Path, row: int, column: str, text: str, default: int) -> int:
    if not text.strip():
        return default
    try:
        return clock_seconds(text)
    except ValueError:
        raise InputError(path, f"row {row + 2}, column {column}: {text!r} is not HH:MM",
                         "write the time as HH:MM, e.g. 08:30",
                         problem_zh=f"第 {row + 2} 行 {column} 列 {text!r} 不是 时:分",
                         hint_zh="请按 时:分 填写，例如 08:30") from None


def read_workers(path: str | Path, crs: object) -> list[Worker]:
    """Workers from a CSV; bases converted from WGS84 lon/lat to ``crs`` (metric)."""
    path = check_file(path)
    frame = _read_csv(path)
    _require(path, frame, ("worker_id", "name", "lon", "lat"))
    lon = [_number(path, i, "lon", t, float("nan")) for i, t in enumerate(frame["lon"])]
    lat = [_number(path, i, "lat", t, float("nan")) for i, t in enumerate(frame["lat"])]
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise InputError(path, f"row {i + 2}: lon/lat {x}, {y} out of range",
                             "give the base as WGS84 longitude and latitude",
                             problem_zh=f"第 {i + 2} 行经纬度超出范围",
                             hint_zh="请填写 WGS84 经纬度")
    bases = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=4326).to_crs(crs)
    workers = []
    for i, row in frame.iterrows():
        role = row.get("role", "").strip() or "grid_worker"
        if role not in ROLES:
            raise InputError(path, f"row {i + 2}: unknown role {role!r}",
                             f"use one of {', '.join(ROLES)}",
                             problem_zh=f"第 {i + 2} 行角色 {role!r} 无法识别",
                             hint_zh=f"请使用 {', '.join(ROLES)} 之一")
        workers.append(Worker(
            row["worker_id"], row["name"], bases.iloc[i].x, bases.iloc[i].y, role=role,
            phone=row.get("phone", ""),
            max_grids=int(_number(path, i, "max_grids", row.get("max_grids", ""), 3)),
            max_households=int(_number(path, i, "max_households",
                                       row.get("max_households", ""), 1200)),
            skills=frozenset(s for s in row.get("skills", "").split(";") if s),
            hours=(_clock(path, i, "start", row.get("start", ""), 8 * 3600),
                   _clock(path, i, "end", row.get("end", ""), 17 * 3600))))
    return workers


def read_members(path: str | Path) -> list[PartyMember]:
    """Party members from a CSV."""
    path = check_file(path)
    frame = _read_csv(path)
    _require(path, frame, ("member_id", "name", "building_id"))
    return [PartyMember(row["member_id"], row["name"], row["building_id"],
                        int(_number(path, i, "capacity", row.get("capacity", ""),
                                    DEFAULT_CAPACITY)))
            for i, row in frame.iterrows()]
