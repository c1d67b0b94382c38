"""Fixtures the integration tests share."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog


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
