"""Is a weights file the one its publisher put out? Checked against the published SHA-256 before use.

Publishers state the hash in two ways, and both are checked:
  - torchvision (and torch.hub) name a file `<name>-<first hex digits of its SHA-256>.<ext>`, e.g.
    resnet18-f37072fd.pth; `torch.hub` refuses a download whose hash does not start so, and so does jaxcnn;
  - the Hugging Face hub (timm's weights) stores a file in its cache as `blobs/<full SHA-256>`, which is the
    LFS hash the hub publishes beside the file; `snapshots/<revision>/model.safetensors` links to it.
A file named neither way has no published hash to check against; it is used, and reported as unverified.
"""

from __future__ import annotations

import hashlib
import pathlib
import re

from jaxcnn.pretrained.safetensors_format import WeightsFileError

TORCHVISION_URL = "https://download.pytorch.org/models/"

# torchvision's ImageNet weights for the architectures jaxcnn imports: file name -> architecture.
# (torchvision.models.<Arch>_Weights.IMAGENET1K_V1 / _V2; the hex in each name starts the file's SHA-256.)
TORCHVISION_FILES = {
    "resnet18-f37072fd.pth": "resnet18", "resnet34-b627a593.pth": "resnet34",
    "resnet50-0676ba61.pth": "resnet50", "resnet50-11ad3fa6.pth": "resnet50",
    "resnet101-63fe2227.pth": "resnet101", "resnet101-cd907fc2.pth": "resnet101",
    "resnet152-394f9c45.pth": "resnet152", "resnet152-f82ba261.pth": "resnet152",
    "vgg11-8a719046.pth": "vgg11", "vgg13-19584684.pth": "vgg13", "vgg16-397923af.pth": "vgg16",
    "vgg19-dcbb9e9d.pth": "vgg19", "vgg11_bn-6002323d.pth": "vgg11_bn", "vgg13_bn-abd245e5.pth": "vgg13_bn",
    "vgg16_bn-6c64b313.pth": "vgg16_bn", "vgg19_bn-c79401a0.pth": "vgg19_bn",
}

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")  # torch.hub's rule: the hex after the first '-', before a '.'
_BLOB_NAME = re.compile(r"[a-f0-9]{64}")


def sha256_of(path) -> str:
    """The hex SHA-256 of a file, read in 16 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while piece := file.read(1 << 24):
            digest.update(piece)
    return digest.hexdigest()


def torchvision_file_for(arch: str) -> str:
    """The file name of torchvision's first ImageNet weights for `arch` (what to download, and its cache name)."""
    return next(name for name, known in TORCHVISION_FILES.items() if known == arch)


def verify(path, arch: str) -> str:
    """How `path` was checked ('sha256 ... matches ...' or 'not verified: ...'); a file that is not what its
    published hash says, or a known file of another architecture, is a one-line WeightsFileError."""
    path = pathlib.Path(path)
    known = TORCHVISION_FILES.get(path.name)
    if known is not None and known != arch:
        wanted = torchvision_file_for(arch) if arch in TORCHVISION_FILES.values() else "the right file"
        raise WeightsFileError(f"{path} holds torchvision's {known} weights, not {arch}'s; use {wanted}")
    resolved = path.resolve()
    if resolved.parent.name == "blobs" and _BLOB_NAME.fullmatch(resolved.name):
        expected, publisher = resolved.name, "the Hugging Face hub's hash (its cache blob name)"
    elif match := _HASH_IN_NAME.search(path.name):
        expected, publisher = match.group(1), "the hash prefix in its name" + (" (torchvision's)" if known else "")
    else:
        return "not verified: its name carries no published SHA-256"
    actual = sha256_of(path)
    if not actual.startswith(expected):
        download = f"; download it again from {TORCHVISION_URL}{path.name}" if known else "; download it again"
        raise WeightsFileError(f"{path}: SHA-256 {actual[:16]}... does not match {publisher}, {expected[:16]}: the "
                               f"file is damaged or not the published one{download}")
    return f"sha256 {actual[:16]}... matches {publisher}"
