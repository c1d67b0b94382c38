"""What the benchmark sections share: rows of results, percentiles, the daemon and the partner
sink as real processes, and a national configuration (38 provincial X accounts, every region
layer, over 200 rules, a partner subscribed to every account) pointed at loopback servers."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ROOT / "config" / "regions"
TEMPLATES = ROOT / "config" / "templates"
SAMPLES = ROOT / "feeds" / "samples"
PYTHON = sys.executable

from warnd.testing.daemon import DaemonProcess  # noqa: E402


def machine() -> dict[str, str | int | None]:
    """The machine, the commit and the time a measurement ran: printed and stored beside its figures."""
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.machine()} {sys.platform} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "commit": commit.stdout.strip() or None,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass
class Row:
    section: str
    what: str
    result: str
    figures: dict[str, Any] = field(default_factory=dict)
    goal: str | None = None
    met: bool | None = None


def ms(seconds: Sequence[float]) -> dict[str, float]:
    """n, p50, p99 and max of durations, in milliseconds."""
    xs = sorted(seconds)
    if not xs:
        return {"n": 0}

    def q(p: float) -> float:
        # Nearest rank: p99 of 200 samples is the second largest, never an interpolation.
        return xs[min(len(xs) - 1, max(0, int(-(-p * len(xs) // 1)) - 1))] * 1000

    return {"n": len(xs), "p50": q(0.50), "p99": q(0.99), "max": xs[-1] * 1000, "mean": statistics.fmean(xs) * 1000}


def fmt_ms(f: dict[str, float]) -> str:
    if not f.get("n"):
        return "no sample"
    return f"p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, max {f['max']:.1f} ms (n={f['n']})"


# --- the partner sink, in a process of its own ------------------------------------------------


class SinkProcess:
    """`python -m warnd.testing sink` on a free port: signed partners and open receivers."""

    def __init__(self, partners: dict[str, str], open: Sequence[str] = ()) -> None:
        args = [PYTHON, "-m", "warnd.testing", "sink", "--port", "0", "--quiet"]
        for name, secret in partners.items():
            args += ["--partner", f"{name}={secret}"]
        for name in open:
            args += ["--open", name]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if found is None:
            raise RuntimeError(f"the sink did not start: {line!r}")
        self.base = found.group(0)
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def receipts(self, since: int = 0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = self.client.get(f"/_receipts?since={since}").json()["processed"]
        return got

    def counts(self) -> dict[str, int]:
        """How many POSTs were processed, repeated and rejected, without their bodies."""
        doc = self.client.get(f"/_receipts?since={2**62}").json()
        return {"total": doc["total"], "repeats": doc["repeats"], "rejected": doc["rejected"]}

    def close(self) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- the daemon as a real process -------------------------------------------------------------


class Daemon(DaemonProcess):
    """The daemon run from the checkout's root, as the README's commands run it."""

    def __init__(self, cfg: Path, env: dict[str, str]) -> None:
        super().__init__(cfg, env, cwd=ROOT)


# --- a national configuration -----------------------------------------------------------------


def provinces() -> list[tuple[str, str]]:
    doc = json.loads((REGIONS / "provinces.geojson").read_text())
    return sorted((f["properties"]["code"], f["properties"]["name"]) for f in doc["features"])


def national_rules() -> str:
    """Six rules per province (228): what a national agency with provincial accounts would run."""
    out = ["rules:"]
    for code, _ in provinces():
        acct = f"prov-{code}"
        out.append(f"""  - id: gempa-dirasakan-{code}
    match: {{hazard: earthquake, magnitude: ">= 3"}}
    where: {{regions: ["{code}"], level: district, within_km: 50}}
    then: {{accounts: [{acct}], template: earthquake}}
  - id: gempa-kuat-{code}
    match: {{hazard: earthquake, magnitude: ">= 5"}}
    where: {{regions: ["{code}"], level: regency, intensity: ">= 4"}}
    then: {{accounts: [{acct}], template: earthquake, priority: high}}
  - id: gempa-besar-{code}
    match: {{hazard: earthquake, magnitude: ">= 6.5"}}
    where: {{regions: ["{code}"], level: province, within_km: 300}}
    then: {{accounts: [{acct}], template: earthquake, priority: high}}
  - id: tsunami-{code}
    match: {{hazard: tsunami, level: [awas, siaga, waspada]}}
    where: {{regions: ["{code}"], level: regency}}
    then: {{accounts: [{acct}], template: tsunami, priority: life_safety}}
  - id: cuaca-{code}
    match: {{hazard: weather}}
    where: {{regions: ["{code}"], level: regency}}
    then: {{accounts: [{acct}], template: weather}}
  - id: banjir-{code}
    match: {{hazard: flood, level: [siaga3, siaga2, siaga1, normal]}}
    where: {{regions: ["{code}"], level: district, within_km: 2}}
    then: {{accounts: [{acct}], template: flood}}""")
    return "\n".join(out) + "\n"


def national_users() -> dict[str, tuple[str, str]]:
    """The fake X's users for the national configuration: access token -> (secret, account)."""
    return {f"tok-{code}": (f"sec-{code}", f"prov-{code}") for code, _ in provinces()}


