"""Name -> model constructor registry; each family module registers its models on import.

A user's own model needs no registration: `--model=package.module:Name` names a Flax module class (or a
function returning one) in any importable module; it is built with `num_classes` (and `dtype`, `norm`,
`aux_heads` where it has such fields or parameters), like a registered model.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
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


def _import_model(name: str) -> ModelSpec:
    """The ModelSpec of 'package.module:Name' (a Module class or a function returning a Module)."""
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may fail in any way while it loads
        raise errors.ConfigError(f"--model={name}: cannot import {module_name!r} ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0] if str(err) else ''}); is it on PYTHONPATH?") from None
    build = module
    for part in attribute.split("."):
        build = getattr(build, part, None)
    if not (isinstance(build, type) and issubclass(build, nn.Module)) and not inspect.isfunction(build):
        raise errors.ConfigError(f"--model={name}: {module_name} has no Flax module class or function {attribute!r}")
    doc = (inspect.getdoc(build) or f"{attribute} from {module_name}").splitlines()[0]
    return ModelSpec(name, build, tuple(getattr(build, "input_shape", (0, 0, 0))), doc)


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a registered name or of 'package.module:Name'; unknown names raise a one-line
    `ConfigError`."""
    if ":" in name:
        return _import_model(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise errors.unknown_name_error("model", name, list_models()) from None


def _options(build) -> set[str]:
    """The keyword arguments `build` (a Module class or a function) takes."""
    if isinstance(build, type):
        return {f.name for f in dataclasses.fields(build) if f.init} - {"parent", "name"}
    return {p.name for p in inspect.signature(build).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


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
    fields = _options(spec.build)
    if "aux_heads" not in fields and not kwargs.get("aux_heads", True):
        kwargs.pop("aux_heads")  # asking for no aux heads is fine for a model that has none
    if "norm" not in fields:
        kwargs.pop("norm", None)  # no normalisation layer: nothing for a norm to build or synchronise
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        options = ", ".join(sorted(fields - {"num_classes", "dtype"}))
        raise errors.ConfigError(f"model {name!r} has no option {', '.join(unknown)}; it accepts: {options}")
    if "num_classes" not in fields:
        raise errors.ConfigError(f"model {name!r} takes no num_classes; give it a num_classes field or parameter")
    if "dtype" in fields:
        kwargs["dtype"] = dtype
    model = spec.build(**{**spec.defaults, **kwargs, "num_classes": num_classes})
    if not isinstance(model, nn.Module):
        raise errors.ConfigError(f"model {name!r} returned a {type(model).__name__}, not a Flax module")
    return model
