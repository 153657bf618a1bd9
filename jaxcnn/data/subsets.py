"""Parts of a dataset: some of its classes (relabelled 0..k-1), a fixed random sample of its training examples.

Used for transfer-learning and low-data experiments: pretrain on some classes, then learn the others from
a few hundred examples (`--classes=5-9 --train_examples=500`). Both cuts are pure functions of their
arguments, so every process and every resumed run selects the same examples.
"""

import numpy as np

from jaxcnn import errors


def parse_classes(text: str, num_classes: int) -> tuple[int, ...]:
    """'5-9' or '0,2,4' or '0-3,7' -> the sorted class ids; a one-line error for anything else."""
    if not text.strip():
        return ()
    chosen = set()
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high if dash else low)
        except ValueError:
            raise errors.ConfigError(f"--classes={text!r}: {part.strip()!r} is not a class id or a range like 5-9") from None
        if not 0 <= first <= last < num_classes:
            raise errors.ConfigError(f"--classes={text!r}: {part.strip()!r} is outside the dataset's classes 0-{num_classes - 1}")
        chosen.update(range(first, last + 1))
    if len(chosen) < 2:
        raise errors.ConfigError(f"--classes={text!r} selects {len(chosen)} class; a classifier needs at least 2")
    return tuple(sorted(chosen))


def select_classes(images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The examples of `classes`, in their original order, labelled by position in `classes` (0..k-1)."""
    if not classes:
        return images, labels
    new_label = np.full(max(int(labels.max()), max(classes)) + 1, -1, np.int64)
    new_label[list(classes)] = np.arange(len(classes))
    keep = new_label[labels] >= 0
    return images[keep], new_label[labels[keep]].astype(labels.dtype)


def sample_examples(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` examples drawn without replacement by a generator seeded with `seed` (kept in their original
    order); all of them when `count` is 0. A one-line error when the split holds fewer."""
    if count == 0:
        return images, labels
    if count > len(labels):
        raise errors.ConfigError(f"--train_examples={count} but the training split holds {len(labels)} examples "
                                 "(after --classes); use at most that many, or 0 for all")
    chosen = np.sort(np.random.default_rng([seed, 0x5EB5E7]).choice(len(labels), count, replace=False))
    return images[chosen], labels[chosen]
