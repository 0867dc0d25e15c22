"""partition: balanced, contiguous, compact micro-grids (微网格) within communities.

``make_plan(study_area, target=DEFAULT_TARGET)`` returns a :class:`Plan` (grids and buildings with
their metrics); ``plan_io.write_plan`` / ``read_plan`` store it as a GeoPackage; re-balancing
takes the previous plan. Metric CRS in, metric CRS out; the GeoPackage is WGS84. The balance
rule and the default target are ``partition.metrics``' (BALANCE_LIMIT_PCT, DEFAULT_TARGET).
"""

from typing import Any

# The plan names load OR-Tools, networkx and the whole partition: seconds that the command line
# and the maps, which need only partition.metrics' constants, need not spend (PEP 562).
_LAZY = {"Plan": "partition.plan", "PlanError": "partition.plan",
         "build_territory": "partition.plan", "make_plan": "partition.plan",
         "rule_violations": "partition.plan", "DEFAULT_TARGET": "partition.metrics",
         "BALANCE_LIMIT_PCT": "partition.metrics"}


def __getattr__(name: str) -> Any:
    """The plan names, imported on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'partition' has no attribute {name!r}")


__all__ = ["BALANCE_LIMIT_PCT", "DEFAULT_TARGET", "Plan", "PlanError", "build_territory",
           "make_plan", "rule_violations"]
