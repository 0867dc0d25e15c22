"""Channels: how a report or a micro-wish reached the community.

Older residents often cannot use phone apps; a street office must see how many reports came by
each way and make sure the ones without a smartphone are not left behind. Every report and wish
records one of :data:`CHANNELS`. The vocabulary is ours (no standard names these); Open311
carries it as an extension field.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from gis.errors import ArgumentError

Channel = Literal["app", "phone_call", "walk_in", "door_visit", "on_behalf", "qr_poster",
                  "open311", "patrol"]
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)

#: Users read these (zh, en).
CHANNEL_NAMES: Final[dict[str, tuple[str, str]]] = {
    "app": ("手机应用", "phone app"),
    "phone_call": ("电话（热线）", "phone call (hotline)"),
    "walk_in": ("到访（社区服务站）", "walk-in (community service station)"),
    "door_visit": ("入户走访", "door-to-door visit"),
    "on_behalf": ("网格员代报", "entered by a grid worker on the resident's behalf"),
    "qr_poster": ("楼栋二维码", "QR poster on the building"),
    "open311": ("Open311 接口", "Open311 client"),
    "patrol": ("网格员巡查发现", "found by a grid worker on patrol"),
}

#: Channels a resident without a smartphone uses: someone else types the report in.
ASSISTED_CHANNELS: Final[frozenset[str]] = frozenset({"phone_call", "walk_in", "door_visit",
                                                      "on_behalf"})


def check_channel(channel: str) -> str:
    """``channel`` if it is one of :data:`CHANNELS`.

    Raises:
        gis.errors.ArgumentError: an unknown channel, with the known ones named.
    """
    if channel not in CHANNELS:
        raise ArgumentError(f"未知的上报渠道 {channel!r}：应为 {', '.join(CHANNELS)}",
                            f"unknown channel {channel!r}: one of {', '.join(CHANNELS)}")
    return channel
