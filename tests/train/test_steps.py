import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import TinyNet
from jaxcnn import augment
from jaxcnn.train.state import NONFINITE_GRADIENTS, create_train_state
from jaxcnn.train.steps import cross_entropy, make_steps


def _learnable_batch(n=128, seed=0):
    """Class = which quadrant holds a bright square: learnable in a few dozen steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 40, (n, 12, 12, 1)).astype(np.uint8)
    for i, label in enumerate(labels):
        y, x = divmod(int(label), 2)
        images[i, y * 6 + 1:y * 6 + 5, x * 6 + 1:x * 6 + 5] = 250
    return {"image": jnp.asarray(images), "label": jnp.asarray(labels, jnp.int32), "mask": jnp.ones(n, bool)}


def _setup(aux_heads=False, aux_loss_weight=0.0, label_smoothing=0.0):
    model = TinyNet(num_classes=4, aux_heads=aux_heads)
    tx = optax.sgd(0.05, momentum=0.9)
    state = create_train_state(model, tx, seed=0, image_shape=(12, 12, 1))
    steps = make_steps(model, tx, num_classes=4, mean=(0.1,), std=(0.3,),
                       augment_fn=augment.make_batch_augmenter(augment.AugmentPolicy()),
                       label_smoothing=label_smoothing, aux_loss_weight=aux_loss_weight)
    return state, jax.jit(steps.train_step), jax.jit(steps.eval_step)


def test_loss_decreases_and_accuracy_rises_on_a_learnable_problem():
    state, train_step, eval_step = _setup()
    batch, held_out = _learnable_batch(), _learnable_batch(seed=1)
    first = eval_step(state, held_out)
    for _ in range(30):
        state, metrics = train_step(state, batch)
    last = eval_step(state, held_out)
    assert int(state.step) == 30
    assert float(last["loss_sum"]) < 0.3 * float(first["loss_sum"])
    assert float(last["correct"]) / float(last["count"]) > 0.95


def test_eval_counts_only_unmasked_examples():
    state, _, eval_step = _setup()
    batch = _learnable_batch(10)
    full = eval_step(state, batch)
    mask = jnp.array([True] * 7 + [False] * 3)
    part = eval_step(state, {**batch, "mask": mask})
    firsts = eval_step(state, {k: v[:7] for k, v in batch.items()})
    assert float(part["count"]) == 7 and float(full["count"]) == 10
    np.testing.assert_allclose(part["loss_sum"], firsts["loss_sum"], rtol=1e-5)
    np.testing.assert_allclose(part["correct"], firsts["correct"])


def test_label_smoothing_matches_the_formula():
    logits = jnp.array([[2.0, 0.0, -1.0, 0.5]])
    log_p = jax.nn.log_softmax(logits)[0]
    expected = -(0.9 * log_p[1] + 0.1 / 4 * log_p.sum())
    assert float(cross_entropy(logits, jnp.array([1]), 4, 0.1)[0]) == pytest.approx(float(expected), rel=1e-6)


def test_auxiliary_heads_add_weighted_loss_and_train():
    state, train_step, _ = _setup(aux_heads=True, aux_loss_weight=0.3)
    plain_state, plain_step, _ = _setup(aux_heads=True, aux_loss_weight=0.0)
    batch = _learnable_batch()
    new_state, metrics = train_step(state, batch)
    _, plain_metrics = plain_step(plain_state, batch)
    aux_loss = float(metrics["aux_loss_sum"]) / float(metrics["count"])
    assert aux_loss == pytest.approx(np.log(4), rel=0.3)  # an untrained head is near chance
    head_before = state.params["aux_head"]["kernel"]
    assert not np.allclose(new_state.params["aux_head"]["kernel"], head_before)  # aux head gets gradients
    # Without the weight the head gets no gradient: the total loss is the main loss alone.
    plain_new, _ = plain_step(plain_state, batch)
    np.testing.assert_array_equal(plain_new.params["aux_head"]["kernel"], plain_state.params["aux_head"]["kernel"])
    assert float(plain_metrics["loss_sum"]) == pytest.approx(float(metrics["loss_sum"]), rel=1e-5)


class _SqrtOfZeroNet(TinyNet):
    """TinyNet plus 0 * sqrt(w) with w initialised to 0: the loss stays finite, its gradient is NaN."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        logits = super().__call__(x, train)
        w = self.param("w", nn.initializers.zeros, ())
        return logits + 0.0 * jnp.sqrt(w)


def test_epoch_sums_add_up_each_step_and_restart_at_each_epoch():
    model = TinyNet(num_classes=4)
    tx = optax.sgd(0.05)
    state = create_train_state(model, tx, seed=0, image_shape=(12, 12, 1))
    steps = make_steps(model, tx, num_classes=4, mean=(0.1,), std=(0.3,), augment_fn=lambda key, x: x, steps_per_epoch=3)
    train_step = jax.jit(steps.train_step)
    batch, per_step = _learnable_batch(16), []
    for _ in range(5):
        state, metrics = train_step(state, batch)
        per_step.append(metrics)
        if int(state.step) in (3, 5):  # the end of epoch 1, then two steps into epoch 2
            steps_in_epoch = per_step[:3] if int(state.step) == 3 else per_step[3:]
            for name, total in state.epoch_sums.items():
                np.testing.assert_allclose(total, sum(float(m[name]) for m in steps_in_epoch), rtol=1e-6, err_msg=name)
    assert float(state.epoch_sums["count"]) == 32


def test_nonfinite_gradients_are_recorded_with_their_step_even_when_the_loss_is_finite():
    model = _SqrtOfZeroNet(num_classes=4)
    tx = optax.sgd(0.05)
    state = create_train_state(model, tx, seed=0, image_shape=(12, 12, 1))
    steps = make_steps(model, tx, num_classes=4, mean=(0.1,), std=(0.3,), augment_fn=lambda key, x: x)
    state = state.replace(step=jnp.int32(41))
    state, metrics = jax.jit(steps.train_step)(state, _learnable_batch(8))
    assert np.isfinite(float(metrics["loss_sum"])) and not np.isfinite(float(metrics["grad_norm_sum"]))
    assert state.nonfinite.tolist() == [42, NONFINITE_GRADIENTS]
    state, metrics = jax.jit(steps.train_step)(state, _learnable_batch(8))
    assert not np.isfinite(float(metrics["loss_sum"]))  # the NaN update reached the parameters...
    assert state.nonfinite.tolist() == [42, NONFINITE_GRADIENTS]  # ...but the record keeps the first bad step
