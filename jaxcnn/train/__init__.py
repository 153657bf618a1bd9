"""Training, as a one-way stack (each module imports only those listed before it):

    config      TrainConfig: every run setting, defined once (plain data, no JAX)
    state       TrainState: everything a run needs to continue, one pytree
    losses      cross-entropy and the metric sums every step reports
    evaluate    the eval step (with test-time augmentation) and the pass over a test set
    steps       the pure train step of a StepRecipe
    optim       optax optimizers, schedules and parameter groups
    plan        resolve(config) -> RunPlan: the checked settings; the model, head and recipe built from it
    parallel    jit over a device mesh, or pmap: the same numbers
    checkpoint  verified orbax checkpoints; workdir: a run's directory, read back as a TrainedRun
    inputs      the run's datasets; metrics: what a person sees; signals: stopping cleanly
    loop        train_and_evaluate(config, workdir)
    distributed multi-host start-up (imported before anything touches a device)

`from jaxcnn.train.loop import train_and_evaluate`; this package itself imports only the config, so that
`jaxcnn.train.distributed` can start a multi-host run before any device is touched.
"""

from jaxcnn.train.config import TrainConfig

__all__ = ["TrainConfig"]
