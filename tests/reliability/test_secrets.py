"""Known secrets through a whole run, then everything warnd wrote or answered is searched for
them: the daemon's log, `warnd status` and `warnd check --secrets`, /healthz, /status and
/metrics, the operator notices, the CAP feeds, every row of every table in the state database.

The run goes through the paths most likely to leak: a signed X post, an X account whose token
secret is wrong (a refused signature, an auth failure, a disabled target and its notice, and the
credential check at start that finds it), signed partner webhooks (one partner answering 500
first) and probes, and a signed ops webhook."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys

import httpx
import pytest

from tests.acceptance.test_daemon_end_to_end import wait_for
from tests.acceptance.test_delivery_crash import RULES, account_yaml, quakes
from tests.conftest import write_config
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

# Distinctive values, so that a match can only be a leak.
SECRETS = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "ck-Zq7PfT2mW9xLr4Vb",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "cs-Hn3JdK8sQ1wEy6Uc",
    "WARND_SECRET_X_ACEH_ACCESS_TOKEN": "at-aceh-Rb5GmN0vXk2Lp8Tz",
    "WARND_SECRET_X_ACEH_ACCESS_TOKEN_SECRET": "as-aceh-Wd4YhC7nFq1Js9Me",
    "WARND_SECRET_X_NTB_ACCESS_TOKEN": "at-ntb-Kv6TpB3xHr8Qm2Ly",
    # Not what the fake X expects: every post from ntb is refused (401, a bad signature).
    "WARND_SECRET_X_NTB_ACCESS_TOKEN_SECRET": "as-ntb-WRONG-Ge5Zs0Nd7Ca4Vf",
    "WARND_SECRET_PARTNER_RADIO": "pr-radio-Ux9Lk2Wm5Rt8Yb",
    "WARND_SECRET_OPS_CHAT": "ops-chat-Pj4Hs7Dq1Xn6Ze",
}
# The partner's secret is being rotated: its credential holds a second line, the next secret in
# Standard Webhooks form, which signs every delivery too.
NEXT_RADIO = "whsec_bnItcmFkaW8tRm43UXMyVmQ5S3g0"


def test_no_secret_appears_in_any_output_of_a_run(tmp_path, feed_server):
    users = {
        SECRETS["WARND_SECRET_X_ACEH_ACCESS_TOKEN"]: (SECRETS["WARND_SECRET_X_ACEH_ACCESS_TOKEN_SECRET"], "aceh"),
        SECRETS["WARND_SECRET_X_NTB_ACCESS_TOKEN"]: ("as-ntb-the-real-one", "ntb"),
    }
    fake = FakeX(
        consumer_key=SECRETS["WARND_SECRET_X_APP_CONSUMER_KEY"],
        consumer_secret=SECRETS["WARND_SECRET_X_APP_CONSUMER_SECRET"],
        users=users,
    )
    sink = WebhookSink({"radio": SECRETS["WARND_SECRET_PARTNER_RADIO"], "chat": SECRETS["WARND_SECRET_OPS_CHAT"]})
    sink.script("radio", "500")
    url = feed_server.serve("/usgs.geojson", quakes(6))
    accounts = account_yaml(["aceh", "ntb"])
    extra = f"""x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [aceh, ntb]}}
ops:
  chat: {{channel: webhook, url: "{sink.url("chat")}", secret: ops-chat}}
  notices: {{channel: file, path: {tmp_path}/notices.jsonl}}
dispatch:
  retry_min: 0.2
  retry_max: 1
