"""dispatch.schedule: periodic household visits (入户走访) over several weeks.

- ``classes``: the visit classes (走访类别) of households and how often each is visited
  (key persons weekly; people living alone in old age, households in difficulty and migrants
  monthly; ordinary households twice a year), and reading them from a CSV file that keeps the
  least detail needed: building id, class, number of households; never names.
- ``calendar``: the visit calendar of one grid worker or party member: which work day each
  due visit falls on, solved with OR-Tools CP-SAT (every visit inside its frequency, each day's
  load balanced against the worker's shift and work days, visits that share a trip grouped by
  place), and the nearest-due-first baseline it is measured against.
- ``horizon``, ``levelling``, ``neighbourhood``, ``bounds``: the calendar's inputs (groups,
  work days, due visits and their windows), its start and levelling searches, CP-SAT
  re-packing windows of days, and the lower bounds of what the input forces (the linear
  relaxation).
- ``day_route``: one day's walking route over that day's visits and the incidents dispatched
  to the worker (OR-Tools routing), re-planned during the day with what is already done fixed.

Uses ``dispatch.routing`` for the walk network. Positions in the walk network's metric CRS
(m), days as ``datetime.date`` (Beijing calendar), loads in minutes.
"""
