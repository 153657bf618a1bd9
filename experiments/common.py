"""The command line of every experiment script: flags generated from `TrainConfig`'s fields (their help,
choices and defaults written once, in `jaxcnn.train.config`), plus the flags that say where and how to run.

Each experiment parses into its own `FlagValues`, so several experiments can run in one process (tests).
JAX is imported only after the flags parse and the multi-host start-up, so `--help` is instant.
"""

import dataclasses

from absl import flags

from jaxcnn import cli
from jaxcnn.train import distributed  # touches no device: multi-host start-up comes first
from jaxcnn.train.config import TrainConfig

_FLAG_KINDS = {bool: "bool", int: "integer", float: "float", str: "string"}


def define_config_flags(fv: flags.FlagValues, config_class, *, defaults: dict | None = None,
                        choices: dict | None = None) -> None:
    """One flag per field of a config dataclass whose fields carry `help` and `choices` metadata (TrainConfig,
    DetectionConfig), with this script's `defaults` and `choices` where given."""
    defaults, choices = defaults or {}, choices or {}
    for field in dataclasses.fields(config_class):
        default, help_text = defaults.get(field.name, field.default), field.metadata["help"]
        allowed = choices.get(field.name, field.metadata["choices"])
        if allowed:
            flags.DEFINE_enum(field.name, default, list(allowed), help_text, flag_values=fv)
        else:
            kind = _FLAG_KINDS.get(field.type, "string")  # `str | None` fields are strings without a default
            getattr(flags, f"DEFINE_{kind}")(field.name, default, help_text, flag_values=fv)


def config_from(fv: flags.FlagValues, config_class):
    """The config the parsed flags describe (every field from its flag)."""
    return config_class(**{field.name: fv[field.name].value for field in dataclasses.fields(config_class)})


def define_flags(fv: flags.FlagValues, *, dataset: str, datasets: list[str], model: str) -> None:
    """One flag per TrainConfig field (this script's dataset choices and default model), then the run flags."""
    define_config_flags(fv, TrainConfig, defaults={"dataset": dataset, "model": model},
                        choices={"dataset": datasets} if datasets else None)
    flags.DEFINE_string("workdir", None, "Run directory: checkpoints, metrics, TensorBoard. Rerun to resume.", flag_values=fv)
    flags.DEFINE_bool("new_run", False, "Start over in a --workdir that holds another run: its files are moved to "
                      "workdir/archive/<UTC time>/ first (nothing is deleted).", flag_values=fv)
    flags.DEFINE_bool("allow_config_change", False, "Continue a run in --workdir with settings that differ from its "
                      "config.json (e.g. more --epochs): on purpose, recorded in workdir/history.jsonl. Without it such "
                      "a resume is refused with the differences named.", flag_values=fv)
    flags.DEFINE_bool("multihost", False, "Join a multi-process run through jax.distributed.initialize() using the "
                      "environment (srun, TPU VM --worker=all); automatic under srun with several tasks.", flag_values=fv)
    flags.DEFINE_string("coordinator_address", None, "Multi-host without a cluster environment: host:port of process 0.",
                        flag_values=fv)
    flags.DEFINE_integer("num_processes", None, "Multi-host: how many processes (with --coordinator_address).",
                         flag_values=fv)
    flags.DEFINE_integer("process_id", None, "Multi-host: this process's index in [0, num_processes) (with "
                         "--coordinator_address).", flag_values=fv)


def config_from_flags(fv: flags.FlagValues) -> TrainConfig:
    """The TrainConfig the parsed flags describe (every field from its flag)."""
    return config_from(fv, TrainConfig)


def parse(argv: list[str], fv: flags.FlagValues) -> None:
    """Parse `argv` into `fv`, or exit with a one-line message (unknown flag, bad value, missing --workdir)."""
    try:
        extra = fv(argv)
    except flags.Error as err:  # unknown flag, bad value, unreadable --flagfile ...
        cli.fail(f"{str(err).splitlines()[0].removeprefix('ERROR:: ')} (see --help)")
    except UnicodeDecodeError as err:  # absl reads flagfiles as text
        cli.fail(f"{_undecodable_flagfile(argv)} is not UTF-8 text (byte {err.object[err.start:err.start + 1]!r} at "
                 f"position {err.start}); save it as UTF-8")
    if len(extra) > 1:
        cli.fail(f"unexpected arguments {extra[1:]}; all options are --flags (see --help)")
    if not fv.workdir:
        cli.fail("--workdir is required: the directory for checkpoints and metrics (rerun to resume)")


def _undecodable_flagfile(argv: list[str]) -> str:
    """The first --flagfile named on the command line that is not UTF-8 (or 'a flagfile' if it is one they include)."""
    for arg in argv[1:]:
        if arg.startswith("--flagfile="):
            path = arg.removeprefix("--flagfile=")
            try:
                with open(path, encoding="utf-8") as f:
                    f.read()
            except UnicodeDecodeError:
                return f"--flagfile={path}"
            except OSError:
                continue
    return "a flagfile"


def main(argv: list[str], *, dataset: str, datasets: list[str], model: str) -> None:
    """Parse `argv` (program name first), train, and exit with a one-line message on any user error."""
    fv = flags.FlagValues()
    define_flags(fv, dataset=dataset, datasets=datasets, model=model)
    if any(arg in ("-h", "--help", "--helpfull", "--helpshort") for arg in argv[1:]):
        print(fv.get_help())
        return
    parse(argv, fv)
    from jaxcnn.train import loop, plan  # deferred for an instant --help; importing touches no device

    with cli.training_exit():
        config = config_from_flags(fv)
        plan.resolve(config)  # bad values fail here, before joining other processes
        distributed.initialize(fv.coordinator_address, fv.num_processes, fv.process_id, multihost=fv.multihost)
        loop.train_and_evaluate(config, fv.workdir, new_run=fv.new_run, allow_config_change=fv.allow_config_change)
