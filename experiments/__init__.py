"""Thin absl entry points: flags -> TrainConfig -> jaxcnn.train.train_and_evaluate."""
