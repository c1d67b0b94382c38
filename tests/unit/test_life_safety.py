import pytest

from warnd.model import Priority, life_safety


@pytest.mark.parametrize(
    ("hazard", "priority", "levels", "expected"),
    [
        ("tsunami", Priority.LOW, ("waspada",), True),  # a tsunami at any level
        ("tsunami", Priority.NORMAL, (None,), True),
        ("flood", Priority.HIGH, ("siaga1",), True),  # Jakarta's highest gate level
        ("flood", Priority.HIGH, ("siaga2",), False),
        ("flood", Priority.HIGH, ("normal",), False),
        ("other", Priority.NORMAL, ("AWAS",), True),
        ("earthquake", Priority.NORMAL, (None, "MMI 5", "awas"), True),  # one region at Awas
        ("earthquake", Priority.HIGH, (None, "MMI 7"), False),
        ("weather", Priority.LIFE_SAFETY, (None,), True),  # the rule says so
        (None, Priority.NORMAL, (), False),
    ],
)
def test_the_one_definition(hazard, priority, levels, expected):
    assert life_safety(hazard, priority, levels) is expected