"""
    feeds = f"  - id: usgs\n    format: usgs-geojson\n    url: {url}\n    interval: 0.5\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra)
    radio = SECRETS["WARND_SECRET_PARTNER_RADIO"] + "\n" + NEXT_RADIO
    env = {**os.environ, **SECRETS, "WARND_SECRET_PARTNER_RADIO": radio, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "daemon.log"
    fake.start()
    sink.start()
    outputs: dict[str, str] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg), "--log-level", "debug"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env=env,
    )
    try:
        wait_for(lambda: len(fake.posts_by("aceh")) >= 6, timeout=60, what="aceh's posts")
        wait_for(lambda: len(sink.keys("radio")) >= 12, timeout=60, what="the partner's webhooks")
        wait_for(lambda: sink.keys("chat"), timeout=60, what="the ops notice that ntb was refused")
        wait_for(lambda: sink.probes("radio"), timeout=60, what="the partner's probe")
        wait_for(lambda: fake.me_calls(None), timeout=60, what="the check of ntb's token")
        outputs |= _shown(tmp_path, cfg, env, ("/healthz", "/status", "/metrics"))
    finally:
        proc.terminate()
        proc.wait(timeout=40)
        fake.stop()
        sink.stop()

    # The run did go through the paths under test.
    assert fake.state.bad_signatures > 0, "ntb's posts were refused for their signature"
    radio_requests = [r for r in sink.state.requests if r.partner == "radio"]
    assert radio_requests and all(len(r.headers["webhook-signature"].split()) == 2 for r in radio_requests)
    lines = [json.loads(ln) for ln in log.read_text().splitlines() if ln.startswith("{")]
    assert any(ln["event"] == "target.disabled" and ln.get("target") == "account:ntb" for ln in lines)
    assert any(ln["event"] == "delivery.retry" and ln.get("target") == "partner:radio" for ln in lines)
    assert any(ln["event"] == "credential.check_failed" and ln.get("target") == "account:ntb" for ln in lines)

    outputs["daemon log"] = log.read_text()
    outputs["ops notices file"] = (tmp_path / "notices.jsonl").read_text()
    outputs["ops webhooks"] = "\n".join(r.body.decode() for r in sink.receipts("chat"))
    outputs["partner webhooks"] = "\n".join(r.body.decode() for r in sink.receipts("radio"))
    outputs["partner probes"] = "\n".join(r.body.decode() + r.key for r in sink.probes("radio"))
    outputs["X posts"] = "\n".join(p.text for p in fake.state.posts)
    for f in (tmp_path / "state").rglob("*"):
        if f.is_file() and not f.name.startswith("warnd.db"):
            outputs[str(f)] = f.read_bytes().decode("utf-8", "replace")
    db = sqlite3.connect(tmp_path / "state" / "warnd.db")
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        outputs[f"table {table}"] = "\n".join(repr(row) for row in db.execute(f"SELECT * FROM {table}"))
    db.close()
    raw = b"".join(f.read_bytes() for f in (tmp_path / "state").glob("warnd.db*"))

    known = {**SECRETS, "next radio secret": NEXT_RADIO, "next radio key": base64.b64decode(NEXT_RADIO[6:]).decode()}
    leaks = [(where, name) for where, text in outputs.items() for name, value in known.items() if value in text]
    assert leaks == []
    assert not [name for name, value in known.items() if value.encode() in raw]


# URLs whose every secret part must stay inside warnd: a feed read with a password and a token,
# a partner and an ops chat whose webhook URLs are their credentials (a secret path and query).
FEED_USER = "reader-Mv2Kq7"
FEED_PASSWORD = "fpw-Xt4Rz8Lq1Nc6"
FEED_TOKEN = "ftk-Bh5Wd9Pj3Ys7"
HOOK_PATH = "hook-path-Ga6Tn1Ve4Km8"
HOOK_SIG = "hsig-Qr3Lx7Dz2Fb5"
CHAT_PATH = "chat-path-Ju8Cw2Np6Ht9"
CHAT_TOKEN = "ctk-Se1Hv5Ry9Wm3"
PARTNER_KEY = "pk-radio-Lw7Fs3Zb8Qd2"
CHAT_KEY = "ck-chat-Ne4Ta9Gp1Xj6"
REACH = ["11", "52", "32", "53", "81", "14"]


def test_no_part_of_a_credential_url_appears_in_any_output_of_a_run(tmp_path, feed_server):
    sink = WebhookSink({"radio": PARTNER_KEY, "chat": CHAT_KEY})
    # The partner is down for the first delivery, the chat for the first notice.
    sink.script("radio", "500")
    sink.script("chat", "500")
    # The feed fails first (an error, a failing notice), then serves its quakes.
    path = "/private/usgs.geojson"
    feed_server.serve(path, b"upstream trouble", status=500)
    host = feed_server.base.removeprefix("http://")
    credentials = {
        "WARND_SECRET_USGS_URL": f"http://{FEED_USER}:{FEED_PASSWORD}@{host}{path}?token={FEED_TOKEN}&region=ID",
        "WARND_SECRET_PARTNER_RADIO_URL": f"{sink.url('radio')}/{HOOK_PATH}?sig={HOOK_SIG}",
        "WARND_SECRET_OPS_CHAT_URL": f"{sink.url('chat')}/{CHAT_PATH}?token={CHAT_TOKEN}",
        "WARND_SECRET_PARTNER_RADIO": PARTNER_KEY,
        "WARND_SECRET_OPS_CHAT": CHAT_KEY,
    }
    accounts = "".join(
        f'\n  {a}: {{channel: file, path: {tmp_path}/posts.jsonl, name: "{a}", regions: {json.dumps([*REACH, own])}}}'
        for a, own in (("aceh", "12"), ("ntb", "13"))
    )
    extra = f"""partners:
  radio: {{name: Radio, url_credential: partner-radio.url, secret: partner-radio, accounts: [aceh, ntb]}}
ops:
  chat: {{channel: webhook, url_credential: ops-chat.url, secret: ops-chat}}
  notices: {{channel: file, path: {tmp_path}/notices.jsonl}}
dispatch:
  retry_min: 0.2
  retry_max: 1
