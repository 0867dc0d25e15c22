"""The vector basemap of each dataset (gis.basemap), drawn under every map page.

A dataset's basemap is taken from its file once, when the dataset is added (the study area is
read then anyway), and kept beside it as ``basemap.gpkg``; a dataset added before this was
kept has its basemap made on the first map that needs it. Each process keeps the last few
basemaps it read in memory (:class:`BasemapStore`), so a map page costs no file read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio
from sqlalchemy.orm import Session

from api.store.models import DatasetRow, PlanRow
from gis.basemap import BASEMAP_LAYERS
from gis.export import write_gpkg

BASEMAP_FILE = "basemap.gpkg"
Layers = Mapping[str, gpd.GeoDataFrame]


def basemap_path(data_dir: Path, dataset: DatasetRow) -> Path:
    """Where ``dataset``'s basemap is kept: beside the dataset's file."""
    return Path(data_dir) / Path(dataset.path).parent / BASEMAP_FILE


def write_basemap(path: Path, layers: Layers) -> None:
    """Keep ``layers`` (gis.basemap.basemap_layers) at ``path``, atomically; empty layers are
    left out (they read back empty)."""
    write_gpkg({name: layer for name, layer in layers.items() if len(layer)}, path)


def read_basemap(path: Path) -> dict[str, gpd.GeoDataFrame]:
    """The layers kept at ``path``, every one of gis.basemap.BASEMAP_LAYERS (empty where
    none was kept)."""
    kept = {name for name, _ in pyogrio.list_layers(path)}
    return {name: gpd.read_file(path, layer=name) if name in kept
            else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
            for name in BASEMAP_LAYERS}


class BasemapStore:
    """The basemaps of one service's datasets, the last :attr:`size` read kept in memory."""

    def __init__(self, data_dir: Path, size: int = 4):
        self.data_dir = Path(data_dir)
        self.size = size
        self._cache: OrderedDict[int, dict[str, gpd.GeoDataFrame]] = OrderedDict()
        self._lock = threading.Lock()

    def for_dataset(self, dataset: DatasetRow) -> dict[str, gpd.GeoDataFrame]:
        """``dataset``'s basemap, made from its file the first time if it has none kept."""
        with self._lock:
            if dataset.id in self._cache:
                self._cache.move_to_end(dataset.id)
                return self._cache[dataset.id]
        path = basemap_path(self.data_dir, dataset)
        if not path.exists():
            from api.services.datasets import load_dataset_file  # datasets keep basemaps

            area = load_dataset_file(self.data_dir, dataset)
            write_basemap(path, area.basemap())
        layers = read_basemap(path)
        with self._lock:
            self._cache[dataset.id] = layers
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return layers

    def for_plan(self, session: Session, plan_id: int | None) -> dict[str, gpd.GeoDataFrame]:
        """The basemap of the dataset ``plan_id`` was made from; empty without a plan."""
        plan = session.get(PlanRow, plan_id) if plan_id is not None else None
        if plan is None:
            return {}
        return self.for_dataset(session.get_one(DatasetRow, plan.dataset_id))
