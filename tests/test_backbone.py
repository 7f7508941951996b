"""The torch rebuild of SFace against onnxruntime on the same file, on real aligned faces."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from videoclusternet.adaptation.adapt import adapt_backbone, embed_faces
from videoclusternet.adaptation.backbone import (
    FaceBackbone,
    UnsupportedOpError,
    backbone_for,
    backbone_from_onnx,
    embedding_layer_input,
    load_sface_backbone,
    onnx_trunk,
)
from videoclusternet.adaptation.distill import DistillConfig
from videoclusternet.align import align_faces
from videoclusternet.models import load_detector, load_embedder
from videoclusternet.models.sface import SFaceEmbedder


@pytest.fixture(scope="module")
def sface(tmp_path_factory) -> SFaceEmbedder:
    return SFaceEmbedder(tmp_path_factory.mktemp("model_cache"))


@pytest.fixture(scope="module")
def crops(sface: SFaceEmbedder) -> np.ndarray:
    import insightface

    img = cv2.imread(str(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg"))
    assert img is not None
    det = load_detector("yunet", cache_dir=sface.model_path.parent).detect(img)
    faces = align_faces(img, det.landmarks)
    assert len(faces) == 6
    return faces


@pytest.fixture(scope="module")
def backbone(sface: SFaceEmbedder) -> FaceBackbone:
    return load_sface_backbone(sface.model_path)


def _max_rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    return float((np.abs(a - ref).max(axis=1) / np.linalg.norm(ref, axis=1)).max())


def test_matches_onnxruntime_on_real_faces(backbone, sface, crops):
    ref = sface.embed(crops)
    assert np.linalg.norm(ref, axis=1).min() > 5  # raw, not unit-normalised
    with torch.no_grad():
        out = backbone(backbone.preprocess(crops)).numpy()
    assert out.shape == (6, 128) and out.dtype == np.float32
    assert _max_rel_diff(out, ref) < 1e-5


def test_preprocess_is_what_insightface_feeds(backbone, sface, crops):
    blob = cv2.dnn.blobFromImages(list(crops), 1.0, (112, 112), (0, 0, 0), swapRB=True)
    x = backbone.preprocess(crops)
    assert x.dtype == torch.float32 and x.shape == (6, 3, 112, 112)
    np.testing.assert_array_equal(x.numpy(), blob)


def test_trunk_tail_split_and_batch_invariance(backbone, crops):
    x = backbone.preprocess(crops)
    with torch.no_grad():
        feats = backbone.trunk_features(x)
        full = backbone(x)
        singles = torch.cat([backbone(x[i : i + 1]) for i in range(len(x))])
    assert feats.shape == (6, 1024, 7, 7)
    torch.testing.assert_close(backbone.tail(feats), full, rtol=0, atol=0)
    torch.testing.assert_close(singles, full, rtol=0, atol=1e-4)


def test_tail_trains_on_cached_trunk_features(backbone, crops):
    with torch.no_grad():
        feats = backbone.trunk_features(backbone.preprocess(crops[:2]))
    assert all(p.requires_grad for p in backbone.tail.parameters())
    backbone.tail(feats).square().sum().backward()
    grads = [p.grad for p in backbone.tail.parameters()]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    backbone.tail.zero_grad(set_to_none=True)


def test_state_dict_round_trips(backbone, sface, crops):
    buffer = io.BytesIO()
    torch.save(backbone.state_dict(), buffer)
    other = load_sface_backbone(sface.model_path)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    buffer.seek(0)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    x = backbone.preprocess(crops[:2])
    with torch.no_grad():
        torch.testing.assert_close(other(x), backbone(x), rtol=0, atol=0)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_unsupported_op_is_named(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], name="probs", axis=1)],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    with pytest.raises(UnsupportedOpError, match="Softmax.*probs"):
        backbone_from_onnx(_save(graph, tmp_path / "softmax.onnx"), split_at="y")


def test_bad_split_point_is_rejected(backbone, sface):
    with pytest.raises(ValueError, match="nope"):
        backbone_from_onnx(sface.model_path, split_at="nope")
    with pytest.raises(ValueError, match="cannot split"):
        backbone_from_onnx(sface.model_path, split_at="fc1")  # nothing left for the tail


def test_residual_graph_matches_onnxruntime(tmp_path):
    """IResNet-style ops SFace lacks: residual Add, asymmetric pads, Gemm with transB=0/alpha/beta."""
    rng = np.random.default_rng(0)

    def init(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)

    bn = [init(f"bn_{k}", 4) for k in ("s", "b", "m")] + [
        numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "bn_v")
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="c1", pads=[0, 1, 1, 0], strides=[1, 1]),
        helper.make_node("BatchNormalization", ["c1", *(t.name for t in bn)], ["n1"], name="n1", epsilon=1e-3),
        helper.make_node("PRelu", ["n1", "slope"], ["p1"], name="p1"),
        helper.make_node("Conv", ["p1", "w2"], ["c2"], name="c2", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Add", ["c2", "p1"], ["r"], name="r"),
        helper.make_node("Flatten", ["r"], ["f"], name="f"),
        helper.make_node("Gemm", ["f", "g", "gb"], ["y"], name="fc", alpha=0.5, beta=2.0, transB=0),
    ]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 5])],
        [init("w1", 4, 3, 2, 2), init("b1", 4), *bn, init("slope", 4, 1, 1), init("w2", 4, 1, 3, 3)]
        + [init("g", 144, 5), init("gb", 5)],
    )
    path = _save(graph, tmp_path / "residual.onnx")
    model = backbone_from_onnx(path, split_at="r", input_mean=127.5, input_std=127.5)
    x = rng.normal(size=(3, 3, 6, 6)).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    assert model.trunk.output_name == "r" and model.tail.input_name == "r"
    # A split inside the residual block would need two tensors across it.
    with pytest.raises(ValueError, match="cannot split"):
        backbone_from_onnx(path, split_at="c2")


def _arcface_like_pack(folder: Path, dim: int = 64) -> Path:
    """A small 112x112 recogniser shaped like insightface's ArcFace models: conv trunk, then
    Flatten -> Gemm -> BatchNormalization, with no normalisation in the graph."""
    rng = np.random.default_rng(1)

    def init(name: str, values: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(values.astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input.1", "w"], ["c"], name="conv", strides=[8, 8], kernel_shape=[8, 8]),
        helper.make_node("PRelu", ["c", "slope"], ["p"], name="prelu"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "g", "gb"], ["fc"], name="fc", transB=1),
        helper.make_node("BatchNormalization", ["fc", "s", "b", "m", "v"], ["emb"], name="features"),
    ]
    inits = [
        init("w", rng.normal(0, 0.1, (4, 3, 8, 8))),
        init("slope", np.full((4, 1, 1), 0.25)),
        init("g", rng.normal(0, 0.05, (dim, 4 * 14 * 14))),
        init("gb", np.zeros(dim)),
        init("s", np.ones(dim)),
        init("b", np.zeros(dim)),
        init("m", np.zeros(dim)),
        init("v", np.ones(dim)),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_like",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [None, 3, 112, 112])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [None, dim])],
        inits,
    )
    folder.mkdir()
    _save(graph, folder / "w600k_tiny.onnx")
    return folder


def test_pack_embedders_get_a_torch_twin_and_adapt(tmp_path, sface, crops):
    # SFace's file served as a pack's recogniser: split before its Flatten, normalised as the pack
    # embedder decides (in the graph), it matches the pack embedder's own onnxruntime output.
    pack = tmp_path / "sface_pack"
    pack.mkdir()
    (pack / "w600k_r50.onnx").symlink_to(sface.model_path)
    embedder = load_embedder("insightface", cache_dir=tmp_path, pack_dir=pack)
    twin = backbone_for(embedder)
    with torch.no_grad():
        out = twin(twin.preprocess(crops)).numpy()
    assert twin.tail.input_name == embedding_layer_input(sface.model_path)
    assert _max_rel_diff(out, embedder.embed(crops)) < 1e-5
    # A 64-D ArcFace-style model (mean/std 127.5 outside the graph) adapts end to end on the CPU.
    tiny = load_embedder("insightface", cache_dir=tmp_path, pack_dir=_arcface_like_pack(tmp_path / "tiny"))
    base = backbone_for(tiny)
    assert (base.input_mean, base.input_std, base.embedding_dim) == (127.5, 127.5, 64)
    with torch.no_grad():
        assert _max_rel_diff(base(base.preprocess(crops)).numpy(), tiny.embed(crops)) < 1e-4
    quick = DistillConfig(warmup_epochs=1, rounds=1, epochs_per_round=1)
    track = np.array([0, 0, 1, 1, 2, 2])
    cache = tmp_path / "cache"
    cache.mkdir()
    trunk = onnx_trunk(tiny, base, cache)
    adapted = adapt_backbone(base, crops, track, {(0, 1)}, quick, trunk_features=trunk)
    assert embed_faces(adapted.model, crops).shape == (6, 64)
    # The trunk cut out for onnxruntime lands in the cache, not in the user's pack folder.
    assert [p.name for p in (tmp_path / "tiny").iterdir()] == ["w600k_tiny.onnx"] and len(list(cache.iterdir())) == 1


def test_onnx_export_takes_any_batch(backbone, crops, tmp_path):
    from vcn_assets.adaptation import export_onnx

    path = tmp_path / "adapted_embedder.onnx"
    export_onnx(backbone, path)
    x = backbone.preprocess(crops)
    out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"data": x.numpy()})[0]
    with torch.no_grad():
        assert _max_rel_diff(out, backbone(x).numpy()) < 1e-5 and out.shape == (6, 128)
