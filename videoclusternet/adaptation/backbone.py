"""The face-embedding network as a trainable torch module, rebuilt from its ONNX graph.

Adaptation fine-tunes the very network that produced the pipeline's embeddings, so the weights
are read from the (folded, fp32) ONNX file the embedder runs rather than from a separate checkpoint
that could drift from it. torchvision and onnx2torch are not dependencies; the few ops that face
recognisers use are mapped here by hand:

    Conv (2-D; any pads, strides, dilations, groups), BatchNormalization (inference form),
    PRelu, Relu, Add/Sub/Mul/Div (tensor-tensor, or with a constant), Dropout and Identity
    (identity), Flatten, Gemm (transA=0, constant B) and Constant.

That covers SFace (a chain) and the residual ArcFace/IResNet models of insightface packs. Any other
op raises `UnsupportedOpError` naming it, instead of silently computing something else.

The network splits at one tensor into a `trunk` and a `tail`, so a CPU caller can cache trunk
features once and train only the tail.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnx.utils
import torch
from onnx import numpy_helper
from torch import nn

from videoclusternet.models.sface import ArcFaceLikeEmbedder, SFaceEmbedder

SFACE_SPLIT = "bn1"  # last BatchNormalization before dropout -> flatten -> Gemm -> fc1 (128-D)


class UnsupportedOpError(ValueError):
    """The ONNX graph uses an op (or an op variant) this converter does not map to torch."""


@dataclass(frozen=True)
class _Step:
    key: str  # key of the step's module in OnnxGraphNet.layers
    inputs: tuple[str, ...]  # dynamic (runtime) tensor names the module is called with, in order
    output: str


class _Binary(nn.Module):
    """Elementwise op on two runtime tensors, or on one and a constant buffer (ONNX broadcasting)."""

    _OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "Add": torch.add,
        "Sub": torch.sub,
        "Mul": torch.mul,
        "Div": torch.div,
    }

    def __init__(self, op: str, const: torch.Tensor | None = None, const_first: bool = False) -> None:
        super().__init__()
        self.op, self.const_first = op, const_first
        self.const: torch.Tensor | None
        self.register_buffer("const", const)

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        fn = self._OPS[self.op]
        if self.const is None:
            assert b is not None
            return fn(a, b)
        return fn(self.const, a) if self.const_first else fn(a, self.const)

    def extra_repr(self) -> str:
        side = "none" if self.const is None else tuple(self.const.shape)
        return f"op={self.op}, const={side}, const_first={self.const_first}"


class OnnxGraphNet(nn.Module):
    """Runs a sub-graph of converted ONNX nodes in topological order, from one input to one output."""

    def __init__(self, layers: dict[str, nn.Module], steps: list[_Step], input_name: str, output_name: str) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.steps = list(steps)
        self.input_name, self.output_name = input_name, output_name
        # Drop each intermediate after its last use: residual graphs otherwise hold every activation.
        last_use: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            for name in step.inputs:
                last_use[name] = i
        self._free_after = [
            tuple(n for n in dict.fromkeys(step.inputs) if last_use[n] == i and n != output_name)
            for i, step in enumerate(self.steps)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        env = {self.input_name: x}
        for step, free in zip(self.steps, self._free_after):
            env[step.output] = self.layers[step.key](*(env[n] for n in step.inputs))
            for name in free:
                del env[name]
        return env[self.output_name]


class FaceBackbone(nn.Module):
    """trunk + tail of a face recogniser; `forward` gives the raw (unnormalised) embedding.

    Built in eval mode: BatchNorm uses the ONNX running statistics until a caller calls `.train()`.
    """

    def __init__(
        self,
        trunk: OnnxGraphNet,
        tail: OnnxGraphNet,
        input_size: tuple[int, int] = (112, 112),
        input_mean: float = 0.0,
        input_std: float = 1.0,
        swap_rb: bool = True,
    ) -> None:
        super().__init__()
        self.trunk, self.tail = trunk, tail
        self.input_size = input_size  # (width, height), as cv2 takes it
        self.input_mean, self.input_std, self.swap_rb = input_mean, input_std, swap_rb
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.trunk(x))

    def trunk_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    @property
    def embedding_dim(self) -> int:
        """Length of the embedding (128 for SFace, 512 for insightface's ArcFace models)."""
        w, h = self.input_size
        training = self.training
        self.eval()  # one zero image through BatchNorm in training mode would fail
        with torch.no_grad():
            dim = int(self(torch.zeros(1, 3, h, w, device=next(self.parameters()).device)).shape[-1])
        self.train(training)
        return dim

    def preprocess(self, crops_uint8_bgr: np.ndarray) -> torch.Tensor:
        """[N,H,W,3] uint8 BGR crops -> the float32 NCHW tensor insightface's ArcFaceONNX feeds the session.

        Same as `cv2.dnn.blobFromImages(crops, 1/std, input_size, (mean,)*3, swapRB=True)`: resize
        (bilinear) only when a crop is not already `input_size`, then (x - mean) / std, BGR->RGB.
        """
        crops = np.asarray(crops_uint8_bgr)
        if crops.ndim != 4 or crops.shape[-1] != 3:
            raise ValueError(f"expected [N,H,W,3] crops, got {crops.shape}")
        w, h = self.input_size
        if crops.shape[1:3] != (h, w):
            crops = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in crops])
        x = crops.astype(np.float32)
        if self.swap_rb:
            x = x[..., ::-1]
        if self.input_mean != 0.0:
            x = x - np.float32(self.input_mean)
        if self.input_std != 1.0:
            x = x * np.float32(1.0 / self.input_std)
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32))


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32, copy=True))


