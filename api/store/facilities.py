"""Facilities in the store: saving an import (all or nothing), reading them as a frame.

Points in WGS84 lon/lat (EPSG:4326) with their bounding boxes (api.store.spatial); written in
the caller's one transaction.
"""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from api.store import models as m

COLUMNS = ["facility_id", "type", "name", "source", "source_ref"]


def save_facilities(session: Session, frame: gpd.GeoDataFrame, *, token_id: int | None,
                    replace: bool = False) -> tuple[list[int], int]:
    """Add the facilities of ``frame`` (EPSG:4326 points; columns type, name, source,
    source_ref) in the caller's transaction. With ``replace``, the stored facilities of the
    types in ``frame`` are deleted first. Returns (new ids, how many were deleted)."""
    removed = 0
    if replace:
        types = sorted(set(frame["type"]))
        result = session.execute(delete(m.FacilityRow).where(m.FacilityRow.type.in_(types)))
        removed = int(getattr(result, "rowcount", 0) or 0)
    rows = []
    for rec, geom in zip(frame.drop(columns=frame.geometry.name).to_dict("records"),
                         frame.geometry.values, strict=True):
        row = m.FacilityRow(type=str(rec["type"]), name=str(rec.get("name") or "")[:200],
                            source=str(rec.get("source") or "manual"),
                            source_ref=(str(rec["source_ref"])[:300]
                                        if rec.get("source_ref") else None),
                            created_by=token_id)
        row.set_geometry(geom)
        rows.append(row)
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows], removed


def facilities_frame(session: Session, types: list[str] | None = None) -> gpd.GeoDataFrame:
    """The stored facilities (of ``types``, default all) as EPSG:4326 points, by id."""
    query = select(m.FacilityRow).order_by(m.FacilityRow.id)
    if types is not None:
        query = query.where(m.FacilityRow.type.in_(types))
    rows = list(session.scalars(query))
    return gpd.GeoDataFrame(
        [{"facility_id": r.id, "type": r.type, "name": r.name, "source": r.source,
          "source_ref": r.source_ref} for r in rows], columns=COLUMNS,
        geometry=[r.geom for r in rows], crs="EPSG:4326")
