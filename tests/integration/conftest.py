"""Fixtures the integration tests share."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from warnd.testing.fake_x import FakeX

# The X app and the two accounts the channel tests post as.
APP = ("app-key", "app-secret")
USERS = {"tok-aceh": ("sec-aceh", "aceh"), "tok-ntb": ("sec-ntb", "ntb")}


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every log line, whatever level an earlier test (a CLI run) left the logging at."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with structlog.testing.capture_logs() as captured:
            yield captured
    finally:
        structlog.configure(**saved)


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    """The fake X API on loopback, knowing APP and USERS."""
    x = FakeX(consumer_key=APP[0], consumer_secret=APP[1], users=USERS)
    x.start()
    yield x
    x.stop()
