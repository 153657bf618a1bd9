"""Deterministic image transforms on one HWC image: the geometry and colour arithmetic behind `augment`.

Each function takes its parameters explicitly (an angle, an offset, a factor), so a test can check the
arithmetic against NumPy and `augment` can draw the parameters per example from a key. Geometric
warps are one bilinear resampling of the input at transformed coordinates (rotation, shear, scale,
translation, resized crop and elastic displacement compose into one pass, blurring the image once).
Coordinates are (row, column) about the image centre; a positive angle turns the picture
counter-clockwise, as `np.rot90` does.
"""

import jax
import jax.numpy as jnp
import numpy as np

# RGB -> YIQ (NTSC): hue is the angle of (I, Q); luma Y is what saturation keeps. NumPy, so that importing
# this module starts no JAX backend (the config validates --augment before multi-host start-up).
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
_LUMA = _RGB_TO_YIQ[0]


# ----- exact (pixel-copying) ops: keep the dtype -----

def mirror_left_right(image: jax.Array) -> jax.Array:
    return image[:, ::-1, :]


def mirror_up_down(image: jax.Array) -> jax.Array:
    return image[::-1, :, :]


def pad_and_crop(image: jax.Array, padding: int, offset: jax.Array, mode: str = "zero") -> jax.Array:
    """Pad by `padding` on each side (zeros or reflection), then take the HxW window at offset (row, col)
    in [0, 2*padding]; offset (padding, padding) returns the image unchanged."""
    height, width, channels = image.shape
    pad = ((padding, padding), (padding, padding), (0, 0))
    padded = jnp.pad(image, pad, mode="reflect") if mode == "reflect" else jnp.pad(image, pad)
    return jax.lax.dynamic_slice(padded, (offset[0], offset[1], 0), (height, width, channels))


def box_mask(shape: tuple[int, int], top, left, box_height, box_width) -> jax.Array:
    """Bool [H, W], True inside the rectangle rows [top, top+h) x cols [left, left+w) (clipped to the image)."""
    rows = jnp.arange(shape[0])[:, None]
    cols = jnp.arange(shape[1])[None, :]
    return (rows >= top) & (rows < top + box_height) & (cols >= left) & (cols < left + box_width)


def erase(image: jax.Array, mask: jax.Array, fill) -> jax.Array:
    """Replace the pixels where mask [H, W] is True by `fill` (a scalar or a broadcastable array)."""
    return jnp.where(mask[:, :, None], jnp.asarray(fill, image.dtype), image)


# ----- geometric warps: float in, float out -----

def affine_matrix(rotate_degrees=0.0, shear_degrees=0.0, scale=1.0) -> jax.Array:
    """2x2 map from output coordinates to input coordinates (about the centre) for a picture turned
    counter-clockwise by `rotate_degrees`, sheared along x by `shear_degrees` and magnified by `scale`."""
    theta = jnp.deg2rad(rotate_degrees)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    rotation = jnp.array([[cos, sin], [-sin, cos]])
    shear = jnp.array([[1.0, 0.0], [jnp.tan(jnp.deg2rad(shear_degrees)), 1.0]])
    return rotation @ shear / scale


def warp(image: jax.Array, matrix: jax.Array, *, in_centre=None, shift=(0.0, 0.0), displacement=None,
         fill_mode: str = "constant") -> jax.Array:
    """Resample a float HWC image bilinearly: output pixel p reads input at
    in_centre + matrix @ (p - out_centre - shift) + displacement[:, p]. Outside pixels are 0 ("constant")
    or mirrored ("reflect")."""
    height, width, _ = image.shape
    out_centre = jnp.array([(height - 1) / 2, (width - 1) / 2])
    in_centre = out_centre if in_centre is None else jnp.asarray(in_centre, jnp.float32)
    rows, cols = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij")
    grid = jnp.stack([rows, cols]) - (out_centre + jnp.asarray(shift, jnp.float32))[:, None, None]
    coords = jnp.einsum("ij,jhw->ihw", matrix, grid) + in_centre[:, None, None]
    if displacement is not None:
        coords = coords + displacement
    mode = "mirror" if fill_mode == "reflect" else "constant"
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(channel, list(coords), order=1, mode=mode, cval=0.0)
    return jax.vmap(sample, in_axes=2, out_axes=2)(image)


