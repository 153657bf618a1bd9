"""`python -m jaxcnn.predict --workdir=DIR FILE_OR_FOLDER...`: a trained run's top-k classes for image files
(`jaxcnn.prediction`).

    python -m jaxcnn.predict --workdir=workdirs/fmnist shoe.png photos/ --top_k=3
    python -m jaxcnn.predict --workdir=workdirs/fmnist photos/ --format=csv --out=predictions.csv

Each file (PNG, JPEG, BMP, GIF, TIFF, WebP; folders searched) is read as the run's training images were:
converted to its grayscale or RGB, resized to its size, normalised by its mean and std. Prints a table, or
writes CSV (file, rank, class, probability) or JSON to --out (never over an existing file). Mistakes print one
line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jaxcnn import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.predict", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="image files or folders of them")
    parser.add_argument("--workdir", required=True, help="the --workdir of a training run")
    parser.add_argument("--top_k", type=int, default=3, help="classes to report per image")
    parser.add_argument("--checkpoint", default="best", help="best, latest or a step number")
    parser.add_argument("--tta", default="none", help="test-time augmentation: none, flip, shiftN, flip,shiftN")
    parser.add_argument("--format", default=None, choices=("table", "csv", "json"),
                        help="output format (default: table on screen; by --out's extension otherwise)")
    parser.add_argument("--out", default=None, help="write the predictions to this new file instead of printing")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's notes on reading a run read-only
    from jaxcnn import prediction  # after parsing: --help needs neither JAX nor TensorFlow

    fmt = args.format or (args.out.rsplit(".", 1)[-1].lower() if args.out and args.out.lower().endswith(
        (".csv", ".json")) else "table")
    with cli.user_errors_exit():
        result = prediction.predict_files(args.workdir, args.paths, top_k=args.top_k, checkpoint=args.checkpoint,
                                          tta=args.tta)
        text = prediction.format_predictions(result["predictions"], fmt)
        if args.out:
            path = prediction.write_new(args.out, text)
    if args.out:
        print(f"{result['source']} checkpoint at step {result['step']}: wrote {len(result['predictions'])} "
              f"predictions to {path}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
