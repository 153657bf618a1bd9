"""`python -m jaxcnn.models NAME [--input HxWxC] [--num-classes N]`: per-layer table of a model.

`python -m jaxcnn.models --list` lists the registered models. Mistakes (an unknown name, a bad --input,
an input too small for the network) print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import re
import sys

from jaxcnn import errors


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'32x32x3' -> (32, 32, 3) (height x width x channels); '32x32' means one channel."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*(?:[xX,]\s*(\d+)\s*)?", text)
    if not match or min(int(g) for g in match.groups() if g is not None) < 1:
        raise errors.ConfigError(f"--input {text!r} is not HxWxC with positive sizes, e.g. --input 32x32x3")
    h, w, c = match.groups()
    return int(h), int(w), int(c or 1)


def main(argv: list[str] | None = None) -> int:
    """Print a model's per-layer table (or the model list); returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.models", description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", help="registered model name (see --list)")
    parser.add_argument("--input", help="input size HxWxC (default: the model's natural size)")
    parser.add_argument("--num-classes", type=int, default=None, help="outputs (default: 1000 for 224x224 models, else 10)")
    parser.add_argument("--list", action="store_true", help="list the registered models and exit")
    args = parser.parse_args(argv)

    from jaxcnn import models  # imported after parsing so that --help is instant
    from jaxcnn.models.summary import format_summary, summarize

    try:
        if args.list:
            names = models.list_models()
            width = max(len(n) for n in names)
            for name in names:
                spec = models.get_spec(name)
                h, w, c = spec.input_shape
                print(f"{name:<{width}}  {f'{h}x{w}x{c}':>11}  {spec.description}")
            return 0
        if not args.name:
            raise errors.ConfigError("give a model name, or --list to see them: python -m jaxcnn.models resnet18")
        spec = models.get_spec(args.name)
        input_shape = parse_input_shape(args.input) if args.input else spec.input_shape
        num_classes = args.num_classes or (1000 if spec.input_shape[0] >= 224 else 10)
        model = models.get_model(args.name, num_classes=num_classes)
        print(format_summary(args.name, summarize(model, input_shape)))
        return 0
    except errors.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
