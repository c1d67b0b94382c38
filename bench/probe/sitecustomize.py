"""Stage marks inside a daemon under the benchmark's `path` section (bench/daemon.py: path).

Python imports `sitecustomize` at start from the first folder on its path that has one; the
section starts its daemon with this folder first on PYTHONPATH and WARND_BENCH_PROBE naming a
file, and only a `warnd.cli run` process with both is marked. Each mark is one line, the wall
time (the feed server's and the fake X's clock) and the stage: `ingest>` when the document's
ingest starts on the store's thread, `ingest<` when it has committed, and so on for each stage
of the text post's path. A stage renamed in warnd fails the section loudly (AttributeError),
never silently measures nothing."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

_OUT = os.environ.get("WARND_BENCH_PROBE")


def _install(out: str) -> None:
    from warnd.channels.x import XSender
    from warnd.channels.x_wire import Route
    from warnd.pollers.fetch import Fetcher
    from warnd.runtime.dispatcher import Dispatcher
    from warnd.runtime.ingest import Ingest

    # Line-buffered and shared by every thread: a write of one short line is one write call.
    sink = open(out, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
    lock = threading.Lock()

    def mark(name: str) -> None:
        line = f"{time.time():.6f} {name}\n"
        with lock:
            sink.write(line)

    def sync(cls: type, attr: str, name: str) -> None:
        orig: Callable[..., Any] = getattr(cls, attr)

        @functools.wraps(orig)
        def marked(*a: Any, **k: Any) -> Any:
            mark(name + ">")
            try:
                return orig(*a, **k)
            finally:
                mark(name + "<")

        setattr(cls, attr, marked)

    def coro(cls: type, attr: str, name: str) -> None:
        orig: Callable[..., Any] = getattr(cls, attr)

        @functools.wraps(orig)
        async def marked(*a: Any, **k: Any) -> Any:
            mark(name + ">")
            try:
                return await orig(*a, **k)
            finally:
                mark(name + "<")

        setattr(cls, attr, marked)

    coro(Fetcher, "fetch", "fetch")
    sync(Ingest, "handle", "ingest")
    sync(Dispatcher, "_claim", "claim")
    coro(XSender, "send", "send")
    coro(XSender, "_post_part", "part")
    sync(XSender, "_create", "create")
    sync(Route, "send", "wire")


if _OUT and "warnd.cli" in sys.orig_argv and "run" in sys.orig_argv:
    _install(_OUT)
