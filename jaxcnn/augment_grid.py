"""`python -m jaxcnn.augment_grid --dataset=fashion_mnist --augment=POLICY --out=grid.png`: see what a policy does.

Writes a PNG grid of real training images: the originals, then one column per op of the policy applied
alone, then the whole policy without and with mixup / cutmix (applied last). Every column uses the same key,
so rows line up. Mistakes (an unknown op or dataset) print one line and exit with status 2.

    python -m jaxcnn.augment_grid --dataset=fashion_mnist \
        --augment=flip,crop2,rrcrop0.6,rotate10,shear10,elastic1.5,contrast0.4,cutout10,mixup0.4 \
        --out=benchmarks/augment_grid_fashion_mnist.png
"""

from __future__ import annotations

import argparse
import sys

from jaxcnn import cli

_SHOWCASE = "flip,crop2,rrcrop0.6,rotate10,shear10,elastic1.5,contrast0.4,cutout10,mixup0.4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.augment_grid", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", help="TFDS dataset name (default fashion_mnist)")
    parser.add_argument("--augment", default=_SHOWCASE, help=f"policy, e.g. {_SHOWCASE}")
    parser.add_argument("--examples", type=int, default=8, help="rows: training images shown (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="augmentation key")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--out", default="augment_grid.png", help="PNG path to write")
    args = parser.parse_args(argv)
    from jaxcnn import augment_preview  # after parsing: --help needs neither JAX nor TensorFlow

    with cli.user_errors_exit():
        path = augment_preview.write_augmentation_grid(args.dataset, args.augment, args.out, examples=args.examples,
                                                       seed=args.seed, data_dir=args.data_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
