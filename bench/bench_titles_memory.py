"""Memory of one `vcn run` over many titles, with vcn's allocator settings and with the libraries' defaults.

Runs `vcn run` on N copies of one video (default: the demo clip, composed from packaged face photos)
in one process, samples the process's resident memory, and prints it as each title ends, so that
growth from title to title shows. "library defaults" sets MALLOC_ARENA_MAX to glibc's own limit (8 per
core) and pyarrow's pool to its default, mimalloc; `vcn_dagster/memory.py` leaves settings it finds alone.

    python bench/bench_titles_memory.py [--titles 8] [--video FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_pipeline import REPO, VCN, resident_mb, vcn_env, warm_model_cache

SETTINGS = {
    "vcn": {},
    "library defaults": {"MALLOC_ARENA_MAX": str(8 * (os.cpu_count() or 1)), "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"},
}


def run_titles(videos: list[Path], home: Path, cache: Path, extra_env: dict[str, str]) -> tuple[list[float], float]:
    """Resident MB as each title ends, and the process's wall seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*VCN, "run", *map(str, videos)],
        env={**vcn_env(home, cache), **extra_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    latest = [0.0]

    def sample() -> None:
        while process.poll() is None:
            try:
                latest[0] = resident_mb(process.pid)
            except (FileNotFoundError, StopIteration):  # exiting
                return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample)
    sampler.start()
    # A title's last line, after its progress bars on the same line: "   done (12.3s)" or "   FAILED: ...".
    at_end = [latest[0] for line in process.stderr if "   done (" in line or "   FAILED" in line]
    process.wait()
    sampler.join()
    if process.returncode:
        raise SystemExit(f"vcn run failed ({process.returncode}) in {home}")
    return at_end, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--titles", type=int, default=8)
    parser.add_argument("--video", type=Path, help="default: the demo clip")
    args = parser.parse_args()
    cache = REPO / "bench" / "out" / "models"
    warm_model_cache(cache)
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if video is None:
            from videoclusternet.synthetic import compose_clip

            video = compose_clip(Path(tmp) / "demo.mp4").path
        videos = []
        for i in range(args.titles):
            videos.append(Path(tmp) / f"show.s01e{i + 1:02d}{video.suffix}")
            videos[-1].symlink_to(Path(video).resolve())
        print(f"{args.titles} titles of {video.name} in one `vcn run`; resident MB after each title")
        for name, extra_env in SETTINGS.items():
            after, wall = run_titles(videos, Path(tmp) / name.split()[0], cache, extra_env)
            growth = (after[-1] - after[0]) / max(len(after) - 1, 1)
            print(
                f"{name:16} {' '.join(f'{mb:5.0f}' for mb in after)} | {growth:+.1f} MB per title after the first, "
                f"wall {wall:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
