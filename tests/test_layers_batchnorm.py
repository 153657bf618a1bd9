"""BatchNorm with PyTorch's meaning: the running variance follows the unbiased batch variance, batch variances are
computed in two passes (precise far from zero), statistics combine over a mapped axis; FlaxBatchNorm keeps
flax's one-pass, biased numbers. Checked against closed forms and float64 NumPy, and against torch when it is
installed."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import layers


def _train_step(module, x):
    variables = module.init(jax.random.key(0), x, use_running_average=False)
    return module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])


def test_the_running_variance_is_the_unbiased_one_as_in_pytorch():
    x = jnp.array([0.0, 2.0]).reshape(2, 1, 1, 1)  # batch variance 1 (biased), 2 (unbiased)
    _, stats = _train_step(layers.BatchNorm(), x)
    np.testing.assert_allclose(stats["batch_stats"]["var"], [0.9 * 1 + 0.1 * 2])  # PyTorch: 1.1
    np.testing.assert_allclose(stats["batch_stats"]["mean"], [0.1])
    _, flax_stats = _train_step(layers.FlaxBatchNorm(), x)
    np.testing.assert_allclose(flax_stats["batch_stats"]["var"], [1.0])  # flax: the biased one


def test_batch_variance_stays_precise_far_from_zero():
    x = np.random.default_rng(0).normal(100.0, 1.0, (64, 4, 4, 3)).astype(np.float32)
    x64 = x.astype(np.float64)
    exact_var = x64.var(axis=(0, 1, 2))
    exact = (x64 - x64.mean(axis=(0, 1, 2))) / np.sqrt(exact_var + 1e-5)
    y, stats = _train_step(layers.BatchNorm(), x)
    n = x.shape[0] * x.shape[1] * x.shape[2]
    np.testing.assert_allclose(stats["batch_stats"]["var"], 0.9 + 0.1 * exact_var * n / (n - 1), rtol=1e-5)
    assert np.abs(np.asarray(y) - exact).max() < 5e-4
    flax_y, _ = _train_step(layers.FlaxBatchNorm(), x)
    assert np.abs(np.asarray(flax_y) - exact).max() > 10 * np.abs(np.asarray(y) - exact).max()  # one pass loses it


def test_eval_mode_uses_the_running_statistics_and_settings_switch_scale_and_bias():
    x = jnp.arange(24.0).reshape(2, 2, 2, 3)
    module = layers.BatchNorm(use_scale=False, use_bias=False)
    variables = module.init(jax.random.key(0), x, use_running_average=True)
    assert "params" not in variables
    stats = {"mean": jnp.array([1.0, 2.0, 3.0]), "var": jnp.array([4.0, 9.0, 16.0])}
    y = module.apply({"batch_stats": stats}, x, use_running_average=True)
    np.testing.assert_allclose(y, (x - stats["mean"]) / jnp.sqrt(stats["var"] + 1e-5), rtol=1e-6)


def test_statistics_over_a_mapped_axis_equal_those_of_the_whole_batch():
    x = np.random.default_rng(1).normal(3.0, 2.0, (4, 6, 5, 5, 2)).astype(np.float32)  # 4 shards of 6
    mapped = layers.BatchNorm(axis_name="shards")
    variables = mapped.init(jax.random.key(0), x[0], use_running_average=False)
    y, stats = jax.vmap(lambda part: mapped.apply(variables, part, use_running_average=False, mutable=["batch_stats"]),
                        axis_name="shards")(x)
    whole_y, whole_stats = layers.BatchNorm().apply(variables, x.reshape(24, 5, 5, 2), use_running_average=False,
                                                    mutable=["batch_stats"])
    np.testing.assert_allclose(y.reshape(24, 5, 5, 2), whole_y, atol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(stats["batch_stats"][name][0], whole_stats["batch_stats"][name], rtol=1e-5)


def test_matches_torch_batchnorm2d_in_training_and_eval():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.normal(50.0, 3.0, (8, 5, 5, 4)).astype(np.float32)
    reference = torch.nn.BatchNorm2d(4, momentum=0.1, eps=1e-5)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(rng.normal(1, 0.1, 4).astype(np.float32)))
        reference.bias.copy_(torch.tensor(rng.normal(0, 0.1, 4).astype(np.float32)))
    module = layers.BatchNorm()
    variables = {"params": {"scale": jnp.asarray(reference.weight.detach().numpy()),
                            "bias": jnp.asarray(reference.bias.detach().numpy())},
                 "batch_stats": {"mean": jnp.zeros(4), "var": jnp.ones(4)}}
    reference.train()
    expected = reference(torch.tensor(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
    y, stats = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    np.testing.assert_allclose(y, expected, atol=2e-5)
    np.testing.assert_allclose(stats["batch_stats"]["mean"], reference.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(stats["batch_stats"]["var"], reference.running_var.numpy(), rtol=1e-5)
    reference.eval()
    expected_eval = reference(torch.tensor(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
    y_eval = module.apply({**variables, **stats}, x, use_running_average=True)
    np.testing.assert_allclose(y_eval, expected_eval, atol=2e-5)


def test_models_take_either_flavour_through_their_norm_partial():
    from jaxcnn import models

    x = jnp.ones((2, 28, 28, 1))
    for norm in (layers.BatchNorm, functools.partial(layers.FlaxBatchNorm, axis_name=None)):
        model = models.get_model("tiny_vgg", num_classes=10, norm=norm)
        variables = jax.eval_shape(model.init, jax.random.key(0), x)  # shapes only: no compilation
        assert variables["batch_stats"]["block1"]["bn"]["var"].shape == (32,)  # the same names either way
