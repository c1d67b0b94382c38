"""The system clock stepping forward and back during a run changes no delivery outcome and no
dedupe decision; warnd says it saw the steps."""

import os

import pytest

from tests.reliability.campaign import clock_steps

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]


@pytest.mark.timeout(300)
def test_clock_steps_change_no_delivery_and_no_dedupe_decision(tmp_path):
    try:
        out = clock_steps(tmp_path, events=120)
    except FileNotFoundError as e:
        if os.environ.get("WARND_REQUIRE_FAKETIME"):
            raise
        pytest.skip(str(e))
    print(out)
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
    # Every webhook was signed on warnd's own timeline: none refused as too old or in the future.
    assert out.extra["rejected"] == 0
    # warnd saw steps both ways, each a multiple of the half hours written, and back to zero.
    steps = [round(s) for s in out.extra["steps"]]
    assert any(s > 0 for s in steps) and any(s < 0 for s in steps), steps
    assert all(s % 1800 == 0 for s in steps) and sum(steps) == 0, steps
    # With the clock back where it was, /healthz has nothing to say about it.
    assert out.extra["health"]["status"] == "ok"
