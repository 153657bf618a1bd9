"""Test-time augmentation: view geometry, averaging, masking, agreement with the plain eval step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TinyNet

from jaxcnn import errors, tta
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import make_steps, normalize

_MEAN, _STD = (0.286,), (0.353,)


@pytest.fixture(scope="module")
def trained(fashion_mnist):
    """TinyNet after 60 SGD steps on real Fashion-MNIST, with 256 test images (uint8) and labels."""
    model, tx = TinyNet(num_classes=10), optax.sgd(0.05, momentum=0.9)
    steps = make_steps(model, tx, num_classes=10, mean=_MEAN, std=_STD, augment_fn=lambda key, x: x)
    state = create_train_state(model, tx, 0, (28, 28, 1))
    train_step = jax.jit(steps.train_step)
    images, labels = fashion_mnist[0], fashion_mnist[1]
    for i in range(60):
        batch = {"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128], "mask": np.ones(128, bool)}
        state, _ = train_step(state, batch)
    test = {"image": jnp.asarray(fashion_mnist[2][:256]), "label": jnp.asarray(fashion_mnist[3][:256]), "mask": jnp.ones(256, bool)}
    return model, state, jax.jit(steps.eval_step), test


def test_views_are_exact_shifts_and_mirrors(fashion_mnist):
    images = jnp.asarray(fashion_mnist[2][:4])
    views = tta.views_of(images, tta.TTAViews(flip=True, shift=2))
    assert len(views) == 10 == tta.TTAViews(flip=True, shift=2).count
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1][:, 2:], images[:, :-2])  # down by 2
    np.testing.assert_array_equal(views[1][:, :2], 0)
    np.testing.assert_array_equal(views[4][:, :, :-2], images[:, :, 2:])  # left by 2
    np.testing.assert_array_equal(views[5], images[:, :, ::-1])
    np.testing.assert_array_equal(views[6], views[1][:, :, ::-1])


def test_no_views_matches_the_plain_eval_step(trained):
    model, state, plain_eval, test = trained
    plain = plain_eval(state, test)
    single = jax.jit(tta.make_tta_eval_step(model, tta.parse_views("none"), mean=_MEAN, std=_STD))(state, test)
    np.testing.assert_allclose(single["loss_sum"], plain["loss_sum"], rtol=1e-4)
    assert float(single["correct"]) == float(plain["correct"]) > 0.5 * 256  # the net learned something real


def test_probabilities_are_the_mean_over_views_and_padding_never_counts(trained):
    model, state, _, test = trained
    views = tta.TTAViews(flip=True, shift=1)
    step = tta.make_tta_eval_step(model, views, mean=_MEAN, std=_STD)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    manual = np.mean([jax.nn.softmax(model.apply(variables, normalize(v, _MEAN, _STD), train=False))
                      for v in tta.views_of(test["image"], views)], axis=0)
    probs = step.predict(state, test["image"])
    np.testing.assert_allclose(probs, manual, atol=1e-5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    sums = step(state, test)
    labels = np.asarray(test["label"])
    assert float(sums["correct"]) == float((manual.argmax(-1) == labels).sum())
    np.testing.assert_allclose(float(sums["loss_sum"]), -np.log(manual[np.arange(256), labels]).sum(), rtol=1e-4)
    half = dict(test, mask=jnp.arange(256) < 100)
    masked = step(state, half)
    assert float(masked["count"]) == 100 and float(masked["correct"]) == float((manual.argmax(-1) == labels)[:100].sum())


def test_parse_views():
    assert tta.parse_views("flip,shift2") == tta.TTAViews(True, 2)
    assert str(tta.TTAViews(True, 2)) == "flip,shift2" and tta.parse_views("none").count == 1
    with pytest.raises(errors.ConfigError, match="unknown test-time augmentation 'rotate'; choose one of: flip, none, shiftN"):
        tta.parse_views("flip,rotate")


def test_training_eval_step_adds_tta_sums_over_a_padded_last_batch_counting_each_example_once(trained):
    """The eval step training uses with --tta: plain and TTA sums from one pass over padded batches."""
    from jaxcnn.data import DeviceDataset
    from jaxcnn.train.loop import evaluate
    from jaxcnn.train.steps import StepFunctions

    model, state, plain_eval, test = trained
    views = tta.parse_views("flip,shift2")
    steps = tta.add_to_steps(StepFunctions(None, plain_eval), model, views, mean=_MEAN, std=_STD)
    dataset = DeviceDataset(np.asarray(test["image"][:250]), np.asarray(test["label"][:250]))
    batches = list(dataset.eval_batches(96))
    assert [int(b["mask"].sum()) for b in batches] == [96, 96, 58]  # the last batch padded with 38 masked rows
    result = evaluate(jax.jit(steps.eval_step), state, dataset, 96)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    images, labels = test["image"][:250], np.asarray(test["label"][:250])
    manual = np.mean([jax.nn.softmax(model.apply(variables, normalize(v, _MEAN, _STD), train=False))
                      for v in tta.views_of(images, views)], axis=0)
    assert result["tta_accuracy"] == float((manual.argmax(-1) == labels).sum()) / 250
    assert result["tta_loss"] == pytest.approx(float(-np.log(manual[np.arange(250), labels]).mean()), rel=1e-4)
    plain = plain_eval(state, {k: v[:250] for k, v in test.items()})
    assert result["accuracy"] == float(plain["correct"]) / 250  # the plain numbers stay as they were
    assert result["loss"] == pytest.approx(float(plain["loss_sum"]) / 250, rel=1e-5)
    assert result["tta_loss"] != pytest.approx(result["loss"], rel=1e-3)  # the views changed the predictions
    assert tta.add_to_steps(steps, model, tta.parse_views("none"), mean=_MEAN, std=_STD) is steps
