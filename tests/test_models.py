"""The model zoo: registry, published parameter counts, a real SGD step for every model, input checks.
Models are initialised with `models.init_variables` (compiled, legacy threefry: seconds faster on XLA:CPU)."""

import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn import errors, layers, models

try:
    from tests import reference_ops as ref
except ImportError:  # tests/ on sys.path rather than the repository root
    import reference_ops as ref

# name -> (num_classes, parameters). Published: torchvision (ImageNet ResNets, VGG), He et al. 2016 Table 6
# (CIFAR ResNets 0.27M/0.46M/0.66M/0.85M/1.7M), Zagoruyko & Komodakis 2016 (WRN-28-10 36.5M, WRN-16-4 2.7M),
# LeCun et al. 1998 (LeNet-5), kuangliu/pytorch-cifar (CIFAR ResNet-18, VGG-11/16), note 001 (SimpleCNN).
PUBLISHED_PARAMS = {
    "resnet18": (1000, 11_689_512), "resnet34": (1000, 21_797_672), "resnet50": (1000, 25_557_032),
    "resnet101": (1000, 44_549_160), "resnet152": (1000, 60_192_808),
    "resnet20": (10, 269_722), "resnet32": (10, 464_154), "resnet44": (10, 658_586), "resnet56": (10, 853_018),
    "resnet110": (10, 1_727_962), "resnet18_cifar": (10, 11_173_962),
    "wrn28_10": (10, 36_479_194), "wrn16_4": (10, 2_748_890),
    "vgg11": (1000, 132_863_336), "vgg13": (1000, 133_047_848), "vgg16": (1000, 138_357_544),
    "vgg19": (1000, 143_667_240), "vgg16_bn": (1000, 138_365_992),
    "vgg11_bn": (1000, 132_868_840), "vgg13_bn": (1000, 133_053_736), "vgg19_bn": (1000, 143_678_248),
    "vgg11_cifar": (10, 9_231_114), "vgg16_cifar": (10, 14_728_266),
    "lenet5": (10, 61_706), "simple_cnn": (10, 10_002),
}

# Models with no published count: the count derived by hand from the architecture.
DERIVED_PARAMS = {
    # note 000: conv 3->4 (3x3), conv 4->3 (3x3), Dense 8*8*3 -> 10
    "cnn_4_3": (10, (27 * 4 + 4) + (36 * 3 + 3) + (192 * 10 + 10)),
    # note 003: conv 3->12, conv 12->24 (3x3), Dense 6144-256-128-10
    "sequential_cnn": (10, (27 * 12 + 12) + (108 * 24 + 24) + (6144 * 256 + 256) + (256 * 128 + 128) + 1290),
    # note 004: conv 3->64 (5x5), conv 64->64 (5x5), Dense 16384 -> 1000
    "cnn256": (1000, (75 * 64 + 64) + (1600 * 64 + 64) + (16384 * 1000 + 1000)),
    # conv(no bias)+BN per stage 32/64/128 on 1 channel, Dense 3*3*128 -> 128 -> 10
    "tiny_vgg": (10, (9 * 32 + 64) + (9 * 32 * 64 + 128) + (9 * 64 * 128 + 256) + (1152 * 128 + 128) + 1290),
    # whiten 2x2 3->24 with bias; groups 24->64->64, 64->256->256, 256->256->256 (BN shift only); linear 256->10
    "airbench": (10, (12 * 24 + 24) + 9 * (24 * 64 + 64 * 64 + 64 * 256 + 256 * 256 + 2 * 256 * 256)
                 + 2 * (64 + 256 + 256) + 2560),
    # CIFAR ResNet-18 minus the stem BN and the three shortcut BNs, plus a final BN(512); the first block of
    # stages 2-4 normalises its input (64/128/256 channels) where the post-activation block's bn1 had 2x
    "preact_resnet18": (10, 11_173_962 - 2 * 64 - 2 * (128 + 256 + 512) + 2 * 512 - 2 * (64 + 128 + 256)),
}

# Run for real in the default set (seconds on 2 CPU cores); the rest run in the slow set.
FAST_MODELS = ("simple_cnn", "sequential_cnn", "cnn_4_3", "cnn256", "lenet5", "tiny_vgg", "resnet20", "resnet18_cifar")


