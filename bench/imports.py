"""What each library costs at import: resident memory and time, each imported alone into a
fresh interpreter (so one library's share is not hidden in another's), then warnd's daemon
module as `warnd run` imports it at start. Part of the answer to "where does the daemon's
memory go before it loads a single region"."""

from __future__ import annotations

import json
import subprocess
import sys

from bench.common import Row

# Third-party modules warnd imports, and the names they go by; then warnd's own entry points.
MODULES = [
    ("numpy", "numpy"),
    ("shapely", "shapely"),
    ("pydantic", "pydantic"),
    ("httpx", "httpx"),
    ("aiohttp", "aiohttp"),
    ("tweepy (requests, oauthlib)", "tweepy"),
    ("apscheduler", "apscheduler.schedulers.asyncio"),
    ("jinja2", "jinja2"),
    ("structlog", "structlog"),
    ("prometheus_client", "prometheus_client"),
    ("psycopg", "psycopg"),
    ("yaml", "yaml"),
    ("defusedxml", "defusedxml.ElementTree"),
    ("rapidfuzz", "rapidfuzz.process"),
    ("argon2", "argon2"),
    ("PIL (Pillow: maps)", "PIL.ImageDraw"),
    ("regex", "regex"),
    ("twitter_text", "twitter_text"),
    ("warnd.app (the daemon, before any config)", "warnd.app"),
    ("warnd.maps (drawn maps)", "warnd.maps"),
]

_PROBE = """
import json, sys, time
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
base = rss(); t0 = time.perf_counter()
import importlib; importlib.import_module(sys.argv[1])
print(json.dumps({"mb": rss() - base, "ms": (time.perf_counter() - t0) * 1000, "base_mb": base}))
"""


def one(module: str, runs: int = 3) -> dict[str, float]:
    """The median of `runs` fresh interpreters (the first fills the disk cache)."""
    got = []
    for _ in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, check=True)
        got.append(json.loads(out.stdout))
    got = sorted(got[1:], key=lambda g: g["ms"])
    mid = got[len(got) // 2]
    return {"mb": round(mid["mb"], 1), "ms": round(mid["ms"], 1), "base_mb": round(mid["base_mb"], 1)}


def imports() -> list[Row]:
    rows = []
    for label, module in MODULES:
        f = one(module)
        rows.append(
            Row(
                "imports",
                f"import {label}, alone in a fresh interpreter ({f['base_mb']:.0f} MB before)",
                f"+{f['mb']:.1f} MB resident, {f['ms']:.0f} ms",
                {"module": module, **f},
            )
        )
    return rows