@dataclass
class National:
    cfg: Path
    env: dict[str, str]
    accounts: list[str]


def national_config(
    folder: Path,
    feeds: str,
    *,
    x_base: str,
    partner_url: str | None = None,
    extra: str = "",
) -> National:
    """Every region layer, 228 rules, 38 provincial X accounts, a partner on every account."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "national.yaml").write_text(national_rules())
    accounts, env = [], {}
    lines = []
    for code, name in provinces():
        acct = f"prov-{code}"
        accounts.append(acct)
        lines.append(f'  {acct}: {{channel: x, name: "{name}", regions: ["{code}"], credential: x-{code}}}')
        env[f"WARND_SECRET_X_{code}_ACCESS_TOKEN"] = f"tok-{code}"
        env[f"WARND_SECRET_X_{code}_ACCESS_TOKEN_SECRET"] = f"sec-{code}"
    env["WARND_SECRET_X_APP_CONSUMER_KEY"] = "bench-key"
    env["WARND_SECRET_X_APP_CONSUMER_SECRET"] = "bench-secret"
    partners = ""
    if partner_url is not None:
        env["WARND_SECRET_PARTNER_NEWSROOM"] = "newsroom-secret"
        partners = f"""partners:
  newsroom:
    name: Newsroom
    url: "{partner_url}"
    secret: partner-newsroom
    accounts: [{", ".join(accounts)}]
    format: json
"""
    cfg = folder / "warnd.yaml"
    cfg.write_text(
        f"""state_dir: {folder}/state
listen: 127.0.0.1:0
# The benchmarks publish quakes spread over the past hours, a minute apart, so that each is a
# quake of its own: taken as current, since what is measured is speed, not age.
replay: true
feeds:
{feeds}
regions:
  - {{name: provinsi, path: {REGIONS}/provinces.geojson}}
  - {{name: kabupaten-kota, path: {REGIONS}/regencies.geojson}}
  - {{name: kecamatan, path: {REGIONS}/districts.geojson}}
district_points: {REGIONS}/district-points.csv
templates: {TEMPLATES}
rules:
  - rules/*.yaml
accounts:
{chr(10).join(lines)}
x:
  api_base: {x_base}
  app_credential: x-app
  # Limits off: the benchmark measures warnd, not X's budget.
  account_budget: {{posts: 1000000, window: 900}}
  app_budget: {{posts: 1000000, window: 86400}}
  # The fake X has no limits: the benchmark measures warnd, not X's.
  user_limit: {{posts: 1000000, window: 900}}
  app_limit: {{posts: 1000000, window: 86400}}
{partners}{extra}"""
    )
    return National(cfg, env, accounts)


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="warnd-bench-")
