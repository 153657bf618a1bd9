"""jaxcnn.layers against an independent NumPy reference (tests/reference_ops.py) and by definition."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import errors, layers
try:
    from tests import reference_ops as ref
except ImportError:  # tests/ on sys.path rather than the repository root
    import reference_ops as ref

PADDINGS = ("valid", "same", "int", "pair", "per_side")

# The one channel-order rule (`layers.looks_channels_first`), which tests/test_augment.py checks augment
# follows on these same shapes: axis 1 holds <= 4 channels while both later axes are larger than 4.
CHANNELS_FIRST_SHAPES = [(2, 3, 32, 32), (2, 1, 28, 28), (2, 4, 16, 16), (2, 2, 5, 5)]
CHANNELS_LAST_SHAPES = [(2, 32, 32, 3), (2, 28, 28, 1), (2, 16, 16, 4), (2, 4, 4, 3), (2, 3, 32, 4), (2, 3, 8, 3)]


def _random_padding(rng, kind, kernel):
    if kind in ("valid", "same"):
        return kind, kind
    if kind == "int":
        p = int(rng.integers(0, 3))
        return p, ((p, p), (p, p))
    if kind == "pair":
        ph, pw = (int(v) for v in rng.integers(0, 3, size=2))
        return (ph, pw), ((ph, ph), (pw, pw))
    pads = tuple(tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in range(2))
    return pads, pads


def _conv_config(seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 1, 2, 3]))
    cfg = dict(
        hw=tuple(int(v) for v in rng.integers(3, 11, size=2)),
        cin=groups * int(rng.integers(1, 3)),
        cout=groups * int(rng.integers(1, 3)),
        kernel=tuple(int(v) for v in rng.integers(1, 5, size=2)),
        stride=tuple(int(v) for v in rng.integers(1, 4, size=2)),
        dilation=tuple(int(v) for v in rng.integers(1, 3, size=2)),
        groups=groups,
        bias=bool(rng.integers(0, 2)),
        padding_kind=PADDINGS[seed % len(PADDINGS)],
    )
    if seed % 7 == 0:  # depthwise: one filter per channel
        cfg.update(groups=cfg["cin"], cout=cfg["cin"])
    return rng, cfg


@pytest.mark.parametrize("seed", range(60))
def test_conv_matches_numpy_reference(seed):
    rng, cfg = _conv_config(seed)
    layer_padding, pair_padding = _random_padding(rng, cfg["padding_kind"], cfg["kernel"])
    x = rng.normal(size=(2, *cfg["hw"], cfg["cin"])).astype(np.float32)
    w = rng.normal(size=(*cfg["kernel"], cfg["cin"] // cfg["groups"], cfg["cout"])).astype(np.float32)
    b = rng.normal(size=(cfg["cout"],)).astype(np.float32)
    conv = layers.Conv2d(cfg["cout"], cfg["kernel"], cfg["stride"], layer_padding, cfg["dilation"], cfg["groups"],
                         use_bias=cfg["bias"])
    params = {"kernel": w, "bias": b} if cfg["bias"] else {"kernel": w}

    if pair_padding in ("valid", "same"):
        pads = tuple(ref.explicit_pads(pair_padding, n, k, s, d)
                     for n, k, s, d in zip(cfg["hw"], cfg["kernel"], cfg["stride"], cfg["dilation"]))
    else:
        pads = pair_padding
    expected = ref.conv2d(x, w, b if cfg["bias"] else None, cfg["stride"], pads, cfg["dilation"], cfg["groups"])
    shape = layers.conv_output_shape(cfg["hw"], cfg["kernel"], cfg["stride"], layer_padding, cfg["dilation"])
    if min(expected.shape[1:3]) == 0:  # no window fits: the layer must refuse with the arithmetic
        assert min(shape) <= 0
        with pytest.raises(errors.ShapeError, match=r"floor\(\("):
            conv.apply({"params": params}, x)
        return
    assert shape == expected.shape[1:3]
    out = conv.apply({"params": params}, x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["max", "avg", "avg_exclude_pad", "min", "lp"])
@pytest.mark.parametrize("seed", range(12))
def test_pooling_matches_numpy_reference(kind, seed):
    rng = np.random.default_rng(1000 + seed)
    hw = tuple(int(v) for v in rng.integers(2, 12, size=2))
    window = tuple(int(v) for v in rng.integers(1, 5, size=2))
    stride = None if seed % 3 == 0 else tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding_kind = ("valid", "same", "int", "per_side")[seed % 4]
    if padding_kind == "int":
        padding = int(rng.integers(0, min(window) // 2 + 1))
        pads = ((padding, padding), (padding, padding))
    elif padding_kind == "per_side":
        padding = tuple(tuple(int(v) for v in rng.integers(0, k // 2 + 1, size=2)) for k in window)
        pads = padding
    else:
        padding = padding_kind
        strides = window if stride is None else stride
        pads = tuple(ref.explicit_pads(padding, n, k, s, 1) for n, k, s in zip(hw, window, strides))
    x = rng.normal(size=(2, *hw, 3)).astype(np.float32)
    p = float(rng.choice([1.0, 2.0, 3.0])) if kind == "lp" else 2.0
    base, include = ("avg", False) if kind == "avg_exclude_pad" else (kind, True)
    expected = ref.pool2d(x, base, window, window if stride is None else stride, pads, include, p)
    shape = layers.pool_output_shape(hw, window, stride, padding)
    if min(expected.shape[1:3]) == 0:
        with pytest.raises(errors.ShapeError, match="too small"):
            layers.pool2d(x, base, window, stride, padding)
        return
    assert shape == expected.shape[1:3]
    out = layers.pool2d(x, base, window, stride, padding, count_include_pad=include, p=p)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)
    # The layer forms agree with the functional forms.
    module = {"max": layers.MaxPool2d(window, stride, padding), "min": layers.MinPool2d(window, stride, padding),
              "avg": layers.AvgPool2d(window, stride, padding, count_include_pad=include),
              "lp": layers.LpPool2d(window, stride, padding, p=p)}[base]
    np.testing.assert_allclose(np.asarray(module.apply({}, x)), expected, rtol=1e-5, atol=1e-5)


def test_output_shapes_from_the_notes():
    # note 001: 32x32 -> conv5 -> 28 -> pool2 -> 14 -> conv5 -> 10 -> pool2 -> 5
    assert layers.conv_output_shape((32, 32), 5) == (28, 28)
    assert layers.pool_output_shape((28, 28), 2) == (14, 14)
    assert layers.conv_output_shape((14, 14), 5) == (10, 10)
    # note 002: 100x50 image convolved with a 6x6 filter -> 95x45
    assert layers.conv_output_shape((100, 50), 6) == (95, 45)
    # note 004: 256x256 'same' conv keeps size, stride-4 pooling twice -> 16x16
    assert layers.conv_output_shape((256, 256), 5, padding="same") == (256, 256)
    assert layers.pool_output_shape(layers.pool_output_shape((256, 256), 4), 4) == (16, 16)
    # ResNet stem: 7x7/2 pad 3 then 3x3/2 pad 1 max-pool: 224 -> 112 -> 56
    assert layers.conv_output_shape((224, 224), 7, 2, 3) == (112, 112)
    assert layers.pool_output_shape((112, 112), 3, 2, 1) == (56, 56)
    # dilation enlarges the kernel's span to d*(k-1)+1
    assert layers.conv_output_shape((10, 10), 3, dilation=2) == (6, 6)
    assert layers.conv_output_shape((7, 9), (3, 1), (2, 3), ((1, 0), (2, 2))) == (3, 5)
    # 'same' with stride gives ceil(n / stride) whatever the kernel
    for n in range(1, 20):
        for s in (1, 2, 3):
            assert layers.conv_output_shape((n, n), 4, s, "same") == (-(-n // s),) * 2


def test_formula_matches_window_enumeration():
    for n in range(1, 13):
        for k in range(1, 5):
            for s in range(1, 4):
                for d in range(1, 3):
                    for lo, hi in ((0, 0), (1, 0), (2, 1)):
                        span = d * (k - 1) + 1
                        fits = len([i for i in range(0, n + lo + hi, s) if i + span <= n + lo + hi])
                        assert max(layers.conv_output_size(n, k, s, lo, hi, d), 0) == fits


def test_conv_parameter_shapes_bias_depthwise_and_pointwise():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 6, 6, 4)), jnp.float32)
    depthwise = layers.Conv2d(4, 3, groups=4, use_bias=False)
    params = depthwise.init(jax.random.key(0), x)["params"]
    assert set(params) == {"kernel"} and params["kernel"].shape == (3, 3, 1, 4)
    pointwise = layers.Conv2d(7, 1)
    params = pointwise.init(jax.random.key(0), x)["params"]
    assert params["kernel"].shape == (1, 1, 4, 7) and params["bias"].shape == (7,)
    out = pointwise.apply({"params": params}, x)
    expected = np.einsum("nhwc,co->nhwo", np.asarray(x), np.asarray(params["kernel"][0, 0])) + params["bias"]
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-5, atol=1e-5)


def test_conv_computes_in_bfloat16_with_float32_params():
    x = jnp.ones((1, 5, 5, 3))
    conv = layers.Conv2d(4, 3, dtype=jnp.bfloat16)
    variables = conv.init(jax.random.key(0), x)
    assert variables["params"]["kernel"].dtype == jnp.float32
    out = conv.apply(variables, x)
    assert out.dtype == jnp.bfloat16 and out.shape == (1, 3, 3, 4)
    full = layers.Conv2d(4, 3).apply(variables, x)
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(full), rtol=3e-2, atol=3e-2)


def test_bad_conv_settings_are_config_errors():
    x = jnp.ones((1, 8, 8, 3))
    with pytest.raises(errors.ConfigError, match="groups=2"):
        layers.Conv2d(4, 3, groups=2).init(jax.random.key(0), x)
    with pytest.raises(errors.ConfigError, match="padding"):
        layers.Conv2d(4, 3, padding="full").init(jax.random.key(0), x)
    with pytest.raises(errors.ConfigError, match="padding"):
        layers.conv_output_shape((8, 8), 3, padding=-1)
    with pytest.raises(errors.ConfigError, match="stride"):
        layers.conv_output_shape((8, 8), 3, stride=0)
    with pytest.raises(errors.ConfigError, match="half the window"):
        layers.max_pool(x, 2, padding=2)
    with pytest.raises(errors.ConfigError, match="unknown pooling kind"):
        layers.pool2d(x, "median", 2)


def test_too_small_input_names_layer_and_arithmetic():
    conv = layers.Conv2d(8, 5, name="conv_big")
    x = jnp.ones((1, 4, 6, 3))
    with pytest.raises(errors.ShapeError) as info:
        conv.init(jax.random.key(0), x)
    message = str(info.value)
    assert "\n" not in message
    assert "Conv2d" in message and "4x6" in message
    assert "floor((4 + 0 + 0 - 1*(5-1) - 1)/1) + 1 = 0" in message
    with pytest.raises(errors.ShapeError, match=r"floor\(\(1 \+ 0 \+ 0 - 1\*\(2-1\) - 1\)/2\) \+ 1 = 0"):
        layers.max_pool(jnp.ones((1, 1, 1, 2)), 2)


def test_global_and_adaptive_pooling():
    x = np.random.default_rng(3).normal(size=(2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layers.global_avg_pool(x)), x.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(layers.global_max_pool(x)), x.max(axis=(1, 2)))
    assert layers.GlobalAvgPool().apply({}, x).shape == (2, 3)
    for out_hw in ((1, 1), (2, 3), (3, 3), (5, 7), (4, 6)):
        np.testing.assert_allclose(np.asarray(layers.adaptive_avg_pool(x, out_hw)), ref.adaptive_avg_pool(x, *out_hw),
                                   rtol=1e-5, atol=1e-6)


def test_l2_pool_gradient_is_finite_on_zero_windows():
    x = jnp.zeros((1, 4, 4, 1)).at[0, 0, 0, 0].set(3.0)
    out = layers.lp_pool(x, 2)
    np.testing.assert_allclose(np.asarray(out[0, :, :, 0]), [[3.0, 0.0], [0.0, 0.0]])
    grad = jax.grad(lambda v: layers.lp_pool(v, 2).sum())(x)
    assert np.all(np.isfinite(np.asarray(grad)))
    assert float(grad[0, 0, 0, 0]) == pytest.approx(1.0)


def test_batch_norm_train_eval_and_momentum():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(8, 3, 3, 4)) * 3 + 2).astype(np.float32)
    bn = layers.BatchNorm(use_running_average=False, epsilon=1e-3)
    variables = bn.init(jax.random.key(0), x)
    variables = {"params": {"scale": jnp.arange(1.0, 5.0), "bias": jnp.full((4,), 0.5)},
                 "batch_stats": variables["batch_stats"]}
    out, updates = bn.apply(variables, x, mutable=["batch_stats"])
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    expected = (x - mean) / np.sqrt(var + 1e-3) * np.arange(1.0, 5.0) + 0.5
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)
    # running = 0.9 * running + 0.1 * batch (PyTorch momentum 0.1), the variance unbiased as PyTorch's
    n = 8 * 3 * 3
    np.testing.assert_allclose(np.asarray(updates["batch_stats"]["mean"]), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(updates["batch_stats"]["var"]), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    # eval uses the running statistics
    eval_out = layers.BatchNorm(use_running_average=True, epsilon=1e-3).apply(
        {"params": variables["params"], "batch_stats": updates["batch_stats"]}, x)
    running_mean, running_var = 0.1 * mean, 0.9 + 0.1 * var * n / (n - 1)
    expected = (x - running_mean) / np.sqrt(running_var + 1e-3) * np.arange(1.0, 5.0) + 0.5
    np.testing.assert_allclose(np.asarray(eval_out), expected, rtol=1e-4, atol=1e-4)
    bare = layers.BatchNorm(use_running_average=False, use_scale=False, use_bias=False).init(jax.random.key(0), x)
    assert "params" not in bare


def test_dropout_train_and_eval():
    x = jnp.ones((100, 10, 10, 4))
    drop = layers.Dropout(0.25)
    out = drop.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    kept = np.asarray(out) != 0
    assert 0.72 < kept.mean() < 0.78
    np.testing.assert_allclose(np.asarray(out)[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(drop.apply({}, x, deterministic=True)), np.asarray(x))


def test_conv_bn_act_is_the_composition():
    x = jnp.asarray(np.random.default_rng(1).normal(size=(4, 6, 6, 3)), jnp.float32)
    block = layers.ConvBNAct(5, 3, stride=2)
    variables = block.init(jax.random.key(0), x)
    out, _ = block.apply(variables, x, train=True, mutable=["batch_stats"])
    assert out.shape == (4, 3, 3, 5)
    conv_out = layers.Conv2d(5, 3, 2, "same", use_bias=False).apply({"params": variables["params"]["conv"]}, x)
    y = np.asarray(conv_out)
    expected = np.maximum((y - y.mean(axis=(0, 1, 2))) / np.sqrt(y.var(axis=(0, 1, 2)) + 1e-5), 0)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)
    assert "bias" not in variables["params"]["conv"]


def test_conv_bn_act_hands_every_conv_setting_to_its_conv():
    """ConvBNAct takes Conv2d's settings, positionally in the same order, and its `conv` is that Conv2d."""
    assert [f.name for f in dataclasses.fields(layers.ConvBNAct)][:len(layers.CONV_SETTINGS)] == list(
        layers.CONV_SETTINGS)
    x = jnp.asarray(np.random.default_rng(2).normal(size=(4, 9, 9, 4)), jnp.float32)
    settings = (6, 3, 1, "valid", 2, 2, True)  # features, kernel, stride, padding, dilation, groups, use_bias
    block = layers.ConvBNAct(*settings, param_dtype=jnp.bfloat16, activation=None)
    variables = block.init(jax.random.key(0), x)
    conv_params = variables["params"]["conv"]
    assert conv_params["kernel"].shape == (3, 3, 2, 6) and conv_params["bias"].shape == (6,)
    assert conv_params["kernel"].dtype == jnp.bfloat16
    out, _ = block.apply(variables, x, train=True, mutable=["batch_stats"])
    y = np.asarray(layers.Conv2d(*settings, param_dtype=jnp.bfloat16).apply({"params": conv_params}, x))
    assert y.shape == out.shape == (4, 5, 5, 6)
    expected = (y - y.mean(axis=(0, 1, 2))) / np.sqrt(y.var(axis=(0, 1, 2)) + 1e-5)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


