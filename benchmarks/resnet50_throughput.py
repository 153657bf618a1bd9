"""ResNet-50 training and inference throughput (img/s, total and per device) with jaxcnn's own train step.

    .venv/bin/python benchmarks/resnet50_throughput.py                       # 224x224, bf16, batch 256 per device
    .venv/bin/python benchmarks/resnet50_throughput.py --image_size=64 --per_device_batch=8 \
        --dtypes=float32,bfloat16 --steps=3 --rounds=3                       # a CPU-sized comparison

The step is the one training runs (TrainConfig -> RunPlan -> build_model / make_optimizer / step_recipe ->
make_steps -> `parallel.make_data_parallel("jit", mesh)`): SGD Nesterov (momentum 0.9, weight decay 5e-5 on
kernels), compute in --dtype with float32 parameters, optimizer state and BatchNorm statistics, the batch
sharded over a mesh of every local device. Batches are synthetic uint8 images and labels, put on the devices
once (normalisation runs inside the step, augmentation is off), so the figure is the step's, not an input
pipeline's. The eval figure is the evaluation step (forward pass, inference-mode BatchNorm). Compilation is
timed apart; then train and eval steps of every dtype take turns for --rounds rounds of --steps steps, and each
gets the img/s of its median round. "bf16 convs" counts the convolutions of the lowered train step whose result is
bfloat16 (what the program asks of XLA; XLA:CPU may carry them out in float32).
"""

import argparse
import datetime
import json
import re
import statistics
import sys
import time

import jax
import numpy as np

from jaxcnn.augment import AugmentPolicy
from jaxcnn.data.catalog import DatasetSpec
from jaxcnn.model_input import IMAGENET_MEAN, IMAGENET_STD
from jaxcnn.train import parallel
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.evaluate import TTAViews
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.plan import RunPlan, build_model, step_recipe
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps

NUM_CLASSES = 1000
COLUMNS = ("model", "image", "dtype", "devices", "device kind", "batch / device", "train img/s",
           "train img/s / device", "eval img/s", "eval img/s / device", "compile s (train / eval)", "bf16 convs",
           "jax", "date")
_CONV = re.compile(r"stablehlo\.convolution.*->\s*tensor<[^>]*x(bf16|f32|f16)>")


def synthetic_plan(model: str, dtype: str, image_size: int, global_batch: int) -> RunPlan:
    """The plan of an ImageNet-shaped run (1000 classes, ImageNet statistics) on synthetic images: built here,
    since `plan.resolve` would look its dataset up in TFDS; the config's own checks still run."""
    config = TrainConfig(dataset="synthetic", model=model, num_classes=NUM_CLASSES, batch_size=global_batch,
                         optimizer="sgd", learning_rate=0.1, momentum=0.9, weight_decay=5e-5, augment="none",
                         dtype=dtype, input_norm="imagenet", warmup_epochs=0.0)
    problems = config.problems()
    if problems:
        raise SystemExit(problems[0])
    spec = DatasetSpec("synthetic", (image_size, image_size, 3), NUM_CLASSES, global_batch, global_batch,
                       IMAGENET_MEAN, IMAGENET_STD, flip_by_default=True)
    return RunPlan(config, spec, (), NUM_CLASSES, AugmentPolicy(), TTAViews())


def synthetic_batch(plan: RunPlan, mesh) -> dict:
    """One global batch of random uint8 images and labels, sharded over the mesh's data axis."""
    rng = np.random.default_rng(0)
    size = plan.config.batch_size
    batch = {"image": rng.integers(0, 256, (size, *plan.image_shape), dtype=np.uint8),
             "label": rng.integers(0, NUM_CLASSES, size).astype(np.int32), "mask": np.ones(size, bool)}
    return jax.device_put(batch, parallel.batch_sharded(mesh))


def count_convs(stablehlo: str) -> tuple[int, int]:
    """(bfloat16 convolutions, all convolutions) of a lowered program's StableHLO text."""
    dtypes = _CONV.findall(stablehlo)
    return dtypes.count("bf16"), len(dtypes)


