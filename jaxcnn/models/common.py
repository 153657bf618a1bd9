"""What every model shares: the `Classifier` base (input checks on the way in, float32 logits on the way out),
its `NormalizedClassifier` form and small layer helpers."""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.layers import BatchNorm, ModuleDef, check_nhwc


class Classifier(nn.Module):
    """A zoo classifier: an NHWC batch in, float32 logits over `num_classes` out, computing in `dtype` (parameters
    stay float32). `__call__` checks and casts the input once (`prepare_input`), runs the subclass's `forward`
    (its one `@nn.compact` method, so parameter names are the subclass's own) and returns float32 logits."""

    num_classes: int = 10
    dtype: Any = jnp.float32

    def __call__(self, x, train: bool = False):
        """Logits of the subclass's `forward(self, x, train)`: the network on a checked batch already in `dtype`."""
        return self.forward(prepare_input(self, x), train).astype(jnp.float32)


class NormalizedClassifier(Classifier):
    """A classifier built with normalisation layers: `norm` builds each one (BatchNorm by default, called with
    `bn_momentum`; the caller's partial carries the rest, e.g. the axis to average statistics over)."""

    bn_momentum: float = 0.9
    norm: ModuleDef = BatchNorm

    def bn(self, train: bool, name: str, **settings) -> nn.Module:
        """Norm layer `name` with `bn_momentum` and any further `settings` (e.g. an epsilon): batch statistics
        in training, running ones at test time."""
        return self.norm(use_running_average=not train, momentum=self.bn_momentum, name=name, **settings)


def prepare_input(module: nn.Module, x):
    """Check `x` is an NHWC batch (one-line error otherwise, e.g. for NCHW) and cast it to `module.dtype`."""
    check_nhwc(x, where=type(module).__name__)
    return jnp.asarray(x, module.dtype)


def dense(module: nn.Module, features: int, name: str, use_bias: bool = True) -> nn.Dense:
    """A Dense layer computing in the model's dtype with float32 parameters."""
    return nn.Dense(features, use_bias=use_bias, dtype=module.dtype, param_dtype=jnp.float32, name=name)


def abstract_variables(model: nn.Module, image_shape) -> dict:
    """The model's variables as shapes only (`jax.eval_shape`, nothing computed), initialised in training
    mode so train-only parts (auxiliary heads) exist; a too-small input raises its one-line ShapeError."""
    key = jax.random.PRNGKey(0)
    images = jax.ShapeDtypeStruct((2, *image_shape), jnp.float32)
    return jax.eval_shape(lambda x: model.init({"params": key, "dropout": key}, x, train=True), images)


def init_variables(module: nn.Module, rngs, *inputs, **options) -> dict:
    """`module.init(rngs, *inputs, **options)` as one compiled program drawing from the legacy threefry stream.

    Run op by op, or with jax's partitionable threefry, XLA:CPU compiles every random tensor's draw on its own
    (seconds each): tiny_vgg took 7.3 s and resnet20 12 s to initialise eagerly, a jitted ResNet-56 90 s; here
    1.3 s and 3.3 s, with the same values as an eager init under the same stream. `options` (``train=True``)
    are static; a second module equal to the first reuses its compiled init."""
    options = tuple(sorted(options.items()))
    try:
        compiled = _compiled_init(module, options)
    except TypeError:  # the cache cannot hash the module or an option: compiled for this call only
        compiled = _init_program(module, options)
    with jax.threefry_partitionable(False):
        return compiled(rngs, *inputs)


def _init_program(module: nn.Module, options: tuple):
    return jax.jit(lambda rngs, *inputs: module.init(rngs, *inputs, **dict(options)))


_compiled_init = functools.lru_cache(maxsize=64)(_init_program)