def test_channel_order_helpers():
    x = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    y = layers.nchw_to_nhwc(x)
    assert y.shape == (2, 4, 5, 3) and y[1, 2, 3, 0] == x[1, 0, 2, 3]
    np.testing.assert_array_equal(layers.nhwc_to_nchw(y), x)
    with pytest.raises(errors.ChannelOrderError) as info:
        layers.check_nhwc(jnp.zeros((2, 3, 32, 32)), "net")
    assert "NCHW" in str(info.value) and "nchw_to_nhwc" in str(info.value) and "(2, 32, 32, 3)" in str(info.value)
    with pytest.raises(errors.ShapeError, match=r"x\[None\]"):
        layers.check_nhwc(jnp.zeros((32, 32, 3)), "net")
    torch_weight = np.zeros((8, 3, 5, 4))
    assert layers.torch_conv_kernel_to_hwio(torch_weight).shape == (5, 4, 3, 8)


@pytest.mark.parametrize("shape", CHANNELS_FIRST_SHAPES + CHANNELS_LAST_SHAPES)
def test_one_channel_order_rule(shape):
    channels_first = shape in CHANNELS_FIRST_SHAPES
    assert layers.looks_channels_first(shape) == channels_first
    if channels_first:
        with pytest.raises(errors.ChannelOrderError, match="looks channels-first"):
            layers.check_nhwc(jnp.zeros(shape), "net")
    else:
        layers.check_nhwc(jnp.zeros(shape), "net")


