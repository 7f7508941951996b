"""Keep a long-lived run process's memory flat across titles.

glibc gives each thread that allocates an arena of its own (up to eight per core) and seldom hands
their freed pages back. `vcn run` over many titles in one process, whose stages run on Dagster's and
onnxruntime's threads, then grew about 10 MB per title. Two arenas keep it flat at the same speed
(`python bench/bench_titles_memory.py`).
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when the cap was set.

    Arenas made before the call stay, so call it early. A MALLOC_ARENA_MAX in the environment is the
    user's own choice, which glibc has applied already; other C libraries have no arenas.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl)
        return False
    return libc.mallopt(M_ARENA_MAX, arenas) == 1
