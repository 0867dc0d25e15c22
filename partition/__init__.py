"""partition: balanced, contiguous, compact micro-grids (微网格) within communities.

``make_plan(study_area, target=300)`` returns a :class:`Plan` (grids and buildings with their
metrics); ``plan_io.write_plan`` / ``read_plan`` store it as a GeoPackage; re-balancing takes the
previous plan. Metric CRS in, metric CRS out; the GeoPackage is WGS84.
"""

from partition.plan import (
    DEFAULT_TARGET,
    Plan,
    PlanError,
    build_territory,
    make_plan,
    rule_violations,
)

__all__ = ["DEFAULT_TARGET", "Plan", "PlanError", "build_territory", "make_plan",
           "rule_violations"]
