"""Video probing/decoding and shot detection on small generated videos (real pixels)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from videoclusternet.shots import ShotDetector, detect_shots, shot_of_frames
from videoclusternet.video import VideoError, file_sha256, iter_frames, probe_video, read_ahead

FPS = 25.0
W, H = 192, 108
SHOT_LEN = 20


def _background(seed: int) -> np.ndarray:
    """Coloured blobs plus fine texture, distinct per seed (a different 'set')."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    img = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    img += rng.integers(-20, 21, (H, W, 3), dtype=np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)


def _shot_frames(seed: int, n: int) -> list[np.ndarray]:
    """A static set with a disc moving across it, like an actor walking through the frame."""
    bg = _background(seed)
    colour = tuple(int(c) for c in 255 - bg[H // 2, W // 2])
    frames = []
    for t in range(n):
        f = bg.copy()
        cv2.circle(f, (20 + 5 * t, H // 2 + (t % 5)), 14, colour, -1)
        frames.append(f)
    return frames


def _write(path: Path, frames: list[np.ndarray], fourcc: str) -> Path:
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (w, h))
    assert vw.isOpened()
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def _read_all(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


@pytest.fixture(scope="module")
def three_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 shots of 20 frames; shot 1 has a 2-frame flash (frames 27-28)."""
    frames = _shot_frames(1, SHOT_LEN) + _shot_frames(2, SHOT_LEN) + _shot_frames(3, SHOT_LEN)
    for i in (27, 28):
        frames[i] = cv2.addWeighted(frames[i], 0.3, np.full_like(frames[i], 255), 0.7, 0)
    return _write(tmp_path_factory.mktemp("v") / "three.mp4", frames, "mp4v")


def test_probe(three_shots: Path) -> None:
    info = probe_video(three_shots)
    assert info.path == str(three_shots)
    assert info.fps == pytest.approx(FPS)
    assert info.frame_count == 3 * SHOT_LEN
    assert info.duration_s == pytest.approx(3 * SHOT_LEN / FPS)
    assert (info.width, info.height) == (W, H)
    assert info.rotation == 0
    assert info.codec.lower() in {"mp4v", "fmp4"}


@pytest.mark.parametrize(("stride", "start", "end"), [(1, 0, None), (3, 0, None), (3, 2, 20)])
def test_iter_frames_matches_read(three_shots: Path, stride: int, start: int, end: int | None) -> None:
    ref = _read_all(three_shots)
    got = list(iter_frames(three_shots, stride=stride, start=start, end=end))
    want = list(range(start, len(ref) if end is None else end, stride))
    assert [i for i, _, _ in got] == want
    assert [t for _, t, _ in got] == pytest.approx([i / FPS for i in want])
    for i, _, f in got:
        assert np.array_equal(f, ref[i])


def test_detector_finds_exactly_the_cuts(three_shots: Path) -> None:
    # The moving disc and the flash inside shot 1 must not cut.
    shots = detect_shots(three_shots, FPS, 3 * SHOT_LEN)
    assert [(s.shot_id, s.start_frame, s.end_frame) for s in shots] == [(0, 0, 19), (1, 20, 39), (2, 40, 59)]
    assert shots[1].start_s == pytest.approx(20 / FPS)
    assert shots[-1].end_s == pytest.approx(60 / FPS)
    frames = np.array([0, 19, 20, 39, 40, 59])
    assert shot_of_frames(shots, frames).tolist() == [0, 0, 1, 1, 2, 2]
    assert shot_of_frames(shots, frames).dtype == np.int64


def test_detector_with_stride_places_cut_at_next_fed_frame(three_shots: Path) -> None:
    det = ShotDetector()
    for i, _, f in iter_frames(three_shots, stride=3):
        det.update(i, f)
    starts = [s.start_frame for s in det.finish(3 * SHOT_LEN, FPS)]
    assert starts == [0, 21, 42]  # first fed frames (multiples of 3) after the cuts at 20, 40
    assert det.content_scores.shape == (20, 2)


def test_fade_through_black_is_one_cut(tmp_path: Path) -> None:
    a, b = _shot_frames(4, SHOT_LEN), _shot_frames(5, SHOT_LEN)
    fade_out = [cv2.convertScaleAbs(a[-1], alpha=1 - k / 6) for k in range(1, 6)]
    black = [np.zeros_like(a[0])] * 4
    fade_in = [cv2.convertScaleAbs(b[0], alpha=k / 6) for k in range(1, 6)]
    frames = a + fade_out + black + fade_in + b
    path = _write(tmp_path / "fade.avi", frames, "MJPG")
    shots = detect_shots(path, FPS, len(frames))
    assert len(shots) == 2
    black_start = SHOT_LEN + 5
    assert black_start <= shots[1].start_frame <= black_start + 4


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "file is empty"),
        (bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8)), "not a decodable video"),
    ],
)
def test_bad_files_raise(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    for call in (probe_video, iter_frames):
        with pytest.raises(VideoError) as err:
            call(path)
        assert str(path) in str(err.value)
        assert reason in str(err.value)


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    for call in (probe_video, iter_frames, file_sha256):
        with pytest.raises(VideoError, match="file not found") as err:
            call(path)
        assert str(path) in str(err.value)


def test_file_sha256(three_shots: Path) -> None:
    assert file_sha256(three_shots) == hashlib.sha256(three_shots.read_bytes()).hexdigest()


def test_truncated_file_raises_with_frame_index(tmp_path: Path) -> None:
    frames = _shot_frames(6, 40)
    full = _write(tmp_path / "full.avi", frames, "MJPG").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full[: len(full) // 2])  # header still announces 40 frames
    with pytest.raises(VideoError, match=r"decoding failed at frame \d+ of 40") as err:
        list(iter_frames(cut))
    assert str(cut) in str(err.value)


def test_read_ahead_keeps_order_raises_in_place_and_releases_what_it_left():
    released = []

    def frames(fail_at: int | None):
        try:
            for i in range(20):
                if i == fail_at:
                    raise VideoError("clip.mp4", f"decoding failed at frame {i}")
                yield i
        finally:
            released.append(fail_at)

    assert list(read_ahead(frames(None), depth=3)) == list(range(20))
    got = []
    with pytest.raises(VideoError, match="failed at frame 7"):
        for i in read_ahead(frames(7), depth=3):
            got.append(i)
    assert got == list(range(7))  # every frame before the error, then the error
    ahead = read_ahead(frames(-1), depth=3)
    assert next(ahead) == 0
    ahead.close()  # a caller that stops early: the decoder is released at once
    assert released == [None, 7, -1]
