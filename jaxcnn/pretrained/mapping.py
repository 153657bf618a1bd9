"""torchvision / timm state_dict <-> jaxcnn variables for the ImageNet ResNets and VGGs: names and layouts.

jaxcnn's `resnet18..152` and `vgg11..19(_bn)` have torchvision's layers, so each jaxcnn leaf has exactly one
state_dict entry. The table is derived from the jaxcnn model's own variables (nothing typed by hand):
  - names: ResNet `layer2_0/downsample_conv` <-> `layer2.0.downsample.0` (timm's ResNets use the same
    names); VGG `conv{s}_{c}` / `bn{s}_{c}` <-> `features.<index in torchvision's Sequential>`, `fc1..3` <->
    `classifier.0/3/6`; leaves kernel <-> weight, BatchNorm scale <-> weight, mean / var <-> running_mean /
    running_var (`num_batches_tracked` carries nothing inference needs: dropped on import, 0 on export);
  - layouts: conv kernels OIHW <-> HWIO, Dense kernels (out, in) <-> (in, out), and VGG's first classifier
    layer's rows (C, H, W) <-> (H, W, C), because torchvision flattens channels-first and jaxcnn
    channels-last (the pooled 7x7x512 map, the NCHW / NHWC trap of note 004).
BatchNorm means the same in both (epsilon 1e-5; jaxcnn's momentum 0.9 is PyTorch's 0.1), and both reach
VGG's 7x7 with PyTorch's adaptive average pool, so imported weights give torchvision's logits.
"""

from __future__ import annotations

import re

import jax
import numpy as np

from jaxcnn.models.vgg import VGG_STAGES
from jaxcnn.pretrained.safetensors_format import WeightsFileError

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
VGGS = tuple(f"vgg{depth}{bn}" for bn in ("", "_bn") for depth in (11, 13, 16, 19))
ARCHITECTURES = RESNETS + VGGS
_LEAVES = {("params", "kernel"): "weight", ("params", "scale"): "weight", ("params", "bias"): "bias",
           ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var"}
_RESNET_MODULES = {"downsample_conv": "downsample.0", "downsample_bn": "downsample.1"}
_VGG_POOLED = (7, 7, 512)  # the map VGG's first classifier layer reads: H, W, C


def torch_names(arch: str, variables: dict) -> dict[tuple[str, ...], str]:
    """{(collection, module, ..., leaf) of `variables`: its torchvision state_dict key}."""
    module_name = _resnet_module if arch in RESNETS else _vgg_modules(arch)
    table = {}
    for kind in ("params", "batch_stats"):  # parameters first, as torch lists them
        for path, _ in jax.tree_util.tree_leaves_with_path(variables.get(kind, {})):
            keys = (kind, *(str(getattr(k, "key", k)) for k in path))
            table[keys] = f"{module_name(keys[1:-1])}.{_LEAVES[kind, keys[-1]]}"
    return table


def _resnet_module(modules: tuple[str, ...]) -> str:
    stage = re.fullmatch(r"layer(\d+)_(\d+)", modules[0])
    head = f"layer{stage.group(1)}.{stage.group(2)}" if stage else modules[0]
    return ".".join([head, *(_RESNET_MODULES.get(m, m) for m in modules[1:])])


def _vgg_modules(arch: str):
    """conv{s}_{c} / bn{s}_{c} / fc{i} -> the index of that layer in torchvision's `features` / `classifier`."""
    index, batch_norm = 0, arch.endswith("_bn")
    names = {"fc1": "classifier.0", "fc2": "classifier.3", "fc3": "classifier.6"}
    for s, widths in enumerate(VGG_STAGES[int(arch.removesuffix("_bn")[3:])], start=1):
        for c in range(1, len(widths) + 1):
            names[f"conv{s}_{c}"], index = f"features.{index}", index + 1
            if batch_norm:
                names[f"bn{s}_{c}"], index = f"features.{index}", index + 1
            index += 1  # ReLU
        index += 1  # max-pool
    return lambda modules: names[modules[0]]


def to_jax(keys: tuple[str, ...], value: np.ndarray) -> np.ndarray:
    """A torch tensor's values in the layout of jaxcnn leaf `keys`."""
    if keys[-1] != "kernel":
        return value
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if keys[1] == "fc1" and value.shape[1] == int(np.prod(_VGG_POOLED)):
        h, w, c = _VGG_POOLED
        return value.T.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)  # rows (C,H,W) -> (H,W,C)
    return value.T


def to_torch(keys: tuple[str, ...], value: np.ndarray) -> np.ndarray:
    """A jaxcnn leaf's values in torchvision's layout (the inverse of `to_jax`)."""
    if keys[-1] != "kernel":
        return value
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    if keys[1] == "fc1" and value.shape[0] == int(np.prod(_VGG_POOLED)):
        h, w, c = _VGG_POOLED
        return value.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1).T
    return value.T


def num_classes_of(arch: str, state_dict: dict, where: str) -> int:
    """The class count of a state_dict's classifier (1000 for ImageNet weights)."""
    key = "fc.weight" if arch in RESNETS else "classifier.6.weight"
    if key not in state_dict:
        raise WeightsFileError(f"{where} has no {key}: it does not hold torchvision-layout {arch} weights "
                               f"(its first keys: {', '.join(list(state_dict)[:3])})")
    return int(state_dict[key].shape[0])
