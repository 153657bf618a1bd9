"""Soft labels from mixup / cutmix through the train step's loss and metrics (train.steps soft-label support)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TinyNet

from jaxcnn import augment, errors
from jaxcnn.train.state import create_train_state
from jaxcnn.train.losses import cross_entropy
from jaxcnn.train.steps import StepRecipe, make_steps


def test_cross_entropy_accepts_soft_targets():
    logits = jax.random.normal(jax.random.PRNGKey(0), (6, 5)) * 3
    labels = jnp.array([0, 1, 2, 3, 4, 0])
    soft = jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(1), (6, 5)))
    np.testing.assert_allclose(cross_entropy(logits, soft, 5, 0.0), -jnp.sum(soft * jax.nn.log_softmax(logits), -1), rtol=1e-5)
    np.testing.assert_allclose(cross_entropy(logits, jax.nn.one_hot(labels, 5), 5, 0.1), cross_entropy(logits, labels, 5, 0.1), rtol=1e-6)


def test_train_step_on_mixed_real_batch(fashion_mnist):
    images, labels = jnp.asarray(fashion_mnist[0][:64]), jnp.asarray(fashion_mnist[1][:64])
    model, tx = TinyNet(num_classes=10), optax.sgd(0.05)
    steps = make_steps(StepRecipe(model, num_classes=10, mean=(0.286,), std=(0.353,), augment_fn=lambda key, x: x), tx)
    state = create_train_state(model, tx, 0, (28, 28, 1))
    train_step = jax.jit(steps.train_step)
    mask = jnp.ones(64, bool)
    # one-hot soft labels train exactly like integer labels
    hard, hard_metrics = train_step(state, {"image": images, "label": labels, "mask": mask})
    soft, soft_metrics = train_step(state, {"image": images, "label": jax.nn.one_hot(labels, 10), "mask": mask})
    for a, b in zip(jax.tree.leaves(hard.params), jax.tree.leaves(soft.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert float(hard_metrics["correct"]) == float(soft_metrics["correct"])
    # mixed batches train: the loss against the soft labels falls over a few steps
    mixer = jax.jit(augment.make_batch_mixer(augment.parse_policy("mixup0.4,cutmix1", default=augment.AugmentPolicy()), 10))
    mixed_images, soft_labels = mixer(jax.random.PRNGKey(0), images, labels)
    batch = {"image": mixed_images, "label": soft_labels, "mask": mask}
    losses = []
    for _ in range(15):
        state, metrics = train_step(state, batch)
        losses.append(float(metrics["loss_sum"] / metrics["count"]))
    assert losses[-1] < 0.8 * losses[0]
    assert losses[0] > float(jnp.mean(-jnp.sum(soft_labels * jnp.log(jnp.maximum(soft_labels, 1e-9)), -1)))  # above the targets' entropy


def test_per_example_augmenter_refuses_mixing():
    policy = augment.parse_policy("flip,mixup0.2", default=augment.AugmentPolicy())
    with pytest.raises(errors.ConfigError, match="mixup/cutmix change labels"):
        augment.make_batch_augmenter(policy)
    assert augment.make_batch_augmenter(policy.per_example()) is not None and not policy.per_example().mixes
