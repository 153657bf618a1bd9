"""Evaluate a trained run on the split a user names, at the checkpoint they name, with or without test-time
augmentation: accuracy, loss and each class's accuracy. `python -m jaxcnn.evaluate` is the command line.

Splits are those the run saw (`jaxcnn.train.inputs`): 'train' (the examples it trained on: its --classes and
--train_examples, without the validation hold-out), 'validation' (its --validation_split, or the examples held
out of the training split) and 'test'; any other TFDS split string ('test[:1000]', 'extra') is read as it is, for the
run's classes.
"""

import numpy as np

from jaxcnn import analysis, errors
from jaxcnn.data import load_split, subsets
from jaxcnn.inspection import class_names
from jaxcnn.train.evaluate import parse_views
from jaxcnn.train.inputs import held_out_count
from jaxcnn.train.plan import RunPlan
from jaxcnn.trained_run import batched_scores, load_run, scores_fn


def split_arrays(plan: RunPlan, split: str, data_dir: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images, int32 labels relabelled as the run's outputs) of `split` as the run saw it."""
    config = plan.config
    data_dir = data_dir or config.data_dir
    if split == "validation" and config.validation_split:
        split = config.validation_split
    elif split in ("train", "validation"):
        images, labels = load_split(plan.dataset, "train", data_dir)
        held_out = 0 if config.validation_split else held_out_count(config.validation_examples, len(labels))
        if split == "validation" and not held_out:
            raise errors.ConfigError("the run has no validation set (--validation_examples=0); choose train or test")
        cut = len(labels) - held_out
        if split == "validation":
            return subsets.select_classes(images[cut:], labels[cut:], plan.class_ids)
        images, labels = subsets.select_classes(images[:cut], labels[:cut], plan.class_ids)
        return subsets.sample_examples(images, labels, config.train_examples, config.seed)
    return subsets.select_classes(*load_split(plan.dataset, split, data_dir), plan.class_ids)


def _metrics(logits: np.ndarray, probs: np.ndarray, labels: np.ndarray) -> dict:
    """Loss (cross-entropy of the logits) and accuracy; with TTA the same of the averaged probabilities."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    return {"loss": float(-log_probs[rows, labels].mean()), "accuracy": float((logits.argmax(1) == labels).mean()),
            "tta_loss": float(-np.log(np.maximum(probs[rows, labels], 1e-12)).mean()),
            "tta_accuracy": float((probs.argmax(1) == labels).mean())}


def evaluate_run(workdir, split: str = "test", *, checkpoint: str | int = "best", tta: str | None = None,
                 data_dir: str | None = None, batch_size: int = 256) -> dict:
    """{'accuracy', 'loss', 'per_class', 'examples', 'step', 'source', 'tta', ...} of the run in `workdir` at
    `checkpoint` on `split`; `tta` ('flip', 'flip,shift2', 'none'; None: the run's own --tta) adds
    'tta_accuracy' and 'tta_loss' (per-class accuracy is then that of the TTA prediction)."""
    run = load_run(workdir, checkpoint)
    views = parse_views(run.plan.config.tta if tta is None else tta)
    images, labels = split_arrays(run.plan, split, data_dir)
    if not len(labels):
        raise errors.ConfigError(f"split {split!r} holds none of the run's classes")
    logits, probs = batched_scores(scores_fn(run, views), images, batch_size)
    metrics = _metrics(logits, probs, labels)
    if views.count == 1:
        metrics = {"loss": metrics["loss"], "accuracy": metrics["accuracy"]}
    predictions = (probs if views.count > 1 else logits).argmax(1)
    counts = analysis.confusion_matrix(labels, predictions, run.plan.num_classes)
    per_class = {name: float(counts[i, i] / counts[i].sum()) for i, name in enumerate(class_names(run.plan))
                 if counts[i].sum()}
    return {**metrics, "per_class": per_class, "examples": int(len(labels)), "split": split, "step": run.step,
            "source": run.source, "tta": str(views)}