def _conv(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> nn.Module:
    at = _attrs(node)
    if at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise UnsupportedOpError(f"Conv {node.name!r}: auto_pad={at['auto_pad']!r} is not supported")
    if node.input[1] not in consts:
        raise UnsupportedOpError(f"Conv {node.name!r}: weight must be an initializer")
    weight = consts[node.input[1]]
    if weight.ndim != 4:
        raise UnsupportedOpError(f"Conv {node.name!r}: only 2-D convolutions are supported, weight {weight.shape}")
    bias = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    pads = list(at.get("pads", [0, 0, 0, 0]))  # [top, left, bottom, right]
    groups = int(at.get("group", 1))
    conv = nn.Conv2d(
        weight.shape[1] * groups,
        weight.shape[0],
        kernel_size=tuple(weight.shape[2:]),
        stride=tuple(at.get("strides", [1, 1])),
        padding=(pads[0], pads[1]) if pads[:2] == pads[2:] else 0,
        dilation=tuple(at.get("dilations", [1, 1])),
        groups=groups,
        bias=bias is not None,
    )
    conv.weight.data = _tensor(weight)
    if bias is not None:
        assert conv.bias is not None
        conv.bias.data = _tensor(bias).reshape(-1)
    if pads[:2] == pads[2:]:
        return conv
    return nn.Sequential(nn.ZeroPad2d((pads[1], pads[3], pads[0], pads[2])), conv)


def _batchnorm(node: onnx.NodeProto, consts: dict[str, np.ndarray], rank: int) -> nn.Module:
    at = _attrs(node)
    if any(node.output[1:]) or at.get("training_mode", 0):
        raise UnsupportedOpError(f"BatchNormalization {node.name!r}: training-mode outputs are not supported")
    if any(name not in consts for name in node.input[1:5]):
        raise UnsupportedOpError(f"BatchNormalization {node.name!r}: parameters must be initializers")
    scale, bias, mean, var = (consts[name].reshape(-1) for name in node.input[1:5])
    cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}.get(rank)
    if cls is None:
        raise UnsupportedOpError(f"BatchNormalization {node.name!r}: input rank {rank} is not supported")
    # ONNX momentum weighs the old statistic; torch's weighs the new one.
    bn = cls(len(scale), eps=float(at.get("epsilon", 1e-5)), momentum=1.0 - float(at.get("momentum", 0.9)))
    bn.weight.data, bn.bias.data = _tensor(scale), _tensor(bias)
    bn.running_mean.data, bn.running_var.data = _tensor(mean), _tensor(var)
    return bn


