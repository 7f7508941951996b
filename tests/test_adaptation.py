"""Self-supervised adaptation: real SFace weights in torch, real training on the generated clip, real MLflow."""

from __future__ import annotations

from collections import Counter, defaultdict

import dagster as dg
import numpy as np
import pytest

from vcn_assets.adaptation import load_adapted, training_faces
from vcn_resources.tracking import MlflowResource
from vcn_resources.warehouse import Warehouse
from videoclusternet.adaptation.adapt import adapt_backbone
from videoclusternet.adaptation.backbone import load_sface_backbone
from videoclusternet.adaptation.distill import DistillConfig, self_distill
from videoclusternet.boxes import iou_matrix
from videoclusternet.clustering import cooccurring_pairs
from videoclusternet.embedding import l2_normalise
from videoclusternet.models.sface import SFaceEmbedder

TITLE = "clip"
QUICK = DistillConfig(warmup_epochs=1, rounds=1, epochs_per_round=2)


def _track_identities(processed) -> dict[int, str]:
    con = Warehouse(processed.home).connect()
    rows = con.execute("SELECT frame, x1, y1, x2, y2, track FROM detections WHERE title = ?", [TITLE]).fetchall()
    truth = defaultdict(list)
    for t in processed.truth.faces:
        truth[t.frame_idx].append(([t.x1, t.y1, t.x2, t.y2], t.identity))
    votes: dict[int, Counter] = defaultdict(Counter)
    for f, *box, track in rows:
        if truth[f]:
            ious = iou_matrix(np.array([box]), np.array([b for b, _ in truth[f]]))[0]
            if ious.max() >= 0.4:
                votes[track][truth[f][int(np.argmax(ious))][1]] += 1
    return {t: v.most_common(1)[0][0] for t, v in votes.items()}


@pytest.fixture(scope="module")
def training(processed):
    warehouse = Warehouse(processed.home)
    faces, face_track, crops = training_faces(warehouse, TITLE)
    con = warehouse.connect()
    frames = con.execute("SELECT frame, track FROM detections WHERE title = ?", [TITLE]).fetchall()
    pairs = cooccurring_pairs(np.array([f for f, _ in frames]), np.array([t for _, t in frames]))
    backbone = load_sface_backbone(SFaceEmbedder(processed.home / "models").model_path)
    return faces, face_track, crops, pairs, backbone, _track_identities(processed)


def _gap(model, crops, face_track, identity) -> float:
    import torch

    with torch.no_grad():
        emb = l2_normalise(model(model.preprocess(crops)).numpy())
    same, other = [], []
    for i in range(len(crops)):
        for j in range(i + 1, len(crops)):
            if face_track[i] != face_track[j]:
                (same if identity[face_track[i]] == identity[face_track[j]] else other).append(emb[i] @ emb[j])
    return float(np.mean(same) - np.mean(other))


def test_adaptation_widens_the_identity_gap_on_held_out_tracks(training):
    faces, face_track, crops, pairs, backbone, identity = training
    tracks = np.unique(face_track)
    held_out = tracks[len(tracks) // 2 :]  # the later shots' tracks: never seen in training
    train = ~np.isin(face_track, held_out)
    adapted = adapt_backbone(backbone, crops[train], face_track[train], pairs, QUICK)
    test = ~train
    assert len({identity[t] for t in held_out}) >= 2
    before = _gap(backbone, crops[test], face_track[test], identity)
    after = _gap(adapted.model, crops[test], face_track[test], identity)
    assert after > before, (before, after)
    assert adapted.intra_track_pairs > 0 and adapted.distill.epochs[-1]["joint"] == 1.0


def test_a_long_title_takes_no_more_steps_per_round_than_the_cap():
    import torch

    faces = torch.randn(40, 8)
    config = DistillConfig(warmup_epochs=1, rounds=2, epochs_per_round=3, batch_size=8, round_steps=7, out_dim=16)
    result = self_distill(
        torch.nn.Linear(8, 8), 8, lambda idx, rng: faces[idx], np.repeat(np.arange(4), 10), lambda model: [], config
    )
    steps = [e["steps"] for e in result.epochs]
    assert steps == [5, 5, 2, 5, 2], steps  # warm-up; then each round 5 + 2 of its 7 steps, its third epoch skipped


def test_whole_backbone_path_trains_the_trunk(training):
    # What a GPU runs, here on the CPU on 6 faces of each of two tracks: augmented crops through the
    # whole network.
    from videoclusternet.adaptation.adapt import embed_faces, same_trunk

    _, face_track, crops, pairs, backbone, _ = training
    subset = np.concatenate([np.flatnonzero(face_track == t)[:6] for t in np.unique(face_track)[:2]])
    adapted = adapt_backbone(backbone, crops[subset], face_track[subset], pairs, QUICK, whole_backbone=True)
    assert adapted.trained_whole_backbone and not same_trunk(adapted.model, backbone)
    raw = embed_faces(adapted.model, crops[subset][:3])
    assert raw.shape == (3, 128) and np.isfinite(raw).all()


def test_warmup_on_cached_backbone_outputs_equals_running_the_backbone():
    # While the backbone is frozen the teacher's equals the student's: a warm-up on outputs computed
    # once must train the head exactly as a warm-up that runs the backbone every step.
    import torch
    from torch import nn

    from videoclusternet.adaptation.distill import self_distill

    torch.manual_seed(0)
    network = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 8))
    x = torch.randn(24, 10)
    with torch.no_grad():
        outputs = network(x)
    face_track = np.repeat(np.arange(6), 4)
    config = DistillConfig(warmup_epochs=3, rounds=0, batch_size=8)
    runs = [
        self_distill(network, 8, lambda idx, rng: x[idx], face_track, lambda m: [(0, 1)], config, warmup_inputs=cached)
        for cached in (None, lambda idx, rng: outputs[idx])
    ]
    assert [e["loss"] for e in runs[0].epochs] == pytest.approx([e["loss"] for e in runs[1].epochs], rel=1e-5)
    for a, b in zip(runs[0].head.parameters(), runs[1].head.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    # The backbone stays what it was (the teacher's moving average only rounds it).
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(runs[1].teacher.parameters(), network.parameters()))


