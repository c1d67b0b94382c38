"""The daemon keeps glibc's malloc arenas to two: eight threads allocating at once share them,
where without the limit each gets its own (counted with glibc's own malloc_info)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import ctypes, re, sys, threading
from warnd.cli.memory import limit_arenas

limited = limit_arenas() if sys.argv[1] == "limit" else False
barrier = threading.Barrier(8)
keep = []

def work():
    barrier.wait()
    for _ in range(2000):
        keep.append(bytearray(4096))

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
f = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, f)
libc.fclose(f)
print(limited, len(re.findall(r"<heap nr=", open(sys.argv[2]).read())))
"""


def arenas(tmp_path: Path, mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(tmp_path / "info.xml")],
        env=clean,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_the_daemon_keeps_two_arenas_and_an_operators_setting_wins(tmp_path: Path) -> None:
    assert arenas(tmp_path, "limit") == ("True", 2)
    limited, unlimited = arenas(tmp_path, "none")
    assert limited == "False" and unlimited > 2  # what the limit saves
    assert arenas(tmp_path, "limit", MALLOC_ARENA_MAX="3") == ("False", 3)
