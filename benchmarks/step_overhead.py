"""What jaxcnn's train step costs beyond a plain JAX step, and what XLA:CPU's options and jaxcnn's stored
convolution inputs do to it.

    .venv/bin/python benchmarks/step_overhead.py                     # every section, tiny_vgg
    .venv/bin/python benchmarks/step_overhead.py --section=options --nets=tiny_vgg,resnet20
    .venv/bin/python benchmarks/step_overhead.py --section=conv_input --nets=tiny_vgg,resnet20,airbench,resnet18_cifar
    .venv/bin/python benchmarks/step_overhead.py --section=pool_grad --nets=tiny_vgg,airbench
    .venv/bin/python benchmarks/step_overhead.py --section=batch --batch_sizes=32,64,128,256

`additions`: a minimal `jax.jit` step of the model the training stack builds (float input, optax SGD, loss and
gradients only) against the same step with what jaxcnn's real step adds, one at a time and all together: uint8
input normalised inside, jaxcnn's optimizer (masked weight decay, warmup-cosine), metric sums and the gradient
norm, donated state. `options`: jaxcnn's real step (config -> plan -> make_steps -> jit) compiled under several
XLA:CPU option sets. `conv_input`: the real step as jaxcnn compiles it (each convolution's input stored behind an
optimization barrier on CPU, `jaxcnn.conv_ops`) against the same step without the barrier. `pool_grad`: the real
step with max-pooling's tiling windows differentiated as blocks (`jaxcnn.pooling_ops`) against strided taps.
`batch`: the real step at several batch sizes, as images per second (the CPU's caches favour some sizes).
Contenders take turns within each round in one process; median ms per step.
"""

import argparse
import contextlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench_nets import DATASETS  # benchmarks/ is the script's directory
from jaxcnn import conv_ops, pooling_ops, xla_options
from jaxcnn.model_input import model_input
from jaxcnn.train import parallel
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.losses import cross_entropy, masked_sums
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.plan import build_model, resolve, step_recipe
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps

ADDITIONS = ("minimal", "uint8 input", "jaxcnn optimizer", "metric sums", "donated state", "all of them")
OPTIONS = {"YNNPACK off (jaxcnn's)": xla_options.compiler_options("cpu"), "XLA defaults": {},
           "YNNPACK off, vector width 512": {**xla_options.compiler_options("cpu"), "xla_cpu_prefer_vector_width": 512}}


def timer(compiled, state: list, *inputs):
    """A function that runs `compiled` once and returns its seconds; outputs carry over into `state`."""
    def timed() -> float:
        start = time.perf_counter()
        out = compiled(*state, *inputs)
        jax.block_until_ready(out)
        state[:] = out[:len(state)]
        return time.perf_counter() - start
    timed()
    return timed


def addition_step(net: str, kind: str, batch_size: int):
    """A timed step of `net` as built for training, minimal or with the additions `kind` names."""
    config = TrainConfig(dataset=DATASETS[net], model=net, batch_size=batch_size, augment="none")
    plan = resolve(config)
    model = build_model(plan)
    everything = kind == "all of them"
    tx = make_optimizer(config, steps_per_epoch=100) if everything or kind == "jaxcnn optimizer" else optax.sgd(0.1, 0.9)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (batch_size, *plan.image_shape), dtype=np.uint8))
    labels = jnp.asarray(rng.integers(0, plan.num_classes, batch_size).astype(np.int32))
    variables = model.init(jax.random.PRNGKey(0), jnp.zeros((2, *plan.image_shape)), train=False)

    def step(params, batch_stats, opt_state, images, labels):
        x = (model_input(images, *plan.input_stats, 0, False) if everything or kind == "uint8 input"
             else images.astype(jnp.float32))

        def loss_fn(p):
            logits, updated = model.apply({"params": p, "batch_stats": batch_stats}, x, train=True,
                                          mutable=["batch_stats"])
            per_example = cross_entropy(logits, labels, plan.num_classes, 0.0)
            return per_example.mean(), (updated["batch_stats"], logits, per_example)
        grads, (stats, logits, per_example) = jax.grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        sums = {}
        if everything or kind == "metric sums":
            sums = {**masked_sums(logits, labels, per_example, jnp.ones(len(labels), bool)),
                    "grad_norm": optax.global_norm(grads)}
        return optax.apply_updates(params, updates), stats, opt_state, sums

    donate = (0, 1, 2) if everything or kind == "donated state" else ()
    state = [variables["params"], variables["batch_stats"], tx.init(variables["params"])]
    compiled = jax.jit(step, donate_argnums=donate).lower(*state, images, labels).compile(
        xla_options.compiler_options(jax.default_backend()))
    return timer(compiled, state, images, labels)


