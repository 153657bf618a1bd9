"""See what an augmentation policy does: real training images, each op alone, then the whole policy, as a PNG.

`python -m jaxcnn.augment_grid` is the command line; `write_augmentation_grid` is the whole job, importable.
"""

from __future__ import annotations

import pathlib

import numpy as np

from jaxcnn import augment, errors, viz
from jaxcnn.data import get_dataset_spec, load_split, stats


def write_augmentation_grid(dataset: str, policy_text: str, out_path, *, examples: int = 8, seed: int = 0,
                            data_dir: str | None = None) -> pathlib.Path:
    """Write the grid of `augment.augmentation_columns` for the first `examples` training images of
    `dataset` (the dataset's own default policy stands for "default"); returns the PNG path."""
    if examples < 1:
        raise errors.ConfigError(f"--examples must be positive, got {examples}")
    spec = get_dataset_spec(dataset)
    default = augment.dataset_default(spec)
    policy = augment.parse_policy(policy_text, default=default)
    images, labels = load_split(dataset, f"train[:{max(examples, 2)}]", data_dir)
    colour = stats.colour_stats(dataset, data_dir) if policy.needs_colour_stats else None
    columns = augment.augmentation_columns(images, labels, policy_text, default=default,
                                           num_classes=spec.num_classes, seed=seed, colour_stats=colour)
    columns = {name: np.asarray(batch)[:examples] for name, batch in columns.items()}
    return viz.plot_augmentation_grid(columns, out_path, title=f"{dataset} training images, augment={policy}")
