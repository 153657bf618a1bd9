"""Train the CenterNet detector on the offline Fashion-MNIST detection canvases (jaxcnn.detection).

    python -m experiments.detection --flagfile=launch/flags/fashion_mnist_detection.flags --workdir=workdirs/det

Flags are generated from `DetectionConfig`'s fields (help, choices and defaults written once, in
jaxcnn/detection/config.py). Rerun the same command to resume; --new_run archives an earlier run first.
"""

import dataclasses
import sys

from absl import flags

from jaxcnn import cli
from jaxcnn.detection.config import DetectionConfig

_FLAG_KINDS = {bool: "bool", int: "integer", float: "float", str: "string"}


def define_flags(fv: flags.FlagValues) -> None:
    for field in dataclasses.fields(DetectionConfig):
        default, help_text, choices = field.default, field.metadata["help"], field.metadata["choices"]
        if choices:
            flags.DEFINE_enum(field.name, default, list(choices), help_text, flag_values=fv)
        else:
            getattr(flags, f"DEFINE_{_FLAG_KINDS.get(field.type, 'string')}")(field.name, default, help_text,
                                                                               flag_values=fv)
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
    try:
        extra = fv(argv)
    except flags.Error as err:
        cli.fail(f"{str(err).splitlines()[0].removeprefix('ERROR:: ')} (see --help)")
    if len(extra) > 1:
        cli.fail(f"unexpected arguments {extra[1:]}; all options are --flags (see --help)")
    if not fv.workdir:
        cli.fail("--workdir is required: the directory for checkpoints and metrics (rerun to resume)")
    from jaxcnn.detection import loop  # deferred for an instant --help

    config = DetectionConfig(**{field.name: fv[field.name].value for field in dataclasses.fields(DetectionConfig)})
    try:
        with cli.user_errors_exit():
            loop.train_and_evaluate(config, fv.workdir, new_run=fv.new_run)
    except KeyboardInterrupt:
        cli.fail("stopped before a new checkpoint could be saved; rerun to resume", status=130, label="interrupted")


if __name__ == "__main__":
    main()
