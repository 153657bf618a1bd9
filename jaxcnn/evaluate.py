"""`python -m jaxcnn.evaluate --workdir=DIR`: a trained run's accuracy, loss and per-class accuracy on a split
(`jaxcnn.evaluation`).

    python -m jaxcnn.evaluate --workdir=workdirs/fmnist                              best checkpoint, test split
    python -m jaxcnn.evaluate --workdir=workdirs/fmnist --split=validation --checkpoint=latest --tta=flip

--split: train (what the run trained on), validation (its hold-out), test, or any TFDS split ('test[:1000]').
--checkpoint: best (selected on validation), latest or a step. --tta: none, flip, shiftN, flip,shiftN (default:
the run's own). Reads the workdir only. Mistakes print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jaxcnn import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="the --workdir of a training run")
    parser.add_argument("--split", default="test", help="train, validation, test or a TFDS split string")
    parser.add_argument("--checkpoint", default="best", help="best, latest or a step number")
    parser.add_argument("--tta", default=None, help="test-time augmentation (default: the run's --tta)")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory (default: the run's)")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's notes on reading a run read-only
    from jaxcnn import evaluation  # after parsing: --help needs neither JAX nor TensorFlow

    with cli.user_errors_exit():
        result = evaluation.evaluate_run(args.workdir, args.split, checkpoint=args.checkpoint, tta=args.tta,
                                         data_dir=args.data_dir)
    print(f"{result['source']} checkpoint at step {result['step']}, split {result['split']!r} "
          f"({result['examples']} examples): loss {result['loss']:.4f}, accuracy {100 * result['accuracy']:.2f}%")
    if "tta_accuracy" in result:
        print(f"with test-time augmentation ({result['tta']}): loss {result['tta_loss']:.4f}, "
              f"accuracy {100 * result['tta_accuracy']:.2f}%")
    for name, accuracy in result["per_class"].items():
        print(f"  {name:>16s} {100 * accuracy:6.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
