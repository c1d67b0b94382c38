"""An account on several channels in the configuration (`channels:`): `warnd check` names a
wrong channel setting by its full key and a missing credential by the channel that needs it;
the senders built are one per channel, each with a target of its own; warnings go to each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.channels.mastodon import MastodonSender
from warnd.channels.registry import make_senders
from warnd.channels.telegram import TelegramSender
from warnd.channels.x import XSender
from warnd.cli import main
from warnd.config.load import load
from warnd.config.outbound import Outbound
from warnd.config.secrets import Credentials
from warnd.model import Priority, Status, Warning, WarningKind
from warnd.pipeline.issue import targets
from warnd.runtime.build import build
from warnd.runtime.conditions import Live, collect
from warnd.store.db import connect
from warnd.store.outbox import Outbox
from warnd.store.targets import Targets

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""
ENV = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
    "WARND_SECRET_X_NTT_ACCESS_TOKEN": "tok-ntt",
    "WARND_SECRET_X_NTT_ACCESS_TOKEN_SECRET": "sec-ntt",
    "WARND_SECRET_TG_NTT": "7000003:AAH-ntt",
    "WARND_SECRET_MASTODON_NTT": "mt-ntt",
}


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for key in ENV:
        monkeypatch.delenv(key, raising=False)


def accounts(telegram: str = 'chat_id: "@gempa_ntt"', instance: str = "https://mastodon.example") -> str:
    return f"""
  gempa-ntt:
    name: "Gempa NTT"
    regions: ["53"]
    channels:
      x: {{credential: x-ntt}}
      telegram: {{credential: tg-ntt, {telegram}}}
      mastodon: {{credential: mastodon-ntt, instance: "{instance}"}}
