"""Data parallelism gives the numbers of one device: jit over a mesh, pmap, gradient accumulation.

The 8-device runs happen in a subprocess (tests/train/scale_run.py) started with
XLA_FLAGS=--xla_force_host_platform_device_count=8: this process imported JAX with one CPU device.
"""

import json
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import augment, errors, models
from jaxcnn.train import parallel, plan
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import StepRecipe, make_steps

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from scale_run import read_checkpoint, register_smooth_bn_net  # noqa: E402

TOLERANCE = dict(rtol=2e-4, atol=2e-5)


def run_in_subprocess(args, devices: int, timeout=600, env_extra=None):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **(env_extra or {})}
    return subprocess.Popen([sys.executable, str(HERE / "scale_run.py"), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process, timeout=600) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


def max_difference(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def assert_trees_close(a, b, what):
    for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, **TOLERANCE, err_msg=f"{what} {jax.tree_util.keystr(path)}")


def _config(tmp, **overrides):
    """smooth_bn_net (tests/train/scale_run.py) has two BatchNorm layers and no ReLU / max-pool branches;
    flip and crop2 draw keys per example."""
    return {"dataset": "mnist", "model": "smooth_bn_net", "batch_size": 8, "epochs": 1, "learning_rate": 0.05,
            "schedule": "constant", "augment": "flip,crop2", "progress_bar": False, "data_dir": str(tmp / "tfds"),
            "validation_examples": 0, **overrides}


def _train_in_8_device_process(tmp_path, runs: dict) -> dict:
    """{name: (devices or None for all 8, config overrides)} -> {name: final checkpoint as NumPy}."""
    spec = [{"workdir": str(tmp_path / name), "devices": devices, "config": _config(tmp_path, **overrides)}
            for name, (devices, overrides) in runs.items()]
    out = finish(run_in_subprocess(["runs", json.dumps(spec)], devices=8))
    assert "on 8 cpu device(s)" in out and "on 1 cpu device(s)" in out, out[-3000:]
    return {name: read_checkpoint(tmp_path / name) for name in runs}


def test_jit_sharded_pmap_and_one_device_train_to_the_same_parameters_and_batchnorm_statistics(tmp_path):
    runs = {"one_device": (1, {}), "jit_8": (None, {}), "pmap_8": (None, {"parallel": "pmap"})}
    states = _train_in_8_device_process(tmp_path, runs)
    assert [int(s["step"]) for s in states.values()] == [8, 8, 8]  # 64 mock examples / 8 per batch
    reference = states["one_device"]
    for name in ("jit_8", "pmap_8"):
        assert_trees_close(states[name]["params"], reference["params"], f"{name} params")
        assert_trees_close(states[name]["batch_stats"], reference["batch_stats"], f"{name} batch_stats")
        assert_trees_close(states[name]["opt_state"], reference["opt_state"], f"{name} optimizer state")
    finals = {name: json.loads((tmp_path / name / "final.json").read_text()) for name in runs}
    for name in ("jit_8", "pmap_8"):
        for metric in ("train_loss", "test_loss"):
            assert finals[name][metric] == pytest.approx(finals["one_device"][metric], rel=1e-4), (name, metric)
    # The comparison can fail: training moved the parameters and statistics far beyond the tolerance.
    # (BatchNorm over fewer examples than the global batch is caught too: see the slow test below.)
    register_smooth_bn_net()
    model = models.get_model("smooth_bn_net", num_classes=10)
    initial = create_train_state(model, make_optimizer(TrainConfig(), 4), seed=0, image_shape=(28, 28, 1))
    assert max_difference(reference["params"], initial.params) > 0.05
    assert max_difference(reference["batch_stats"], initial.batch_stats) > 0.05


@pytest.mark.slow
def test_mixup_cutmix_and_tta_give_the_numbers_of_one_device_under_jit_and_pmap(tmp_path):
    """Mixing pairs example i with N-1-i of the *global* batch: under jit the batch is sharded over 8
    devices, under pmap each device fetches its partners from the mirror device (ppermute)."""
    mixing = {"augment": "flip,crop2,mixup0.4,cutmix1", "tta": "flip"}
    runs = {"one_device": (1, mixing), "jit_8": (None, mixing), "pmap_8": (None, {"parallel": "pmap", **mixing})}
    states = _train_in_8_device_process(tmp_path, runs)
    reference = states["one_device"]
    for name in ("jit_8", "pmap_8"):
        for part in ("params", "batch_stats", "opt_state"):
            assert_trees_close(states[name][part], reference[part], f"{name} {part}")
    finals = {name: json.loads((tmp_path / name / "final.json").read_text()) for name in runs}
    for name in ("jit_8", "pmap_8"):
        for metric in ("train_loss", "test_loss", "test_tta_loss"):
            assert finals[name][metric] == pytest.approx(finals["one_device"][metric], rel=1e-4), (name, metric)
        assert finals[name]["test_tta_accuracy"] == finals["one_device"]["test_tta_accuracy"]
    # (tests/train/test_steps.py shows that pairing within each device's rows would give other batches.)


@pytest.mark.slow
def test_streaming_input_gives_the_numbers_of_one_device_under_jit_and_pmap(tmp_path):
    """--input_pipeline=streaming: host batches become one global array sharded over the 8 devices."""
    streaming = {"input_pipeline": "streaming", "augment": "flip,crop2,mixup0.4", "tta": "flip"}
    runs = {"one_device": (1, streaming), "jit_8": (None, streaming), "pmap_8": (None, {"parallel": "pmap", **streaming})}
    states = _train_in_8_device_process(tmp_path, runs)
    assert [int(s["step"]) for s in states.values()] == [8, 8, 8]
    for name in ("jit_8", "pmap_8"):
        for part in ("params", "batch_stats", "opt_state"):
            assert_trees_close(states[name][part], states["one_device"][part], f"{name} {part}")
    finals = {name: json.loads((tmp_path / name / "final.json").read_text()) for name in runs}
    for name in ("jit_8", "pmap_8"):
        for metric in ("train_loss", "test_loss", "test_tta_loss"):
            assert finals[name][metric] == pytest.approx(finals["one_device"][metric], rel=1e-4), (name, metric)


@pytest.mark.slow
def test_gradient_accumulation_under_pmap_matches_one_device_and_batchnorm_sees_the_micro_batch(tmp_path):
    accumulate = {"grad_accum_steps": 2, "batch_size": 16}  # micro-batches of 8: one example per device
    runs = {"one_device": (1, {"batch_size": 16}), "one_device_accum2": (1, accumulate),
            "pmap_8_accum2": (None, {"parallel": "pmap", **accumulate})}
    states = _train_in_8_device_process(tmp_path, runs)
    assert [int(s["step"]) for s in states.values()] == [4, 4, 4]  # updates, not micro-batches
    for part in ("params", "batch_stats", "opt_state"):
        assert_trees_close(states["pmap_8_accum2"][part], states["one_device_accum2"][part], f"accumulated {part}")
    # BatchNorm normalises each micro-batch of 8, not the batch of 16: a difference far beyond the tolerance,
    # which the pmap run (BN statistics averaged over the 8 devices' single examples) had to reproduce.
    assert max_difference(states["one_device_accum2"]["batch_stats"], states["one_device"]["batch_stats"]) > 1e-2


def _dense_setup(grad_accum_steps, policy_text="flip"):
    """A BatchNorm-free model, where k accumulated micro-batches must equal one full batch exactly."""
    config = TrainConfig(optimizer="sgd", learning_rate=0.1, momentum=0.9, schedule="constant",
                         grad_accum_steps=grad_accum_steps)
    model = models.get_model("simple_cnn", num_classes=10)
    tx = make_optimizer(config, steps_per_epoch=10)
    state = create_train_state(model, tx, seed=0, image_shape=(32, 32, 3))
    policy = augment.parse_policy(policy_text, default=augment.AugmentPolicy())
    steps = make_steps(StepRecipe(model, num_classes=10, mean=(0.5,), std=(0.25,),
                       augment_fn=augment.make_batch_augmenter(policy.per_example()),
                       mix_fn=augment.make_pair_mixer(policy, 10) if policy.mixes else None,
                       grad_accum_steps=grad_accum_steps), tx)
    return state, jax.jit(steps.train_step)


@pytest.mark.parametrize("policy_text", ["flip", "flip,mixup0.4,cutmix1"])
def test_gradient_accumulation_equals_one_large_batch_without_batchnorm(policy_text):
    """With mixing too: example i's partner N-1-i always lies in another micro-batch (rows j, j+4, ...), so
    this holds only because the whole batch is mixed before it is split."""
    rng = np.random.default_rng(0)
    batch = {"image": jnp.asarray(rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)),
             "label": jnp.asarray(rng.integers(0, 10, 32), jnp.int32), "mask": jnp.ones(32, bool)}
    results = {}
    for k in (1, 4):
        state, train_step = _dense_setup(k, policy_text)
        start = state.params
        for _ in range(3):
            state, metrics = train_step(state, batch)
        results[k] = (state, metrics)
        assert int(state.step) == 3  # one step = one optimizer update, however many micro-batches
    (plain, plain_metrics), (accumulated, accum_metrics) = results[1], results[4]
    assert max_difference(plain.params, start) > 1e-2
    assert_trees_close(accumulated.params, plain.params, "accumulated params")
    assert float(accum_metrics["count"]) == 32
    assert float(accum_metrics["loss_sum"]) == pytest.approx(float(plain_metrics["loss_sum"]), rel=1e-5)


