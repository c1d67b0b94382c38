"""warnd's time follows the system clock's rate, not its steps."""

from warnd.clock import SteadyTime


class Source:
    def __init__(self) -> None:
        self.wall = 1_800_000_000.0
        self.boot = 100.0

    def tick(self, seconds: float, slew: float = 0.0) -> None:
        self.boot += seconds
        self.wall += seconds + slew


def test_steps_are_taken_out_and_reported_slewing_is_followed():
    src = Source()
    t = SteadyTime(lambda: src.wall, lambda: src.boot)
    start = t()
    src.tick(10)
    assert t() == start + 10
    src.wall += 3600  # a step forward
    src.tick(1)
    assert t() == start + 11
    assert t.steps() == [3600.0] and t.steps() == []
    src.wall -= 7200  # and back past where it was
    src.tick(1)
    assert t() == start + 12 and t.offset == -3600.0
    assert t.steps() == [-7200.0]
    # NTP slewing 500 ppm over an hour (1.8 s) is followed, not taken for a step.
    src.tick(3600, slew=1.8)
    assert abs(t() - (start + 12 + 3600 + 1.8)) < 1e-6
    assert t.steps() == []


def test_small_adjustments_under_a_second_are_followed():
    src = Source()
    t = SteadyTime(lambda: src.wall, lambda: src.boot)
    start = t()
    src.wall += 0.4
    src.tick(1)
    assert abs(t() - (start + 1.4)) < 1e-9 and t.steps() == []
