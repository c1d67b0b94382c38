"""`warnd run` as a real subprocess, with NOTIFY_SOCKET bound here: READY is when systemd would
consider it up, and its log, CPU time and peak memory are readable while it runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warnd.testing.notify import NotifySocket


class DaemonProcess:
    def __init__(self, cfg: Path, env: dict[str, str] | None = None, *, cwd: Path | None = None) -> None:
        self.folder = cfg.parent
        self.notify = NotifySocket(self.folder / "notify.sock")
        self.log = self.folder / "daemon.log"
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            env={**os.environ, **(env or {}), "NOTIFY_SOCKET": str(self.notify.path), "PYTHONUNBUFFERED": "1"},
            cwd=cwd,
        )

    def ready(self, timeout: float = 60) -> float:
        """Seconds from exec to READY=1."""
        at = self.notify.wait("READY=1", timeout)
        if at is None:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"the daemon did not become ready in {timeout:g}s:\n{tail}")
        return at - self.started

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now (VmRSS) or at its peak (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field}")

    def peak_rss_mb(self) -> float:
        return self.rss_mb("VmHWM")

    def log_lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or the OOM killer."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.notify.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.notify.close()
        return int(self.proc.returncode)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.01) -> Any:
    """The predicate's first true value, polling every `every` seconds; RuntimeError after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:g}s waiting for {what}")
