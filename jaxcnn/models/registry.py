"""Name -> model constructor registry; each family module registers its models on import."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn import errors


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it, its natural input (H, W, C) and a one-line description."""

    name: str
    build: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]
    description: str
    defaults: dict = dataclasses.field(default_factory=dict)


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, module_cls: type[nn.Module], *, input_shape: tuple[int, int, int], description: str,
             **defaults) -> None:
    """Register `module_cls(**defaults, **user_kwargs)` under `name`."""
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = ModelSpec(name, module_cls, tuple(input_shape), description, dict(defaults))


def list_models() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a registered name; unknown names raise a one-line `ConfigError`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise errors.unknown_name_error("model", name, list_models()) from None


def get_model(name: str, *, num_classes: int, dtype=jnp.float32, **kwargs) -> nn.Module:
    """Build registered model `name` with `num_classes` outputs and computation dtype `dtype`.

    Extra keyword arguments override the model's fields (e.g. `aux_heads=True`, `dropout_rate=0.3`); one the
    model does not have raises `ConfigError` listing those it does. `norm` (a module factory such as
    `functools.partial(layers.BatchNorm, axis_name="batch")`) is accepted for every model: a model without
    normalisation layers has no statistics to share, so it is built without it. Likewise `aux_heads=False`
    for a model that has no auxiliary heads.
    """
    spec = get_spec(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise errors.ConfigError(f"num_classes must be a positive int, got {num_classes!r}")
    fields = {f.name for f in dataclasses.fields(spec.build) if f.init} - {"parent", "name"}
    if "aux_heads" not in fields and not kwargs.get("aux_heads", True):
        kwargs.pop("aux_heads")  # asking for no aux heads is fine for a model that has none
    if "norm" not in fields:
        kwargs.pop("norm", None)  # no normalisation layer: nothing for a norm to build or synchronise
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        options = ", ".join(sorted(fields - {"num_classes", "dtype"}))
        raise errors.ConfigError(f"model {name!r} has no option {', '.join(unknown)}; it accepts: {options}")
    return spec.build(**{**spec.defaults, **kwargs, "num_classes": num_classes, "dtype": dtype})
