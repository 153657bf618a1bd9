"""Residual blocks (shortcut options, shapes, parameter counts, exact identities) and auxiliary heads."""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import blocks, errors, layers, models


def _x(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _init(module, x):
    return models.init_variables(module, jax.random.key(0), x)


def test_basic_block_identity_shortcut_is_exact_with_zero_init_residual():
    x = _x((2, 8, 8, 16))
    block = blocks.BasicBlock(16, zero_init_residual=True)
    variables = _init(block, x)
    assert "downsample_conv" not in variables["params"]
    # the last BN's scale is 0 and its shift 0, so the residual branch adds nothing: out = relu(x)
    np.testing.assert_allclose(np.asarray(block.apply(variables, x)), np.maximum(np.asarray(x), 0), atol=1e-6)
    assert layers.param_count(variables["params"]) == 2 * (9 * 16 * 16 + 2 * 16)


def test_basic_block_projection_shortcut_option_b():
    x = _x((2, 8, 8, 16))
    block = blocks.BasicBlock(32, stride=2)
    variables = _init(block, x)
    params = variables["params"]
    assert params["downsample_conv"]["kernel"].shape == (1, 1, 16, 32)
    assert set(params["downsample_bn"]) == {"scale", "bias"}
    out, updates = block.apply(variables, x, train=True, mutable=["batch_stats"])
    assert out.shape == (2, 4, 4, 32) and float(out.min()) >= 0.0
    assert set(updates["batch_stats"]) == {"bn1", "bn2", "downsample_bn"}
    expected = 9 * 16 * 32 + 9 * 32 * 32 + 16 * 32 + 3 * 2 * 32
    assert layers.param_count(params) == expected


def test_pad_shortcut_option_a_has_no_parameters_and_is_exact():
    x = _x((2, 7, 7, 16))
    out = blocks.pad_shortcut(x, 32, 2)
    assert out.shape == (2, 4, 4, 32)
    np.testing.assert_array_equal(np.asarray(out[..., 8:24]), np.asarray(x[:, ::2, ::2, :]))
    assert float(jnp.abs(out[..., :8]).max()) == 0.0 and float(jnp.abs(out[..., 24:]).max()) == 0.0
    block = blocks.BasicBlock(32, stride=2, shortcut="pad", zero_init_residual=True)
    variables = _init(block, x)
    assert set(variables["params"]) == {"conv1", "bn1", "conv2", "bn2"}
    np.testing.assert_allclose(np.asarray(block.apply(variables, x)), np.maximum(np.asarray(out), 0), atol=1e-6)
    with pytest.raises(errors.ConfigError, match="cannot reduce channels"):
        blocks.pad_shortcut(x, 8, 1)


def test_conv_always_shortcut_projects_even_when_shapes_match():
    x = _x((1, 4, 4, 8))
    variables = _init(blocks.BasicBlock(8, shortcut="conv_always"), x)
    assert variables["params"]["downsample_conv"]["kernel"].shape == (1, 1, 8, 8)
    with pytest.raises(errors.ConfigError, match="unknown shortcut 'b'"):
        _init(blocks.BasicBlock(8, shortcut="b"), x)


def test_bottleneck_expands_four_times():
    x = _x((2, 8, 8, 64))
    block = blocks.Bottleneck(16, stride=2)
    variables = _init(block, x)
    out = block.apply(variables, x)
    assert out.shape == (2, 4, 4, 64)
    p = variables["params"]
    assert p["conv1"]["kernel"].shape == (1, 1, 64, 16)
    assert p["conv2"]["kernel"].shape == (3, 3, 16, 16)  # stride on the 3x3 ("v1.5")
    assert p["conv3"]["kernel"].shape == (1, 1, 16, 64)
    expected = 64 * 16 + 9 * 16 * 16 + 16 * 64 + 64 * 64 + 2 * (16 + 16 + 64 + 64)
    assert layers.param_count(p) == expected


def test_preact_block_identity_path_is_exact():
    x = _x((2, 6, 6, 8))
    block = blocks.PreActBlock(8)
    variables = _init(block, x)
    assert set(variables["params"]) == {"bn1", "conv1", "bn2", "conv2"}
    params = jax.tree_util.tree_map(lambda a: a, variables["params"])
    params["conv2"] = {"kernel": jnp.zeros_like(params["conv2"]["kernel"])}
    # no activation after the sum: with the residual branch silenced the block returns x exactly
    np.testing.assert_array_equal(np.asarray(block.apply({**variables, "params": params}, x)), np.asarray(x))


def test_preact_projection_is_a_bare_conv_on_the_preactivated_input():
    x = _x((2, 6, 6, 8))
    block = blocks.PreActBlock(16, stride=2)
    variables = _init(block, x)
    p = variables["params"]
    assert p["shortcut_conv"]["kernel"].shape == (1, 1, 8, 16) and "downsample_bn" not in p
    params = dict(p, conv2={"kernel": jnp.zeros_like(p["conv2"]["kernel"])})
    out = block.apply({**variables, "params": params}, x)
    pre = np.maximum(np.asarray(x) / np.sqrt(1 + 1e-5), 0)  # eval BN with running mean 0, var 1
    expected = np.einsum("nhwc,co->nhwo", pre[:, ::2, ::2], np.asarray(p["shortcut_conv"]["kernel"][0, 0]))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)


