"""Does the input pipeline keep up with the step? Images/s of streaming, on-device augmentation and train steps.

    .venv/bin/python -m benchmarks.input_pipeline [--runs=5] [--batch_size=128] [--stream_batches=60] [--steps=4]

Side by side in one process, on whatever JAX device is the default:
  streaming      TFDS + tf.data reading real Fashion-MNIST (decode, shuffle, batch), host batches; and the
                 same prefetched to the device (`jaxcnn.data.streaming.StreamingDataset.train_batches`)
  augmentation   the jitted per-example augmenter on a device batch: the Fashion-MNIST default (flip,crop2),
                 CIFAR's (flip,crop4 on 32x32x3) and a heavy policy (warps, colour, erasing) on 32x32x3
  train step     ResNet-20 (32x32x3, SGD) without and with flip,crop4 inside the step; tiny_vgg on Fashion-MNIST
Each figure is the median over --runs timed runs; compilation (first call) and pipeline start-up are
reported separately and excluded. Results and the machine they came from go in benchmarks/RESULTS.md.
"""

import argparse
import json
import platform
import statistics
import time

import jax
import numpy as np
import optax

from jaxcnn import augment, models
from jaxcnn.data import load_split, streaming
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import StepRecipe, make_steps

_HEAVY = "flip,crop4,rotate15,shear10,scale0.1,elastic2,brightness0.2,contrast0.2,saturation0.2,hue10,cutout8"


def _median_rate(run_once, images_per_run: int, runs: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        run_once()
        rates.append(images_per_run / (time.perf_counter() - start))
    return statistics.median(rates), rates


def bench_streaming(batch_size, batches, runs, on_device):
    spec = streaming.StreamSpec("fashion_mnist", "train")
    startup, rates = [], []
    for epoch in range(runs):
        start = time.perf_counter()
        if on_device:
            iterator = iter(streaming.StreamingDataset(spec).train_batches(seed=0, epoch=epoch, batch_size=batch_size))
        else:
            iterator = iter(streaming.host_train_batches(spec, batch_size=batch_size, seed=0, epoch=epoch))
        first = next(iterator)
        jax.block_until_ready(first) if on_device else None
        startup.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(batches):
            batch = next(iterator)
        jax.block_until_ready(batch) if on_device else None
        rates.append(batches * batch_size / (time.perf_counter() - start))
        del iterator
    return {"images_per_s": statistics.median(rates), "runs": rates, "startup_s": statistics.median(startup)}


def bench_augment(images, policy_text, runs, repeats=5):
    policy = augment.parse_policy(policy_text, default=augment.AugmentPolicy())
    fn = jax.jit(augment.make_batch_augmenter(policy))
    images = jax.device_put(images)
    start = time.perf_counter()
    fn(jax.random.PRNGKey(0), images).block_until_ready()
    compile_s = time.perf_counter() - start

    def run_once():
        out = None
        for i in range(repeats):
            out = fn(jax.random.PRNGKey(i + 1), images)
        out.block_until_ready()

    rate, rates = _median_rate(run_once, repeats * len(images), runs)
    return {"images_per_s": rate, "runs": rates, "compile_s": compile_s}


def bench_train_step(model_name, images, labels, policy_text, runs, steps, mean, std):
    model = models.get_model(model_name, num_classes=10)
    tx = optax.sgd(0.1, momentum=0.9, nesterov=True)
    policy = augment.parse_policy(policy_text, default=augment.AugmentPolicy())
    fns = make_steps(StepRecipe(model, num_classes=10, mean=mean, std=std, augment_fn=augment.make_batch_augmenter(policy)), tx)
    state = create_train_state(model, tx, 0, images.shape[1:])
    train_step = jax.jit(fns.train_step, donate_argnums=0)
    batch = jax.device_put({"image": images, "label": labels, "mask": np.ones(len(labels), bool)})
    start = time.perf_counter()
    state, metrics = train_step(state, batch)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - start
    holder = {"state": state}

    def run_once():
        state = holder["state"]
        for _ in range(steps):
            state, metrics = train_step(state, batch)
        jax.block_until_ready(metrics)
        holder["state"] = state

    rate, rates = _median_rate(run_once, steps * len(labels), runs)
    return {"images_per_s": rate, "runs": rates, "compile_s": compile_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--stream_batches", type=int, default=60, help="batches timed per streaming run")
    parser.add_argument("--steps", type=int, default=4, help="train steps timed per run")
    args = parser.parse_args()
    b = args.batch_size

    images, labels = load_split("fashion_mnist", f"train[:{b}]")
    cifar_like = np.repeat(np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)  # 32x32x3 real pixels
    results = {}
    results["stream host (fashion_mnist)"] = bench_streaming(b, args.stream_batches, args.runs, on_device=False)
    results["stream + prefetch to device"] = bench_streaming(b, args.stream_batches, args.runs, on_device=True)
    results["augment flip,crop2 28x28x1"] = bench_augment(images, "flip,crop2", args.runs)
    results["augment flip,crop4 32x32x3"] = bench_augment(cifar_like, "flip,crop4", args.runs)
    results["augment heavy 32x32x3"] = bench_augment(cifar_like, _HEAVY, args.runs)
    cifar_stats = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    results["train step resnet20 32x32x3"] = bench_train_step("resnet20", cifar_like, labels, "none", args.runs, args.steps, *cifar_stats)
    results["train step resnet20 + flip,crop4"] = bench_train_step("resnet20", cifar_like, labels, "flip,crop4", args.runs, args.steps, *cifar_stats)
    results["train step tiny_vgg 28x28x1 + flip,crop2"] = bench_train_step(
        "tiny_vgg", images, labels, "flip,crop2", args.runs, args.steps, (0.286,), (0.353,))

    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind} ({jax.devices()[0].platform}), "
          f"{platform.processor() or platform.machine()}, batch {b}, median of {args.runs} runs")
    print("| what | images/s (median) | all runs | compile / start-up s |")
    print("|---|---:|---|---:|")
    for name, r in results.items():
        extra = r.get("compile_s", r.get("startup_s"))
        print(f"| {name} | {r['images_per_s']:,.0f} | {', '.join(f'{x:,.0f}' for x in r['runs'])} | {extra:.2f} |")
    print(json.dumps({k: {kk: (round(vv, 2) if isinstance(vv, float) else [round(x, 1) for x in vv])
                          for kk, vv in v.items()} for k, v in results.items()}))


if __name__ == "__main__":
    main()
