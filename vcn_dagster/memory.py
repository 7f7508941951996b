"""Keep a run process's memory down: across titles, and across the stages of one title.

- glibc gives each thread that allocates an arena of its own (up to eight per core) and seldom hands
  their freed pages back; Dagster's and onnxruntime's threads all allocate.
- pyarrow's default pool (mimalloc) holds on to pages it freed, beside what glibc holds.

With both as they come, one `vcn run` over six titles grew 20 MB per title; with two arenas and pyarrow
on malloc, 1.3 MB (`python bench/bench_titles_memory.py`). One title peaks lower too, in the same
time: friends at 0.95 GB instead of 1.05 GB, a 22-minute episode at 1.42 GB instead of 1.90 GB.
A user's own MALLOC_ARENA_MAX or ARROW_DEFAULT_MEMORY_POOL wins.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when the cap was set.

    Arenas made before the call stay, so call it early. A MALLOC_ARENA_MAX in the environment, which
    glibc has applied already, is left alone; other C libraries have no arenas.
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl)
        return False
    return libc.mallopt(M_ARENA_MAX, arenas) == 1


def arrow_on_system_malloc() -> None:
    """Have pyarrow allocate with malloc, in this process and the ones it starts. pyarrow reads the
    variable when it first allocates, so call it before any Arrow data is made."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
