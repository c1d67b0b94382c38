"""`warnd bulletin` in-process on a real configuration and store: a text from a file, the exit
codes of a malformed bulletin (2) and of a refusal by state (1), and the table of `list`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import write_config
from warnd.cli import main
from warnd.clock import FixedClock

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
FEEDS = "  - id: gauge\n    format: bmkg-tews\n    url: http://127.0.0.1:9/none\n"


def test_write_from_a_file_approve_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, feeds=FEEDS, rules="rules: []\n")
    text = tmp_path / "teks.txt"
    text.write_text("Hujan lebat disertai petir\ndi Kabupaten Bandung.\n", encoding="utf-8")
    clock = FixedClock(NOW)
    c = ["-c", str(cfg)]
    write = ["bulletin", "write", *c, "--by", "ani", "--region", "32.04", "--hazard", "weather"]
    write += ["--status", "actual", "--headline", "Hujan lebat", "--text-id-file", str(text), "--format", "json"]
    assert main(write, clock=clock) == 0
    b = json.loads(capsys.readouterr().out)["bulletin"]
    assert (
        b["text_id"] == "Hujan lebat disertai petir\ndi Kabupaten Bandung."
        and b["created_at"] == "2026-11-30T03:00:00Z"
    )

    assert main(["bulletin", "write", *c, "--by", "ani", "--account", "nope", *write[6:]], clock=clock) == 2
    assert "accounts: unknown account 'nope'" in capsys.readouterr().err
    assert main(["bulletin", "approve", b["id"], *c, "--by", "ani"], clock=clock) == 1
    assert "two-person" in capsys.readouterr().err
    assert main(["bulletin", "approve", b["id"], *c, "--by", "budi"], clock=clock) == 0
    assert "approved by budi: 1 warning(s) queued" in capsys.readouterr().out
    assert main(["bulletin", "reject", b["id"], *c, "--by", "citra", "--why", "late"], clock=clock) == 1
    assert "is approved (by budi), not pending" in capsys.readouterr().err

    assert main(["bulletin", "list", *c], clock=clock) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert b["id"] in line and "approved" in line and "by ani, approved by budi" in line
    assert main(["history", *c], clock=clock) == 0
    assert f"operator bulletin {b['id']}: written by ani, approved by budi" in capsys.readouterr().out
