"""Per-layer summary of a model: output shape, parameters and FLOPs of every leaf layer, plus totals.

Everything is computed abstractly (`jax.eval_shape`), so even ResNet-152 at 224x224 is summarised in a
second or two without allocating weights. FLOPs are counted per example: 2 per multiply-add in
convolutions and dense layers (+1 per output for a bias), window-size per output for pooling, 2 per
element for (inference) batch norm; activations and additions are not counted. `model_table` and
`model_list` are the texts `python -m jaxcnn.models` prints.
"""

from __future__ import annotations

import dataclasses
import math
import re

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn import errors, layers
from jaxcnn.models.registry import get_model, get_spec, list_models


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One leaf layer: its path, type, output shape (batch of 1), parameter count and FLOPs."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    flops: int


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """All leaf layers in call order and the model totals."""

    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...]
    total_params: int
    total_flops: int
    output_shape: tuple[int, ...]


def _flops(module: nn.Module, in_shape, out_shape) -> int:
    out_size = math.prod(out_shape)
    if isinstance(module, layers.Conv2d):
        kh, kw = layers._pair(module.kernel_size, "kernel_size")
        macs = out_size * kh * kw * (in_shape[-1] // module.groups)
        return 2 * macs + (out_size if module.use_bias else 0)
    if isinstance(module, nn.Dense):
        return 2 * out_size * in_shape[-1] + (out_size if module.use_bias else 0)
    if isinstance(module, layers._Pool):
        kh, kw = layers._pair(module.window, "window")
        return out_size * kh * kw
    if isinstance(module, (layers.GlobalAvgPool, layers.GlobalMaxPool)):
        return math.prod(in_shape)
    if isinstance(module, nn.BatchNorm):
        return 2 * out_size
    return 0


def summarize(model: nn.Module, input_shape: tuple[int, int, int]) -> ModelSummary:
    """Summarise `model` on one NHWC example of spatial shape `input_shape` = (H, W, C)."""
    rows: list[LayerRow] = []
    stack: list[list[bool]] = []  # one "has children" flag per module call in progress

    def interceptor(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        if stack:
            stack[-1][0] = True
        stack.append([False])
        out = next_fun(*args, **kwargs)
        has_children = stack.pop()[0]
        if not has_children and context.module.path:
            module = context.module
            in_shape = tuple(args[0].shape) if args and hasattr(args[0], "shape") else ()
            out_shape = tuple(out.shape) if hasattr(out, "shape") else ()
            params = layers.param_count(module.variables.get("params", {}))
            rows.append(LayerRow("/".join(module.path), type(module).__name__, out_shape, params,
                                 _flops(module, in_shape, out_shape)))
        return out

    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)

    def init(x):
        with nn.intercept_methods(interceptor):
            return model.init(jax.random.key(0), x, train=False)

    variables = jax.eval_shape(init, x)
    logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, x)
    return ModelSummary(tuple(input_shape), tuple(rows), layers.param_count(variables.get("params", {})),
                        sum(r.flops for r in rows), tuple(logits.shape))


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def format_summary(name: str, summary: ModelSummary) -> str:
    """The summary as a fixed-width text table."""
    width = max([len("layer")] + [len(r.name) for r in summary.rows])
    kind_w = max([len("type")] + [len(r.kind) for r in summary.rows])
    shape_w = max([len("output shape")] + [len(str(r.output_shape)) for r in summary.rows])
    h, w, c = summary.input_shape
    lines = [f"{name}: input {h}x{w}x{c} (NHWC, batch 1); FLOPs = 2 per multiply-add",
             f"{'layer':<{width}}  {'type':<{kind_w}}  {'output shape':<{shape_w}}  {'params':>12}  {'FLOPs':>9}"]
    lines.append("-" * len(lines[-1]))
    for r in summary.rows:
        lines.append(f"{r.name:<{width}}  {r.kind:<{kind_w}}  {str(r.output_shape):<{shape_w}}  "
                     f"{r.params:>12,}  {_human(r.flops):>9}")
    lines.append("-" * len(lines[1]))
    lines.append(f"{'total':<{width}}  {'':<{kind_w}}  {str(summary.output_shape):<{shape_w}}  "
                 f"{summary.total_params:>12,}  {_human(summary.total_flops):>9}")
    lines.append(f"total params: {summary.total_params:,} ({summary.total_params / 1e6:.2f}M); "
                 f"total FLOPs: {summary.total_flops:,} ({_human(summary.total_flops)})")
    return "\n".join(lines)


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'32x32x3' -> (32, 32, 3) (height x width x channels); '32x32' means one channel."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*(?:[xX,]\s*(\d+)\s*)?", text)
    if not match or min(int(g) for g in match.groups() if g is not None) < 1:
        raise errors.ConfigError(f"--input {text!r} is not HxWxC with positive sizes, e.g. --input 32x32x3")
    h, w, c = match.groups()
    return int(h), int(w), int(c or 1)


def model_list() -> str:
    """One line per registered model: name, natural input HxWxC, description."""
    names = list_models()
    width = max(len(n) for n in names)
    lines = []
    for name in names:
        spec = get_spec(name)
        h, w, c = spec.input_shape
        lines.append(f"{name:<{width}}  {f'{h}x{w}x{c}':>11}  {spec.description}")
    return "\n".join(lines)


def model_table(name: str | None, input_text: str | None = None, num_classes: int | None = None) -> str:
    """The per-layer table of registered model `name` on an `input_text` ('32x32x3') image, default its natural
    size, with `num_classes` outputs (default 1000 for 224x224 models, else 10); mistakes raise a UserError."""
    if not name:
        raise errors.ConfigError("give a model name, or --list to see them: python -m jaxcnn.models resnet18")
    spec = get_spec(name)
    input_shape = parse_input_shape(input_text) if input_text else spec.input_shape
    num_classes = num_classes or (1000 if spec.input_shape[0] >= 224 else 10)
    return format_summary(name, summarize(get_model(name, num_classes=num_classes), input_shape))
