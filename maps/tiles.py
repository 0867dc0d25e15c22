"""Optional basemaps. None by default: the maps draw streets and buildings from our own data and
so make no request beyond the service. A basemap is configured by name or by URL template."""

from __future__ import annotations

from dataclasses import dataclass

from gis.errors import ArgumentError
from gis.osm import ATTRIBUTION


@dataclass(frozen=True)
class TileProvider:
    """A raster tile source.

    Attributes:
        url: Leaflet URL template ({s}, {z}, {x}, {y}; ``{key}`` is filled with the key).
        attribution: shown in the corner of the map.
        datum: "wgs84" or "gcj02": the datum the tiles are drawn in. With "gcj02" our layers are
            shifted to GCJ-02 so they line up with the tiles.
        subdomains: values of {s}.
        needs_key: the URL has a {key} to fill.
        max_zoom: the highest zoom level the tiles exist for.
    """

    url: str
    attribution: str
    datum: str = "wgs84"
    subdomains: str = "abc"
    needs_key: bool = False
    max_zoom: int = 19


PROVIDERS: dict[str, TileProvider] = {
    "osm": TileProvider("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ATTRIBUTION),
    # Tianditu is drawn in CGCS2000, within a metre or so of WGS84: no shift needed.
    "tianditu": TileProvider(
        "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
        "&TILECOL={x}&tk={key}",
        "天地图 Tianditu", subdomains="01234567", needs_key=True, max_zoom=18),
    "gaode": TileProvider(
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}", "高德地图 AutoNavi", datum="gcj02", subdomains="1234",
        max_zoom=18),
}


def resolve_tiles(tiles: str | TileProvider | None, key: str | None = None,
                  datum: str | None = None) -> TileProvider | None:
    """The basemap for ``tiles``: None, a provider name (osm, tianditu, gaode), a TileProvider,
    or a URL template with {z}/{x}/{y} (its datum from ``datum``, default wgs84).

    Raises:
        ValueError: unknown name, a URL without {z}/{x}/{y}, or Tianditu without a key.
    """
    if tiles is None or isinstance(tiles, TileProvider):
        return tiles
    name = tiles.strip().lower()
    if name in PROVIDERS:
        provider = PROVIDERS[name]
    elif all(part in tiles for part in ("{z}", "{x}", "{y}")):
        provider = TileProvider(tiles, ATTRIBUTION, datum=datum or "wgs84")
    else:
        raise ArgumentError(f"未知底图 {tiles!r}：请用 osm、tianditu、gaode "
                            "或含 {z}/{x}/{y} 的 URL",
                            f"unknown basemap {tiles!r}: use osm, tianditu, gaode or a URL "
                            "template with {z}/{x}/{y}")
    if provider.needs_key:
        if not key:
            raise ArgumentError("天地图需要密钥（--tiles-key）",
                                "Tianditu needs a key (--tiles-key)")
        provider = TileProvider(provider.url.replace("{key}", key), provider.attribution,
                                provider.datum, provider.subdomains, False, provider.max_zoom)
    return provider
