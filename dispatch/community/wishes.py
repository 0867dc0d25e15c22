"""Micro-wishes (微心愿): what residents may wish for, the skills that fulfil it, and the lifecycle.

A wish is posted online (by the resident, or by a grid worker or hotline operator on their
behalf), claimed by a volunteer or party member, fulfilled offline (done, with the hours spent)
and confirmed by the resident. Stages::

    posted 已发布 -> claimed 已认领 -> done 已完成 -> confirmed 已确认
    posted/claimed -> cancelled 已撤销;  claimed -> posted (unclaim 放弃认领);
    done -> claimed (reopen 未办好，退回认领人)

Every change is a :class:`Step` in an append-only history; :func:`restore_wish` replays a
stored history through the same table, so a corrupt one is refused. The vocabularies are ours
(no standard names micro-wishes); each name is (zh, en). Hand-written: a five-stage table does
not need a state-machine library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from dispatch.incidents.rules import BEIJING, beijing
from gis.errors import WanggeError


class WishError(WanggeError, ValueError):
    """A bad wish (unknown category or skill, bad hours) or a step its stage forbids."""


#: skill id -> (zh, en)
SKILLS: Final[dict[str, tuple[str, str]]] = {
    "errands": ("跑腿代办", "errands and shopping"),
    "repair": ("家居维修", "home repairs"),
    "electrical": ("水电维修", "plumbing and electrical repairs"),
    "cleaning": ("清洁整理", "cleaning and tidying"),
    "cooking": ("做饭送餐", "cooking and meal delivery"),
    "escort": ("陪同就医", "escort to hospital or appointments"),
    "medical": ("医疗护理", "nursing and health checks"),
    "companionship": ("陪伴聊天", "companionship"),
    "counselling": ("心理疏导", "counselling"),
    "tutoring": ("课业辅导", "tutoring children"),
    "digital": ("智能手机教学", "smartphone and online help"),
    "legal": ("法律咨询", "legal advice"),
    "haircut": ("理发", "haircuts"),
    "donation": ("捐赠物资", "donating goods"),
    "driving": ("驾车接送", "driving"),
}

#: category id -> (zh, en, skills any one of which fulfils it, usual hours)
CATEGORIES: Final[dict[str, tuple[str, str, frozenset[str], float]]] = {
    "daily_care": ("生活照料", "daily care", frozenset({"errands", "cleaning", "cooking"}), 2.0),
    "meals": ("助餐送餐", "meals", frozenset({"cooking"}), 1.0),
    "shopping": ("代买代购", "shopping errands", frozenset({"errands"}), 1.0),
    "home_repair": ("家电家居维修", "home and appliance repair",
                    frozenset({"repair", "electrical"}), 1.5),
    "medical_escort": ("陪同就医", "escort to hospital", frozenset({"escort", "medical",
                                                                  "driving"}), 3.0),
    "companionship": ("陪伴关怀", "companionship", frozenset({"companionship",
                                                             "counselling"}), 2.0),
    "tutoring": ("课业辅导", "tutoring", frozenset({"tutoring"}), 2.0),
    "digital_help": ("数字助老", "smartphone help", frozenset({"digital"}), 1.0),
    "legal_aid": ("法律援助", "legal aid", frozenset({"legal"}), 1.0),
    "haircut": ("上门理发", "haircut at home", frozenset({"haircut"}), 1.0),
    "goods": ("物资心愿", "goods (a gift wished for)", frozenset({"donation"}), 0.5),
    "cleaning": ("环境清洁", "cleaning", frozenset({"cleaning"}), 2.0),
}

STAGES: Final[dict[str, tuple[str, str]]] = {
    "posted": ("已发布", "posted"),
    "claimed": ("已认领", "claimed"),
    "done": ("已完成", "done"),
    "confirmed": ("已确认", "confirmed"),
    "cancelled": ("已撤销", "cancelled"),
}
#: action -> (stage it moves to, zh, en)
ACTIONS: Final[dict[str, tuple[str, str, str]]] = {
    "claim": ("claimed", "认领", "claim"),
    "unclaim": ("posted", "放弃认领", "unclaim"),
    "done": ("done", "完成", "done"),
    "confirm": ("confirmed", "确认", "confirm"),
    "cancel": ("cancelled", "撤销", "cancel"),
    "reopen": ("claimed", "退回重办", "reopen"),
}
#: stage -> actions allowed in it
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "posted": frozenset({"claim", "cancel"}),
    "claimed": frozenset({"unclaim", "done", "cancel"}),
    "done": frozenset({"confirm", "reopen"}),
    "confirmed": frozenset(),
    "cancelled": frozenset(),
}
#: steps that change nothing but are kept (a wrong confirmation code, a remark)
NOTES: Final[frozenset[str]] = frozenset({"code_failed", "remark"})
OPEN_STAGES: Final[frozenset[str]] = frozenset({"posted", "claimed", "done"})
MAX_HOURS = 24.0  # hours one wish may record


def check_skills(skills: Iterable[str]) -> list[str]:
    """Sorted distinct skill ids, each one of :data:`SKILLS` (id, or its zh or en name).

    Raises:
        WishError: an unknown skill, with the known ones named.
    """
    out: set[str] = set()
    for text in skills:
        key = text.strip()
        found = key if key in SKILLS else next(
            (k for k, (zh, en) in SKILLS.items() if key in (zh, en)), None)
        if found is None:
            raise WishError(f"未知技能 {key!r}：应为 {', '.join(SKILLS)}",
                            f"unknown skill {key!r}: one of {', '.join(SKILLS)}")
        out.add(found)
    return sorted(out)


def check_category(category: str) -> str:
    """The category id of ``category`` (id, or its zh or en name).

    Raises:
        WishError: an unknown category, with the known ones named.
    """
    key = category.strip()
    if key in CATEGORIES:
        return key
    for k, (zh, en, _, _) in CATEGORIES.items():
        if key in (zh, en):
            return k
    raise WishError(f"未知心愿类别 {category!r}：应为 {', '.join(CATEGORIES)}",
                    f"unknown wish category {category!r}: one of {', '.join(CATEGORIES)}")


def category_skills(category: str) -> frozenset[str]:
    """The skills any one of which fulfils a wish of ``category``."""
    return CATEGORIES[check_category(category)][2]


def check_hours(hours: float) -> float:
    """Hours spent on one wish: more than 0, at most :data:`MAX_HOURS`.

    Raises:
        WishError: hours out of range.
    """
    if not 0 < hours <= MAX_HOURS:
        raise WishError(f"服务时长应在 0 到 {MAX_HOURS:g} 小时之间（不含 0），收到 {hours:g}",
                        f"hours must be above 0 and at most {MAX_HOURS:g}, got {hours:g}")
    return float(hours)


@dataclass(frozen=True)
class Step:
    """One entry of a wish's history (never changed once written).

    Attributes:
        at: when (timezone-aware).
        stage: the stage after the step.
        action: ``post`` or one of :data:`ACTIONS`.
        who: the account or person acting.
        note: free text.
        volunteer_id: the claimant after the step (None when unclaimed).
        hours: the hours recorded by a ``done`` step.
    """

    at: datetime
    stage: str
    action: str
    who: str
    note: str = ""
    volunteer_id: int | None = None
    hours: float | None = None


@dataclass
class Wish:
    """A micro-wish: category, stage, claimant, hours and history.

    Create with :func:`new_wish`; change only with :func:`act`, which keeps the history
    append-only.
    """

    wish_id: str
    category: str
    posted_at: datetime
    stage: str = "posted"
    volunteer_id: int | None = None
    hours: float | None = None
    _history: list[Step] = field(default_factory=list, repr=False)

    @property
    def history(self) -> tuple[Step, ...]:
        """The steps so far, oldest first (read-only)."""
        return tuple(self._history)

    @property
    def is_open(self) -> bool:
        """Not yet confirmed or cancelled."""
        return self.stage in OPEN_STAGES

    def when(self, action: str) -> datetime | None:
        """When the last ``action`` step happened; None if never."""
        return next((s.at for s in reversed(self._history) if s.action == action), None)


def new_wish(wish_id: str, category: str, who: str, at: datetime | None = None,
             note: str = "") -> Wish:
    """A posted wish of ``category`` (id or name) with its first step.

    Raises:
        WishError: an unknown category.
    """
    at = beijing(at or datetime.now(BEIJING))
    wish = Wish(wish_id, check_category(category), at)
    wish._history.append(Step(at, "posted", "post", who, note))
    return wish


def allowed_actions(wish: Wish) -> list[str]:
    """The actions ``wish`` allows now."""
    return sorted(ALLOWED[wish.stage])


def _check_time(wish: Wish, at: datetime | None) -> datetime:
    at = beijing(at or datetime.now(BEIJING))
    last = wish._history[-1].at if wish._history else at
    if at < last:
        raise WishError(f"时间 {at:%Y-%m-%d %H:%M} 早于上一步 {last:%Y-%m-%d %H:%M}",
                        f"time {at:%Y-%m-%d %H:%M} is before the last step "
                        f"{last:%Y-%m-%d %H:%M}")
    return at


def check_allowed(wish: Wish, action: str) -> None:
    """Raise unless ``wish`` allows ``action`` now.

    Raises:
        WishError: an unknown action, or one the stage does not allow, with the allowed ones.
    """
    if action not in ACTIONS:
        raise WishError(f"未知操作 {action!r}：应为 {', '.join(ACTIONS)}",
                        f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    if action not in ALLOWED[wish.stage]:
        zh_stage, en_stage = STAGES[wish.stage]
        nexts = allowed_actions(wish)
        raise WishError(
            f"心愿 {wish.wish_id} 当前为“{zh_stage}”，不能{ACTIONS[action][1]}；可执行："
            f"{'、'.join(ACTIONS[a][1] for a in nexts) or '无（已结束）'}",
            f"wish {wish.wish_id} is {en_stage}: it cannot take {ACTIONS[action][2]}; "
            f"allowed: {', '.join(nexts) or 'none (final stage)'}")


def add_note(wish: Wish, action: str, who: str, note: str = "",
             at: datetime | None = None) -> Step:
    """A step that changes nothing (one of :data:`NOTES`).

    Raises:
        WishError: not one of :data:`NOTES`, or a time before the last step.
    """
    if action not in NOTES:
        raise WishError(f"未知记录类型 {action!r}", f"unknown note kind {action!r}")
    step = Step(_check_time(wish, at), wish.stage, action, who, note, wish.volunteer_id)
    wish._history.append(step)
    return step


def act(wish: Wish, action: str, who: str, *, note: str = "", at: datetime | None = None,
        volunteer_id: int | None = None, hours: float | None = None) -> Step:
    """Move ``wish`` on by ``action`` and append the step.

    Args:
        action: one of :data:`ACTIONS`.
        who: the account or person acting.
        note: free text kept with the step.
        at: when (default now); not before the last step.
        volunteer_id: the claimant, required by ``claim``.
        hours: hours spent, required by ``done`` (:func:`check_hours`).

    Raises:
        WishError: an unknown action, one the stage does not allow (a claimed wish claimed
            again), a claim without volunteer, a done without hours, a time before the last
            step.
    """
    at = _check_time(wish, at)
    check_allowed(wish, action)
    stage = ACTIONS[action][0]
    if action == "claim":
        if volunteer_id is None:
            raise WishError("认领须指定志愿者", "a claim needs a volunteer")
        wish.volunteer_id = volunteer_id
    elif action == "unclaim":
        wish.volunteer_id = None
    elif action == "done":
        if hours is None:
            raise WishError("完成须填写服务时长（小时）", "done needs the hours spent")
        wish.hours = check_hours(hours)
    elif action == "reopen":
        wish.hours = None
    step = Step(at, stage, action, who, note, wish.volunteer_id,
                wish.hours if action == "done" else None)
    wish.stage = stage
    wish._history.append(step)
    return step


def restore_wish(wish_id: str, category: str, steps: Iterable[Step]) -> Wish:
    """A wish rebuilt from its stored history, every step replayed through the table.

    Raises:
        WishError: the history does not start with the post or holds an illegal step.
    """
    steps = list(steps)
    if not steps or steps[0].action != "post":
        raise WishError("心愿历史须以发布开始", "a wish history must start with its posting")
    wish = new_wish(wish_id, category, steps[0].who, steps[0].at, steps[0].note)
    for s in steps[1:]:
        if s.action in NOTES:
            add_note(wish, s.action, s.who, s.note, s.at)
        else:
            act(wish, s.action, s.who, note=s.note, at=s.at, volunteer_id=s.volunteer_id,
                hours=s.hours)
    return wish
