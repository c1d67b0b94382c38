"""The shipped unit and install script under a real systemd: a Debian 12 container booted with
systemd as PID 1 (systemd-nspawn), warnd installed in it by systemd/install.sh, configured with
a loopback feed and a partner webhook on the host, and driven with systemctl and journalctl
the way an operator would.

Needs root, systemd-nspawn and debootstrap; skipped without them, except where
WARND_REQUIRE_NSPAWN is set (CI), where their absence fails. The first run builds the root
(debootstrap, a minute or two with a near mirror) and caches it; see tests/system/nspawn.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import SUMEDANG, wait_for
from tests.system import nspawn
from warnd.testing.feed_server import FeedServer
from warnd.testing.webhook_sink import WebhookSink

# One worker runs the whole module (its container is booted once per module), beside the
# in-process tests on the others (the README's test command runs each module whole: `--dist loadscope`).
pytestmark = [pytest.mark.nspawn, pytest.mark.timeout(900)]

PARTNER_SECRET = "radio-nspawn-Vb7Qx"
HOOK_PATH = "hook-nspawn-Rt4Lw9"
RULES = """rules:
  - id: gempa-test
    match:
      hazard: earthquake
      magnitude: ">= 2.5"
    where:
      within_km: {km}
    then:
      accounts: ["*"]
"""
GOOD_RULES = RULES.format(km=60)
BROKEN_RULES = RULES.format(km="sixty")
BROKEN_LINE = next(i for i, x in enumerate(BROKEN_RULES.splitlines(), 1) if "sixty" in x)
# A feed that fails for 3 s is failing (the catalogue's critical feeds say 60 s).
FAIL_AFTER = 3
# How long the machine may take to do what is waited for: waiting, not a speed limit.
MARGIN = 60.0
# WatchdogSec=30 in the unit, RestartSec=5, and the restart itself.
WATCHDOG_WAIT = 30 + 5 + MARGIN


def _config(feed: str, port: int) -> str:
    return f"""state_dir: /var/lib/warnd
listen: 127.0.0.1:{port}
user_agent: "warnd system test"
feeds:
  - id: autogempa
    format: bmkg-tews
    url: {feed}
    interval: 0.5
    backoff_max: 0.5s
    fail_after: {FAIL_AFTER}s
    critical: true
regions:
  - name: provinsi
    path: regions/provinces.geojson
  - name: kabupaten-kota
    path: regions/regencies.geojson
templates: templates
rules:
  - rules/test.yaml
accounts:
  jabar: {{channel: file, path: /var/lib/warnd/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}
partners:
  radio: {{name: Radio, url_credential: partner-radio.url, secret: partner-radio, accounts: [jabar], format: json}}
ops:
  notices: {{channel: file, path: /var/lib/warnd/ops-notices.jsonl}}
replay: true
"""


class Service:
    """warnd.service in the container, seen through systemctl, journalctl and its endpoint."""

    def __init__(self, machine: nspawn.Machine, port: int) -> None:
        self.machine = machine
        self.base = f"http://127.0.0.1:{port}"

    def systemctl(self, *args: str, check: bool = True, timeout: float = 120.0):
        return self.machine.run("systemctl", "--no-pager", *args, check=check, timeout=timeout)

    def show(self, *props: str) -> dict[str, str]:
        out = self.systemctl("show", "warnd", *[f"--property={p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def active(self) -> str:
        return self.systemctl("is-active", "warnd", check=False).stdout.strip()

    def journal(self, *args: str) -> list[str]:
        return self.machine.run("journalctl", "--no-pager", "-u", "warnd", "-o", "cat", *args).stdout.splitlines()

    def events(self, *args: str) -> list[dict]:
        return [json.loads(x) for x in self.journal(*args) if x.startswith("{")]

    def healthz(self) -> httpx.Response:
        return httpx.get(self.base + "/healthz", timeout=10)

    def health(self) -> dict | None:
        try:
            return self.healthz().json()
        except httpx.HTTPError:
            return None

    def read(self, inside: str) -> str:
        done = self.machine.run("cat", inside, check=False)
        return done.stdout if done.returncode == 0 else ""

    def jsonl(self, inside: str) -> list[dict]:
        return [json.loads(x) for x in self.read(inside).splitlines() if x.strip()]

    def write(self, inside: str, text: str, mode: int = 0o640) -> None:
        """As an operator edits the configuration: root:warnd-config, nothing for other users (the
        installer's modes); credentials root only."""
        path = self.machine.path(inside)
        path.write_text(text)
        path.chmod(mode)
        if not inside.startswith("/etc/warnd/credentials/"):
            self.machine.run("chown", "root:warnd-config", inside)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nspawn.Machine]:
    why = nspawn.missing()
    if why is not None:
        if os.environ.get("WARND_REQUIRE_NSPAWN"):
            pytest.fail(f"WARND_REQUIRE_NSPAWN is set: {why}")
        pytest.skip(why)
    image = nspawn.root_image()
    wheels = nspawn.wheelhouse()
    workdir = nspawn.new_workdir()
    m = nspawn.Machine(f"warnd-test-{os.getpid()}", workdir, binds={wheels: "/wheels"})
    try:
        m.boot(image)
        # The shipped script, as the install guide says to run it, as root; pip takes the packages
        # from the wheelhouse instead of PyPI.
        install = m.run("/src/systemd/install.sh", env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels"}, timeout=600)
        assert re.search(r"^installed warnd \S+ in /opt/warnd/venv$", install.stdout, re.M), install.stdout
        assert (
            m.path("/etc/systemd/system/warnd.service").read_text()
            == (nspawn.ROOT / "systemd" / "warnd.service").read_text()
        )
        assert oct(m.path("/etc/warnd/credentials").stat().st_mode & 0o777) == "0o700"
        yield m
    finally:
        # Raises, deleting nothing, if anything is still mounted under the copy of the root.
        m.shutdown()
        if m.console.exists():
            shutil.copy(m.console, tmp_path_factory.getbasetemp() / "nspawn-console.log")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FeedServer, WebhookSink]]:
    with FeedServer() as feed, WebhookSink({"radio": PARTNER_SECRET}) as sink:
        yield feed, sink


