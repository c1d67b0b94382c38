"""The daemon process's allocator: glibc's malloc arenas kept to a few, and large blocks always
given back.

glibc gives a thread that allocates while another holds the main arena an arena of its own, up
to eight per core, and keeps what each arena once held. The daemon's threads (the store's, the
X senders', the map drawing) each grew one: after its first polls the national configuration's
daemon held 278 MB at its peak where the data needs about 160 (the measured notes, "What the
process holds"). Two arenas cost nothing measurable in speed here: the threads mostly wait on
the network, the disk and the interpreter's lock, not on malloc.

glibc also raises its mmap threshold (from 128 KB up to 32 MB) each time a block it mapped is
freed, so that the next blocks of that size come from the heap, where what is freed stays with
the process. A warning's map is drawn on an image of about 10 MB: after the first few, every
map was drawn in heap memory the daemon then kept (the national configuration at rest held
223 MB; with the threshold fixed at 1 MB, 193 MB, and its peak 213 MB against 224). A block
over 1 MB is mapped and unmapped whole: a few page faults per map or large document, nothing
on the path of a text post, whose allocations are small.
"""

from __future__ import annotations

import ctypes
import os

# glibc's malloc.h: mallopt's parameters for the arena count and the mmap threshold.
M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3
ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Before any thread starts. An operator's MALLOC_ARENA_MAX wins (glibc read it already);
    without glibc (musl) there is nothing to set. Returns whether the limit was set here."""
    return _set("MALLOC_ARENA_MAX", M_ARENA_MAX, arenas)


def fix_mmap_threshold(size: int = MMAP_THRESHOLD) -> bool:
    """Blocks of `size` and more are always mapped, and unmapped when freed (setting it turns
    glibc's raising of the threshold off). An operator's MALLOC_MMAP_THRESHOLD_ wins; without
    glibc nothing is set. Returns whether it was set here."""
    return _set("MALLOC_MMAP_THRESHOLD_", M_MMAP_THRESHOLD, size)


def _set(variable: str, param: int, value: int) -> bool:
    """mallopt(param, value), unless the operator set glibc's own `variable` (read at start)."""
    if os.environ.get(variable):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(param, value))
