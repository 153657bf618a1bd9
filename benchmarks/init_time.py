"""How long a model takes to initialise in a fresh process: eager `model.init` (jax's default, partitionable
threefry), eager under the legacy threefry stream, and `models.init_variables` (one compiled program, legacy stream).

    .venv/bin/python benchmarks/init_time.py                      # tiny_vgg, resnet20, airbench; 3 rounds
    .venv/bin/python benchmarks/init_time.py --nets=resnet56 --rounds=5

XLA:CPU compiles every operation that runs op by op, and each random draw on its own, so a first init is mostly
compile time; compiled programs are cached per process, so each timing starts a new Python. The variants run
interleaved (one of each per round) and the report gives medians. The time covers the init call only (from
after the imports to the variables being ready), in training mode as `create_train_state` initialises.
"""

import argparse
import json
import statistics
import subprocess
import sys

VARIANTS = ("eager, partitionable threefry", "eager, legacy threefry", "models.init_variables")

# Run in a fresh interpreter: prints the seconds one init of `net` took under `variant`.
_ONE_INIT = """
import json, sys, time
import jax, jax.numpy as jnp
from jaxcnn import models
net, variant = sys.argv[1:]
model = models.get_model(net, num_classes=10)
images = jnp.zeros((2, *models.get_spec(net).input_shape), jnp.float32)
key = jax.random.PRNGKey(0)
rngs = {"params": key, "dropout": key}
start = time.perf_counter()
if variant == "models.init_variables":
    variables = models.init_variables(model, rngs, images, train=True)
else:
    with jax.threefry_partitionable(variant.endswith("partitionable threefry")):
        variables = model.init(rngs, images, train=True)
jax.block_until_ready(variables)
print(json.dumps(time.perf_counter() - start))
"""


def one_init(net: str, variant: str) -> float:
    result = subprocess.run([sys.executable, "-c", _ONE_INIT, net, variant], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(nets: list[str], rounds: int) -> dict:
    """{net: {variant: [seconds per round]}}, the variants interleaved within each round."""
    times = {net: {variant: [] for variant in VARIANTS} for net in nets}
    for _ in range(rounds):
        for net in nets:
            for variant in VARIANTS:
                times[net][variant].append(one_init(net, variant))
    return times


def report(times: dict) -> str:
    lines = ["| net | " + " | ".join(VARIANTS) + " | eager (default) / init_variables |",
             "|---|" + "---:|" * (len(VARIANTS) + 1)]
    for net, by_variant in times.items():
        medians = [statistics.median(by_variant[variant]) for variant in VARIANTS]
        lines.append(f"| {net} | " + " | ".join(f"{m:.2f} s" for m in medians) + f" | {medians[0] / medians[-1]:.1f}x |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="tiny_vgg,resnet20,airbench", help="comma-separated zoo model names")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported")
    args = parser.parse_args(argv)
    print(report(measure(args.nets.split(","), args.rounds)))


if __name__ == "__main__":
    main()
