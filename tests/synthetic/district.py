"""Seeded synthetic Chinese-style urban districts written as OpenStreetMap XML.

Used for tests and scale runs: from a handful of buildings to 100,000+ (about 900 communities).

Coordinates: the district is laid out in local metres (x east, y north) on a plane whose origin
lies near the district centre. Before writing, the whole layout is turned by a small
seed-dependent angle (at most 10 degrees, so slab buildings stay roughly east-west) and each node
is converted to WGS84 lon/lat degrees (EPSG:4326) through an azimuthal equidistant projection
centred on ``origin``. Node coordinates are written with 7 decimals (about 1 cm).

Layout, from large to small:

* a lattice of arterial roads (highway=trunk / primary / secondary) 400-700 m apart forming
  superblocks (街坊). At larger sizes a river or a railway may replace a lattice line; arterials
  cross it on bridges. Nothing is built within the corridor of a lattice line.
* inside each superblock: 1-4 gated compounds (小区) separated by branch roads, strips of shops
  along arterials, a plot with the community service centre and a kindergarten, sometimes a
  school or an office plot.
* inside each compound: rows of south-facing slab buildings (板楼, 40-80 m long, 10-15 m deep)
  and point towers, row gaps 1.0-1.25 x the height of the row to the south (sunlight rule), served
  by service roads and footways that reach the surrounding streets through gates.
* communities (社区) of one superblock or two neighbouring ones, grouped into street offices
  (街道), drawn as boundary relations along the arterial centre lines.

The tag conventions readers can rely on are listed in :func:`write_district_osm`.
"""

from __future__ import annotations

import bisect
import bz2
import math
import os
import random
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
from pyproj import CRS, Transformer

__all__ = [
    "COUNTY_CODE",
    "HOUSEHOLDS_PER_UNIT_FLOOR",
    "STOREY_HEIGHT_M",
    "UNIT_WIDTH_M",
    "WALKABLE_HIGHWAYS",
    "DistrictSummary",
    "write_district_osm",
]

# 统计用区划代码 of the county-level district the codes are minted under (南京市鼓楼区).
COUNTY_CODE = "320106"
# Storey height used for height=* and for sunlight spacing, metres.
STOREY_HEIGHT_M = 3.0
# Width of one stair/lift unit (单元) along a slab, metres: units = length // UNIT_WIDTH_M.
UNIT_WIDTH_M = 15.0
# Households per floor per unit (一梯两户).
HOUSEHOLDS_PER_UNIT_FLOOR = 2
# highway=* values written by the generator that pedestrians may use (all of them).
WALKABLE_HIGHWAYS = frozenset(
    {"trunk", "primary", "secondary", "tertiary", "residential", "service", "footway"}
)

# Half width of a lattice line's corridor: centre line to the first buildable metre (red line
# half width plus setback), metres.
_ROAD_HW = {"trunk": 32.0, "primary": 26.0, "secondary": 20.0}
_ROAD_LANES = {"trunk": "8", "primary": "6", "secondary": "4"}
_TERTIARY_HW = 11.0  # branch road corridor half width, metres
_RESIDENTIAL_HW = 8.0  # lane (支路) corridor half width, metres
_STRIP_DEPTH = 16.0  # depth of the shop strip along an arterial, metres
_STRIP_GAP = 2.0  # between the shop strip and the compound fence, metres
_MIN_PARCEL = 120.0  # smallest side of a compound made by splitting a superblock, metres
_SNAP_M = 3.0  # junctions on an arterial closer than this share a node, metres
_FEATURE_EXTENSION_M = 300.0  # a river or railway runs this far beyond the district, metres
# Buildings per superblock aimed at: two superblocks make a community of about 110.
_TARGET_PER_SUPERBLOCK = 57.0
# Measured mean buildings per superblock when every compound is of one era, by lattice spacing
# (metres); used to pick the district's era mix so superblocks hold about the target.
_SPACING_TABLE = (430.0, 480.0, 530.0, 580.0, 640.0)
_ERA_COUNT_TABLE = {
    "old": (42.3, 55.5, 71.1, 93.6, 118.0),
    "mid": (28.3, 37.6, 47.9, 59.5, 74.0),
    "new": (21.2, 27.6, 34.8, 43.2, 54.0),
}
# Two neighbouring superblocks form one community when together they have at most _PAIR_MAX
# buildings and the smaller has fewer than _PAIR_SMALL.
_PAIR_MAX = 180
_PAIR_SMALL = 95

_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_GATE_TAGS = {"barrier": "gate"}
_SIGNAL_TAGS = {"highway": "traffic_signals"}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ROAD_STEMS = tuple(
    dict.fromkeys(
        _words(
            "中山 汉中 北京 上海 广州 湖南 长江 珠江 黄河 淮海 建设 人民 解放 和平 胜利 新华 文化 "
            "光明 幸福 友谊 团结 东风 红旗 青年 学府 科技 创新 龙蟠 虎踞 清凉 石城 莫愁 秦淮 玄武 "
            "钟山 紫金 栖霞 雨花 江东 汉口 武昌 洪山 凤凰 梅园 桃园 云南 贵州 四川 山西 陕西 河北 "
            "河南 山东 福建 江西 浙江 安徽 湖北 广西 宁夏 青海 甘肃 辽宁 吉林 天津 重庆 西安 成都 "
            "昆明 长春 太原 合肥 杭州 苏州 扬州 镇江 常州 无锡 南通 泰州 盐城 徐州 淮安 宿迁 金陵 "
            "白下 建邺 鼓楼 下关 浦口 六合 江宁 溧水 高淳 华侨 宁海 模范 草场门 水佐岗 丹凤 "
            "峨嵋岭 广州 北圩 集庆 升州 户部 洪武 太平 龙江 清江 定淮门"
        )
    )
)
_BRANCH_STEMS = _words(
    "桂花 梧桐 银杏 香樟 紫藤 海棠 玉兰 丁香 石榴 枇杷 樱花 芙蓉 茉莉 蔷薇 杜鹃 月季 牡丹 荷花 "
    "菊花 兰花 竹林 松林 柳营 杨家 王家 李家 张家 陈家 刘家 周家 吴家 孙家 钱家 赵家 马家 胡家 "
    "高家 林家 何家 郭家 罗家 宋家 唐家 许家 邓家 韩家 曹家 彭家 田家 董家 潘家 袁家 蔡家 蒋家 "
    "余家 杜家 叶家 程家 魏家 苏家 丁家 沈家 姚家 陆家 汪家 范家 金家 石家 夏家 方家 白家 孟家 "
    "秦家 江家 薛家 侯家 史家 陶家 顾家 毛家 邵家 万家 三牌楼 四条巷 百子亭 马台 三元 双井 五福 "
    "七里 九华 十字"
)
_COMPOUND_STEMS = _words(
    "锦绣 翠竹 阳光 幸福 和谐 东方 世纪 新城 绿地 龙湖 保利 招商 中海 金地 银城 朗诗 仁恒 栖园 "
    "清江 月牙 桃源 梅花 兰亭 竹韵 松涛 枫林 橡树 香榭 水岸 江畔 滨江 湖畔 山水 云锦 紫金 玉兰 "
    "凤凰 天润 雅居 怡景 康乐 安居 福润 南湖 北湖 工人 红卫 建工 铁路 电力 邮电 纺织 机械 化工 "
    "电子 钢铁 水利 交通 石油 航天 师范 农机 汽车 印染 玻璃 光华 华侨 秀水 莲花 文苑 书香 锦江 "
    "金鹰 丽景 碧水 春江 秋实 望江 观澜 御景 翡翠 瑞园 润泽 聚福 嘉和 恒安 永安 长乐 太平 广厦 "
    "明珠 星河 银河 金桥 花神 梅岭 芳草"
)
_COMPOUND_SUFFIXES = {
    "old": ("小区", "新村", "小区"),
    "mid": ("花园", "苑", "小区", "家园"),
    "new": ("苑", "花园", "华府", "公馆"),
}
_COMMUNITY_STEMS = tuple(
    dict.fromkeys(
        _words(
            "宁海 华侨 湖南 中央门 挹江门 江东 凤凰 热河 幕府 建宁 宝塔桥 小市 "
            "莫愁 清凉 五台山 汉中门 石鼓 草场门 虎踞 龙江 阅江 南湖 兴隆 沙洲 "
            "双闸 江心洲 月牙湖 梅园 新街口 洪武 五老村 朝天宫 夫子庙 秦虹 中华门 "
            "双塘 红花 光华 瑞金 大光 孝陵卫 马群 锁金村 玄武门 后宰门 珠江 丹凤 "
            "鼓楼 峨嵋岭 颐和 宁夏 江苏 山西 云南 北京西 古平岗 定淮门 铁路北 "
            "黄家圩 迈皋桥 燕子矶 尧化门 仙林 栖霞 龙潭 雨花 西善桥 板桥 铁心桥 "
            "安德门 凤台 油坊桥 赛虹桥 卡子门 大明 红山 和燕 幕燕 金川 二板桥 "
            "三汊河 宝船 滨江 天润城 泰山 顶山 沿江 盘城 江浦 桥林 永宁 星甸 汤泉 "
            "东门 葛塘 雄州 龙池 横梁"
        )
    )
)
_COMMUNITY_SUFFIXES = ("", "新村", "东", "西", "南", "北", "里", "苑", "桥", "门")
_RIVER_NAMES = ("秦淮河", "金川河", "外秦淮河", "惠民河", "运粮河", "护城河", "北十里长沟", "南河")
_RAIL_NAMES = ("京沪铁路", "宁芜铁路", "沪宁城际铁路", "宁启铁路", "南京南环线", "宁西铁路")
_CN_DIGITS = "零一二三四五六七八九"

