"""Jittable per-example augmentation of uint8 or float NHWC batches, chosen by a policy string.

Every example draws from its own key (split from one batch key), and every op from its own stream
(`fold_in(example_key, op_id)`), so the same key always gives the same batch, an augmentation never
depends on batch composition, and adding an op does not change what the others do. A policy is a
comma-separated list of ops (note 002's tactics and their modern relatives), applied in a fixed order:

    mirror    flip (= hflip), vflip                       crop      cropN, cropNreflect (pad N px, crop back)
    geometry  translateN (px), rotateN, shearN (deg),     warp      elasticN (smooth local warp, up to N px)
              scaleF (zoom 1±F), rrcropF (random-resized crop, min area F)
    colour    brightnessF, contrastF, saturationF (±F),   erase     cutoutN (NxN zero square), eraseP (random
              hueN (deg), pcaF (AlexNet lighting, std F)            erasing with probability P)
    batch     mixupA, cutmixA (Beta(A, A) mixing: these change labels; see `make_batch_mixer`)

"default" is the dataset's safe default (it may be combined: "default,rotate10"); "none" is the identity.
uint8 images stay uint8 (rounded and clipped after float ops); float images are taken as [0, 1] and
are not clipped. `pca` needs the dataset's colour statistics (`jaxcnn.data.stats.colour_stats`).
`augmentation_columns` applies each op of a policy alone, for a picture (`python -m jaxcnn.augment_grid`).
"""

import dataclasses
import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn import augment_ops as ops
from jaxcnn import errors
from jaxcnn.layers import check_nhwc


def normalize(images: jax.Array, mean, std) -> jax.Array:
    """uint8 [0, 255] -> float32, standardised per channel: the last preprocessing step before the model."""
    images = images.astype(jnp.float32) / 255.0
    return (images - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


@dataclasses.dataclass(frozen=True)
class AugmentPolicy:
    """Which per-example ops to apply and how strongly; zero / False turns an op off."""

    flip: bool = False            # horizontal mirror, p = 1/2
    crop_padding: int = 0         # pad by this many pixels, crop back at a random offset
    vflip: bool = False           # vertical mirror, p = 1/2
    crop_reflect: bool = False    # pad by reflection instead of zeros (warps then fill by reflection too)
    translate: int = 0            # shift by up to this many pixels (continuous, zero fill)
    rotate: float = 0.0           # degrees, uniform in [-rotate, rotate]
    shear: float = 0.0            # degrees of x-shear, uniform in [-shear, shear]
    scale: float = 0.0            # zoom factor uniform in [1 - scale, 1 + scale]
    resized_crop: float = 0.0     # random-resized crop: area fraction uniform in [resized_crop, 1], aspect 3/4..4/3
    elastic: float = 0.0          # smooth displacement field of up to this many pixels
    brightness: float = 0.0       # add uniform [-b, b] of the value range
    contrast: float = 0.0         # contrast factor uniform in [1 - c, 1 + c]
    saturation: float = 0.0       # saturation factor uniform in [1 - s, 1 + s] (RGB only)
    hue: float = 0.0              # hue turn uniform in [-hue, hue] degrees (RGB only)
    pca: float = 0.0              # AlexNet lighting: alpha ~ N(0, pca) per principal component
    cutout: int = 0               # zero an NxN square centred anywhere in the image (DeVries & Taylor 2017)
    erase: float = 0.0            # random erasing probability (Zhong et al. 2020): random box, random values
    mixup: float = 0.0            # Beta(alpha, alpha) mixing of image pairs and their labels
    cutmix: float = 0.0           # Beta(alpha, alpha) box pasting between image pairs, labels by area

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, bool) and value < 0:
                raise errors.ConfigError(f"augmentation {field.name} must be >= 0, got {value}")
        for name in ("scale", "contrast", "saturation", "resized_crop", "erase"):
            if getattr(self, name) > 1:
                raise errors.ConfigError(f"augmentation {name} must be in [0, 1], got {getattr(self, name)}")

    @property
    def is_identity(self) -> bool:
        """True when the per-example augmenter does nothing (mixup / cutmix are batch-level, see `mixes`)."""
        return not any(getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("mixup", "cutmix", "crop_reflect"))

    @property
    def mixes(self) -> bool:
        """True when the policy mixes examples, so labels become soft (`make_batch_mixer`)."""
        return bool(self.mixup or self.cutmix)

    def per_example(self) -> "AugmentPolicy":
        """This policy without the batch-level ops (mixup, cutmix)."""
        return dataclasses.replace(self, mixup=0.0, cutmix=0.0)

    @property
    def needs_colour_stats(self) -> bool:
        return self.pca > 0

    @property
    def warps(self) -> bool:
        return bool(self.translate or self.rotate or self.shear or self.scale or self.resized_crop or self.elastic)

    def __str__(self) -> str:
        parts = []
        for token, pattern in _OPS.items():
            value = getattr(self, pattern.field)
            if token == "crop" and value:
                parts.append(f"crop{value}" + ("reflect" if self.crop_reflect else ""))
            elif value is True:
                parts.append(token)
            elif value and not isinstance(value, bool):
                parts.append(f"{token}{_format_number(value)}")
        return ",".join(parts) or "none"


