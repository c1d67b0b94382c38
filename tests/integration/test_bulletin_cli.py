"""`warnd bulletin` in-process on a real configuration and store: a text from a file, the exit
codes of a malformed bulletin (2) and of a refusal by state (1), and the table of `list`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import write_config
from warnd.cli import main
from warnd.clock import FixedClock

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
FEEDS = "  - id: gauge\n    format: bmkg-tews\n    url: http://127.0.0.1:9/none\n"


def password(name: str) -> str:
    return f"sandi rahasia {name}"


class Operators:
    """Operators registered with `warnd operator add`, and their passwords on standard input
    for each command that acts as one of them (`--password-stdin`)."""

    def __init__(self, cfg: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
        self.cfg, self.clock, self.monkeypatch = cfg, clock, monkeypatch
        for name in names:
            self.stdin(password(name))
            assert main(["operator", "add", name, "--password-stdin", "-c", str(cfg)], clock=clock) == 0

    def stdin(self, text: str) -> None:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(text + "\n"))

    def run(self, argv: list[str], given: str | None = None) -> int:
        """`argv` with the password of the operator its `--by` names (or `given`)."""
        by = argv[argv.index("--by") + 1]
        self.stdin(given if given is not None else password(by))
        return main([*argv, "--password-stdin"], clock=self.clock)


def test_write_from_a_file_approve_and_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, feeds=FEEDS, rules="rules: []\n")
    text = tmp_path / "teks.txt"
    text.write_text("Hujan lebat disertai petir\ndi Kabupaten Bandung.\n", encoding="utf-8")
    clock = FixedClock(NOW)
    ops = Operators(cfg, clock, monkeypatch, "ani", "budi", "citra")
    capsys.readouterr()
    c = ["-c", str(cfg)]
    write = ["bulletin", "write", *c, "--by", "ani", "--region", "32.04", "--hazard", "weather"]
    write += ["--status", "actual", "--headline", "Hujan lebat", "--text-id-file", str(text), "--format", "json"]
    assert ops.run(write) == 0
    b = json.loads(capsys.readouterr().out)["bulletin"]
    assert (
        b["text_id"] == "Hujan lebat disertai petir\ndi Kabupaten Bandung."
        and b["created_at"] == "2026-11-30T03:00:00Z"
    )

    assert ops.run(["bulletin", "write", *c, "--by", "ani", "--account", "nope", *write[6:]]) == 2
    assert "accounts: unknown account 'nope'" in capsys.readouterr().err
    assert ops.run(["bulletin", "approve", b["id"], *c, "--by", "ani"]) == 1
    assert "two-person" in capsys.readouterr().err
    # A name is worth what proves it: another operator's name without their password, or a name
    # no operator has, approves nothing.
    assert ops.run(["bulletin", "approve", b["id"], *c, "--by", "budi"], given=password("ani")) == 1
    assert "no such operator with that password" in capsys.readouterr().err
    assert ops.run(["bulletin", "approve", b["id"], *c, "--by", "dedi"], given=password("dedi")) == 1
    assert "no such operator with that password" in capsys.readouterr().err
    assert ops.run(["bulletin", "show", b["id"], *c, "--by", "ani", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "pending"
    assert ops.run(["bulletin", "approve", b["id"], *c, "--by", "budi"]) == 0
    assert "approved by budi: 1 warning(s) queued" in capsys.readouterr().out
    assert ops.run(["bulletin", "reject", b["id"], *c, "--by", "citra", "--why", "late"]) == 1
    assert "is approved (by budi), not pending" in capsys.readouterr().err

    assert main(["bulletin", "list", *c], clock=clock) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert b["id"] in line and "approved" in line and "by ani, approved by budi" in line
    assert main(["history", *c], clock=clock) == 0
    assert f"operator bulletin {b['id']}: written by ani, approved by budi" in capsys.readouterr().out


def test_without_the_two_person_rule_the_name_is_a_record_and_no_password_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write_config(tmp_path, feeds=FEEDS, rules="rules: []\n", extra="bulletins:\n  two_person: false\n")
    clock = FixedClock(NOW)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # nothing to read: none is asked for
    c = ["-c", str(cfg), "--by", "ani", "--format", "json"]
    write = ["bulletin", "write", *c, "--region", "32.04", "--hazard", "weather", "--status", "exercise"]
    assert main([*write, "--headline", "Latihan", "--text-id", "Latihan."], clock=clock) == 0
    b = json.loads(capsys.readouterr().out)["bulletin"]
    assert main(["bulletin", "approve", b["id"], *c], clock=clock) == 0
    assert json.loads(capsys.readouterr().out)["bulletin"]["approver"] == "ani"


def test_a_text_on_standard_input_is_refused_beside_the_password_read_from_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Standard input is the password's with --password-stdin: a text file that is standard
    input too would be read whole, password and all. A real pipe, in a process of its own."""
    cfg = write_config(tmp_path, feeds=FEEDS, rules="rules: []\n")
    Operators(cfg, FixedClock(NOW), monkeypatch, "ani")
    capsys.readouterr()
    write = [sys.executable, "-m", "warnd", "bulletin", "write", "-c", str(cfg), "--by", "ani"]
    write += ["--region", "32.04", "--hazard", "weather", "--status", "actual", "--headline", "Hujan lebat"]
    for stdin in ("/dev/stdin", "/dev/fd/0"):
        done = subprocess.run(
            [*write, "--text-id-file", stdin, "--password-stdin"],
            input=password("ani") + "\nHujan lebat di Kabupaten Bandung.\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert f"{stdin}: is standard input, which --password-stdin reads the password from" in done.stderr
        assert password("ani") not in done.stdout + done.stderr
    # The same text from a file of its own is written.
    text = tmp_path / "teks.txt"
    text.write_text("Hujan lebat di Kabupaten Bandung.\n", encoding="utf-8")
    done = subprocess.run(
        [*write, "--text-id-file", str(text), "--password-stdin", "--format", "json"],
        input=password("ani") + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bulletin"]["text_id"] == "Hujan lebat di Kabupaten Bandung."
    assert main(["bulletin", "list", "-c", str(cfg)], clock=FixedClock(NOW)) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_with_standard_input_closed_a_bulletin_without_the_two_person_rule_is_written(tmp_path: Path) -> None:
    """No descriptor 0 at all (a script run with `<&-`): nothing can be shared with it."""
    cfg = write_config(tmp_path, feeds=FEEDS, rules="rules: []\n", extra="bulletins:\n  two_person: false\n")
    write = [sys.executable, "-m", "warnd", "bulletin", "write", "-c", str(cfg), "--by", "ani", "--format", "json"]
    write += ["--region", "32.04", "--hazard", "weather", "--status", "exercise", "--headline", "Latihan"]
    done = subprocess.run(
        [*write, "--text-id", "Latihan.", "--password-stdin"],
        preexec_fn=lambda: os.close(0),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["bulletin"]["text_id"] == "Latihan."
