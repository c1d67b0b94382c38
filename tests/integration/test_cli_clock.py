"""The commands take "now" from the clock they are given; `--at` still wins over it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from tests.conftest import ROOT
from warnd.cli import main
from warnd.clock import FixedClock

CONFIG = ROOT / "config" / "warnd.yaml"
TERKINI = ROOT / "feeds/samples/bmkg-tews/gempaterkini_2023-07-12_muhk01.json"
# Far from today: a command reading the system's time instead would not show it.
GIVEN = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """`simulate` sets the logging up for itself (errors only): the tests after these capture
    every level."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_simulate_runs_at_the_clock_given(capsys) -> None:
    assert main(["simulate", "-c", str(CONFIG), "--explain", str(TERKINI)], clock=FixedClock(GIVEN)) == 0
    out = capsys.readouterr().out
    assert f" at {GIVEN.isoformat()}: " in out


def test_at_wins_over_the_clock(capsys) -> None:
    argv = ["simulate", "-c", str(CONFIG), "--explain", "--at", "2026-11-29T00:00:00Z", str(TERKINI)]
    assert main(argv, clock=FixedClock(GIVEN)) == 0
    out = capsys.readouterr().out
    assert " at 2026-11-29T00:00:00+00:00: " in out and GIVEN.isoformat() not in out
