"""dispatch.community: micro-wishes (微心愿) and the volunteers who fulfil them.

- ``dispatch.community.wishes``: the categories and skills vocabulary (zh/en names) and the
  wish lifecycle (posted -> claimed -> done -> confirmed, with cancel, unclaim and reopen) as a
  small state machine with an append-only history.
- ``dispatch.community.matching``: volunteers ranked for a wish by skill, availability at the
  wanted time, the grids they serve, walking distance on the walk network (one Dijkstra from the
  wish) and their open claims.
- ``dispatch.community.board``: the micro-star board (微星光): wishes fulfilled and hours per
  volunteer, team and grid over a period.

Positions in the walk network's metric CRS (m) for matching; times timezone-aware (naive ones
are Beijing time).
"""
