"""What the maps say, in Chinese (default) and English (``lang="en"``)."""

from __future__ import annotations

from dispatch.channels import CHANNEL_NAMES
from gis.errors import ArgumentError

LANGS = ("zh", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # titles
    "title.grids": ("网格划分方案", "Grid plan"),
    "title.party_zones": ("党员责任区", "Party member responsibility zones"),
    "title.incidents": ("待办事件", "Open incidents"),
    "title.route": ("巡查路线", "Patrol route"),
    "title.coverage": ("覆盖缺口", "Coverage gaps"),
    "title.compare": ("方案对比", "Plan comparison"),
    # layers
    "layer.grids": ("网格", "Grids"),
    "layer.grid_labels": ("网格标注", "Grid labels"),
    "layer.buildings": ("建筑", "Buildings"),
    "layer.communities": ("社区边界", "Community boundaries"),
    "layer.barriers": ("障碍（干道、铁路、河流）", "Barriers (arterials, railways, rivers)"),
    "layer.streets": ("街巷", "Streets"),
    "layer.basemap": ("底图（街道、水系、绿地、建筑）",
                      "Basemap (streets, water, green, buildings)"),
    "layer.zones": ("党员责任区", "Responsibility zones"),
    "layer.zone_labels": ("责任区标注", "Zone labels"),
    "layer.incidents": ("事件", "Incidents"),
    "layer.heat": ("事件热力图", "Incident heat map"),
    "layer.overdue_heat": ("超期事件热点", "Overdue incident hot spots"),
    "layer.route": ("行走路线", "Walking route"),
    "layer.stops": ("停靠点", "Stops"),
    "layer.arrows": ("行进方向", "Direction of travel"),
    "layer.patrol": ("巡街路线", "Street patrol path"),
    "layer.no_grid": ("无网格或无网格员的建筑", "Buildings without a grid or worker"),
    "layer.balance": ("超出或低于目标的网格", "Grids over or under target"),
    "layer.no_member": ("无党员联系的住户", "Households without a party member"),
    "layer.far": ("距服务点过远的建筑", "Buildings far from a service point"),
    "layer.service_points": ("服务点", "Service points"),
    "layer.old_grids": ("原方案网格", "Old plan grids"),
    "layer.new_grids": ("新方案网格", "New plan grids"),
    "layer.moved": ("调整的建筑", "Moved buildings"),
    "layer.tiles": ("底图", "Basemap"),
    # fields
    "f.code": ("网格编码", "Grid code"),
    "f.community": ("社区", "Community"),
    "f.worker": ("网格员", "Grid worker"),
    "f.households": ("户数", "Households"),
    "f.population": ("人口", "Population"),
    "f.deviation": ("户数偏差", "Household deviation"),
    "f.area": ("面积", "Area"),
    "f.compactness": ("紧凑度 (Polsby-Popper)", "Compactness (Polsby-Popper)"),
    "f.street_share": ("沿街边界比例", "Boundary on streets"),
    "f.contiguous": ("连通", "Contiguous"),
    "f.building": ("建筑编号", "Building"),
    "f.name": ("名称", "Name"),
    "f.member": ("党员", "Party member"),
    "f.incident": ("事件编号", "Incident"),
    "f.category": ("类别", "Category"),
    "f.stage": ("状态", "Stage"),
    "f.deadline": ("办结时限", "Deadline"),
    "f.deadline_status": ("时限状态", "Deadline status"),
    "f.stop": ("站点", "Stop"),
    "f.arrival": ("预计到达", "Arrival"),
    "f.distance": ("距离", "Distance"),
    "f.duration": ("用时", "Time"),
    "f.walk": ("步行距离", "Walking distance"),
    "f.problem": ("问题", "Problem"),
    "f.old_grid": ("原网格", "Old grid"),
    "f.channel": ("上报渠道", "Channel"),
    "f.organisation": ("承办单位", "Organisation"),
    "f.kind": ("单位类型", "Kind"),
    "f.categories": ("承办类别", "Categories"),
    "f.new_grid": ("新网格", "New grid"),
    # values
    "v.yes": ("是", "yes"),
    "v.no": ("否", "no"),
    "v.none": ("无", "none"),
    "v.no_grid": ("不在任何网格内", "in no grid"),
    "v.no_worker": ("网格无网格员", "grid has no worker"),
    "v.over": ("超出目标", "over target"),
    "v.under": ("低于目标", "under target"),
    "v.unreachable": ("无法步行到达", "not reachable on foot"),
    # legend
    "legend.deviation": ("户数偏差（相对目标）", "Household deviation from target"),
    "legend.stage": ("事件状态（填色）", "Stage (fill)"),
    "legend.deadline": ("时限（边框）", "Deadline (outline)"),
    "legend.total": ("合计", "Total"),
    "legend.filter": ("按类别筛选", "Filter by category"),
    "legend.channel": ("上报渠道", "Channel"),
    "legend.all": ("全部", "All"),
    "legend.far_limit": ("步行距离超过 {0} 米", "Walk over {0} m"),
    "legend.straight": ("（直线距离）", "(straight line)"),
    "legend.tolerance": ("偏差超过 ±{0}%", "Deviation beyond ±{0}%"),
    "legend.summary": ("{0} 栋建筑，{1} 户", "{0} buildings, {1} households"),
    "legend.grids": ("{0} 个网格，{1} 户", "{0} grids, {1} households"),
    "legend.zones": ("{0} 个责任区，{1} 户", "{0} zones, {1} households"),
    "legend.visit_age": ("距上次走访", "Since the last visit"),
    "visit_age.week": ("7 天内", "within 7 days"),
    "visit_age.month": ("8–30 天", "8-30 days"),
    "visit_age.quarter": ("31–90 天", "31-90 days"),
    "visit_age.half": ("91–182 天", "91-182 days"),
    "visit_age.over": ("超过 182 天", "over 182 days"),
    "visit_age.never": ("无走访记录", "no visit recorded"),
    "f.visit_days": ("距上次走访（天）", "Days since the last visit"),
    "legend.deviation_stats": ("偏差绝对值：最大 {0:.1f}%，平均 {1:.1f}%",
                               "|deviation|: max {0:.1f}%, mean {1:.1f}%"),
    "route.summary": ("{0} 个站点 · {1} · 约 {2}", "{0} stops · {1} · about {2}"),
    "route.patrol": ("巡街 {0}", "patrol {0}"),
    "track.walked": ("已巡街道", "Streets walked"),
    "track.missed": ("漏巡街道", "Streets missed"),
    "track.detour": ("计划外街道", "Streets off the plan"),
    "track.length": ("长度（米）", "Length (m)"),
    "track.coverage": ("巡查覆盖率 {0}（按轨迹）", "Patrol coverage {0} (GPS track)"),
    "track.reached": ("已到达", "reached"),
    "track.missed_stop": ("未到达", "not reached"),
    "track.reached_field": ("轨迹核验", "GPS check"),
    "locate.title": ("显示我的位置", "Show my location"),
    "fullscreen.title": ("全屏", "Full screen"),
    "fullscreen.cancel": ("退出全屏", "Exit full screen"),
    # the plan editor (maps.editor; wangge-editor.js)
    "title.editor": ("网格方案编辑", "Plan editor"),
    "editor.version": ("版本", "version"),
    "editor.draft": ("草稿", "draft"),
    "editor.mode": ("选择方式", "Select by"),
    "editor.click": ("点选", "click"),
    "editor.box": ("框选", "box"),
    "editor.lasso": ("套索", "lasso"),
    "editor.selected": ("已选 {0} 栋", "{0} selected"),
    "editor.clear": ("清除选择", "clear"),
    "editor.move_to": ("移动到网格", "Move to grid"),
    "editor.move": ("移动", "Move"),
    "editor.grid": ("网格", "Grid"),
    "editor.split": ("拆分", "Split"),
    "editor.merge_into": ("并入目标网格", "Merge into target"),
    "editor.lock": ("锁定", "Lock"),
    "editor.undo": ("撤销", "Undo"),
    "editor.redo": ("重做", "Redo"),
    "editor.rebalance": ("重新平衡未锁定网格", "Re-balance the rest"),
    "editor.diff": ("与启用方案对比", "Diff with the active plan"),
    "editor.csv": ("导出公示清单 CSV", "Export the notice list (CSV)"),
    "editor.reload": ("重新载入", "Reload"),
    "editor.grids": ("网格", "grids"),
    "editor.households": ("户", "households"),
    "editor.max_dev": ("最大偏差", "max deviation"),
    "editor.mean_dev": ("平均偏差", "mean deviation"),
    "editor.beyond": ("超出 ±{0}% 的网格", "grids beyond ±{0}%"),
    "editor.col_code": ("网格", "Grid"),
    "editor.col_hh": ("户数", "Households"),
    "editor.col_pop": ("人口", "People"),
    "editor.col_dev": ("偏差", "Deviation"),
    "editor.col_bld": ("楼栋", "Buildings"),
    "editor.col_worker": ("网格员", "Worker"),
    "editor.col_lock": ("锁定", "Lock"),
    "editor.moved": ("已移动 {0} 栋建筑", "{0} buildings moved"),
    "editor.done": ("已完成：{0}", "done: {0}"),
    "editor.refused": ("不允许", "Refused"),
    "editor.conflict": ("冲突", "Conflict"),
    "editor.running": ("正在重新平衡…", "Re-balancing…"),
    "editor.failed": ("重新平衡失败", "Re-balancing failed"),
    "editor.pick_grid": ("请先选择目标网格", "choose a target grid first"),
    "editor.pick_buildings": ("请先选择建筑", "select buildings first"),
    "editor.diff_summary": ("{0} 栋建筑（{1} 户）调整网格；{2} 个网格变化、{3} 个新增、{4} 个撤销；"
                            "{5} 个网格的网格员变化",
                            "{0} buildings ({1} households) change grid; {2} grids changed, "
                            "{3} new, {4} gone; {5} grids change worker"),
    "editor.from": ("原网格", "From"),
    "editor.to": ("新网格", "To"),
    "deadline.overdue": ("已超期", "overdue"),
    "deadline.due_soon": ("24 小时内到期", "due within 24 h"),
    "deadline.on_time": ("未到期", "on time"),
    "deadline.none": ("无时限", "no deadline"),
}

