"""Datasets: study area files (OSM XML/PBF, GeoJSON, GeoPackage, zipped Shapefile) kept under
data_dir/datasets, checked the way ``wangge import`` checks files
(gis.study_area.load_study_area): bad input is answered 422 with the same Chinese and English
message and nothing is kept."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError, not_found
from api.schemas import DatasetOut
from api.services.basemap import BASEMAP_FILE, write_basemap
from api.settings import Settings
from api.store.db import Database
from api.store.models import DatasetRow

SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".geojson", ".json", ".gpkg", ".zip",
            ".shp")
CHUNK = 1024 * 1024
DEFAULT_OPTIONS = {"datum": "wgs84", "households_col": "households", "id_col": None,
                   "invalid": "repair"}


def load_dataset(settings: Settings, dataset: DatasetRow, progress=None):
    """The dataset's study area (gis.study_area), without the walk graph."""
    return load_dataset_file(settings.data_dir, dataset, progress)


def load_dataset_file(data_dir: Path, dataset: DatasetRow, progress=None):
    """The study area of ``dataset``, kept under ``data_dir``, without the walk graph."""
    from gis.households import HouseholdOptions
    from gis.study_area import load_study_area

    opts = dict(dataset.options or {})
    households = HouseholdOptions(households_col=opts.pop("households_col", "households"))
    return load_study_area(Path(data_dir) / dataset.path, households=households,
                           with_walk_graph=False, progress=progress, **opts)


def dataset_out(d: DatasetRow) -> DatasetOut:
    """The API's view of a dataset row, with its bounding box when it has one."""
    out = DatasetOut.model_validate(d)
    # The four are set together (BBoxMixin.set_geometry).
    if d.minx is not None and d.miny is not None and d.maxx is not None and d.maxy is not None:
        out.bbox = [d.minx, d.miny, d.maxx, d.maxy]
    return out


def _safe_name(filename: str | None) -> str:
    name = Path(filename or "upload").name
    name = re.sub(r"[^\w.\-]+", "_", name) or "upload"
    if not name.lower().endswith(SUFFIXES):
        raise ApiError(422, "bad_format", f"不支持的文件类型：{name}（支持 {' '.join(SUFFIXES)}）",
                       f"unsupported file type: {name} (supported: {' '.join(SUFFIXES)})")
    return name


def _save_upload(upload: BinaryIO, target: Path, settings: Settings) -> int:
    """Copy the upload to ``target`` in chunks, stopping at the size limit."""
    size = 0
    with target.open("wb") as out:
        while chunk := upload.read(CHUNK):
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


def _describe(dataset: DatasetRow, area, source: str) -> None:
    """Fill in what the check of the file found: summary, attribution, extent."""
    dataset.summary = dict(area.summary(), source=source)  # the file's name, not a path
    dataset.attribution = area.attribution
    dataset.set_geometry(shapely.box(*area.buildings.to_crs("EPSG:4326").total_bounds))


def upload(session: Session, settings: Settings, token_id: int, filename: str | None,
           file: BinaryIO, name: str, options: dict) -> DatasetOut:
    """Keep an uploaded file as a dataset once it passes the checks (422 for bad input, 413
    beyond the limits; nothing kept then); committed."""
    filename = _safe_name(filename)
    folder_rel = Path("datasets") / uuid.uuid4().hex
    folder = settings.data_dir / folder_rel
    folder.mkdir(parents=True)
    try:
        size = _save_upload(file, folder / filename, settings)
        dataset = DatasetRow(name=name or filename, filename=filename,
                             path=str(folder_rel / filename), size_bytes=size, options=options)
        area = load_dataset(settings, dataset)  # bad data: InputError, 422 (api.errors)
        _check_vertices(area, settings)
        _describe(dataset, area, filename)
        write_basemap(folder / BASEMAP_FILE, area.basemap())
        dataset.created_by = token_id
        session.add(dataset)
        session.flush()
        out = dataset_out(dataset)
        session.commit()
        return out
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def add_dataset(db: Database, settings: Settings, source: str | Path, name: str = "",
                **options) -> int:
    """Copy ``source`` into the data folder, check it (gis.study_area; InputError on bad
    input, nothing kept) and store it as a dataset; returns its id. ``options``: datum,
    households_col, id_col, invalid. For ``wangge demo`` and scripts, without the HTTP layer
    or its upload limits."""
    source = Path(source)
    folder_rel = Path("datasets") / uuid.uuid4().hex
    folder = settings.data_dir / folder_rel
    folder.mkdir(parents=True)
    try:
        shutil.copyfile(source, folder / source.name)
        dataset = DatasetRow(name=name or source.name, filename=source.name,
                             path=str(folder_rel / source.name),
                             size_bytes=source.stat().st_size,
                             options={**DEFAULT_OPTIONS, **options})
        area = load_dataset(settings, dataset)
        _describe(dataset, area, source.name)
        write_basemap(folder / BASEMAP_FILE, area.basemap())
        with db.writing() as session:
            session.add(dataset)
            session.flush()
            return dataset.id
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def list_datasets(session: Session, limit: int, offset: int) -> list[DatasetOut]:
    """A page of the datasets, oldest first."""
    rows = session.scalars(select(DatasetRow).order_by(DatasetRow.id).limit(limit).offset(offset))
    return [dataset_out(d) for d in rows]


def get_dataset(session: Session, dataset_id: int) -> DatasetOut:
    """Dataset ``dataset_id``; 404 when there is none."""
    d = session.get(DatasetRow, dataset_id)
    if d is None:
        raise not_found("数据集", "dataset", dataset_id)
    return dataset_out(d)