# Levels of residential rows by construction era, with weights.
_ERA_LEVELS = {
    "old": ((6, 7), (0.72, 0.28)),  # 1980s-1990s walk-ups (多层)
    "mid": ((6, 11, 18), (0.22, 0.48, 0.30)),  # 2000s 小高层
    "new": ((11, 18, 26, 33), (0.15, 0.25, 0.30, 0.30)),  # 2010s high-rise
}
_ERA_TOWER_SHARE = {"old": 0.0, "mid": 0.35, "new": 0.45}  # of rows with >= 18 levels
_ERA_APARTMENTS_SHARE = {"old": 0.3, "mid": 0.6, "new": 0.8}  # building=apartments vs residential
_ERA_RATIO = {"old": (1.0, 1.25), "mid": (1.0, 1.2), "new": (1.0, 1.15)}  # row gap / height

_TRIM_RANK = {"garage": 0, "shop": 1, "office": 2, "school": 3, "kindergarten": 4, "centre": 5}

Rect = tuple[float, float, float, float]  # (x0, y0, x1, y1) in local metres, x0 < x1, y0 < y1


@dataclass(frozen=True)
class DistrictSummary:
    """What :func:`write_district_osm` wrote.

    Attributes:
        n_buildings: building ways in the file (the requested count).
        n_residential: of those, building=residential or building=apartments.
        n_households_tagged: sum of the building:flats values written.
        n_communities: admin_level=10 boundary relations (社区).
        n_superblocks: lattice cells (街坊) that received buildings.
        bbox: (min_lon, min_lat, max_lon, max_lat) of all nodes, WGS84 degrees (EPSG:4326).
    """

    n_buildings: int
    n_residential: int
    n_households_tagged: int
    n_communities: int
    n_superblocks: int
    bbox: tuple[float, float, float, float]


def write_district_osm(
    path: str | os.PathLike[str],
    n_buildings: int,
    *,
    seed: int = 0,
    origin: tuple[float, float] = (118.78, 32.04),
    flats_tag_share: float = 0.8,
) -> DistrictSummary:
    """Write a synthetic district of ``n_buildings`` buildings as OSM XML.

    The same ``n_buildings`` and ``seed`` give a byte-identical file. The file is streamed: nodes,
    ways and relations go to temporary files as they are made and are joined at the end, so
    memory stays small at 100,000+ buildings.

    Args:
        path: output file; a name ending in ``.bz2`` (``.osm.bz2``) is written bz2-compressed,
            anything else as plain XML.
        n_buildings: number of building ways to write (>= 1); the file holds exactly this many.
        seed: layout seed.
        origin: (lon, lat) in WGS84 degrees near which the district is centred; also the centre
            of the azimuthal equidistant projection used to place it.
        flats_tag_share: share (0-1) of residential buildings tagged with building:flats.

    Returns:
        A :class:`DistrictSummary` of what was written.

    Tag conventions:
        * XML: ``<osm version="0.6" generator="wangge-synthetic">`` then ``<bounds>``, all nodes,
          all ways, all relations, ids positive, ascending and unique per element type,
          ``version="1"`` on every element.
        * Residential buildings: closed ways, building=residential | apartments,
          addr:housenumber "N栋" or "N幢" (numbered per compound). On ``flats_tag_share`` of
          them building:levels (6, 7, 11, 18, 26 or 33) and building:flats = units x levels x 2
          with units = max(1, length // 15 m); the others carry building:levels only, or
          (about a quarter of them) height=<levels x 3 m> only.
        * Other buildings: building=retail | commercial (shops, 1-3 levels), office, school,
          kindergarten, garages, and building=public for community service centres
          (amenity=community_centre, name "XX社区服务中心", one per community) and health
          stations (amenity=clinic, name "XX社区卫生服务站"). All carry building:levels.
        * Compounds: closed ways landuse=residential + name "XX小区" / "XX花园" / "XX苑" / ...
          Other plots: amenity=school (+ name), amenity=kindergarten (+ name),
          landuse=commercial, leisure=park, leisure=pitch. Buildings never cross plot edges.
        * Streets: highway=trunk | primary | secondary (arterials, with name, lanes; bridge=yes
          + layer=1 where they cross a river or railway), tertiary / residential (branch roads,
          named), service (compound roads, gate roads) and footway (lanes, pedestrian gates).
          Gate nodes carry barrier=gate; arterial crossings highway=traffic_signals. All of
          them share nodes at junctions and form one connected network.
        * Optional river: waterway=river line + natural=water, water=river closed way;
          optional railway: railway=rail. Both run along a superblock edge.
        * Communities: relations type=boundary, boundary=administrative, admin_level=10,
          name "XX社区", ref = 12-digit code COUNTY_CODE + 3-digit street + 3-digit community
          (e.g. 320106002001), members role=outer. Street offices: the same with
          admin_level=8, name "XX街道", ref = COUNTY_CODE + street + "000". Member ways are
          two-node ways tagged boundary=administrative + admin_level (8 where a street office
          border runs, else 10) between arterial crossing nodes, along the centre lines.

    Raises:
        ValueError: ``n_buildings`` < 1, ``flats_tag_share`` outside 0-1 or ``origin`` not a
            valid lon/lat.
    """
    if isinstance(n_buildings, bool) or not isinstance(n_buildings, int) or n_buildings < 1:
        raise ValueError(f"n_buildings must be a positive integer, got {n_buildings!r}")
    if not 0.0 <= flats_tag_share <= 1.0:
        raise ValueError(f"flats_tag_share must be within 0..1, got {flats_tag_share!r}")
    lon, lat = float(origin[0]), float(origin[1])
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 80.0):
        raise ValueError(f"origin must be (lon, lat) in degrees within +-80 lat, got {origin!r}")
    path = Path(path)
    compress = path.name.lower().endswith(".bz2")
    district = _District(n_buildings, seed, (lon, lat), float(flats_tag_share))
    return district.run(path, compress)


# --------------------------------------------------------------------------------------------
# Output


def _tag_xml(tags: dict[str, str], indent: str) -> str:
    return "".join(
        f'{indent}<tag k="{k}" v="{v.translate(_XML_ESCAPES)}"/>\n' for k, v in tags.items()
    )