def test_batch_that_does_not_split_over_devices_and_micro_batches_is_a_one_line_error():
    mesh = parallel.make_mesh(jax.devices()[:1])
    parallel.check_batch_size(24, mesh, 4)
    with pytest.raises(errors.ConfigError, match=r"^--batch_size=30 does not divide into 4 micro-batches across 1 devices"):
        parallel.check_batch_size(30, mesh, 4)
    with pytest.raises(errors.ConfigError, match=r"^--batch_size=30 does not split into --grad_accum_steps=4"):
        plan.resolve(TrainConfig(batch_size=30, grad_accum_steps=4))
    with pytest.raises(errors.ConfigError, match=r"^--parallel='pmapp' is not one of: jit, pmap$"):
        plan.resolve(TrainConfig(parallel="pmapp"))
    with pytest.raises(errors.ConfigError, match=r"^--grad_accum_steps must be positive, got 0"):
        plan.resolve(TrainConfig(grad_accum_steps=0))


@pytest.mark.slow
def test_transfer_with_a_frozen_or_slower_backbone_gives_the_numbers_of_one_device_under_jit_and_pmap(tmp_path):
    """--init_from with --backbone_lr_scale 0 and 0.1: optax.partition and inference-mode BatchNorm in the frozen
    backbone behave the same on 1 device, sharded under jit and under pmap; frozen stays bitwise as loaded."""
    source = str(tmp_path / "source")
    runs = {"source": (1, {})}
    for scale in (0.0, 0.1):
        transfer_flags = {"init_from": source, "backbone_lr_scale": scale}
        runs |= {f"one_{scale}": (1, transfer_flags), f"jit_{scale}": (None, transfer_flags),
                 f"pmap_{scale}": (None, {"parallel": "pmap", **transfer_flags})}
    states = _train_in_8_device_process(tmp_path, runs)
    register_smooth_bn_net()
    from jaxcnn import transfer

    head = transfer.head_modules(models.get_model("smooth_bn_net", num_classes=10), (28, 28, 1))
    assert head and all(name in states["source"]["params"] for name in head)
    backbone = lambda tree: {k: v for k, v in tree.items() if k not in head}  # noqa: E731
    for scale in (0.0, 0.1):
        reference = states[f"one_{scale}"]
        for name in (f"jit_{scale}", f"pmap_{scale}"):
            for part in ("params", "batch_stats", "opt_state"):
                assert_trees_close(states[name][part], reference[part], f"{name} {part}")
    for name in ("one_0.0", "jit_0.0", "pmap_0.0"):
        for part in ("params", "batch_stats"):
            for x, y in zip(jax.tree.leaves(backbone(states[name][part])), jax.tree.leaves(backbone(states["source"][part])),
                            strict=True):
                np.testing.assert_array_equal(x, y, err_msg=f"{name} {part}: a frozen backbone moved")
    assert max_difference(backbone(states["one_0.1"]["params"]), backbone(states["source"]["params"])) > 1e-3
    heads = [{k: states[name]["params"][k] for k in head} for name in ("one_0.0", "source")]
    assert max_difference(*heads) > 1e-3  # a new head, trained


def test_pmapped_steps_compile_once_per_input_shape_with_the_compiler_options(monkeypatch):
    """--parallel=pmap compiles with jaxcnn's compiler options too: each input signature is lowered and compiled
    once with them, and the compiled step gives jax.pmap's own numbers."""
    seen = []
    real_compile = jax.stages.Lowered.compile
    monkeypatch.setattr(jax.stages.Lowered, "compile",
                        lambda self, options=None: seen.append(options) or real_compile(self, options))
    mapped = jax.pmap(lambda x: jax.lax.psum(jnp.sin(x) * 2.0, "batch"), "batch")
    options = {"xla_cpu_experimental_ynn_fusion_type": ""}
    step = parallel.CompiledPerShape(mapped, options)
    x = jnp.arange(6.0).reshape(1, 6)
    np.testing.assert_array_equal(step(x), mapped(x))
    step(x + 1.0)
    step(jnp.ones((1, 3)))
    assert seen == [options, options]  # two shapes, two compilations, both with the options
