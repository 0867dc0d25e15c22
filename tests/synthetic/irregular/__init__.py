"""Irregular synthetic districts for robustness tests of the partition (OSM XML)."""

from tests.synthetic.irregular.district import STYLES, IrregularDistrict, write_irregular_district

__all__ = ["STYLES", "IrregularDistrict", "write_irregular_district"]
