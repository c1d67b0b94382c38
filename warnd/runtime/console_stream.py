"""The operator console's stream: the state document as server-sent events, to every open
stream from one shared reader that looks every POLL seconds and sends only what differs (ages
and uptimes aside), and no reader while no stream is open.

At most MAX_STREAMS streams are open at once (each browser tab holds one): the operator
listener keeps the rest of its connections (32) for /healthz, /metrics, /status and the
console's own requests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from warnd.obs import get_logger
from warnd.runtime.console_state import fingerprint

log = get_logger("warnd.console")

MAX_STREAMS = 8
POLL = 0.5
# How often a quiet stream says it is alive.
KEEPALIVE = 15.0
# How often every stream looks again that its login still holds (logged out, removed, expired).
RECHECK = 5.0
# How soon a stream notices its client has gone (its slot is free again).
CHECK = 1.0


class Hub:
    """One reader of the state for every open stream, none while no stream is open: each
    subscriber gets the latest document at once, then each one that differs."""

    def __init__(self, read: Callable[[], Awaitable[dict[str, Any]]], every: float = POLL) -> None:
        self.read = read
        self.every = every
        self.open = 0
        self.subscribers: set[asyncio.Queue[bytes | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._last: bytes | None = None

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2)
        self.subscribers.add(q)
        if self._last is not None:
            q.put_nowait(self._last)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="console-stream")
        return q

    def unsubscribe(self, q: asyncio.Queue[bytes | None]) -> None:
        self.subscribers.discard(q)

    async def _run(self) -> None:
        seen: str | None = None
        failing = False
        try:
            while self.subscribers:
                try:
                    doc = await self.read()
                    failing = False
                except Exception as e:
                    # The store out of reach: the streams stay open and the next round tries
                    # again; said once per spell, not twice a second.
                    if not failing:
                        log.warning("console.state_failed", error=repr(e))
                    failing = True
                    doc = None
                if doc is not None and (mark := fingerprint(doc)) != seen:
                    seen = mark
                    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
                    self._last = b"event: state\ndata: " + body.encode() + b"\n\n"
                    for q in list(self.subscribers):
                        _offer(q, self._last)
                await asyncio.sleep(self.every)
        finally:
            self._last = None

    async def serve(
        self, request: web.Request, still_allowed: Callable[[], Awaitable[bool]]
    ) -> web.StreamResponse | None:
        """One stream, until its client goes, its login ends, or the console closes; None when
        MAX_STREAMS are open already."""
        if self.open >= MAX_STREAMS:
            return None
        self.open += 1
        q = self.subscribe()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        loop = asyncio.get_running_loop()
        try:
            await response.prepare(request)
            last_write = last_check = loop.time()
            while True:
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                try:
                    message = await asyncio.wait_for(q.get(), CHECK)
                except TimeoutError:
                    message = b""
                if message is None:
                    break
                now = loop.time()
                # On its own clock, whether or not updates arrive: a stream whose state changes at
                # every poll still ends soon after its operator logs out or is removed.
                if now - last_check >= RECHECK:
                    last_check = now
                    if not await still_allowed():
                        break
                if message:
                    await response.write(message)
                    last_write = now
                elif now - last_write >= KEEPALIVE:
                    await response.write(b": keepalive\n\n")
                    last_write = now
        except ConnectionError:
            pass  # the client went mid-write
        finally:
            self.unsubscribe(q)
            self.open -= 1
        return response

    async def close(self) -> None:
        for q in list(self.subscribers):
            _offer(q, None)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _offer(q: asyncio.Queue[bytes | None], item: bytes | None) -> None:
    # Only the newest document matters: a slow reader skips what it had no time for.
    while q.full():
        q.get_nowait()
    q.put_nowait(item)
