"""TrainState: everything a run needs to continue, as one pytree (so orbax and sharding handle it whole)."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxcnn.models import init_variables

# The metric sums a train step adds up (see `jaxcnn.train.steps`): sums, not means, so that any number of
# steps, devices or padded examples average exactly.
TRAIN_METRIC_SUMS = ("loss_sum", "correct", "count", "aux_loss_sum", "grad_norm_sum")
# `TrainState.nonfinite[1]`: which quantity stopped being finite, as bits.
NONFINITE_LOSS, NONFINITE_GRADIENTS = 1, 2


class TrainState(flax.struct.PyTreeNode):
    step: jax.Array  # int32 scalar: optimizer steps taken
    params: Any
    batch_stats: Any
    opt_state: optax.OptState
    rng: jax.Array  # uint32[2] raw key; per-step keys are fold_in(rng, step), so resume is exact
    # The current epoch's running metric sums, added inside the compiled step: a run resumed mid-epoch
    # reports bitwise the epoch metrics of a run that never stopped.
    epoch_sums: dict
    # int32[2]: (first step whose loss or gradients were not finite, or -1; NONFINITE_* bits of which).
    nonfinite: jax.Array


def zero_metric_sums() -> dict:
    return {name: jnp.zeros((), jnp.float32) for name in TRAIN_METRIC_SUMS}


def create_train_state(model, tx: optax.GradientTransformation, seed: int, image_shape) -> TrainState:
    """Initialise parameters from `seed` for inputs of shape [2, *image_shape].

    Initialised in training mode so that train-only parameters (auxiliary heads) exist too, as one compiled
    program with the legacy threefry stream (`models.init_variables`: seconds faster on XLA:CPU); the state is
    replicated, so partitioning the draws would buy nothing here.
    """
    init_rng, train_rng = jax.random.split(jax.random.PRNGKey(seed))
    dummy = jnp.zeros((2, *image_shape), jnp.float32)
    variables = init_variables(model, {"params": init_rng, "dropout": init_rng}, dummy, train=True)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=train_rng,
        epoch_sums=zero_metric_sums(),
        nonfinite=jnp.array([-1, 0], jnp.int32),
    )
