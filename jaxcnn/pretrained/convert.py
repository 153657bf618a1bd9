"""A torchvision-layout state_dict into jaxcnn variables and back, every name and shape checked."""

from __future__ import annotations

import jax
import numpy as np

from jaxcnn import models
from jaxcnn.pretrained.mapping import ARCHITECTURES, num_classes_of, to_jax, to_torch, torch_names
from jaxcnn.pretrained.safetensors_format import WeightsFileError

IGNORED_SUFFIX = ".num_batches_tracked"  # PyTorch's BatchNorm step counter: nothing inference needs


def check_architecture(arch: str) -> None:
    if arch not in ARCHITECTURES:
        raise WeightsFileError(f"jaxcnn imports no pretrained {arch!r}; choose one of: {', '.join(ARCHITECTURES)}")


def expected_variables(arch: str, num_classes: int) -> dict:
    """Shapes of the jaxcnn model's variables (nothing computed): what an import must fill, leaf by leaf."""
    model = models.get_model(arch, num_classes=num_classes)
    return models.abstract_variables(model, models.get_spec(arch).input_shape)


def import_state_dict(arch: str, state_dict: dict, where: str = "the state_dict") -> dict:
    """jaxcnn variables {'params', 'batch_stats'} (float32 NumPy) of `arch` from a torchvision- (or timm-)
    layout state_dict; a missing, extra or wrongly shaped entry is a one-line WeightsFileError naming it."""
    check_architecture(arch)
    expected = expected_variables(arch, num_classes_of(arch, state_dict, where))
    table = torch_names(arch, expected)
    missing = [name for name in table.values() if name not in state_dict]
    extra = [name for name in state_dict if name not in set(table.values()) and not name.endswith(IGNORED_SUFFIX)]
    if missing or extra:
        listed = "; ".join(f"{len(names)} {kind}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"
                           for kind, names in (("missing", missing), ("unexpected", extra)) if names)
        raise WeightsFileError(f"{where} is not torchvision-layout {arch} weights ({listed}); check the architecture "
                               "in the spec (a timm variant such as resnet50d has other layers)")
    leaves = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(expected):
        keys = tuple(str(getattr(k, "key", k)) for k in path)
        value = to_jax(keys, np.asarray(state_dict[table[keys]], np.float32))
        if value.shape != leaf.shape:
            raise WeightsFileError(f"{where}: {table[keys]} has shape {np.shape(state_dict[table[keys]])}, but {arch} "
                                   f"needs {to_torch(keys, np.zeros(leaf.shape, np.int8)).shape}")
        leaves[keys] = value
    return {"params": {}, "batch_stats": {}, **_nested(leaves)}  # VGG without BatchNorm has no statistics


def export_state_dict(arch: str, variables: dict) -> dict[str, np.ndarray]:
    """A torchvision-loadable state_dict (NumPy, torchvision's names and layouts, float32) of `arch`'s jaxcnn
    variables with any class count: `model.load_state_dict({k: torch.from_numpy(v) ...})` takes it."""
    check_architecture(arch)
    variables = {kind: variables.get(kind, {}) for kind in ("params", "batch_stats")}
    num_classes = int(np.shape(variables["params"]["fc" if arch.startswith("resnet") else "fc3"]["kernel"])[-1])
    expected = {kind: expected_variables(arch, num_classes).get(kind, {}) for kind in ("params", "batch_stats")}
    if jax.tree.map(np.shape, expected) != jax.tree.map(np.shape, variables):
        raise WeightsFileError(f"these variables are not those of jaxcnn's {arch} (different layers or shapes)")
    state_dict = {}
    for keys, name in torch_names(arch, variables).items():
        leaf = variables
        for key in keys:
            leaf = leaf[key]
        state_dict[name] = np.ascontiguousarray(to_torch(keys, np.asarray(leaf, np.float32)))
        if name.endswith(".running_var"):
            state_dict[name.removesuffix(".running_var") + IGNORED_SUFFIX] = np.zeros((), np.int64)
    return state_dict


def _nested(leaves: dict[tuple[str, ...], np.ndarray]) -> dict:
    tree = {}
    for keys, value in leaves.items():
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return tree
