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

_SHOWCASE = "flip,crop2,rrcrop0.6,rotate10,shear10,elastic1.5,contrast0.4,cutout10,mixup0.4"


def augmentation_columns(images, labels, policy_text: str, *, default, num_classes: int, seed: int = 0,
                         colour_stats=None) -> dict:
    """{"original": images, "<op>": images with that op alone, ..., "all": the whole policy} as uint8 / float."""
    import jax

    from jaxcnn import augment

    key = jax.random.PRNGKey(seed)
    policy = augment.parse_policy(policy_text, default=default)
    columns = {"original": images}
    for token in [t for t in str(policy).split(",") if t != "none"]:
        alone = augment.parse_policy(token, default=default)
        columns[token] = _apply(alone, key, images, labels, num_classes, colour_stats)
    if len(columns) > 2 and policy.mixes:
        columns["all but mixing"] = _apply(policy.per_example(), key, images, labels, num_classes, colour_stats)
    if len(columns) > 2:
        columns["all"] = _apply(policy, key, images, labels, num_classes, colour_stats)
    return columns


def _apply(policy, key, images, labels, num_classes, colour_stats):
    import jax

    from jaxcnn import augment

    out = augment.make_batch_augmenter(policy.per_example(), colour_stats if policy.needs_colour_stats else None)(key, images)
    if policy.mixes:
        out, _ = augment.make_batch_mixer(policy, num_classes)(jax.random.fold_in(key, 1), out, labels)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxcnn.augment_grid", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist", help="TFDS dataset name (default fashion_mnist)")
    parser.add_argument("--augment", default=_SHOWCASE, help=f"policy, e.g. {_SHOWCASE}")
    parser.add_argument("--examples", type=int, default=8, help="rows: training images shown (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="augmentation key")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--out", default="augment_grid.png", help="PNG path to write")
    args = parser.parse_args(argv)

    import numpy as np

    from jaxcnn import augment, errors, viz
    from jaxcnn.data import get_dataset_spec, load_split, stats

    try:
        if args.examples < 1:
            raise errors.ConfigError(f"--examples must be positive, got {args.examples}")
        spec = get_dataset_spec(args.dataset)
        default = augment.AugmentPolicy(flip=spec.flip_by_default, crop_padding=spec.crop_padding)
        policy = augment.parse_policy(args.augment, default=default)
        images, labels = load_split(args.dataset, f"train[:{max(args.examples, 2)}]", args.data_dir)
        colour = stats.colour_stats(args.dataset, args.data_dir) if policy.needs_colour_stats else None
        columns = augmentation_columns(images, labels, args.augment, default=default, num_classes=spec.num_classes,
                                       seed=args.seed, colour_stats=colour)
        columns = {name: np.asarray(batch)[: args.examples] for name, batch in columns.items()}
        path = viz.plot_augmentation_grid(columns, args.out, title=f"{args.dataset} training images, augment={policy}")
    except errors.UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
