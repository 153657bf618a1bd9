"""Training: config, state, optimizers, pure steps, parallel compilation, checkpoints, metrics and the loop.

`train_and_evaluate` and `TrainingInterrupted` are imported on first use, so that importing
`jaxcnn.train.distributed` (or the config) touches no device: `jax.distributed.initialize()` must run
before anything initialises the XLA backend, and some modules the loop imports build arrays at import.
"""

import importlib

from jaxcnn.train.config import TrainConfig

__all__ = ["TrainConfig", "TrainingInterrupted", "train_and_evaluate"]


def __getattr__(name: str):
    if name in ("TrainingInterrupted", "train_and_evaluate"):
        return getattr(importlib.import_module("jaxcnn.train.loop"), name)
    raise AttributeError(f"module 'jaxcnn.train' has no attribute {name!r}")
