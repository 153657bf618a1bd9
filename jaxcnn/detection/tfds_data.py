"""Any TFDS object-detection dataset by name (`voc/2007`, `coco/2017`, ...) as `DetectionSet`s: images letterboxed
onto a square canvas, boxes in the canvas's pixels, at most `max_objects` objects an image (the largest kept).

A detection dataset has an image and `objects`: a sequence with `bbox` (TFDS's normalised (ymin, xmin, ymax,
xmax)) and a ClassLabel `label`, whose names are the classes. COCO's crowd boxes (`is_crowd`: one box around a
group) are left out, as COCO's evaluation leaves them out of the matching. Nothing is downloaded here: a dataset
that is not prepared in `data_dir` is a one-line error that says how to prepare it.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from jaxcnn import errors
from jaxcnn.data.tfds_source import default_data_dir
from jaxcnn.detection.canvas_data import DetectionSet

# Datasets (or families) whose 'test' split carries no labels (COCO's test-dev, VOC 2012's): their test split is
# 'validation'.
UNLABELLED_TEST = ("coco", "voc/2012")
EXAMPLES = "voc/2007, voc/2012, coco/2017"


@dataclasses.dataclass(frozen=True)
class SplitNames:
    train: str
    validation: str
    test: str


@dataclasses.dataclass
class Dropped:
    """Objects left out of a split, of `total`: beyond `max_objects` (the smallest of an image), without area, crowd."""

    beyond_max: int = 0
    no_area: int = 0
    crowd: int = 0
    total: int = 0


def open_builder(name: str, data_dir: str | None):
    """The prepared TFDS builder of detection dataset `name`; one-line errors for an unknown name, a dataset
    that is not object detection and one that is not prepared in `data_dir`."""
    data_dir = data_dir or default_data_dir()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except ValueError as err:  # DatasetNotFoundError, an unknown config ('voc/1999'), ...
        why = str(err).splitlines()[0].split(" Here are ")[0]  # TFDS's list of close names follows on other lines
        raise errors.ConfigError(f"unknown dataset {name!r} ({why}); use fashion_canvas or a TFDS object-detection "
                                 f"dataset ({EXAMPLES})") from None
    check_detection_features(name, builder.info.features)
    if not builder.is_prepared():
        if type(builder).download_and_prepare.__module__.startswith("tensorflow_datasets.core"):
            raise errors.DatasetUnavailableError(
                f"detection dataset {name!r} is not prepared in {data_dir}; prepare it once, online: python -c "
                f"\"import tensorflow_datasets as tfds; tfds.builder('{name}', data_dir='{data_dir}')"
                f".download_and_prepare()\" (VOC and COCO are large downloads), or point --data_dir at a directory "
                f"where TFDS already prepared it")
        builder.download_and_prepare()  # tfds.testing.mock_data's: prepares nothing, needs no network
    return builder


def check_detection_features(name: str, features) -> None:
    """A ConfigError unless `features` has an image and objects/bbox (BBoxFeature) with a ClassLabel objects/label."""
    objects = features["objects"] if "objects" in features else None
    inner = getattr(objects, "feature", objects)  # a Sequence of a FeaturesDict, or the dict itself
    kinds = {key: type(inner[key]).__name__ for key in ("bbox", "label") if inner is not None and key in inner}
    if "image" not in features or kinds != {"bbox": "BBoxFeature", "label": "ClassLabel"}:
        described = ", ".join(f"{key} ({type(value).__name__})" for key, value in features.items())
        raise errors.ConfigError(f"dataset {name!r} is not object detection: jaxcnn needs image, objects/bbox "
                                 f"(BBoxFeature) and objects/label (ClassLabel), it has {described}; use a detection "
                                 f"dataset ({EXAMPLES})")


def class_names(builder) -> tuple[str, ...]:
    return tuple(builder.info.features["objects"]["label"].names)


def default_splits(name: str, available, validation_images: int) -> SplitNames:
    """train / validation / test where the user named none. The test split must carry labels (COCO's does not:
    its 'validation' is the test split then), and validation is never the test split: without a labelled
    split of its own, validation is held out of train (its last `validation_images` examples)."""
    available = set(available) or {"train", "validation", "test"}  # mock_data's metadata lists no splits
    labelled_test = "test" in available and not {name, name.split("/")[0]} & set(UNLABELLED_TEST)
    test = "test" if labelled_test else "validation"
    if "validation" in available and test != "validation":
        return SplitNames("train", "validation", test)
    return SplitNames(f"train[:-{validation_images}]", f"train[-{validation_images}:]", test)


def resolve_splits(name: str, builder, config) -> SplitNames:
    """The config's --train_split / --validation_split / --test_split, each defaulting to `default_splits`."""
    default = default_splits(name, builder.info.splits.keys(), config.validation_images)
    splits = SplitNames(config.train_split or default.train, config.validation_split or default.validation,
                        config.test_split or default.test)
    if splits.validation in (splits.train, splits.test):
        raise errors.ConfigError(f"--validation_split={splits.validation!r} is also the train or test split; the best "
                                 f"checkpoint must be chosen on data of its own (e.g. --validation_split=train[-1000:] "
                                 f"--train_split=train[:-1000])")
    return splits


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """`image` uint8 [h, w, C] scaled (bilinear) so that its longer side is `size`, at the top left of a black
    size x size canvas; returns (canvas, (height, width) it covers)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    covered = (max(1, min(size, round(height * scale))), max(1, min(size, round(width * scale))))
    canvas = np.zeros((size, size, image.shape[2]), np.uint8)
    resized = np.asarray(Image.fromarray(image.squeeze(-1) if image.shape[2] == 1 else image)
                         .resize(covered[::-1], Image.BILINEAR))
    canvas[:covered[0], :covered[1]] = resized.reshape(*covered, image.shape[2])
    return canvas, covered


def pixel_boxes(normalised_yxyx: np.ndarray, covered: tuple[int, int]) -> np.ndarray:
    """TFDS boxes (ymin, xmin, ymax, xmax) in [0, 1] of the image -> (x0, y0, x1, y1) pixels of its letterboxed
    copy covering (height, width) pixels."""
    boxes = np.asarray(normalised_yxyx, np.float32).reshape(-1, 4)
    height, width = covered
    return np.stack([boxes[:, 1] * width, boxes[:, 0] * height, boxes[:, 3] * width, boxes[:, 2] * height], axis=-1)


def keep_largest(boxes: np.ndarray, classes: np.ndarray, max_objects: int, dropped: Dropped):
    """The boxes with area, at most `max_objects` of them (the largest, in their original order); counts the rest."""
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1)
    positive = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    dropped.no_area += int(np.sum(~positive))
    order = [i for i in np.argsort(-area, kind="stable") if positive[i]]
    dropped.beyond_max += max(0, len(order) - max_objects)
    kept = np.sort(np.asarray(order[:max_objects], np.int64))
    return boxes[kept], classes[kept]


def load_split(builder, split: str, count: int, canvas_size: int, max_objects: int) -> tuple[DetectionSet, Dropped]:
    """The first `count` examples of `split` as a DetectionSet of `canvas_size` letterboxed images."""
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False).take(count)
    except ValueError as err:  # an unknown split, a bad slice, a slice beyond the split
        raise errors.ConfigError(f"{builder.name} cannot read split {split!r} ({str(err).splitlines()[0]}); name "
                                 f"another with --train_split / --validation_split / --test_split") from None
    images, boxes, classes, dropped = [], [], [], Dropped()
    for example in tfds.as_numpy(dataset):
        image, covered = letterbox(example["image"], canvas_size)
        objects = example["objects"]
        crowd = np.asarray(objects.get("is_crowd", np.zeros(len(objects["label"]), bool)), bool)
        n = min(len(objects["bbox"]), len(objects["label"]), len(crowd))  # equal, except in mock_data's examples
        solo = ~crowd[:n]
        dropped.total, dropped.crowd = dropped.total + n, dropped.crowd + int(n - solo.sum())
        kept_boxes, kept_classes = keep_largest(pixel_boxes(objects["bbox"][:n][solo], covered),
                                                np.asarray(objects["label"][:n][solo], np.int32), max_objects, dropped)
        images.append(image)
        boxes.append(np.zeros((max_objects, 4), np.float32))
        classes.append(np.full(max_objects, -1, np.int32))
        boxes[-1][:len(kept_boxes)], classes[-1][:len(kept_classes)] = kept_boxes, kept_classes
    if not images:
        raise errors.DatasetUnavailableError(f"split {split!r} of {builder.name!r} in {builder.data_dir} is empty")
    return DetectionSet(np.stack(images), np.stack(boxes), np.stack(classes)), dropped
