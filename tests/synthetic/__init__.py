"""Synthetic districts for tests and benchmarks, written as OpenStreetMap XML.

Test data, not part of the runtime packages (gis, partition, dispatch, maps, api): neither the
service nor the ``wangge`` CLI imports it. Generators work in local metres and write WGS84
lon/lat (EPSG:4326); each module's docstring says what it draws.

* :func:`write_district_osm` (:mod:`.district`): seeded Chinese-style districts on an
  orthogonal street lattice, from one building to 100,000+. By concern: :mod:`.lattice`
  (arterial lattice, road classes and names), :mod:`.streets` (arterials and the roads inside
  superblocks), :mod:`.barriers` (rivers, railways), :mod:`.superblock` (division into
  compounds and plots), :mod:`.amenities` (schools, service centres, offices, shops),
  :mod:`.compounds` (residential rows and households), :mod:`.communities` (社区 and 街道),
  :mod:`.names`, :mod:`.plan` (plan records), :mod:`.osm_writer` (streaming XML, CRS).
* :mod:`.irregular`: irregular districts (curved, radial, organic streets, dirty data) for
  robustness tests of the partition (``write_irregular_district``).
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
