"""A trained run at the checkpoint a command asks for, and its network as one function of uint8 images.

    --checkpoint=best     the run's selected checkpoint (highest validation accuracy; else its newest)
    --checkpoint=latest   the newest checkpoint in workdir/checkpoints
    --checkpoint=STEP     that step, from checkpoints/ or best/

Everything is read only: nothing in the workdir is created, moved or deleted. `scores_fn` is what `evaluate`,
`predict` and `export` all run: normalisation (the run's mean and std) and the model in inference mode, with
the test-time-augmentation views averaged when asked.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import errors
from jaxcnn.train import checkpoint as checkpoint_lib
from jaxcnn.train.evaluate import TTAViews, averaged_probabilities, view_logits
from jaxcnn.train.plan import abstract_state, build_model
from jaxcnn.train.workdir import TrainedRun, load_trained


def parse_checkpoint(text: str) -> str | int:
    """'best' | 'latest' | a step number; a one-line error otherwise."""
    text = str(text).strip().lower()
    if text in ("best", "latest"):
        return text
    if text.isdigit():
        return int(text)
    raise errors.ConfigError(f"--checkpoint={text!r}: use best, latest or a step number")


def load_run(workdir, checkpoint: str | int = "best", flag: str = "--workdir") -> TrainedRun:
    """The run in `workdir` at `checkpoint` (see the module docstring), checksums verified."""
    checkpoint = parse_checkpoint(checkpoint)
    run = load_trained(workdir, flag=flag)
    if checkpoint == "best":
        return run
    step = None if checkpoint == "latest" else checkpoint
    target = abstract_state(run.plan)
    for source in ("checkpoints",) if step is None else ("checkpoints", "best"):
        found = checkpoint_lib.restore_newest_read_only(run.workdir / source, target, step)
        if found is not None:
            state, step = found
            params, batch_stats = (jax.tree.map(np.asarray, tree) for tree in (state.params, state.batch_stats))
            return dataclasses.replace(run, step=step, source=source, params=params, batch_stats=batch_stats)
    kept = sorted(set(checkpoint_lib.saved_steps(run.workdir)) | {run.step})
    raise errors.CheckpointError(f"{flag}={run.workdir} has no checkpoint at {checkpoint}; it keeps steps "
                                 f"{', '.join(map(str, kept))} (or use best / latest)")


def scores_fn(run: TrainedRun, views: TTAViews = TTAViews()):
    """jitted fn(uint8 images [N, H, W, C]) -> (float32 logits [N, classes], probabilities [N, classes]); the
    probabilities average the `views` (TTA) and are the logits' softmax without views."""
    model, (mean, std), config = build_model(run.plan), run.plan.input_stats, run.plan.config
    variables = run.variables

    def scores(images):
        logits = view_logits(model, variables, images, views, mean=mean, std=std, resize_to=config.model_input_size,
                             to_rgb=config.model_input_channels == 3)
        return logits[0], averaged_probabilities(logits)

    return jax.jit(scores)


def batched_scores(fn, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """`fn` over `images` in batches (the last one padded, so one compiled shape serves all): (logits, probs)."""
    logits, probs = [], []
    batch_size = max(1, min(batch_size, len(images)))
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        padded = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), batch.dtype)])
        out = jax.device_get(fn(jnp.asarray(padded)))
        logits.append(out[0][:len(batch)])
        probs.append(out[1][:len(batch)])
    if not logits:
        raise errors.ConfigError("there are no images to score")
    return np.concatenate(logits), np.concatenate(probs)
