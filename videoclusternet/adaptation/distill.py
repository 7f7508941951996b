"""Self-distillation of a face-ID network on one title (DINO-style), without labels or negatives.

A student (backbone + projection head) learns to match, on a positive pair of faces, the output of
a teacher that is an exponential moving average of the student. The teacher's output is centred with
a running mean and sharpened with a lower temperature; gradients flow through the student only.
Training alternates a warm-up of the head with the backbone frozen, then joint rounds, re-mining the
track-to-track links with the improved model between rounds. While the backbone is frozen the
teacher's backbone equals the student's, so the warm-up can train the head on the backbone's outputs
computed once (`warmup_inputs`) instead of running the backbone every epoch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Gives a batch of network inputs for the given face indices: cached trunk features on the CPU,
# freshly augmented crops when the whole backbone trains.
InputFn = Callable[[np.ndarray, np.random.Generator], torch.Tensor]
# Re-mines linked track pairs (indices into the track list) from the current backbone.
MineFn = Callable[[nn.Module], list[tuple[int, int]]]


class ProjectionHead(nn.Module):
    """MLP, L2-normalised bottleneck, weight-normalised prototype layer (as in DINO)."""

    def __init__(self, in_dim: int, hidden: int = 512, bottleneck: int = 128, out_dim: int = 1024) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, bottleneck)
        )
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(bottleneck, out_dim, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(F.normalize(self.mlp(x), dim=-1))


class Student(nn.Module):
    def __init__(self, backbone: nn.Module, head: ProjectionHead) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


@dataclass(frozen=True)
class DistillConfig:
    seed: int = 0
    warmup_epochs: int = 20  # head only, backbone frozen: a head still near uniform only adds noise to the backbone
    rounds: int = 2  # joint training rounds, links re-mined before each
    epochs_per_round: int = 2
    # At most this many optimiser steps per joint round, so that a long episode moves the model no further than
    # a short one: friends' 2,296 faces make 36 in two epochs; 2.7 times as many steps at a 10x rate drifted.
    round_steps: int = 36
    batch_size: int = 128
    head_lr: float = 5e-4
    backbone_lr: float = 1e-5  # the whole backbone (GPU); 1e-4 cost friends 0.02 there (README)
    # The tail alone (CPU): 1e-5 with a 0.996 teacher left friends' embeddings at cosine 0.99997 to the generic
    # ones (F unchanged); 1e-4 with a 0.99 teacher moves them to about 0.997 and friends from 0.858 to 0.90-0.92;
    # 1e-3 is unstable (0.94 or 0.81 by seed). README: "Adaptation".
    tail_lr: float = 1e-4
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    center_momentum: float = 0.9
    teacher_momentum: float = 0.99  # a 36-step round moves the teacher 30% of the way to the student
    same_track_share: float = 0.5  # otherwise the partner comes from a linked track, when there is one
    out_dim: int = 1024

    def as_params(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items()}


@dataclass
class DistillResult:
    teacher: nn.Module  # the adapted backbone: the EMA teacher's, which is the steadier of the two
    head: nn.Module  # the teacher's projection head
    center: torch.Tensor
    epochs: list[dict[str, float]] = field(default_factory=list)
    link_rounds: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _partners(
    anchors: np.ndarray,
    face_track: np.ndarray,
    by_track: dict[int, np.ndarray],
    linked: dict[int, list[int]],
    share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    out = np.empty_like(anchors)
    for k, i in enumerate(anchors):
        t = int(face_track[i])
        if linked.get(t) and rng.random() >= share:
            t = linked[t][rng.integers(len(linked[t]))]
        faces = by_track[t]
        out[k] = faces[rng.integers(len(faces))]
    return out


def _distill_loss(student_out: torch.Tensor, teacher_out: torch.Tensor, center: torch.Tensor, cfg: DistillConfig):
    targets = F.softmax((teacher_out - center) / cfg.teacher_temp, dim=-1)
    return -(targets * F.log_softmax(student_out / cfg.student_temp, dim=-1)).sum(dim=-1).mean()


def self_distill(
    backbone: nn.Module,
    embed_dim: int,
    inputs: InputFn,
    face_track: np.ndarray,
    mine_links: MineFn,
    config: DistillConfig = DistillConfig(),
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    warmup_inputs: InputFn | None = None,
) -> DistillResult:
    """Adapt `backbone` (its output is the face embedding) to one title. `face_track` gives each
    training face's track as an index into the tracks `mine_links` speaks of. `warmup_inputs`, when
    given, yields the untrained backbone's outputs, on which the warm-up epochs train the head alone."""
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    student = Student(backbone, ProjectionHead(embed_dim, out_dim=config.out_dim))
    teacher = copy.deepcopy(student).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    center = torch.zeros(config.out_dim)
    optimiser = torch.optim.AdamW(
        [
            {"params": student.head.parameters(), "lr": config.head_lr},
            {"params": student.backbone.parameters(), "lr": config.backbone_lr},
        ],
        weight_decay=0.04,
    )
    by_track = {int(t): np.flatnonzero(face_track == t) for t in np.unique(face_track)}
    result = DistillResult(teacher=teacher.backbone, head=teacher.head, center=center)
    schedule = [("warmup", None)] * config.warmup_epochs
    for r in range(config.rounds):
        schedule += [("joint", r)] + [("joint", None)] * (config.epochs_per_round - 1)
    links = mine_links(teacher.backbone)
    result.link_rounds.append(len(links))
    round_steps = 0
    for epoch, (phase, new_round) in enumerate(schedule):
        if new_round is not None:
            round_steps = 0
            if epoch > 0:
                links = mine_links(teacher.backbone)
                result.link_rounds.append(len(links))
        linked: dict[int, list[int]] = {}
        for a, b in links:
            linked.setdefault(a, []).append(b)
            linked.setdefault(b, []).append(a)
        for p in student.backbone.parameters():
            p.requires_grad_(phase == "joint")
        student.train()
        for module in student.backbone.modules():  # keep the generic model's normalisation statistics
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        on_outputs = phase == "warmup" and warmup_inputs is not None
        fetch = warmup_inputs if on_outputs else inputs
        student_net, teacher_net = (student.head, teacher.head) if on_outputs else (student, teacher)
        losses = []
        order = rng.permutation(len(face_track))
        for start in range(0, len(order), config.batch_size):
            if phase == "joint" and round_steps >= config.round_steps:
                break
            round_steps += phase == "joint"
            anchors = order[start : start + config.batch_size]
            partners = _partners(anchors, face_track, by_track, linked, config.same_track_share, rng)
            xa, xb = fetch(anchors, rng), fetch(partners, rng)
            with torch.no_grad():
                ta, tb = teacher_net(xa), teacher_net(xb)
            sa, sb = student_net(xa), student_net(xb)
            loss = 0.5 * (_distill_loss(sb, ta, center, config) + _distill_loss(sa, tb, center, config))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                for ps, pt in zip(student.parameters(), teacher.parameters()):
                    pt.mul_(config.teacher_momentum).add_(ps.detach(), alpha=1 - config.teacher_momentum)
                batch_center = torch.cat([ta, tb]).mean(dim=0)
                center = center * config.center_momentum + batch_center * (1 - config.center_momentum)
            losses.append(float(loss.detach()))
        if not losses:  # the round's steps were spent in its earlier epochs
            continue
        stats = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "links": len(links),
            "joint": float(phase == "joint"),
            "steps": len(losses),
        }
        result.epochs.append(stats)
        if on_epoch:
            on_epoch(stats)
    result.teacher, result.head, result.center = teacher.backbone.eval(), teacher.head.eval(), center
    result.seconds = time.perf_counter() - started
    return result