def _num_classes(name):
    return 1000 if models.get_spec(name).input_shape[0] >= 224 else 10


@functools.lru_cache(maxsize=None)
def _abstract_params(name, num_classes):
    spec = models.get_spec(name)
    model = models.get_model(name, num_classes=num_classes)
    x = jax.ShapeDtypeStruct((2, *spec.input_shape), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    logits = jax.eval_shape(model.apply, variables, x)  # abstract forward pass at the natural size
    assert logits.shape == (2, num_classes) and logits.dtype == jnp.float32
    return layers.param_count(variables["params"])


def _init(model, x, seed=0):
    return models.init_variables(model, jax.random.key(seed), x)


def test_registry_has_required_models():
    # the zoo's own models: other tests register small nets of their own in the same registry
    names = [name for name in models.list_models() if models.get_spec(name).build.__module__.startswith("jaxcnn.")]
    required = {"simple_cnn", "sequential_cnn", "cnn_4_3", "cnn256", "lenet5", "tiny_vgg", "airbench",
                "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet18", "resnet34", "resnet50",
                "resnet101", "resnet152", "resnet18_cifar", "preact_resnet18", "wrn28_10", "vgg11", "vgg16"}
    assert required <= set(names)
    assert names == sorted(names)
    assert set(PUBLISHED_PARAMS) | set(DERIVED_PARAMS) == set(names)  # every model has a pinned count


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS) + sorted(DERIVED_PARAMS))
def test_parameter_count(name):
    num_classes, expected = {**PUBLISHED_PARAMS, **DERIVED_PARAMS}[name]
    assert _abstract_params(name, num_classes) == expected


def test_parameter_counts_round_to_published_figures():
    millions = {name: _abstract_params(name, nc) / 1e6 for name, nc in
                [("resnet18", 1000), ("resnet50", 1000), ("resnet20", 10), ("wrn28_10", 10), ("resnet110", 10)]}
    assert round(millions["resnet18"], 2) == 11.69
    assert round(millions["resnet50"], 2) == 25.56
    assert round(millions["resnet20"], 2) == 0.27
    assert round(millions["wrn28_10"], 1) == 36.5
    assert round(millions["resnet110"], 1) == 1.7


def test_num_classes_and_shortcut_options_change_counts():
    # the classifier is the only thing num_classes changes: 512 * (1000 - 10) + (1000 - 10) for ResNet-18
    assert _abstract_params("resnet18", 1000) - _abstract_params("resnet18", 10) == 513 * 990
    # option B (projection) shortcuts on ResNet-20 add 1x1 convs + BN at the two downsampling blocks
    model = models.get_model("resnet20", num_classes=10, shortcut="projection")
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
    assert layers.param_count(variables["params"]) == 269_722 + (16 * 32 + 64) + (32 * 64 + 128) == 272_474


def _sgd_step(name, batch=2, input_shape=None, num_classes=None):
    spec = models.get_spec(name)
    input_shape = input_shape or spec.input_shape
    num_classes = num_classes or _num_classes(name)
    model = models.get_model(name, num_classes=num_classes)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(batch, *input_shape)), jnp.float32)
    y = jnp.asarray(rng.integers(0, num_classes, size=batch))
    variables = _init(model, x)
    params = variables["params"]
    state = {k: v for k, v in variables.items() if k != "params"}

    @jax.jit
    def step(params, state):
        def loss_fn(p):
            logits, new_state = model.apply({"params": p, **state}, x, train=True, mutable=list(state),
                                            rngs={"dropout": jax.random.key(1)})
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), (logits, new_state)
        (loss, (logits, new_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        return loss, logits, jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, params, grads), new_state

    loss, logits, new_params, new_state = step(params, state)
    assert logits.shape == (batch, num_classes) and logits.dtype == jnp.float32
    assert np.isfinite(float(loss))
    changed = [float(jnp.abs(a - b).max()) > 0 for a, b in
               zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(new_params))]
    assert all(changed), f"{changed.count(False)} of {len(changed)} parameter arrays got no update"
    if "batch_stats" in state:
        moved = [float(jnp.abs(a - b).max()) > 0 for a, b in
                 zip(jax.tree_util.tree_leaves(state["batch_stats"]), jax.tree_util.tree_leaves(new_state["batch_stats"]))]
        assert all(moved)
    eval_logits = jax.jit(model.apply)({"params": new_params, **new_state}, x)
    assert eval_logits.shape == (batch, num_classes) and bool(jnp.all(jnp.isfinite(eval_logits)))


