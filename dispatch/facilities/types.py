"""The kinds of neighbourhood facility Wangge measures, with names and walking distances.

Each :class:`FacilityType` has a key (used in files, the store and the API), names in Chinese
and English, and the default walking distance (metres, along the walk network) within which a
household counts as served. The defaults come from the Chinese planning standards as we read
them; a planner can give any other distance per request.

- ``garbage_point`` 生活垃圾收集点 (garbage sorting point): 100 m. CJJ 27-2012
  《环境卫生设施设置标准》 wants a household garbage collection point within a service radius of
  70 m; a radius is straight-line, and walks in Chinese residential blocks are about 1.3-1.4
  times longer than the straight line, so 70 m of radius is about 100 m of walk.
- ``service_station`` 社区服务站 (community service station): 300 m. GB 50180-2018
  《城市居住区规划设计标准》 puts it in the 5-minute life circle (五分钟生活圈, 300 m).
- ``activity_room`` 文化活动站 / 活动室 (activity room): 500 m. GB 50180-2018 lists the
  cultural activity station in the 5-minute circle with a service radius of at most 500 m.
- ``canteen`` 社区食堂 / 老年助餐点 (community or elderly canteen): 300 m, the 5-minute circle
  of GB 50180-2018 (where it lists the community canteen), the walk that older residents
  make for a meal.
- ``clinic`` 社区卫生服务站 / 中心 (clinic): 1,000 m. GB 50180-2018 puts the community
  health service centre in the 15-minute life circle (十五分钟生活圈, 800-1,000 m) with a
  service radius of at most 1,000 m.

Walking at 4 km/h (dispatch.routing.network.WALK_SPEED_KMH): 300 m is 4.5 minutes, 1,000 m 15.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.errors import ArgumentError


@dataclass(frozen=True)
class FacilityType:
    """A kind of facility: key, names, default walking distance (m) and where it comes from."""

    key: str
    zh: str
    en: str
    distance_m: float
    basis: str


FACILITY_TYPES: dict[str, FacilityType] = {t.key: t for t in (
    FacilityType("garbage_point", "垃圾收集点", "garbage point", 100.0,
                 "CJJ 27-2012: service radius <= 70 m, about 100 m of walk"),
    FacilityType("service_station", "社区服务站", "service station", 300.0,
                 "GB 50180-2018: 5-minute life circle, 300 m"),
    FacilityType("activity_room", "活动室", "activity room", 500.0,
                 "GB 50180-2018: cultural activity station, service radius <= 500 m"),
    FacilityType("canteen", "社区食堂", "canteen", 300.0,
                 "GB 50180-2018: community canteen, 5-minute life circle, 300 m"),
    FacilityType("clinic", "卫生服务站", "clinic", 1000.0,
                 "GB 50180-2018: 15-minute life circle, service radius <= 1,000 m"),
)}
MAX_DISTANCE_M = 5000.0  # a walk beyond this is no neighbourhood facility


def facility_type(key: str) -> FacilityType:
    """The facility type named ``key``; a bilingual ArgumentError naming the known keys."""
    found = FACILITY_TYPES.get(str(key).strip())
    if found is None:
        known = ", ".join(FACILITY_TYPES)
        raise ArgumentError(f"未知设施类型 {key!r}：应为 {known} 之一",
                            f"unknown facility type {key!r}: one of {known}")
    return found


def walking_distance(key: str, distance_m: float | None = None) -> float:
    """``distance_m`` checked (0 < d <= 5,000 m), or the type's default when None."""
    kind = facility_type(key)
    if distance_m is None:
        return kind.distance_m
    d = float(distance_m)
    if not 0 < d <= MAX_DISTANCE_M:
        raise ArgumentError(f"步行距离应在 0 到 {MAX_DISTANCE_M:g} 米之间，收到 {distance_m}",
                            f"walking distance must be above 0 and at most "
                            f"{MAX_DISTANCE_M:g} m, got {distance_m}")
    return d
