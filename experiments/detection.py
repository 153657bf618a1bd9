"""Train the CenterNet detector (jaxcnn.detection) on the offline Fashion-MNIST detection canvases, or on any TFDS
object-detection dataset prepared in --data_dir (--dataset=voc/2007, coco/2017, ...).

    python -m experiments.detection --flagfile=launch/flags/fashion_mnist_detection.flags --workdir=workdirs/det
    python -m experiments.detection --flagfile=launch/flags/voc2007_detection.flags --workdir=workdirs/det_voc

Flags are generated from `DetectionConfig`'s fields (help, choices and defaults written once, in
jaxcnn/detection/config.py). Rerun the same command to resume; --new_run archives an earlier run first.
"""

import sys

from absl import flags

from experiments import common
from jaxcnn import cli
from jaxcnn.detection.config import DetectionConfig


def define_flags(fv: flags.FlagValues) -> None:
    common.define_config_flags(fv, DetectionConfig)
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, pictures. Rerun to resume.", flag_values=fv)
    flags.DEFINE_bool("new_run", False, "Move an earlier run's files in --workdir to workdir/archive/<UTC time>/ "
                      "first (nothing is deleted).", flag_values=fv)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv if argv is None else argv
    fv = flags.FlagValues()
    define_flags(fv)
    if any(arg in ("-h", "--help", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(fv.get_help())
        return
    common.parse(argv, fv)
    from jaxcnn.detection import loop  # deferred for an instant --help

    config = common.config_from(fv, DetectionConfig)
    with cli.training_exit():
        loop.train_and_evaluate(config, fv.workdir, new_run=fv.new_run)


if __name__ == "__main__":
    main()
