"""Compile steps with `jax.jit` over a device mesh: batches sharded on the `data` axis, state replicated.

On one device this is plain jit; on many (or many hosts) the same code runs data-parallel, with XLA
inserting the gradient all-reduce. BatchNorm statistics are computed over the global batch.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxcnn import errors

DATA_AXIS = "data"


def make_mesh(devices=None) -> Mesh:
    devices = np.asarray(devices if devices is not None else jax.devices())
    return Mesh(devices.reshape(-1), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    devices = mesh.devices.size
    if batch_size % devices:
        raise errors.ConfigError(
            f"--batch_size={batch_size} does not divide across {devices} devices; "
            f"use a multiple of {devices}, e.g. {max(devices, batch_size // devices * devices)}"
        )


def compile_steps(steps, mesh: Mesh):
    """(jitted train_step with the state donated, jitted eval_step), sharded over `mesh`."""
    state_sharding, data_sharding = replicated(mesh), batch_sharded(mesh)
    train_step = jax.jit(
        steps.train_step,
        in_shardings=(state_sharding, data_sharding),
        out_shardings=(state_sharding, state_sharding),
        donate_argnums=0,
    )
    eval_step = jax.jit(steps.eval_step, in_shardings=(state_sharding, data_sharding), out_shardings=state_sharding)
    return train_step, eval_step
