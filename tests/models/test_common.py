"""`models.init_variables`: a compiled init with the legacy threefry stream, equal to an eager one, compiled
once for equal modules, with static options and unhashable modules handled."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import models

TRACES = []


class _Counted(nn.Module):
    """Records each trace of its init; makes a train-only parameter when `train`."""

    widths: tuple = (4,)

    @nn.compact
    def __call__(self, x, train: bool = False):
        TRACES.append(self.widths)
        x = nn.Dense(self.widths[0])(x.reshape(x.shape[0], -1))
        if train:
            self.param("train_only", nn.initializers.ones, (1,))
        return x


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_the_compiled_init_equals_an_eager_one_from_the_same_stream():
    model = models.get_model("simple_cnn", num_classes=10)
    key = jax.random.PRNGKey(4)
    rngs, images = {"params": key, "dropout": key}, jnp.zeros((2, 28, 28, 1))
    compiled = models.init_variables(model, rngs, images, train=True)
    with jax.threefry_partitionable(False):
        eager = model.init(rngs, images, train=True)
    assert jax.tree.structure(compiled) == jax.tree.structure(eager)
    assert _leaves_equal(compiled, eager)
    other_seed = models.init_variables(model, jax.random.PRNGKey(5), images, train=True)
    assert not _leaves_equal(compiled["params"], other_seed["params"])


def test_equal_modules_share_one_compiled_init_and_options_are_static():
    TRACES.clear()
    x = jnp.ones((2, 3, 3, 1))
    first = models.init_variables(_Counted(widths=(3,)), jax.random.key(0), x)
    again = models.init_variables(_Counted(widths=(3,)), jax.random.key(0), x)  # an equal module: no new trace
    assert TRACES == [(3,)] and _leaves_equal(first, again)
    trained = models.init_variables(_Counted(widths=(3,)), jax.random.key(0), x, train=True)
    assert "train_only" in trained["params"] and "train_only" not in first["params"]
    assert len(TRACES) == 2  # another option value is another program


def test_a_module_that_cannot_be_hashed_is_still_initialised():
    TRACES.clear()
    unhashable = _Counted(widths=[5])  # a list field: the module cannot be hashed
    with pytest.raises(TypeError):
        hash(unhashable)
    x = jnp.ones((2, 2, 2, 1))
    variables = models.init_variables(unhashable, jax.random.key(0), x)
    assert variables["params"]["Dense_0"]["kernel"].shape == (4, 5)
    models.init_variables(unhashable, jax.random.key(0), x)
    assert len(TRACES) == 2  # compiled for each call, not cached
