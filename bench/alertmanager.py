"""Side by side: Prometheus Alertmanager (Debian's prometheus-alertmanager), started here on
loopback with group_wait 0 and every alert its own group, routing alerts to the same partner
sink process warnd delivers to. What an operator would otherwise run to fan alerts out."""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import Row, SinkProcess, fmt_ms, ms
from warnd.testing.daemon import wait_for

BINARIES = ("prometheus-alertmanager", "alertmanager")


def binary() -> str | None:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Alertmanager:
    def __init__(self, exe: str, folder: Path, webhook: str) -> None:
        (folder / "am.yml").write_text(
            f"""route:
  receiver: sink
  group_by: ['...']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: sink
    webhook_configs:
      - url: {webhook}
        send_resolved: false
"""
        )
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (folder / "am.log").open("wb")
        self.proc = subprocess.Popen(
            [
                exe,
                f"--config.file={folder / 'am.yml'}",
                f"--storage.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=self.log,
        )
        self.client = httpx.Client(base_url=self.base, timeout=30)

        def ready() -> bool:
            try:
                return self.client.get("/-/ready").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, 30, "Alertmanager to be ready", every=0.05)

    def post(self, alerts: list[dict[str, Any]]) -> None:
        r = self.client.post("/api/v2/alerts", json=alerts)
        r.raise_for_status()

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _alert(name: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": {"alertname": "Gempa", "id": name, "severity": "warning", "region": "32.04"},
        "annotations": {"summary": f"Gempa M5.6 {name}", "description": "Pusat gempa berada di darat"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


def _ids(receipts: list[dict[str, Any]]) -> dict[str, float]:
    """Alert id -> when the sink got the notification carrying it."""
    out: dict[str, float] = {}
    for r in receipts:
        try:
            body = json.loads(r["body"])
        except ValueError:
            continue
        for a in body.get("alerts", []):
            name = a.get("labels", {}).get("id")
            if name and name not in out:
                out[name] = r["at"]
    return out


def _arrived(sink: SinkProcess, since: int, name: str) -> float | None:
    return _ids(sink.receipts(since)).get(name)


def side_by_side(
    warnd_latency_p99_ms: float | None,
    warnd_hook_p99_ms: float | None,
    warnd_rate: float | None,
    n_latency: int = 200,
    n_burst: int = 3000,
) -> list[Row]:
    exe = binary()
    if exe is None:
        return [
            Row(
                "alertmanager",
                "Prometheus Alertmanager side by side",
                "not run: no alertmanager binary (apt-get install prometheus-alertmanager)",
                {"skipped": True},
            )
        ]
    version = (
        subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        or subprocess.run([exe, "--version"], capture_output=True, text=True).stderr.split("\n")[0]
    )
    sink = SinkProcess({}, open=["am"])
    with tempfile.TemporaryDirectory(prefix="warnd-bench-am-") as tmp:
        am = Alertmanager(exe, Path(tmp), sink.url("am"))
        try:
            # Latency: one alert at a time, from just before the API call to the webhook's arrival.
            am.post([_alert("warmup")])
            wait_for(lambda: "warmup" in _ids(sink.receipts()), 30, "Alertmanager's first notification")
            lat = []
            for i in range(n_latency):
                name = f"lat{i}"
                seen = sink.counts()["total"]
                t0 = time.time()
                am.post([_alert(name)])
                got = wait_for(
                    functools.partial(_arrived, sink, seen, name),
                    10,
                    f"alert {name} at the sink",
                    every=0.005,
                )
                lat.append(got - t0)
            # Throughput: a burst of alerts, 100 per API call, each its own notification.
            seen = sink.counts()["total"]
            t0 = time.time()
            for k in range(0, n_burst, 100):
                am.post([_alert(f"burst{j}") for j in range(k, min(n_burst, k + 100))])
            done = wait_for(
                lambda: len(_ids(sink.receipts(seen))) >= n_burst and _ids(sink.receipts(seen)),
                300,
                "every burst alert at the sink",
                every=0.2,
            )
            took = max(done.values()) - t0
        finally:
            am.close()
            sink.close()
    f = ms(lat)
    rate = n_burst / took
    rows = [
        Row(
            "alertmanager",
            f"{version}: API call to webhook at the sink, one alert at a time",
            fmt_ms(f),
            {"latency": f, "version": version},
        ),
        Row(
            "alertmanager",
            f"{version}: {n_burst:,} alerts (100 per API call) to webhooks at the sink",
            f"{rate:,.0f} notifications/s",
            {"notifications_per_s": rate},
        ),
    ]
    ratios = [
        (
            "warnd feed answer to first X post (text first) p99 / Alertmanager API to webhook p99",
            warnd_latency_p99_ms,
            f.get("p99"),
            4.0,
        ),
        (
            "warnd feed answer to partner webhook (text first) p99 / Alertmanager API to webhook p99",
            warnd_hook_p99_ms,
            f.get("p99"),
            None,
        ),
    ]
    for what, ours, theirs, most in ratios:
        if ours is not None and theirs:
            ratio = ours / theirs
            goal = f"<= {most:g}" if most is not None else None
            rows.append(
                Row("alertmanager", what, f"{ratio:.2f}", {"ratio": ratio}, goal, ratio <= most if most else None)
            )
    if warnd_rate is not None:
        ratio = warnd_rate / rate
        what = "warnd durable webhooks/s (3 partners) / Alertmanager notifications/s"
        rows.append(Row("alertmanager", what, f"{ratio:.2f}", {"ratio": ratio}, ">= 1.5", ratio >= 1.5))
    return rows