def rotate(image: jax.Array, degrees, fill_mode: str = "constant") -> jax.Array:
    """Turn a float HWC image counter-clockwise about its centre (90 degrees on a square image == rot90)."""
    return warp(image, affine_matrix(rotate_degrees=degrees), fill_mode=fill_mode)


def translate(image: jax.Array, shift, fill_mode: str = "constant") -> jax.Array:
    """Move the picture by shift = (down, right) pixels; uncovered pixels are filled."""
    return warp(image, jnp.eye(2), shift=shift, fill_mode=fill_mode)


def resized_crop_transform(image_shape, top, left, crop_height, crop_width):
    """(matrix, in_centre) for `warp` that stretches the crop [top, top+h) x [left, left+w) to the full image."""
    height, width = image_shape[:2]
    matrix = jnp.diag(jnp.array([crop_height / height, crop_width / width]))
    in_centre = jnp.array([top + crop_height / 2 - 0.5, left + crop_width / 2 - 0.5])
    return matrix, in_centre


def smooth_displacement(key: jax.Array, shape: tuple[int, int], magnitude, grid: int = 4) -> jax.Array:
    """A smooth random displacement field [2, H, W] (local / elastic warping): independent uniform
    offsets in [-magnitude, magnitude] pixels on a grid x grid lattice, bicubically interpolated (and
    clipped, since cubic interpolation can overshoot the lattice values slightly)."""
    coarse = jax.random.uniform(key, (2, grid, grid), minval=-1.0, maxval=1.0) * magnitude
    return jnp.clip(jax.image.resize(coarse, (2, *shape), method="cubic"), -magnitude, magnitude)


# ----- colour: float in, float out, on a scale where white is `max_value` -----

def grayscale(image: jax.Array) -> jax.Array:
    """Luma [H, W, 1] of an RGB image (the image itself when it has one channel)."""
    if image.shape[-1] == 1:
        return image
    return jnp.tensordot(image, _LUMA, axes=([2], [0]))[..., None]


def adjust_brightness(image: jax.Array, delta, max_value) -> jax.Array:
    """Add delta * max_value to every pixel and channel."""
    return image + delta * max_value


def adjust_contrast(image: jax.Array, factor) -> jax.Array:
    """Scale each pixel's distance from the image's mean luma by `factor`."""
    mean = jnp.mean(grayscale(image))
    return mean + (image - mean) * factor


def adjust_saturation(image: jax.Array, factor) -> jax.Array:
    """Scale each pixel's distance from its own luma by `factor` (0: gray); grayscale images are unchanged."""
    if image.shape[-1] == 1:
        return image
    gray = grayscale(image)
    return gray + (image - gray) * factor


def rotate_hue(image: jax.Array, degrees) -> jax.Array:
    """Turn every pixel's chroma (I, Q in YIQ) by `degrees`, keeping luma; grayscale images are unchanged."""
    if image.shape[-1] == 1:
        return image
    theta = jnp.deg2rad(degrees)
    turn = jnp.array([[1.0, 0.0, 0.0], [0.0, jnp.cos(theta), -jnp.sin(theta)], [0.0, jnp.sin(theta), jnp.cos(theta)]])
    matrix = jnp.linalg.inv(_RGB_TO_YIQ) @ turn @ _RGB_TO_YIQ
    return jnp.tensordot(image, matrix, axes=([2], [1]))


def pca_lighting(image: jax.Array, alphas, eigenvalues, eigenvectors, max_value) -> jax.Array:
    """AlexNet lighting (Krizhevsky et al. 2012, sec. 4.1): add sum_i alpha_i * sqrt(lambda_i) * v_i to every
    pixel, with (lambda_i, v_i) the eigenpairs of the training pixels' colour covariance on [0, 1]; so the
    colour moves along the data's principal components only, by alpha standard deviations of each."""
    eigenvectors = jnp.asarray(eigenvectors, jnp.float32)  # columns are components
    shift = eigenvectors @ (alphas * jnp.sqrt(jnp.maximum(jnp.asarray(eigenvalues, jnp.float32), 0.0)))
    return image + shift * max_value


def max_value_for(dtype) -> float:
    """White on the scale of `dtype`: 255 for integers, 1 for floats (float images are taken as [0, 1])."""
    return 255.0 if jnp.issubdtype(dtype, jnp.integer) else 1.0