@pytest.fixture(scope="module")
def installed(machine, servers) -> Service:
    feed, sink = servers
    port = _free_port()
    svc = Service(machine, port)
    url = feed.serve("/autogempa.json", SUMEDANG)
    svc.write("/etc/warnd/warnd.yaml", _config(url, port))
    svc.write("/etc/warnd/rules/test.yaml", GOOD_RULES)
    svc.write("/etc/warnd/credentials/partner-radio", PARTNER_SECRET, mode=0o600)
    # The partner's webhook URL carries its own secret: a credential too.
    svc.write("/etc/warnd/credentials/partner-radio.url", f"{sink.url('radio')}/{HOOK_PATH}", mode=0o600)
    return svc


@pytest.fixture
def service(installed: Service, servers) -> Service:
    """warnd active and healthy on the good configuration, whatever the test before left."""
    feed, _ = servers
    feed.serve("/autogempa.json", SUMEDANG)
    rules = installed.machine.path("/etc/warnd/rules/test.yaml")
    if rules.read_text() != GOOD_RULES:
        rules.write_text(GOOD_RULES)
        if installed.active() == "active":
            installed.systemctl("reload", "warnd")
    # Starts by the tests count against StartLimitBurst=5; an operator resets the count too.
    installed.systemctl("reset-failed", "warnd", check=False)
    if installed.active() != "active":
        installed.systemctl("start", "warnd")
    wait_for(lambda: (h := installed.health()) and h["status"] == "ok", timeout=MARGIN, what="warnd healthy")
    return installed


def test_start_returns_once_ready_and_credentials_reach_the_daemon(service, servers):
    _, sink = servers
    service.systemctl("stop", "warnd")
    assert service.active() == "inactive"

    service.systemctl("start", "warnd")
    # Type=notify: start returns on READY=1, sent once the endpoint listens; no waiting here.
    assert service.active() == "active"
    assert service.healthz().status_code == 200
    shown = service.show("Type", "SubState", "MainPID", "StatusText")
    assert shown["Type"] == "notify" and shown["SubState"] == "running" and int(shown["MainPID"]) > 0
    wait_for(lambda: service.show("StatusText")["StatusText"].startswith("ok:"), timeout=MARGIN, what="STATUS= ok")

    # The quake reaches the file account and the partner. The partner's secret exists only in
    # /etc/warnd/credentials (root, 0700) and the daemon runs as a dynamic user: only
    # LoadCredential= can have handed it over, and the sink accepts only a valid signature.
    posts = wait_for(lambda: service.jsonl("/var/lib/warnd/posts.jsonl"), timeout=MARGIN, what="the post")
    assert posts[0]["account"] == "jabar" and posts[0]["event_id"] == "bmkg-eq-20240110T131726Z"
    (got,) = wait_for(lambda: sink.receipts("radio"), timeout=MARGIN, what="the partner's webhook")
    assert json.loads(got.body)["warning"]["event_id"] == "bmkg-eq-20240110T131726Z"
    assert sink.state.rejected == []
    assert not [r for r in service.health()["reasons"] if r["kind"] == "credentials_missing"]
    # The process runs as a user of its own, not root.
    pid = service.show("MainPID")["MainPID"]
    user = service.machine.run("ps", "-o", "user=", "-p", pid).stdout.strip()
    assert user not in ("", "root"), user


