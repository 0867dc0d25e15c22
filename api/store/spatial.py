"""Geometry storage that works on PostGIS and on plain SQLite.

On PostgreSQL a column is a PostGIS ``geometry(Geometry, 4326)`` (GeoAlchemy2) with a GiST
index. Python's sqlite3 here cannot load SpatiaLite, so on SQLite the same column holds WKB
bytes and every geometry table carries its bounding box in four indexed columns
(``minx, miny, maxx, maxy``, degrees) so that bbox queries stay index-backed on both.
All coordinates are WGS84 lon/lat (EPSG:4326).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
from geoalchemy2 import Geometry, WKBElement
from geoalchemy2.shape import to_shape
from sqlalchemy import Float, LargeBinary, and_, func, type_coerce
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import NullType, TypeDecorator

SRID = 4326
EARTH_RADIUS_KM = 6371.0088


class GeometryType(TypeDecorator):
    """A shapely geometry in EPSG:4326: PostGIS geometry on PostgreSQL, WKB elsewhere."""

    impl = LargeBinary
    cache_ok = True
    # GeoAlchemy2's DDL hooks probe these; indexes are made by the migrations.
    spatial_index = False
    use_N_D_index = False  # noqa: N815 (GeoAlchemy2 attribute name)

    def load_dialect_impl(self, dialect):
        """PostGIS geometry on PostgreSQL, binary WKB elsewhere."""
        if dialect is not None and dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry(srid=SRID, spatial_index=False))
        return LargeBinary() if dialect is None else dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value, dialect):
        """A shapely geometry to what the dialect stores."""
        if value is None:
            return None
        wkb = shapely.to_wkb(value)
        return WKBElement(wkb, srid=SRID) if dialect.name == "postgresql" else wkb

    def process_result_value(self, value, dialect):
        """What the dialect stored to a shapely geometry."""
        if value is None:
            return None
        if isinstance(value, WKBElement):
            return to_shape(value)
        if isinstance(value, str):
            return shapely.from_wkb(bytes.fromhex(value))
        return shapely.from_wkb(bytes(value))


class BBoxMixin:
    """A geometry column with its bounding box (degrees) kept beside it."""

    # A shapely geometry or None; its kind is the table's (a worker's base and an incident are
    # points, a grid a polygon), so it is typed Any.
    geom: Mapped[Any] = mapped_column(GeometryType(), nullable=True)
    minx: Mapped[float | None] = mapped_column(Float, nullable=True)
    miny: Mapped[float | None] = mapped_column(Float, nullable=True)
    maxx: Mapped[float | None] = mapped_column(Float, nullable=True)
    maxy: Mapped[float | None] = mapped_column(Float, nullable=True)

    def set_geometry(self, geom) -> None:
        """Set the geometry (shapely, EPSG:4326) and its bounding box together."""
        self.geom = geom
        if geom is None or geom.is_empty:
            self.minx = self.miny = self.maxx = self.maxy = None
        else:
            self.minx, self.miny, self.maxx, self.maxy = (float(v) for v in geom.bounds)


def raw_geometry(column):
    """``column`` selected as the database hands it over (SQLite: WKB bytes; PostGIS: hex
    EWKB text), for :func:`decode_geometries`: rows of many geometries decoded at once
    instead of one TypeDecorator call a row."""
    return type_coerce(column, NullType()).label(column.key)


def decode_geometries(values: list) -> list:
    """Shapely geometries (None kept) of values selected with :func:`raw_geometry`."""
    if not values:
        return []
    return list(shapely.from_wkb(np.array(values, dtype=object)))


def bbox_filter(model, bbox: tuple[float, float, float, float], dialect_name: str, *,
                points: bool = False):
    """A WHERE clause: ``model``'s geometry's box intersects ``bbox`` (lon/lat degrees).

    PostGIS uses the GiST index (``&&``); SQLite the indexed min/max columns. ``points``:
    every geometry of ``model`` is a point (its minx is its maxx), so SQLite reads only the
    index range of minx inside the box, not every row west of its east side."""
    minx, miny, maxx, maxy = bbox
    if dialect_name == "postgresql":
        envelope = func.ST_MakeEnvelope(minx, miny, maxx, maxy, SRID)
        return model.geom.op("&&")(envelope)
    clause = and_(model.minx <= maxx, model.maxx >= minx, model.miny <= maxy,
                  model.maxy >= miny)
    return and_(clause, model.minx >= minx, model.miny >= miny) if points else clause


def vertex_count(geom) -> int:
    """Number of coordinates of a shapely geometry."""
    return int(shapely.get_num_coordinates(geom))


def bbox_area_km2(bbox: tuple[float, float, float, float]) -> float:
    """Area of a lon/lat box on the sphere, km²."""
    minx, miny, maxx, maxy = bbox
    width = math.radians(max(0.0, maxx - minx))
    band = abs(math.sin(math.radians(maxy)) - math.sin(math.radians(miny)))
    return EARTH_RADIUS_KM ** 2 * width * band
