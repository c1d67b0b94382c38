"""How long a sender waits for a warning's map: a map already drawn goes with a text that waits
for nothing, and a source that overstays its word is not waited for."""

from __future__ import annotations

import asyncio

from warnd.channels.base import Picture, picture_within

MAP = Picture(b"\x89PNG", "Peta")


class Ready:
    async def wait(self, seconds: float) -> Picture | None:
        return MAP


class Overstays:
    """Says it waits at most `seconds`, sleeps a whole second."""

    async def wait(self, seconds: float) -> Picture | None:
        await asyncio.sleep(1.0)
        return MAP


def test_a_map_already_drawn_is_taken_when_nothing_is_waited_for() -> None:
    assert asyncio.run(picture_within(Ready(), 0.0)) is MAP


def test_a_source_that_overstays_its_word_is_left_behind() -> None:
    async def go() -> Picture | None:
        # The guard fails the test (TimeoutError) if picture_within waited for the source.
        return await asyncio.wait_for(picture_within(Overstays(), 0.05), 0.8)

    assert asyncio.run(go()) is None
