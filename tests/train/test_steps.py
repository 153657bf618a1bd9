import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import TinyNet
from jaxcnn import augment
from jaxcnn.train.state import NONFINITE_GRADIENTS, create_train_state
from jaxcnn.train.losses import cross_entropy
from jaxcnn.train.steps import StepRecipe, make_steps, mix_global_batch


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
    steps = make_steps(StepRecipe(model, num_classes=4, mean=(0.1,), std=(0.3,),
                       augment_fn=augment.make_batch_augmenter(augment.AugmentPolicy()),
                       label_smoothing=label_smoothing, aux_loss_weight=aux_loss_weight), tx)
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
    steps = make_steps(StepRecipe(model, num_classes=4, mean=(0.1,), std=(0.3,), augment_fn=lambda key, x: x), tx, steps_per_epoch=3)
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
    steps = make_steps(StepRecipe(model, num_classes=4, mean=(0.1,), std=(0.3,), augment_fn=lambda key, x: x), tx)
    state = state.replace(step=jnp.int32(41))
    state, metrics = jax.jit(steps.train_step)(state, _learnable_batch(8))
    assert np.isfinite(float(metrics["loss_sum"])) and not np.isfinite(float(metrics["grad_norm_sum"]))
    assert state.nonfinite.tolist() == [42, NONFINITE_GRADIENTS]
    state, metrics = jax.jit(steps.train_step)(state, _learnable_batch(8))
    assert not np.isfinite(float(metrics["loss_sum"]))  # the NaN update reached the parameters...
    assert state.nonfinite.tolist() == [42, NONFINITE_GRADIENTS]  # ...but the record keeps the first bad step


def _mixing_setup(policy_text, label_smoothing=0.0):
    model = TinyNet(num_classes=4)
    tx = optax.sgd(0.05, momentum=0.9)
    state = create_train_state(model, tx, seed=0, image_shape=(12, 12, 1))
    policy = augment.parse_policy(policy_text, default=augment.AugmentPolicy())
    steps = make_steps(StepRecipe(model, num_classes=4, mean=(0.1,), std=(0.3,),
                       augment_fn=augment.make_batch_augmenter(policy.per_example()),
                       mix_fn=augment.make_pair_mixer(policy, 4), label_smoothing=label_smoothing), tx)
    return model, state, steps, policy


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_mixup_feeds_soft_labels_to_the_loss_and_the_loss_is_their_cross_entropy(label_smoothing):
    model, state, steps, policy = _mixing_setup("mixup0.4", label_smoothing)
    batch = _learnable_batch(16)
    state = state.replace(step=jnp.asarray(5, jnp.int32))  # a step other than 0: keys come from fold_in(rng, step)
    inputs = jax.jit(steps.train_inputs)(state, batch)
    labels = np.asarray(inputs["label"])
    assert labels.shape == (16, 4) and labels.dtype == np.float32
    np.testing.assert_allclose(labels.sum(-1), 1.0, rtol=1e-6)
    assert (labels.max(-1) < 0.99).sum() >= 8  # really mixed, not one-hot (Beta(0.4, 0.4) has most mass near 0 and 1)
    # By hand: this step's mix key, the batch reversed as partners (no per-example ops in this policy).
    mix_key = jax.random.fold_in(jax.random.fold_in(state.rng, 5), 2)
    images, soft = augment.make_batch_mixer(policy, 4)(mix_key, batch["image"], batch["label"])
    np.testing.assert_allclose(labels, soft, rtol=1e-6)
    np.testing.assert_allclose(inputs["image"], images, rtol=1e-6)  # jit may fuse the blend differently (1 ulp)
    logits, _ = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                            (images / 255.0 - 0.1) / 0.3, train=True, mutable=["batch_stats"])
    targets = soft * (1 - label_smoothing) + label_smoothing / 4
    by_hand = -np.sum(targets * np.asarray(jax.nn.log_softmax(logits)), axis=-1)
    _, metrics = jax.jit(steps.train_step)(state, batch)
    assert float(metrics["loss_sum"]) == pytest.approx(float(by_hand.sum()), rel=1e-5)
    assert float(metrics["correct"]) == float((np.argmax(logits, -1) == soft.argmax(-1)).sum())  # argmax of the soft target
    # The same step without mixing sees one-hot targets and another loss.
    _, plain_metrics = _setup(label_smoothing=label_smoothing)[1](state, batch)
    assert abs(float(plain_metrics["loss_sum"]) - float(metrics["loss_sum"])) > 0.1


def test_cutmix_and_mixup_train_on_a_learnable_problem():
    _, state, steps, _ = _mixing_setup("mixup0.4,cutmix1")
    _, _, eval_step = _setup()
    train_step = jax.jit(steps.train_step)
    batch, held_out = _learnable_batch(), _learnable_batch(seed=1)
    for _ in range(40):
        state, metrics = train_step(state, batch)
    held = eval_step(state, held_out)
    assert float(held["correct"]) / float(held["count"]) > 0.9  # mixed targets still teach the quadrants


def test_mixing_over_a_device_axis_pairs_rows_of_the_global_batch_like_one_device():
    """pmap's pairing, checked exactly on one device: vmap over a named axis of 4 'devices' runs the same
    collectives (axis_index, ppermute) as pmap does."""
    policy = augment.parse_policy("mixup0.4,cutmix1", default=augment.AugmentPolicy())
    mix_fn, key, batch = augment.make_pair_mixer(policy, 4), jax.random.PRNGKey(3), _learnable_batch(16)
    whole = mix_global_batch(mix_fn, key, batch["image"], batch["label"])
    per_device = jax.vmap(lambda im, lb: mix_global_batch(mix_fn, key, im, lb, axis_name="d"), axis_name="d")(
        batch["image"].reshape(4, 4, 12, 12, 1), batch["label"].reshape(4, 4))
    np.testing.assert_allclose(per_device[0].reshape(16, 12, 12, 1), whole[0], rtol=1e-6)
    np.testing.assert_allclose(per_device[1].reshape(16, 4), whole[1], rtol=1e-6)
    for got, expected in zip(whole, augment.make_batch_mixer(policy, 4)(key, batch["image"], batch["label"])):
        np.testing.assert_allclose(got, expected, rtol=1e-6)  # the pairing `make_batch_mixer` documents
    # Pairing within each device's own rows (same keys) gives other targets: the check above can fail.
    keys = jax.random.split(key, 16).reshape(4, 4, -1)
    _, local_labels = jax.vmap(lambda k, im, lb: mix_fn(k, im, im[::-1], lb, lb[::-1]))(
        keys, batch["image"].reshape(4, 4, 12, 12, 1), batch["label"].reshape(4, 4))
    assert np.abs(np.asarray(local_labels).reshape(16, 4) - np.asarray(whole[1])).max() > 0.3