def test_the_configuration_is_read_by_the_service_and_by_no_other_user(service):
    m = service.machine
    for inside in ("/etc/warnd", "/etc/warnd/warnd.yaml", "/etc/warnd/rules", "/etc/warnd/rules/test.yaml"):
        mode, owner = m.run("stat", "-c", "%a %U:%G", inside).stdout.split()
        assert owner == "root:warnd-config" and int(mode, 8) & 0o007 == 0, (inside, mode, owner)
    mode, owner = m.run("stat", "-c", "%a %U:%G", "/etc/warnd/credentials").stdout.split()
    assert (mode, owner) == ("700", "root:root")
    # The daemon, a dynamic user in a user namespace of its own, read all of it: it runs the
    # set on disk, whose partner URL came from /etc/warnd/credentials through LoadCredential=.
    assert service.health()["status"] == "ok"
    assert "credentials_missing" not in json.dumps(service.health())
    assert "warnd-config" in m.run("ps", "-o", "supgrp=", "-p", service.show("MainPID")["MainPID"]).stdout
    # Another local user cannot.
    other = m.run("runuser", "-u", "nobody", "--", "cat", "/etc/warnd/warnd.yaml", check=False)
    assert other.returncode != 0 and "Permission denied" in other.stderr
    # Root checks the installed credentials where the installer put them, named plainly.
    checked = m.run("/opt/warnd/venv/bin/warnd", "check", "--secrets", "-c", "/etc/warnd/warnd.yaml", check=False)
    assert checked.returncode == 0, checked.stderr
    assert HOOK_PATH not in checked.stdout + checked.stderr


def test_a_good_reload_applies_and_a_bad_one_fails_visibly_while_the_service_runs(service):
    before = service.show("MainPID")["MainPID"]
    generation = service.health()["generation"]

    service.write("/etc/warnd/rules/test.yaml", RULES.format(km=80))
    service.systemctl("reload", "warnd")
    assert service.health()["generation"] == generation + 1
    assert service.health()["status"] == "ok"

    service.write("/etc/warnd/rules/test.yaml", BROKEN_RULES)
    told = service.systemctl("reload", "warnd", check=False)
    assert told.returncode != 0, "systemctl reload accepted a broken rules file"
    assert "warnd.service" in told.stderr
    assert service.active() == "active"
    assert service.show("MainPID")["MainPID"] == before
    health = service.health()
    assert health["status"] == "degraded" and health["generation"] == generation + 1
    (reason,) = health["reasons"]
    assert reason["kind"] == "reload_failed" and f"/etc/warnd/rules/test.yaml:{BROKEN_LINE}" in reason["message"]
    # ExecReload's verdict, with the file (its whole path: the unit's working directory is /)
    # and line, is in the unit's journal.
    lines = service.journal()
    assert f" /etc/warnd/rules/test.yaml:{BROKEN_LINE}" in "\n".join(" " + x for x in lines if not x.startswith("{"))
    assert any(x.startswith("reload refused by warnd pid") for x in lines), "\n".join(lines[-15:])

    # journald priorities: -p warning shows the refusal and its notice, not the info lines.
    warned = service.events("-p", "warning")
    assert {"reload.rejected", "notice.raised"} <= {x["event"] for x in warned}
    assert {x["level"] for x in warned} <= {"warning", "error", "critical"}
    everything = service.events()
    assert {"daemon.started", "reload.applied"} <= {x["event"] for x in everything}
    assert not [x for x in service.journal() if x.startswith("<")], "a priority prefix reached the journal"

    service.write("/etc/warnd/rules/test.yaml", GOOD_RULES)
    service.systemctl("reload", "warnd")
    assert service.health()["status"] == "ok"
    assert service.health()["generation"] == generation + 2


