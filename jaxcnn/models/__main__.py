"""`python -m jaxcnn.models NAME [--input HxWxC] [--num-classes N]`: per-layer table of a model.

`python -m jaxcnn.models --list` lists the registered models. Mistakes (an unknown name, a bad --input,
an input too small for the network) print one line and exit with status 2. Python imports the
`jaxcnn.models` package (and so JAX) before this module runs, so nothing here is worth deferring.
"""

from __future__ import annotations

import argparse
import sys

from jaxcnn import cli
from jaxcnn.models import summary


def main(argv: list[str] | None = None) -> int:
    """Print a model's per-layer table (or the model list); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.models", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="registered model name (see --list)")
    parser.add_argument("--input", help="input size HxWxC (default: the model's natural size)")
    parser.add_argument("--num-classes", type=int, default=None, help="outputs (default: 1000 for 224x224 models, else 10)")
    parser.add_argument("--list", action="store_true", help="list the registered models and exit")
    args = parser.parse_args(argv)
    with cli.user_errors_exit():
        print(summary.model_list() if args.list else summary.model_table(args.name, args.input, args.num_classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
