"""`python -m jaxcnn.inspect_run --workdir=DIR`: look inside a trained run (`jaxcnn.inspection`).

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
import sys

from jaxcnn import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.inspect_run", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="the --workdir of a training run")
    parser.add_argument("--out", default=None, help="folder for the PNGs (default WORKDIR/inspect)")
    parser.add_argument("--image_index", type=int, default=0, help="test image whose feature maps are drawn")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: the run's)")
    args = parser.parse_args(argv)
    from jaxcnn import inspection  # after parsing: --help needs neither JAX nor TensorFlow

    with cli.user_errors_exit():
        result = inspection.inspect_run(args.workdir, args.out, image_index=args.image_index, data_dir=args.data_dir)
    print(f"{result['source']} checkpoint at step {result['step']}: test accuracy {100 * result['accuracy']:.2f}%")
    for name, accuracy in result["per_class"].items():
        print(f"  {name:>16s} {100 * accuracy:6.2f}%")
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
