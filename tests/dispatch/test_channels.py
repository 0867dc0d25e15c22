"""The channel vocabulary of reports and wishes."""

import pytest

from dispatch.channels import ASSISTED_CHANNELS, CHANNEL_NAMES, CHANNELS, check_channel
from gis.errors import ArgumentError


def test_every_channel_has_both_names_and_assisted_ones_are_channels():
    assert set(CHANNEL_NAMES) == set(CHANNELS)
    assert all(zh and en for zh, en in CHANNEL_NAMES.values())
    assert ASSISTED_CHANNELS.issubset(CHANNELS)


def test_an_unknown_channel_is_refused_in_both_languages():
    assert check_channel("walk_in") == "walk_in"
    with pytest.raises(ArgumentError) as err:
        check_channel("wechat")
    assert "未知的上报渠道" in err.value.zh and "unknown channel" in err.value.en
