"""Datasets: uploaded study areas (OSM XML/PBF, GeoJSON, GeoPackage, zipped Shapefile),
checked as ``wangge import`` checks files (api.services.datasets)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, UploadFile

from api.auth import DatasetsRead, DatasetsUpload
from api.deps import AppSettings, ReadDb, WriteDb, check_limit
from api.schemas import DatasetOut
from api.services import datasets

router = APIRouter(tags=["datasets 数据集"])


@router.post("/datasets", status_code=201, response_model=DatasetOut,
             summary="上传数据集 upload a study area file")
def upload_dataset(file: UploadFile, session: WriteDb, who: DatasetsUpload,
                   settings: AppSettings,
                   name: Annotated[str, Form(max_length=200)] = "",
                   datum: Annotated[Literal["wgs84", "cgcs2000", "gcj02", "bd09"],
                                    Form()] = "wgs84",
                   households_col: Annotated[str, Form()] = "households",
                   id_col: Annotated[str | None, Form()] = None,
                   invalid: Annotated[Literal["repair", "reject"], Form()] = "repair"):
    options = {"datum": datum, "households_col": households_col, "id_col": id_col,
               "invalid": invalid}
    return datasets.upload(session, settings, who.token_id, file.filename, file.file, name,
                           options)


@router.get("/datasets", response_model=list[DatasetOut], summary="数据集列表 list datasets")
def list_datasets(session: ReadDb, who: DatasetsRead, settings: AppSettings,
                  limit: int = 100,
                  offset: int = Query(0, ge=0)):
    return datasets.list_datasets(session, check_limit(limit, settings), offset)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
def get_dataset(dataset_id: int, session: ReadDb, who: DatasetsRead):
    return datasets.get_dataset(session, dataset_id)
