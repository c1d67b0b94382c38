"""URLs that carry a secret: refused in YAML, read from a credential (checked to be a URL,
named and never shown when it is not), and found by `warnd check --secrets` in the folder the
installer makes, or in one given."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.cli import main
from warnd.config.secrets import Credentials
from warnd.errors import FetchError
from warnd.runtime.build import build
from warnd.runtime.conditions import Live, collect
from warnd.store.sqlite import connect
from warnd.testing.webhook_sink import WebhookSink

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""
HOOK_TOKEN = "hk-Tq8Wz3Lm5Xc1"
T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
PARTNER_KEY = "pk-Jd6Ns2Vb9Hr4"


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch):
    """Only what a test gives: nothing from the environment running the tests."""
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    for name in (
        "WARND_SECRET_PARTNER_RADIO",
        "WARND_SECRET_PARTNER_RADIO_URL",
        "WARND_SECRET_OPS_CHAT_URL",
        "WARND_SECRET_GEMPA_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def check(capsys, *args):
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def partner(url_part: str) -> str:
    return f"partners:\n  radio: {{name: Radio, {url_part}, secret: partner-radio, accounts: [jabar]}}\n"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        (f"https://partner.example/hook?token={HOOK_TOKEN}", "query parameter(s) token"),
        (f"https://radio:{HOOK_TOKEN}@partner.example/hook", "user:password@"),
        (f"https://partner.example/hook?X-Amz-Signature={HOOK_TOKEN}&page=1", "X-Amz-Signature"),
    ],
)
def test_a_literal_url_carrying_a_secret_is_refused_without_repeating_it(tmp_path, capsys, url, said):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=partner(f'url: "{url}"'))
    code, _, err = check(capsys, "-c", cfg)
    assert code == 2
    assert "partners.radio.url" in err and said in err and "url_credential" in err
    assert HOOK_TOKEN not in err


def test_a_feed_url_with_a_password_is_refused_in_the_catalogue_and_in_the_config(tmp_path, capsys):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "private.yaml").write_text(
        f"id: private\nformat: bmkg-tews\nurl: https://reader:{HOOK_TOKEN}@feeds.example/q.json\n"
    )
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra="feed_catalogue: feeds\n")
    code, _, err = check(capsys, "-c", cfg)
    assert code == 2 and "private.yaml" in err and "user:password@" in err and HOOK_TOKEN not in err

    feeds = f"  - id: other\n    format: bmkg-tews\n    url: https://feeds.example/q.json?apikey={HOOK_TOKEN}\n"
    cfg = write_config(tmp_path / "inline", feeds=feeds, rules=RULES_ANY_QUAKE)
    code, _, err = check(capsys, "-c", cfg)
    assert code == 2 and "feeds[0].url" in err and "apikey" in err and HOOK_TOKEN not in err


@pytest.mark.parametrize("url_part", ["url: https://partner.example/hook, url_credential: partner-radio.url", ""])
def test_a_partner_has_exactly_one_of_url_and_url_credential(tmp_path, capsys, url_part):
    extra = partner(url_part) if url_part else partner("format: json")
    code, _, err = check(capsys, "-c", write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=extra))
    assert code == 2 and "partners.radio" in err and "exactly one of url" in err


def test_url_credentials_are_checked_like_every_credential(tmp_path, capsys, monkeypatch):
    extra = partner("url_credential: partner-radio.url") + (
        "ops:\n  chat: {channel: webhook, url_credential: ops-chat.url}\n"
    )
    feeds = "  - id: gempa\n    format: bmkg-tews\n    url_credential: gempa.url\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra=extra)
    code, _, _ = check(capsys, "-c", cfg)
    assert code == 0, "without --secrets only the files are checked"

    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO", PARTNER_KEY)
    code, _, err = check(capsys, "--secrets", "-c", cfg)
    assert code == 2
    for path, name in (
        ("partners.radio.url_credential", "partner-radio.url"),
        ("ops.chat.url_credential", "ops-chat.url"),
        ("feeds[0].url_credential", "gempa.url"),
    ):
        line = next(ln for ln in err.splitlines() if path in ln)
        assert f"credential {name!r} is missing" in line and f"/etc/warnd/credentials/{name}" in line

    # A value that is no URL is named, never shown.
    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO_URL", f"hooks.example/{HOOK_TOKEN}")
    monkeypatch.setenv("WARND_SECRET_OPS_CHAT_URL", f"ftp://chat.example/{HOOK_TOKEN}")
    monkeypatch.setenv("WARND_SECRET_GEMPA_URL", f"https://reader:{HOOK_TOKEN}@feeds.example/q.json")
    code, _, err = check(capsys, "--secrets", "-c", cfg)
    assert code == 2
    assert "'partner-radio.url' does not hold an http(s) URL" in err
    assert "'ops-chat.url' does not hold an http(s) URL" in err
    assert "gempa.url" not in err, "a feed URL with user:password@ is what a credential is for"
    assert HOOK_TOKEN not in err


def test_senders_and_feeds_use_the_url_their_credential_holds(tmp_path, monkeypatch):
    sink = WebhookSink({"radio": PARTNER_KEY})
    hook = sink.url("radio") + f"/{HOOK_TOKEN}?token={HOOK_TOKEN}"
    feeds = "  - id: gempa\n    format: bmkg-tews\n    url_credential: gempa.url\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra=partner("url_credential: partner-radio.url"))
    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO", PARTNER_KEY)
    monkeypatch.setenv("WARND_SECRET_PARTNER_RADIO_URL", hook)
    b = build(cfg, with_senders=True)
    with pytest.raises(FetchError, match=r"credential 'gempa\.url' is missing") as e:
        b.feed_url(b.config.feeds[0].spec)
    assert "WARND_SECRET_GEMPA_URL" in str(e.value)
    sender = b.senders["partner:radio"]
    sink.start()

    async def probe_once() -> None:
        # One loop for the probe and the close: the sender's pooled connection belongs to it.
        try:
            await sender.probe()  # type: ignore[attr-defined]
        finally:
            await sender.aclose()

    try:
        asyncio.run(probe_once())
    finally:
        sink.stop()
    (request,) = sink.state.requests
    assert request.partner == "radio" and request.headers.get("X-Warnd-Kind") == "probe"
    assert sink.probes("radio"), "the probe went to the credential's URL and its signature was good"

    monkeypatch.setenv("WARND_SECRET_GEMPA_URL", "https://feeds.example/q.json?token=t0k3n")
    b = build(cfg, with_senders=False)
    assert b.feed_url(b.config.feeds[0].spec) == "https://feeds.example/q.json?token=t0k3n"


def test_the_daemon_names_each_url_credential_missing_as_a_notice(tmp_path):
    extra = partner("url_credential: partner-radio.url") + (
        "ops:\n  chat: {channel: webhook, url_credential: ops-chat.url}\n"
    )
    feeds = "  - id: gempa\n    format: bmkg-tews\n    url_credential: gempa.url\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra=extra)
    b = build(cfg, with_senders=True, credentials=Credentials.from_environment({}))
    conn = connect(tmp_path / "warnd.db")
    found = {(c.kind, c.subject): c.message for c in collect(conn, b, T0, Live(T0))}
    conn.close()
    for subject, name in (
        ("partner:radio", "partner-radio.url"),
        ("ops:chat", "ops-chat.url"),
        ("feed:gempa", "gempa.url"),
    ):
        assert f"credential {name!r} is missing" in found[("credentials_missing", subject)]


def test_a_catalogue_feed_can_be_read_from_a_credential_instead(tmp_path, monkeypatch):
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "gempa.yaml").write_text("id: gempa\nformat: bmkg-tews\nurl: https://feeds.example/q.json\n")
    feeds = "  - use: gempa\n    url_credential: gempa.url\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, extra="feed_catalogue: feeds\n")
    monkeypatch.setenv("WARND_SECRET_GEMPA_URL", "https://reader:pw@feeds.example/q.json")
    b = build(cfg, with_senders=False)
    spec = b.config.feeds[0].spec
    assert spec.url is None and spec.url_credential == "gempa.url"
    assert b.feed_url(spec) == "https://reader:pw@feeds.example/q.json"


def installed(tmp_path, folder_name="credentials"):
    """A config with one partner, and its credential files named plainly as the installer says."""
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=partner("url_credential: partner-radio.url"))
    folder = tmp_path / folder_name
    folder.mkdir(mode=0o700)
    (folder / "partner-radio").write_text(PARTNER_KEY + "\n")
    (folder / "partner-radio.url").write_text(f"https://partner.example/hook/{HOOK_TOKEN}\n")
    return cfg, folder


def test_check_secrets_reads_the_installed_folder_beside_the_config(tmp_path, capsys):
    cfg, _ = installed(tmp_path)
    code, out, err = check(capsys, "--secrets", "-c", cfg)
    assert code == 0, err
    assert "OK" in out and HOOK_TOKEN not in out + err


def test_check_secrets_reads_a_folder_given_and_only_that(tmp_path, capsys):
    cfg, folder = installed(tmp_path, "elsewhere")
    code, _, err = check(capsys, "--secrets", "-c", cfg)
    assert code == 2 and "credential 'partner-radio.url' is missing" in err
    code, _, err = check(capsys, "--secrets", "--credentials", folder, "-c", cfg)
    assert code == 0, err
    code, _, err = check(capsys, "--secrets", "--credentials", tmp_path / "nowhere", "-c", cfg)
    assert code == 2 and "nowhere is no folder" in err


def test_check_secrets_in_the_service_reads_systemds_folder(tmp_path, capsys, monkeypatch):
    cfg, folder = installed(tmp_path, "elsewhere")
    # systemd names the files of the folder the unit loads warnd_<file name>.
    loaded = tmp_path / "run-credentials"
    loaded.mkdir()
    for f in folder.iterdir():
        (loaded / f"warnd_{f.name}").write_text(f.read_text())
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(loaded))
    code, _, err = check(capsys, "--secrets", "-c", cfg)
    assert code == 0, err


def test_the_daemon_never_reads_the_installed_folder(tmp_path):
    cfg, _ = installed(tmp_path)
    b = build(cfg, with_senders=True, credentials=Credentials.from_environment({}))
    assert "partner:radio" in b.missing and "partner:radio" not in b.senders
