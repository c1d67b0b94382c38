"""What the daemon-against-the-fake-X tests share."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from warnd.testing.fake_x import FakeX


@pytest.fixture
def fake_x_for() -> Iterator[Callable[[list[str]], FakeX]]:
    """A fake X for the named accounts, started, with each account's credentials (token
    tok-<name>, consumer key app-key) in the environment the daemon inherits."""
    started: list[FakeX] = []
    env: dict[str, str] = {}

    def make(accounts: list[str]) -> FakeX:
        users = {f"tok-{a}": (f"sec-{a}", a) for a in accounts}
        fake = FakeX(consumer_key="app-key", consumer_secret="app-secret", users=users)
        fake.start()
        started.append(fake)
        env.update({"WARND_SECRET_X_APP_CONSUMER_KEY": "app-key", "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret"})
        for a in accounts:
            env[f"WARND_SECRET_X_{a.upper().replace('-', '_')}_ACCESS_TOKEN"] = f"tok-{a}"
            env[f"WARND_SECRET_X_{a.upper().replace('-', '_')}_ACCESS_TOKEN_SECRET"] = f"sec-{a}"
        os.environ.update(env)
        return fake

    try:
        yield make
    finally:
        for k in env:
            os.environ.pop(k, None)
        for fake in started:
            fake.stop()


def history(cfg: Path) -> list[dict[str, object]]:
    """`warnd history --format json` of a configuration: every warning with its deliveries,
    newest first (what an operator reads, from the store the daemon writes)."""
    out = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "history", "-c", str(cfg), "--limit", "1000", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]
