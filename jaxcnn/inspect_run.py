"""`python -m jaxcnn.inspect_run --workdir=DIR`: look inside a trained run.

Loads the run's best checkpoint (else its newest; checksums verified, the workdir only read) and its test split
(the run's own --classes), then writes to --out (default DIR/inspect/):
  confusion.png      the confusion matrix on every test example (rows: true class, as % of it)
  filters.png        the kernels of the first convolution
  feature_maps.png   the feature maps of one test image at every convolution
and prints the test accuracy and each class's accuracy. Mistakes print one line and exit with status 2.

    python -m jaxcnn.inspect_run --workdir=workdirs/fashion_mnist_tiny_vgg
"""

from __future__ import annotations

import argparse
import pathlib
import sys


def class_names(dataset: str, data_dir: str | None, classes: tuple[int, ...]) -> list[str]:
    """The dataset's label names (from TFDS's code; nothing is downloaded), for the run's classes."""
    import tensorflow_datasets as tfds

    names = tfds.builder(dataset, data_dir=data_dir).info.features["label"].names
    return [names[i] for i in classes] if classes else list(names)


def inspect(workdir, out_dir=None, *, image_index: int = 0, data_dir: str | None = None) -> dict:
    """Write the three PNGs for the run in `workdir`; returns {'accuracy', 'per_class', 'paths', ...}."""
    import numpy as np

    from jaxcnn import analysis, errors, transfer, viz
    from jaxcnn.data import get_dataset_spec, load_split, subsets
    from jaxcnn.train import build

    run = transfer.load_trained(workdir, flag="--workdir")
    config = run.config
    spec = get_dataset_spec(config.dataset)
    data_dir = data_dir or config.data_dir
    images, labels = subsets.select_classes(*load_split(config.dataset, "test", data_dir), config.class_ids())
    if not 0 <= image_index < len(labels):
        raise errors.ConfigError(f"--image_index={image_index} is not in [0, {len(labels)}) (the test split)")
    model = build.build_model(config)
    variables = {"params": run.params, "batch_stats": run.batch_stats}
    norm = {"mean": spec.mean, "std": spec.std}
    counts = analysis.confusion_matrix(labels, analysis.predict(model, variables, images, **norm),
                                       config.class_count())
    names = class_names(config.dataset, data_dir, config.class_ids())
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.inspect_run", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="the --workdir of a training run")
    parser.add_argument("--out", default=None, help="folder for the PNGs (default WORKDIR/inspect)")
    parser.add_argument("--image_index", type=int, default=0, help="test image whose feature maps are drawn")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: the run's)")
    args = parser.parse_args(argv)

    from jaxcnn import errors

    try:
        result = inspect(args.workdir, args.out, image_index=args.image_index, data_dir=args.data_dir)
    except errors.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{result['source']} checkpoint at step {result['step']}: test accuracy {100 * result['accuracy']:.2f}%")
    for name, accuracy in result["per_class"].items():
        print(f"  {name:>16s} {100 * accuracy:6.2f}%")
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