@dataclasses.dataclass(frozen=True)
class _Op:
    field: str
    kind: type  # bool: no number; int / float: a number follows the name


# Token -> policy field, in the order ops are applied (and printed).
_OPS = {
    "flip": _Op("flip", bool), "vflip": _Op("vflip", bool), "crop": _Op("crop_padding", int),
    "rrcrop": _Op("resized_crop", float), "translate": _Op("translate", int), "rotate": _Op("rotate", float),
    "shear": _Op("shear", float), "scale": _Op("scale", float), "elastic": _Op("elastic", float),
    "brightness": _Op("brightness", float), "contrast": _Op("contrast", float),
    "saturation": _Op("saturation", float), "hue": _Op("hue", float), "pca": _Op("pca", float),
    "cutout": _Op("cutout", int), "erase": _Op("erase", float), "mixup": _Op("mixup", float), "cutmix": _Op("cutmix", float),
}
_ALIASES = {"hflip": "flip", "mirror": "flip"}
_TOKEN = re.compile(r"([a-z]+?)(\d+(?:\.\d+)?)?(reflect)?")
_EXAMPLES = {"crop": "crop4", "rrcrop": "rrcrop0.35", "translate": "translate2", "rotate": "rotate15", "shear": "shear10",
             "scale": "scale0.1", "elastic": "elastic2", "brightness": "brightness0.2", "contrast": "contrast0.2",
             "saturation": "saturation0.2", "hue": "hue10", "pca": "pca0.1", "cutout": "cutout8", "erase": "erase0.5",
             "mixup": "mixup0.2", "cutmix": "cutmix1"}
_CHOICES = ["default", "none", "flip", "hflip", "vflip", "cropN", "cropNreflect", "rrcropF", "translateN", "rotateN",
            "shearN", "scaleF", "elasticN", "brightnessF", "contrastF", "saturationF", "hueN", "pcaF", "cutoutN",
            "eraseP", "mixupA", "cutmixA"]


def _format_number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def dataset_default(dataset) -> "AugmentPolicy":
    """What "default" means for a dataset (a `jaxcnn.data.DatasetSpec`): mirror only where that keeps the class,
    crop with the dataset's padding."""
    return AugmentPolicy(flip=dataset.flip_by_default, crop_padding=dataset.crop_padding)


def parse_policy(text: str, *, default: AugmentPolicy) -> AugmentPolicy:
    """Parse "flip,crop4,rotate15" / "default" / "default,pca0.1" / "none" into a policy.
    Unknown ops and malformed numbers get a one-line ConfigError listing the choices."""
    text = text.strip().lower()
    if text in ("none", ""):
        return AugmentPolicy()
    values = {}
    for token in (part.strip() for part in text.split(",")):
        if token == "default":
            values.update({f.name: getattr(default, f.name) for f in dataclasses.fields(default) if getattr(default, f.name)})
            continue
        match = _TOKEN.fullmatch(token)
        name = match and _ALIASES.get(match.group(1), match.group(1))
        if not match or name not in _OPS:
            raise errors.unknown_name_error("augmentation", token, _CHOICES)
        op, number, reflect = _OPS[name], match.group(2), match.group(3)
        if reflect and name != "crop":
            raise errors.ConfigError(f"augmentation {token!r}: only crop takes 'reflect' (e.g. crop4reflect)")
        if op.kind is bool:
            if number is not None:
                raise errors.ConfigError(f"augmentation {token!r}: {name} takes no number")
            values[op.field] = True
            continue
        if number is None:
            raise errors.ConfigError(f"augmentation {token!r}: {name} needs a number, e.g. {_EXAMPLES[name]}")
        if op.kind is int and "." in number:
            raise errors.ConfigError(f"augmentation {token!r}: {name} takes a whole number of pixels")
        values[op.field] = op.kind(number)
        if name == "crop":
            values["crop_reflect"] = bool(reflect)
    return AugmentPolicy(**values)


