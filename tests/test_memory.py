"""A process that loads the code location allocates from at most two glibc arenas, whatever its threads,
and pyarrow allocates with malloc there; importing a module below the entry points changes neither."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Eight live threads that each malloc (bytearrays over pymalloc's 512 bytes), then glibc's own account of
# its arenas ("heaps") from malloc_info.
THREADS_THEN_MALLOC_INFO = """
import ctypes, sys, threading
from vcn_dagster.memory import limit_malloc_arenas
limit_malloc_arenas()  # as the entry points do first (the slow test below checks that they do)

all_allocated = threading.Barrier(8)

def allocate():
    kept = [bytearray(4096) for _ in range(2000)]
    all_allocated.wait()  # alive together: an exited thread's arena would go to the next thread

threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
report = libc.fopen(sys.argv[1].encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(report))
libc.fclose(ctypes.c_void_p(report))
"""


def arenas_used(tmp_path: Path, **env: str) -> int:
    report = tmp_path / "malloc_info.xml"
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    subprocess.run([sys.executable, "-c", THREADS_THEN_MALLOC_INFO, str(report)], env={**base, **env}, check=True)
    return len(re.findall(r'<heap nr="\d+"', report.read_text()))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's arenas")
def test_threads_share_two_arenas_unless_the_user_sets_malloc_arena_max(tmp_path: Path):
    assert arenas_used(tmp_path) <= 2
    assert arenas_used(tmp_path, MALLOC_ARENA_MAX="16") > 2  # the user's setting wins over vcn's cap


@pytest.mark.slow
def test_pyarrow_allocates_with_malloc_unless_the_user_picks_a_pool():
    base = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}

    def pool(module: str, **env: str) -> str:
        code = f"import {module}, pyarrow as pa; print(pa.default_memory_pool().backend_name)"
        run = subprocess.run(
            [sys.executable, "-c", code], env={**base, **env}, check=True, capture_output=True, text=True
        )
        return run.stdout.strip()

    assert pool("vcn_dagster.definitions") == "system"
    assert pool("vcn_dagster.definitions", ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"
    # Set up by the entry points only: importing an asset module (or the package) leaves the process as it is.
    assert pool("vcn_assets.faces") == pool("vcn_dagster") == pool("json")
