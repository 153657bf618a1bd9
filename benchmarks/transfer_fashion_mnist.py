"""Transfer learning on real Fashion-MNIST: does a backbone pretrained on classes 0-4 help learn classes 5-9
from 500 images?

    .venv/bin/python -m benchmarks.transfer_fashion_mnist [--seeds=0,1,2] [--workdir=workdirs/transfer_benchmark]

Runs, one after the other on this machine, with the recipes of the two flagfiles:
  pretrain   launch/flags/fashion_mnist_pretrain_0to4.flags (once, seed 0)
  scratch    launch/flags/fashion_mnist_transfer_5to9.flags without --init_from: random init, same recipe
  frozen     the same from the pretrained backbone, --backbone_lr_scale=0 (a fixed feature extractor + new head)
  finetune   ... --backbone_lr_scale=0.1
  full       ... --backbone_lr_scale=1 (the flagfile as written)
Every target variant runs for each seed; the seed also draws the 500 training images, so the spread covers
both. Prints a markdown table (test accuracy on the 5,000 test images of classes 5-9: median and each seed;
minutes per run) to record in benchmarks/RESULTS.md. Runs already finished in --workdir are not repeated.
"""

import argparse
import dataclasses
import pathlib
import statistics
import time

from absl import flags

from experiments import common
from jaxcnn import cli
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.plan import resolve

FLAGS_DIR = pathlib.Path(__file__).resolve().parents[1] / "launch" / "flags"
VARIANTS = {"scratch": None, "frozen": 0.0, "finetune": 0.1, "full": 1.0}  # --backbone_lr_scale (None: no transfer)


def config_from_flagfile(name: str, **overrides):
    """The TrainConfig that `python -m experiments.mnist --flagfile=launch/flags/<name>` would train, checked
    (`resolve`: a one-line ConfigError for a bad setting)."""
    fv = flags.FlagValues()
    common.define_flags(fv, dataset="fashion_mnist", datasets=["mnist", "fashion_mnist"], model="tiny_vgg")
    fv(["transfer_fashion_mnist", f"--flagfile={FLAGS_DIR / name}"])
    config = dataclasses.replace(common.config_from_flags(fv), progress_bar=False, **overrides)
    resolve(config)
    return config


def target_config(seed: int, scale: float | None, pretrain_dir: pathlib.Path):
    """The transfer flagfile's run for one seed and --backbone_lr_scale (None: from scratch, no --init_from)."""
    transfer = {"init_from": str(pretrain_dir), "backbone_lr_scale": scale} if scale is not None else \
        {"init_from": None, "backbone_lr_scale": 1.0}
    return config_from_flagfile("fashion_mnist_transfer_5to9.flags", seed=seed, **transfer)


def timed_run(config, workdir: pathlib.Path) -> tuple[dict, float]:
    start = time.perf_counter()
    final = train_and_evaluate(config, workdir)
    return final, (time.perf_counter() - start) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--workdir", default="workdirs/transfer_benchmark")
    args = parser.parse_args()
    root = pathlib.Path(args.workdir).absolute()
    seeds = [int(s) for s in args.seeds.split(",")]

    pretrain_dir = root / "pretrain_0to4"
    with cli.user_errors_exit():  # every config is checked before the first run starts
        pretrain = config_from_flagfile("fashion_mnist_pretrain_0to4.flags")
        targets = {variant: [target_config(seed, scale, pretrain_dir) for seed in seeds]
                   for variant, scale in VARIANTS.items()}
        pretrained, pretrain_minutes = timed_run(pretrain, pretrain_dir)
    rows = [f"| pretrain (classes 0-4, all 30,000 images) | {100 * pretrained['test_accuracy']:.2f}% | | "
            f"{pretrain_minutes:.1f} |"]
    for variant, configs in targets.items():
        accuracies, minutes = [], []
        for seed, config in zip(seeds, configs, strict=True):
            with cli.user_errors_exit():
                final, run_minutes = timed_run(config, root / f"{variant}_seed{seed}")
            accuracies.append(100 * final["test_accuracy"])
            minutes.append(run_minutes)
        every = ", ".join(f"{a:.2f}" for a in accuracies)
        rows.append(f"| {variant} (classes 5-9, 500 images) | {statistics.median(accuracies):.2f}% | {every} | "
                    f"{statistics.median(minutes):.1f} |")
    print(f"seeds {seeds}; minutes include compilation; a finished run rerun in {root} reports its stored result")
    print("| run | test accuracy (median) | each seed | minutes (median) |")
    print("|---|---:|---|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