class _OsmWriter:
    """Streams nodes, ways and relations into three temporary files and joins them at the end.

    Node coordinates are given in local metres; they are buffered per batch and converted to
    lon/lat (rotation, then azimuthal equidistant -> EPSG:4326) when the batch is flushed.
    """

    def __init__(
        self, origin: tuple[float, float], rotation: float, offset: tuple[float, float]
    ) -> None:
        lon0, lat0 = origin
        aeqd = CRS.from_proj4(
            f"+proj=aeqd +lat_0={lat0!r} +lon_0={lon0!r} +datum=WGS84 +units=m +no_defs"
        )
        self._to_wgs84 = Transformer.from_crs(aeqd, CRS.from_epsg(4326), always_xy=True)
        self._cos, self._sin = math.cos(rotation), math.sin(rotation)
        self._dx, self._dy = offset
        self._files = [
            tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115
            for _ in range(3)
        ]
        self._nodes, self._ways, self._rels = self._files
        self.next_node = 1
        self.next_way = 1
        self.next_rel = 1
        self._flushed_node = 1
        self._xs: list[float] = []
        self._ys: list[float] = []
        self._node_tags: dict[int, dict[str, str]] = {}
        self._way_buf: list[str] = []
        self._rel_buf: list[str] = []
        self.bbox = [math.inf, math.inf, -math.inf, -math.inf]

    def set_offset(self, dx: float, dy: float) -> None:
        """Shift applied to local metres before rotation (only before the first flush)."""
        self._dx, self._dy = dx, dy

    def close(self) -> None:
        for f in self._files:
            f.close()

    def node(self, x: float, y: float, tags: dict[str, str] | None = None) -> int:
        """A new node at local metres (x, y); returns its id."""
        nid = self.next_node
        self.next_node += 1
        self._xs.append(x)
        self._ys.append(y)
        if tags:
            self._node_tags[nid] = tags
        return nid

    def rect(self, rect: Rect, tags: dict[str, str]) -> int:
        """A closed way around an axis-aligned rectangle (counter-clockwise); returns its id."""
        x0, y0, x1, y1 = rect
        a = self.node(x0, y0)
        b = self.node(x1, y0)
        c = self.node(x1, y1)
        d = self.node(x0, y1)
        return self.way([a, b, c, d, a], tags)

    def flush_nodes(self) -> None:
        if not self._xs:
            return
        x = np.asarray(self._xs) + self._dx
        y = np.asarray(self._ys) + self._dy
        xr = x * self._cos - y * self._sin
        yr = x * self._sin + y * self._cos
        lon, lat = self._to_wgs84.transform(xr, yr)
        lon = np.round(lon, 7)
        lat = np.round(lat, 7)
        box = self.bbox
        box[0] = min(box[0], float(lon.min()))
        box[1] = min(box[1], float(lat.min()))
        box[2] = max(box[2], float(lon.max()))
        box[3] = max(box[3], float(lat.max()))
        out = []
        nid = self._flushed_node
        tagged = self._node_tags
        for lo, la in zip(lon.tolist(), lat.tolist(), strict=True):
            tags = tagged.pop(nid, None)
            if tags is None:
                out.append(f'  <node id="{nid}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>\n')
            else:
                out.append(
                    f'  <node id="{nid}" version="1" lat="{la:.7f}" lon="{lo:.7f}">\n'
                    f"{_tag_xml(tags, '    ')}  </node>\n"
                )
            nid += 1
        self._nodes.write("".join(out))
        self._flushed_node = nid
        self._xs.clear()
        self._ys.clear()

    def way(self, refs: list[int], tags: dict[str, str]) -> int:
        wid = self.next_way
        self.next_way += 1
        buf = self._way_buf
        buf.append(f'  <way id="{wid}" version="1">\n')
        buf.extend([f'    <nd ref="{r}"/>\n' for r in refs])
        buf.append(_tag_xml(tags, "    "))
        buf.append("  </way>\n")
        if len(buf) > 20000:
            self._ways.write("".join(buf))
            buf.clear()
        return wid

    def relation(self, members: list[tuple[str, int, str]], tags: dict[str, str]) -> int:
        rid = self.next_rel
        self.next_rel += 1
        buf = self._rel_buf
        buf.append(f'  <relation id="{rid}" version="1">\n')
        buf.extend(
            [f'    <member type="{t}" ref="{r}" role="{role}"/>\n' for t, r, role in members]
        )
        buf.append(_tag_xml(tags, "    "))
        buf.append("  </relation>\n")
        return rid

    def finish(self, path: Path, compress: bool) -> tuple[float, float, float, float]:
        """Write the OSM file to ``path`` (atomically); returns the node bbox (lon/lat)."""
        self.flush_nodes()
        self._ways.write("".join(self._way_buf))
        self._way_buf.clear()
        self._rels.write("".join(self._rel_buf))
        self._rel_buf.clear()
        min_lon, min_lat, max_lon, max_lat = self.bbox
        header = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<osm version="0.6" generator="wangge-synthetic">\n'
            f'  <bounds minlat="{min_lat:.7f}" minlon="{min_lon:.7f}" '
            f'maxlat="{max_lat:.7f}" maxlon="{max_lon:.7f}"/>\n'
        )
        part = path.with_name(path.name + ".part")
        try:
            with _open_text_output(part, compress) as out:
                out.write(header)
                for f in self._files:
                    f.seek(0)
                    shutil.copyfileobj(f, out, 1 << 20)
                out.write("</osm>\n")
            os.replace(part, path)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return (min_lon, min_lat, max_lon, max_lat)


def _open_text_output(path: Path, compress: bool) -> TextIO:
    if compress:
        return bz2.open(path, "wt", encoding="utf-8", newline="\n", compresslevel=9)
    return open(path, "w", encoding="utf-8", newline="\n")


# --------------------------------------------------------------------------------------------
# Plan objects (local metres)


class _Axial:
    """An axis-aligned polyline: x = c (vertical) or y = c, through positions ``pts``.

    ``ends`` maps a position to the lattice edge it ends on (the node is then shared with the
    arterial through the junction registry).
    """

    __slots__ = ("c", "ends", "pts", "tags", "vertical")

    def __init__(self, vertical: bool, c: float, a: float, b: float, tags: dict[str, str]):
        self.vertical = vertical
        self.c = c
        self.pts = {a, b}
        self.tags = tags
        self.ends: dict[float, tuple[str, int, int]] = {}


@dataclass(slots=True, eq=False)
class _Bldg:
    rect: Rect
    tags: dict[str, str]
    role: str  # "res", "garage", "shop", "office", "school", "kindergarten", "centre"
    flats: int = 0  # building:flats written, 0 if untagged
    keep: bool = True


@dataclass(slots=True, eq=False)
class _Compound:
    rect: Rect
    name: str
    buildings: list[_Bldg] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Parcel:
    """A plot of a superblock; refs[side] is the street on that side or None.

    A street ref is ("e", lattice edge key) or ("b", branch road _Axial).
    """

    x0: float
    y0: float
    x1: float
    y1: float
    refs: dict[str, tuple | None]


@dataclass(slots=True, eq=False)
class _Cell:
    """One superblock (lattice cell) with everything planned inside it."""

    col: int
    row: int
    x0: float
    y0: float
    x1: float
    y1: float
    interior: Rect = (0.0, 0.0, 0.0, 0.0)
    compounds: list[_Compound] = field(default_factory=list)
    polys: list[tuple[Rect, dict[str, str]]] = field(default_factory=list)
    nonres: list[_Bldg] = field(default_factory=list)
    lines: list[_Axial] = field(default_factory=list)
    point_tags: dict[tuple[float, float], dict[str, str]] = field(default_factory=dict)
    strips: dict[str, tuple[float, float]] = field(default_factory=dict)
    cross: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {"S": [], "N": [], "W": [], "E": []}
    )

    def buildings(self) -> list[_Bldg]:
        out = [b for comp in self.compounds for b in comp.buildings]
        out.extend(self.nonres)
        return out

    def count(self) -> int:
        return sum(1 for b in self.buildings() if b.keep)


@dataclass(slots=True, eq=False)
class _Community:
    cells: list[tuple[int, int]]  # (col, row) of its superblocks
    name: str
    ref: str
    street: int


@dataclass(slots=True, eq=False)
class _Street:
    name: str
    ref: str
    cells: list[tuple[int, int]] = field(default_factory=list)
    n_communities: int = 0


@dataclass(slots=True, eq=False)
class _Feature:
    kind: str  # "river" or "rail"
    name: str
    hw: float  # corridor half width, metres
    bridge_hw: float  # half length of a bridge across it, metres
    water_hw: float = 0.0
    amplitude: float = 0.0
    wavelength: float = 1000.0
    phase: float = 0.0


def _cn_number(k: int) -> str:
    """Chinese numeral for 1 <= k <= 99 (二, 十一, 二十三)."""
    if k < 10:
        return _CN_DIGITS[k]
    tens, ones = divmod(k, 10)
    head = "" if tens == 1 else _CN_DIGITS[tens]
    return f"{head}十{_CN_DIGITS[ones] if ones else ''}"


def _fit(rect: Rect, width: float, depth: float, margin: float) -> Rect | None:
    """An E-W building of up to width x depth metres centred in ``rect`` with ``margin``."""
    x0, y0, x1, y1 = rect
    w = min(width, x1 - x0 - 2 * margin)
    d = min(depth, y1 - y0 - 2 * margin)
    if w < 12.0 or d < 8.0:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - d / 2, cx + w / 2, cy + d / 2)


# --------------------------------------------------------------------------------------------
# The district