"""
    feeds = (
        "  - id: usgs\n    format: usgs-geojson\n    url_credential: usgs.url\n"
        "    interval: 0.5\n    backoff_max: 0.5s\n    fail_after: 0.5s\n"
    )
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra)
    env = {**os.environ, **credentials, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "daemon.log"
    out = tmp_path / "daemon.out"
    sink.start()
    outputs: dict[str, str] = {}
    proc = subprocess.Popen(
        [sys.executable, "-m", "warnd.cli", "run", "-c", str(cfg), "--log-level", "debug"],
        stdout=out.open("ab"),
        stderr=log.open("ab"),
        env=env,
    )
    try:
        wait_for(lambda: _notice(tmp_path, "feed_failing", "raised"), timeout=60, what="the feed failing notice")
        feed_server.serve(path, quakes(4))
        wait_for(lambda: len(sink.keys("radio")) >= 4, timeout=60, what="the partner's webhooks")
        wait_for(lambda: _notice(tmp_path, "feed_failing", "cleared"), timeout=60, what="the feed answering again")
        wait_for(lambda: len(sink.keys("chat")) >= 2, timeout=60, what="both notices at the chat")
        wait_for(lambda: sink.probes("radio"), timeout=60, what="the partner's probe")
        wait_for(lambda: "config.snapshot_saved" in log.read_text(), timeout=60, what="the config snapshot")
        outputs |= _shown(tmp_path, cfg, env, ("/healthz", "/status", "/metrics", "/cap/"))
    finally:
        proc.terminate()
        proc.wait(timeout=40)
        sink.stop()

    # The run did go through the paths under test, with the URLs the credentials hold.
    fetched = [h for p, h in feed_server.requests if p.startswith(path)]
    assert all(p.endswith(f"?token={FEED_TOKEN}&region=ID") for p, _ in feed_server.requests if p.startswith(path))
    basic = "Basic " + base64.b64encode(f"{FEED_USER}:{FEED_PASSWORD}".encode()).decode()
    assert fetched and all(h.get("Authorization") == basic for h in fetched)
    lines = [json.loads(ln) for ln in log.read_text().splitlines() if ln.startswith("{")]
    failed = [ln for ln in lines if ln["event"] == "feed.failed"]
    assert failed and all("HTTP 500" in ln["error"] for ln in failed)
    assert any(ln["event"] == "delivery.retry" and ln.get("target") == "partner:radio" for ln in lines)
    assert any(ln["event"] == "ops.retry" and ln.get("channel") == "chat" for ln in lines)
    assert "OK" in outputs["warnd check --secrets"]

    outputs["daemon log"] = log.read_text()
    outputs["daemon stdout"] = out.read_text()
    outputs["ops notices file"] = (tmp_path / "notices.jsonl").read_text()
    outputs["posts file"] = (tmp_path / "posts.jsonl").read_text()
    outputs["ops webhooks"] = "\n".join(r.body.decode() for r in sink.receipts("chat"))
    outputs["partner webhooks"] = "\n".join(r.body.decode() for r in sink.receipts("radio"))
    # Every file the daemon wrote: the config snapshot, CAP feeds, the listen file, the database.
    for f in (tmp_path / "state").rglob("*"):
        if f.is_file():
            outputs[str(f)] = f.read_bytes().decode("utf-8", "replace")
    assert any("config-snapshot" in where for where in outputs), "the config snapshot was saved"
    db = sqlite3.connect(tmp_path / "state" / "warnd.db")
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        outputs[f"table {table}"] = "\n".join(repr(row) for row in db.execute(f"SELECT * FROM {table}"))
    db.close()
    assert "HTTP 500" in outputs["table feed_state"] or "HTTP 500" in outputs["ops notices file"]

    known = {
        "feed password": FEED_PASSWORD,
        "feed token": FEED_TOKEN,
        "feed user and password": f"{FEED_USER}:",
        "partner URL path": HOOK_PATH,
        "partner URL signature": HOOK_SIG,
        "chat URL path": CHAT_PATH,
        "chat URL token": CHAT_TOKEN,
        "partner secret": PARTNER_KEY,
        "chat secret": CHAT_KEY,
    }
    leaks = [(where, name) for where, text in outputs.items() for name, value in known.items() if value in text]
    assert leaks == []


def _notice(folder, kind: str, phase: str) -> bool:
    path = folder / "notices.jsonl"
    if not path.exists():
        return False
    notices = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return any(n.get("kind") == kind and n.get("phase") == phase for n in notices)


def _shown(tmp_path, cfg, env, paths) -> dict[str, str]:
    """What the running daemon shows an operator: its endpoint's pages and the CLI's reports."""
    shown: dict[str, str] = {}
    base = "http://" + (tmp_path / "state" / "listen").read_text().strip()
    for path in paths:
        shown[path] = httpx.get(base + path, timeout=10).text
    for args in (["status"], ["status", "--format", "json"], ["check", "--secrets"], ["history"]):
        done = subprocess.run(
            [sys.executable, "-m", "warnd.cli", *args, "-c", str(cfg)], capture_output=True, text=True, env=env
        )
        shown["warnd " + " ".join(args)] = done.stdout + done.stderr
    return shown
