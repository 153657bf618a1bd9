"""jaxcnn's train step against PyTorch (eager NCHW, eager channels-last, torch.compile) on the same nets.

    .venv/bin/python benchmarks/step_vs_torch.py                       # all four nets, then the conv table
    .venv/bin/python benchmarks/step_vs_torch.py --nets=tiny_vgg --rounds=5 --section=steps

jaxcnn's step is the real one (config -> plan -> make_steps -> the jit data-parallel compile the training loop
uses, uint8 batch in, normalisation inside); PyTorch's twins (benchmarks/torch_nets.py) have the same layers
and parameter counts (checked). Batch 128, SGD Nesterov (lr 0.1, momentum 0.9, weight decay 5e-4), float32,
no augmentation. Contenders take turns in rounds within one process, so a busy machine slows all alike; the
table gives each one's median img/s over rounds, compilation timed apart. The second table times one
convolution's forward pass and its kernel gradient per layer shape in both frameworks (JAX's kernel gradient
under XLA's default options and under the options jaxcnn compiles its steps with, `jaxcnn.xla_options`). Needs PyTorch (an
optional benchmark dependency, never a runtime one).
"""

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

try:
    import torch
    from torch.nn import functional as F
except ImportError:
    sys.exit("benchmarks/step_vs_torch.py needs PyTorch: pip install torch")

import torch_nets  # noqa: E402  (benchmarks/ is the script's directory)
from bench_nets import DATASETS  # noqa: E402
from jaxcnn import xla_options  # noqa: E402
from jaxcnn.train import parallel  # noqa: E402
from jaxcnn.train.config import TrainConfig  # noqa: E402
from jaxcnn.train.optim import make_optimizer  # noqa: E402
from jaxcnn.train.plan import build_model, resolve, step_recipe  # noqa: E402
from jaxcnn.train.state import create_train_state  # noqa: E402
from jaxcnn.train.steps import make_steps  # noqa: E402

# (net, input H=W, channels in, channels out, kernel, stride, padding): each distinct conv of the four nets
CONV_SHAPES = [("tiny_vgg", 28, 1, 32, 3, 1, 1), ("tiny_vgg", 14, 32, 64, 3, 1, 1), ("tiny_vgg", 7, 64, 128, 3, 1, 1),
               ("resnet20", 32, 16, 16, 3, 1, 1), ("resnet20", 16, 32, 32, 3, 1, 1), ("resnet20", 8, 64, 64, 3, 1, 1),
               ("airbench", 31, 24, 64, 3, 1, 1), ("airbench", 15, 64, 256, 3, 1, 1), ("airbench", 7, 256, 256, 3, 1, 1),
               ("resnet18_cifar", 32, 64, 64, 3, 1, 1), ("resnet18_cifar", 16, 128, 128, 3, 1, 1),
               ("resnet18_cifar", 8, 256, 256, 3, 1, 1), ("resnet18_cifar", 4, 512, 512, 3, 1, 1)]


def jax_contender(net: str, batch_size: int):
    """(run(steps), trainable parameter count) for jaxcnn's compiled train step of `net`."""
    config = TrainConfig(dataset=DATASETS[net], model=net, batch_size=batch_size, augment="none",
                         optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-4, label_smoothing=0.0)
    plan = resolve(config)
    model, tx = build_model(plan), make_optimizer(config, steps_per_epoch=100)
    data_parallel = parallel.make_data_parallel("jit", parallel.make_mesh())
    state = data_parallel.create_state(lambda: create_train_state(model, tx, config.seed, plan.image_shape))
    train_step, _ = data_parallel.compile(make_steps(step_recipe(plan, model, frozenset()), tx, steps_per_epoch=100))
    rng = np.random.default_rng(0)
    batch = {"image": rng.integers(0, 256, (batch_size, *plan.image_shape), dtype=np.uint8),
             "label": rng.integers(0, 10, batch_size).astype(np.int32), "mask": np.ones(batch_size, bool)}
    batch = jax.device_put(batch, parallel.batch_sharded(data_parallel.mesh))
    holder = [state]

    def run(steps: int):
        for _ in range(steps):
            holder[0], _metrics = train_step(holder[0], batch)
        jax.block_until_ready(holder[0])

    return run, sum(x.size for x in jax.tree.leaves(state.params))


def torch_contender(net: str, batch_size: int, layout: str):
    """(run(steps), trainable parameter count) for the PyTorch twin: layout 'nchw', 'channels_last' or 'compile'
    (torch.compile of the channels-last model; the optimizer step stays eager)."""
    torch.manual_seed(0)
    model = torch_nets.NETS[net]()
    channels = 1 if net == "tiny_vgg" else 3
    size = 28 if net == "tiny_vgg" else 32
    images = torch.randn(batch_size, channels, size, size)
    labels = torch.randint(0, 10, (batch_size,))
    if layout != "nchw":
        model, images = model.to(memory_format=torch.channels_last), images.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9,
                                nesterov=True, weight_decay=5e-4)
    forward = torch.compile(model) if layout == "compile" else model

    def run(steps: int):
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(forward(images), labels).backward()
            optimizer.step()

    return run, torch_nets.trainable_parameters(model)


def time_contenders(contenders: dict, batch_size: int, rounds: int, steps: int) -> dict:
    """{name: (median img/s over rounds, first-call seconds)}; every contender runs `steps` steps per round, in
    turn, after a first call (compilation) and one warm-up step timed apart."""
    first = {}
    for name, run in contenders.items():
        start = time.perf_counter()
        run(1)
        first[name] = time.perf_counter() - start
        run(1)
    speeds = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run(steps)
            speeds[name].append(steps * batch_size / (time.perf_counter() - start))
    return {name: (statistics.median(speeds[name]), first[name]) for name in contenders}


