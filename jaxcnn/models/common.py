"""Helpers every model shares: input checks on the way in, float32 logits on the way out."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.layers import BatchNorm, ModuleDef, check_nhwc


class NormalizedClassifier(nn.Module):
    """The fields of a classifier built from normalisation layers: `norm` builds each one (BatchNorm by default,
    called with `bn_momentum`; the caller's partial carries the rest, e.g. a pmap axis), `aux_heads` adds
    auxiliary classifiers, `dtype` is the computation dtype."""

    num_classes: int = 10
    aux_heads: bool = False
    bn_momentum: float = 0.9
    norm: ModuleDef = BatchNorm
    dtype: Any = jnp.float32


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