STAGES: dict[str, tuple[str, str]] = {
    "reported": ("上报", "reported"),
    "accepted": ("立案", "accepted"),
    "dispatched": ("派遣", "dispatched"),
    "in_progress": ("处置中", "in progress"),
    "handled": ("已反馈", "handled"),
    "verified": ("已核查", "verified"),
    "closed": ("结案", "closed"),
    "returned": ("退回", "returned"),
    "rejected": ("作废", "rejected"),
    "referred": ("转办待承办", "referred"),
    "org_accepted": ("单位承办中", "with the organisation"),
}

CATEGORIES: dict[str, tuple[str, str]] = {
    "environment": ("环境卫生", "environment and sanitation"),
    "public_facilities": ("公共设施", "public facilities"),
    "public_order": ("社会治安", "public order"),
    "neighbour_dispute": ("邻里纠纷", "neighbour disputes"),
    "parking": ("停车管理", "parking"),
    "noise": ("噪声扰民", "noise"),
    "stray_animals": ("流浪动物", "stray animals"),
    "building_safety": ("房屋安全", "building safety"),
    "micro_wish": ("微心愿", "micro-wishes"),
}


def check_lang(lang: str) -> str:
    """``lang`` if it is "zh" or "en".

    Raises:
        ValueError: any other value, with a bilingual message.
    """
    if lang not in LANGS:
        raise ArgumentError(f"不支持的语言 {lang!r}，请用 zh 或 en",
                            f"unsupported language {lang!r}: use zh or en")
    return lang


