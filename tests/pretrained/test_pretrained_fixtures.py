"""The torchvision -> jaxcnn mapping checked without torch: committed fixtures made by torchvision (every
architecture's state_dict names and shapes, and its eval-mode logits) against jaxcnn's import of the same
weights. See synthetic_weights.py for why the weight values are regenerated rather than committed."""

import json
import pathlib

import jax
import numpy as np
import pytest

from jaxcnn import models, pretrained
from jaxcnn.pretrained import mapping

import synthetic_weights

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pretrained"
ENTRIES = json.loads((FIXTURES / "torchvision_skeletons.json").read_text())


def relative_error(ours, reference) -> float:
    return float(np.max(np.abs(np.asarray(ours) - reference)) / np.max(np.abs(reference)))


def jaxcnn_logits(arch: str, variables: dict, images_nchw: np.ndarray) -> np.ndarray:
    model = models.get_model(arch, num_classes=1000)
    return np.asarray(jax.jit(lambda v, x: model.apply(v, x))(variables, images_nchw.transpose(0, 2, 3, 1)))


def check_against_torchvision(arch: str, tmp_path=None, export: bool = True) -> None:
    """Import (through a .safetensors file when `tmp_path` is given), compare logits, export back."""
    entry = ENTRIES[arch]
    tensors = synthetic_weights.state_dict(entry["skeleton"])
    if tmp_path is None:
        variables = pretrained.import_state_dict(arch, tensors)
    else:
        path = pretrained.write_state_dict(tmp_path / f"{arch}.safetensors", tensors)
        name, variables = pretrained.load_variables(f"torchvision:{arch}:{path}")
        assert name == arch
    reference = np.load(FIXTURES / "torchvision_logits.npz")[arch]
    logits = jaxcnn_logits(arch, variables, synthetic_weights.images_nchw(entry["input_size"]))
    if relative_error(logits, reference) > 1e-4:  # tell a changed weight generator from a mapping error
        assert synthetic_weights.digest(tensors) == entry["sha256"], "the weights differ from those torchvision saw"
    assert relative_error(logits, reference) <= 1e-4
    assert np.abs(reference).max() > 0.5 and reference.std() > 0.05  # not a flat output that anything would match
    if export:  # and back: torchvision's very tensors, names and layouts
        exported = pretrained.export_state_dict(arch, variables)
        assert set(exported) == set(tensors)
        for name, value in tensors.items():
            assert exported[name].dtype == value.dtype and np.array_equal(exported[name], value), name


def test_resnet18_from_a_safetensors_file_gives_torchvisions_logits_and_exports_back(tmp_path):
    check_against_torchvision("resnet18", tmp_path)


def test_vgg11_bn_gives_torchvisions_logits():
    """VGG's trap: fc1's rows, (C, H, W) in torchvision and (H, W, C) here; the 64x64 input leaves a 2x2 map
    that the adaptive pool spreads over 7x7, so a wrong order changes the logits."""
    check_against_torchvision("vgg11_bn", export=False)


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(set(ENTRIES) - {"resnet18"}))
def test_every_architecture_gives_torchvisions_logits_and_exports_back(arch, tmp_path):
    check_against_torchvision(arch, tmp_path)


def test_the_fixtures_cover_every_importable_architecture():
    assert set(ENTRIES) == set(pretrained.ARCHITECTURES)


def test_vgg_fc1_rows_follow_each_frameworks_flatten_order():
    """torchvision's fc1 applied to its (C, H, W) flattening equals jaxcnn's applied to (H, W, C); export inverts."""
    rng = np.random.default_rng(0)
    torch_weight = rng.normal(size=(3, 512 * 7 * 7)).astype(np.float32)  # (out, in), any out
    feature_map = rng.normal(size=(7, 7, 512)).astype(np.float32)  # H, W, C
    jax_kernel = mapping.to_jax(("params", "fc1", "kernel"), torch_weight)
    np.testing.assert_allclose(feature_map.reshape(-1) @ jax_kernel,
                               torch_weight @ feature_map.transpose(2, 0, 1).reshape(-1), rtol=1e-4, atol=1e-4)
    assert np.array_equal(mapping.to_torch(("params", "fc1", "kernel"), jax_kernel), torch_weight)


def test_a_fine_tuned_head_exports_with_its_own_class_count():
    variables = pretrained.import_state_dict("resnet18", synthetic_weights.state_dict(ENTRIES["resnet18"]["skeleton"]))
    variables["params"]["fc"] = {"kernel": np.ones((512, 10), np.float32), "bias": np.arange(10, dtype=np.float32)}
    exported = pretrained.export_state_dict("resnet18", variables)
    assert exported["fc.weight"].shape == (10, 512) and np.array_equal(exported["fc.bias"], np.arange(10))
