"""Data parallelism over every device of every process, two ways that give the same numbers.

`--parallel=jit` (default): `jax.jit` over a `Mesh` with one `data` axis. The batch is sharded on it,
parameters and optimizer state are replicated; XLA inserts the gradient all-reduce, and BatchNorm
statistics are computed over the global batch.

`--parallel=pmap`: the same pure step under `jax.pmap` (axis `batch`): each device runs its shard of
the batch and the step averages gradients (`pmean`), adds metric sums (`psum`) and computes BatchNorm
statistics over the axis (the model is built with a BatchNorm `norm` over that axis).

Both take and give the state in one "global" layout, replicated `jax.Array`s on the mesh (that is what
checkpoints hold, so a run can resume under either mode), and both take the global batch sharded on the
`data` axis, as the device-resident dataset gathers it. Under pmap the state lives stacked per device
between `to_step_layout` and `to_global`.
"""

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxcnn import errors, xla_options

DATA_AXIS = "data"
PMAP_AXIS = "batch"  # the axis name the pmapped step and BatchNorm average over


def make_mesh(devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default: every device of every process)."""
    devices = np.asarray(devices if devices is not None else jax.devices())
    return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh, grad_accum_steps: int = 1) -> None:
    """Every micro-batch must split evenly over the devices: a one-line error otherwise."""
    devices = mesh.devices.size
    unit = devices * grad_accum_steps
    if batch_size % unit == 0:
        return
    if grad_accum_steps == 1:
        raise errors.ConfigError(
            f"--batch_size={batch_size} does not divide across {devices} devices; "
            f"use a multiple of {devices}, e.g. {max(devices, batch_size // devices * devices)}"
        )
    raise errors.ConfigError(
        f"--batch_size={batch_size} does not divide into {grad_accum_steps} micro-batches across {devices} devices; "
        f"use a multiple of {unit} (devices x --grad_accum_steps), e.g. {max(unit, batch_size // unit * unit)}"
    )


def make_data_parallel(mode: str, mesh: Mesh):
    """`JitDataParallel` or `PmapDataParallel` over `mesh`, by the --parallel flag's value."""
    if mode == "jit":
        return JitDataParallel(mesh)
    if mode == "pmap":
        return PmapDataParallel(mesh)
    raise errors.unknown_name_error("parallel mode", mode, ["jit", "pmap"])


class JitDataParallel:
    """jit over the mesh: the state is created, kept and checkpointed replicated; the step donates it."""

    axis_name = None  # the steps need no collectives: XLA partitions the global computation

    def __init__(self, mesh: Mesh):
        self.mesh = mesh
        self.num_devices = mesh.devices.size

    @property
    def compiler_options(self) -> dict:
        """XLA options for the mesh's backend (`jaxcnn.xla_options`: on CPU, convolutions without YNNPACK)."""
        return xla_options.compiler_options(self.mesh.devices.flat[0].platform)

    def create_state(self, init_fn):
        """Run `init_fn() -> state` compiled, so the state is born replicated on every device (no host copy)."""
        return jax.jit(init_fn, out_shardings=replicated(self.mesh), compiler_options=self.compiler_options)()

    def to_step_layout(self, state):
        return state

    def to_global(self, state):
        return state

    def compile(self, steps):
        """(train_step(state, batch) -> (state, metric sums), eval_step(state, batch) -> metric sums)."""
        state_sharding, data_sharding = replicated(self.mesh), batch_sharded(self.mesh)
        train_step = jax.jit(
            steps.train_step,
            in_shardings=(state_sharding, data_sharding),
            out_shardings=(state_sharding, state_sharding),
            donate_argnums=0,
            compiler_options=self.compiler_options,
        )
        eval_step = jax.jit(steps.eval_step, in_shardings=(state_sharding, data_sharding), out_shardings=state_sharding,
                            compiler_options=self.compiler_options)
        return train_step, eval_step


class PmapDataParallel(JitDataParallel):
    """The same steps under `jax.pmap`; build them with `axis_name=PMAP_AXIS` and a model whose BatchNorm
    averages over that axis (`plan.build_model(plan, PMAP_AXIS)`). Metric sums come back once (already added
    over devices)."""

    axis_name = PMAP_AXIS

    def __init__(self, mesh: Mesh):
        super().__init__(mesh)
        self._local_devices = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
        self._local_stack = NamedSharding(Mesh(np.asarray(self._local_devices), (PMAP_AXIS,)), PartitionSpec(PMAP_AXIS))
        self._per_device = jax.jit(
            lambda batch: jax.tree.map(lambda x: x.reshape(self.num_devices, -1, *x.shape[1:]), batch),
            out_shardings=batch_sharded(mesh),
        )

    def to_step_layout(self, state):
        """Replicated global arrays -> [local devices, ...] stacks, each device's row its own copy (no transfer)."""

        def stack(x):
            shards = [s.data[None] for s in x.addressable_shards]
            return jax.make_array_from_single_device_arrays((len(shards), *x.shape), self._local_stack, shards)

        return jax.tree.map(stack, state)

    def to_global(self, state):
        """[local devices, ...] stacks -> replicated global arrays (what checkpoints hold; no transfer)."""
        sharding = replicated(self.mesh)

        def unstack(x):
            shards = [s.data.reshape(x.shape[1:]) for s in x.addressable_shards]
            return jax.make_array_from_single_device_arrays(x.shape[1:], sharding, shards)

        return jax.tree.map(unstack, state)

    def _split(self, batch):
        """Global batch sharded on `data` -> this process's [local devices, per-device batch, ...] rows."""
        batch = self._per_device(batch)
        if jax.process_count() > 1:
            batch = multihost_utils.global_array_to_host_local_array(batch, self.mesh, PartitionSpec(DATA_AXIS))
        return batch

    def compile(self, steps):
        """As jit's, with the same compiler options where one process runs (`jax.pmap` takes none, so each input
        shape's step is lowered and compiled with them on its first call). With several processes the steps are plain
        `jax.pmap`, compiled with XLA's defaults: a pmap compiled ahead of time expects every process's devices in
        its arguments, where each process passes only its own."""
        devices = list(self.mesh.devices.flat)
        train_p = self._with_options(jax.pmap(steps.train_step, PMAP_AXIS, devices=devices, donate_argnums=0,
                                              out_axes=(0, None)))
        eval_p = self._with_options(jax.pmap(steps.eval_step, PMAP_AXIS, devices=devices, out_axes=None))
        return (lambda state, batch: train_p(state, self._split(batch))), (lambda state, batch: eval_p(state, self._split(batch)))

    def _with_options(self, mapped):
        if jax.process_count() > 1 or not self.compiler_options:
            return mapped
        return CompiledPerShape(mapped, self.compiler_options)


class CompiledPerShape:
    """A `jax.pmap`-ed function compiled with `compiler_options`: lowered and compiled once per input signature
    (shapes, dtypes, tree), as `jax.pmap` itself caches its compilations."""

    def __init__(self, mapped, compiler_options: dict):
        self._mapped, self._options, self._compiled = mapped, compiler_options, {}

    def __call__(self, *args):
        leaves, tree = jax.tree.flatten(args)
        signature = (tree, tuple((leaf.shape, leaf.dtype) for leaf in leaves))
        if signature not in self._compiled:
            self._compiled[signature] = self._mapped.lower(*args).compile(self._options)
        return self._compiled[signature](*args)