def compiled_real_step(net: str, options: dict, batch_size: int):
    """(compiled step, state, batch): jaxcnn's real train step of `net` compiled with `options`, and its inputs."""
    config = TrainConfig(dataset=DATASETS[net], model=net, batch_size=batch_size, augment="none")
    plan = resolve(config)
    model, tx = build_model(plan), make_optimizer(config, steps_per_epoch=100)
    steps = make_steps(step_recipe(plan, model, frozenset()), tx, steps_per_epoch=100)
    state = create_train_state(model, tx, config.seed, plan.image_shape)
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 256, (batch_size, *plan.image_shape), dtype=np.uint8),
             "label": rng.integers(0, plan.num_classes, batch_size).astype(np.int32), "mask": np.ones(batch_size, bool)}
    batch = jax.device_put(batch, parallel.batch_sharded(parallel.make_mesh()))
    return jax.jit(steps.train_step, donate_argnums=0).lower(state, batch).compile(options), state, batch


def options_step(net: str, options: dict, batch_size: int):
    """A timed step of jaxcnn's real train step of `net`, compiled with `options`."""
    compiled, state, batch = compiled_real_step(net, options, batch_size)
    return timer(compiled, [state], batch)  # the step returns (state, metric sums): the state carries over


@contextlib.contextmanager
def conv_inputs_fused():
    """Steps built inside leave each convolution's input to XLA's fusion (no barrier): jaxcnn before conv_ops."""
    stored = conv_ops.stored_on_cpu
    conv_ops.stored_on_cpu = lambda x: x
    try:
        yield
    finally:
        conv_ops.stored_on_cpu = stored


@contextlib.contextmanager
def pool_tangents_by_taps():
    """Steps built inside differentiate every max-pool through strided taps (jaxcnn before the blocks form)."""
    blocks = pooling_ops._tangent_of_blocks
    pooling_ops._tangent_of_blocks = lambda padded, index, window: pooling_ops._tangent_of_taps(padded, index, window,
                                                                                               window)
    try:
        yield
    finally:
        pooling_ops._tangent_of_blocks = blocks


def with_and_without(net: str, batch_size: int, names: tuple[str, str], without) -> dict:
    """{names[0]: jaxcnn's real step, names[1]: the same step built inside the context manager `without`}."""
    options = xla_options.compiler_options(jax.default_backend())
    with without():
        other = options_step(net, options, batch_size)
    return {names[0]: options_step(net, options, batch_size), names[1]: other}


# (section, (jaxcnn's step, the step without the change), context manager that builds the latter)
SWITCHES = (("conv_input", ("inputs stored (jaxcnn)", "inputs fused (no barrier)"), conv_inputs_fused),
            ("pool_grad", ("blocks (jaxcnn)", "strided taps"), pool_tangents_by_taps))


def interleaved(contenders: dict, rounds: int, steps: int) -> dict:
    """Median milliseconds per step of each contender, taking turns within each round."""
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, timed in contenders.items():
            times[name].extend(timed() for _ in range(steps))
    return {name: 1000 * statistics.median(values) for name, values in times.items()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default="tiny_vgg", help="comma list of: " + ", ".join(DATASETS))
    parser.add_argument("--section", default="all",
                        choices=("all", "additions", "options", "conv_input", "pool_grad", "batch"))
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--batch_sizes", default="64,128", help="the batch section's sizes, a comma list")
    args = parser.parse_args(argv)
    print(f"{jax.devices()[0].device_kind}, jax {jax.__version__}, batch {args.batch_size}, "
          f"load {open('/proc/loadavg').read().split()[:3] if sys.platform == 'linux' else 'n/a'}")
    for net in args.nets.split(","):
        if args.section in ("all", "additions"):
            medians = interleaved({k: addition_step(net, k, args.batch_size) for k in ADDITIONS}, args.rounds, args.steps)
            print(f"{net} additions: " + ", ".join(f"{k} {m:.1f} ms" for k, m in medians.items()), flush=True)
        if args.section in ("all", "options"):
            medians = interleaved({k: options_step(net, o, args.batch_size) for k, o in OPTIONS.items()},
                                  args.rounds, args.steps)
            print(f"{net} options: " + ", ".join(f"{k} {m:.1f} ms" for k, m in medians.items()), flush=True)
        for section, names, without in SWITCHES:
            if args.section in ("all", section):
                medians = interleaved(with_and_without(net, args.batch_size, names, without), args.rounds, args.steps)
                print(f"{net} {section}: " + ", ".join(f"{k} {m:.1f} ms" for k, m in medians.items())
                      + f", speed-up {medians[names[1]] / medians[names[0]]:.2f}x", flush=True)
        if args.section in ("all", "batch"):
            sizes = [int(size) for size in args.batch_sizes.split(",")]
            options = xla_options.compiler_options(jax.default_backend())
            medians = interleaved({size: options_step(net, options, size) for size in sizes}, args.rounds, args.steps)
            print(f"{net} batch: " + ", ".join(f"{size}: {medians[size]:.1f} ms = {1000 * size / medians[size]:.0f} img/s"
                                               for size in sizes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