def step_table(nets, batch_size: int, rounds: int, steps: int) -> list[str]:
    rows = ["| net | params | jaxcnn img/s | torch eager NCHW | torch eager channels-last | torch.compile "
            "| jaxcnn / best peer | first call s (jaxcnn / torch.compile) |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for net in nets:
        made = {"jaxcnn": jax_contender(net, batch_size)}
        for layout in ("nchw", "channels_last", "compile"):
            made[layout] = torch_contender(net, batch_size, layout)
        counts = {name: count for name, (_, count) in made.items()}
        if len(set(counts.values())) != 1:
            raise SystemExit(f"{net}: parameter counts differ: {counts}")
        result = time_contenders({name: run for name, (run, _) in made.items()}, batch_size, rounds, steps)
        speed = {name: result[name][0] for name in result}
        best_peer = max(speed["nchw"], speed["channels_last"], speed["compile"])
        rows.append(f"| {net} | {counts['jaxcnn']:,} | {speed['jaxcnn']:,.0f} | {speed['nchw']:,.0f} "
                    f"| {speed['channels_last']:,.0f} | {speed['compile']:,.0f} | {speed['jaxcnn'] / best_peer:.2f}x "
                    f"| {result['jaxcnn'][1]:.1f} / {result['compile'][1]:.1f} |")
        print(rows[-1], file=sys.stderr, flush=True)  # progress; the whole table follows on stdout
    return rows


def median_ms(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def conv_runs(batch: int, size: int, cin: int, cout: int, kernel: int, stride: int, padding: int):
    """{'jax fwd', 'jax kgrad', 'jaxcnn kgrad', 'torch fwd', 'torch kgrad'}: zero-argument calls to time for one
    conv shape ('jaxcnn kgrad': compiled with jaxcnn's CPU options; PyTorch in channels-last memory)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, size, size, cin)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(kernel, kernel, cin, cout)), jnp.float32)
    conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(x, w, (stride, stride), [(padding, padding)] * 2,
                                                              dimension_numbers=("NHWC", "HWIO", "NHWC")))
    g = conv(x, w)
    def kgrad_fn(x, w, g):
        return jax.vjp(lambda w: conv(x, w), w)[1](g)[0]

    kgrad, kgrad_ours = jax.jit(kgrad_fn), jax.jit(kgrad_fn, compiler_options=xla_options.compiler_options("cpu"))
    tx = torch.from_numpy(np.array(x)).permute(0, 3, 1, 2)  # NCHW shape, channels-last memory
    tw = torch.from_numpy(np.array(w)).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    tg = torch.from_numpy(np.array(g)).permute(0, 3, 1, 2)
    options = ([stride] * 2, [padding] * 2, [1, 1], False, [0, 0], 1)

    def torch_kgrad():
        torch.ops.aten.convolution_backward(tg, tx, tw, None, *options, [False, True, False])

    return {"jax fwd": lambda: conv(x, w).block_until_ready(),
            "jax kgrad": lambda: kgrad(x, w, g).block_until_ready(),
            "jaxcnn kgrad": lambda: kgrad_ours(x, w, g).block_until_ready(),
            "torch fwd": lambda: F.conv2d(tx, tw, None, stride, padding), "torch kgrad": torch_kgrad}


def conv_table(nets, batch_size: int, repeats: int) -> list[str]:
    rows = ["| net | input | conv | jax fwd ms | jax kgrad ms (XLA defaults / jaxcnn's options) | jax kgrad/fwd "
            "| torch fwd ms | torch kgrad ms | torch kgrad/fwd |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for net, size, cin, cout, kernel, stride, padding in CONV_SHAPES:
        if net not in nets:
            continue
        runs = conv_runs(batch_size, size, cin, cout, kernel, stride, padding)
        with torch.no_grad():
            ms = {name: median_ms(run, repeats) for name, run in runs.items()}
        rows.append(f"| {net} | {size}x{size}x{cin} | {kernel}x{kernel}/{stride} -> {cout} | {ms['jax fwd']:.1f} "
                    f"| {ms['jax kgrad']:.1f} / {ms['jaxcnn kgrad']:.1f} "
                    f"| {ms['jax kgrad'] / ms['jax fwd']:.1f} / {ms['jaxcnn kgrad'] / ms['jax fwd']:.1f} | {ms['torch fwd']:.1f} "
                    f"| {ms['torch kgrad']:.1f} | {ms['torch kgrad'] / ms['torch fwd']:.1f} |")
        print(rows[-1], file=sys.stderr, flush=True)  # progress; the whole table follows on stdout
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nets", default=",".join(DATASETS), help="comma list of: " + ", ".join(DATASETS))
    parser.add_argument("--section", default="all", choices=("all", "steps", "conv"))
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median reported)")
    parser.add_argument("--steps", type=int, default=3, help="train steps per contender per round")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch threads (0: one per core)")
    args = parser.parse_args()
    nets = [n for n in args.nets.split(",") if n]
    unknown = [n for n in nets if n not in DATASETS]
    if unknown:
        parser.error(f"unknown net(s) {unknown}; choose from {list(DATASETS)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"jax {jax.__version__}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, "
          f"batch {args.batch_size}, {args.rounds} rounds x {args.steps} steps", flush=True)
    if args.section in ("all", "steps"):
        print("\n".join(step_table(nets, args.batch_size, args.rounds, args.steps)), flush=True)
    if args.section in ("all", "conv"):
        print("\n".join(conv_table(nets, args.batch_size, max(3, args.rounds))), flush=True)
    print("load average (1, 5, 15 min) after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
