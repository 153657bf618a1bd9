"""Look inside a trained run: the confusion matrix on its test split, its first-layer filters and the feature
maps of one test image, as PNGs, with the test accuracy and each class's accuracy.

Loads the run's best checkpoint (else its newest; checksums verified, the workdir only read) and its test split
(the run's own --classes). `python -m jaxcnn.inspect_run` is the command line.
"""

from __future__ import annotations

import pathlib

import numpy as np

from jaxcnn import analysis, errors, viz
from jaxcnn.data import load_split, subsets
from jaxcnn.train.plan import RunPlan, build_model
from jaxcnn.train.workdir import load_trained


def class_names(plan: RunPlan) -> list[str]:
    """The names of the run's outputs: the dataset's label names (for its --classes), then numbers for
    outputs beyond them (--num_classes wider than the dataset's labels)."""
    names = list(plan.dataset.class_names) or [str(i) for i in range(plan.dataset.num_classes)]
    names = [names[i] for i in plan.class_ids] if plan.class_ids else names
    return names + [str(i) for i in range(len(names), plan.num_classes)]


def inspect_run(workdir, out_dir=None, *, image_index: int = 0, data_dir: str | None = None) -> dict:
    """Write the three PNGs for the run in `workdir`; returns {'accuracy', 'per_class', 'paths', ...}."""
    run = load_trained(workdir, flag="--workdir")
    plan = run.plan
    config, spec = plan.config, plan.dataset
    data_dir = data_dir or config.data_dir
    images, labels = subsets.select_classes(*load_split(spec, "test", data_dir), plan.class_ids)
    if not 0 <= image_index < len(labels):
        raise errors.ConfigError(f"--image_index={image_index} is not in [0, {len(labels)}) (the test split)")
    model = build_model(plan)
    variables = run.variables
    norm = {"prepare": plan.model_input}  # standardised, resized and coloured as the run trained
    predictions = analysis.predict(model, variables, images, **norm)
    counts = analysis.confusion_matrix(labels, predictions, plan.num_classes)
    names = class_names(plan)
    out_dir = pathlib.Path(out_dir) if out_dir else run.workdir / "inspect"
    image = images[image_index]
    maps = analysis.feature_maps(model, variables, image, **norm)
    layer, kernel = analysis.first_conv_kernel(run.params, maps)
    accuracy = float(np.trace(counts) / counts.sum())
    what = f"{config.model} on {config.dataset}\n{run.source} checkpoint, step {run.step}"
    true, predicted = names[labels[image_index]], names[predictions[image_index]]
    verdict = "right" if true == predicted else "wrong"
    paths = [
        viz.plot_confusion_matrix(counts, names, out_dir / "confusion.png",
                                  title=f"{what}: test accuracy {100 * accuracy:.2f}%"),
        viz.plot_filters(kernel, out_dir / "filters.png", title=f"{what}\n{layer} kernels {'x'.join(map(str, kernel.shape))}"),
        viz.plot_feature_maps(image, maps, out_dir / "feature_maps.png",
                              title=f"{what}: test image {image_index}, true {true}, predicted {predicted} "
                                    f"({verdict})"),
    ]
    per_class = {name: float(counts[i, i] / max(counts[i].sum(), 1)) for i, name in enumerate(names)}
    return {"accuracy": accuracy, "per_class": per_class, "counts": counts, "paths": paths, "step": run.step,
            "source": run.source, "image": {"index": image_index, "true": true, "predicted": predicted}}