@pytest.mark.parametrize("name", FAST_MODELS)
def test_model_trains_one_step(name):
    _sgd_step(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(models.list_models()) - set(FAST_MODELS)))
def test_big_model_trains_one_step_at_natural_size(name):
    _sgd_step(name, batch=2)


def test_learns_a_fixed_batch():
    """simple_cnn fits 8 random images with random labels: the loss falls below a tenth of its start."""
    model = models.get_model("simple_cnn", num_classes=4)
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(8, 32, 32, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 4, size=8))
    params = _init(model, x)["params"]
    opt = optax.adam(1e-2)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, opt_state):
        loss, grads = jax.value_and_grad(
            lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean())(params)
        updates, opt_state = opt.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, loss

    losses = []
    for _ in range(60):
        params, opt_state, loss = step(params, opt_state)
        losses.append(float(loss))
    assert losses[-1] < 0.1 * losses[0]


def test_simple_cnn_matches_numpy_forward():
    """Note 001's SimpleCNN, recomputed with the NumPy reference ops."""
    model = models.get_model("simple_cnn", num_classes=10)
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype(np.float32)
    p = jax.tree_util.tree_map(np.asarray, _init(model, jnp.asarray(x))["params"])
    no_pad = ((0, 0), (0, 0))
    h = np.maximum(ref.conv2d(x, p["conv1"]["kernel"], p["conv1"]["bias"], (1, 1), no_pad, (1, 1), 1), 0)
    h = ref.pool2d(h, "max", (2, 2), (2, 2), no_pad)
    assert h.shape == (2, 14, 14, 5)
    h = np.maximum(ref.conv2d(h, p["conv2"]["kernel"], p["conv2"]["bias"], (1, 1), no_pad, (1, 1), 1), 0)
    h = ref.pool2d(h, "max", (2, 2), (2, 2), no_pad).reshape(2, -1)
    assert h.shape == (2, 250)
    h = np.maximum(h @ p["fc1"]["kernel"] + p["fc1"]["bias"], 0)
    expected = h @ p["fc2"]["kernel"] + p["fc2"]["bias"]
    np.testing.assert_allclose(np.asarray(model.apply({"params": p}, x)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,shape,layer,fan_in,first", [
    ("simple_cnn", (32, 32, 3), "fc1", 250, "conv1"),            # note 001: 10*5*5
    ("sequential_cnn", (64, 64, 3), "fc1", 6144, "conv1"),       # note 003: 24*16*16
    ("cnn256", (256, 256, 3), "classifier", 16384, "conv1"),     # note 004
    ("cnn_4_3", (32, 32, 3), "classifier", 192, "conv1"),        # note 000: 3 maps of 8x8
    ("tiny_vgg", (28, 28, 1), "fc1", 1152, "block1"),            # 3*3*128
    ("lenet5", (32, 32, 1), "c5", 400, "c1"),                    # 16*5*5
    ("simple_cnn", (28, 28, 1), "fc1", 160, "conv1"),            # generalised: 1 channel, 28x28 -> 10*4*4
])
def test_dense_input_widths_follow_the_notes(name, shape, layer, fan_in, first):
    model = models.get_model(name, num_classes=10)
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *shape)))
    assert variables["params"][layer]["kernel"].shape[0] == fan_in
    first_params = variables["params"][first]
    kernel = first_params["conv"]["kernel"] if "conv" in first_params else first_params["kernel"]
    assert kernel.shape[2] == shape[2]  # input channels taken from the input


def test_unknown_model_and_bad_options_are_one_line_config_errors():
    with pytest.raises(errors.ConfigError) as info:
        models.get_model("resnet9", num_classes=10)
    message = str(info.value)
    assert message.startswith("unknown model 'resnet9'; choose one of: airbench, ") and "\n" not in message
    assert "resnet18_cifar" in message
    with pytest.raises(errors.ConfigError, match="has no option aux_heads"):
        models.get_model("tiny_vgg", num_classes=10, aux_heads=True)
    assert isinstance(models.get_model("tiny_vgg", num_classes=10, aux_heads=False), models.TinyVGG)
    with pytest.raises(errors.ConfigError, match="num_classes"):
        models.get_model("resnet20", num_classes=0)
    with pytest.raises(errors.ConfigError, match="6n\\+2"):
        models.get_model("resnet20", num_classes=10, depth=21).init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.parametrize("name,shape", [("simple_cnn", (2, 3, 32, 32)), ("tiny_vgg", (2, 1, 28, 28)),
                                        ("resnet20", (4, 3, 32, 32))])
