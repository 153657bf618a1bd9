"""The feature maps of a jaxcnn VGG (vgg11..19, vgg16_bn, vgg*_cifar: layers conv{stage}_{i} [+ bn{stage}_{i}])
or tiny_vgg (block{i}) at any input size, from its variables alone: the convolution stages are replayed layer by
layer (conv, BatchNorm with running statistics, ReLU, 2x2 max-pool) and the classifier is never run, so an image
need not have the size the network was trained on. tests/style checks the maps equal the model's own
intermediates (flax `capture_intermediates`).

Layer names are the post-ReLU maps: `relu{stage}_{i}` for VGG (Gatys et al.'s names) and `block{i}` for tiny_vgg.
"""

import dataclasses
import re

import jax
import jax.numpy as jnp

from jaxcnn import conv_ops, errors
from jaxcnn.layers import max_pool

BN_EPSILON = 1e-5  # jaxcnn.layers.BatchNorm's


@dataclasses.dataclass(frozen=True)
class FeatureLayer:
    name: str
    path: tuple[str, ...]  # where its kernel (and bias) live in params
    bn_path: tuple[str, ...] | None  # where its BatchNorm's scale/bias (params) and mean/var (batch_stats) live
    pool_after: bool


# Gatys et al.'s choice for VGG; a shallower one for tiny_vgg's three stages.
DEFAULT_LAYERS = {
    "vgg": {"content": ("relu4_2",), "style": ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")},
    "tiny_vgg": {"content": ("block2",), "style": ("block1", "block2", "block3")},
}


def family(params: dict) -> str:
    """'vgg' or 'tiny_vgg' from the parameter names; a one-line error for another network."""
    if "conv1_1" in params:
        return "vgg"
    if "block1" in params and "conv" in params["block1"]:
        return "tiny_vgg"
    raise errors.ConfigError("style transfer reads the feature maps of a VGG-family network (vgg11..vgg19, vgg16_bn, "
                             f"vgg11_cifar, vgg16_cifar, tiny_vgg); these variables have layers {sorted(params)[:6]}")


def feature_layers(params: dict) -> list[FeatureLayer]:
    """The convolution layers in order, with where a max-pool follows."""
    if family(params) == "tiny_vgg":
        blocks = sorted((int(m.group(1)) for k in params if (m := re.fullmatch(r"block(\d+)", k))))
        return [FeatureLayer(f"block{i}", (f"block{i}", "conv"), (f"block{i}", "bn"), True) for i in blocks]
    convs = sorted((int(m.group(1)), int(m.group(2))) for k in params if (m := re.fullmatch(r"conv(\d+)_(\d+)", k)))
    last = {stage: max(i for s, i in convs if s == stage) for stage, _ in convs}
    return [FeatureLayer(f"relu{s}_{i}", (f"conv{s}_{i}",), (f"bn{s}_{i}",) if f"bn{s}_{i}" in params else None,
                         i == last[s]) for s, i in convs]


def _at(tree: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        tree = tree[key]
    return tree


def feature_maps(variables: dict, images, names) -> dict:
    """{name: post-ReLU map [B, h, w, C]} of the layers `names` for normalised NHWC `images`."""
    params, stats = variables["params"], variables.get("batch_stats", {})
    layers = feature_layers(params)
    unknown = sorted(set(names) - {layer.name for layer in layers})
    if unknown:
        raise errors.ConfigError(f"no layer {', '.join(unknown)} in this network; it has {', '.join(l.name for l in layers)}")
    wanted, out, x = set(names), {}, images
    for layer in layers:
        conv = _at(params, layer.path)
        x = conv_ops.conv2d(x, conv["kernel"])
        x = x + conv["bias"] if "bias" in conv else x
        if layer.bn_path is not None:
            bn, running = _at(params, layer.bn_path), _at(stats, layer.bn_path)
            x = (x - running["mean"]) * jax.lax.rsqrt(running["var"] + BN_EPSILON) * bn["scale"] + bn["bias"]
        x = jax.nn.relu(x)
        if layer.name in wanted:
            out[layer.name] = x
            if len(out) == len(wanted):
                break
        if layer.pool_after:
            x = max_pool(x, 2)
    return out


def input_channels(variables: dict) -> int:
    """The channel count the network's first convolution reads (1: grayscale, 3: RGB)."""
    first = feature_layers(variables["params"])[0]
    return int(jnp.shape(_at(variables["params"], first.path)["kernel"])[2])
