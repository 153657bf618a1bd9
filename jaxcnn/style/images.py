"""Pictures in and out of style transfer: PNG/JPEG files as float32 [H, W, 3] in [0, 1], resized to a longest
side; luminance and colour (YIQ) for networks that see one channel (Gatys et al. 2016's luminance-only transfer:
the style moves the luminance, the content keeps its colours)."""

import pathlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxcnn import errors

# RGB -> YIQ (NTSC): Y is the luminance, I and Q the colour.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)


def read_image(path, longest_side: int) -> np.ndarray:
    """float32 [H, W, 3] in [0, 1], resized (Lanczos) so that its longest side is `longest_side`."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            scale = longest_side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            return np.asarray(image.resize(size, Image.LANCZOS), np.float32) / 255.0
    except (OSError, UnidentifiedImageError) as err:
        raise errors.ConfigError(f"cannot read the image {path} ({err})") from None


def write_png(path, image: np.ndarray) -> pathlib.Path:
    """Write [H, W, 3] or [H, W, 1] in [0, 1] as an 8-bit PNG."""
    pixels = np.clip(np.round(np.asarray(image) * 255), 0, 255).astype(np.uint8)
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(path)
    return pathlib.Path(path)


def to_yiq(rgb: np.ndarray) -> np.ndarray:
    return rgb @ _YIQ.T


def from_yiq(yiq: np.ndarray) -> np.ndarray:
    return np.clip(yiq @ np.linalg.inv(_YIQ).T, 0.0, 1.0)


def with_luminance(luminance: np.ndarray, colour_of: np.ndarray) -> np.ndarray:
    """An RGB image with `luminance` [H, W, 1] and the colour (I, Q) of `colour_of` [H, W, 3]."""
    yiq = to_yiq(colour_of)
    return from_yiq(np.concatenate([luminance, yiq[..., 1:]], axis=-1))