def _prelu(node: onnx.NodeProto, consts: dict[str, np.ndarray], rank: int) -> nn.Module:
    if node.input[1] not in consts:
        raise UnsupportedOpError(f"PRelu {node.name!r}: slope must be an initializer")
    slope = consts[node.input[1]]
    # nn.PReLU applies its slopes along dim 1; ONNX broadcasts from the right, so a per-channel
    # slope must be shaped [C] on 2-D input or [C,1,1] on 4-D input (or be a single value).
    per_channel = (slope.ndim == rank - 1 and all(d == 1 for d in slope.shape[1:])) or (
        slope.ndim == rank and slope.shape[0] == 1 and all(d == 1 for d in slope.shape[2:])
    )
    if slope.size != 1 and not per_channel:
        raise UnsupportedOpError(f"PRelu {node.name!r}: slope {slope.shape} on rank-{rank} input is not per-channel")
    prelu = nn.PReLU(num_parameters=int(slope.size))
    prelu.weight.data = _tensor(slope).reshape(-1)
    return prelu


def _gemm(node: onnx.NodeProto, consts: dict[str, np.ndarray]) -> nn.Module:
    at = _attrs(node)
    if at.get("transA", 0) or node.input[1] not in consts:
        raise UnsupportedOpError(f"Gemm {node.name!r}: needs transA=0 and a constant B")
    b = consts[node.input[1]]
    weight = b if at.get("transB", 0) else b.T  # Linear holds [out, in]
    alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
    has_c = len(node.input) > 2 and bool(node.input[2])
    if has_c and node.input[2] not in consts:
        raise UnsupportedOpError(f"Gemm {node.name!r}: C must be an initializer")
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=has_c)
    linear.weight.data = _tensor(weight * alpha if alpha != 1.0 else weight)
    if has_c:
        c = consts[node.input[2]]
        assert linear.bias is not None
        linear.bias.data = _tensor(np.broadcast_to(c * beta if beta != 1.0 else c, (1, weight.shape[0]))).reshape(-1)
    return linear


class _Flatten(nn.Module):
    """ONNX Flatten: always 2-D, [prod(shape[:axis]), prod(shape[axis:])]."""

    def __init__(self, axis: int) -> None:
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        axis = self.axis % x.dim() if self.axis < 0 else self.axis
        if axis == 0:
            return x.reshape(1, -1)
        # No sizes computed in Python: an ONNX export keeps the batch dynamic.
        return x.flatten(axis).flatten(0, axis - 1)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


def _module_key(node: onnx.NodeProto, index: int, taken: set[str]) -> str:
    base = re.sub(r"\W", "_", node.name) or f"{node.op_type.lower()}_{index}"
    base = f"n_{base}" if base[0].isdigit() else base
    key = base
    while key in taken:
        key = f"{base}_{index}"
        index += 1
    taken.add(key)
    return key


