"""BatchNorm's share of a train step: jaxcnn's `layers.BatchNorm` (norm_ops: a written-out derivative, sums as
products on CPU) against flax's BatchNorm (`layers.FlaxBatchNorm`: the formula left to `jax.grad`, XLA's
reductions), each in the same net's train step, interleaved in one process.

    .venv/bin/python benchmarks/batchnorm_step.py                            # tiny_vgg, resnet20, airbench
    .venv/bin/python benchmarks/batchnorm_step.py --nets=tiny_vgg --rounds=10

The step: forward in training mode, cross-entropy, `jax.value_and_grad`, optax SGD Nesterov, compiled with the
options jaxcnn compiles its steps with (`jaxcnn.xla_options`), batch 128, float32. Contenders take turns within
each round; the table gives the median milliseconds per step over every timed step, compilation apart.
"""

import argparse
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

from jaxcnn import layers, models, xla_options

NORMS = {"jaxcnn BatchNorm (norm_ops)": layers.BatchNorm, "flax BatchNorm (jax.grad)": layers.FlaxBatchNorm}


def compiled_step(net: str, norm, batch_size: int):
    """A () -> seconds function running one train step of `net` built with `norm`, and its compile seconds."""
    model = models.get_model(net, num_classes=10, norm=norm)
    shape = models.get_spec(net).input_shape
    images = jax.random.normal(jax.random.PRNGKey(0), (batch_size, *shape))
    labels = jax.random.randint(jax.random.PRNGKey(1), (batch_size,), 0, 10)
    variables = model.init(jax.random.PRNGKey(2), images[:2], train=False)
    tx = optax.sgd(0.01, 0.9, nesterov=True)

    def step(params, batch_stats, opt_state):
        def loss_fn(p):
            logits, updated = model.apply({"params": p, "batch_stats": batch_stats}, images, train=True,
                                          mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean(), updated["batch_stats"]
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state, loss

    state = [variables["params"], variables["batch_stats"], tx.init(variables["params"])]
    start = time.perf_counter()
    run = jax.jit(step).lower(*state).compile(xla_options.compiler_options(jax.default_backend()))
    jax.block_until_ready(run(*state))
    compile_seconds = time.perf_counter() - start

    def timed() -> float:
        begin = time.perf_counter()
        out = run(*state)
        jax.block_until_ready(out)
        state[:] = out[:3]
        return time.perf_counter() - begin
    return timed, compile_seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="tiny_vgg,resnet20,airbench")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="steps per contender per round")
    parser.add_argument("--batch_size", type=int, default=128)
    args = parser.parse_args(argv)
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}, batch {args.batch_size}, "
          f"load {open('/proc/loadavg').read().split()[:3] if sys.platform == 'linux' else 'n/a'}")
    print("| net | " + " | ".join(f"{name} ms/step" for name in NORMS) + " | speed-up | compile s |")
    print("|---|" + "---:|" * (len(NORMS) + 2))
    for net in args.nets.split(","):
        runs = {name: compiled_step(net, norm, args.batch_size) for name, norm in NORMS.items()}
        times = {name: [] for name in NORMS}
        for _ in range(args.rounds):
            for name, (timed, _) in runs.items():
                times[name].extend(timed() for _ in range(args.steps))
        medians = [1000 * statistics.median(times[name]) for name in NORMS]
        compiles = " / ".join(f"{runs[name][1]:.1f}" for name in NORMS)
        print(f"| {net} | " + " | ".join(f"{m:.1f}" for m in medians) + f" | {medians[1] / medians[0]:.2f}x | "
              f"{compiles} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