def t(key: str, lang: str, *args: object) -> str:
    """The text ``key`` in ``lang``, formatted with ``args``."""
    zh, en = _TEXT[key]
    return (en if lang == "en" else zh).format(*args)


def texts(prefix: str, lang: str) -> dict[str, str]:
    """Every text whose key starts with ``prefix`` + ".", by the rest of its key, unformatted
    (``{0}`` left for the page's script to fill)."""
    start = prefix + "."
    return {key[len(start):]: pair[lang == "en"] for key, pair in _TEXT.items()
            if key.startswith(start)}


def stage_label(stage: str, lang: str) -> str:
    """The label of an incident stage (the stage itself when unknown)."""
    pair = STAGES.get(stage)
    return stage if pair is None else pair[lang == "en"]


def category_label(category: str, lang: str) -> str:
    """The label of an incident category; a category not in the standard list is shown as is."""
    pair = CATEGORIES.get(category)
    return category if pair is None else pair[lang == "en"]


def yes_no(value: object, lang: str) -> str:
    """是/否 or yes/no for the truth of ``value``."""
    return t("v.yes" if bool(value) else "v.no", lang)


def metres(value: float, lang: str) -> str:
    """A length for people: "850 米" / "1.2 km"."""
    if value >= 1000:
        return f"{value / 1000:.1f} 公里" if lang == "zh" else f"{value / 1000:.1f} km"
    return f"{value:.0f} 米" if lang == "zh" else f"{value:.0f} m"


def minutes(seconds: float, lang: str) -> str:
    """A duration for people: "25 分钟" / "1 h 05 min"."""
    total = round(seconds / 60)
    h, m = divmod(total, 60)
    if lang == "zh":
        return f"{h} 小时 {m:02d} 分钟" if h else f"{m} 分钟"
    return f"{h} h {m:02d} min" if h else f"{m} min"


def channel_label(channel: str, lang: str) -> str:
    """The name of a report's channel (dispatch.channels; the channel itself when unknown)."""
    pair = CHANNEL_NAMES.get(channel)
    return channel if pair is None else pair[lang == "en"]