def _convert(
    graph: onnx.GraphProto,
) -> tuple[str, list[tuple[onnx.NodeProto, str, _Step, nn.Module | None]], str]:
    """Map each node to (node, output name, step, module); Constant nodes get step module None."""
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise UnsupportedOpError(
            f"need one input and one output, got inputs {[i.name for i in inputs]}, outputs "
            f"{[o.name for o in graph.output]}"
        )
    input_name = inputs[0].name
    ranks = {input_name: len(inputs[0].type.tensor_type.shape.dim) or 4}
    out: list[tuple[onnx.NodeProto, str, _Step, nn.Module | None]] = []
    taken: set[str] = set()
    for index, node in enumerate(graph.node):
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(f"op {node.domain}::{op} (node {node.name!r}) is not supported")
        if op == "Constant":
            value = _attrs(node).get("value")
            if value is None:
                raise UnsupportedOpError(f"Constant {node.name!r}: only the 'value' attribute is supported")
            consts[node.output[0]] = numpy_helper.to_array(value)
            continue
        dynamic = [n for n in node.input if n and n not in consts]
        missing = [n for n in dynamic if n not in ranks]
        if missing:
            raise UnsupportedOpError(f"{op} {node.name!r}: inputs {missing} are produced later (graph not sorted)")
        in_ranks = [ranks[n] for n in dynamic]
        if not dynamic:
            raise UnsupportedOpError(f"{op} {node.name!r}: all inputs constant; fold the model first")
        rank = in_ranks[0]
        layer: nn.Module
        used = dynamic[:1]
        if op == "Conv":
            layer = _conv(node, consts)
        elif op == "BatchNormalization":
            layer = _batchnorm(node, consts, rank)
        elif op == "PRelu":
            layer = _prelu(node, consts, rank)
        elif op == "Relu":
            layer = nn.ReLU()
        elif op in ("Dropout", "Identity"):
            layer = nn.Identity()  # inference semantics; the ratio input is a constant and ignored
        elif op == "Flatten":
            layer = _Flatten(int(_attrs(node).get("axis", 1)))
        elif op == "Gemm":
            layer = _gemm(node, consts)
        elif op in _Binary._OPS:
            a, b = node.input[0], node.input[1]
            if a in consts and b in consts:
                raise UnsupportedOpError(f"{op} {node.name!r}: both inputs constant; fold the model first")
            if a in consts or b in consts:
                c = consts[a] if a in consts else consts[b]
                layer = _Binary(op, _tensor(c), const_first=a in consts)
            else:
                layer, used = _Binary(op), [a, b]
        else:
            hint = " (quantized graph: fold it with fold_quantized_onnx first)" if "Quantize" in op else ""
            raise UnsupportedOpError(f"ONNX op {op!r} (node {node.name!r}) is not supported{hint}")
        ranks[node.output[0]] = 2 if op in ("Flatten", "Gemm") else max(in_ranks)
        step = _Step(_module_key(node, index, taken), tuple(used), node.output[0])
        out.append((node, node.output[0], step, layer))
    return input_name, out, graph.output[0].name


def backbone_from_onnx(
    model_path: Path,
    split_at: str,
    input_mean: float | None = None,
    input_std: float | None = None,
    swap_rb: bool = True,
) -> FaceBackbone:
    """Load an fp32 ONNX face recogniser as a FaceBackbone, split after the node (or tensor) `split_at`.

    The trunk ends with `split_at`'s output, which must be the only tensor the rest of the graph
    reads from it. `input_mean`/`input_std` default to insightface ArcFaceONNX's guess (0/1 when
    the first 8 nodes include Sub and Mul, i.e. normalisation is in the graph; else 127.5/127.5),
    so `preprocess` matches what insightface would feed the same file.
    """
    model = onnx.load(str(model_path))
    graph = model.graph
    input_name, converted, output_name = _convert(graph)
    cut = [i for i, (node, out, _, _) in enumerate(converted) if split_at in (node.name, out)]
    if not cut:
        raise ValueError(f"split_at={split_at!r} names no converted node or tensor in {model_path}")
    k = cut[0]
    split_tensor = converted[k][1]
    trunk_outputs = {input_name, *(out for _, out, _, _ in converted[: k + 1])}
    leaks = {n for _, _, step, _ in converted[k + 1 :] for n in step.inputs if n in trunk_outputs} - {split_tensor}
    if leaks or k == len(converted) - 1:
        raise ValueError(f"cannot split at {split_at!r}: the tail also reads {sorted(leaks) or 'nothing'}")
    parts = []
    for chunk, start in ((converted[: k + 1], input_name), (converted[k + 1 :], split_tensor)):
        layers = {step.key: layer for _, _, step, layer in chunk if layer is not None}
        parts.append(OnnxGraphNet(layers, [s for _, _, s, _ in chunk], start, chunk[-1][1]))
    if parts[1].output_name != output_name:
        raise ValueError(f"the last node's output {parts[1].output_name!r} is not the graph output {output_name!r}")
    if input_mean is None or input_std is None:
        names = [n.name for n in graph.node[:8]]
        in_graph = any(n.startswith(("Sub", "_minus")) for n in names) and any(
            n.startswith(("Mul", "_mul")) for n in names
        )
        guess = (0.0, 1.0) if in_graph else (127.5, 127.5)
        input_mean = guess[0] if input_mean is None else input_mean
        input_std = guess[1] if input_std is None else input_std
    dims = [d.dim_value for d in next(i for i in graph.input if i.name == input_name).type.tensor_type.shape.dim]
    size = (dims[3], dims[2]) if len(dims) == 4 and dims[2] > 0 and dims[3] > 0 else (112, 112)
    return FaceBackbone(parts[0], parts[1], size, float(input_mean), float(input_std), swap_rb)


