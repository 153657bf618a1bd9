"""Image files and arrays brought to a run's shape: decoded by PIL (PNG, JPEG, BMP, GIF, TIFF, WebP, ...),
converted to grayscale or RGB and resized (stretched) to a square size.

One implementation serves every path that changes an image's shape: image folders, TFDS datasets read at
another size or channel count, and `jaxcnn.predict`, so a file is preprocessed exactly as the run's
training images were.
"""

import contextlib
import pathlib

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxcnn import errors

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_MODES = {1: "L", 3: "RGB"}


class ImageFileError(errors.UserError, ValueError):
    """An image file cannot be read (empty, truncated, not an image)."""


def is_image_file(path: pathlib.Path) -> bool:
    return path.is_file() and path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def _shaped(image: Image.Image, size: tuple[int, int], channels: int) -> np.ndarray:
    """uint8 [H, W, channels]: converted (L: ITU-R 601 luma) then resized bilinearly (antialiased when shrinking)."""
    if channels not in _MODES:
        raise errors.ConfigError(f"images can have 1 (grayscale) or 3 (RGB) channels, not {channels}")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")  # transparent pixels show their colour, not a palette index
    image = image.convert(_MODES[channels])
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8).reshape(size[0], size[1], channels)


def reshape_array(image: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """A uint8 [H, W, C] array (C 1 or 3) brought to [size, channels] as `read_image` brings a file."""
    image = np.asarray(image, np.uint8)
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    return _shaped(pil, size, channels)


@contextlib.contextmanager
def _opened(path: pathlib.Path):
    """The PIL image of the file at `path`; a one-line error naming a file that is empty or not an image."""
    try:
        if path.stat().st_size == 0:
            raise ImageFileError(f"{path} is empty (0 bytes); replace or remove it")
        with Image.open(path) as image:
            yield image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        if isinstance(err, errors.UserError):
            raise
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageFileError(f"{path} cannot be read as an image ({reason}); replace or remove it") from None


def read_image(path, size: tuple[int, int], channels: int) -> np.ndarray:
    """The file at `path` as uint8 [size[0], size[1], channels]; a one-line error naming an unreadable file."""
    with _opened(pathlib.Path(path)) as image:
        image.load()  # decoding errors surface here, inside _opened
        return _shaped(image, size, channels)


def probe(path) -> tuple[tuple[int, int], int]:
    """((height, width), channels: 1 for grayscale, else 3) from the file's header, without decoding it."""
    with _opened(pathlib.Path(path)) as image:
        return (image.height, image.width), 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3


def find_images(paths) -> list[pathlib.Path]:
    """The image files among `paths`, folders searched recursively (sorted); a one-line error for a path that
    does not exist or a folder without images."""
    found = []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if is_image_file(p))
            if not inside:
                raise ImageFileError(f"{path} holds no image files ({', '.join(EXTENSIONS)})")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ImageFileError(f"{path} does not exist")
    return found
