"""The last step before a network, on the device: a uint8 batch as the network was trained to see it.

Standardised per channel (the dataset's statistics, or ImageNet's for networks pretrained there), a grayscale
image repeated to three channels for a network trained on colour, and resized (bilinear, antialiased when
shrinking, as torchvision's Resize) to the size it was trained at. Done per batch after augmentation, so a
dataset of small images stays small in memory. With no resize and no channel change it is exactly
`augment.normalize`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxcnn.augment import normalize

# torchvision's ImageNet statistics (RGB, [0, 1] scale): what its pretrained networks were trained on.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def model_input(images: jax.Array, mean, std, size: int = 0, to_rgb: bool = False) -> jax.Array:
    """uint8 NHWC -> float32 NHWC: [grey to RGB], standardised by `mean` / `std`, [resized to size x size]."""
    if to_rgb and images.shape[-1] == 1:
        images = jnp.repeat(images, 3, axis=-1)
    x = normalize(images, mean, std)
    if size and tuple(x.shape[1:3]) != (size, size):
        x = jax.image.resize(x, (x.shape[0], size, size, x.shape[-1]), "linear", antialias=True)
    return x


def model_input_shape(stored: tuple[int, int, int], size: int = 0, to_rgb: bool = False) -> tuple[int, int, int]:
    """(H, W, C) the network sees for stored images of shape `stored`."""
    height, width, channels = stored
    return (size or height, size or width, 3 if to_rgb and channels == 1 else channels)
