"""The daemon process's allocator: glibc's malloc arenas kept to a few.

glibc gives a thread that allocates while another holds the main arena an arena of its own, up
to eight per core, and keeps what each arena once held. The daemon's threads (the store's, the
X senders', the map drawing) each grew one: after its first polls the national configuration's
daemon held 278 MB at its peak where the data needs about 160 (the measured notes, "What the
process holds"). Two arenas cost nothing measurable in speed here: the threads mostly wait on
the network, the disk and the interpreter's lock, not on malloc.
"""

from __future__ import annotations

import ctypes
import os

# glibc's malloc.h: mallopt's parameter for the arena count.
M_ARENA_MAX = -8
ARENAS = 2


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Before any thread starts. An operator's MALLOC_ARENA_MAX wins (glibc read it already);
    without glibc (musl) there is nothing to set. Returns whether the limit was set here."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, arenas))
