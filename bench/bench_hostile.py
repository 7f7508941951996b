"""Hostile input, as a reliability tester gives it: every case is generated here (OpenCV, from a composed clip;
nothing from ../shared), run through `vcn run` beside a good clip in a fresh home, and reported as a table:
case, exit status, whether the good title finished, what the bad one became, and the one line the user read.

    python bench/bench_hostile.py [--keep-home DIR] [--only CASE ...]

A case passes when the command printed no traceback, the good title is `done`, and the bad input either
finished or failed with a line that names its file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from videoclusternet.synthetic import compose_clip, garbage  # noqa: E402

SCRIPT = ((1.2, ("person_0", "tom_hanks")), (1.2, ("person_1",)))


def _reencode(src: Path, out: Path, fourcc: str, size: tuple[int, int] | None = None, frames: int | None = None):
    capture = cv2.VideoCapture(str(src))
    ok, frame = capture.read()
    size = size or (frame.shape[1], frame.shape[0])
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*fourcc), capture.get(cv2.CAP_PROP_FPS) or 10, size)
    n = 0
    while ok and (frames is None or n < frames):
        writer.write(cv2.resize(frame, size))
        n += 1
        ok, frame = capture.read()
    writer.release()
    return out


def cases(good: Path, folder: Path) -> dict[str, Callable[[], list[str]]]:
    """Each case: a function that makes its input in `folder` and returns the `vcn run` arguments."""

    def file(name: str, content: bytes) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    def loop() -> list[str]:
        a, b = folder / "loop_s01e01.mp4", folder / "loop_b"
        a.symlink_to(b)
        b.symlink_to(a)
        return [str(a)]

    def truncated() -> list[str]:
        whole = _reencode(good, folder / "whole.mkv", "VP80")
        return [str(file("cut_s01e01.mkv", whole.read_bytes()[: int(whole.stat().st_size * 0.95)]))]

    def black() -> list[str]:
        path = folder / "black_s01e01.mp4"
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
        for _ in range(20):
            writer.write(np.zeros((240, 320, 3), np.uint8))
        writer.release()
        return [str(path)]

    def named(name: str) -> Callable[[], list[str]]:
        return lambda: [str(shutil.copyfile(good, folder / name))]

    return {
        "empty file": lambda: [str(file("empty_s01e01.mp4", b""))],
        "random bytes": lambda: [str(file("random_s01e01.mp4", garbage(50_000)))],
        "text file": lambda: [str(file("notes_s01e01.mp4", b"not a video\n" * 100))],
        "missing file": lambda: [str(folder / "gone_s01e01.mp4")],
        "a folder": lambda: [str(folder)],
        "symlink loop": loop,
        "cut at 95% (webm)": truncated,
        "black frames": black,
        "one frame": lambda: [str(_reencode(good, folder / "one_s01e01.mp4", "mp4v", frames=1))],
        "64x36": lambda: [str(_reencode(good, folder / "tiny64x36.mp4", "mp4v", size=(64, 36)))],
        "4K": lambda: [str(_reencode(good, folder / "uhd_s01e01.mp4", "mp4v", size=(3840, 2160), frames=5))],
        "MJPG avi": lambda: [str(_reencode(good, folder / "mjpg_s01e01.avi", "MJPG"))],
        "unicode name": named("日本語 ドラマ S01E01.mp4"),
        "quotes and $(...) in the name": named("it's $(rm -rf x); ok S01E02.mp4"),
        "resolution in the name": named("Planet Earth 1920x1080.mp4"),
        "same key, other file": lambda: [str(shutil.copyfile(good, folder / "good.mp4"))],
        "stride 10000": lambda: [str(shutil.copyfile(good, folder / "strided_s01e01.mp4")), "--stride", "10000"],
        "stride 0": lambda: [str(good), "--stride", "0"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep-home", type=Path)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hostile-"))
    good = compose_clip(root / "good.mp4", fps=10, script=SCRIPT).path
    home = args.keep_home or root / "home"
    env = {**os.environ, "VCN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    print(f"{'case':32} {'exit':>4}  {'good':6} line")
    passed = 0
    chosen = {k: v for k, v in cases(good, root).items() if not args.only or k in args.only}
    for n, case in enumerate(chosen):
        folder = root / f"case{n}"
        folder.mkdir()
        arguments = cases(good, folder)[case]()
        done = subprocess.run(
            [sys.executable, "-m", "vcn_dagster.cli", "run", *arguments, str(good)],
            env=env,
            capture_output=True,
            text=True,
        )
        titles = subprocess.run(
            [sys.executable, "-m", "vcn_dagster.cli", "titles"], env=env, capture_output=True, text=True
        ).stdout
        good_done = any(line.startswith("good\tdone") for line in titles.splitlines())
        said = [
            line
            for line in (done.stderr + done.stdout).splitlines()
            if "error" in line or "warning" in line or line.startswith("vcn ")
        ]
        line = said[0].strip() if said else "(no error: it ran)"
        ok = "Traceback" not in done.stderr and (good_done or "stride 0" in case)
        passed += ok
        print(f"{case:32} {done.returncode:>4}  {'done' if good_done else '-':6} {line[:150]}")
    print(f"\n{passed} of {len(chosen)} cases: no traceback, and the good title finished")


if __name__ == "__main__":
    main()
