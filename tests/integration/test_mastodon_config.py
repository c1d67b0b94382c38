"""A Mastodon account in the configuration: `warnd check` names a wrong instance URL by its key,
`warnd check --secrets` names a missing token and where to put it (never a value), and the
senders built for it post through the instance named."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.channels.mastodon import MastodonSender
from warnd.channels.registry import make_senders
from warnd.cli import main
from warnd.config.load import load
from warnd.config.outbound import Outbound
from warnd.config.secrets import Credentials
from warnd.testing.fake_mastodon import FakeMastodon

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""
TOKEN = "mt-Kq3Zp8Wd1Lx6"


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.delenv("WARND_SECRET_MASTODON_SULUT", raising=False)


def accounts(instance: str) -> str:
    return (
        "\n  sulut: {channel: mastodon, name: Sulut, credential: mastodon-sulut,"
        f' instance: "{instance}", regions: ["71"]}}\n'
    )


def check(capsys, *args):
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_an_instance_without_https_is_refused_by_its_key(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts("http://mastodon.example"))
    code, _, err = check(capsys, "-c", cfg)
    assert code == 2 and "accounts.sulut" in err and "instance" in err and "https" in err


def test_a_missing_token_is_named_with_where_it_goes_and_a_present_one_builds_a_sender(tmp_path, capsys, monkeypatch):
    with FakeMastodon({TOKEN: "sulut"}) as fake:
        cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, accounts=accounts(fake.base))
        code, out, err = check(capsys, "-c", cfg, "--secrets")
        assert code != 0 and "mastodon-sulut" in out + err and "WARND_SECRET_MASTODON_SULUT" in out + err

        monkeypatch.setenv("WARND_SECRET_MASTODON_SULUT", TOKEN)
        code, out, err = check(capsys, "-c", cfg, "--secrets")
        assert code == 0, out + err
        assert TOKEN not in out + err

        loaded = load(cfg)
        built = make_senders(
            loaded.file,
            lambda p: tmp_path / p,
            tmp_path / "state",
            Outbound(proxy="none"),
            Credentials.from_environment(),
        )
        sender = built.senders["account:sulut"]
        assert isinstance(sender, MastodonSender) and not built.problems

        async def probe() -> None:
            try:
                await sender.probe()
            finally:
                await sender.aclose()

        asyncio.run(probe())
        assert fake.attempts_at("/api/v1/accounts/verify_credentials", "GET")[0].account == "sulut"
