"""Where pretrained weights come from: a spec `SOURCE:ARCH[:PATH]` (e.g. torchvision:resnet50:/w/resnet50.pth),
the publisher's cache when PATH is left out, the file's published hash checked, its variables imported.

    torchvision:resnet18                      $TORCH_HOME/hub/checkpoints/resnet18-f37072fd.pth (torchvision's
                                              cache, default ~/.cache/torch), as `torchvision.models` saves it
    torchvision:vgg16_bn:PATH                 a .pth or .safetensors file in torchvision's layout
    timm:resnet50.a1_in1k                     the Hugging Face hub cache ($HF_HUB_CACHE, default
                                              ~/.cache/huggingface/hub): models--timm--resnet50.a1_in1k/snapshots/*/
    timm:resnet50:PATH                        model.safetensors (or pytorch_model.bin), as timm downloads it
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from jaxcnn.pretrained import checksums
from jaxcnn.pretrained.convert import check_architecture, import_state_dict
from jaxcnn.pretrained.files import read_state_dict
from jaxcnn.pretrained.mapping import RESNETS
from jaxcnn.pretrained.safetensors_format import WeightsFileError

SOURCES = ("torchvision", "timm")
TIMM_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclasses.dataclass(frozen=True)
class WeightsSpec:
    """A parsed `SOURCE:ARCH[:PATH]`: the publisher, jaxcnn's model name, its file (None: the cache's)."""

    source: str
    arch: str  # the jaxcnn (= torchvision) model name, e.g. resnet50
    name: str  # the publisher's name, e.g. resnet50.a1_in1k for timm
    path: pathlib.Path | None

    def __str__(self) -> str:
        return f"{self.source}:{self.name}" + (f":{self.path}" if self.path else "")


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Imported weights: jaxcnn variables of `spec.arch`, the file they came from and how it was checked."""

    spec: WeightsSpec
    path: pathlib.Path
    check: str
    params: dict
    batch_stats: dict

    @property
    def variables(self) -> dict:
        return {"params": self.params, "batch_stats": self.batch_stats}


def is_spec(text: str | None) -> bool:
    """True when `text` names pretrained weights (SOURCE:...) rather than a directory."""
    return bool(text) and text.split(":", 1)[0] in SOURCES


def parse_spec(text: str) -> WeightsSpec:
    """`SOURCE:ARCH[:PATH]` -> WeightsSpec; a one-line error for an unknown source or architecture."""
    source, _, rest = text.partition(":")
    name, _, path = rest.partition(":")
    if source not in SOURCES or not name:
        raise WeightsFileError(f"pretrained weights are given as SOURCE:ARCH[:PATH] with SOURCE one of "
                               f"{', '.join(SOURCES)}, e.g. torchvision:resnet18:resnet18-f37072fd.pth; got {text!r}")
    arch = name.split(".", 1)[0] if source == "timm" else name
    check_architecture(arch)
    if source == "timm" and arch not in RESNETS:
        raise WeightsFileError(f"jaxcnn imports timm's ResNets ({', '.join(RESNETS)}), not {name!r}")
    return WeightsSpec(source, arch, name, pathlib.Path(path).expanduser() if path else None)


def cached_path(spec: WeightsSpec) -> pathlib.Path:
    """The file a spec without PATH means: where torchvision / timm keep what they download."""
    if spec.source == "torchvision":
        torch_home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
        file_name = checksums.torchvision_file_for(spec.arch)
        path = pathlib.Path(torch_home).expanduser() / "hub" / "checkpoints" / file_name
        if not path.is_file():
            raise WeightsFileError(f"{spec}: {path} is not there; download {checksums.TORCHVISION_URL}{file_name} to "
                                   "it (or give the file: torchvision:ARCH:PATH)")
        return path
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub")
    snapshots = pathlib.Path(hub).expanduser() / f"models--timm--{spec.name}" / "snapshots"
    found = sorted(p for p in snapshots.glob("*/*") if p.name in TIMM_FILES)
    if not found:
        raise WeightsFileError(f"{spec}: no {' or '.join(TIMM_FILES)} under {snapshots}; download it with "
                               f"timm.create_model('{spec.name}', pretrained=True) (or give the file: timm:ARCH:PATH)")
    return found[0]


def load(text: str) -> PretrainedWeights:
    """Read, check (published hash) and import the weights `text` (SOURCE:ARCH[:PATH]) names."""
    spec = parse_spec(text)
    path = spec.path or cached_path(spec)
    check = checksums.verify(path, spec.arch)
    variables = import_state_dict(spec.arch, read_state_dict(path), where=str(path))
    return PretrainedWeights(spec, path, check, variables["params"], variables["batch_stats"])


def load_variables(text: str) -> tuple[str, dict]:
    """(jaxcnn model name, variables {'params', 'batch_stats'}) of the pretrained weights `text` names:

        name, variables = load_variables("torchvision:vgg19:vgg19-dcbb9e9d.pth")
        model = jaxcnn.models.get_model(name, num_classes=1000)
        logits = model.apply(variables, images)   # NHWC, ImageNet-normalised
    """
    weights = load(text)
    return weights.spec.arch, weights.variables
