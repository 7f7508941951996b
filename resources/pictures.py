"""Pictures of persons: which faces show a person best, a contact sheet of them (PNG), and the video frame
around a face. The season's cast writes a sheet per person; the review page serves them and these frames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcn_resources.results import stored_crops
from vcn_resources.warehouse import Warehouse
from videoclusternet.quality import picture_quality

SHEET_COLUMNS, SHEET_ROWS = 6, 2
CROP_PX = 112  # the aligned crops' size
_BLANK = 32  # the grey of an empty cell


def spread_faces(title: np.ndarray, track: np.ndarray, quality: np.ndarray, n: int) -> np.ndarray:
    """Up to `n` faces that show a person across its tracks and episodes, best first: each track's best face
    before any track's second, and within a round the best track of each episode before the second best of
    any. Faces of quality 0 (black, blurred, turned away) come last."""
    if len(quality) == 0:
        return np.zeros(0, np.int64)
    keys = np.array([f"{a}\x00{b}" for a, b in zip(title, track)])
    by_quality = np.lexsort((-quality, keys))  # grouped by track, best first within each
    rank_in_track = np.empty(len(quality), np.int64)
    best_of_track: dict[str, float] = {}
    start = 0
    for end in np.append(np.flatnonzero(keys[by_quality][1:] != keys[by_quality][:-1]) + 1, len(quality)):
        members = by_quality[start:end]
        rank_in_track[members] = np.arange(len(members))
        best_of_track[keys[members[0]]] = float(quality[members[0]])
        start = end
    track_rank: dict[str, int] = {}
    for t in np.unique(title):
        own = sorted({k for k in keys[title == t]}, key=lambda k: -best_of_track[k])
        track_rank.update({k: i for i, k in enumerate(own)})
    order = np.lexsort(
        (
            -np.array([best_of_track[k] for k in keys]),
            np.array([track_rank[k] for k in keys]),
            rank_in_track,
            quality <= 0,
        )
    )
    return order[:n]


def faces_to_show(rows: list[tuple], n: int) -> list[tuple[str, int]]:
    """`spread_faces` of rows (title, face, track, score, sharpness, landmarks)."""
    if not rows:
        return []
    title = np.array([r[0] for r in rows])
    quality = picture_quality(
        np.array([r[3] for r in rows], np.float32),
        np.array([r[4] for r in rows], np.float32),
        np.array([r[5] for r in rows], np.float32).reshape(-1, 5, 2),
    )
    chosen = spread_faces(title, np.array([r[2] for r in rows]), quality, n)
    return [(str(rows[i][0]), int(rows[i][1])) for i in chosen]


def face_crops(warehouse: Warehouse, faces: list[tuple[str, int]]) -> dict[tuple[str, int], bytes]:
    """The stored JPEG crops of faces (title, face id), each title's read in face order."""
    out = {}
    for title in sorted({t for t, _ in faces}):
        crops = stored_crops(warehouse, title)
        for face in sorted(f for t, f in faces if t == title):
            out[(title, face)] = crops[face]
    return out


def contact_sheet(jpegs: list[bytes], columns: int = SHEET_COLUMNS, rows: int = SHEET_ROWS) -> bytes:
    """A PNG grid of face crops, row by row in the order given; empty cells grey."""
    sheet = np.full((rows * CROP_PX, columns * CROP_PX, 3), _BLANK, np.uint8)
    for i, jpeg in enumerate(jpegs[: columns * rows]):
        crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if crop is not None:
            r, c = divmod(i, columns)
            sheet[r * CROP_PX : (r + 1) * CROP_PX, c * CROP_PX : (c + 1) * CROP_PX] = cv2.resize(
                crop, (CROP_PX, CROP_PX)
            )
    ok, png = cv2.imencode(".png", sheet)
    return png.tobytes()


@dataclass(frozen=True)
class PersonPictures:
    face: Path  # the face that shows the person best (JPEG)
    sheet: Path  # the contact sheet (PNG)


def write_person_pictures(warehouse: Warehouse, season: str, folder: Path) -> dict[str, PersonPictures]:
    """Per person of the season's `person_tracks`: its best face and its contact sheet, in `folder` as
    `<person>.jpg` and `<person>.png`; pictures of persons that are gone are removed."""
    con = warehouse.connect()
    rows = con.execute(
        "SELECT d.person_id, d.title, d.face, d.track, d.score, d.sharpness, d.landmarks FROM detections d "
        "JOIN person_tracks p USING (title, track, person_id) WHERE p.season = ? AND d.track_status = 'kept'",
        [season],
    ).fetchall()
    by_person: dict[str, list[tuple]] = {}
    for row in rows:
        by_person.setdefault(row[0], []).append(row[1:])
    chosen = {p: faces_to_show(r, SHEET_COLUMNS * SHEET_ROWS) for p, r in by_person.items()}
    crops = face_crops(warehouse, [f for faces in chosen.values() for f in faces])
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for person, faces in chosen.items():
        stem = folder / person.rsplit("/", 1)[-1]
        pictures = PersonPictures(stem.with_suffix(".jpg"), stem.with_suffix(".png"))
        pictures.face.write_bytes(crops[faces[0]])
        pictures.sheet.write_bytes(contact_sheet([crops[f] for f in faces]))
        out[person] = pictures
    for stale in folder.iterdir():
        if f"{season}/{stale.stem}" not in out:
            stale.unlink()
    return out


def frame_with_box(video: str, frame: int, box: tuple[float, float, float, float], width: int = 640) -> bytes:
    """The video frame a face was detected on, its box drawn, scaled to `width` px; JPEG. Raises OSError
    when the video cannot be read there."""
    capture = cv2.VideoCapture(video)
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok:
        raise OSError(f"{video}: frame {frame} cannot be read")
    x1, y1, x2, y2 = (round(v) for v in box)
    cv2.rectangle(image, (x1, y1), (x2, y2), (0, 220, 255), max(2, image.shape[1] // 320))
    scale = width / image.shape[1]
    if scale < 1:
        image = cv2.resize(image, (width, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return jpeg.tobytes()
