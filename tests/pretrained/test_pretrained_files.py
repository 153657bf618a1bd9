"""Weights files: the NumPy safetensors reader/writer (against the reference package where installed), the
published-hash check (a tampered or mislabelled file is refused in one line), specs and cache locations."""

import hashlib
import pathlib
import shutil

import ml_dtypes
import numpy as np
import pytest

from jaxcnn import errors, pretrained
from jaxcnn.pretrained import checksums

TENSORS = {"conv.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2), "bn.num_batches_tracked": np.array(7),
           "half": np.linspace(-1, 1, 5, dtype=np.float16), "bf16": np.ones((2, 2), ml_dtypes.bfloat16)}


def _same(a: dict, b: dict) -> bool:
    return set(a) == set(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def test_safetensors_round_trip_keeps_names_shapes_dtypes_and_values(tmp_path):
    pretrained.write_safetensors(tmp_path / "w.safetensors", TENSORS, {"arch": "test"})
    assert _same(pretrained.read_safetensors(tmp_path / "w.safetensors"), TENSORS)


def test_files_agree_with_the_reference_safetensors_package(tmp_path):
    numpy_api = pytest.importorskip("safetensors.numpy")
    plain = {k: v for k, v in TENSORS.items() if k != "bf16"}  # the package's NumPy API has no bfloat16
    pretrained.write_safetensors(tmp_path / "ours.safetensors", plain)
    assert _same(numpy_api.load_file(str(tmp_path / "ours.safetensors")), plain)
    numpy_api.save_file(plain, str(tmp_path / "theirs.safetensors"))
    assert _same(pretrained.read_safetensors(tmp_path / "theirs.safetensors"), plain)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_safetensors_file_is_one_line(tmp_path, damage):
    path = tmp_path / "w.safetensors"
    pretrained.write_safetensors(path, TENSORS)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:-5], "garbage": b"\xff" * 64, "empty": b""}[damage])
    with pytest.raises(errors.UserError) as raised:
        pretrained.read_safetensors(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_writing_never_overwrites_a_file(tmp_path):
    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(pretrained.WeightsFileError, match="already exists"):
        pretrained.write_state_dict(path, TENSORS)
    assert path.read_bytes() == b"precious"


def _published(tmp_path, name_stem: str) -> pathlib.Path:
    """A weights file named as torch.hub names downloads: <stem>-<first 8 hex of its SHA-256>.safetensors."""
    draft = tmp_path / "draft.safetensors"
    pretrained.write_safetensors(draft, TENSORS)
    path = tmp_path / f"{name_stem}-{checksums.sha256_of(draft)[:8]}.safetensors"
    draft.rename(path)
    return path


def test_a_file_matching_the_hash_in_its_name_is_verified(tmp_path):
    path = _published(tmp_path, "resnet18")
    assert pretrained.verify(path, "resnet18").startswith(f"sha256 {checksums.sha256_of(path)[:16]}... matches")


def test_a_tampered_file_is_refused_in_one_line(tmp_path):
    path = _published(tmp_path, "resnet18")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(pretrained.WeightsFileError) as raised:
        pretrained.load(f"torchvision:resnet18:{path}")
    message = str(raised.value)
    assert message.startswith(f"{path}: SHA-256 ") and "damaged or not the published one" in message
    assert "\n" not in message and isinstance(raised.value, errors.UserError)


def test_a_known_torchvision_file_with_other_contents_is_refused_with_where_to_download_it(tmp_path):
    path = tmp_path / "resnet18-f37072fd.pth"
    path.write_bytes(b"not the published weights")
    with pytest.raises(pretrained.WeightsFileError) as raised:
        pretrained.verify(path, "resnet18")
    assert str(raised.value).endswith("download it again from "
                                      "https://download.pytorch.org/models/resnet18-f37072fd.pth")


def test_a_known_file_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "vgg16-397923af.pth"
    path.write_bytes(b"x")
    with pytest.raises(pretrained.WeightsFileError, match="holds torchvision's vgg16 weights, not resnet50's; use "
                                                          "resnet50-0676ba61.pth"):
        pretrained.verify(path, "resnet50")


def test_a_hugging_face_cache_blob_is_checked_against_its_full_hash(tmp_path):
    draft = tmp_path / "draft.safetensors"
    pretrained.write_safetensors(draft, TENSORS)
    blobs = tmp_path / "models--timm--resnet18.a1_in1k" / "blobs"
    snapshot = tmp_path / "models--timm--resnet18.a1_in1k" / "snapshots" / "abc123"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    blob = blobs / hashlib.sha256(draft.read_bytes()).hexdigest()
    shutil.copy(draft, blob)
    (snapshot / "model.safetensors").symlink_to(blob)
    assert "Hugging Face" in pretrained.verify(snapshot / "model.safetensors", "resnet18")
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    with pytest.raises(pretrained.WeightsFileError, match="does not match the Hugging Face hub's hash"):
        pretrained.verify(snapshot / "model.safetensors", "resnet18")


def test_a_file_without_a_published_hash_is_used_and_said_to_be_unverified(tmp_path):
    path = tmp_path / "my_resnet.safetensors"
    pretrained.write_safetensors(path, TENSORS)
    assert pretrained.verify(path, "resnet18") == "not verified: its name carries no published SHA-256"


@pytest.mark.parametrize("text, message", [
    ("keras:resnet50:/w", "pretrained weights are given as SOURCE:ARCH[:PATH]"),
    ("torchvision:resnet9:/w", "jaxcnn imports no pretrained 'resnet9'; choose one of: resnet18,"),
    ("timm:vgg16:/w", "jaxcnn imports timm's ResNets"),
])
def test_bad_specs_are_one_line(text, message):
    with pytest.raises(pretrained.WeightsFileError) as raised:
        pretrained.parse_spec(text)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_specs_name_the_file_or_the_publishers_cache(tmp_path, monkeypatch):
    spec = pretrained.parse_spec("timm:resnet50.a1_in1k:/w/model:1.safetensors")
    assert (spec.source, spec.arch, spec.name, spec.path) == ("timm", "resnet50", "resnet50.a1_in1k",
                                                              pathlib.Path("/w/model:1.safetensors"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(pretrained.WeightsFileError) as raised:
        pretrained.cached_path(pretrained.parse_spec("torchvision:resnet18"))
    assert str(raised.value) == (f"torchvision:resnet18: {tmp_path}/torch/hub/checkpoints/resnet18-f37072fd.pth is not "
                                 "there; download https://download.pytorch.org/models/resnet18-f37072fd.pth to it (or "
                                 "give the file: torchvision:ARCH:PATH)")
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert pretrained.cached_path(pretrained.parse_spec("torchvision:resnet18")) == cached
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    model_file = tmp_path / "hf" / "models--timm--resnet34.a1_in1k" / "snapshots" / "r1" / "model.safetensors"
    model_file.parent.mkdir(parents=True)
    model_file.write_bytes(b"")
    assert pretrained.cached_path(pretrained.parse_spec("timm:resnet34.a1_in1k")) == model_file


def test_weights_of_another_architecture_are_refused_naming_the_entries(tmp_path):
    path = tmp_path / "w.safetensors"
    pretrained.write_safetensors(path, {"fc.weight": np.zeros((10, 512), np.float32), "conv1.0.weight": np.zeros(1)})
    with pytest.raises(pretrained.WeightsFileError) as raised:
        pretrained.load(f"timm:resnet18:{path}")
    message = str(raised.value)
    assert message.startswith(f"{path} is not torchvision-layout resnet18 weights (101 missing: bn1.bias, "
                              "bn1.weight, conv1.weight, ...; 1 unexpected: conv1.0.weight)") and "\n" not in message


def test_a_pth_file_without_torch_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as if torch were not installed
    path = tmp_path / "resnet18.pth"
    path.write_bytes(b"")
    with pytest.raises(pretrained.WeightsFileError, match="needs torch .pip install torch.; or convert it to "
                                                          ".safetensors"):
        pretrained.read_state_dict(path)