def test_channels_first_input_is_rejected_with_the_fix(name, shape):
    model = models.get_model(name, num_classes=10)
    with pytest.raises(errors.ChannelOrderError) as info:
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
    message = str(info.value)
    assert "\n" not in message and "NCHW" in message and "NHWC" in message and "nchw_to_nhwc" in message
    variables = jax.eval_shape(model.init, jax.random.key(0), layers.nchw_to_nhwc(jnp.zeros(shape)))
    assert "params" in variables


@pytest.mark.parametrize("name,shape,layer", [("simple_cnn", (8, 8, 3), "layer 'conv2' (Conv2d)"),
                                              ("cnn256", (8, 8, 3), "layer 'pool2' (MaxPool2d)"),
                                              ("lenet5", (12, 12, 1), "layer 'c3' (Conv2d)")])
def test_too_small_input_names_the_layer(name, shape, layer):
    model = models.get_model(name, num_classes=10)
    with pytest.raises(errors.ShapeError) as info:
        jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, *shape)))
    message = str(info.value)
    assert message.startswith(layer) and "floor((" in message and "\n" not in message


def test_bfloat16_computation_keeps_float32_params_and_logits():
    x = jnp.asarray(np.random.default_rng(3).normal(size=(2, 32, 32, 3)), jnp.float32)
    full = models.CifarResNet(num_classes=10, depth=8)
    half = models.CifarResNet(num_classes=10, depth=8, dtype=jnp.bfloat16)
    variables = _init(half, x)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(variables)} == {jnp.dtype(jnp.float32)}
    out_half, out_full = jax.jit(half.apply)(variables, x), jax.jit(full.apply)(variables, x)
    assert out_half.dtype == jnp.float32
    assert float(jnp.abs(out_half - out_full).max()) < 0.05 * float(jnp.abs(out_full).max()) + 0.05


def test_airbench_whitening_kernel_whitens_patches():
    rng = np.random.default_rng(4)
    mixing = rng.normal(size=(3, 3))
    images = (rng.normal(size=(64, 12, 12, 3)) @ mixing).astype(np.float32)  # correlated channels
    kernel = models.whitening_kernel(images, kernel_size=2, eps=1e-6)
    assert kernel.shape == (2, 2, 3, 24)
    np.testing.assert_allclose(kernel[..., 12:], -kernel[..., :12])
    out = np.asarray(layers.Conv2d(24, 2, use_bias=False).apply({"params": {"kernel": kernel}}, images))
    flat = out[..., :12].reshape(-1, 12)
    np.testing.assert_allclose(flat.T @ flat / len(flat), np.eye(12), atol=1e-2)


NORM_OVER_BATCH = functools.partial(layers.BatchNorm, axis_name="batch")
# Models run for real under a named axis, at small inputs (global pooling makes them size-agnostic): one per
# kind of normalisation site (ConvBNAct, basic block + stem, pre-activation block + final BN, airbench's BN).
SMALL_INPUTS = {"tiny_vgg": (12, 12, 1), "resnet20": (8, 8, 3), "wrn16_4": (8, 8, 3), "airbench": (16, 16, 3)}


def _train_apply(model):
    """A training-mode apply returning (logits, {'batch_stats': ...})."""
    return lambda variables, x: model.apply(variables, x, train=True, mutable=["batch_stats"],
                                            rngs={"dropout": jax.random.key(1)})


