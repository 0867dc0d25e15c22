"""Synthetic districts for tests and benchmarks, written as OpenStreetMap XML.

Not part of the runtime packages (gis, partition, dispatch, maps, api): neither the service nor
the ``wangge`` CLI imports it.

* :mod:`tests.synthetic.district`: seeded Chinese-style districts on an orthogonal street
  lattice, from one building to 100,000+ (:func:`write_district_osm`).
* :mod:`tests.synthetic.irregular`: irregular districts (curved, radial, organic streets,
  dirty data) for robustness tests of the partition (``write_irregular_district``).
"""

from tests.synthetic.communities import COUNTY_CODE
from tests.synthetic.compounds import HOUSEHOLDS_PER_UNIT_FLOOR, STOREY_HEIGHT_M, UNIT_WIDTH_M
from tests.synthetic.district import DistrictSummary, write_district_osm
from tests.synthetic.streets import WALKABLE_HIGHWAYS

__all__ = [
    "COUNTY_CODE",
    "HOUSEHOLDS_PER_UNIT_FLOOR",
    "STOREY_HEIGHT_M",
    "UNIT_WIDTH_M",
    "WALKABLE_HIGHWAYS",
    "DistrictSummary",
    "write_district_osm",
]
