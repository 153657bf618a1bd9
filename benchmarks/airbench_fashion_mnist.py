"""airbench94's recipe (jaxcnn.recipes.airbench94) on Fashion-MNIST with a smaller AirbenchNet: how far the
recipe's ideas take the quickstart's problem per epoch, compared with TinyVGG in the training stack.

    .venv/bin/python benchmarks/airbench_fashion_mnist.py --widths=32,64,128 --epochs=6 --batch_size=512

Data: the training split's first 55,000 images train, its last 5,000 validate (the quickstart's hold-out), the
test split tests; standardised with the training images' mean and std. The net, initialisation (whitening from
the first 5,000 training images, dirac convolutions), optimizer, lookahead, alternating flip, 2-pixel translation
and TTA are airbench94's, through the recipe module's own functions. Prints validation and test accuracy after
every epoch (no TTA) and at the end with TTA levels 1 (mirror) and 2 (mirror + 1-pixel translations).
"""

import argparse
import dataclasses
import math
import sys
import time

import jax
import jax.numpy as jnp

from jaxcnn.data.tfds_source import load_split
from jaxcnn.models.airbench import AirbenchNet
from jaxcnn.recipes import airbench94 as recipe

VALIDATION = 5000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="32,64,128", help="the three conv groups' widths")
    parser.add_argument("--epochs", type=float, default=6.0)
    parser.add_argument("--batch_size", type=int, default=512)
    parser.add_argument("--data_dir", default=None)
    args = parser.parse_args(argv)
    hyp = dataclasses.replace(recipe.Hyperparameters(), epochs=args.epochs, batch_size=args.batch_size)
    images, labels = load_split("fashion_mnist", "train", args.data_dir)
    test_images, test_labels = load_split("fashion_mnist", "test", args.data_dir)
    mean, std = images[:-VALIDATION].mean() / 255, images[:-VALIDATION].std() / 255
    normal = lambda x: (jnp.asarray(x, jnp.float32) / 255.0 - mean) / std  # noqa: E731
    train_x, train_y = normal(images[:-VALIDATION]), jnp.asarray(labels[:-VALIDATION])
    splits = {"val": (normal(images[-VALIDATION:]), jnp.asarray(labels[-VALIDATION:])),
              "test": (normal(test_images), jnp.asarray(test_labels))}
    model = AirbenchNet(widths=tuple(int(w) for w in args.widths.split(",")), bn_momentum=0.6,
                        gelu_approximate=False)
    steps_per_epoch = len(train_y) // hyp.batch_size
    total_steps = math.ceil(steps_per_epoch * hyp.epochs)
    tx = recipe.make_optimizer(hyp, total_steps, steps_per_epoch)
    init_key, flip_key, data_key = jax.random.split(jax.random.PRNGKey(0), 3)
    variables = recipe.init_variables(model, init_key, train_x, hyp)
    state = recipe.State(variables["params"], variables["batch_stats"], tx.init(variables["params"]))
    step = recipe.make_train_step(model, tx, hyp)
    pad = hyp.translate
    padded = jnp.pad(recipe.first_epoch_flips(train_x, flip_key), ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                     mode="reflect")
    ema, done, start = None, 0, time.perf_counter()
    for epoch in range(math.ceil(hyp.epochs)):
        epoch_key, order_key = jax.random.split(jax.random.fold_in(data_key, epoch))
        state, ema, done, numbers = recipe.run_epoch(step, state, ema, recipe.epoch_images(padded, epoch_key, epoch, pad),
                                                     train_y, order_key, epoch=epoch, done=done,
                                                     total_steps=total_steps, hyp=hyp)
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        accuracy = {name: recipe.accuracy(model, variables, x, y, 0) for name, (x, y) in splits.items()}
        print(f"epoch {epoch + 1}  train {100 * numbers['train_accuracy']:.2f}%  val {100 * accuracy['val']:.2f}%  "
              f"test {100 * accuracy['test']:.2f}%  {time.perf_counter() - start:.0f} s", flush=True)
    for level in (1, 2):
        accuracy = {name: recipe.accuracy(model, variables, x, y, level) for name, (x, y) in splits.items()}
        print(f"TTA level {level}: val {100 * accuracy['val']:.2f}%  test {100 * accuracy['test']:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
