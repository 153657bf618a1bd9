"""Training runs in a fresh process, for tests that need a device count the pytest process cannot have.

JAX fixes its device count when first imported, so tests start this script with
XLA_FLAGS=--xla_force_host_platform_device_count=N (and, for multi-host, one process per host):

    python tests/train/scale_run.py runs '[{"workdir": ..., "devices": 1, "config": {...}}, ...]'
        train_and_evaluate for each run on the first `devices` devices (all when null), in one process
    python tests/train/scale_run.py cli --workdir=... --coordinator_address=... ...
        the real command line, experiments.mnist.main(argv)
    SCALE_RUN_SIGNAL_AT_STEP=KILL:N python tests/train/scale_run.py cli ...
        the same, but the process sends itself SIGKILL (or TERM, INT) as soon as training reaches step N
    SCALE_RUN_KILL_AT=after_latest_save:N python tests/train/scale_run.py cli ...
        SIGKILL at an end-of-epoch boundary of step N: after_latest_save (once the end-of-epoch checkpoint is
        complete), after_metrics_row (once its row is in metrics.jsonl), during_best_save (while best/ is being
        written)

Both train on TFDS's mock MNIST (random images, fixed seed: the same data in every process; see
`tests/tfds_mock.py`), and can use the model `smooth_bn_net` registered here. `read_checkpoint` loads a
run's latest checkpoint as NumPy arrays for the test to compare.
"""

import json
import os
import pathlib
import sys
import tempfile

MOCK_EXAMPLES = 64


