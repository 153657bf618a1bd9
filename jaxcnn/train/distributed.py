"""Multi-host start-up: `jax.distributed.initialize()`, JAX's own multi-controller runtime.

Every process runs the same command; afterwards `jax.devices()` lists the devices of all of them and
one jit / pmap spans the lot. The coordinator comes from, in order:
  1. explicit --coordinator_address / --num_processes / --process_id (any launcher, or local tests);
  2. the environment JAX knows (SLURM's srun, Cloud TPU VM workers, Open MPI, Kubernetes) when
     --multihost is given, or automatically under srun with more than one task.
Must run before anything touches a device.
"""

import os

import jax

from jaxcnn import errors


def _slurm_tasks() -> int:
    try:
        return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)
    except ValueError:
        return 1


def check_explicit(coordinator_address: str | None, num_processes: int | None, process_id: int | None) -> bool:
    """True when the three explicit settings are given and consistent; one-line ConfigError when half given."""
    given = {"--coordinator_address": coordinator_address, "--num_processes": num_processes, "--process_id": process_id}
    if all(v is None for v in given.values()):
        return False
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise errors.ConfigError(f"{', '.join(missing)} missing: --coordinator_address, --num_processes and --process_id go together")
    host, _, port = coordinator_address.rpartition(":")
    if not host or not port.isdigit():
        raise errors.ConfigError(f"--coordinator_address={coordinator_address!r} must be host:port, e.g. node001:12355")
    if num_processes < 1:
        raise errors.ConfigError(f"--num_processes must be >= 1, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise errors.ConfigError(f"--process_id={process_id} must be in [0, {num_processes - 1}] for --num_processes={num_processes}")
    return True


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, multihost: bool = False) -> bool:
    """Join the multi-process runtime if this run is multi-host; returns whether it is.

    Single-process runs (the default: no flags, not under a multi-task srun) do nothing.
    """
    explicit = check_explicit(coordinator_address, num_processes, process_id)
    if not (explicit or multihost or _slurm_tasks() > 1):
        return False
    if jax.distributed.is_initialized():
        return True
    try:
        if explicit:
            jax.distributed.initialize(coordinator_address, num_processes, process_id)
        else:
            jax.distributed.initialize()
    except (RuntimeError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise errors.ConfigError(f"multi-host start-up failed: {first_line}") from err
    return True
