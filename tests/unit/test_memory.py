"""The daemon keeps glibc's malloc arenas to two (eight threads allocating at once share them,
where without the limit each gets its own: counted with glibc's own malloc_info), and maps
every block of 1 MB or more, so that a freed map image goes back to the system."""

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


MAPPED = """
import ctypes, sys
from warnd.cli.memory import fix_mmap_threshold

fixed = fix_mmap_threshold() if sys.argv[1] == "fix" else False


FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS.split()]


libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
# A map's image, drawn and freed: glibc would raise its threshold past blocks of this size.
big = bytearray(8 << 20)
del big
blocks = [bytearray(2 << 20) for _ in range(10)]
print(fixed, libc.mallinfo2().hblkhd >> 20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_blocks_stay_mapped_after_a_larger_one_was_freed(tmp_path: Path) -> None:
    """With the threshold fixed, ten 2 MB blocks after a freed 8 MB one are mapped (and so given
    back when freed); with glibc's own rule they come from the heap, kept when freed."""

    def mapped_mb(mode: str, **env: str) -> tuple[str, int]:
        clean = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"} | env
        out = subprocess.run(
            [sys.executable, "-c", MAPPED, mode], env=clean, capture_output=True, text=True, check=True
        ).stdout.split()
        return out[0], int(out[1])

    fixed, mapped = mapped_mb("fix")
    assert fixed == "True" and mapped >= 20
    assert mapped_mb("none")[1] < 20  # what fixing it changes
    assert mapped_mb("fix", MALLOC_MMAP_THRESHOLD_="33554432")[0] == "False"