def load_sface_backbone(model_path: Path) -> FaceBackbone:
    """SFace from its folded fp32 file (`SFaceEmbedder.model_path`), split before dropout/flatten/fc.

    Its graph normalises (x - 127.5) / 128 itself, so `preprocess` only swaps BGR->RGB, as
    SFaceEmbedder pins insightface to (mean 0, std 1).
    """
    return backbone_from_onnx(model_path, SFACE_SPLIT, input_mean=0.0, input_std=1.0)


def embedding_layer_input(model_path: Path) -> str:
    """The tensor the graph's Flatten reads: where ArcFace-family recognisers leave the spatial trunk for
    their embedding layers (flatten -> fully connected -> batch norm)."""
    graph = onnx.load(str(model_path), load_external_data=False).graph
    flatten = [n for n in graph.node if n.op_type == "Flatten"]
    if len(flatten) != 1:
        raise ValueError(f"{model_path} has {len(flatten)} Flatten nodes; expected one before its embedding layer")
    return flatten[0].input[0]


def backbone_for(embedder: ArcFaceLikeEmbedder | SFaceEmbedder) -> FaceBackbone:
    """The torch twin of the pipeline's embedder: SFace, or the ArcFace model of a user's insightface pack
    (split before its embedding layer, normalised as the embedder normalises)."""
    path = Path(embedder.model_path)
    if embedder.name == SFaceEmbedder.name:
        return load_sface_backbone(path)
    return backbone_from_onnx(path, embedding_layer_input(path), embedder.input_mean, embedder.input_std)


def onnx_trunk(
    embedder: ArcFaceLikeEmbedder | SFaceEmbedder, backbone: FaceBackbone, cache_dir: Path
) -> Callable[[np.ndarray], torch.Tensor]:
    """The backbone's trunk run by OpenVINO on the CPU (onnxruntime on CUDA) instead of torch: crops (uint8 BGR)
    -> trunk features. The same weights and preprocessing, several times faster, for when the trunk stays frozen.
    The sub-model is cut out of the embedder's ONNX file once and kept in `cache_dir`, named by the file's
    hash (the embedder's version): never in a user's model pack folder, which may be read-only and whose
    every .onnx file the pack loader reads.
    """
    from videoclusternet.models.base import model_forward

    model_path = Path(embedder.model_path)
    split = backbone.trunk.output_name
    trunk_path = Path(cache_dir) / f"{model_path.stem}-{embedder.version}.trunk-{split}.onnx"
    if not trunk_path.exists():
        tmp = trunk_path.with_suffix(f".{os.getpid()}.tmp")
        onnx.utils.extract_model(str(model_path), str(tmp), [backbone.trunk.input_name], [split])
        os.replace(tmp, trunk_path)
    forward = model_forward(trunk_path)

    def features(crops: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(forward(backbone.preprocess(crops).numpy()))

    return features
