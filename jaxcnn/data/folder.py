"""Image-folder datasets: `--dataset=folder:PATH`, one subfolder per class.

    PATH/train/<class>/*.png  and  PATH/test/<class>/*.jpg   the user's own split, or
    PATH/<class>/*                                            split here: a fixed, seeded 20% of each class is test

Class names are the subfolder names, sorted (label i is the i-th name). Each split's files are in a fixed,
seeded random order (as TFDS shuffles a dataset when it prepares it), so a run's validation hold-out (the last
examples of the training split) draws from every class. Images may be any format PIL reads
and any size: they are read as grayscale or RGB (the files' own: grayscale when every file is) and resized to
the run's size (the files' own when they all share one), by `jaxcnn.data.images`. Splits are 'train' or
'test', whole or with an integer slice ('test[:100]').
"""

import dataclasses
import functools
import pathlib

import numpy as np

from jaxcnn import errors
from jaxcnn.data import images as image_files
from jaxcnn.data.local_files import parse_split

PREFIX = "folder:"
TEST_FRACTION = 0.2
_SPLIT_SEED = 0  # the seeded split never depends on a run's --seed: every run of a folder sees the same test set


def is_folder_name(name: str) -> bool:
    return name.startswith(PREFIX)


def folder_root(name: str) -> pathlib.Path:
    root = pathlib.Path(name[len(PREFIX):]).expanduser().absolute()
    if not root.is_dir():
        raise errors.ConfigError(f"--dataset={name}: {root} is not a folder; give a folder with one subfolder per "
                                 "class")
    return root


@dataclasses.dataclass(frozen=True)
class FolderLayout:
    """The files of each split with their labels, and the class names."""

    class_names: tuple[str, ...]
    files: dict  # split name -> tuple of (path, label)


def _class_dirs(root: pathlib.Path) -> list[pathlib.Path]:
    return sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))


def _labelled_files(root: pathlib.Path, class_names) -> list[tuple[pathlib.Path, int]]:
    files = []
    for label, name in enumerate(class_names):
        folder = root / name
        if folder.is_dir():
            files += [(p, label) for p in sorted(folder.rglob("*")) if image_files.is_image_file(p)]
    return files


def _seeded_split(files: list[tuple[pathlib.Path, int]], num_classes: int) -> dict:
    """A fixed 20% of each class (at least one file where a class has two or more) is test, the rest train."""
    rng = np.random.default_rng(_SPLIT_SEED)
    train, test = [], []
    for label in range(num_classes):
        members = [f for f in files if f[1] == label]
        order = rng.permutation(len(members))
        cut = round(len(members) * TEST_FRACTION) or (1 if len(members) > 1 else 0)
        test += [members[i] for i in sorted(order[:cut])]
        train += [members[i] for i in sorted(order[cut:])]
    return {"train": tuple(train), "test": tuple(test)}


@functools.lru_cache(maxsize=8)
def layout(root: pathlib.Path) -> FolderLayout:
    """The folder's classes and split files; a one-line error when it has no class subfolders or images."""
    split_roots = {split: root / split for split in ("train", "test")}
    if split_roots["train"].is_dir():
        class_names = tuple(d.name for d in _class_dirs(split_roots["train"]))
        files = {split: tuple(_labelled_files(path, class_names)) for split, path in split_roots.items()}
        if split_roots["test"].is_dir():
            unknown = sorted({d.name for d in _class_dirs(split_roots["test"])} - set(class_names))
            if unknown:
                raise errors.ConfigError(f"{split_roots['test']} has classes that {split_roots['train']} lacks: "
                                         f"{', '.join(unknown)}")
        else:
            files = _seeded_split(list(files["train"]), len(class_names))
    else:
        class_names = tuple(d.name for d in _class_dirs(root))
        files = _seeded_split(_labelled_files(root, class_names), len(class_names))
    if len(class_names) < 2:
        raise errors.ConfigError(f"{root} needs a subfolder per class (at least two), holding that class's images; "
                                 f"found {len(class_names)}")
    for split, members in files.items():
        if not members:
            raise errors.ConfigError(f"{root} has no {split} images ({', '.join(image_files.EXTENSIONS)})")
    order = np.random.default_rng(_SPLIT_SEED)
    return FolderLayout(class_names, {split: tuple(members[i] for i in order.permutation(len(members)))
                                      for split, members in files.items()})


def native_shape(root: pathlib.Path) -> tuple[tuple[int, int] | None, int]:
    """((height, width) shared by every training image, or None where sizes differ; 1 channel when every
    image is grayscale, else 3), read from the files' headers."""
    sizes, channels = set(), set()
    for path, _ in layout(root).files["train"]:
        size, depth = image_files.probe(path)
        sizes.add(size)
        channels.add(depth)
    return (sizes.pop() if len(sizes) == 1 else None), max(channels)


@functools.lru_cache(maxsize=8)
def _read_split(root: pathlib.Path, split: str, size: tuple[int, int], channels: int) -> tuple[np.ndarray, np.ndarray]:
    members = layout(root).files[split]
    images = np.stack([image_files.read_image(path, size, channels) for path, _ in members])
    labels = np.array([label for _, label in members], np.int32)
    return images, labels


def load_split(root: pathlib.Path, split: str, size: tuple[int, int], channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 [N, *size, channels], int32 [N]) for 'train' or 'test' (whole or sliced: 'train[:100]')."""
    name, rows = parse_split(split, root)
    images, labels = _read_split(root, name, tuple(size), channels)
    rows = rows(len(labels))
    return images[rows], labels[rows]
