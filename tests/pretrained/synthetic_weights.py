"""Bit-reproducible stand-ins for torchvision weight files, so the committed fixtures stay a few kilobytes.

A real resnet18 file is 47 MB and a VGG's over 500 MB: too big to commit. What the tests need from one is
torchvision's *names and shapes* (the skeleton, recorded from torchvision by make_fixtures.py) and values
that exercise every entry. The values here come from PCG64's raw 64-bit stream (stable across NumPy
versions, unlike its distributions), seeded by each tensor's name, turned into float32 with exact
operations only, so every machine regenerates the very bytes torch was given: the fixture stores their
SHA-256, checked first, and the logits torchvision computed from them.
"""

from __future__ import annotations

import hashlib

import numpy as np

INPUT_SEED = 12


def uniform(seed_text: str, shape, low: float, high: float) -> np.ndarray:
    """float32 values in [low, high) from PCG64 seeded by `seed_text`: the same bits everywhere."""
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little")
    count = int(np.prod(shape, dtype=np.int64))
    raw = np.random.PCG64(seed).random_raw(-(-count // 2)).astype("<u8").view("<u4")[:count]  # two values a draw
    values = (raw >> np.uint32(8)).astype(np.float32)  # 24 random bits: exact in float32
    values *= np.float32((high - low) * 2.0 ** -24)
    values += np.float32(low)
    return values.reshape(shape)


def tensor_for(name: str, shape: list[int], dtype: str) -> np.ndarray:
    """Values for a state_dict entry, scaled as a trained net's roughly are (so logits stay finite, not flat)."""
    if dtype == "int64":  # num_batches_tracked
        return np.zeros(shape, np.int64)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        return uniform(name, shape, 0.5, 1.5)
    if leaf == "running_mean":
        return uniform(name, shape, -0.3, 0.3)
    if leaf == "weight" and len(shape) == 1:  # BatchNorm scale: smaller inside residual blocks, so 50 blocks
        return uniform(name, shape, *((0.2, 0.5) if name.startswith("layer") else (0.5, 1.2)))  # add up tamely
    if leaf == "bias":
        return uniform(name, shape, -0.1, 0.1)
    bound = float(np.sqrt(6.0 / np.prod(shape[1:])))  # He-uniform: activations keep their scale with depth
    return uniform(name, shape, -bound, bound)


def state_dict(skeleton: dict[str, list]) -> dict[str, np.ndarray]:
    """{name: array} for a skeleton {name: [shape, dtype]} (torchvision's order)."""
    return {name: tensor_for(name, shape, dtype) for name, (shape, dtype) in skeleton.items()}


def digest(tensors: dict[str, np.ndarray]) -> str:
    """SHA-256 over the names, shapes and bytes, in order: proof that the very values torch saw came back."""
    hasher = hashlib.sha256()
    for name, value in tensors.items():
        hasher.update(f"{name}{value.shape}{value.dtype}".encode())
        hasher.update(np.ascontiguousarray(value).tobytes())
    return hasher.hexdigest()


def images_nchw(size: int, batch: int = 2) -> np.ndarray:
    """A fixed input batch in torch's layout (N, 3, size, size), values in [-2, 2) like normalised images."""
    return uniform(f"input{INPUT_SEED}:{size}", (batch, 3, size, size), -2.0, 2.0)
