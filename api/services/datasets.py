"""Datasets: uploaded study areas (OSM XML/PBF, GeoJSON, GeoPackage, zipped Shapefile).

An upload is checked the way ``wangge import`` checks files (gis.study_area.load_study_area):
bad input is answered 422 with the same Chinese and English message and nothing is kept.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Annotated, Literal

import shapely
from fastapi import APIRouter, Form, Query, UploadFile
from sqlalchemy import select

from api.auth import allowed
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.errors import ApiError, not_found
from api.jobs.partition import load_dataset
from api.schemas import DatasetOut
from api.settings import Settings
from api.store.models import DatasetRow

router = APIRouter(tags=["datasets 数据集"])
SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".geojson", ".json", ".gpkg", ".zip",
            ".shp")
CHUNK = 1024 * 1024


def dataset_out(d: DatasetRow) -> DatasetOut:
    out = DatasetOut.model_validate(d)
    if d.minx is not None:
        out.bbox = [d.minx, d.miny, d.maxx, d.maxy]
    return out


def _safe_name(filename: str | None) -> str:
    name = Path(filename or "upload").name
    name = re.sub(r"[^\w.\-]+", "_", name) or "upload"
    if not name.lower().endswith(SUFFIXES):
        raise ApiError(422, "bad_format", f"不支持的文件类型：{name}（支持 {' '.join(SUFFIXES)}）",
                       f"unsupported file type: {name} (supported: {' '.join(SUFFIXES)})")
    return name


def _save_upload(upload: UploadFile, target: Path, settings: Settings) -> int:
    """Copy the upload to ``target`` in chunks, stopping at the size limit."""
    size = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(CHUNK):
            size += len(chunk)
            if size > settings.max_upload_bytes:
                mb = settings.max_upload_bytes / 1024 / 1024
                raise ApiError(413, "upload_too_large", f"上传文件超过上限 {mb:g} MB",
                               f"upload larger than the limit of {mb:g} MB")
            out.write(chunk)
    return size


def _check_vertices(area, settings: Settings) -> None:
    counts = shapely.get_num_coordinates(area.buildings.geometry.values)
    worst = int(counts.argmax()) if len(counts) else 0
    if len(counts) and counts[worst] > settings.max_vertices:
        bid = area.buildings["building_id"].iloc[worst]
        raise ApiError(413, "too_many_vertices",
                       f"建筑 {bid} 有 {counts[worst]} 个顶点，超过上限 {settings.max_vertices}",
                       f"building {bid} has {counts[worst]} vertices, more than the limit of "
                       f"{settings.max_vertices}", feature=str(bid))


@router.post("/datasets", status_code=201, response_model=DatasetOut,
             summary="上传数据集 upload a study area file")
def upload_dataset(file: UploadFile, session: WriteDb, who: allowed("datasets.upload"),
                   settings: AppSettings,
                   name: Annotated[str, Form(max_length=200)] = "",
                   datum: Annotated[Literal["wgs84", "cgcs2000", "gcj02", "bd09"],
                                    Form()] = "wgs84",
                   households_col: Annotated[str, Form()] = "households",
                   id_col: Annotated[str | None, Form()] = None,
                   invalid: Annotated[Literal["repair", "reject"], Form()] = "repair"):
    filename = _safe_name(file.filename)
    folder_rel = Path("datasets") / uuid.uuid4().hex
    folder = settings.data_dir / folder_rel
    folder.mkdir(parents=True)
    try:
        size = _save_upload(file, folder / filename, settings)
        options = {"datum": datum, "households_col": households_col, "id_col": id_col,
                   "invalid": invalid}
        dataset = DatasetRow(name=name or filename, filename=filename,
                          path=str(folder_rel / filename), size_bytes=size, options=options)
        area = load_dataset(settings, dataset)  # bad data: InputError, 422 (api.errors)
        _check_vertices(area, settings)
        summary = area.summary()
        summary["source"] = filename  # not the server's path
        dataset.summary = summary
        dataset.attribution = area.attribution
        dataset.created_by = who.token_id
        dataset.set_geometry(shapely.box(*area.buildings.to_crs("EPSG:4326").total_bounds))
        session.add(dataset)
        session.flush()
        out = dataset_out(dataset)
        session.commit()
        return out
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


@router.get("/datasets", response_model=list[DatasetOut], summary="数据集列表 list datasets")
def list_datasets(session: ReadDb, who: allowed("datasets.read"), settings: AppSettings,
                  limit: int = 100,
                  offset: int = Query(0, ge=0)):
    rows = session.scalars(select(DatasetRow).order_by(DatasetRow.id)
                           .limit(check_limit(limit, settings)).offset(offset))
    return [dataset_out(d) for d in rows]


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: int, session: ReadDb, who: allowed("datasets.read")):
    d = session.get(DatasetRow, dataset_id)
    if d is None:
        raise not_found("数据集", "dataset", dataset_id)
    return dataset_out(d)
