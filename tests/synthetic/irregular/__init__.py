"""Irregular synthetic districts for robustness tests of the partition.

:mod:`tests.synthetic.district` draws straight orthogonal Chinese street grids. The districts
made here look nothing like that: curved warped lattices, radial-ring plans, organic
Delaunay/Gabriel networks with random-walk alleys, mixtures of these (:mod:`.streets`), rivers
and lakes, railways and motorways cutting through communities (:mod:`.barriers`), blocks of
towers, slabs, villas, courtyard blocks, old lanes of tiny houses, schools, hospitals, markets,
industry and parks (:mod:`.buildings`), dirty OSM data (duplicate, overlapping and sliver
footprints, buildings without tags, buildings across community boundaries: :mod:`.dirty`) and
communities drawn as Voronoi cells that ignore the streets, some with holes, some in two
parts, one sometimes holding a single building (:mod:`.communities`).

The output is OSM XML (version 0.6, WGS84 lon/lat around 114.30 E, 30.55 N, positive ids) that
``gis.study_area.load_study_area`` reads; the generator works in local metres (:mod:`.osm`).

    python -m tests.synthetic.irregular OUT.osm --seed N --buildings N [--style S]
"""

from tests.synthetic.irregular.district import STYLES, IrregularDistrict, write_irregular_district

__all__ = ["STYLES", "IrregularDistrict", "write_irregular_district"]