"""


def check(capsys, *args):
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_wrong_channel_setting_is_named_by_its_full_key(tmp_path, capsys):
    cfg = write_config(
        tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts(instance="http://mastodon.example")
    )
    code, out = check(capsys, "-c", cfg)
    assert code == 2 and "accounts.gempa-ntt.channels.mastodon.instance" in out and "https" in out
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts(telegram='chat_id: "no spaces"'))
    code, out = check(capsys, "-c", cfg)
    assert code == 2 and "accounts.gempa-ntt.channels.telegram.chat_id" in out


def test_an_account_with_neither_channel_nor_channels_and_an_unknown_channel_are_refused(tmp_path, capsys):
    bare = '\n  gempa-ntt: {name: "Gempa NTT", regions: ["53"]}\n'
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=bare)
    code, out = check(capsys, "-c", cfg)
    assert code == 2 and "accounts.gempa-ntt" in out and "channels" in out and "channel" in out
    sms = '\n  gempa-ntt: {name: "Gempa NTT", regions: ["53"], channels: {sms: {number: "112"}}}\n'
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=sms)
    code, out = check(capsys, "-c", cfg)
    assert code == 2 and "accounts.gempa-ntt.channels.sms" in out
    none = '\n  gempa-ntt: {name: "Gempa NTT", regions: ["53"], channels: {}}\n'
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=none)
    code, out = check(capsys, "-c", cfg)
    assert code == 2 and "at least one" in out


def test_a_missing_credential_is_named_by_the_channel_that_needs_it(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts())
    for key, value in ENV.items():
        if key != "WARND_SECRET_TG_NTT":
            monkeypatch.setenv(key, value)
    code, out = check(capsys, "-c", cfg, "--secrets")
    assert code != 0 and "accounts.gempa-ntt.channels.telegram.credential" in out and "WARND_SECRET_TG_NTT" in out
    assert "channels.x" not in out and "channels.mastodon" not in out
    assert all(v not in out for v in ENV.values())

    monkeypatch.setenv("WARND_SECRET_TG_NTT", ENV["WARND_SECRET_TG_NTT"])
    code, out = check(capsys, "-c", cfg, "--secrets")
    assert code == 0, out


def test_each_channel_is_a_sender_and_a_target_of_its_own(tmp_path, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts())
    creds = Credentials.from_environment()
    built = make_senders(load(cfg).file, lambda p: tmp_path / p, tmp_path / "state", Outbound(proxy="none"), creds)
    assert not built.problems
    kinds = {t: type(s) for t, s in built.senders.items()}
    assert kinds["account:gempa-ntt/x"] is XSender
    assert kinds["account:gempa-ntt/telegram"] is TelegramSender
    assert kinds["account:gempa-ntt/mastodon"] is MastodonSender
    assert "account:gempa-ntt" not in kinds
    # Each sender names its own target: its lane, holds, dead letters and credential check.
    assert all(s.target == t for t, s in built.senders.items())
    # Budgets are per channel: no two senders of the account count against one bucket.
    buckets = [b.bucket for t, s in built.senders.items() if t.startswith("account:") for b in s.budgets]
    assert len(buckets) == len(set(buckets))

    w = Warning(
        id="w-1",
        event_id="e-1",
        revision="r",
        rule="r",
        account="gempa-ntt",
        kind=WarningKind.NEW,
        severity="moderate",
        priority=Priority.NORMAL,
        regions=(),
        lang="id",
        text="Gempa",
        status=Status.ACTUAL,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    to = targets(w, "earthquake", {}, lambda t: False, ("x", "telegram", "mastodon"))
    assert to == [
        "account:gempa-ntt/x",
        "account:gempa-ntt/telegram",
        "account:gempa-ntt/mastodon",
        "feed:gempa-ntt",
    ]


def test_an_account_gone_from_channel_to_channels_keeps_its_queue_and_thread_by_a_move(tmp_path, capsys, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    one = '\n  gempa-ntt: {channel: x, name: "Gempa NTT", regions: ["53"], credential: x-ntt}\n'
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=one)
    conn = connect(tmp_path / "state" / "warnd.db")
    box = Outbox(conn)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    first, update = ntt_warning("w-1", WarningKind.NEW), ntt_warning("w-2", WarningKind.UPDATE)
    with conn.transaction():
        box.enqueue(first, ["account:gempa-ntt"], now)
    sent = box.head("account:gempa-ntt")
    box.mark_sent(sent.id, "1800000000000000001", now)
    with conn.transaction():
        box.enqueue(update, ["account:gempa-ntt"], now)
    Targets(conn).hold("account:gempa-ntt", now + timedelta(hours=1), "rate_limited", "X said wait")
    conn.close()

    # The account now publishes on X and Telegram: its old target has no sender, and the
    # notice names the way out.
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts())
    b = build(cfg, with_senders=True)
    conn = connect(tmp_path / "state" / "warnd.db")
    found = {(c.kind, c.subject): c.message for c in collect(conn, b, now, Live(now))}
    conn.close()
    message = found[("no_channel", "account:gempa-ntt")]
    assert "warnd outbox move account:gempa-ntt <account:gempa-ntt/x | account:gempa-ntt/telegram" in message

    # Refused: to a target of another account, to one not configured, from one still configured.
    for source, to in (
        ("account:gempa-ntt", "account:other/x"),
        ("account:gempa-ntt", "account:gempa-ntt/bluesky"),
        ("account:gempa-ntt/x", "account:gempa-ntt/telegram"),
    ):
        assert main(["outbox", "move", "-c", str(cfg), source, to]) != 0
        assert capsys.readouterr().err
    assert main(["outbox", "move", "-c", str(cfg), "account:gempa-ntt", "account:gempa-ntt/x"]) == 0
    assert "2 deliveries moved from account:gempa-ntt to account:gempa-ntt/x" in capsys.readouterr().out

    conn = connect(tmp_path / "state" / "warnd.db")
    box = Outbox(conn)
    # The waiting update is in X's lane now, and the first post it answers is found there.
    assert box.head("account:gempa-ntt/x").warning.id == "w-2"
    anchor = box.anchor("e-1", "gempa-ntt", "account:gempa-ntt/x")
    assert anchor is not None and anchor.remote_id == "1800000000000000001"
    assert box.head("account:gempa-ntt") is None
    # The old target's hold went with it: no notice stays behind for a target no one uses.
    assert all(t.target != "account:gempa-ntt" for t in Targets(conn).all())
    found = {(c.kind, c.subject) for c in collect(conn, b, now, Live(now))}
    conn.close()
    assert not any(subject == "account:gempa-ntt" for _, subject in found)


def ntt_warning(wid: str, kind: WarningKind) -> Warning:
    return Warning(
        id=wid,
        event_id="e-1",
        revision=wid,
        rule="r",
        account="gempa-ntt",
        kind=kind,
        severity="moderate",
        priority=Priority.NORMAL,
        regions=(),
        lang="id",
        text=f"Gempa {wid}",
        status=Status.ACTUAL,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
