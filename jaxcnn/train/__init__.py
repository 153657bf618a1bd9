"""Training: config, state, optimizers, pure steps, parallel compilation, checkpoints, metrics and the loop."""

from jaxcnn.train.config import TrainConfig
from jaxcnn.train.loop import TrainingInterrupted, train_and_evaluate

__all__ = ["TrainConfig", "TrainingInterrupted", "train_and_evaluate"]
