"""kill -9 campaign at CI size: 10 kills while 300 quakes replay into 5 X accounts and 2 partners."""

import pytest

from tests.reliability.campaign import kill9

pytestmark = pytest.mark.acceptance


@pytest.mark.timeout(400)
def test_ten_kills_lose_nothing_and_repeat_nothing(tmp_path):
    out = kill9(tmp_path, kills=10)
    print(out)
    assert out.expected == 300 + 300 + 120
    assert (out.lost, out.duplicated, out.crashes) == (0, 0, 0), out
    assert out.delivered == out.expected
