"""Chinese names for the synthetic district: roads, compounds, communities, numerals.

Names are drawn from fixed pools (Nanjing-flavoured stems) with the district's seeded random
generator; :class:`Names` keeps every compound and point-of-interest name unique within a
district by numbering repeats (第二, 二期).
"""

from __future__ import annotations

import random


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


ROAD_STEMS = tuple(
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
BRANCH_STEMS = _words(
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
COMMUNITY_STEMS = tuple(
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
COMMUNITY_SUFFIXES = ("", "新村", "东", "西", "南", "北", "里", "苑", "桥", "门")
_CN_DIGITS = "零一二三四五六七八九"


def cn_number(k: int) -> str:
    """Chinese numeral for 1 <= k <= 99 (二, 十一, 二十三)."""
    if k < 10:
        return _CN_DIGITS[k]
    tens, ones = divmod(k, 10)
    head = "" if tens == 1 else _CN_DIGITS[tens]
    return f"{head}十{_CN_DIGITS[ones] if ones else ''}"


def branch_road_tags(rng: random.Random, major: bool) -> dict[str, str]:
    """Tags of a named branch road: tertiary (路, 街) if ``major``, else residential (巷, 里)."""
    stem = rng.choice(BRANCH_STEMS)
    if major:
        return {"highway": "tertiary", "name": stem + rng.choice(("路", "街"))}
    return {"highway": "residential", "name": stem + rng.choice(("巷", "里", "支路"))}


class Names:
    """The names used so far in one district, and the draws of new unique ones."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def unique(self, base: str, suffix: str) -> str:
        """``base + suffix``, or ``base第N suffix`` if that is taken."""
        name = base + suffix
        k = 2
        while name in self.used:
            name = f"{base}第{cn_number(k) if k < 100 else k}{suffix}"
            k += 1
        self.used.add(name)
        return name

    def compound(self, era: str) -> str:
        """A compound name in the style of its era (XX小区, XX花园, XX华府), or XX二期."""
        rng = self.rng
        name = ""
        for _ in range(6):
            name = rng.choice(_COMPOUND_STEMS) + rng.choice(_COMPOUND_SUFFIXES[era])
            if name not in self.used:
                self.used.add(name)
                return name
        k = 2
        while f"{name}{cn_number(k) if k < 100 else k}期" in self.used:
            k += 1
        name = f"{name}{cn_number(k) if k < 100 else k}期"
        self.used.add(name)
        return name