def test_wide_block_dropout_only_in_training():
    x = _x((2, 6, 6, 8))
    block = blocks.WideBlock(8, dropout_rate=0.5)
    variables = _init(block, x)
    run = lambda key: block.apply(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": key})[0]
    a, b = run(jax.random.key(1)), run(jax.random.key(2))
    assert float(jnp.abs(a - b).max()) > 1e-3
    np.testing.assert_array_equal(np.asarray(block.apply(variables, x)), np.asarray(block.apply(variables, x)))


def test_aux_head_sows_logits_only_in_training():
    x = _x((3, 5, 5, 8))
    head = blocks.AuxHead(4, hidden=6)
    variables = _init(head, x)
    logits, state = head.apply(variables, x, train=True, mutable=["aux"])
    assert logits.shape == (3, 4) and logits.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(state["aux"]["logits"][0]), np.asarray(logits))
    _, state = head.apply(variables, x, train=False, mutable=["aux"])
    assert "aux" not in state or not state["aux"]
    # logits = Dense(relu(Dense(mean over H, W)))
    p = variables["params"]
    h = np.maximum(np.asarray(x).mean(axis=(1, 2)) @ p["hidden"]["kernel"] + p["hidden"]["bias"], 0)
    np.testing.assert_allclose(np.asarray(logits), h @ p["classifier"]["kernel"] + p["classifier"]["bias"],
                               rtol=1e-5, atol=1e-5)


# Small members of each family with aux heads (the registry's full-size ones compile too slowly for CI).
AUX_MODELS = {
    "simple_cnn": (lambda aux: models.get_model("simple_cnn", num_classes=5, aux_heads=aux), 1),
    "cifar_resnet8": (lambda aux: models.CifarResNet(num_classes=5, depth=8, aux_heads=aux), 2),
    "resnet_tiny": (lambda aux: models.ResNet(num_classes=5, stage_sizes=(1, 1, 1, 1), widths=(8, 8, 16, 16),
                                              stem="cifar", aux_heads=aux), 3),
}


