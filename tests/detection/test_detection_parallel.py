"""The detection train step gives the same numbers under --parallel=jit (mesh, sharded batch) and pmap (2 CPU
devices, BatchNorm over the global batch, the loss normalised by the global batch's objects): one step from the
same state and batch, compared to float32 summation order. Runs in a subprocess started with XLA_FLAGS (this
process has one CPU device); the subprocess is this file run as a script. Compiling both steps takes ~30 s: slow."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_jit_and_pmap_steps_agree():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["devices"] == 2
    assert numbers["loss_jit"] == pytest.approx(numbers["loss_pmap"], rel=1e-5)
    assert numbers["objects_jit"] == numbers["objects_pmap"] > 0
    assert numbers["param_difference"] < 1e-3 * numbers["param_update"]
    assert numbers["stats_difference"] < 1e-3 * numbers["stats_update"]


def _one_step_each() -> dict:
    import functools

    import jax
    import numpy as np
    import optax

    from jaxcnn.detection import canvas_data, steps
    from jaxcnn.detection.batches import DetectionBatches
    from jaxcnn.detection.model import CenterNet
    from jaxcnn.layers import BatchNorm
    from jaxcnn.train import parallel
    from jaxcnn.train.state import create_train_state

    spec = canvas_data.CanvasSpec(canvas_size=32, max_item_size=20, min_item_size=10, max_objects=3)
    data = canvas_data.load_canvases("train", 8, spec)
    mesh = parallel.make_mesh()
    model = CenterNet(10, (8, 8, 16), 8)
    tx = optax.adamw(1e-2)
    recipe = steps.DetectionRecipe(model, 10, (0.1,), (0.3,))
    init = lambda: create_train_state(model, tx, 0, (32, 32, 1)).replace(epoch_sums=steps.zero_sums())  # noqa: E731
    out = {"devices": mesh.devices.size}
    states = {}
    for mode in ("jit", "pmap"):
        dp = parallel.make_data_parallel(mode, mesh)
        train_model = model.clone(norm=functools.partial(BatchNorm, axis_name=dp.axis_name)) if dp.axis_name else None
        step_fns = steps.make_detection_steps(recipe, tx, axis_name=dp.axis_name, train_model=train_model,
                                              steps_per_epoch=10)
        train_step, _ = dp.compile(step_fns)
        batch = DetectionBatches(data, parallel.replicated(mesh), parallel.batch_sharded(mesh)).batch(np.arange(8))
        state = dp.create_state(init)
        start = jax.device_get(state)
        new, metrics = train_step(dp.to_step_layout(state), batch)
        states[mode] = jax.device_get(dp.to_global(new))
        out[f"loss_{mode}"] = float(metrics["loss_sum"] / metrics["count"])
        out[f"objects_{mode}"] = float(metrics["objects"])
    diff = lambda a, b: max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))  # noqa: E731
    out["param_difference"] = diff(states["jit"].params, states["pmap"].params)
    out["param_update"] = diff(states["jit"].params, start.params)
    out["stats_difference"] = diff(states["jit"].batch_stats, states["pmap"].batch_stats)
    out["stats_update"] = diff(states["jit"].batch_stats, start.batch_stats)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(_one_step_each()))
