"""Probing and decoding of video files with OpenCV.

Frame indices are the contract shared with the ground truth and the export: frame `i` is the
frame that the `i`-th call of `cv2.VideoCapture.read()` returns on a freshly opened file. We
therefore never seek (seeking in long-GOP codecs can land on the wrong frame); skipped frames
are `grab()`-bed, which advances the decoder exactly like `read()` but skips the colour
conversion.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from videoclusternet.types import VideoInfo

log = logging.getLogger(__name__)

# Used when the container reports no usable frame rate. Only timestamps depend on it; frame
# indices stay exact. 25 is the PAL rate, the commonest broadcast rate for the material we see.
FALLBACK_FPS = 25.0
# A decode failure after this fraction of the announced frames is treated as a truncated tail
# (common with cut-down recordings whose header over-counts); earlier it is a broken file.
MIN_DECODED_FRACTION = 0.9
_HASH_CHUNK = 8 * 1024 * 1024
# File names taken for videos: by the drop sensor, and when looking for ground truth beside a video.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".mov", ".avi", ".m4v", ".webm", ".mpg", ".mpeg", ".ts", ".wmv"})

_ROTATIONS = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


class VideoError(Exception):
    """A video file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class _Capture:
    """An opened, validated capture plus what we need to read it consistently."""

    def __init__(self, path: str | Path) -> None:
        p = Path(path)
        self.path = str(p)
        if not p.exists():
            raise VideoError(p, "file not found")
        if not p.is_file():
            raise VideoError(p, "not a regular file")
        if p.stat().st_size == 0:
            raise VideoError(p, "file is empty (0 bytes)")
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            cap.release()
            raise VideoError(p, "not a decodable video (OpenCV could not open it)")
        self.cap = cap
        # Ask OpenCV to rotate frames upright itself; if the backend refuses, we rotate by hand
        # so that frames are upright either way (what `read()` gives with a default build).
        auto_ok = bool(cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)) or (cap.get(cv2.CAP_PROP_ORIENTATION_AUTO) == 1)
        meta = cap.get(cv2.CAP_PROP_ORIENTATION_META)
        self.rotation = int(round(meta)) % 360 if math.isfinite(meta) else 0
        self.manual_rotate = None if auto_ok else _ROTATIONS.get(self.rotation)

        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps_known = math.isfinite(fps) and fps > 0
        if not self.fps_known:
            log.warning("%s: container reports fps=%r, assuming %.0f", p, fps, FALLBACK_FPS)
        self.fps = float(fps) if self.fps_known else FALLBACK_FPS
        n = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.reported_frames = int(n) if math.isfinite(n) and n > 0 else 0
        fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
        self.codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ")

    def retrieve(self) -> np.ndarray | None:
        ok, frame = self.cap.retrieve()
        if not ok or frame is None:
            return None
        if self.manual_rotate is not None:
            frame = cv2.rotate(frame, self.manual_rotate)
        return frame

    def release(self) -> None:
        self.cap.release()


def _first_frame(c: _Capture) -> np.ndarray:
    frame = c.retrieve() if c.cap.grab() else None
    if frame is None:
        raise VideoError(c.path, "no frames could be decoded")
    return frame


def check_decodable(path: str | Path) -> None:
    """VideoError unless the file opens as a video and its first frame decodes: one frame's work, where
    hashing or scanning a large file that is not a video would take minutes before failing."""
    c = _Capture(path)
    try:
        _first_frame(c)
    finally:
        c.release()


def probe_video(path: str | Path) -> VideoInfo:
    """Describe a video, decoding its first frame so corrupt files fail here, not mid-pipeline.

    width/height are those of the decoded (upright) frames. When the container's frame count is
    missing, the frames are counted by decoding the whole file (slow, but exact).
    """
    c = _Capture(path)
    try:
        height, width = _first_frame(c).shape[:2]
        n = c.reported_frames
        if n <= 0:
            n = 1
            while c.cap.grab():
                n += 1
    finally:
        c.release()
    return VideoInfo(
        path=c.path,
        fps=c.fps,
        frame_count=n,
        duration_s=n / c.fps,
        width=int(width),
        height=int(height),
        rotation=c.rotation,
        codec=c.codec,
    )


def iter_frames(
    path: str | Path,
    *,
    stride: int = 1,
    start: int = 0,
    end: int | None = None,
    frames: Sequence[int] | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (frame_idx, timestamp_s, frame_bgr) for frames start, start+stride, ... < end, or for exactly
    the frames `frames` (ascending) when given.

    `end` is exclusive (None: to the end of the file); timestamp_s = frame_idx / fps. Frames
    are those that repeated `read()` returns, upright. Raises VideoError if decoding stops
    before MIN_DECODED_FRACTION of the expected frames; a shorter tail ends the iteration.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    c = _Capture(path)  # opened here so a bad path fails at the call, not at first next()
    if frames is not None:
        wanted = {int(f) for f in frames}
        return _frames(c, 1, 0, max(wanted, default=-1) + 1, wanted)
    return _frames(c, stride, start, end)


def _frames(
    c: _Capture, stride: int, start: int, end: int | None, wanted: set[int] | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    try:
        expected = c.reported_frames if end is None else min(end, c.reported_frames or end)
        idx = 0
        while end is None or idx < end:
            if not c.cap.grab():
                break
            if (idx in wanted) if wanted is not None else (idx >= start and (idx - start) % stride == 0):
                frame = c.retrieve()
                if frame is None:
                    break
                yield idx, idx / c.fps, frame
            idx += 1
        if idx == 0:
            raise VideoError(c.path, "no frames could be decoded")
        stopped_early = end is None or idx < end
        if stopped_early and idx < MIN_DECODED_FRACTION * expected:
            raise VideoError(c.path, f"decoding failed at frame {idx} of {expected} expected")
    finally:
        c.release()


T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 8) -> Iterator[T]:
    """`items`, advanced up to `depth` ahead in a thread of their own: decoding (which releases the GIL) overlaps
    the caller's work on the frames before. One thread calls `next`, so the iterator is never run concurrently;
    its errors are raised here, in order."""
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="read_ahead") as pool:
            pending = deque(pool.submit(next, items, _DONE) for _ in range(depth))
            try:
                while (item := pending.popleft().result()) is not _DONE:
                    pending.append(pool.submit(next, items, _DONE))
                    yield item
            finally:
                for future in pending:
                    future.cancel()
    finally:  # the thread has stopped: a generator left early releases its decoder now, not when collected
        if hasattr(items, "close"):
            items.close()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, streamed so episode-sized files don't load into memory."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(_HASH_CHUNK):
                h.update(chunk)
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    return h.hexdigest()
