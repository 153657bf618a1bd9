"""Augmentation geometry and statistics on real arrays (Fashion-MNIST where the test needs a picture)."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import augment, augment_grid, augment_ops, errors, layers
from jaxcnn.data import stats

try:
    from tests.test_layers import CHANNELS_FIRST_SHAPES, CHANNELS_LAST_SHAPES
except ImportError:  # tests/ on sys.path rather than the repository root
    from test_layers import CHANNELS_FIRST_SHAPES, CHANNELS_LAST_SHAPES

ROOT = Path(__file__).resolve().parents[1]


def _images(n=16, h=8, w=8, c=3):
    return jnp.asarray(np.random.default_rng(0).integers(1, 255, (n, h, w, c), dtype=np.uint8))


def _augmenter(policy, **kwargs):
    return jax.jit(augment.make_batch_augmenter(policy, **kwargs))


def _policy(text):
    return augment.parse_policy(text, default=augment.AugmentPolicy(flip=True, crop_padding=2))


@pytest.fixture(scope="module")
def fashion(fashion_mnist):
    """64 real Fashion-MNIST training images, uint8 [64, 28, 28, 1]."""
    return jnp.asarray(fashion_mnist[0][:64])


@pytest.fixture(scope="module")
def rgb_fashion(fashion):
    """Real pictures coloured so that their pixel colours span a 2-D plane of RGB: colour = a*u + b*w."""
    gray = np.asarray(fashion, np.float32)[..., 0] / 255
    shade = np.roll(gray, 3, axis=2)  # a second, correlated intensity pattern from the same picture
    u, w = np.array([0.6, 0.5, 0.3]), np.array([0.0, 0.4, -0.3])
    rgb = gray[..., None] * u + shade[..., None] * w * 0.5 + 0.15
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


# ----- mirror and crop -----

def test_flip_is_either_identity_or_mirror_and_both_happen():
    images = _images(64)
    out = _augmenter(augment.AugmentPolicy(flip=True))(jax.random.PRNGKey(0), images)
    same = jnp.all(out == images, axis=(1, 2, 3))
    mirrored = jnp.all(out == images[:, :, ::-1], axis=(1, 2, 3))
    assert bool(jnp.all(same | mirrored))
    assert 10 < int(mirrored.sum()) < 54  # about half, per example


def test_vflip_mirrors_rows_and_mirroring_twice_is_identity(fashion):
    image = fashion[0]
    np.testing.assert_array_equal(augment_ops.mirror_up_down(image), np.asarray(image)[::-1])
    np.testing.assert_array_equal(augment_ops.mirror_left_right(augment_ops.mirror_left_right(image)), image)
    np.testing.assert_array_equal(augment_ops.mirror_up_down(augment_ops.mirror_up_down(image)), image)
    out = _augmenter(_policy("vflip"))(jax.random.PRNGKey(3), fashion)
    upside_down = jnp.all(out == fashion[:, ::-1], axis=(1, 2, 3))
    assert bool(jnp.all(upside_down | jnp.all(out == fashion, axis=(1, 2, 3))))
    assert 16 < int(upside_down.sum()) < 48


def test_crop_is_a_shifted_window_of_the_zero_padded_image():
    images = _images(32, c=1)
    out = _augmenter(augment.AugmentPolicy(crop_padding=2))(jax.random.PRNGKey(1), images)
    assert out.shape == images.shape and out.dtype == images.dtype
    padded = np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = set()
    for i in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if np.array_equal(padded[i, dy:dy + 8, dx:dx + 8], np.asarray(out[i]))]
        assert matches, f"example {i} is not a crop of its padded image"
        offsets.update(matches)
    assert len(offsets) > 5  # offsets vary per example


def test_reflect_crop_stays_in_bounds_and_centre_offset_keeps_the_image(fashion):
    image = fashion[1]
    np.testing.assert_array_equal(augment_ops.pad_and_crop(image, 4, jnp.array([4, 4]), "reflect"), image)
    np.testing.assert_array_equal(augment_ops.pad_and_crop(image, 4, jnp.array([4, 4]), "zero"), image)
    corner = augment_ops.pad_and_crop(image, 4, jnp.array([0, 0]), "reflect")
    reference = np.pad(np.asarray(image), ((4, 4), (4, 4), (0, 0)), mode="reflect")[:28, :28]
    np.testing.assert_array_equal(corner, reference)
    out = _augmenter(_policy("crop4reflect"))(jax.random.PRNGKey(0), fashion)
    assert out.shape == fashion.shape
    # reflection never invents black borders: a crop's pixels all come from its own picture's values
    for i in range(8):
        assert set(np.unique(out[i])) <= set(np.unique(fashion[i]))


def test_zero_padding_crop_keeps_the_image():
    images = _images()
    out = _augmenter(augment.AugmentPolicy(crop_padding=0))(jax.random.PRNGKey(2), images)
    np.testing.assert_array_equal(out, images)


# ----- geometric warps -----

def test_rotating_90_degrees_equals_rot90_and_zero_is_identity(fashion):
    image = jnp.asarray(fashion[2], jnp.float32)
    np.testing.assert_allclose(augment_ops.rotate(image, 90.0), np.rot90(image, k=1, axes=(0, 1)), atol=1e-3)
    np.testing.assert_allclose(augment_ops.rotate(image, -90.0), np.rot90(image, k=-1, axes=(0, 1)), atol=1e-3)
    np.testing.assert_allclose(augment_ops.rotate(image, 0.0), image, atol=1e-4)
    # 30 + 60 degrees is not 90 exactly pixel for pixel (two resamplings blur), but close on the picture
    twice = augment_ops.rotate(augment_ops.rotate(image, 30.0), 60.0)
    assert float(jnp.mean(jnp.abs(twice - np.rot90(image, 1, (0, 1))))) < 12  # of 255


def test_integer_translation_moves_pixels_and_fills_zero(fashion):
    image = jnp.asarray(fashion[3], jnp.float32)
    moved = augment_ops.translate(image, (2.0, -3.0))  # 2 down, 3 left
    np.testing.assert_allclose(moved[2:, :-3], image[:-2, 3:], atol=1e-3)
    np.testing.assert_array_equal(moved[:2], 0)
    np.testing.assert_array_equal(moved[:, -3:], 0)


def test_shear_keeps_the_centre_row_and_slides_others(fashion):
    image = jnp.asarray(fashion[4], jnp.float32)
    # 45 degrees: input column = output column + (row - 13.5), so row 15 reads columns j + 1.5
    sheared = augment_ops.warp(image, augment_ops.affine_matrix(shear_degrees=45.0))
    np.testing.assert_allclose(sheared[15, :-2], (image[15, 1:-1] + image[15, 2:]) / 2, atol=1e-3)
    assert float(jnp.abs(sheared - image).mean()) > 5


def test_scale_and_resized_crop_geometry(fashion):
    image = jnp.asarray(fashion[5], jnp.float32)
    # zoom x2 about the centre: output pixel (r, c) reads input (13.5 + (r - 13.5) / 2, ...)
    zoomed = augment_ops.warp(image, augment_ops.affine_matrix(scale=2.0))
    np.testing.assert_allclose(zoomed[1, 1], jax.scipy.ndimage.map_coordinates(image[..., 0], [jnp.array(7.25), jnp.array(7.25)], order=1), atol=1e-3)
    # a resized crop of the whole image is the image; of the top-left quarter is a x2 zoom of it
    matrix, centre = augment_ops.resized_crop_transform(image.shape, 0.0, 0.0, 28.0, 28.0)
    np.testing.assert_allclose(augment_ops.warp(image, matrix, in_centre=centre), image, atol=1e-3)
    matrix, centre = augment_ops.resized_crop_transform(image.shape, 0.0, 0.0, 14.0, 14.0)
    quarter = augment_ops.warp(image, matrix, in_centre=centre)
    # output row 2k+1 reads input row k + 1/4: bilinear weights 3/4, 1/4 in each direction
    expected = 0.5625 * image[:14, :14] + 0.1875 * (image[1:15, :14] + image[:14, 1:15]) + 0.0625 * image[1:15, 1:15]
    np.testing.assert_allclose(quarter[1::2, 1::2], expected, atol=1e-3)


def test_random_geometry_stays_in_range_and_varies(fashion):
    fn = _augmenter(_policy("rrcrop0.35,translate2,rotate15,shear10,scale0.1,elastic2"))
    out = fn(jax.random.PRNGKey(0), fashion)
    assert out.shape == fashion.shape and out.dtype == jnp.uint8
    change = jnp.mean(jnp.abs(out.astype(jnp.float32) - fashion), axis=(1, 2, 3))
    assert float(change.min()) > 1.0  # every example moved
    assert float(jnp.std(change)) > 0.5  # by different amounts
    # mass is roughly preserved by small warps (no op blanks or saturates the picture)
    ratio = out.astype(jnp.float32).sum((1, 2, 3)) / fashion.astype(jnp.float32).sum((1, 2, 3))
    assert 0.5 < float(jnp.median(ratio)) < 1.5


def test_elastic_warp_is_local_and_small(fashion):
    image = jnp.asarray(fashion[6], jnp.float32)
    field = augment_ops.smooth_displacement(jax.random.PRNGKey(0), (28, 28), 2.0)
    assert field.shape == (2, 28, 28)
    assert 1.0 < float(jnp.abs(field).max()) <= 2.0
    # smooth: neighbouring pixels move almost together
    assert float(jnp.abs(jnp.diff(field, axis=1)).max()) < 1.0
    warped = augment_ops.warp(image, jnp.eye(2), displacement=field)
    assert 0 < float(jnp.abs(warped - image).mean()) < 40
    np.testing.assert_allclose(augment_ops.warp(image, jnp.eye(2), displacement=field * 0), image, atol=1e-3)


# ----- colour -----

def test_brightness_contrast_saturation_hue_arithmetic(rgb_fashion):
    image = jnp.asarray(rgb_fashion[0], jnp.float32)
    np.testing.assert_allclose(augment_ops.adjust_brightness(image, 0.1, 255.0), image + 25.5, rtol=1e-6)
    flat = augment_ops.adjust_contrast(image, 0.0)
    np.testing.assert_allclose(flat, jnp.full_like(image, float(jnp.mean(augment_ops.grayscale(image)))), rtol=1e-5)
    gray = augment_ops.adjust_saturation(image, 0.0)
    np.testing.assert_allclose(gray[..., 0], gray[..., 1], atol=1e-3)
    np.testing.assert_allclose(augment_ops.adjust_saturation(image, 1.0), image, atol=1e-3)
    turned = augment_ops.rotate_hue(image, 40.0)
    np.testing.assert_allclose(augment_ops.grayscale(turned), augment_ops.grayscale(image), atol=1e-2)  # luma kept
    assert float(jnp.abs(turned - image).mean()) > 3
    np.testing.assert_allclose(augment_ops.rotate_hue(turned, -40.0), image, atol=1e-2)
    one_channel = image[..., :1]
    np.testing.assert_array_equal(augment_ops.rotate_hue(one_channel, 40.0), one_channel)


def test_brightness_shifts_are_uniform_within_bounds(fashion):
    images = jnp.full((256, 4, 4, 1), 0.5, jnp.float32)
    out = _augmenter(_policy("brightness0.2"))(jax.random.PRNGKey(0), images)
    deltas = np.asarray(out[:, 0, 0, 0] - 0.5)
    np.testing.assert_allclose(np.asarray(out - out[:, :1, :1]), 0, atol=1e-6)  # one shift per image
    assert deltas.min() >= -0.2 and deltas.max() <= 0.2
    assert abs(deltas.mean()) < 0.03 and abs(deltas.std() - 0.4 / np.sqrt(12)) < 0.02  # uniform(-0.2, 0.2)


def test_pca_lighting_moves_colour_along_the_data_principal_components_only(rgb_fashion):
    colour = stats.compute_colour_stats(rgb_fashion)
    eigenvalues = np.array(colour.eigenvalues)
    vectors = np.array(colour.eigenvectors)
    assert eigenvalues[0] > eigenvalues[1] > 100 * eigenvalues[2]  # the data spans a plane of RGB
    images = jnp.asarray(rgb_fashion, jnp.float32) / 255  # float input: no clipping, exact shifts
    out = _augmenter(_policy("pca0.1"), colour_stats=colour)(jax.random.PRNGKey(0), images)
    shift = np.asarray(out - images)
    np.testing.assert_allclose(shift, shift[:, :1, :1, :] * np.ones_like(shift), atol=1e-6)  # one colour per image
    coefficients = shift[:, 0, 0, :] @ vectors / np.sqrt(np.maximum(eigenvalues, 1e-12))  # alphas per component
    along_data = shift[:, 0, 0, :] @ vectors[:, :2]
    off_data = shift[:, 0, 0, :] @ vectors[:, 2]
    assert np.abs(off_data).max() < 0.05 * np.abs(along_data).max()
    assert 0.06 < coefficients[:, 0].std() < 0.14 and 0.06 < coefficients[:, 1].std() < 0.14  # alpha ~ N(0, 0.1)
    with pytest.raises(errors.ConfigError, match="pca needs the dataset's colour statistics"):
        augment.make_batch_augmenter(_policy("pca0.1"))


def test_pca_lighting_on_one_channel_is_a_brightness_shift_of_alpha_pixel_stds(fashion):
    """Grayscale (Fashion-MNIST, --augment=pca0.1 in training): the one component is the intensity axis and
    its eigenvalue the pixel variance, so each image brightens by alpha ~ N(0, 0.1) pixel standard deviations."""
    colour = stats.colour_stats("fashion_mnist")
    assert np.array(colour.eigenvectors).shape == (1, 1) and colour.eigenvalues[0] == pytest.approx(colour.std[0] ** 2, rel=1e-4)
    images = jnp.tile(jnp.asarray(fashion, jnp.float32) / 255, (32, 1, 1, 1))  # 2048 examples, float: no clipping
    out = _augmenter(_policy("pca0.1"), colour_stats=colour)(jax.random.PRNGKey(0), images)
    shift = np.asarray(out - images)
    np.testing.assert_allclose(shift, shift[:, :1, :1] * np.ones_like(shift), atol=1e-6)  # one shift per image
    alphas = shift[:, 0, 0, 0] / colour.std[0]
    assert abs(alphas.mean()) < 0.01 and alphas.std() == pytest.approx(0.1, rel=0.08)
    uint8_out = _augmenter(_policy("pca0.1"), colour_stats=colour)(jax.random.PRNGKey(0), fashion)
    assert uint8_out.dtype == jnp.uint8 and bool(jnp.any(uint8_out != fashion))


def test_colour_ops_on_uint8_round_and_clip(fashion):
    out = _augmenter(_policy("brightness0.5,contrast0.5"))(jax.random.PRNGKey(1), fashion)
    assert out.dtype == jnp.uint8
    assert int(out.max()) == 255  # brightened whites saturate instead of wrapping around
    assert bool(jnp.any(out != fashion))


# ----- erasing -----

def test_cutout_zeroes_one_square_per_image(fashion):
    bright = jnp.full((32, 16, 16, 1), 200, jnp.uint8)
    out = _augmenter(_policy("cutout8"))(jax.random.PRNGKey(0), bright)
    assert out.dtype == jnp.uint8
    zeros = np.asarray(out[..., 0] == 0)
    np.testing.assert_array_equal(np.asarray(out)[~zeros[..., None].repeat(1, -1)], 200)
    for mask in zeros:
        rows, cols = np.nonzero(mask)
        assert len(rows) > 0 and rows.max() - rows.min() < 8 and cols.max() - cols.min() < 8
        assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle
    assert zeros.sum((1, 2)).max() == 64 and zeros.sum((1, 2)).min() < 64  # whole squares and edge-clipped ones


def test_random_erasing_probability_and_area(fashion):
    flat = jnp.full((400, 16, 16, 1), 0.5, jnp.float32)
    out = _augmenter(_policy("erase0.5"))(jax.random.PRNGKey(0), flat)
    erased_fraction = np.asarray(jnp.mean(out != 0.5, axis=(1, 2, 3)))
    touched = erased_fraction > 0
    assert 0.4 < touched.mean() < 0.6
    assert erased_fraction[touched].max() <= 0.4 and np.median(erased_fraction[touched]) > 0.05


# ----- mixing -----

def test_mixup_labels_sum_to_one_and_match_pixel_weights(fashion, fashion_mnist):
    labels = jnp.asarray(fashion_mnist[1][:64])
    images, soft = jax.jit(augment.make_batch_mixer(_policy("mixup0.4"), 10))(jax.random.PRNGKey(0), fashion, labels)
    images, soft, labels = np.asarray(images), np.asarray(soft), np.asarray(labels)
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    x, partner = np.asarray(fashion, np.float32), np.asarray(fashion, np.float32)[::-1]
    for i in range(8):
        lam = float(soft[i, labels[i]]) if labels[i] != labels[63 - i] else None
        if lam is not None:
            np.testing.assert_allclose(images[i], lam * x[i] + (1 - lam) * partner[i], atol=1e-3)
    lams = np.array([float(soft[i, labels[i]]) for i in range(64) if labels[i] != labels[63 - i]])
    assert 0.25 < lams.mean() < 0.75 and lams.std() > 0.15  # Beta(0.4, 0.4) is U-shaped about 1/2


def test_cutmix_labels_equal_the_pasted_area():
    images = _images(64, 16, 16, 3)  # noise: every pixel differs from its partner's, so the box is visible
    labels = jnp.arange(64) % 10  # example i and its partner 63 - i never share a label
    mixed, soft = jax.jit(augment.make_batch_mixer(_policy("cutmix1"), 10))(jax.random.PRNGKey(1), images, labels)
    mixed, soft, labels = np.asarray(mixed), np.asarray(soft), np.asarray(labels)
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    x = np.asarray(images, np.float32)
    shares = []
    for i in range(64):
        from_partner = np.all(mixed[i] == x[63 - i], axis=-1)
        assert np.all(from_partner | np.all(mixed[i] == x[i], axis=-1))
        rows, cols = np.nonzero(from_partner)
        if len(rows):  # the pasted region is one rectangle
            assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        np.testing.assert_allclose(float(soft[i, labels[63 - i]]), from_partner.mean(), atol=1e-6)
        shares.append(from_partner.mean())
    assert 0.2 < np.mean(shares) < 0.6 and np.max(shares) > 0.5  # lambda ~ U(0, 1), boxes clipped at edges


def test_mixer_without_mixing_gives_one_hot(fashion):
    labels = jnp.arange(64) % 10
    images, soft = augment.make_batch_mixer(augment.AugmentPolicy(), 10)(jax.random.PRNGKey(0), fashion, labels)
    np.testing.assert_array_equal(soft, jax.nn.one_hot(labels, 10))
    np.testing.assert_array_equal(images, fashion.astype(jnp.float32))


# ----- determinism, dtypes, policy -----

_EVERYTHING = "flip,vflip,crop2,rrcrop0.5,translate2,rotate15,shear10,scale0.1,elastic2,brightness0.2,contrast0.2,cutout6,erase0.5"


def test_same_key_same_batch_different_key_different_batch():
    fn = _augmenter(augment.AugmentPolicy(flip=True, crop_padding=4))
    images = _images(32)
    a, b, c = fn(jax.random.PRNGKey(7), images), fn(jax.random.PRNGKey(7), images), fn(jax.random.PRNGKey(8), images)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_every_op_is_deterministic_per_key_and_independent_of_the_batch(fashion):
    fn = _augmenter(_policy(_EVERYTHING))
    a, b, c = fn(jax.random.PRNGKey(3), fashion), fn(jax.random.PRNGKey(3), fashion), fn(jax.random.PRNGKey(4), fashion)
    np.testing.assert_array_equal(a, b)
    assert float(jnp.mean((a != c).astype(jnp.float32))) > 0.2
    # example i's output depends only on its own key and image, never on the rest of the batch
    np.testing.assert_array_equal(fn(jax.random.PRNGKey(3), fashion.at[40].set(0))[:32], a[:32])


def test_float_rgb_batches_keep_dtype_and_shape(rgb_fashion):
    images = jnp.asarray(rgb_fashion[:16], jnp.float32) / 255
    out = _augmenter(_policy(_EVERYTHING + ",saturation0.3,hue20"))(jax.random.PRNGKey(0), images)
    assert out.shape == images.shape and out.dtype == jnp.float32
    assert float(jnp.abs(out - images).mean()) > 0.02


def test_policy_parsing():
    default = augment.AugmentPolicy(flip=True, crop_padding=4)
    assert augment.parse_policy("default", default=default) == default
    assert augment.parse_policy("none", default=default).is_identity
    assert augment.parse_policy("crop2, flip", default=default) == augment.AugmentPolicy(True, 2)
    assert str(augment.AugmentPolicy(True, 2)) == "flip,crop2"
    assert augment.parse_policy("default,rotate15", default=default) == dataclasses.replace(default, rotate=15.0)
    full = augment.parse_policy(_EVERYTHING + ",pca0.1,mixup0.2,cutmix1,crop4reflect,hflip", default=default)
    assert full.crop_padding == 4 and full.crop_reflect and full.mixup == 0.2 and full.mixes
    assert augment.parse_policy(str(full), default=default) == full  # printing round-trips
    with pytest.raises(errors.ConfigError, match="unknown augmentation 'spin'; choose one of: brightnessF, .*rotateN"):
        augment.parse_policy("flip,spin", default=default)
    for bad, message in [("rotate", "needs a number, e.g. rotate15"), ("flip2", "takes no number"),
                         ("crop2.5", "whole number"), ("scale1.5", "scale must be in"), ("rotate5reflect", "only crop")]:
        with pytest.raises(errors.ConfigError, match=message):
            augment.parse_policy(bad, default=default)


def test_bad_input_gets_one_line_errors():
    fn = _augmenter(_policy("flip"))
    with pytest.raises(errors.ChannelOrderError, match="looks channels-first"):
        fn(jax.random.PRNGKey(0), jnp.zeros((4, 3, 32, 32), jnp.uint8))
    with pytest.raises(errors.ShapeError, match=r"one image .* x\[None\]"):
        fn(jax.random.PRNGKey(0), jnp.zeros((32, 32, 3), jnp.uint8))
    with pytest.raises(errors.ShapeError, match=r"NHWC batch \(N, H, W, C\)"):
        fn(jax.random.PRNGKey(0), jnp.zeros((1, 2, 32, 32, 3), jnp.uint8))


@pytest.mark.parametrize("shape", CHANNELS_FIRST_SHAPES + CHANNELS_LAST_SHAPES)
def test_augment_follows_the_layers_channel_order_rule(shape):
    """The augmenter and the mixer refuse exactly the shapes `layers.looks_channels_first` calls NCHW (the
    same inputs as tests/test_layers.py), with the same error class and wording as the models."""
    augmenter = augment.make_batch_augmenter(_policy("flip"))
    mixer = augment.make_batch_mixer(_policy("mixup0.2"), num_classes=3)
    images, labels = jnp.zeros(shape, jnp.uint8), jnp.zeros(shape[0], jnp.int32)
    if layers.looks_channels_first(shape):
        for run in (lambda: augmenter(jax.random.PRNGKey(0), images), lambda: mixer(jax.random.PRNGKey(0), images, labels)):
            with pytest.raises(errors.ChannelOrderError, match="augmentation: input .* looks channels-first"):
                run()
    else:
        assert augmenter(jax.random.PRNGKey(0), images).shape == shape
        assert mixer(jax.random.PRNGKey(0), images, labels)[0].shape == shape


def test_augmentation_columns_show_each_op_alone_then_the_whole_policy():
    images, labels = _images(n=4), jnp.array([0, 1, 2, 0])
    columns = augment.augmentation_columns(images, labels, "flip,rotate10,mixup0.4", default=augment.AugmentPolicy(),
                                           num_classes=3, seed=7)
    assert list(columns) == ["original", "flip", "rotate10", "mixup0.4", "all but mixing", "all"]
    key = jax.random.PRNGKey(7)
    assert columns["original"] is images
    np.testing.assert_array_equal(columns["flip"], augment.make_batch_augmenter(_policy("flip"))(key, images))
    per_example = augment.make_batch_augmenter(_policy("flip,rotate10"))(key, images)
    np.testing.assert_array_equal(columns["all but mixing"], per_example)
    mixed, _ = augment.make_batch_mixer(_policy("mixup0.4"), 3)(jax.random.fold_in(key, 1), per_example, labels)
    np.testing.assert_array_equal(columns["all"], mixed)
    assert columns["all"].dtype == jnp.float32 and columns["flip"].dtype == jnp.uint8


def test_augment_grid_help_needs_no_jax():
    code = ("import sys\nfrom jaxcnn import augment_grid\ntry:\n    augment_grid.main(['--help'])\n"
            "except SystemExit as exit:\n    assert exit.code == 0\nprint(sorted({'jax', 'tensorflow'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--augment" in result.stdout and result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("args,message", [(["--augment=flip,spin"], "error: unknown augmentation 'spin'; choose one of"),
                                          (["--examples=0"], "error: --examples must be positive, got 0"),
                                          (["--dataset=mnist9"], "error: unknown dataset 'mnist9'")])
def test_augment_grid_mistakes_are_one_line_exit_2(args, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit:
        augment_grid.main([*args, f"--out={tmp_path / 'grid.png'}"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "grid.png").exists()


def test_augment_grid_writes_the_picture(fashion_mnist, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert augment_grid.main(["--dataset=fashion_mnist", "--augment=flip,rotate10,mixup0.4", "--examples=3",
                              f"--out={out}"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
