"""jaxcnn.recipes.airbench94 against a PyTorch reference of airbench94 (tests/recipes/torch_airbench94.py; those
tests skip without torch): the same initial weights and batches give the same losses, parameters and BatchNorm
statistics after a few steps (one with the whitening bias frozen, one after a lookahead) and the same TTA logits.
Also the recipe's data pieces, and its whole CIFAR-10 run under the TFDS mock (slow)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.data.tfds_source import load_split
from jaxcnn.models.airbench import whitening_kernel
from jaxcnn.recipes import airbench94 as recipe

from tfds_mock import mock_data

BATCH, STEPS = 16, 4
HYP = recipe.Hyperparameters(batch_size=BATCH, whiten_bias_epochs=2)  # one step an epoch: frozen from step 3
TOTAL_STEPS = 8  # the schedule's length: steps 0-3 climb and peak (int(0.23 * 8) = 1)


def hwio(weight) -> jnp.ndarray:
    return jnp.asarray(weight.detach().numpy().transpose(2, 3, 1, 0))


def jax_variables(net) -> dict:
    """The torch net's weights and BN statistics in AirbenchNet's tree (OIHW -> HWIO, Linear's transpose)."""
    array = lambda t: jnp.asarray(t.detach().numpy())
    params = {"whiten": {"kernel": hwio(net.whiten.weight), "bias": array(net.whiten.bias)},
              "fc": {"kernel": array(net.fc.weight).T}}
    stats = {}
    for i, group in enumerate(net.groups, start=1):
        for j in (1, 2):
            params[f"group{i}_conv{j}"] = {"kernel": hwio(getattr(group, f"conv{j}").weight)}
            norm = getattr(group, f"norm{j}")
            params[f"group{i}_bn{j}"] = {"bias": array(norm.bias)}
            stats[f"group{i}_bn{j}"] = {"mean": array(norm.running_mean), "var": array(norm.running_var)}
    return {"params": params, "batch_stats": stats}


def max_differences(jax_tree, torch_tree) -> tuple[float, float]:
    """(max |a - b|, max |a - b| / max |b|) over the leaves of two trees of the same structure."""
    pairs = zip(jax.tree.leaves(jax_tree), jax.tree.leaves(torch_tree))
    diffs = [(float(jnp.max(jnp.abs(a - b))), float(jnp.max(jnp.abs(b))) or 1.0) for a, b in pairs]
    return max(d for d, _ in diffs), max(d / scale for d, scale in diffs)


@pytest.fixture(scope="module")
def ref():
    """The PyTorch reference module; the tests that compare with it skip where torch is not installed."""
    pytest.importorskip("torch")
    import torch_airbench94
    return torch_airbench94


@pytest.fixture(scope="module")
def both_runs(ref):
    """The torch reference and the JAX port trained side by side on the same batches: losses, final weights."""
    torch = ref.torch
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(STEPS * BATCH, 32, 32, 3)).astype(np.float32)
    labels = rng.integers(0, 10, STEPS * BATCH).astype(np.int32)
    net = ref.Airbench94()
    with torch.no_grad():
        net.whiten.weight.copy_(ref.whitening_weight(torch.from_numpy(images.transpose(0, 3, 1, 2))))
    model, tx = recipe.make_model(), recipe.make_optimizer(HYP, TOTAL_STEPS, steps_per_epoch=1)
    variables = jax_variables(net)
    state = recipe.State(variables["params"], variables["batch_stats"], tx.init(variables["params"]))
    step = recipe.make_train_step(model, tx, HYP)
    sgd, scheduler = ref.optimizer(net, dataclasses.asdict(HYP), TOTAL_STEPS)
    torch_losses, jax_losses = [], []
    for i in range(STEPS):
        x, y = images[i * BATCH:(i + 1) * BATCH], labels[i * BATCH:(i + 1) * BATCH]
        net.whiten.bias.requires_grad = i < HYP.whiten_bias_epochs
        torch_losses.append(ref.train_step(net, sgd, scheduler, torch.from_numpy(x.transpose(0, 3, 1, 2)),
                                           torch.from_numpy(y).long(), HYP.label_smoothing))
        state, loss, _ = step(state, jnp.asarray(x), jnp.asarray(y))
        jax_losses.append(float(loss))
        if i == 0:  # the lookahead's snapshot, pulled towards after step 3
            torch_ema = {k: v.clone() for k, v in net.state_dict().items()}
            jax_ema = (state.params, state.batch_stats)
        if i == 2:
            ref.lookahead(torch_ema, net, decay=0.3)
            jax_ema, state = recipe.lookahead(jax_ema, state, 0.3)
    return dict(net=net, model=model, state=state, images=images, torch_losses=np.array(torch_losses),
                jax_losses=np.array(jax_losses))


