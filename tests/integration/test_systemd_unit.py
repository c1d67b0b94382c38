"""The shipped unit, checked offline with systemd's own tools, and the install script."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "warnd.service"
MAX_EXPOSURE = 1.5

analyze = shutil.which("systemd-analyze")
if analyze is None and os.environ.get("WARND_REQUIRE_SYSTEMD_ANALYZE"):
    raise RuntimeError("systemd-analyze is required here (WARND_REQUIRE_SYSTEMD_ANALYZE) but missing")
needs_systemd = pytest.mark.skipif(
    analyze is None, reason="systemd-analyze is missing: install Debian's systemd package (.ci/run does)"
)


def _unit_for_here(tmp_path: Path) -> Path:
    # verify refuses an ExecStart= binary that does not exist: point it at this checkout's warnd.
    warnd = Path(sys.executable).parent / "warnd"
    assert warnd.exists()
    unit = tmp_path / "warnd.service"
    unit.write_text(UNIT.read_text().replace("/opt/warnd/venv/bin/warnd", str(warnd)))
    return unit


@needs_systemd
def test_systemd_analyze_verify_is_silent(tmp_path):
    unit = _unit_for_here(tmp_path)
    run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path)
    # verify exits 0 even on unknown keys; only stderr tells.
    assert run.returncode == 0 and run.stderr == "", run.stderr


@needs_systemd
def test_security_exposure_is_at_most_1_5(tmp_path):
    unit = _unit_for_here(tmp_path)
    run = subprocess.run(
        [analyze, "security", "--offline=yes", f"--threshold={int(MAX_EXPOSURE * 10)}", str(unit)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    last = run.stdout.strip().splitlines()[-1]
    assert "Overall exposure level for warnd.service" in last, run.stdout[-2000:]
    score = float(last.split(":")[1].split()[0])
    assert score <= MAX_EXPOSURE and run.returncode == 0, last
    guide = (ROOT / "docs" / "operator" / "install.md").read_text()
    assert f"exposure level **{score}**" in guide, "the install guide records the measured score"


def test_the_unit_says_what_the_daemon_does():
    text = UNIT.read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    for needed in (
        "Type=notify",
        "WatchdogSec=30",
        "ExecReload=/opt/warnd/venv/bin/warnd reload --pid $MAINPID -c /etc/warnd/warnd.yaml",
        "Restart=on-failure",
        "RestartPreventExitStatus=2 4",
        "StateDirectory=warnd",
        "ConfigurationDirectory=warnd",
        # The dynamic user reads /etc/warnd through the installer's group; nobody else can.
        "ConfigurationDirectoryMode=0750",
        "SupplementaryGroups=warnd-config",
        "LoadCredential=warnd:/etc/warnd/credentials",
        "DynamicUser=yes",
        "CapabilityBoundingSet=",
    ):
        assert needed in lines, needed
    # Nothing refuses an edited file before the daemon sees it: the daemon falls back to its
    # last good set and reports it, where a failing ExecStartPre would leave the unit failed.
    assert not [ln for ln in lines if ln.startswith("ExecStartPre=")]
    assert [ln for ln in lines if ln.startswith("ExecReload=")] == [
        "ExecReload=/opt/warnd/venv/bin/warnd reload --pid $MAINPID -c /etc/warnd/warnd.yaml"
    ]
    # Tokens never go in Environment= (`systemctl show` prints it).
    assert not [ln for ln in lines if ln.startswith(("Environment=", "EnvironmentFile="))]


def test_install_script_stages_a_tree_that_checks(tmp_path):
    root = tmp_path / "root"
    run = subprocess.run(
        ["bash", str(ROOT / "systemd" / "install.sh"), "--root", str(root), "--no-venv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    etc = root / "etc" / "warnd"
    assert (root / "etc" / "systemd" / "system" / "warnd.service").read_text() == UNIT.read_text()
    # What the unit's Documentation= names is installed, and the README's links into docs/ with it.
    (documentation,) = [ln for ln in UNIT.read_text().splitlines() if ln.startswith("Documentation=")]
    pages = [u.removeprefix("file://") for u in documentation.removeprefix("Documentation=").split()]
    assert "/opt/warnd/README.md" in pages and len(pages) > 1
    assert all((root / page.lstrip("/")).is_file() for page in pages), pages
    assert (root / "opt" / "warnd" / "docs" / "partners.md").read_text() == (ROOT / "docs" / "partners.md").read_text()
    assert stat.S_IMODE((etc / "credentials").stat().st_mode) == 0o700
    # Partner and ops URLs, account layout: nothing under /etc/warnd is for other local users.
    modes = {p.relative_to(etc): stat.S_IMODE(p.stat().st_mode) for p in etc.rglob("*") if not p.is_symlink()}
    assert stat.S_IMODE(etc.stat().st_mode) == 0o750
    assert modes[Path("warnd.yaml")] == 0o640
    assert {m for p, m in modes.items() if (etc / p).is_dir() and p.name != "credentials"} == {0o750}
    assert {m for p, m in modes.items() if (etc / p).is_file()} == {0o640}
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARND_SECRET_")}
    check = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "check", "-c", str(etc / "warnd.yaml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    # The credentials an operator must add are named, with the folder the unit loads.
    secrets = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "check", "--secrets", "-c", str(etc / "warnd.yaml")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert secrets.returncode == 2 and "/etc/warnd/credentials/x-app.consumer_key" in secrets.stderr
    # A second run keeps the operator's edits.
    (etc / "warnd.yaml").write_text((etc / "warnd.yaml").read_text() + "\n# edited\n")
    # ... and closes a tree an older installer left readable by everyone.
    (etc / "warnd.yaml").chmod(0o644)
    (etc / "rules").chmod(0o755)
    again = subprocess.run(
        ["bash", str(ROOT / "systemd" / "install.sh"), "--root", str(root), "--no-venv"], capture_output=True, text=True
    )
    assert again.returncode == 0 and "kept the existing configuration" in again.stdout
    assert (etc / "warnd.yaml").read_text().endswith("# edited\n")
    assert stat.S_IMODE((etc / "warnd.yaml").stat().st_mode) == 0o640
    assert stat.S_IMODE((etc / "rules").stat().st_mode) == 0o750


def test_credentials_from_the_folder_the_unit_loads(tmp_path):
    from warnd.config import secrets

    (tmp_path / "warnd_x-aceh.access_token").write_text("from-the-folder\n")
    got = secrets.read("x-aceh.access_token", {"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert got is not None and got.reveal() == "from-the-folder"
    assert secrets.read("x-aceh.access_token_secret", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) is None