def test_a_title_without_faces_gets_a_clear_error(training):
    backbone = training[4]
    for whole in (False, True):
        with pytest.raises(ValueError, match="no faces to adapt on"):
            adapt_backbone(
                backbone,
                np.zeros((0, 112, 112, 3), np.uint8),
                np.zeros(0, np.int64),
                set(),
                QUICK,
                whole_backbone=whole,
            )


def test_same_seed_same_checkpoint(training):
    _, face_track, crops, pairs, backbone, _ = training
    subset = np.isin(face_track, np.unique(face_track)[:4])
    runs = [adapt_backbone(backbone, crops[subset], face_track[subset], pairs, QUICK) for _ in range(2)]
    assert runs[0].checkpoint_sha256 == runs[1].checkpoint_sha256


def test_tracks_people_confirmed_are_linked_unless_told_apart(training):
    """A merge or a move (a group of tracks people said are one person) is a positive pair in every round; a
    pair also told apart, or seen together, is never linked."""
    _, face_track, crops, pairs, backbone, _ = training
    a, b, *_ = np.unique(face_track)
    subset = np.isin(face_track, [a, b])
    confirmed = adapt_backbone(backbone, crops[subset], face_track[subset], set(), QUICK, confirmed=[{a, b}])
    assert confirmed.confirmed_links == 1 and confirmed.track_links >= 1
    apart = adapt_backbone(backbone, crops[subset], face_track[subset], {(b, a)}, QUICK, confirmed=[{a, b}])
    assert apart.confirmed_links == 0 and apart.track_links == 0


def test_mlflow_run_and_registered_model_load_back(home_env):
    instance = dg.DagsterInstance.get()
    records = instance.fetch_materializations(dg.AssetKey("adapted_model"), limit=5).records
    meta = records[0].asset_materialization.metadata
    mlflow = MlflowResource(home=str(home_env.home)).client()
    run = mlflow.get_run(meta["mlflow_run_id"].value)
    assert run.data.tags["dagster/partition"] == TITLE
    assert run.data.tags["dagster/run_id"] == records[0].run_id
    assert {"loss", "track_links", "intra_track_pairs", "adaptation_seconds"} <= set(run.data.metrics)
    history = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "loss")
    assert len(history) >= 2
    # The weights load back without unpickling anything, into the embedder's architecture, as the checkpoint.
    tracking = MlflowResource(home=str(home_env.home))
    model = load_adapted(tracking, run.info.run_id, _sface_backbone(home_env), meta["checkpoint_sha256"].value)
    assert model(model.preprocess(np.zeros((2, 112, 112, 3), np.uint8))).shape == (2, 128)
    with pytest.raises(ValueError, match="are not the checkpoint"):
        load_adapted(tracking, run.info.run_id, _sface_backbone(home_env), "0" * 64)
    registered = meta["registered_model"].value
    versions = mlflow.tracking.MlflowClient().search_model_versions(f"name='{registered}'")
    assert str(meta["model_version"].value) in {str(v.version) for v in versions}
    onnx_model = mlflow.onnx.load_model(meta["model_uri"].value)  # the registered model: ONNX, no pickle
    assert [i.name for i in onnx_model.graph.input] == ["data"]
    stored = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run.info.run_id, "weights")}
    assert stored == {"weights/state_dict.pt"}


def _sface_backbone(home_env):
    from videoclusternet.adaptation.backbone import backbone_for
    from videoclusternet.models import load_embedder

    return backbone_for(load_embedder("sface", cache_dir=home_env.home / "models"))
