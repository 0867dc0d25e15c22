"""dispatch.staffing: who works where.

Owns grid workers (``workers``: one worker per grid with CP-SAT, the four-level structure),
party members (``party``: every household to a member within capacity, their zones) and
reading both from the CSV files a street office keeps (``people``: UTF-8 or GBK).
Uses ``dispatch.routing`` for walking distances.
"""
