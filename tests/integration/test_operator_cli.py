"""`warnd operator`: passwords from standard input (never echoed back), from a terminal only
when there is one, a changed password or a removal ending the operator's sessions, and names
checked before anything is stored."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.cli import main
from warnd.runtime.console_auth import find_session, open_session, verify
from warnd.store.db import connect
from warnd.store.operators import Operators

FEED = "  - {id: autogempa, format: bmkg-tews, url: 'http://127.0.0.1:9/auto.json'}\n"
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def run(monkeypatch: pytest.MonkeyPatch, cfg: Path, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["operator", *args, "-c", str(cfg)])


def test_add_passwd_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    cfg = write_config(tmp_path, feeds=FEED, rules=RULES_ANY_QUAKE)
    assert run(monkeypatch, cfg, "add", "siti", "--password-stdin", stdin="first passphrase\n") == 0
    assert run(monkeypatch, cfg, "add", "siti", "--password-stdin", stdin="other passphrase\n") == 1
    conn = connect(tmp_path / "state" / "warnd.db")
    found = Operators(conn).get("siti")
    assert found is not None and verify(found.hash, "first passphrase")
    session = open_session(conn, "siti", NOW, hours=1)

    assert run(monkeypatch, cfg, "passwd", "siti", "--password-stdin", stdin="second passphrase\n") == 0
    found = Operators(conn).get("siti")
    assert found is not None and verify(found.hash, "second passphrase")
    assert find_session(conn, session.token, NOW) is None

    assert run(monkeypatch, cfg, "list") == 0
    assert "siti" in capsys.readouterr().out
    assert run(monkeypatch, cfg, "remove", "siti") == 0
    assert run(monkeypatch, cfg, "remove", "siti") == 1
    assert Operators(conn).get("siti") is None
    conn.close()
    out = capsys.readouterr()
    assert "passphrase" not in out.out + out.err


def test_what_is_refused_before_anything_is_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    cfg = write_config(tmp_path, feeds=FEED, rules=RULES_ANY_QUAKE)
    # No terminal and no --password-stdin: nothing to read a password from.
    assert run(monkeypatch, cfg, "add", "siti") == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert run(monkeypatch, cfg, "add", "siti", "--password-stdin", stdin="short\n") == 2
    assert "10 to 1024 characters" in capsys.readouterr().err
    assert run(monkeypatch, cfg, "add", "si ti", "--password-stdin", stdin="long enough pass\n") == 2
    assert run(monkeypatch, cfg, "add", "token", "--password-stdin", stdin="long enough pass\n") == 2
    assert "NAME:" in capsys.readouterr().err
    assert (
        not (tmp_path / "state" / "warnd.db").exists()
        or Operators(connect(tmp_path / "state" / "warnd.db")).all() == []
    )