# Fixed per-op stream ids: fold_in(example_key, id), so ops draw independently of which others are on.
_STREAM = {name: i for i, name in enumerate(
    ["flip", "vflip", "crop", "rrcrop", "translate", "rotate", "shear", "scale", "elastic", "brightness",
     "contrast", "saturation", "hue", "pca", "cutout", "erase", "mix"])}


def _key(example_key, name):
    return jax.random.fold_in(example_key, _STREAM[name])


def _uniform(key, bound, centre=0.0):
    return jax.random.uniform(key, (), minval=centre - bound, maxval=centre + bound)


def _check_images(images, colour_stats=None):
    """The models' NHWC rule (`layers.check_nhwc`: one-line ShapeError / ChannelOrderError), then the colour
    statistics' channel count."""
    check_nhwc(images, where="augmentation")
    if colour_stats is not None and len(colour_stats.eigenvalues) != images.shape[3]:
        raise errors.ShapeError(f"colour statistics are for {len(colour_stats.eigenvalues)} channels, "
                                f"images have {images.shape[3]}")


def _geometry(policy, key, image, fill_mode="constant"):
    """One warp for resized crop, rotation, shear, scale, translation and elastic displacement."""
    height, width, _ = image.shape
    matrix = ops.affine_matrix(
        _uniform(_key(key, "rotate"), policy.rotate) if policy.rotate else 0.0,
        _uniform(_key(key, "shear"), policy.shear) if policy.shear else 0.0,
        _uniform(_key(key, "scale"), policy.scale, 1.0) if policy.scale else 1.0,
    )
    in_centre = None
    if policy.resized_crop:
        area_key, aspect_key, top_key, left_key = jax.random.split(_key(key, "rrcrop"), 4)
        area = jax.random.uniform(area_key, (), minval=policy.resized_crop, maxval=1.0) * height * width
        aspect = jnp.exp(jax.random.uniform(aspect_key, (), minval=math.log(3 / 4), maxval=math.log(4 / 3)))
        crop_h = jnp.minimum(jnp.sqrt(area / aspect), height)
        crop_w = jnp.minimum(jnp.sqrt(area * aspect), width)
        top = jax.random.uniform(top_key) * (height - crop_h)
        left = jax.random.uniform(left_key) * (width - crop_w)
        crop_matrix, in_centre = ops.resized_crop_transform(image.shape, top, left, crop_h, crop_w)
        matrix = crop_matrix @ matrix
    shift = (0.0, 0.0)
    if policy.translate:
        shift = jax.random.uniform(_key(key, "translate"), (2,), minval=-policy.translate, maxval=policy.translate)
    displacement = None
    if policy.elastic:
        displacement = ops.smooth_displacement(_key(key, "elastic"), (height, width), policy.elastic)
    return ops.warp(image, matrix, in_centre=in_centre, shift=shift, displacement=displacement, fill_mode=fill_mode)


def _colour(policy, key, image, max_value, colour_stats):
    if policy.brightness:
        image = ops.adjust_brightness(image, _uniform(_key(key, "brightness"), policy.brightness), max_value)
    if policy.contrast:
        image = ops.adjust_contrast(image, _uniform(_key(key, "contrast"), policy.contrast, 1.0))
    if policy.saturation:
        image = ops.adjust_saturation(image, _uniform(_key(key, "saturation"), policy.saturation, 1.0))
    if policy.hue:
        image = ops.rotate_hue(image, _uniform(_key(key, "hue"), policy.hue))
    if policy.pca:
        alphas = jax.random.normal(_key(key, "pca"), (image.shape[-1],)) * policy.pca
        image = ops.pca_lighting(image, alphas, colour_stats.eigenvalues, colour_stats.eigenvectors, max_value)
    return image


