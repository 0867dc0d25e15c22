"""dispatch.incidents: incidents (事件) from report to closing.

Owns the categories with their priorities and deadlines in Beijing working time (``rules``),
the lifecycle with its append-only history and merged duplicates (``lifecycle``), dispatching
to the grid's worker or the best one on duty (``dispatcher``), referral (转办) to the
organisation responsible with its own deadlines (``referral``) and statistics per grid, worker,
category or channel (``statistics``); every one of them raises ``errors.IncidentError``. Uses
``dispatch.routing``, ``dispatch.staffing`` and ``dispatch.channels``.
"""