def _init_batch_norm_axes(model, shards) -> tuple[list, dict]:
    """(the `axis_name` of every BatchNorm called, the variables) of an abstract training-mode init of `model`,
    vmapped over `shards` on axis 'batch' (as pmap over devices)."""
    axes = []

    def record(next_fun, args, kwargs, context):
        if isinstance(context.module, nn.BatchNorm) and context.method_name == "__call__":
            axes.append(context.module.axis_name)
        return next_fun(*args, **kwargs)

    def init(x):
        return model.init_with_output({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x, train=True)

    with nn.intercept_methods(record):
        out, variables = jax.eval_shape(jax.vmap(init, axis_name="batch"), shards)
    assert out.shape == (*shards.shape[:2], 7)
    return axes, variables


@pytest.mark.parametrize("name", models.list_models())
def test_every_model_takes_a_norm_and_builds_every_batch_norm_from_it(name):
    """`norm=` is accepted by every registered model; every BatchNorm a model calls is built by that norm (so
    it reduces over the named axis); a model without a `norm` field has none (get_model drops the norm)."""
    model = models.get_model(name, num_classes=7, norm=NORM_OVER_BATCH)
    axes, variables = _init_batch_norm_axes(model, jax.ShapeDtypeStruct((2, 2, *models.get_spec(name).input_shape),
                                                                        jnp.float32))
    norm_layers = sum(1 for path, _ in jax.tree_util.tree_leaves_with_path(variables.get("batch_stats", {}))
                      if path[-1].key == "mean")
    assert axes == ["batch"] * norm_layers
    has_norm_field = "norm" in {field.name for field in dataclasses.fields(type(model))}
    assert has_norm_field or norm_layers == 0
    if name in ("tiny_vgg", "resnet20", "resnet50", "preact_resnet18", "wrn16_4", "vgg16_bn", "airbench"):
        assert norm_layers > 0  # the check above is not vacuous for every family with BatchNorm


@pytest.mark.parametrize("name", sorted(SMALL_INPUTS))
def test_every_norm_layer_updates_its_statistics_with_the_model_bn_momentum(name):
    """A `NormalizedClassifier`'s `bn_momentum` reaches every norm layer: from zero running means, one training
    step leaves (1 - momentum) * batch mean, so momentum 0.5 gives 5x the running means of momentum 0.9."""
    x = jnp.asarray(np.random.default_rng(6).normal(size=(4, *SMALL_INPUTS[name])), jnp.float32)
    model = models.get_model(name, num_classes=7, bn_momentum=0.9)
    assert isinstance(model, models.NormalizedClassifier)
    variables = _init(model, x)
    means = {}
    for momentum in (0.9, 0.5):
        _, state = jax.jit(_train_apply(model.clone(bn_momentum=momentum)))(variables, x)
        means[momentum] = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(state["batch_stats"])
                           if path[-1].key == "mean"]
    assert len(means[0.5]) > 0
    for slow, fast in zip(means[0.9], means[0.5]):
        np.testing.assert_allclose(np.asarray(fast), 5 * np.asarray(slow), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SMALL_INPUTS))
def test_norm_over_a_mapped_axis_gives_the_global_batch_statistics(name):
    """Under vmap over axis 'batch' (as pmap over devices), two shards of 2 normalise with the statistics of
    the whole batch of 4: the same logits and batch_stats as one unsharded pass; without the axis they differ."""
    shape = SMALL_INPUTS[name]
    x = jnp.asarray(np.random.default_rng(5).normal(size=(4, *shape)), jnp.float32)
    whole = models.get_model(name, num_classes=7)
    variables = _init(whole, x)
    expected, expected_state = jax.jit(_train_apply(whole))(variables, x)
    shards = x.reshape(2, 2, *shape)
    sharded = models.get_model(name, num_classes=7, norm=NORM_OVER_BATCH)
    out, state = jax.jit(jax.vmap(_train_apply(sharded), in_axes=(None, 0), axis_name="batch"))(variables, shards)
    np.testing.assert_allclose(np.asarray(out).reshape(4, 7), np.asarray(expected), rtol=1e-4, atol=1e-5)
    for shard in (0, 1):
        jax.tree.map(lambda got, want: np.testing.assert_allclose(got[shard], want, rtol=1e-4, atol=1e-6),
                     state, expected_state)
    _, local_state = jax.jit(jax.vmap(_train_apply(whole), in_axes=(None, 0)))(variables, shards)
    assert any(not np.allclose(got[0], want, rtol=1e-4, atol=1e-6) for got, want in
               zip(jax.tree.leaves(local_state), jax.tree.leaves(expected_state)))