def _erasing(policy, key, image, max_value):
    height, width, channels = image.shape
    if policy.cutout:
        centre = jax.random.randint(_key(key, "cutout"), (2,), 0, jnp.array([height, width]))
        half = policy.cutout // 2
        image = ops.erase(image, ops.box_mask((height, width), centre[0] - half, centre[1] - half, policy.cutout, policy.cutout), 0)
    if policy.erase:
        apply_key, area_key, aspect_key, top_key, left_key, fill_key = jax.random.split(_key(key, "erase"), 6)
        area = jax.random.uniform(area_key, (), minval=0.02, maxval=0.33) * height * width
        aspect = jnp.exp(jax.random.uniform(aspect_key, (), minval=math.log(0.3), maxval=math.log(1 / 0.3)))
        box_h = jnp.minimum(jnp.round(jnp.sqrt(area * aspect)), height)
        box_w = jnp.minimum(jnp.round(jnp.sqrt(area / aspect)), width)
        top = jnp.floor(jax.random.uniform(top_key) * (height - box_h + 1))
        left = jnp.floor(jax.random.uniform(left_key) * (width - box_w + 1))
        mask = ops.box_mask((height, width), top, left, box_h, box_w) & jax.random.bernoulli(apply_key, policy.erase)
        noise = jax.random.uniform(fill_key, image.shape) * max_value
        image = jnp.where(mask[:, :, None], noise, image)
    return image


