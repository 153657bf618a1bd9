"""Real image folders for tests: a learnable problem written as PNG and JPEG files."""

import pathlib

import numpy as np
from PIL import Image

# Each class is a bright square in its own corner of a dark picture: learnable in a few steps.
CORNERS = {"bottom_left": (1, 0), "top_left": (0, 0), "top_right": (0, 1)}


def picture(corner: tuple[int, int], size: int, rng, channels: int = 3) -> np.ndarray:
    image = rng.integers(0, 60, (size, size, channels), dtype=np.uint8)
    half = size // 2
    rows, cols = slice(corner[0] * half, corner[0] * half + half), slice(corner[1] * half, corner[1] * half + half)
    image[rows, cols] = rng.integers(200, 256, (half, half, channels), dtype=np.uint8)
    return image


def write_folder(root: pathlib.Path, per_class: int, *, splits=("train", "test"), size: int = 16, seed: int = 0,
                 channels: int = 3, sizes=None) -> pathlib.Path:
    """root/<split>/<class>/<i>.png|jpg (or root/<class>/... with splits=()), alternating PNG and JPEG; `sizes`
    cycles image sizes (resizing tests)."""
    rng = np.random.default_rng(seed)
    for split in splits or ("",):
        for name, corner in CORNERS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                side = sizes[i % len(sizes)] if sizes else size
                array = picture(corner, side, rng, channels)
                Image.fromarray(array[..., 0] if channels == 1 else array).save(
                    folder / f"{i}.{'png' if i % 2 == 0 else 'jpg'}", quality=95)
    return root
