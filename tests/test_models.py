"""Face-model layer on real weights and real pixels (the photos shipped inside insightface)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from videoclusternet.align import ARCFACE_TEMPLATE, align_faces
from videoclusternet.models import (
    Detector,
    Embedder,
    ModelPackError,
    fold_quantized_onnx,
    load_detector,
    load_embedder,
)
from videoclusternet.models.base import embedding_batch_size
from videoclusternet.models.norms import norm_scale, reference_faces
from videoclusternet.models.sface import SFACE_FILE
from videoclusternet.models.yunet import YUNET_FILE, bundled_model
from videoclusternet.quality import QualityPolicy, derive_thresholds


def _insightface_image(name: str) -> np.ndarray:
    import insightface

    img = cv2.imread(str(Path(insightface.__file__).parent / "data" / "images" / name))
    assert img is not None, name
    return img


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model_cache")


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    return _insightface_image("t1.jpg")  # 6 people, frontal-ish


@pytest.fixture(scope="module")
def yunet(cache_dir):
    return load_detector("yunet", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def sface(cache_dir):
    return load_embedder("sface", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def group_faces(yunet, group):
    return yunet.detect(group)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def test_fold_is_cached_and_runs_batched(cache_dir, tmp_path):
    src = bundled_model(SFACE_FILE)
    first = fold_quantized_onnx(src, cache_dir)
    mtime = first.stat().st_mtime_ns
    assert fold_quantized_onnx(src, cache_dir) == first
    assert first.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert not list(cache_dir.glob("*.tmp"))

    model = onnx.load(str(first))
    assert not any(n.op_type == "DequantizeLinear" for n in model.graph.node)
    assert [i.name for i in model.graph.input] == ["data"]  # initializer-backed inputs dropped
    sess = ort.InferenceSession(str(first), providers=["CPUExecutionProvider"])
    out = sess.run(
        None,
        {"data": np.random.default_rng(0).uniform(0, 255, (3, 3, 112, 112)).astype(np.float32)},
    )[0]
    assert out.shape == (3, 128) and np.isfinite(out).all()

    # A changed source (same stem) folds to a new file instead of reusing the stale one.
    yunet = onnx.load(str(bundled_model(YUNET_FILE)))
    changed = tmp_path / YUNET_FILE
    yunet.doc_string = "edited"
    onnx.save(yunet, str(changed))
    assert fold_quantized_onnx(changed, cache_dir) != fold_quantized_onnx(bundled_model(YUNET_FILE), cache_dir)


def test_a_folded_model_changed_in_the_cache_is_folded_again(tmp_path):
    src = bundled_model(YUNET_FILE)
    folded = fold_quantized_onnx(src, tmp_path)
    good = folded.read_bytes()
    assert folded.with_name(f"{folded.name}.sha256").read_text() == hashlib.sha256(good).hexdigest()
    folded.write_bytes(good[:-10] + b"0123456789")  # someone who can write the cache replaced it
    assert fold_quantized_onnx(src, tmp_path) == folded and folded.read_bytes() == good


def test_yunet_finds_group_faces(yunet, group_faces, group):
    assert isinstance(yunet, Detector) and yunet.name == "yunet" and len(yunet.version) == 12
    det = group_faces
    assert len(det) == 6
    assert det.boxes.dtype == np.float32 and det.landmarks.shape == (6, 5, 2)
    assert (det.frame_idx == 0).all() and (det.scores >= 0.3).all()
    x, y = det.landmarks[..., 0], det.landmarks[..., 1]
    b = det.boxes[:, None, :]
    assert ((x >= b[..., 0]) & (x <= b[..., 2]) & (y >= b[..., 1]) & (y <= b[..., 3])).all()
    # ArcFace order: image-left eye first, mouth below the eyes.
    assert (det.landmarks[:, 0, 0] < det.landmarks[:, 1, 0]).all()
    assert (det.landmarks[:, 3, 1] > det.landmarks[:, 0, 1]).all()
    # Any frame size, incl. a size change on the same instance and an empty frame.
    assert len(yunet.detect(group[:377, :501])) >= 1
    assert len(yunet.detect(np.zeros((90, 161, 3), np.uint8))) == 0
    assert len(yunet.detect(group)) == 6


def test_retinaface_matches_yunet(group_faces, group, cache_dir):
    det = load_detector("retinaface", cache_dir=cache_dir).detect(group)
    assert len(det) == len(group_faces)
    iou = _iou(group_faces.boxes, det.boxes)
    assert (iou.max(axis=1) > 0.6).all()
    match = iou.argmax(axis=1)
    lm_err = np.linalg.norm(group_faces.landmarks - det.landmarks[match], axis=2)
    size = group_faces.boxes[:, 2] - group_faces.boxes[:, 0]
    assert (lm_err.max(axis=1) < 0.15 * size).all()  # same points in the same order


def test_align_crops():
    # Warping a template-shaped face onto the template is the identity.
    img = np.random.default_rng(1).integers(0, 255, (112, 112, 3), dtype=np.uint8)
    crops = align_faces(img, ARCFACE_TEMPLATE[None].repeat(2, 0))
    assert crops.shape == (2, 112, 112, 3) and crops.dtype == np.uint8
    assert np.abs(crops[0].astype(int) - img)[2:-2, 2:-2].mean() < 1
    # Scaled/shifted landmarks still land on the template.
    smooth = cv2.GaussianBlur(img, (0, 0), 3)
    big = cv2.resize(smooth, (224, 224), interpolation=cv2.INTER_LINEAR)
    crop = align_faces(big, ARCFACE_TEMPLATE[None] * 2 + 0.5)[0]  # +0.5: pixel-centre convention
    assert np.abs(crop.astype(int) - smooth)[4:-4, 4:-4].mean() < 2
    assert align_faces(img, np.zeros((0, 5, 2))).shape == (0, 112, 112, 3)


def test_sface_raw_embeddings(sface, group, group_faces):
    assert isinstance(sface, Embedder) and sface.dim == 128
    crops = align_faces(group, group_faces.landmarks)
    emb = sface.embed(crops)
    assert emb.shape == (6, 128) and emb.dtype == np.float32
    assert (np.linalg.norm(emb, axis=1) > 8).all()  # raw, not normalised
    assert sface.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)
    # Batching does not change results: 40 faces run as calls of embedding_batch_size() (16 on a CPU).
    assert sface.batch_size == embedding_batch_size()
    many = np.resize(crops, (40, *crops.shape[1:]))
    one = np.concatenate([sface.embed(c[None]) for c in many])
    np.testing.assert_allclose(one, sface.embed(many), rtol=1e-3, atol=1e-3)

    flipped = sface.embed(crops[:, :, ::-1].copy())
    shifted = sface.embed(align_faces(group, group_faces.landmarks + np.float32([3, -2])))
    same = np.minimum((_unit(emb) * _unit(flipped)).sum(1), (_unit(emb) * _unit(shifted)).sum(1))
    assert (same > 0.6).all()
    cross = _unit(emb) @ _unit(emb).T
    assert cross[~np.eye(6, dtype=bool)].max() < 0.45


def test_sface_verification_separates(sface, group, group_faces):
    """Same person under two different augmentations vs different persons."""
    lm = group_faces.landmarks
    a = align_faces(cv2.convertScaleAbs(group, alpha=1.2, beta=-20), lm)[:, :, ::-1]  # flip
    small = cv2.resize(group, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    b = align_faces(cv2.GaussianBlur(small, (3, 3), 0), lm * 0.5 + np.float32([1.5, 1.0]))
    sim = _unit(sface.embed(np.ascontiguousarray(a))) @ _unit(sface.embed(b)).T
    genuine = np.diag(sim)
    impostor = sim[~np.eye(len(sim), dtype=bool)]
    assert genuine.min() > 0.5
    assert genuine.min() > impostor.max() + 0.15


def test_single_portrait(yunet, sface):
    img = _insightface_image("Tom_Hanks_54745.png")
    det = yunet.detect(img)
    assert len(det) == 1
    assert np.linalg.norm(sface.embed(align_faces(img, det.landmarks)), axis=1)[0] > 8


def test_insightface_pack_errors(tmp_path, cache_dir):
    missing = tmp_path / "packs" / "buffalo_l"
    with pytest.raises(ModelPackError, match=str(missing)):
        load_embedder("insightface", cache_dir=cache_dir, pack_dir=missing)
    with pytest.raises(ModelPackError, match="pack_dir"):
        load_detector("insightface", cache_dir=cache_dir)


def test_insightface_pack_recognition_equals_sface(tmp_path, cache_dir, sface, group, group_faces):
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "w600k_r50.onnx").symlink_to(fold_quantized_onnx(bundled_model(SFACE_FILE), cache_dir))
    emb = load_embedder("insightface", cache_dir=cache_dir, pack_dir=pack)
    assert emb.dim == 128 and emb.version == sface.version
    crops = align_faces(group, group_faces.landmarks)
    np.testing.assert_allclose(emb.embed(crops), sface.embed(crops), rtol=1e-4, atol=1e-4)
    # The pack has no detection model: the error names the folder and the missing task.
    with pytest.raises(ModelPackError, match="detection") as err:
        load_detector("insightface", cache_dir=cache_dir, pack_dir=pack)
    assert str(pack.resolve()) in str(err.value)


def test_unknown_names(cache_dir):
    with pytest.raises(ValueError, match="yunet, yunet_onnxruntime, retinaface, insightface"):
        load_detector("mtcnn", cache_dir=cache_dir)
    with pytest.raises(ValueError, match="sface, insightface"):
        load_embedder("facenet", cache_dir=cache_dir)


def test_yunet_max_side_maps_back_to_frame(group_faces, group, cache_dir):
    from videoclusternet.models.yunet import YuNetDetector

    det = YuNetDetector(cache_dir, max_side=640).detect(group)
    assert len(det) == len(group_faces)
    assert (_iou(group_faces.boxes, det.boxes).max(axis=1) > 0.7).all()


def test_score_threshold_is_applied(cache_dir, group):
    strict = load_detector("yunet", cache_dir=cache_dir, score_threshold=0.99)
    assert len(strict.detect(group)) < 6


def test_norm_limits_follow_the_embedders_scale(tmp_path, cache_dir, sface):
    # The same file served as a pack: the same norms. A model with other norms scales the limits.
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "w600k_r50.onnx").symlink_to(fold_quantized_onnx(bundled_model(SFACE_FILE), cache_dir))
    same = load_embedder("insightface", cache_dir=cache_dir, pack_dir=pack)
    assert norm_scale(sface, cache_dir) == 1.0
    assert norm_scale(same, cache_dir) == pytest.approx(1.0, abs=1e-5)
    assert len(reference_faces(cache_dir)) == 6

    class Doubled:
        name, version, dim = "doubled", "x", 128

        def embed(self, crops):
            return 2 * sface.embed(crops)

    scale = norm_scale(Doubled(), cache_dir)
    assert scale == pytest.approx(2.0, rel=1e-5)
    sharp = derive_thresholds(np.array([3.0, 3.1, 2.9]), QualityPolicy(norm_scale=scale))
    assert (sharp.min_raw_norm, sharp.doubtful_norm) == pytest.approx((10.0, 13.0), rel=1e-5)


@pytest.mark.parametrize("size", [(640, 360), (501, 333)])  # the second needs padding to YuNet's stride of 32
def test_yunet_on_onnxruntime_finds_opencvs_faces(cache_dir, group, size):
    frame = cv2.resize(group, size, interpolation=cv2.INTER_AREA)
    opencv = load_detector("yunet", cache_dir=cache_dir).detect(frame)
    onnxruntime = load_detector("yunet_onnxruntime", cache_dir=cache_dir).detect(frame)
    assert len(opencv) >= 4 and len(onnxruntime) == len(opencv)
    assert np.abs(onnxruntime.boxes - opencv.boxes).max() < 1e-2
    assert np.abs(onnxruntime.landmarks - opencv.landmarks).max() < 1e-2
    assert np.abs(onnxruntime.scores - opencv.scores).max() < 1e-4


def test_sface_on_opencv_embeds_as_onnxruntime_does(cache_dir, sface, group, group_faces):
    from videoclusternet.models.sface import ArcFaceLikeEmbedder, load_arcface_onnx

    crops = align_faces(group, group_faces.landmarks)
    model = load_arcface_onnx(sface.model_path)
    model.input_mean, model.input_std = 0.0, 1.0  # SFace's graph normalises its input itself
    reference = ArcFaceLikeEmbedder(model, sface.model_path).embed(crops)
    embedded = sface.embed(crops)
    assert embedded.shape == reference.shape == (len(crops), 128)
    assert np.abs(embedded - reference).max() < 1e-4 * np.abs(reference).max()
