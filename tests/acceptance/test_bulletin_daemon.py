"""An operator's bulletin through the running daemon, acted on with `warnd bulletin` as two
operators would: written by ani, refused when ani approves it herself (the two-person rule),
approved by budi; then it arrives, counted at the receivers: posted on X by both accounts it is
for, the partner's webhook received it signed, the account's CAP feed lists it crediting who
wrote and who approved it. A correction then answers the first post in its thread, and a cancel
closes it; each post, webhook and CAP alert exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from lxml import etree

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import SUMEDANG, fast_feed
from tests.conftest import cap_links, write_config
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.fake_x import FakeX, Post
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
# The feed brings a quake no rule posts: every post here is a bulletin's.
RULES = """rules:
  - id: banjir-test
    match:
      hazard: flood
    then:
      accounts: ["*"]
      template: flood
"""


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def password(name: str) -> str:
    return f"{name} punya sandi panjang"


def add_operator(cfg: Path, name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "operator", "add", name, "--password-stdin", "-c", str(cfg)],
        input=password(name) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def bulletin(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`warnd bulletin` as the operator `--by=` names, proving it with their password."""
    by = next((a.removeprefix("--by=") for a in args if a.startswith("--by=")), None)
    proof = ["--password-stdin"] if by else []
    return subprocess.run(
        [sys.executable, "-m", "warnd.cli", "bulletin", *args, *proof, "-c", str(cfg), "--format", "json"],
        input=password(by) + "\n" if by else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def acted(cfg: Path, *args: str) -> dict:
    done = bulletin(cfg, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["bulletin"]


def text_posts(fake: FakeX, account: str) -> list[Post]:
    """The account's posts, without the map replies that may follow a post."""
    return [p for p in fake.posts_by(account) if not (p.text or "").startswith("Peta: ")]


def test_a_bulletin_written_approved_corrected_and_cancelled_arrives_once_everywhere(tmp_path: Path, feed_server):
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users={"tok-ntt": ("sec-ntt", "ntt"), "tok-jabar": ("sec-jabar", "jabar")},
    )
    sink = WebhookSink({"radio": "radio-secret"})
    fake.start()
    sink.start()
    url = feed_server.serve("/auto.json", SUMEDANG)
    accounts = """
  ntt: {channel: x, name: "NTT", regions: ["53"], credential: x-ntt}
  jabar: {channel: x, name: "Jawa Barat", lang: en, regions: ["32"], credential: x-jabar}
"""
    extra = f"""public_listen: 127.0.0.1:0
x:
  api_base: {fake.base}
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [ntt], hazards: [flood]}}
cap:
  sender: warnd@bmkg.example
  sender_name: BMKG
"""
    cfg = write_config(tmp_path, feeds=fast_feed(url), rules=RULES, accounts=accounts, extra=extra, replay=True)
    env = {
        "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
        "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
        "WARND_SECRET_X_NTT_ACCESS_TOKEN": "tok-ntt",
        "WARND_SECRET_X_NTT_ACCESS_TOKEN_SECRET": "sec-ntt",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN": "tok-jabar",
        "WARND_SECRET_X_JABAR_ACCESS_TOKEN_SECRET": "sec-jabar",
        "WARND_SECRET_PARTNER_RADIO": "radio-secret",
    }
    d = DaemonProcess(cfg, env)
    try:
        d.ready()
        public = wait_for(lambda: _read(tmp_path / "state" / "public_listen"), 30, "the public address")
        for name in ("ani", "budi"):
            add_operator(cfg, name)

        # Written by ani: for NTT's Nagekeo, and for the Jawa Barat account by name.
        first = acted(
            cfg,
            "write",
            "--by=ani",
            "--region=53.16",
            "--account=ntt",
            "--account=jabar",
            "--hazard=flood",
            "--level=siaga",
            "--status=exercise",
            "--headline=Banjir Mbay",
            "--text-id=Banjir setinggi 1 m di Mbay. Warga bantaran sungai diminta mengungsi.",
            "--text-en=Flooding 1 m deep in Mbay. Riverside residents are asked to evacuate.",
        )
        assert first["state"] == "pending" and first["author"] == "ani"
        # Bad input is refused naming the field, and nothing is written.
        bad = bulletin(cfg, "write", "--by=ani", "--region=99.99", "--hazard=flood", "--status=actual",
                       "--headline=x", "--text-id=x")  # fmt: skip
        assert bad.returncode == 2 and "regions: unknown region code '99.99'" in bad.stderr

        # ani cannot approve her own bulletin.
        own = bulletin(cfg, "approve", first["id"], "--by=ani")
        assert own.returncode == 1 and "two-person" in own.stderr
        assert not text_posts(fake, "ntt")
        assert "bulletin.refused" in own.stderr
        done = bulletin(cfg, "approve", first["id"], "--by=budi")
        assert done.returncode == 0, done.stderr
        approved = json.loads(done.stdout)["bulletin"]
        assert approved["approver"] == "budi" and set(approved["warnings"]) == {"ntt", "jabar"}
        # The log line of the approval names the bulletin and both operators.
        (line,) = [json.loads(x) for x in done.stderr.splitlines() if '"bulletin.approved"' in x]
        assert (line["event_id"], line["author"], line["approver"]) == (first["id"], "ani", "budi")

        (ntt_first,) = wait_for(lambda: text_posts(fake, "ntt"), 60, "the bulletin on NTT's X")
        (jabar_first,) = wait_for(lambda: text_posts(fake, "jabar"), 60, "the bulletin on Jawa Barat's X")
        assert ntt_first.text.startswith("LATIHAN - Banjir setinggi 1 m di Mbay.") and "Wilayah: " in ntt_first.text
        assert jabar_first.text.startswith("EXERCISE - Flooding 1 m deep") and ntt_first.reply_to is None
        (receipt,) = wait_for(lambda: sink.receipts("radio"), 60, "the partner's webhook")
        body = json.loads(receipt.body)
        assert body["warning"]["text"] == ntt_first.text
        assert body["event"]["attribution"] == "BMKG (operator bulletin, written by ani, approved by budi)"

        with httpx.Client(trust_env=False, timeout=10) as client:

            def alerts() -> list[bytes]:
                names = cap_links(client.get(f"http://{public}/cap/ntt/index.atom").text)
                return [client.get(f"http://{public}/cap/ntt/{n}").content for n in names]

            (alert,) = wait_for(alerts, 60, "the CAP alert in NTT's feed")
            doc = etree.fromstring(alert)
            assert doc.findtext(f"{NS}status") == "Exercise" and doc.findtext(f"{NS}msgType") == "Alert"
            assert "written by ani, approved by budi" in doc.findtext(f"{NS}source")

            # A correction, by budi, approved by ani: it answers the first post.
            fix = acted(cfg, "correct", first["id"], "--by=budi", "--text-id=Ralat: banjir setinggi 2 m di Mbay.")
            assert fix["series"] == first["id"] and fix["kind"] == "correction" and fix["state"] == "pending"
            acted(cfg, "approve", fix["id"], "--by=ani")
            ntt_fix = wait_for(lambda: text_posts(fake, "ntt")[1:], 60, "the correction on NTT's X")[0]
            assert ntt_fix.text.startswith("LATIHAN - Ralat: banjir setinggi 2 m") and ntt_fix.reply_to == ntt_first.id
            jabar_fix = wait_for(lambda: text_posts(fake, "jabar")[1:], 60, "the correction on Jawa Barat's X")[0]
            # Without an English correction, the English account gets the Indonesian text.
            assert jabar_fix.text.startswith("LATIHAN - Ralat") and jabar_fix.reply_to == jabar_first.id

            # A cancel closes it.
            stop = acted(cfg, "cancel", fix["id"], "--by=ani", "--why=Air sudah surut.")
            acted(cfg, "approve", stop["id"], "--by=budi")
            ntt_stop = wait_for(lambda: text_posts(fake, "ntt")[2:], 60, "the cancel on NTT's X")[0]
            assert ntt_stop.text.startswith("LATIHAN - PEMBATALAN: Banjir Mbay. Air sudah surut.")
            assert ntt_stop.reply_to == ntt_first.id
            assert wait_for(lambda: text_posts(fake, "jabar")[2:], 60, "the cancel on Jawa Barat's X")[0].reply_to == (
                jabar_first.id
            )
            wait_for(lambda: len(sink.receipts("radio")) >= 3, 60, "the partner's update and cancel")
            wait_for(lambda: len(alerts()) >= 3, 60, "the update and cancel in NTT's CAP feed")
            # Nothing more is on its way: every delivery has its outcome.
            wait_for(
                lambda: all(x["state"] == "sent" for w in history(cfg) for x in w["deliveries"]),
                60,
                "every delivery sent",
            )
            kinds = [etree.fromstring(a).findtext(f"{NS}msgType") for a in alerts()]
        # A series cancelled takes no more corrections.
        late = bulletin(cfg, "correct", first["id"], "--by=budi", "--text-id=lagi")
        assert late.returncode == 1 and "cancelled" in late.stderr
        listed = bulletin(cfg, "list")
        assert [json.loads(line)["kind"] for line in listed.stdout.splitlines()] == ["cancel", "correction", "new"]
        shown = subprocess.run(
            [sys.executable, "-m", "warnd.cli", "history", "-c", str(cfg), "--account", "ntt"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert shown.count("written by ani, approved by budi") == 2 and "written by budi, approved by ani" in shown
        assert d.stop() == 0
    finally:
        d.kill()
        fake.stop()
        sink.stop()

    # Counted at the receivers: three posts per account, three webhooks, three CAP alerts.
    assert [p.reply_to for p in text_posts(fake, "ntt")] == [None, ntt_first.id, ntt_first.id]
    assert len(text_posts(fake, "jabar")) == 3
    assert [a.status for a in fake.attempts_by("ntt") if a.post_id is None] == []
    receipts = sink.receipts("radio")
    assert [json.loads(r.body)["warning"]["kind"] for r in receipts] == ["new", "update", "cancel"]
    assert len({r.key for r in receipts}) == 3 and sink.state.rejected == []
    assert sorted(kinds) == ["Alert", "Cancel", "Update"]
