"""Chinese names of the irregular district (Wuhan-flavoured): roads, communities, water.

:class:`RoadNames` hands out road names in a seeded order (stem + suffix, then numbered
rounds); :func:`community_names` draws distinct 社区 names.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ROAD_STEMS = _words(
    "中山 解放 和平 友谊 民主 建设 胜利 团结 幸福 光明 长江 黄鹤 珞珈 东湖 沙湖 紫阳 首义 "
    "武珞 中南 积玉 白沙 晒湖 宝通 洪山 徐家棚 杨园 铁机 余家头 临江 彭刘杨 粮道 昙华林 胭脂 "
    "得胜 千家 水陆 司门口 大成 复兴 新生 三角 梅苑 八一 丁字桥 石牌岭 傅家坡 小东门 涂家岭 "
    "楚雄 青山 秦园 和平 才华 徐东 岳家嘴 团结 工农"
)
_ROAD_SUFFIXES = ("路", "街", "大道", "巷", "里", "一路", "二路", "横路")
COMMUNITY_STEMS = _words(
    "紫阳 首义 彭刘杨 粮道 昙华林 胭脂山 得胜桥 千家街 水陆街 司门口 大成 复兴 新生 三角路 梅苑 "
    "八一 丁字桥 石牌岭 傅家坡 小东门 涂家岭 中华路 积玉桥 白沙洲 杨园 铁机 余家头 徐家棚 和平 "
    "南湖 宝通寺 洪山 中南 武泰闸 张家湾 烽火 晒湖 沙湖 东亭 水果湖 省府 东湖 楚汉 临江 平湖门 "
    "文昌 黄鹤楼 凤凰"
)
_COMMUNITY_SUFFIXES = ("", "东", "西", "南", "北", "新村", "里", "苑", "花园", "一", "二")
RIVER_NAMES = ("巡司河", "青山港", "东沙湖渠", "罗家港", "黄孝河", "南湖渠", "汤逊湖港")
LAKE_NAMES = ("紫阳湖", "水果湖", "晒湖", "四美塘", "都司湖", "内沙湖")
RAIL_NAMES = ("京广铁路", "武九铁路", "武昌南环线", "汉丹铁路", "武汉枢纽联络线")


class RoadNames:
    """Road names in a seeded order: every stem + suffix once, then numbered rounds."""

    def __init__(self, rng):
        combos = [f"{s}{x}" for s in dict.fromkeys(_ROAD_STEMS) for x in _ROAD_SUFFIXES]
        self.combos = [combos[i] for i in rng.permutation(len(combos)).tolist()]
        self.next = 0

    def road(self, kind: str = "") -> str:
        name = self.combos[self.next % len(self.combos)]
        round_ = self.next // len(self.combos)
        self.next += 1
        if kind:
            name = name.rstrip("".join(_ROAD_SUFFIXES)) + kind
        return name if round_ == 0 else f"{name}{round_ + 1}"


def community_names(rng, n: int) -> list[str]:
    """``n`` distinct community names (XX社区)."""
    combos = [f"{s}{x}社区" for s in COMMUNITY_STEMS for x in _COMMUNITY_SUFFIXES]
    picked = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] for i in picked.tolist()]
