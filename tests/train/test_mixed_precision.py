"""--dtype=bfloat16: computation in bf16, parameters / optimizer state / BatchNorm statistics in float32,
and the same accuracy band as float32 on a learnable problem."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import tensorflow_datasets as tfds

from experiments import mnist
from jaxcnn import augment, models
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import StepRecipe, make_steps
from scale_run import read_checkpoint


def _quadrant_problem(n, seed):
    """Class = which quadrant of a 16x16 image holds a bright square (noise elsewhere)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.integers(0, 60, (n, 16, 16, 1)).astype(np.uint8)
    for i, label in enumerate(labels):
        y, x = divmod(int(label), 2)
        images[i, y * 8 + 2:y * 8 + 6, x * 8 + 2:x * 8 + 6] = 240
    return {"image": jnp.asarray(images), "label": jnp.asarray(labels, jnp.int32), "mask": jnp.ones(n, bool)}


def _train(dtype, steps=25):
    model = models.get_model("tiny_vgg", num_classes=4, dtype=dtype)
    tx = optax.sgd(0.05, momentum=0.9)
    state = create_train_state(model, tx, seed=0, image_shape=(16, 16, 1))
    fns = make_steps(StepRecipe(model, num_classes=4, mean=(0.1,), std=(0.3,),
                     augment_fn=augment.make_batch_augmenter(augment.AugmentPolicy())), tx)
    train_step, eval_step = jax.jit(fns.train_step), jax.jit(fns.eval_step)
    train, held_out = _quadrant_problem(128, 0), _quadrant_problem(256, 1)
    for _ in range(steps):
        state, _ = train_step(state, train)
    sums = eval_step(state, held_out)
    return model, state, float(sums["correct"]) / float(sums["count"]), float(sums["loss_sum"]) / float(sums["count"])


@pytest.mark.slow  # the flag end to end stays in the default suite (below)
def test_bfloat16_computes_in_bf16_keeps_float32_state_and_learns_like_float32():
    model32, state32, accuracy32, loss32 = _train(jnp.float32)
    model16, state16, accuracy16, loss16 = _train(jnp.bfloat16)

    # The bf16 model really computes in bf16 (its convolutions' outputs; logits come back as float32) ...
    variables = {"params": state16.params, "batch_stats": state16.batch_stats}
    for model, expected in [(model16, jnp.bfloat16), (model32, jnp.float32)]:
        _, captured = model.apply(variables, jnp.zeros((2, 16, 16, 1)), train=False, capture_intermediates=True,
                                  mutable=["intermediates"])
        outputs = jax.tree_util.tree_leaves_with_path(captured["intermediates"])
        conv_dtypes = {leaf.dtype for path, leaf in outputs if "conv" in jax.tree_util.keystr(path)}
        assert conv_dtypes == {jnp.dtype(expected)}, (expected, conv_dtypes)
    # ... while everything it keeps is float32 (updates too small for bf16 are not lost).
    for name, tree in [("params", state16.params), ("batch_stats", state16.batch_stats), ("opt_state", state16.opt_state)]:
        dtypes = {leaf.dtype for leaf in jax.tree.leaves(tree) if jnp.issubdtype(leaf.dtype, jnp.floating)}
        assert dtypes == {jnp.dtype(jnp.float32)}, (name, dtypes)
    # Different arithmetic, so different parameters (the bf16 path is not silently float32) ...
    difference = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(state16.params),
                                                                      jax.tree.leaves(state32.params)))
    assert difference > 1e-4
    # ... and the same accuracy band on held-out examples.
    assert accuracy32 > 0.95 and accuracy16 > 0.95, (accuracy32, accuracy16)
    assert loss16 == pytest.approx(loss32, abs=0.1)


def test_dtype_flag_trains_end_to_end_with_float32_checkpoints(tmp_path, capsys):
    argv = ["mnist", "--dataset=mnist", "--model=tiny_vgg", "--dtype=bfloat16", f"--workdir={tmp_path}",
            f"--data_dir={tmp_path / 'tfds'}", "--batch_size=8", "--epochs=1", "--progress_bar=false",
            "--validation_examples=0"]
    with tfds.testing.mock_data(num_examples=16):
        mnist.main(argv)
    assert "(--parallel=jit, --dtype=bfloat16)" in capsys.readouterr().out
    state = read_checkpoint(tmp_path)
    assert int(state["step"]) == 2
    assert {leaf.dtype for leaf in jax.tree.leaves(state["params"])} == {np.dtype(np.float32)}
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(state["params"]))