def read_checkpoint(workdir, step: int | None = None, folder: str = "checkpoints") -> dict:
    """{'params', 'batch_stats', 'opt_state', 'step', ...} of the checkpoint (latest unless `step`) in
    workdir/`folder` as NumPy."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    root = pathlib.Path(workdir) / folder
    step = step if step is not None else max(int(p.name) for p in root.iterdir() if p.name.isdigit())
    checkpointer = ocp.StandardCheckpointer()
    path = root / str(step) / "state"
    metadata = checkpointer.metadata(path)
    metadata = getattr(metadata, "item_metadata", metadata)
    target = jax.tree.map(lambda m: np.zeros(m.shape, m.dtype), getattr(metadata, "tree", metadata))
    return checkpointer.restore(path, target)


def register_smooth_bn_net() -> None:
    """A small BatchNorm net without ReLU / max-pool: float32 runs that add in different orders then stay
    within ~1e-6 of each other for many steps. (With ReLU and max-pool, an input within rounding of a tie
    occasionally takes the other branch, and the runs jump apart by ~1e-4: equally valid, not comparable.)"""
    from collections.abc import Callable
    from typing import Any

    import flax.linen as nn
    import jax.numpy as jnp

    from jaxcnn import layers, models

    class SmoothBNNet(nn.Module):
        num_classes: int = 10
        dtype: Any = jnp.float32
        norm: Callable = layers.BatchNorm

        @nn.compact
        def __call__(self, x, train: bool = False):
            for i, width in enumerate((8, 16)):
                x = nn.Conv(width, (3, 3), use_bias=False, dtype=self.dtype, name=f"conv{i}")(x)
                x = self.norm(use_running_average=not train, name=f"bn{i}")(x)
                x = nn.avg_pool(jnp.tanh(x).astype(self.dtype), (2, 2), (2, 2))
            return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(x.mean(axis=(1, 2)))

    class DropoutBNNet(nn.Module):
        """Conv-BN-ReLU-maxpool, dropout, Dense: every source of randomness a train step has."""

        num_classes: int = 10
        dtype: Any = jnp.float32
        norm: Callable = layers.BatchNorm

        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.Conv(8, (3, 3), use_bias=False, dtype=self.dtype)(x)
            x = self.norm(use_running_average=not train)(x)
            x = nn.max_pool(nn.relu(x), (2, 2), (2, 2))
            x = nn.Dropout(0.3, deterministic=not train)(x.reshape(x.shape[0], -1))
            return nn.Dense(self.num_classes, dtype=self.dtype)(x)

    if "smooth_bn_net" not in models.list_models():
        models.registry.register("smooth_bn_net", SmoothBNNet, input_shape=(28, 28, 1),
                                 description="test-only: conv-BN-tanh-avgpool x2, Dense")
        models.registry.register("dropout_bn_net", DropoutBNNet, input_shape=(28, 28, 1),
                                 description="test-only: conv-BN-ReLU-maxpool, dropout 0.3, Dense")


def _signal_at_step(signal_name: str, step: int) -> None:
    """Make the compiled train step send this process SIG`signal_name` once the state reaches `step`.
    SIGKILL runs no handler and finishes no checkpoint, exactly like `kill -9` or a machine dying;
    SIGTERM is a deterministic preemption notice."""
    import os
    import signal

    from jaxcnn.train import parallel

    compile_steps = parallel.JitDataParallel.compile

    def compile_with_signal(self, steps):
        train_step, eval_step = compile_steps(self, steps)

        def train_step_then_maybe_signal(state, batch):
            state, sums = train_step(state, batch)
            if int(state.step) == step:
                os.kill(os.getpid(), signal.Signals[f"SIG{signal_name}"])
            return state, sums

        return train_step_then_maybe_signal, eval_step

    parallel.JitDataParallel.compile = compile_with_signal


def _kill_at_boundary(point: str, step: int) -> None:
    """SIGKILL this process at an end-of-epoch boundary (`point`) of step `step` (see the module docstring)."""
    import os
    import signal

    from jaxcnn.train import checkpoint, metrics

    def kill():
        os.kill(os.getpid(), signal.SIGKILL)

    save, save_best, write = checkpoint.Checkpointer.save, checkpoint.Checkpointer.save_best, metrics.MetricsWriter.write

    def save_then_kill(self, state, **kwargs):
        save(self, state, **kwargs)
        if point == "after_latest_save" and kwargs.get("record") and int(state.step) == step:
            self.wait()
            kill()

    def save_best_then_kill(self, state):
        save_best(self, state)  # asynchronous: the best checkpoint is being written when the process dies
        if point == "during_best_save" and int(state.step) == step:
            kill()

    def write_then_kill(self, row):
        write(self, row)
        if point == "after_metrics_row" and row["step"] == step:
            kill()

    checkpoint.Checkpointer.save, checkpoint.Checkpointer.save_best = save_then_kill, save_best_then_kill
    metrics.MetricsWriter.write = write_then_kill


def _runs(spec: str) -> None:
    import jax

    from jaxcnn.train import TrainConfig
    from jaxcnn.train.loop import train_and_evaluate

    runs = json.loads(spec)
    for run in runs:
        devices = jax.devices()[: run["devices"]] if run.get("devices") else None
        final = train_and_evaluate(TrainConfig(**run["config"]), run["workdir"], devices=devices)
        pathlib.Path(run["workdir"], "final.json").write_text(json.dumps(final))


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    from tfds_mock import mock_data

    register_smooth_bn_net()
    if os.environ.get("SCALE_RUN_SIGNAL_AT_STEP"):
        signal_name, step = os.environ["SCALE_RUN_SIGNAL_AT_STEP"].split(":")
        _signal_at_step(signal_name, int(step))
    if os.environ.get("SCALE_RUN_KILL_AT"):
        point, step = os.environ["SCALE_RUN_KILL_AT"].split(":")
        _kill_at_boundary(point, int(step))
    # One folder for every process and run: it only ever holds the empty builder folders the mock needs.
    with mock_data(MOCK_EXAMPLES, pathlib.Path(tempfile.gettempdir()) / "jaxcnn-tfds-mock"):
        if argv[0] == "runs":
            _runs(argv[1])
        elif argv[0] == "cli":
            from experiments import mnist

            mnist.main(["mnist", *argv[1:]])
        else:
            raise SystemExit(f"usage: {__doc__}")


if __name__ == "__main__":
    main(sys.argv[1:])
