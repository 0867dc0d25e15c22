"""The map scripts and styles the service serves at /static/maps/ (maps.assets).

``Settings.map_assets_dir`` names a folder gathered already (shared by several services, as in
the tests); otherwise they are gathered into ``data_dir/map-assets`` by the first map page
(it takes seconds and npm), not when the service starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.staticfiles import StaticFiles

from api.settings import Settings

log = logging.getLogger(__name__)


def map_assets_folder(settings: Settings) -> Path:
    """Where /static/maps/ is served from (see Settings.map_assets_dir)."""
    from maps import assets_dir

    return settings.map_assets_dir or assets_dir(settings.data_dir)


def gather_map_assets(settings: Settings) -> str | None:
    """Gather the map scripts into the data folder unless a gathered folder is configured
    (done by the first map page, not at start: it takes seconds and npm); returns why it
    failed (the map pages then answer 503 saying so), or None."""
    from maps import AssetsError, ensure_assets

    if settings.map_assets_dir is not None:
        if not (settings.map_assets_dir / "leaflet" / "leaflet.js").is_file():
            return f"{settings.map_assets_dir} holds no gathered map assets"
        return None
    try:
        ensure_assets(settings.data_dir)
    except AssetsError as exc:
        log.warning("map assets unavailable: %s", exc)
        return str(exc)
    return None


class AssetFiles(StaticFiles):
    """StaticFiles for a folder that may appear only after start (gathered by the first map
    page): until then every file is 404 instead of a server error."""

    async def check_config(self) -> None:
        """Check the folder only when it exists (it is made on first use)."""
        if self.directory is not None and Path(self.directory).is_dir():
            await super().check_config()
