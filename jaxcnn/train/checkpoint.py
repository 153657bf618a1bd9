"""Orbax checkpoints in a run's workdir: the latest few for resuming, the best by test accuracy kept apart.

    workdir/checkpoints/<step>/   periodic + end-of-epoch + on-interrupt saves (newest `keep` kept)
    workdir/best/<step>/          the state with the highest test accuracy so far
    workdir/config.json           the config the run was started with (checked on resume)
"""

import json
import pathlib

import jax
import orbax.checkpoint as ocp

from jaxcnn import errors
from jaxcnn.train.config import TrainConfig, identity_differences


class Checkpointer:
    """Two orbax managers. Saves are asynchronous on one process; multi-host they are synchronous, because
    the two managers' background threads meet cross-process barriers in an order that can differ between
    processes and then deadlock (seen with two CPU processes: one waiting in 'latest', one in 'best')."""

    def __init__(self, workdir: str | pathlib.Path, keep: int = 2):
        self.workdir = pathlib.Path(workdir).absolute()
        asynchronous = jax.process_count() == 1
        self._latest = ocp.CheckpointManager(
            self.workdir / "checkpoints",
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=asynchronous),
        )
        self._best = ocp.CheckpointManager(
            self.workdir / "best",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda metrics: metrics["test_accuracy"], best_mode="max", create=True,
                enable_async_checkpointing=asynchronous,
            ),
        )

    def latest_step(self) -> int | None:
        return self._latest.latest_step()

    def save(self, state, *, force: bool = False) -> None:
        step = int(state.step)
        if step in self._latest.all_steps():
            return
        self._latest.save(step, args=ocp.args.StandardSave(state), force=force)

    def save_best(self, state, test_accuracy: float) -> None:
        self._best.save(int(state.step), args=ocp.args.StandardSave(state), metrics={"test_accuracy": test_accuracy})

    def best_step(self) -> int | None:
        return self._best.best_step()

    def restore(self, target_state, step: int | None = None, best: bool = False):
        """Restore into the structure / shardings of `target_state` (latest step unless given).

        Every process calls this (and `save`) with the same step: orbax coordinates multi-host reads/writes.
        """
        manager = self._best if best else self._latest
        step = manager.best_step() if best else (step if step is not None else manager.latest_step())
        try:
            return manager.restore(step, args=ocp.args.StandardRestore(target_state))
        except (ValueError, KeyError, TypeError) as err:
            first_line = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise errors.CheckpointError(
                f"the checkpoint at step {step} in {self.workdir} does not fit this run's state ({first_line}); "
                "a different --optimizer or --grad_accum_steps changes the optimizer state: restore the original "
                "flags or use a new --workdir"
            ) from err

    def wait(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()


def write_or_check_config(workdir: pathlib.Path, config: TrainConfig, resuming: bool) -> None:
    """Record the run's config; on resume, refuse one that trains a different model or dataset."""
    path = workdir / "config.json"
    if resuming and path.exists():
        differences = identity_differences(json.loads(path.read_text()), config)
        if differences:
            raise errors.CheckpointError(
                f"{workdir} holds a run with a different setup ({'; '.join(differences)}); "
                "use a new --workdir or restore the original flags"
            )
    if not path.exists() and jax.process_index() == 0:
        path.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