def test_first_steps_match_pytorch_reference(both_runs):
    torch_losses, jax_losses = both_runs["torch_losses"], both_runs["jax_losses"]
    np.testing.assert_allclose(jax_losses, torch_losses, rtol=1e-5)  # approximate GELU: 1.9e-5 off
    assert len(set(np.round(torch_losses, 3))) == STEPS  # the steps really changed the net
    state, expected = both_runs["state"], jax_variables(both_runs["net"])
    abs_diff, rel_diff = max_differences(state.params, expected["params"])
    assert rel_diff < 1e-4, (abs_diff, rel_diff)
    abs_diff, rel_diff = max_differences(state.batch_stats, expected["batch_stats"])
    assert rel_diff < 1e-4, (abs_diff, rel_diff)


def test_tta_logits_match_pytorch_reference(both_runs, ref):
    torch = ref.torch
    net, state, images = both_runs["net"], both_runs["state"], both_runs["images"][:BATCH]
    with torch.no_grad():
        expected = ref.tta_logits(net, torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    got = recipe.tta_logits(both_runs["model"], variables, jnp.asarray(images), level=2)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_whitening_and_dirac_match_pytorch(ref):
    torch = ref.torch
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(3, 3)) * np.array([3.0, 1.0, 0.3])  # distinct eigenvalues: filters defined up to sign
    images = (rng.normal(size=(64, 32, 32, 3)) @ mix).astype(np.float32)
    expected = hwio(ref.whitening_weight(torch.from_numpy(images.transpose(0, 3, 1, 2))))
    got = whitening_kernel(images)
    signs = np.sign(np.sum(np.asarray(got) * np.asarray(expected), axis=(0, 1, 2)))
    np.testing.assert_allclose(got * signs, expected, rtol=1e-3, atol=1e-3 * float(jnp.abs(expected).max()))
    conv = ref.conv3x3(24, 64)
    kernel = hwio(conv.weight)
    scrambled = {"group1_conv1": {"kernel": kernel.at[..., :24].set(7.0)}, "fc": {"kernel": jnp.ones((4, 4))}}
    dirac = recipe.dirac_kernels(scrambled)
    np.testing.assert_array_equal(dirac["group1_conv1"]["kernel"], kernel)
    np.testing.assert_array_equal(dirac["fc"]["kernel"], 1.0)


def test_schedule_matches_pytorch_reference(ref):
    expected = ref.triangle(100, *HYP.schedule)
    got = recipe.lr_multiplier(100, HYP)(jnp.arange(101))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_epoch_images_translate_then_alternate_flips():
    images = jnp.arange(2 * 6 * 6 * 1, dtype=jnp.float32).reshape(2, 6, 6, 1)
    flipped = recipe.first_epoch_flips(images, jax.random.PRNGKey(0))
    assert all(jnp.array_equal(f, im) or jnp.array_equal(f, im[:, ::-1]) for f, im in zip(flipped, images))
    np.testing.assert_array_equal(recipe.epoch_images(flipped, jax.random.PRNGKey(1), 0, 0), flipped)
    np.testing.assert_array_equal(recipe.epoch_images(flipped, jax.random.PRNGKey(1), 1, 0), flipped[:, :, ::-1])
    padded = jnp.pad(flipped, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    crops = recipe.epoch_images(padded, jax.random.PRNGKey(2), 0, 2)
    assert crops.shape == images.shape
    windows = [[padded[n, i:i + 6, j:j + 6] for i in range(5) for j in range(5)] for n in range(2)]
    assert all(any(jnp.array_equal(crop, w) for w in ws) for crop, ws in zip(crops, windows))


def test_recipe_refuses_a_batch_larger_than_the_data(tmp_path, capsys):
    with mock_data(num_examples=8, data_dir=tmp_path), pytest.raises(SystemExit) as exit_info:
        recipe.main(["--data_dir", str(tmp_path), "--batch_size", "16"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: batch_size 16 is larger than the 8 training examples"


@pytest.mark.slow
def test_recipe_trains_end_to_end_on_mock_cifar10(tmp_path):
    hyp = recipe.Hyperparameters(epochs=2, batch_size=16, ema_start_epochs=1, ema_every_n_steps=1,
                                 whiten_bias_epochs=1, whiten_examples=32)  # every piece runs in 2 epochs
    epochs = []
    with mock_data(num_examples=48, data_dir=tmp_path):
        result = recipe.train(str(tmp_path), hyp, seed=0, report=epochs.append)
        train_images, _ = load_split("cifar10", "train", str(tmp_path))
    assert [e["epoch"] for e in epochs] == [1, 2] and result["steps"] == 6
    assert all(np.isfinite(e["train_loss"]) and 0 <= e["test_accuracy"] <= 1 for e in epochs)
    assert 0 <= result["tta_accuracy"] <= 1 and result["train_seconds"] > 0
    whiten = result["variables"]["params"]["whiten"]
    expected = whitening_kernel(np.asarray(recipe.normalize(train_images[:32])))
    np.testing.assert_allclose(whiten["kernel"], expected, rtol=1e-6)  # frozen through training
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(result["variables"]))
