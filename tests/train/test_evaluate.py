"""The eval step and test-time augmentation: view geometry, averaging, masking, the plain sums beside the TTA
ones, and one pass over a padded test set counting every example once."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import TinyNet

from jaxcnn import errors
from jaxcnn.augment import normalize
from jaxcnn.data import DeviceDataset
from jaxcnn.train.evaluate import (TTAViews, averaged_probabilities, evaluate, make_eval_step, parse_views,
                                   shift_images, view_logits, views_of)
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import StepRecipe, make_steps

_MEAN, _STD = (0.286,), (0.353,)


@pytest.fixture(scope="module")
def trained(fashion_mnist):
    """TinyNet after 60 SGD steps on real Fashion-MNIST, with 256 test images (uint8) and labels."""
    model, tx = TinyNet(num_classes=10), optax.sgd(0.05, momentum=0.9)
    steps = make_steps(StepRecipe(model, num_classes=10, mean=_MEAN, std=_STD, augment_fn=lambda key, x: x), tx)
    state = create_train_state(model, tx, 0, (28, 28, 1))
    train_step = jax.jit(steps.train_step)
    images, labels = fashion_mnist[0], fashion_mnist[1]
    for i in range(60):
        batch = {"image": images[i * 128:(i + 1) * 128], "label": labels[i * 128:(i + 1) * 128], "mask": np.ones(128, bool)}
        state, _ = train_step(state, batch)
    test = {"image": jnp.asarray(fashion_mnist[2][:256]), "label": jnp.asarray(fashion_mnist[3][:256]), "mask": jnp.ones(256, bool)}
    return model, state, jax.jit(steps.eval_step), test


def _variables(state) -> dict:
    return {"params": state.params, "batch_stats": state.batch_stats}


def _manual_tta_probabilities(model, state, images, views) -> np.ndarray:
    """The reference: each view built by hand-written NumPy slicing, softmaxed, averaged."""
    return np.mean([jax.nn.softmax(model.apply(_variables(state), normalize(v, _MEAN, _STD), train=False))
                    for v in views_of(images, views)], axis=0)


def test_views_are_exact_shifts_and_mirrors(fashion_mnist):
    images = jnp.asarray(fashion_mnist[2][:4])
    views = views_of(images, TTAViews(flip=True, shift=2))
    assert len(views) == 10 == TTAViews(flip=True, shift=2).count
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[1][:, 2:], images[:, :-2])  # down by 2
    np.testing.assert_array_equal(views[1][:, :2], 0)
    np.testing.assert_array_equal(views[4][:, :, :-2], images[:, :, 2:])  # left by 2
    np.testing.assert_array_equal(views[5], images[:, :, ::-1])
    np.testing.assert_array_equal(views[6], views[1][:, :, ::-1])
    np.testing.assert_array_equal(shift_images(images, -1, 3)[:, :-1, 3:], images[:, 1:, :-3])  # up 1, right 3
    assert len(views_of(images, TTAViews())) == 1 and len(views_of(images, TTAViews(shift=1))) == 5


def test_the_eval_step_is_the_masked_cross_entropy_and_accuracy_of_the_plain_view(trained):
    model, state, plain_eval, test = trained
    sums = plain_eval(state, test)
    assert set(sums) == {"loss_sum", "correct", "count"}  # no views: no TTA sums
    logits = np.asarray(model.apply(_variables(state), normalize(test["image"], _MEAN, _STD), train=False), np.float64)
    labels = np.asarray(test["label"])
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
    np.testing.assert_allclose(float(sums["loss_sum"]), -log_probs[np.arange(256), labels].sum(), rtol=1e-4)
    assert float(sums["correct"]) == float((logits.argmax(-1) == labels).sum()) > 0.5 * 256  # it learned something real
    assert float(sums["count"]) == 256
    # A single view averaged is its own softmax: the TTA loss of one view is the plain cross-entropy.
    probs = averaged_probabilities(view_logits(model, _variables(state), test["image"], parse_views("none"),
                                               mean=_MEAN, std=_STD))
    np.testing.assert_allclose(float(-jnp.log(probs[jnp.arange(256), test["label"]]).sum()), float(sums["loss_sum"]),
                               rtol=1e-4)


def test_probabilities_are_the_mean_over_views_and_padding_never_counts(trained):
    model, state, plain_eval, test = trained
    views = TTAViews(flip=True, shift=1)
    step = jax.jit(make_eval_step(model, num_classes=10, mean=_MEAN, std=_STD, views=views))
    manual = _manual_tta_probabilities(model, state, test["image"], views)
    logits = view_logits(model, _variables(state), test["image"], views, mean=_MEAN, std=_STD)
    assert len(logits) == 10 and all(view.dtype == jnp.float32 for view in logits)
    probs = averaged_probabilities(logits)
    np.testing.assert_allclose(probs, manual, atol=1e-5)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    sums = step(state, test)
    labels = np.asarray(test["label"])
    assert float(sums["tta_accuracy_sum"]) == float((manual.argmax(-1) == labels).sum())
    np.testing.assert_allclose(float(sums["tta_loss_sum"]), -np.log(manual[np.arange(256), labels]).sum(), rtol=1e-4)
    plain = plain_eval(state, test)  # the plain sums stay beside the TTA ones, unchanged
    for name in ("loss_sum", "correct", "count"):
        np.testing.assert_allclose(float(sums[name]), float(plain[name]), rtol=1e-6, err_msg=name)
    half = dict(test, mask=jnp.arange(256) < 100)
    masked = step(state, half)
    assert float(masked["count"]) == 100
    assert float(masked["tta_accuracy_sum"]) == float((manual.argmax(-1) == labels)[:100].sum())
    np.testing.assert_allclose(float(masked["tta_loss_sum"]), -np.log(manual[np.arange(100), labels[:100]]).sum(),
                               rtol=1e-4)


def test_with_an_axis_name_the_sums_are_those_of_the_whole_batch(trained):
    """With `axis_name` the step adds its sums over that axis (pmap's devices). Mapped with jax.vmap over two
    halves of the batch (the same collectives as pmap, on one CPU), every half reports the whole batch's sums."""
    model, state, _, test = trained
    views = TTAViews(flip=True)
    whole = jax.jit(make_eval_step(model, num_classes=10, mean=_MEAN, std=_STD, views=views))(state, test)
    step = jax.vmap(make_eval_step(model, num_classes=10, mean=_MEAN, std=_STD, views=views, axis_name="devices"),
                    in_axes=(None, 0), axis_name="devices")
    halves = step(state, {k: v.reshape(2, 128, *v.shape[1:]) for k, v in test.items()})
    assert float(whole["count"]) == 256 and halves["count"].tolist() == [256, 256]
    for name, value in whole.items():
        np.testing.assert_allclose(np.asarray(halves[name]), [float(value)] * 2, rtol=1e-5, err_msg=name)


def test_parse_views():
    assert parse_views("flip,shift2") == TTAViews(True, 2)
    assert parse_views(" Mirror , shift3 ") == TTAViews(True, 3)
    assert str(TTAViews(True, 2)) == "flip,shift2" and parse_views("none").count == 1 and str(TTAViews()) == "none"
    with pytest.raises(errors.ConfigError, match="unknown test-time augmentation 'rotate'; choose one of: flip, none, shiftN"):
        parse_views("flip,rotate")


def test_evaluate_adds_tta_sums_over_a_padded_last_batch_counting_each_example_once(trained):
    """The eval step training uses with --tta: plain and TTA means from one pass over padded batches."""
    model, state, plain_eval, test = trained
    views = parse_views("flip,shift2")
    eval_step = jax.jit(make_eval_step(model, num_classes=10, mean=_MEAN, std=_STD, views=views))
    dataset = DeviceDataset(np.asarray(test["image"][:250]), np.asarray(test["label"][:250]))
    batches = list(dataset.eval_batches(96))
    assert [int(b["mask"].sum()) for b in batches] == [96, 96, 58]  # the last batch padded with 38 masked rows
    result = evaluate(eval_step, state, dataset, 96)
    assert set(result) == {"loss", "accuracy", "tta_loss", "tta_accuracy"}
    images, labels = test["image"][:250], np.asarray(test["label"][:250])
    manual = _manual_tta_probabilities(model, state, images, views)
    assert result["tta_accuracy"] == float((manual.argmax(-1) == labels).sum()) / 250
    assert result["tta_loss"] == pytest.approx(float(-np.log(manual[np.arange(250), labels]).mean()), rel=1e-4)
    plain = plain_eval(state, {k: v[:250] for k, v in test.items()})
    assert result["accuracy"] == float(plain["correct"]) / 250  # the plain numbers stay as they were
    assert result["loss"] == pytest.approx(float(plain["loss_sum"]) / 250, rel=1e-5)
    assert result["tta_loss"] != pytest.approx(result["loss"], rel=1e-3)  # the views changed the predictions
    without = evaluate(plain_eval, state, dataset, 96)  # --tta=none: the plain means only, the same numbers
    assert set(without) == {"loss", "accuracy"} and without["accuracy"] == result["accuracy"]
    assert without["loss"] == pytest.approx(result["loss"], rel=1e-6)
