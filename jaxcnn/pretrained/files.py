"""State_dicts on disk: .safetensors read and written with NumPy alone; PyTorch's pickled .pth only where
torch is installed, and then loaded with `weights_only=True`, which unpickles tensors and plain containers
but runs no code a file might carry."""

from __future__ import annotations

import pathlib

import numpy as np

from jaxcnn.pretrained.safetensors_format import WeightsFileError, read_safetensors, write_safetensors

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SUFFIXES = (".safetensors", *TORCH_SUFFIXES)


def read_state_dict(path) -> dict[str, np.ndarray]:
    """{torch name: NumPy array} of a .safetensors or (with torch installed) .pth file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise WeightsFileError(f"weights file {path} does not exist (download it first: see the README's "
                               "'Pretrained networks' section)")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if path.suffix in TORCH_SUFFIXES:
        return _read_torch(path)
    raise WeightsFileError(f"{path}: unknown weights format {path.suffix or '(no suffix)'}; use one of "
                           f"{', '.join(SUFFIXES)}")


def write_state_dict(path, state_dict: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> pathlib.Path:
    """Write a state_dict as .safetensors (no torch needed) or .pth (with torch); never over an existing file."""
    path = pathlib.Path(path)
    if path.exists():
        raise WeightsFileError(f"{path} already exists; jaxcnn does not overwrite files: choose another name")
    if path.suffix == ".safetensors":
        write_safetensors(path, state_dict, metadata)
    elif path.suffix in TORCH_SUFFIXES:
        torch = _torch(path)
        with open(path, "xb") as file:
            torch.save({name: torch.from_numpy(np.array(value, order="C")) for name, value in state_dict.items()}, file)
    else:
        raise WeightsFileError(f"{path}: write weights as .safetensors (or .pth, with torch installed)")
    return path


def _torch(path: pathlib.Path):
    try:
        import torch  # optional: only .pth files need it
    except ImportError:
        raise WeightsFileError(f"{path} is a PyTorch .pth file, which needs torch (pip install torch); or convert it "
                               "to .safetensors once where torch is installed (see the README)") from None
    return torch


def _read_torch(path: pathlib.Path) -> dict[str, np.ndarray]:
    torch = _torch(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises many kinds for a bad or unsafe pickle)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsFileError(f"{path}: not a loadable PyTorch weights file ({reason[:200]})") from None
    for wrapper in ("state_dict", "model"):  # training checkpoints often wrap the state_dict
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsFileError(f"{path}: holds a {type(loaded).__name__}, not a state_dict of tensors")
    return {name: (t.float() if t.is_floating_point() else t).cpu().numpy() for name, t in loaded.items()}
