"""Fold block-quantised ONNX weights to plain fp32 once, into a model cache directory.

The bundled YuNet/SFace files store weights as int8 blocks behind `DequantizeLinear(block_size=..)`
(opset 21). onnxruntime and several OpenCV builds mis-handle or reject that op, so we evaluate
every weights-only chain (DequantizeLinear -> Reshape) with numpy and store the result as an
ordinary initializer. The folded file is keyed by the source's sha256, so a changed source
re-folds and an unchanged one is reused.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # onnx takes a second to import, and a folded model, once cached, needs none of it
    import onnx

BATCH_DIM = "batch"
# Bump when fold_model changes its output, so caches built by older code are not reused.
FOLD_VERSION = 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expand_blocks(param: np.ndarray, axis: int, block: int, size: int) -> np.ndarray:
    return np.repeat(param, block, axis=axis).take(np.arange(size), axis=axis)


def _dequantize(node: onnx.NodeProto, args: list[np.ndarray | None]) -> np.ndarray:
    x, scale = args[0], args[1]
    assert x is not None and scale is not None
    zero = args[2] if len(args) > 2 and args[2] is not None else np.zeros_like(scale, x.dtype)
    from onnx.helper import get_attribute_value

    attrs = {a.name: get_attribute_value(a) for a in node.attribute}
    axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
    block = int(attrs.get("block_size", 0))
    if block > 0:  # blocked: one scale per `block` elements along `axis`
        scale = _expand_blocks(scale, axis, block, x.shape[axis])
        zero = _expand_blocks(zero, axis, block, x.shape[axis])
    elif scale.ndim == 1 and scale.size > 1:  # per-axis
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    out = (x.astype(np.float32) - zero.astype(np.float32)) * scale.astype(np.float32)
    return out.astype(scale.dtype)


def _reshape(node: onnx.NodeProto, args: list[np.ndarray | None]) -> np.ndarray:
    x, shape = args[0], args[1]
    assert x is not None and shape is not None
    dims = [int(d) for d in shape]
    # ONNX Reshape: 0 copies the input dim (unless allowzero=1).
    dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


_FOLDERS = {"DequantizeLinear": _dequantize, "Reshape": _reshape}


def _batch_is_free(nodes: list[onnx.NodeProto], consts: dict[str, np.ndarray]) -> bool:
    """False if an activation Reshape hard-codes the batch (YuNet does): a dynamic batch would be a lie."""
    for node in nodes:
        if node.op_type == "Reshape" and node.input[1] in consts:
            shape = consts[node.input[1]].reshape(-1)
            if len(shape) and int(shape[0]) not in (0, -1):
                return False
    return True


def fold_model(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant-fold dequantisation chains, drop dangling inputs, make the batch dim dynamic if it can be."""
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kept: list[onnx.NodeProto] = []
    for node in graph.node:  # ONNX nodes are topologically sorted
        fold = _FOLDERS.get(node.op_type)
        inputs = [i for i in node.input]
        if fold is not None and all(i == "" or i in consts for i in inputs):
            consts[node.output[0]] = fold(node, [consts[i] if i else None for i in inputs])
        else:
            kept.append(node)

    used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
    new_inits = [numpy_helper.from_array(v, k) for k, v in consts.items() if k in used]
    # Old exporters (IR<4) list every initializer as a graph input too; those inputs become
    # dangling or confusing once their initializer changes, so keep only true data inputs.
    real_inputs = [i for i in graph.input if i.name not in consts and i.name in used]

    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    del graph.input[:]
    graph.input.extend(real_inputs)
    if _batch_is_free(kept, consts):
        del graph.value_info[:]  # stale shapes (fixed batch 1) would contradict the dynamic batch
        for value in list(graph.input) + list(graph.output):
            dims = value.type.tensor_type.shape.dim
            if len(dims) > 0:
                dims[0].Clear()
                dims[0].dim_param = BATCH_DIM
    model.ir_version = max(model.ir_version, 7)  # initializers need not be inputs from IR 4
    onnx.checker.check_model(model)
    return model


def fold_quantized_onnx(src: Path, cache_dir: Path) -> Path:
    """Return `<cache_dir>/<stem>_<source sha12>_fp32v<FOLD_VERSION>.onnx`, folding `src` into it if not yet done.

    Idempotent and safe against concurrent callers: the result is written to a temp file in the
    same directory and moved into place with os.replace.
    """
    src = Path(src)
    cache_dir = Path(cache_dir)
    sha = file_sha256(src)[:12]
    dst = cache_dir / f"{src.stem}_{sha}_fp32v{FOLD_VERSION}.onnx"
    record = dst.with_name(f"{dst.name}.sha256")  # the folded file's SHA-256, written when it was folded
    if dst.exists():
        found = file_sha256(dst)
        if not record.exists():  # folded before records were kept: recorded now
            record.write_text(found)
        if record.read_text().strip() == found:
            return dst
        # Changed since it was folded (by someone who can write the cache): folded again from the package's file.
    cache_dir.mkdir(parents=True, exist_ok=True)
    import onnx

    serialized = fold_model(onnx.load(str(src))).SerializeToString()
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=cache_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(serialized)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    record.write_text(hashlib.sha256(serialized).hexdigest())
    return dst