@pytest.mark.parametrize("name", sorted(AUX_MODELS))
def test_models_with_aux_heads(name):
    build, heads = AUX_MODELS[name]
    x = _x((2, 32, 32, 3))
    model, plain = build(True), build(False)
    variables = _init(model, x)  # init with train=False still creates the heads' parameters
    head_names = sorted(k for k in variables["params"] if k.startswith("aux_head"))
    assert len(head_names) == heads
    mutable = ["batch_stats", "aux"] if "batch_stats" in variables else ["aux"]

    def aux_loss(params):
        _, state = model.apply({**variables, "params": params}, x, train=True, mutable=mutable)
        aux = jax.tree_util.tree_leaves(state["aux"])
        return sum(jnp.sum(a ** 2) for a in aux), aux

    (_, aux), grads = jax.jit(jax.value_and_grad(aux_loss, has_aux=True))(variables["params"])
    assert len(aux) == heads and all(a.shape == (2, 5) and a.dtype == jnp.float32 for a in aux)
    # the aux losses give the early layers a gradient of their own
    assert float(jnp.abs(grads["conv1"]["kernel"]).sum()) > 0
    assert float(jnp.abs(grads[head_names[0]]["classifier"]["kernel"]).sum()) > 0
    # at eval the heads are not run and do not change the main logits
    main = {k: v for k, v in variables["params"].items() if not k.startswith("aux_head")}
    evaluate = jax.jit(lambda v: (model.apply(v, x, mutable=["aux"]), plain.apply({**v, "params": main}, x)))
    (eval_logits, eval_state), plain_logits = evaluate(variables)
    assert not eval_state.get("aux")
    np.testing.assert_allclose(np.asarray(eval_logits), np.asarray(plain_logits), rtol=1e-5, atol=1e-5)


def test_wide_resnet_aux_heads_exist():
    model = models.WideResNet(num_classes=5, depth=10, widen_factor=1, aux_heads=True)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert sorted(k for k in variables["params"] if k.startswith("aux_head")) == ["aux_head1", "aux_head2"]
    assert variables["params"]["aux_head2"]["classifier"]["kernel"].shape == (32, 5)


class _Stages(nn.Module):
    """The smallest model on `blocks.residual_stages`: basic blocks, aux heads after all but the last stage."""

    num_classes: int = 3
    aux_heads: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        block = functools.partial(blocks.BasicBlock, shortcut="pad", dtype=self.dtype)
        return blocks.residual_stages(self, x, train, block, [(4, 2), (8, 1), (8, 2)], "stage")


def test_residual_stages_stride_names_and_aux_heads():
    x = _x((2, 8, 8, 4))
    model = _Stages()
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    assert sorted(variables["params"]) == ["aux_head1", "aux_head2", "stage1_0", "stage1_1", "stage2_0", "stage3_0",
                                           "stage3_1"]
    assert variables["params"]["aux_head1"]["classifier"]["kernel"].shape == (4, 3)
    train = lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats", "aux"])
    out, state = jax.eval_shape(train, variables, x)
    assert out.shape == (2, 2, 2, 8)  # stride 2 at the first block of stages 2 and 3 only: 8 -> 4 -> 2
    assert sorted(state["aux"]) == ["aux_head1", "aux_head2"]
    plain = jax.eval_shape(_Stages(aux_heads=False).init, jax.random.key(0), x)["params"]
    assert sorted(plain) == ["stage1_0", "stage1_1", "stage2_0", "stage3_0", "stage3_1"]


def test_blocks_build_their_norm_layers_from_norm():
    """Every normalisation layer of a block comes from its `norm` factory, which carries the settings."""
    x = _x((2, 8, 8, 8))
    no_scale = functools.partial(layers.BatchNorm, use_scale=False)
    for block in (blocks.BasicBlock(16, stride=2, norm=no_scale), blocks.Bottleneck(4, stride=2, norm=no_scale),
                  blocks.PreActBlock(16, stride=2, norm=no_scale), blocks.WideBlock(8, norm=no_scale)):
        params = jax.eval_shape(block.init, jax.random.key(0), x)["params"]
        norms = [name for name in params if "bn" in name]
        assert norms and all(set(params[name]) == {"bias"} for name in norms), type(block).__name__
