"""Adapt a face-ID backbone to one title: views, pair mining and self-distillation put together.

On the CPU only the last layers train, on trunk features computed once for a few augmented views
of each face, so an episode adapts in minutes. With a GPU the whole backbone trains on freshly
augmented crops, after a warm-up of the head on the frozen network's outputs for a few views.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from videoclusternet.adaptation.augment import augment, augmented_views
from videoclusternet.adaptation.backbone import FaceBackbone
from videoclusternet.adaptation.distill import DistillConfig, DistillResult, InputFn, self_distill
from videoclusternet.adaptation.pairs import link_tracks_by_likelihood
from videoclusternet.embedding import mirrored


@dataclass
class Adaptation:
    model: FaceBackbone  # carries its own `preprocess`, so whoever loads it back embeds crops the same way
    distill: DistillResult
    intra_track_pairs: int
    track_links: int  # in the last round: mined, plus those people confirmed
    confirmed_links: int  # track pairs people said are one person (merged, moved, confirmed): in every round
    links_rejected_by_cooccurrence: int
    checkpoint_sha256: str
    trained_whole_backbone: bool


def checkpoint_sha256(model: nn.Module) -> str:
    buffer = io.BytesIO()
    for name, tensor in sorted(model.state_dict().items()):
        buffer.write(name.encode())
        buffer.write(tensor.detach().cpu().contiguous().numpy().tobytes())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


@torch.no_grad()
def _batched(fn: nn.Module, x: torch.Tensor, device: torch.device, batch: int = 128) -> torch.Tensor:
    return torch.cat([fn(x[i : i + batch].to(device)).cpu() for i in range(0, len(x), batch)])


def _view_cache(
    crops: np.ndarray, views: int, seed: int, features: Callable[[np.ndarray], torch.Tensor]
) -> torch.Tensor:
    """[N, views, ...]: `features` of each face's views (the crop, its mirror, random augmentations)."""
    all_views = augmented_views(crops, views, seed)
    return torch.stack(
        [torch.cat([features(all_views[i : i + 128, v]) for i in range(0, len(crops), 128)]) for v in range(views)],
        dim=1,
    )


def _from_cache(cached: torch.Tensor, device: torch.device) -> InputFn:
    """Inputs drawn from one random cached view of each face."""

    def inputs(idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        return cached[idx, rng.integers(cached.shape[1], size=len(idx))].to(device)

    return inputs


def adapt_backbone(
    base: FaceBackbone,
    crops: np.ndarray,
    face_track: np.ndarray,
    cannot_link: set[tuple[int, int]],
    config: DistillConfig = DistillConfig(),
    device: str = "cpu",
    views: int = 3,
    on_epoch=None,
    trunk_features: Callable[[np.ndarray], torch.Tensor] | None = None,
    whole_backbone: bool | None = None,
    confirmed: Sequence[set[int]] = (),
) -> Adaptation:
    """Adapt to the faces `crops` (aligned, uint8 BGR) whose tracks are `face_track` (track ids).

    `cannot_link` holds pairs of track ids seen in the same frame, or told apart by a person: never linked.
    `confirmed`: groups of track ids a person said are one person (people's corrections), linked in every
    round besides those mined. The whole backbone trains on a GPU (`whole_backbone=None`), only the tail
    elsewhere; then the frozen trunk's features come from `trunk_features` when given (e.g. `onnx_trunk`,
    faster than torch).
    """
    if not len(crops):
        raise ValueError("no faces to adapt on: the title has no kept face track")
    dev = torch.device(device)
    whole = dev.type == "cuda" if whole_backbone is None else whole_backbone
    torch.manual_seed(config.seed)
    tracks, face_index = np.unique(face_track, return_inverse=True)
    position = {int(t): i for i, t in enumerate(tracks)}
    blocked = {
        (min(position[a], position[b]), max(position[a], position[b]))
        for a, b in cannot_link
        if a in position and b in position
    }
    model = copy.deepcopy(base).eval()
    trunk, tail, preprocess = model.trunk, model.tail, model.preprocess
    warmup_inputs = None
    if whole:
        upright = preprocess(crops)
        flipped = preprocess(mirrored(crops))
        backbone: nn.Module = model.to(dev)
        if config.warmup_epochs:
            # The warm-up trains the head alone: on the frozen network's outputs, computed once.
            embedded = _view_cache(crops, views, config.seed, lambda batch: _batched(model, preprocess(batch), dev))
            warmup_inputs = _from_cache(embedded, dev)

        def inputs(idx: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
            return preprocess(np.stack([augment(crops[i], rng) for i in idx])).to(dev)

        def embed_all(model: nn.Module) -> np.ndarray:
            return (_batched(model, upright, dev) + _batched(model, flipped, dev)).numpy()
    else:
        # Trunk features of each view, computed once: only the tail trains.
        features = trunk_features or (lambda batch: _batched(trunk, preprocess(batch), dev))
        cached = _view_cache(crops, views, config.seed, features)
        backbone = tail.to(dev)
        inputs = _from_cache(cached, dev)
        config = dataclasses.replace(config, backbone_lr=config.tail_lr)

        def embed_all(model: nn.Module) -> np.ndarray:
            return (_batched(model, cached[:, 0], dev) + _batched(model, cached[:, 1], dev)).numpy()

    sure = {
        (min(position[a], position[b]), max(position[a], position[b]))
        for group in confirmed
        for a in group
        for b in group
        if a != b and a in position and b in position
    } - blocked
    mining: list = []

    def mine(model: nn.Module) -> list[tuple[int, int]]:
        model.eval()
        links = link_tracks_by_likelihood(embed_all(model), face_index, np.arange(len(tracks)), blocked)
        mining.append(links)
        return sorted(set(links.pairs) | sure)

    result = self_distill(backbone, model.embedding_dim, inputs, face_index, mine, config, on_epoch, warmup_inputs)
    if whole:
        adapted = result.teacher.cpu()
    else:
        model.tail = result.teacher.cpu()
        adapted = model
    sizes = np.bincount(face_index)
    return Adaptation(
        model=adapted.eval(),
        distill=result,
        intra_track_pairs=int((sizes * (sizes - 1) // 2).sum()),
        track_links=result.link_rounds[-1],
        confirmed_links=len(sure),
        links_rejected_by_cooccurrence=mining[-1].rejected_by_cooccurrence,
        checkpoint_sha256=checkpoint_sha256(adapted),
        trained_whole_backbone=whole,
    )


def same_trunk(a: FaceBackbone, b: FaceBackbone) -> bool:
    """Whether two backbones share the trunk's weights (true for a model adapted on the CPU)."""
    sa, sb = a.trunk.state_dict(), b.trunk.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


@torch.no_grad()
def embed_faces(
    model: FaceBackbone,
    crops: np.ndarray,
    device: str = "cpu",
    trunk_features: Callable[[np.ndarray], torch.Tensor] | None = None,
    batch: int = 128,
) -> np.ndarray:
    """Raw embeddings of aligned crops, each the sum over the face and its mirror image (as the
    generic embeddings are). `trunk_features` may stand in for the model's own trunk."""
    model = model.eval().to(device)
    out = []
    for i in range(0, len(crops), batch):
        total = 0
        for view in (crops[i : i + batch], np.ascontiguousarray(crops[i : i + batch, :, ::-1])):
            if trunk_features is None:
                total = total + model(model.preprocess(view).to(device)).cpu()
            else:
                total = total + model.tail(trunk_features(view).to(device)).cpu()
        out.append(total.numpy())
    return np.concatenate(out) if out else np.zeros((0, model.embedding_dim), np.float32)
