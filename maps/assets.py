"""The maps' JavaScript and CSS, from registry packages, gathered in one folder to serve.

Nothing here is copied into the repository and nothing is fetched from a CDN when a map opens:

* Leaflet 1.9.3 and Leaflet.markercluster 1.4.1 come from the PyPI packages ``xstatic-leaflet``
  and ``xstatic-leaflet-markercluster`` that ``pip install`` brings;
* the plugins published on npm only (Leaflet.heat, leaflet.fullscreen, leaflet.locatecontrol)
  are installed by ``npm install`` at the exact versions of ``maps/package.json`` into the data
  folder, on first need or with ``wangge assets install``;
* the maps' own script and style sheet are ``maps/static/``.

:func:`ensure_assets` gathers all of them under one folder (default ``~/.cache/wangge/map-assets``,
or ``$WANGGE_MAP_ASSETS``) with this layout, which the service serves at ``/static/maps/``::

    leaflet/leaflet.js, leaflet/leaflet.css, leaflet/images/...
    markercluster/leaflet.markercluster.js, MarkerCluster.css, MarkerCluster.Default.css
    npm/node_modules/leaflet.heat/dist/leaflet-heat.js
    npm/node_modules/leaflet.fullscreen/Control.FullScreen.js (.css, icon-fullscreen.svg)
    npm/node_modules/leaflet.locatecontrol/dist/L.Control.Locate.min.js (.min.css)
    wangge/wangge-maps.js, wangge/wangge-maps.css, wangge/wangge-editor.js (.css)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from gis.errors import WanggeError

PACKAGE_JSON = Path(__file__).with_name("package.json")
OWN_STATIC = Path(__file__).with_name("static")
SERVED_PREFIX = "/static/maps/"
_STAMP = "assets.json"

# Folium's resource names -> our file, relative to the assets folder. Folium's map and plugins
# name each script and style sheet they link; every name they use must be here or in _DROPPED.
LOCAL_FILES: dict[str, str] = {
    "leaflet": "leaflet/leaflet.js",
    "leaflet_css": "leaflet/leaflet.css",
    "markerclusterjs": "markercluster/leaflet.markercluster.js",
    "markerclustercss": "markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "markercluster/MarkerCluster.Default.css",
    "leaflet-heat.js": "npm/node_modules/leaflet.heat/dist/leaflet-heat.js",
    "Control.Fullscreen.js": "npm/node_modules/leaflet.fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "npm/node_modules/leaflet.fullscreen/Control.FullScreen.css",
    "Control_locate_min_js": "npm/node_modules/leaflet.locatecontrol/dist/L.Control.Locate.min.js",
    "Control_locate_min_css":
        "npm/node_modules/leaflet.locatecontrol/dist/L.Control.Locate.min.css",
    "wangge_js": "wangge/wangge-maps.js",
    "wangge_css": "wangge/wangge-maps.css",
    "wangge_editor_js": "wangge/wangge-editor.js",
    "wangge_editor_css": "wangge/wangge-editor.css",
}
# Folium links these by default; our maps use none of them (no Bootstrap, no icon fonts).
DROPPED = frozenset({
    "jquery", "bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css",
    "awesome_markers_font_css", "awesome_markers_css", "awesome_rotate_css",
})


class AssetsError(WanggeError, RuntimeError):
    """The map assets cannot be gathered (npm missing or failing, a package missing)."""


def assets_dir(data_dir: str | Path | None = None) -> Path:
    """The folder the assets are gathered in: ``data_dir/map-assets`` when given, else
    ``$WANGGE_MAP_ASSETS``, else ``~/.cache/wangge/map-assets`` (``$XDG_CACHE_HOME`` honoured)."""
    if data_dir is not None:
        return Path(data_dir) / "map-assets"
    if os.environ.get("WANGGE_MAP_ASSETS"):
        return Path(os.environ["WANGGE_MAP_ASSETS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wangge" / "map-assets"


def _versions() -> dict:
    """What the folder must hold: the PyPI package versions and the npm pins."""
    from xstatic.pkg import leaflet, leaflet_markercluster

    npm = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))["dependencies"]
    own = {p.name: p.stat().st_mtime_ns for p in sorted(OWN_STATIC.iterdir())}
    return {"leaflet": leaflet.VERSION, "markercluster": leaflet_markercluster.VERSION,
            "npm": npm, "own": own}


def _copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.map", "*.esm.js", "*-src.js"))


def _npm_install(root: Path) -> None:
    """``npm install --prefix root/npm`` of maps/package.json's pinned versions."""
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsError(
            "找不到 npm：地图插件（热力图、全屏、定位）需用 npm 安装。请安装 Node.js 与 npm"
            "（Debian: apt-get install nodejs npm）后运行 wangge assets install。",
            "npm not found: the map plugins (heat map, fullscreen, locate) are installed with "
            "npm. Install Node.js and npm (Debian: apt-get install nodejs npm), then run "
            "wangge assets install.")
    target = root / "npm"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PACKAGE_JSON, target / "package.json")
    cmd = [npm, "install", "--prefix", str(target), "--no-audit", "--no-fund",
           "--ignore-scripts", "--omit=dev", "--loglevel=error"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise AssetsError(
            f"npm 安装地图插件失败（退出码 {done.returncode}）：{done.stderr.strip()[-800:]}\n"
            "请检查能否访问 npm 软件源，然后运行 wangge assets install。",
            f"npm install of the map plugins failed (exit {done.returncode}); check that the "
            "npm registry is reachable, then run wangge assets install.")


@contextmanager
def _locked(root: Path):
    """Hold an exclusive lock on ``root`` (several service workers may gather at once)."""
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, one process is expected to gather
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_assets(data_dir: str | Path | None = None, force: bool = False) -> Path:
    """Gather every asset in :func:`assets_dir` (``wangge assets install``); return the folder.

    Skips the work when the folder already holds the same versions, unless ``force``.

    Raises:
        AssetsError: npm is missing or its install failed, or a PyPI asset package is missing.
    """
    root = assets_dir(data_dir)
    with _locked(root):
        return _install(root, force)


def _install(root: Path, force: bool) -> Path:
    try:
        wanted = _versions()
    except ImportError as exc:
        raise AssetsError(
            f"缺少 Python 包 {exc.name}：请运行 pip install -e . 安装 xstatic-leaflet 与 "
            "xstatic-leaflet-markercluster。",
            f"Python package {exc.name} is missing: run "
            "pip install -e . (it brings xstatic-leaflet and xstatic-leaflet-markercluster).",
        ) from exc
    stamp = root / _STAMP
    if not force and stamp.exists() and json.loads(stamp.read_text()) == wanted \
            and all((root / rel).exists() for rel in LOCAL_FILES.values()):
        return root
    from xstatic.pkg import leaflet, leaflet_markercluster

    root.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    _copy_tree(Path(leaflet.BASE_DIR), root / "leaflet")
    _copy_tree(Path(leaflet_markercluster.BASE_DIR), root / "markercluster")
    _copy_tree(OWN_STATIC, root / "wangge")
    installed = root / "npm" / "node_modules"
    pins = wanted["npm"]
    if force or not all(_npm_version(installed / name) == ver for name, ver in pins.items()):
        _npm_install(root)
    missing = [rel for rel in LOCAL_FILES.values() if not (root / rel).exists()]
    if missing:
        raise AssetsError(f"地图资源文件缺失：{', '.join(missing)}",
                          f"map asset files missing: {', '.join(missing)}")
    stamp.write_text(json.dumps(wanted))
    return root


def _npm_version(package_dir: Path) -> str | None:
    meta = package_dir / "package.json"
    if not meta.exists():
        return None
    return json.loads(meta.read_text(encoding="utf-8")).get("version")


def ensure_assets(data_dir: str | Path | None = None) -> Path:
    """The assets folder, gathered first if needed (see :func:`install_assets`)."""
    return install_assets(data_dir)


def local_url(name: str, prefix: str) -> str | None:
    """The URL of Folium resource ``name`` under ``prefix``; None for a resource we drop.

    Raises:
        AssetsError: a resource we have no local copy of (it would be fetched from a CDN).
    """
    if name in DROPPED:
        return None
    if name not in LOCAL_FILES:
        raise AssetsError(f"没有本地副本的地图资源：{name}",
                          f"map resource without a local copy: {name}")
    return prefix + LOCAL_FILES[name]


def files_for(names: set[str]) -> set[str]:
    """The top folders of the assets folder that resources ``names`` need (with their images)."""
    tops = set()
    for name in names:
        rel = LOCAL_FILES[name]
        parts = rel.split("/")
        tops.add("/".join(parts[:3]) if parts[0] == "npm" else parts[0])
    return tops