def test_a_crash_with_a_broken_edit_on_disk_comes_back_from_the_last_good_set(service):
    # The good set this daemon runs is saved a little after start or after a reload.
    service.systemctl("reload", "warnd")
    try:
        wait_for(
            lambda: service.read("/var/lib/warnd/config-snapshot/current/tree/etc/warnd/rules/test.yaml") == GOOD_RULES,
            timeout=MARGIN,
            what="the saved set holding the good rules",
        )
    except AssertionError as e:
        said = [x for x in service.events() if x["event"].startswith(("config.", "reload.", "daemon."))]
        raise AssertionError(f"{e}; what the daemon said of its sets: {said[-12:]}") from None
    digest = service.machine.run("readlink", "/var/lib/warnd/config-snapshot/current").stdout.strip().split("/")[-1]
    assert re.fullmatch(r"[0-9a-f]{8,}", digest), digest
    shown = service.show("MainPID", "NRestarts")
    service.write("/etc/warnd/rules/test.yaml", BROKEN_RULES)
    service.machine.run("kill", "-9", shown["MainPID"])

    def back() -> dict[str, str] | None:
        now = service.show("MainPID", "NRestarts", "ActiveState")
        return now if now["ActiveState"] == "active" and now["MainPID"] not in ("0", shown["MainPID"]) else None

    now = wait_for(back, timeout=5 + MARGIN, what="the unit restarted")
    assert int(now["NRestarts"]) == int(shown["NRestarts"]) + 1
    health = wait_for(lambda: (h := service.health()) and h["status"] != "ok" and h, timeout=MARGIN, what="health")
    assert health["status"] == "degraded"
    (reason,) = health["reasons"]
    assert reason["kind"] == "config_invalid"
    assert f"test.yaml:{BROKEN_LINE}" in reason["message"] and digest in reason["message"]
    # And it works from that set: the endpoint answers and warnings still go out (none new here).
    assert service.show("StatusText")["StatusText"].startswith("degraded:")

    service.write("/etc/warnd/rules/test.yaml", GOOD_RULES)
    service.systemctl("reload", "warnd")
    assert service.health()["status"] == "ok"


def test_the_watchdog_restarts_a_hung_daemon(service):
    shown = service.show("MainPID", "NRestarts")
    # A stopped process sends no WATCHDOG=1: after WatchdogSec systemd aborts and restarts it.
    service.machine.run("kill", "-STOP", shown["MainPID"])

    def back() -> dict[str, str] | None:
        now = service.show("MainPID", "NRestarts", "ActiveState")
        return now if now["ActiveState"] == "active" and now["MainPID"] not in ("0", shown["MainPID"]) else None

    now = wait_for(back, timeout=WATCHDOG_WAIT, what="a restart by the watchdog")
    assert int(now["NRestarts"]) == int(shown["NRestarts"]) + 1
    lines = service.journal()
    assert any("Watchdog timeout" in x for x in lines), lines[-20:]
    assert any("Failed with result 'watchdog'" in x for x in lines), lines[-20:]
    wait_for(lambda: (h := service.health()) and h["status"] == "ok", timeout=MARGIN, what="healthy again")


def test_a_failing_critical_feed_fails_the_status_line_and_health_until_it_answers(service, servers):
    feed, _ = servers
    feed.serve("/autogempa.json", b"<html>503 Service Unavailable</html>", status=503)
    status = wait_for(
        lambda: (s := service.show("StatusText")["StatusText"]).startswith("failing:") and s,
        timeout=FAIL_AFTER + MARGIN,
        what="STATUS= failing",
    )
    assert "feed failing: autogempa" in status
    r = service.healthz()
    assert r.status_code == 503 and r.json()["status"] == "failing"
    assert [(x["kind"], x["subject"]) for x in r.json()["reasons"]] == [("feed_failing", "autogempa")]
    warned = service.events("-p", "warning")
    assert any(x["event"] == "notice.raised" and x.get("kind") == "feed_failing" for x in warned), warned[-5:]

    feed.serve("/autogempa.json", SUMEDANG)
    wait_for(
        lambda: service.show("StatusText")["StatusText"].startswith("ok:"), timeout=MARGIN, what="STATUS= ok again"
    )
    assert service.healthz().status_code == 200 and service.health()["status"] == "ok"


def test_stop_is_clean(service):
    service.systemctl("stop", "warnd")
    assert service.active() == "inactive"
    shown = service.show("Result", "ExecMainStatus")
    assert shown == {"Result": "success", "ExecMainStatus": "0"}
    # What systemd says from the stop on: the daemon exited by itself, 0, within TimeoutStopSec.
    lines = service.journal()
    since = max(i for i, x in enumerate(lines) if x.startswith("Stopping warnd.service"))
    said = [x for x in lines[since:] if not x.startswith("{")]
    assert "warnd.service: Deactivated successfully." in said, said
    assert not [x for x in said if "Main process exited" in x or "Killing" in x], said
    assert "daemon.stopped" in {x["event"] for x in service.events()}
    assert service.health() is None
