"""`python -m jaxcnn.export --workdir=DIR --out=FOLDER`: a trained run as a `jax.export` artifact and a
TensorFlow SavedModel (`jaxcnn.exporting`).

    python -m jaxcnn.export --workdir=workdirs/fmnist --out=exported/fmnist
    python -m jaxcnn.export --workdir=workdirs/fmnist --out=exported/fmnist_step900 --checkpoint=900 --formats=jax

Both take uint8 images [batch, H, W, C] and return float32 logits (normalisation inside); FOLDER/model.json
names the classes. FOLDER must be new or empty: nothing is overwritten. Mistakes print one line and exit
with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from jaxcnn import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.export", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="the --workdir of a training run")
    parser.add_argument("--out", required=True, help="a new (or empty) folder for the exported files")
    parser.add_argument("--checkpoint", default="best", help="best, latest or a step number")
    parser.add_argument("--formats", default="jax,saved_model", help="comma list of: jax, saved_model")
    parser.add_argument("--batch_size", type=int, default=32, help="the SavedModel's inner batch (any batch is "
                        "accepted; it is computed in batches of this size)")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's notes on reading a run read-only
    from jaxcnn import exporting  # after parsing: --help needs neither JAX nor TensorFlow

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    with cli.user_errors_exit():
        result = exporting.export_run(args.workdir, args.out, checkpoint=args.checkpoint, formats=formats,
                                      batch_size=args.batch_size)
    print(f"{result['source']} checkpoint at step {result['step']}:")
    for path in result["paths"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