def test_activations_by_name():
    x = jnp.array([-2.0, 0.5])
    np.testing.assert_allclose(np.asarray(layers.get_activation("relu")(x)), [0.0, 0.5])
    np.testing.assert_allclose(np.asarray(layers.get_activation("tanh")(x)), np.tanh([-2.0, 0.5]), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(layers.get_activation(None)(x)), np.asarray(x))
    with pytest.raises(errors.ConfigError, match="unknown activation 'relu6'"):
        layers.get_activation("relu6")


def test_conv_matches_torch_when_available():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 11, 9)).astype(np.float32)
    conv = torch.nn.Conv2d(3, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=3)
    expected = layers.nchw_to_nhwc(conv(torch.from_numpy(x)).detach().numpy())
    params = {"kernel": layers.torch_conv_kernel_to_hwio(conv.weight.detach().numpy()),
              "bias": conv.bias.detach().numpy()}
    out = layers.Conv2d(6, (3, 2), (2, 1), (1, 2), (2, 1), 3).apply({"params": params}, layers.nchw_to_nhwc(x))
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["max", "min", "avg", "lp"])
def test_pooling_gradients_under_jit(kind):
    rng = np.random.default_rng(11)
    x = jnp.asarray(rng.normal(size=(2, 6, 6, 3)), jnp.float32)
    grad = jax.jit(jax.grad(lambda v: layers.pool2d(v, kind, 2, padding="same").sum()))(x)
    g = np.asarray(grad)
    blocks = np.asarray(x).reshape(2, 3, 2, 3, 2, 3)
    if kind in ("max", "min"):  # d(sum of window maxima)/dx is 1 at each window's extreme, 0 elsewhere
        extreme = blocks.max(axis=(2, 4), keepdims=True) if kind == "max" else blocks.min(axis=(2, 4), keepdims=True)
        np.testing.assert_array_equal(g.reshape(blocks.shape), (blocks == extreme).astype(np.float32))
    elif kind == "avg":
        np.testing.assert_allclose(g, 0.25)
    else:  # d||w||_2 / dx = x / ||w||_2
        norms = np.sqrt((blocks ** 2).sum(axis=(2, 4), keepdims=True))
        np.testing.assert_allclose(g.reshape(blocks.shape), blocks / norms, rtol=1e-5, atol=1e-6)