def make_batch_augmenter(policy: AugmentPolicy, colour_stats=None) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jittable fn(key, images[N,H,W,C]) -> images of the same shape and dtype applying `policy` per example.

    `colour_stats` (a `jaxcnn.data.stats.ColourStats`) is required when the policy uses `pca`. Mixup and
    cutmix change labels, so they are refused here: apply `policy.per_example()` with this function,
    then `make_batch_mixer(policy, num_classes)`, whose soft labels `train.steps.cross_entropy` accepts."""
    if policy.mixes:
        raise errors.ConfigError(f"augmentation {policy}: mixup/cutmix change labels, which a per-example augmenter "
                                 "cannot do: use make_batch_augmenter(policy.per_example()), then make_batch_mixer "
                                 "(training does both when --augment names them)")
    if policy.needs_colour_stats and colour_stats is None:
        raise errors.ConfigError("augmentation pca needs the dataset's colour statistics: "
                                 "make_batch_augmenter(policy, colour_stats=jaxcnn.data.stats.colour_stats(dataset))")
    needs_float = policy.warps or policy.brightness or policy.contrast or policy.saturation or policy.hue or policy.pca or policy.erase
    fill_mode = "reflect" if policy.crop_reflect else "constant"

    def augment_one(key, image):
        if policy.flip:
            image = jnp.where(jax.random.bernoulli(_key(key, "flip")), ops.mirror_left_right(image), image)
        if policy.vflip:
            image = jnp.where(jax.random.bernoulli(_key(key, "vflip")), ops.mirror_up_down(image), image)
        if policy.crop_padding:
            offset = jax.random.randint(_key(key, "crop"), (2,), 0, 2 * policy.crop_padding + 1)
            image = ops.pad_and_crop(image, policy.crop_padding, offset, "reflect" if policy.crop_reflect else "zero")
        if not needs_float:
            return _erasing(policy, key, image, None) if policy.cutout else image
        dtype = image.dtype
        max_value = ops.max_value_for(dtype)
        image = image.astype(jnp.float32)
        if policy.warps:
            image = _geometry(policy, key, image, fill_mode)
        image = _colour(policy, key, image, max_value, colour_stats)
        image = _erasing(policy, key, image, max_value)
        if jnp.issubdtype(dtype, jnp.integer):
            return jnp.clip(jnp.round(image), 0, 255).astype(dtype)
        return image.astype(dtype)

    def augment_batch(key, images):
        _check_images(images, colour_stats if policy.needs_colour_stats else None)
        if policy.is_identity:
            return images
        keys = jax.random.split(key, images.shape[0])
        return jax.vmap(augment_one)(keys, images)

    return augment_batch


def make_batch_mixer(policy: AugmentPolicy, num_classes: int) -> Callable:
    """A jittable fn(key, images[N,H,W,C], labels int[N]) -> (float32 images, soft labels float32[N, K]).

    Example i is mixed with example N-1-i (the batch reversed) with its own lambda ~ Beta(alpha, alpha):
    mixup blends the pixels (Zhang et al. 2018), cutmix pastes a box covering 1-lambda of the image (Yun et
    al. 2019). Labels get the weights lambda and 1-lambda, cutmix's from the box area actually pasted, so
    each row sums to one. With both on, each example picks one of the two with probability 1/2.
    uint8 pixels stay on the [0, 255] scale (as float32). Without mixup or cutmix, labels become one-hot."""
    mix_pairs = make_pair_mixer(policy, num_classes)

    def mix_batch(key, images, labels):
        keys = jax.random.split(key, images.shape[0])
        return mix_pairs(keys, images, images[::-1], labels, labels[::-1])

    return mix_batch


def make_pair_mixer(policy: AugmentPolicy, num_classes: int) -> Callable:
    """The pairing-free core of `make_batch_mixer`: fn(keys[N], images, partners, labels, partner_labels)
    mixes row i with partners[i] using keys[i]. The train step uses it to mix across a batch sharded over
    devices (`jaxcnn.train.steps.mix_global_batch`), where each device holds only some rows and partners."""
    if num_classes < 1:
        raise errors.ConfigError(f"num_classes must be positive, got {num_classes}")

    def mix_one(key, image, partner, label, partner_label):
        height, width, _ = image.shape
        choose_key, mixup_key, cutmix_key, box_key = jax.random.split(key, 4)
        one_hot, partner_hot = jax.nn.one_hot(label, num_classes), jax.nn.one_hot(partner_label, num_classes)
        results = []
        if policy.mixup:
            lam = jax.random.beta(mixup_key, policy.mixup, policy.mixup)
            results.append((lam * image + (1 - lam) * partner, lam))
        if policy.cutmix:
            lam = jax.random.beta(cutmix_key, policy.cutmix, policy.cutmix)
            box_h = jnp.round(height * jnp.sqrt(1 - lam))
            box_w = jnp.round(width * jnp.sqrt(1 - lam))
            centre = jax.random.uniform(box_key, (2,)) * jnp.array([height, width])
            top, left = jnp.floor(centre[0] - box_h / 2), jnp.floor(centre[1] - box_w / 2)
            mask = ops.box_mask((height, width), top, left, box_h, box_w)
            kept = 1.0 - jnp.mean(mask.astype(jnp.float32))
            results.append((jnp.where(mask[:, :, None], partner, image), kept))
        if not results:
            return image, one_hot
        if len(results) == 2:
            use_cutmix = jax.random.bernoulli(choose_key)
            (mixed_a, lam_a), (mixed_b, lam_b) = results
            results = [(jnp.where(use_cutmix, mixed_b, mixed_a), jnp.where(use_cutmix, lam_b, lam_a))]
        mixed, lam = results[0]
        return mixed, lam * one_hot + (1 - lam) * partner_hot

    def mix_pairs(keys, images, partners, labels, partner_labels):
        _check_images(images)
        return jax.vmap(mix_one)(keys, images.astype(jnp.float32), partners.astype(jnp.float32), labels, partner_labels)

    return mix_pairs


def augmentation_columns(images, labels, policy_text: str, *, default: AugmentPolicy, num_classes: int, seed: int = 0,
                         colour_stats=None) -> dict:
    """{"original": images, "<op>": images with that op alone, ..., "all": the whole policy}, for a picture of
    what a policy does. Every column uses the same key, so row i is always example i; with mixup / cutmix,
    "all but mixing" shows the per-example ops alone. Batches keep their dtype (mixing gives float32)."""
    key = jax.random.PRNGKey(seed)
    policy = parse_policy(policy_text, default=default)
    columns = {"original": images}
    for token in [t for t in str(policy).split(",") if t != "none"]:
        alone = parse_policy(token, default=default)
        columns[token] = _apply_policy(alone, key, images, labels, num_classes, colour_stats)
    if len(columns) > 2 and policy.mixes:
        columns["all but mixing"] = _apply_policy(policy.per_example(), key, images, labels, num_classes, colour_stats)
    if len(columns) > 2:
        columns["all"] = _apply_policy(policy, key, images, labels, num_classes, colour_stats)
    return columns


def _apply_policy(policy, key, images, labels, num_classes, colour_stats):
    """The per-example ops with `key`, then mixup / cutmix (if any) with a key folded from it."""
    per_example = make_batch_augmenter(policy.per_example(), colour_stats if policy.needs_colour_stats else None)
    out = per_example(key, images)
    if policy.mixes:
        out, _ = make_batch_mixer(policy, num_classes)(jax.random.fold_in(key, 1), out, labels)
    return out