def contenders(plan: RunPlan, mesh) -> tuple[dict, dict]:
    """({'train': run(steps), 'eval': run(steps)}, facts): the plan's compiled steps on one resident batch;
    facts hold the compile seconds of each and the bf16 / all convolution counts of the train step."""
    model, tx = build_model(plan), make_optimizer(plan.config, steps_per_epoch=1000)
    data_parallel = parallel.make_data_parallel("jit", mesh)
    state = data_parallel.create_state(lambda: create_train_state(model, tx, plan.config.seed, plan.image_shape))
    train_jit, eval_jit = data_parallel.compile(make_steps(step_recipe(plan, model, frozenset()), tx,
                                                           steps_per_epoch=1000))
    batch = synthetic_batch(plan, mesh)
    start = time.perf_counter()
    lowered = train_jit.lower(state, batch)
    train_step = lowered.compile()
    train_compile = time.perf_counter() - start
    start = time.perf_counter()
    eval_step = eval_jit.lower(state, batch).compile()
    eval_compile = time.perf_counter() - start
    holder = [state]

    def train(steps: int):
        for _ in range(steps):
            holder[0], _metrics = train_step(holder[0], batch)
        jax.block_until_ready(holder[0])

    def evaluate(steps: int):
        sums = [eval_step(holder[0], batch) for _ in range(steps)]
        jax.block_until_ready(sums)

    facts = {"compile_s": (train_compile, eval_compile), "convs": count_convs(lowered.as_text())}
    return {"train": train, "eval": evaluate}, facts


def seconds_for(run, steps: int) -> float:
    start = time.perf_counter()
    run(steps)
    return time.perf_counter() - start


def median_speeds(runs: dict, images_per_step: int, rounds: int, steps: int) -> dict:
    """{name: img/s of the median round}: each run warms up with one step, then all take turns each round, so a
    busy machine slows them alike."""
    for run in runs.values():
        run(1)
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            seconds[name].append(seconds_for(run, steps))
    return {name: steps * images_per_step / statistics.median(times) for name, times in seconds.items()}


def measure(args) -> list[dict]:
    """One result per dtype: throughputs, compile seconds, convolution dtypes and the machine."""
    devices = jax.local_devices()
    mesh = parallel.make_mesh(devices)
    global_batch = args.per_device_batch * len(devices)
    runs, facts = {}, {}
    for dtype in args.dtypes:
        plan = synthetic_plan(args.model, dtype, args.image_size, global_batch)
        made, facts[dtype] = contenders(plan, mesh)
        runs.update({(dtype, name): run for name, run in made.items()})
    speeds = median_speeds(runs, global_batch, args.rounds, args.steps)
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    results = []
    for dtype in args.dtypes:
        train, evaluate = speeds[(dtype, "train")], speeds[(dtype, "eval")]
        results.append({
            "model": args.model, "image_size": args.image_size, "dtype": dtype, "devices": len(devices),
            "device_kind": devices[0].device_kind, "per_device_batch": args.per_device_batch,
            "train_img_s": train, "train_img_s_per_device": train / len(devices), "eval_img_s": evaluate,
            "eval_img_s_per_device": evaluate / len(devices), "compile_s": list(facts[dtype]["compile_s"]),
            "bf16_convs": facts[dtype]["convs"][0], "convs": facts[dtype]["convs"][1], "jax": jax.__version__,
            "date": today, "steps": args.steps, "rounds": args.rounds})
    return results


def markdown_row(result: dict) -> str:
    compile_s = result["compile_s"]
    cells = (result["model"], f"{result['image_size']}x{result['image_size']}", result["dtype"], result["devices"],
             result["device_kind"], result["per_device_batch"], f"{result['train_img_s']:,.1f}",
             f"{result['train_img_s_per_device']:,.1f}", f"{result['eval_img_s']:,.1f}",
             f"{result['eval_img_s_per_device']:,.1f}", f"{compile_s[0]:.1f} / {compile_s[1]:.1f}",
             f"{result['bf16_convs']}/{result['convs']}", result["jax"], result["date"])
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", help="a jaxcnn model name (python -m jaxcnn.models --list)")
    parser.add_argument("--image_size", type=int, default=224, help="square input size, pixels")
    parser.add_argument("--per_device_batch", type=int, default=0,
                        help="images per device per step (0: 256 on GPU/TPU, 8 on CPU)")
    parser.add_argument("--dtypes", default="bfloat16", help="comma list of compute dtypes: float32, bfloat16")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; each figure is the median")
    parser.add_argument("--json", action="store_true", help="print one JSON object per dtype instead of a table")
    args = parser.parse_args(argv)
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    bad = [d for d in args.dtypes if d not in ("float32", "bfloat16")]
    if bad or not args.dtypes:
        parser.error(f"--dtypes: use float32 and/or bfloat16, got {bad or 'nothing'}")
    if min(args.image_size, args.steps, args.rounds, args.per_device_batch + 1) < 1 or args.per_device_batch < 0:
        parser.error("--image_size, --steps and --rounds must be positive, --per_device_batch >= 0")
    if not args.per_device_batch:
        args.per_device_batch = 8 if jax.default_backend() == "cpu" else 256
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    results = measure(args)
    if args.json:
        for result in results:
            print(json.dumps(result))
        return 0
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "|".join("---" if i < 6 or i > 10 else "---:" for i in range(len(COLUMNS))) + "|")
    for result in results:
        print(markdown_row(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