class _District:
    def __init__(self, n: int, seed: int, origin: tuple[float, float], flats_share: float) -> None:
        self.n = n
        self.origin = origin
        self.flats_share = flats_share
        rng = self.rng = random.Random(seed)
        self.spacing = rng.uniform(490.0, 640.0)
        self.rotation = math.radians(rng.uniform(-10.0, 10.0))
        # Tight street grids go with old cores of walk-ups, wide ones with high-rise new towns:
        # the era mix is chosen so that superblocks hold about the target count.
        self.per_superblock = _TARGET_PER_SUPERBLOCK * rng.uniform(0.93, 1.07)
        self.era_mix = self._era_mix(self.spacing, self.per_superblock)
        est_cells = n / self.per_superblock
        self.small = est_cells < 0.8
        if self.small:
            self.ncols, self.est_rows = 1, 1
        else:
            self.ncols = max(1, round(math.sqrt(est_cells)))
            self.est_rows = max(1, math.ceil(est_cells / self.ncols))
        self.xs = [0.0]
        if not self.small:
            for _ in range(self.ncols):
                self.xs.append(self.xs[-1] + self._gap())
        self.ys = [0.0]

        # Arterial hierarchy, names, river / railway.
        self.prim_period = rng.choice((2, 3))
        self.prim_offset = {"v": rng.randrange(3), "h": rng.randrange(3)}
        self.trunk: dict[str, int] = {}
        if self.ncols >= 4 and rng.random() < 0.6:
            self.trunk["v"] = self.ncols // 2
        if self.est_rows >= 4 and rng.random() < 0.5:
            self.trunk["h"] = self.est_rows // 2
        stems = list(_ROAD_STEMS)
        rng.shuffle(stems)
        self.name_pool = {"v": stems[0::2], "h": stems[1::2]}
        self.features: dict[tuple[str, int], _Feature] = {}
        self._choose_features()
        self._line_names: dict[tuple[str, int], str] = {}

        # Street offices: blocks of bw x bh superblocks, at most 99 of them.
        self.bw, self.bh = rng.choice((2, 4)), rng.choice((2, 3))
        while math.ceil(self.ncols / self.bw) * math.ceil(self.est_rows * 1.2 / self.bh) > 90:
            if self.bw <= self.bh:
                self.bw += 2
            else:
                self.bh += 1
        comm_names = [
            s + suf
            for s in _COMMUNITY_STEMS
            for suf in _COMMUNITY_SUFFIXES
            if not (suf and s.endswith(suf))
        ]
        rng.shuffle(comm_names)
        self.comm_names = comm_names
        street_stems = list(_ROAD_STEMS)
        rng.shuffle(street_stems)
        self.street_stems = street_stems

        self.used_names: set[str] = set()
        self.junctions: dict[tuple[str, int, int], list[tuple[float, int]]] = {}
        self.inter: dict[tuple[int, int], int] = {}
        self.present: set[tuple[int, int]] = set()
        self.communities: list[_Community] = []
        self.streets: dict[tuple[int, int], _Street] = {}
        self.stats = {"buildings": 0, "residential": 0, "flats": 0}

    # ---- lattice ----------------------------------------------------------------------------

    @staticmethod
    def _era_mix(spacing: float, target: float) -> tuple[float, float, float]:
        """(old, mid, new) shares whose expected buildings per superblock is ``target``."""
        expected = {
            era: float(np.interp(spacing, _SPACING_TABLE, counts))
            for era, counts in _ERA_COUNT_TABLE.items()
        }

        def mix(u: float) -> tuple[float, float, float]:
            return ((1 - u) ** 2, 2 * u * (1 - u), u * u)

        lo, hi = 0.1, 0.9  # keep every era present
        for _ in range(40):
            u = (lo + hi) / 2
            p = mix(u)
            value = p[0] * expected["old"] + p[1] * expected["mid"] + p[2] * expected["new"]
            if value > target:
                lo = u
            else:
                hi = u
        return mix((lo + hi) / 2)

    def _gap(self) -> float:
        return min(700.0, max(400.0, self.spacing * self.rng.uniform(0.85, 1.15)))

    def _choose_features(self) -> None:
        rng = self.rng
        if self.small or self.ncols < 3 or self.est_rows < 3:
            return
        r = rng.random()
        if r < 0.35:
            kinds = ["river"]
        elif r < 0.6:
            kinds = ["rail"]
        elif r < 0.72:
            kinds = ["river", "rail"]
        else:
            kinds = []
        if not kinds:
            return
        axis = rng.choice("hv") if self.est_rows >= 4 else "v"
        top = self.ncols - 1 if axis == "v" else self.est_rows - 2
        candidates = [i for i in range(1, top + 1) if i != self.trunk.get(axis)]
        rng.shuffle(candidates)
        chosen: list[int] = []
        for i in candidates:
            if all(abs(i - j) >= 2 for j in chosen):
                chosen.append(i)
            if len(chosen) == len(kinds):
                break
        for kind, idx in zip(kinds, chosen, strict=False):
            if kind == "river":
                water = rng.uniform(20.0, 40.0)
                amp = rng.uniform(0.0, 8.0)
                self.features[(axis, idx)] = _Feature(
                    "river",
                    rng.choice(_RIVER_NAMES),
                    hw=water + amp + rng.uniform(20.0, 35.0),
                    bridge_hw=water + amp + 8.0,
                    water_hw=water,
                    amplitude=amp,
                    wavelength=rng.uniform(700.0, 1400.0),
                    phase=rng.uniform(0.0, 2 * math.pi),
                )
            else:
                self.features[(axis, idx)] = _Feature(
                    "rail", rng.choice(_RAIL_NAMES), hw=rng.uniform(28.0, 36.0), bridge_hw=15.0
                )

    def _cls(self, axis: str, idx: int) -> str:
        """Class of lattice line: trunk / primary / secondary, or river / rail."""
        feature = self.features.get((axis, idx))
        if feature is not None:
            return feature.kind
        if self.trunk.get(axis) == idx:
            return "trunk"
        return "primary" if (idx + self.prim_offset[axis]) % self.prim_period == 0 else "secondary"

    def _hw(self, axis: str, idx: int) -> float:
        feature = self.features.get((axis, idx))
        if feature is not None:
            return feature.hw
        return _ROAD_HW[self._cls(axis, idx)]

    def _line_name(self, axis: str, idx: int) -> str:
        """Base name of an arterial (中山路, 汉中街, 江东大道)."""
        key = (axis, idx)
        name = self._line_names.get(key)
        if name is None:
            pool = self.name_pool[axis]
            stem = pool[idx % len(pool)]
            rounds = idx // len(pool)
            if rounds:
                stem += _cn_number(rounds + 1)
            if self._cls(axis, idx) == "trunk":
                name = stem + "大道"
            elif (idx * 7 + len(stem)) % 5 == 0 and axis == "h":
                name = stem + "街"
            else:
                name = stem + "路"
            self._line_names[key] = name
        return name

    def _coord(self, axis: str, idx: int) -> float:
        return self.xs[idx] if axis == "v" else self.ys[idx]

    def _inter(self, i: int, j: int) -> int:
        nid = self.inter.get((i, j))
        if nid is None:
            road_v = self._cls("v", i) in _ROAD_HW
            road_h = self._cls("h", j) in _ROAD_HW
            tags = _SIGNAL_TAGS if road_v and road_h else None
            nid = self.w.node(self.xs[i], self.ys[j], tags)
            self.inter[(i, j)] = nid
        return nid

    def _junction(self, edge: tuple[str, int, int], along: float) -> int:
        """The node at ``along`` on a lattice edge, shared by everything that meets it there."""
        lst = self.junctions.setdefault(edge, [])
        i = bisect.bisect_left(lst, (along, -1))
        for j in (i - 1, i):
            if 0 <= j < len(lst) and abs(lst[j][0] - along) <= _SNAP_M:
                return lst[j][1]
        axis, idx, _ = edge
        c = self._coord(axis, idx)
        nid = self.w.node(c, along) if axis == "v" else self.w.node(along, c)
        lst.insert(i, (along, nid))
        return nid

    # ---- names ------------------------------------------------------------------------------

    def _unique(self, base: str, suffix: str) -> str:
        name = base + suffix
        k = 2
        while name in self.used_names:
            name = f"{base}第{_cn_number(k) if k < 100 else k}{suffix}"
            k += 1
        self.used_names.add(name)
        return name

    def _compound_name(self, era: str) -> str:
        rng = self.rng
        name = ""
        for _ in range(6):
            name = rng.choice(_COMPOUND_STEMS) + rng.choice(_COMPOUND_SUFFIXES[era])
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        k = 2
        while f"{name}{_cn_number(k) if k < 100 else k}期" in self.used_names:
            k += 1
        name = f"{name}{_cn_number(k) if k < 100 else k}期"
        self.used_names.add(name)
        return name

    def _poi_name(self, cell: _Cell, suffix: str) -> str:
        sides = [
            ("v", cell.col),
            ("v", cell.col + 1),
            ("h", cell.row),
            ("h", cell.row + 1),
        ]
        roads = [s for s in sides if self._cls(*s) in _ROAD_HW]
        base = self._line_name(*self.rng.choice(roads)) if roads else self.rng.choice(_BRANCH_STEMS)
        return self._unique(base, suffix)

    def _branch_tags(self, major: bool) -> dict[str, str]:
        stem = self.rng.choice(_BRANCH_STEMS)
        if major:
            return {"highway": "tertiary", "name": stem + self.rng.choice(("路", "街"))}
        return {"highway": "residential", "name": stem + self.rng.choice(("巷", "里", "支路"))}

    # ---- run --------------------------------------------------------------------------------

    def run(self, path: Path, compress: bool) -> DistrictSummary:
        est_height = self.est_rows * self.spacing
        offset = (-self.xs[-1] / 2, -est_height / 2)
        self.w = _OsmWriter(self.origin, self.rotation, offset)
        try:
            remaining = self.n
            row = 0
            while remaining > 0:
                if self.small:
                    cells = [self._plan_small(remaining)]
                    self.w.set_offset(-self.xs[-1] / 2, -self.ys[-1] / 2)
                else:
                    self.ys.append(self.ys[-1] + self._gap())
                    cells = []
                    for col in range(self.ncols):
                        if remaining <= 0:
                            break
                        cell = self._plan_cell(col, row)
                        cells.append(cell)
                        remaining -= self._trim(cell, remaining)
                if self.small:  # one superblock, which was grown to hold them all
                    self._trim(cells[0], remaining)
                    remaining = 0
                self._emit_row(cells)
                self.w.flush_nodes()
                row += 1
                if row > 10 * (self.est_rows + 10):
                    raise RuntimeError("synthetic district: layout does not fill up")
            self._emit_arterials()
            self._emit_features()
            self._emit_boundaries()
            bbox = self.w.finish(path, compress)
        finally:
            self.w.close()
        return DistrictSummary(
            n_buildings=self.stats["buildings"],
            n_residential=self.stats["residential"],
            n_households_tagged=self.stats["flats"],
            n_communities=len(self.communities),
            n_superblocks=len(self.present),
            bbox=bbox,
        )

    def _plan_small(self, n: int) -> _Cell:
        """One superblock sized for ``n`` buildings, grown until it holds them."""
        side = max(170.0, self.spacing * math.sqrt(n / self.per_superblock) * 0.8)
        cell = None
        for _ in range(40):
            self.xs = [0.0, side]
            self.ys = [0.0, side * self.rng.uniform(0.9, 1.1)]
            cell = self._plan_cell(0, 0, force_strip=True)
            if cell.count() >= n or side > 1500.0:
                break
            side *= 1.12
        assert cell is not None
        return cell

    def _trim(self, cell: _Cell, budget: int) -> int:
        """Drop buildings beyond ``budget`` keeping the residential share; returns the count."""
        res = [b for comp in cell.compounds for b in comp.buildings]
        non = cell.nonres
        total = len(res) + len(non)
        if total <= budget:
            return total
        keep_res = max(math.floor(budget * len(res) / total + 0.5), 1, budget - len(non))
        keep_res = min(len(res), keep_res)
        keep_non = budget - keep_res
        for b in res[keep_res:]:
            b.keep = False
        order = sorted(range(len(non)), key=lambda i: (_TRIM_RANK.get(non[i].role, 0), -i))
        for i in order[: len(non) - keep_non]:
            non[i].keep = False
        return budget

    # ---- superblock planning ----------------------------------------------------------------

    def _era(self, col: int, row: int) -> str:
        cx = (self.xs[col] + self.xs[col + 1]) / 2 - self.xs[-1] / 2
        cy = (self.ys[row] + self.ys[row + 1]) / 2 - self.est_rows * self.spacing / 2
        half_w = max(self.xs[-1] / 2, 1.0)
        half_h = max(self.est_rows * self.spacing / 2, 1.0)
        d = min(1.0, math.hypot(cx / half_w, cy / half_h) / math.sqrt(2))
        # Older towards the centre, newer towards the edge, around the district's mix.
        g = 0.3 * (0.5 - d)
        old, _, new = self.era_mix
        p_old = max(0.02, old + g)
        p_new = max(0.02, new - g)
        p_mid = max(0.02, 1.0 - p_old - p_new)
        return self.rng.choices(("old", "mid", "new"), (p_old, p_mid, p_new))[0]

    def _plan_cell(self, col: int, row: int, force_strip: bool = False) -> _Cell:
        rng = self.rng
        x0, x1, y0, y1 = self.xs[col], self.xs[col + 1], self.ys[row], self.ys[row + 1]
        cell = _Cell(col, row, x0, y0, x1, y1)
        lines = {"W": ("v", col), "E": ("v", col + 1), "S": ("h", row), "N": ("h", row + 1)}
        edges = {
            "W": ("v", col, row),
            "E": ("v", col + 1, row),
            "S": ("h", row, col),
            "N": ("h", row + 1, col),
        }
        road = {s: self._cls(*lines[s]) in _ROAD_HW for s in lines}
        ix0, ix1 = x0 + self._hw(*lines["W"]), x1 - self._hw(*lines["E"])
        iy0, iy1 = y0 + self._hw(*lines["S"]), y1 - self._hw(*lines["N"])
        cell.interior = (ix0, iy0, ix1, iy1)

        # Shop strips along 0-2 arterial sides.
        road_sides = [s for s in "SNWE" if road[s]]
        n_strips = rng.choices((0, 1, 2), (0.2, 0.5, 0.3))[0]
        if force_strip:
            n_strips = max(1, n_strips)
        strips = rng.sample(road_sides, min(n_strips, len(road_sides)))
        band = _STRIP_DEPTH + _STRIP_GAP
        for s in strips:
            if s in "SN":
                cell.strips[s] = (ix0, ix1)
            else:
                cell.strips[s] = (
                    iy0 + (band if "S" in strips else 0.0),
                    iy1 - (band if "N" in strips else 0.0),
                )
        px0 = ix0 + (band if "W" in strips else 0.0)
        px1 = ix1 - (band if "E" in strips else 0.0)
        py0 = iy0 + (band if "S" in strips else 0.0)
        py1 = iy1 - (band if "N" in strips else 0.0)
        refs = {s: (("e", edges[s]) if road[s] else None) for s in "SNWE"}
        region = _Parcel(px0, py0, px1, py1, refs)

        # Branch roads split the superblock into 1-4 compounds.
        parcels = self._split_superblock(cell, region, road, edges)

        # Carve plots for a school, the community centre and kindergarten, offices.
        budget_non = 0
        if rng.random() < 0.3:
            plot = self._carve(parcels, rng.uniform(120.0, 160.0), 150.0)
            if plot is not None:
                budget_non += self._plan_school(cell, plot)
        plot = self._carve(parcels, rng.uniform(50.0, 60.0), 60.0)
        has_centre = False
        if plot is not None:
            budget_non += self._plan_civic(cell, plot)
            has_centre = any(b.role == "centre" for b in cell.nonres)
        if rng.random() < 0.15:
            plot = self._carve(parcels, rng.uniform(70.0, 90.0), 80.0)
            if plot is not None:
                budget_non += self._plan_office(cell, plot)

        # Compounds.
        base_era = self._era(col, row)
        garages: list[Rect] = []
        n_res = 0
        for p in parcels:
            era = base_era if rng.random() < 0.7 else self._era(col, row)
            comp = self._plan_compound(cell, p, era, garages)
            n_res += len(comp.buildings)

        # Non-residential budget: 10-19 % of the superblock's buildings.
        share = rng.uniform(0.10, 0.19)
        target_non = round(n_res * share / (1.0 - share))
        room = max(0, target_non - budget_non)
        n_garages = min(len(garages), room // 3)
        for rect in garages[:n_garages]:
            cell.nonres.append(
                _Bldg(rect, {"building": "garages", "building:levels": "1"}, "garage")
            )
        room -= n_garages
        self._plan_shops(cell, room, need_centre=not has_centre)
        return cell

    def _split_superblock(
        self,
        cell: _Cell,
        region: _Parcel,
        road: dict[str, bool],
        edges: dict[str, tuple[str, int, int]],
    ) -> list[_Parcel]:
        rng = self.rng
        ix0, iy0, ix1, iy1 = cell.interior
        pw, ph = region.x1 - region.x0, region.y1 - region.y0
        need = 2 * _MIN_PARCEL + 2 * _TERTIARY_HW
        can_v, can_h = pw >= need, ph >= need
        options, weights = [1], [0.12]
        if can_v or can_h:
            options.append(2)
            weights.append(0.3)
        if can_v and can_h:
            options += [3, 4]
            weights += [0.28, 0.3]
        k = rng.choices(options, weights)[0]
        if k == 1:
            return [region]

        def full_road(vertical: bool, c: float, major: bool) -> _Axial:
            lo_side, hi_side = ("S", "N") if vertical else ("W", "E")
            lo = (cell.y0 if vertical else cell.x0) if road[lo_side] else (iy0 if vertical else ix0)
            hi = (cell.y1 if vertical else cell.x1) if road[hi_side] else (iy1 if vertical else ix1)
            ax = _Axial(vertical, c, lo, hi, self._branch_tags(major))
            hw = _TERTIARY_HW if major else _RESIDENTIAL_HW
            for side, pos in ((lo_side, lo), (hi_side, hi)):
                if road[side]:
                    ax.ends[pos] = edges[side]
                    if side in cell.strips:
                        cell.cross[side].append((c, hw + 3.0))
            cell.lines.append(ax)
            return ax

        def split(p: _Parcel, vertical: bool, c: float, hw: float, ax: _Axial):
            if vertical:
                a = _Parcel(p.x0, p.y0, c - hw, p.y1, {**p.refs, "E": ("b", ax)})
                b = _Parcel(c + hw, p.y0, p.x1, p.y1, {**p.refs, "W": ("b", ax)})
            else:
                a = _Parcel(p.x0, p.y0, p.x1, c - hw, {**p.refs, "N": ("b", ax)})
                b = _Parcel(p.x0, c + hw, p.x1, p.y1, {**p.refs, "S": ("b", ax)})
            return a, b

        def cut_pos(lo: float, hi: float, hw: float) -> float:
            c = lo + (hi - lo) * rng.uniform(0.38, 0.62)
            return min(max(c, lo + _MIN_PARCEL + hw), hi - _MIN_PARCEL - hw)

        vertical = can_v and (pw >= ph or not can_h) if k == 2 else rng.random() < 0.5
        lo, hi = (region.x0, region.x1) if vertical else (region.y0, region.y1)
        c1 = cut_pos(lo, hi, _TERTIARY_HW)
        road1 = full_road(vertical, c1, True)
        first, second = split(region, vertical, c1, _TERTIARY_HW, road1)
        if k == 2:
            return [first, second]
        lo2, hi2 = (region.y0, region.y1) if vertical else (region.x0, region.x1)
        if k == 4:
            c2 = cut_pos(lo2, hi2, _TERTIARY_HW)
            road2 = full_road(not vertical, c2, True)
            road1.pts.add(c2)
            road2.pts.add(c1)
            return [
                *split(first, not vertical, c2, _TERTIARY_HW, road2),
                *split(second, not vertical, c2, _TERTIARY_HW, road2),
            ]
        # k == 3: a lane from the first branch road to one side, in one half.
        c2 = cut_pos(lo2, hi2, _RESIDENTIAL_HW)
        half_is_second = rng.random() < 0.5
        half = second if half_is_second else first
        if vertical:  # road1 vertical; the lane runs east-west
            side = "E" if half_is_second else "W"
            far = (
                (cell.x1 if side == "E" else cell.x0)
                if road[side]
                else (ix1 if side == "E" else ix0)
            )
        else:
            side = "N" if half_is_second else "S"
            far = (
                (cell.y1 if side == "N" else cell.y0)
                if road[side]
                else (iy1 if side == "N" else iy0)
            )
        lane = _Axial(not vertical, c2, c1, far, self._branch_tags(False))
        road1.pts.add(c2)
        if road[side]:
            lane.ends[far] = edges[side]
            if side in cell.strips:
                cell.cross[side].append((c2, _RESIDENTIAL_HW + 3.0))
        cell.lines.append(lane)
        parts = split(half, not vertical, c2, _RESIDENTIAL_HW, lane)
        other = first if half_is_second else second
        return [other, *parts]

    def _carve(self, parcels: list[_Parcel], depth: float, min_len: float) -> tuple | None:
        """Cut a plot ``depth`` metres deep off a parcel along one of its street sides.

        Both the plot and the rest keep a street side. Returns (rect, street_side) or None.
        """
        candidates = []
        for p in parcels:
            for s in "SNWE":
                if p.refs[s] is None:
                    continue
                along = (p.x1 - p.x0) if s in "SN" else (p.y1 - p.y0)
                across = (p.y1 - p.y0) if s in "SN" else (p.x1 - p.x0)
                if along < min_len or across < depth + _MIN_PARCEL:
                    continue
                if not any(p.refs[t] is not None for t in "SNWE" if t != s):
                    continue
                candidates.append((p, s))
        if not candidates:
            return None
        p, s = self.rng.choice(candidates)
        if s == "S":
            rect = (p.x0, p.y0, p.x1, p.y0 + depth)
            p.y0 += depth
        elif s == "N":
            rect = (p.x0, p.y1 - depth, p.x1, p.y1)
            p.y1 -= depth
        elif s == "W":
            rect = (p.x0, p.y0, p.x0 + depth, p.y1)
            p.x0 += depth
        else:
            rect = (p.x1 - depth, p.y0, p.x1, p.y1)
            p.x1 -= depth
        p.refs = {**p.refs, s: None}
        return rect, s

    def _plan_school(self, cell: _Cell, plot: tuple) -> int:
        rng = self.rng
        rect, _side = plot
        x0, y0, x1, y1 = rect
        name = self._poi_name(cell, rng.choice(("小学", "小学", "中学", "实验学校")))
        cell.polys.append((rect, {"amenity": "school", "name": name}))
        count = 0
        length = min(70.0, x1 - x0 - 24.0)
        top = y1 - 12.0
        for _ in range(rng.choice((2, 3))):
            by0 = top - 14.0
            if by0 < y0 + 12.0 or length < 30.0:
                break
            levels = str(rng.choice((4, 5)))
            cx = (x0 + x1) / 2
            b = _Bldg(
                (cx - length / 2, by0, cx + length / 2, top),
                {"building": "school", "building:levels": levels},
                "school",
            )
            cell.nonres.append(b)
            count += 1
            top = by0 - 22.0
        if top - (y0 + 12.0) >= 60.0 and x1 - x0 - 24.0 >= 100.0:
            cell.polys.append(
                (
                    (x0 + 12.0, y0 + 12.0, x1 - 12.0, min(top - 10.0, y0 + 12.0 + 90.0)),
                    {"leisure": "pitch", "sport": "athletics"},
                )
            )
        return count

    def _plan_civic(self, cell: _Cell, plot: tuple) -> int:
        """Community centre, kindergarten and a pocket park in a strip plot."""
        rng = self.rng
        rect, side = plot
        x0, y0, x1, y1 = rect
        along_x = side in "SN"
        length = (x1 - x0) if along_x else (y1 - y0)
        parts: list[tuple[str, float]] = [("centre", 48.0)]
        if length >= 48.0 + 70.0:
            parts.append(("kindergarten", 70.0))
        if rng.random() < 0.5:
            parts.reverse()
        used = sum(p[1] for p in parts)
        if length - used >= 30.0:
            parts.append(("park", length - used))
        else:
            name, seg = parts[-1]
            parts[-1] = (name, seg + length - used)
        pos = x0 if along_x else y0
        count = 0
        for kind, seg in parts:
            sub = (pos, y0, pos + seg, y1) if along_x else (x0, pos, x1, pos + seg)
            pos += seg
            if kind == "park":
                cell.polys.append((sub, {"leisure": "park"}))
                continue
            if kind == "kindergarten":
                cell.polys.append(
                    (sub, {"amenity": "kindergarten", "name": self._poi_name(cell, "幼儿园")})
                )
                b_rect = _fit(sub, 42.0, 16.0, 8.0)
                tags = {"building": "kindergarten", "building:levels": str(rng.choice((2, 3)))}
            else:
                b_rect = _fit(sub, 36.0, 18.0, 6.0)
                tags = {"building": "public", "building:levels": str(rng.choice((2, 3, 4)))}
            if b_rect is not None:
                cell.nonres.append(_Bldg(b_rect, tags, kind))
                count += 1
        return count

    def _plan_office(self, cell: _Cell, plot: tuple) -> int:
        rng = self.rng
        rect, _side = plot
        x0, y0, x1, y1 = rect
        cell.polys.append((rect, {"landuse": "commercial"}))
        depth = min(24.0, y1 - y0 - 20.0)
        if depth < 12.0:
            return 0
        cy = (y0 + y1) / 2
        x = x0 + 10.0
        count = 0
        for _ in range(rng.choice((1, 2, 3))):
            width = rng.uniform(34.0, 46.0)
            if x + width > x1 - 10.0:
                break
            levels = rng.choice((8, 12, 16, 20, 24, 28))
            cell.nonres.append(
                _Bldg(
                    (x, cy - depth / 2, x + width, cy + depth / 2),
                    {"building": "office", "building:levels": str(levels)},
                    "office",
                )
            )
            count += 1
            x += width + 20.0
        return count

    def _plan_shops(self, cell: _Cell, room: int, need_centre: bool) -> None:
        rng = self.rng
        ix0, iy0, ix1, iy1 = cell.interior
        slots: list[Rect] = []
        for side in "SNWE":
            if side not in cell.strips:
                continue
            a, b = cell.strips[side]
            blocked = sorted((p - h, p + h) for p, h in cell.cross[side])
            free = []
            start = a + 2.0
            for lo, hi in blocked:
                if lo > start:
                    free.append((start, min(lo, b - 2.0)))
                start = max(start, hi)
            free.append((start, b - 2.0))
            for u, v in free:
                pos = u
                while True:
                    length = rng.uniform(18.0, 48.0)
                    if pos + length > v:
                        if v - pos >= 18.0:
                            length = v - pos
                        else:
                            break
                    d = rng.uniform(10.0, 13.0)
                    if side == "S":
                        slots.append((pos, iy0 + 1.0, pos + length, iy0 + 1.0 + d))
                    elif side == "N":
                        slots.append((pos, iy1 - 1.0 - d, pos + length, iy1 - 1.0))
                    elif side == "W":
                        slots.append((ix0 + 1.0, pos, ix0 + 1.0 + d, pos + length))
                    else:
                        slots.append((ix1 - 1.0 - d, pos, ix1 - 1.0, pos + length))
                    pos += length + rng.uniform(5.0, 12.0)
        if not slots:
            return
        if need_centre:
            cell.nonres.append(
                _Bldg(slots[0], {"building": "public", "building:levels": "3"}, "centre")
            )
            slots = slots[1:]
        k = min(len(slots), room)
        for i in sorted(rng.sample(range(len(slots)), k)):
            levels = rng.choices(("1", "2", "3"), (0.3, 0.45, 0.25))[0]
            kind = "retail" if rng.random() < 0.6 else "commercial"
            cell.nonres.append(
                _Bldg(slots[i], {"building": kind, "building:levels": levels}, "shop")
            )

    def _gate(self, cell: _Cell, x: float, y: float, side: str, ref: tuple, tags: dict) -> None:
        """A gate on the fence at (x, y) and a road straight out to the street on ``side``."""
        kind, obj = ref
        c = self._coord(obj[0], obj[1]) if kind == "e" else obj.c
        vertical = side in "SN"
        fixed, start = (x, y) if vertical else (y, x)
        ax = _Axial(vertical, fixed, start, c, tags)
        if kind == "e":
            ax.ends[c] = obj
            if side in cell.strips:
                cell.cross[side].append((fixed, 7.0))
        else:
            obj.pts.add(fixed)
        cell.point_tags[(x, y)] = _GATE_TAGS
        cell.lines.append(ax)

    def _plan_compound(self, cell: _Cell, p: _Parcel, era: str, garages: list[Rect]) -> _Compound:
        rng = self.rng
        x0, y0, x1, y1 = p.x0, p.y0, p.x1, p.y1
        comp = _Compound((x0, y0, x1, y1), self._compound_name(era))
        cell.compounds.append(comp)
        if x1 - x0 < 75.0 or y1 - y0 < 45.0:
            return comp
        xw, xe = x0 + 6.0, x1 - 6.0
        bx0, bx1 = x0 + 12.0, x1 - 12.0
        spine = None
        segments = [(bx0, bx1)]
        if bx1 - bx0 > 240.0:
            spine = (bx0 + bx1) / 2 + rng.uniform(-20.0, 20.0)
            segments = [(bx0, spine - 9.0), (spine + 9.0, bx1)]
        levels_choices, level_weights = _ERA_LEVELS[era]
        ratio = rng.uniform(*_ERA_RATIO[era])
        apartments = _ERA_APARTMENTS_SHARE[era]
        suffix = rng.choice(("栋", "幢"))
        lane_ys: list[float] = []
        y = y0 + 8.0
        number = 0
        while True:
            levels = rng.choices(levels_choices, level_weights)[0]
            tower = levels >= 18 and rng.random() < _ERA_TOWER_SHARE[era]
            depth = rng.uniform(18.0, 26.0) if tower else rng.uniform(10.0, 15.0)
            if y + depth + 14.0 > y1:
                break
            low_rise = levels <= 7
            btype = "apartments" if rng.random() < apartments else "residential"
            for a, b in segments:
                for bx, length in self._pack_row(a, b, tower, low_rise, y, depth, garages):
                    number += 1
                    comp.buildings.append(
                        self._residential(
                            (bx, y, bx + length, y + depth), levels, btype, f"{number}{suffix}"
                        )
                    )
            lane_ys.append(y + depth + 6.0)
            y += depth + max(ratio * levels * STOREY_HEIGHT_M, 14.0)
        if not lane_ys:
            return comp

        # Roads: lanes along the north side of each row, service roads down both sides (and a
        # spine in wide compounds), gates out to the streets.
        lane_tags = (
            {"highway": "footway"}
            if era == "old" and rng.random() < 0.5
            else {"highway": "service"}
        )
        lanes = [_Axial(False, ly, xw, xe, lane_tags) for ly in lane_ys]
        if spine is not None:
            for lane in lanes:
                lane.pts.add(spine)
        west = _Axial(True, xw, lane_ys[0], lane_ys[-1], {"highway": "service"})
        east = _Axial(True, xe, lane_ys[0], lane_ys[-1], {"highway": "service"})
        west.pts.update(lane_ys)
        east.pts.update(lane_ys)
        mid = None
        if spine is not None:
            mid = _Axial(True, spine, lane_ys[0], lane_ys[-1], {"highway": "service"})
            mid.pts.update(lane_ys)
        gates = 0
        refs = p.refs
        if refs["S"] is not None:
            south_road = mid if mid is not None else west
            south_road.pts.add(y0)
            self._gate(cell, south_road.c, y0, "S", refs["S"], {"highway": "service"})
            gates += 1
        if refs["N"] is not None and (rng.random() < 0.6 or not gates):
            east.pts.add(y1)
            self._gate(cell, xe, y1, "N", refs["N"], {"highway": "service"})
            gates += 1
        middle_lane = lanes[len(lanes) // 2]
        if refs["W"] is not None and (rng.random() < 0.5 or not gates):
            middle_lane.pts.add(x0)
            self._gate(cell, x0, middle_lane.c, "W", refs["W"], {"highway": "footway"})
            gates += 1
        if refs["E"] is not None and (rng.random() < 0.4 or not gates):
            middle_lane.pts.add(x1)
            self._gate(cell, x1, middle_lane.c, "E", refs["E"], {"highway": "footway"})
            gates += 1
        if not gates:
            raise AssertionError("compound without a street side")  # pragma: no cover
        cell.lines.extend(lanes)
        cell.lines.extend(r for r in (west, east, mid) if r is not None and len(r.pts) > 1)
        return comp

    def _pack_row(
        self,
        a: float,
        b: float,
        tower: bool,
        low_rise: bool,
        y: float,
        depth: float,
        garages: list[Rect],
    ) -> list[tuple[float, float]]:
        """Spans (x, length) of buildings packed west to east into [a, b], metres."""
        rng = self.rng
        if tower:
            lmin, lmax, gmin, gmax = 22.0, 32.0, 13.0, 22.0
        elif low_rise:
            lmin, lmax, gmin, gmax = 40.0, 80.0, 6.0, 10.0
        else:
            lmin, lmax, gmin, gmax = 40.0, 80.0, 13.0, 20.0
        spans: list[tuple[float, float]] = []
        x = a
        while True:
            length = rng.uniform(lmin, lmax)
            if x + length > b:
                if b - x >= lmin:
                    length = b - x
                else:
                    break
            spans.append((x, length))
            x += length + rng.uniform(gmin, gmax)
        end = spans[-1][0] + spans[-1][1] if spans else a - 8.0
        tail = b - end
        if low_rise and tail >= 8.0 + 16.0:
            g_len = min(tail - 8.0, rng.uniform(16.0, 30.0))
            garages.append((end + 8.0, y, end + 8.0 + g_len, y + min(depth, 7.0)))
        elif spans and tail > 0.0:
            shift = tail / 2
            spans = [(sx + shift, length) for sx, length in spans]
        return spans

    def _residential(self, rect: Rect, levels: int, btype: str, number: str) -> _Bldg:
        rng = self.rng
        tags = {"building": btype}
        flats = 0
        if rng.random() < self.flats_share:
            units = max(1, int((rect[2] - rect[0]) // UNIT_WIDTH_M))
            flats = units * levels * HOUSEHOLDS_PER_UNIT_FLOOR
            tags["building:levels"] = str(levels)
            tags["building:flats"] = str(flats)
        elif rng.random() < 0.25:
            tags["height"] = f"{levels * STOREY_HEIGHT_M:g}"
        else:
            tags["building:levels"] = str(levels)
        tags["addr:housenumber"] = number
        return _Bldg(rect, tags, "res", flats)

    # ---- communities and emission -----------------------------------------------------------

    def _street_for(self, col: int, row: int) -> tuple[int, _Street]:
        key = (row // self.bh, col // self.bw)
        street = self.streets.get(key)
        if street is None:
            number = len(self.streets) + 1
            k = number - 1
            stem = self.street_stems[k % len(self.street_stems)]
            if k >= len(self.street_stems):
                stem += _cn_number(k // len(self.street_stems) + 1)
            street = _Street(f"{stem}路街道", f"{COUNTY_CODE}{number:03d}000")
            self.streets[key] = street
        return int(street.ref[6:9]), street

    def _emit_row(self, cells: list[_Cell]) -> None:
        counts = [c.count() for c in cells]
        i = 0
        while i < len(cells):
            group = [cells[i]]
            if (
                i + 1 < len(cells)
                and cells[i].col // self.bw == cells[i + 1].col // self.bw
                and counts[i] + counts[i + 1] <= _PAIR_MAX
                and min(counts[i], counts[i + 1]) < _PAIR_SMALL
            ):
                group.append(cells[i + 1])
            i += len(group)
            number, street = self._street_for(group[0].col, group[0].row)
            street.n_communities += 1
            k = len(self.communities)
            stem = self.comm_names[k % len(self.comm_names)]
            if k >= len(self.comm_names):
                stem += _cn_number(k // len(self.comm_names) + 1)
            comm = _Community(
                [(cell.col, cell.row) for cell in group],
                f"{stem}社区",
                f"{COUNTY_CODE}{number:03d}{street.n_communities:03d}",
                number,
            )
            self.communities.append(comm)
            centre_named = False
            for cell in group:
                street.cells.append((cell.col, cell.row))
                self.present.add((cell.col, cell.row))
                for b in cell.nonres:
                    if b.role == "centre" and b.keep:
                        if not centre_named:
                            b.tags["amenity"] = "community_centre"
                            b.tags["name"] = f"{comm.name}服务中心"
                            centre_named = True
                        else:
                            b.tags["amenity"] = "clinic"
                            b.tags["healthcare"] = "clinic"
                            b.tags["name"] = f"{comm.name}卫生服务站"
                self._emit_cell(cell)

    def _emit_cell(self, cell: _Cell) -> None:
        w = self.w
        stats = self.stats
        for comp in cell.compounds:
            w.rect(comp.rect, {"landuse": "residential", "name": comp.name})
        for rect, tags in cell.polys:
            w.rect(rect, tags)
        for b in cell.buildings():
            if not b.keep:
                continue
            w.rect(b.rect, b.tags)
            stats["buildings"] += 1
            if b.role == "res":
                stats["residential"] += 1
                stats["flats"] += b.flats
        local: dict[tuple[float, float], int] = {}
        point_tags = cell.point_tags
        for ax in cell.lines:
            refs: list[int] = []
            for pos in sorted(ax.pts):
                edge = ax.ends.get(pos)
                if edge is not None:
                    nid = self._junction(edge, ax.c)
                else:
                    key = (ax.c, pos) if ax.vertical else (pos, ax.c)
                    known = local.get(key)
                    if known is None:
                        known = w.node(key[0], key[1], point_tags.get(key))
                        local[key] = known
                    nid = known
                if not refs or refs[-1] != nid:
                    refs.append(nid)
            if len(refs) >= 2:
                w.way(refs, ax.tags)

    def _emit_arterials(self) -> None:
        nrows = len(self.ys) - 1
        for i in range(self.ncols + 1):
            if self._cls("v", i) in _ROAD_HW:
                segs = [
                    r for r in range(nrows) if (i - 1, r) in self.present or (i, r) in self.present
                ]
                self._emit_line("v", i, segs)
        for j in range(nrows + 1):
            if self._cls("h", j) in _ROAD_HW:
                segs = [
                    c
                    for c in range(self.ncols)
                    if (c, j - 1) in self.present or (c, j) in self.present
                ]
                self._emit_line("h", j, segs)

    def _emit_line(self, axis: str, idx: int, segs: list[int]) -> None:
        """Write one arterial: its runs of edges, split into ways every 3 superblocks, at name
        sections (北路 / 路 / 南路) and at bridges."""
        if not segs:
            return
        cls = self._cls(axis, idx)
        base = self._line_name(axis, idx)
        c = self._coord(axis, idx)
        cross_axis = "h" if axis == "v" else "v"
        along = self.ys if axis == "v" else self.xs
        # Name sections for long 路.
        total = len(segs)
        sections: list[float] = []
        if base.endswith("路") and cls != "trunk" and total >= 6:
            sections = [along[segs[0] + round(total / 3)], along[segs[0] + round(2 * total / 3)]]
        if axis == "v":
            section_names = [base[:-1] + "南路", base, base[:-1] + "北路"]
        else:
            section_names = [base[:-1] + "西路", base, base[:-1] + "东路"]

        def node_xy(pos: float) -> int:
            return self.w.node(c, pos) if axis == "v" else self.w.node(pos, c)

        runs: list[list[int]] = []
        for s in segs:
            if runs and runs[-1][-1] == s - 1:
                runs[-1].append(s)
            else:
                runs.append([s])
        for run in runs:
            seq: list[tuple[float, int, bool]] = []
            for k, s in enumerate(run):
                pos = along[s]
                nid = self._inter(idx, s) if axis == "v" else self._inter(s, idx)
                seq.append((pos, nid, k % 3 == 0 or pos in sections))
                edge = (axis, idx, s)
                seq.extend((p, nid2, False) for p, nid2 in self.junctions.get(edge, []))
            last = run[-1] + 1
            end_nid = self._inter(idx, last) if axis == "v" else self._inter(last, idx)
            seq.append((along[last], end_nid, True))
            start, end = seq[0][0], seq[-1][0]
            bridges: list[tuple[float, float]] = []
            for (f_axis, f_idx), feature in sorted(self.features.items()):
                if f_axis != cross_axis or f_idx >= len(along):
                    continue
                f = along[f_idx]
                bh = feature.bridge_hw
                if start < f < end:
                    seq = [(p, n, b and not f - bh < p < f + bh) for p, n, b in seq]
                    seq.append((f - bh, node_xy(f - bh), True))
                    seq.append((f + bh, node_xy(f + bh), True))
                    bridges.append((f - bh, f + bh))
                elif f == end:
                    seq = [e for e in seq if e[0] < f - bh]
                    seq.append((f - bh, node_xy(f - bh), True))
                elif f == start:
                    seq = [e for e in seq if e[0] > f + bh]
                    seq.append((f + bh, node_xy(f + bh), True))
                seq.sort(key=lambda e: e[0])
            piece: list[tuple[float, int]] = []
            for n_i, (pos, nid, brk) in enumerate(seq):
                piece.append((pos, nid))
                if (brk and len(piece) > 1) or n_i == len(seq) - 1:
                    if len(piece) > 1:
                        mid = (piece[0][0] + piece[-1][0]) / 2
                        section = sum(1 for b in sections if mid > b) if sections else 1
                        tags = {
                            "highway": cls,
                            "name": section_names[section] if sections else base,
                            "lanes": _ROAD_LANES[cls],
                        }
                        if any(lo <= mid <= hi for lo, hi in bridges):
                            tags["bridge"] = "yes"
                            tags["layer"] = "1"
                        self.w.way([n for _, n in piece], tags)
                    piece = [(pos, nid)]

    def _emit_features(self) -> None:
        nrows = len(self.ys) - 1
        for (axis, idx), feature in sorted(self.features.items()):
            if axis == "h" and idx > nrows:
                continue
            c = self._coord(axis, idx)
            other = self.ys if axis == "v" else self.xs
            lo = other[0] - _FEATURE_EXTENSION_M
            hi = other[-1] + _FEATURE_EXTENSION_M

            def xy(pos: float, off: float, axis: str = axis) -> int:
                return self.w.node(off, pos) if axis == "v" else self.w.node(pos, off)

            if feature.kind == "rail":
                m = max(2, math.ceil((hi - lo) / 250.0))
                refs = [xy(lo + (hi - lo) * k / m, c) for k in range(m + 1)]
                self.w.way(
                    refs,
                    {
                        "railway": "rail",
                        "name": feature.name,
                        "usage": "main",
                        "gauge": "1435",
                        "electrified": "contact_line",
                    },
                )
                continue
            m = max(2, math.ceil((hi - lo) / max(40.0, (hi - lo) / 600.0)))
            ps = [lo + (hi - lo) * k / m for k in range(m + 1)]
            mids = [
                c
                + feature.amplitude
                * math.sin(2 * math.pi * (p - lo) / feature.wavelength + feature.phase)
                for p in ps
            ]
            centre = [xy(p, o) for p, o in zip(ps, mids, strict=True)]
            self.w.way(centre, {"waterway": "river", "name": feature.name})
            bank_a = [xy(p, o - feature.water_hw) for p, o in zip(ps, mids, strict=True)]
            bank_b = [xy(p, o + feature.water_hw) for p, o in zip(ps, mids, strict=True)]
            ring = bank_a + bank_b[::-1] + [bank_a[0]]
            self.w.way(ring, {"natural": "water", "water": "river", "name": feature.name})

    def _emit_boundaries(self) -> None:
        street_outlines = {
            id(s): _outline([(c, r) for c, r in s.cells]) for s in self.streets.values()
        }
        on_street_border = {e for ring in street_outlines.values() for e in ring}
        edge_ways: dict[tuple[str, int, int], int] = {}

        def way_for(edge: tuple[str, int, int]) -> int:
            wid = edge_ways.get(edge)
            if wid is None:
                axis, idx, s = edge
                if axis == "v":
                    a, b = self._inter(idx, s), self._inter(idx, s + 1)
                else:
                    a, b = self._inter(s, idx), self._inter(s + 1, idx)
                level = "8" if edge in on_street_border else "10"
                wid = self.w.way([a, b], {"boundary": "administrative", "admin_level": level})
                edge_ways[edge] = wid
            return wid

        rings = [_outline(comm.cells) for comm in self.communities]
        for ring in rings:
            for e in ring:
                way_for(e)
        for comm, ring in zip(self.communities, rings, strict=True):
            self.w.relation(
                [("way", way_for(e), "outer") for e in ring],
                {
                    "type": "boundary",
                    "boundary": "administrative",
                    "admin_level": "10",
                    "name": comm.name,
                    "ref": comm.ref,
                },
            )
        for street in self.streets.values():
            self.w.relation(
                [("way", way_for(e), "outer") for e in street_outlines[id(street)]],
                {
                    "type": "boundary",
                    "boundary": "administrative",
                    "admin_level": "8",
                    "name": street.name,
                    "ref": street.ref,
                },
            )


def _outline(cells: list[tuple[int, int]]) -> list[tuple[str, int, int]]:
    """Lattice edges around a set of cells (col, row), in ring order.

    Edge keys: ("h", j, i) runs from crossing (i, j) to (i + 1, j); ("v", i, j) from (i, j) to
    (i, j + 1).
    """
    count: Counter = Counter()
    for c, r in cells:
        count.update((("h", r, c), ("h", r + 1, c), ("v", c, r), ("v", c + 1, r)))
    edges = [e for e, k in count.items() if k == 1]

    def ends(e: tuple[str, int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        axis, idx, s = e
        return ((s, idx), (s + 1, idx)) if axis == "h" else ((idx, s), (idx, s + 1))

    at: dict[tuple[int, int], list[tuple[str, int, int]]] = {}
    for e in edges:
        for v in ends(e):
            at.setdefault(v, []).append(e)
    if any(len(v) != 2 for v in at.values()):
        return sorted(edges)  # not a simple ring; members unordered
    ring = [min(edges)]
    vertex = ends(ring[0])[1]
    while len(ring) < len(edges):
        a, b = at[vertex]
        nxt = b if a == ring[-1] else a
        ring.append(nxt)
        e0, e1 = ends(nxt)
        vertex = e1 if e0 == vertex else e0
    return ring
