"""Look inside a trained run: the confusion matrix on its test split, its first-layer filters and the feature
maps of one test image, as PNGs, with the test accuracy and each class's accuracy.

Loads the run's best checkpoint (else its newest; checksums verified, the workdir only read) and its test split
(the run's own --classes). `python -m jaxcnn.inspect_run` is the command line.
"""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow_datasets as tfds

from jaxcnn import analysis, errors, viz
from jaxcnn.data import load_split, subsets
from jaxcnn.train.plan import build_model
from jaxcnn.train.workdir import load_trained


def class_names(dataset: str, data_dir: str | None, classes: tuple[int, ...]) -> list[str]:
    """The dataset's label names (from TFDS's code; nothing is downloaded), for the run's classes."""
    names = tfds.builder(dataset, data_dir=data_dir).info.features["label"].names
    return [names[i] for i in classes] if classes else list(names)


def inspect_run(workdir, out_dir=None, *, image_index: int = 0, data_dir: str | None = None) -> dict:
    """Write the three PNGs for the run in `workdir`; returns {'accuracy', 'per_class', 'paths', ...}."""
    run = load_trained(workdir, flag="--workdir")
    plan = run.plan
    config, spec = plan.config, plan.dataset
    data_dir = data_dir or config.data_dir
    images, labels = subsets.select_classes(*load_split(config.dataset, "test", data_dir), plan.class_ids)
    if not 0 <= image_index < len(labels):
        raise errors.ConfigError(f"--image_index={image_index} is not in [0, {len(labels)}) (the test split)")
    model = build_model(plan)
    variables = run.variables
    norm = {"mean": spec.mean, "std": spec.std}
    counts = analysis.confusion_matrix(labels, analysis.predict(model, variables, images, **norm),
                                       plan.num_classes)
    names = class_names(config.dataset, data_dir, plan.class_ids)
    if len(names) != len(counts):  # --num_classes wider than the dataset's labels
        names += [str(i) for i in range(len(names), len(counts))]
    out_dir = pathlib.Path(out_dir) if out_dir else run.workdir / "inspect"
    image = images[image_index]
    maps = analysis.feature_maps(model, variables, image, **norm)
    layer, kernel = analysis.first_conv_kernel(run.params, maps)
    accuracy = float(np.trace(counts) / counts.sum())
    what = f"{config.model} on {config.dataset}\n{run.source} checkpoint, step {run.step}"
    paths = [
        viz.plot_confusion_matrix(counts, names, out_dir / "confusion.png",
                                  title=f"{what}: test accuracy {100 * accuracy:.2f}%"),
        viz.plot_filters(kernel, out_dir / "filters.png", title=f"{what}\n{layer} kernels {'x'.join(map(str, kernel.shape))}"),
        viz.plot_feature_maps(image, maps, out_dir / "feature_maps.png",
                              title=f"{what}: test image {image_index} ({names[labels[image_index]]})"),
    ]
    per_class = {name: float(counts[i, i] / max(counts[i].sum(), 1)) for i, name in enumerate(names)}
    return {"accuracy": accuracy, "per_class": per_class, "counts": counts, "paths": paths, "step": run.step,
            "source": run.source}
