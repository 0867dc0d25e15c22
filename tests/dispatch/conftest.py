"""Fixtures of the dispatch tests: the demo's walk network, built once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def demo_network(demo_area):
    """The walk network of the demo's streets; shared, so tests must not change it."""
    from dispatch.routing.network import WalkNetwork

    return WalkNetwork.from_graph(demo_area.streets)