def test_hand_made_filters():
    rng = np.random.default_rng(9)
    flat = np.full((1, 6, 6, 2), 3.0, np.float32)
    # blurring a constant image changes nothing away from the zero-padded border; edge filters give 0
    np.testing.assert_allclose(np.asarray(layers.apply_filter(flat, "box_blur", "valid")), 3.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layers.apply_filter(flat, "sobel_x", "valid")), 0.0, atol=1e-6)
    # note 002's vertical-line kernel responds to a vertical line and not to a horizontal one
    vertical = np.zeros((1, 7, 7, 1), np.float32)
    vertical[0, :, 3, 0] = 1.0
    horizontal = vertical.transpose(0, 2, 1, 3)
    v = np.asarray(layers.apply_filter(vertical, "vertical_lines", "valid"))
    assert v[0, :, 2, 0].tolist() == [6.0] * 5 and v[0, :, 1, 0].tolist() == [-3.0] * 5
    np.testing.assert_allclose(np.asarray(layers.apply_filter(horizontal, "vertical_lines", "valid"))[0, :, 2:3],
                               0.0, atol=1e-6)
    # the filters are cross-correlations, as the reference defines convolution
    x = rng.normal(size=(1, 5, 5, 3)).astype(np.float32)
    expected = ref.conv2d(x, layers.filter_kernel("sobel_y", 3), None, (1, 1), ((1, 1), (1, 1)), (1, 1), 3)
    np.testing.assert_allclose(np.asarray(layers.apply_filter(x, "sobel_y")), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(errors.ConfigError, match="unknown filter 'emboss'"):
        layers.filter_kernel("emboss", 3)
