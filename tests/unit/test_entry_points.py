"""`python -m warnd` and `python -m warnd.cli` are the `warnd` command, as a subprocess runs them."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("module", ["warnd", "warnd.cli"])
def test_module_runs_the_command(module):
    out = subprocess.run(
        [sys.executable, "-m", module, "check", "-c", str(ROOT / "config" / "demo.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"{ROOT / 'config' / 'demo.yaml'}: OK: ")


@pytest.mark.parametrize("module", ["warnd", "warnd.cli"])
def test_module_without_a_command_prints_help_and_exits_2(module):
    out = subprocess.run([sys.executable, "-m", module], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stdout.startswith("usage: warnd ")
