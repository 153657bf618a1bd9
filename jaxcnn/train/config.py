"""The complete description of a training run; experiments build one from flags."""

import dataclasses

from jaxcnn import errors

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle", "constant")
PARALLEL_MODES = ("jit", "pmap")  # jit over a device mesh (default) or the same step under jax.pmap
DTYPES = ("float32", "bfloat16")  # computation dtype; parameters, optimizer state and BN statistics stay float32
INPUT_PIPELINES = ("device", "streaming")  # uint8 arrays resident on device, or TFDS + tf.data streamed per process
# Fields that define what is being trained: resuming a workdir with different values is refused.
IDENTITY_FIELDS = ("dataset", "model", "num_classes", "classes", "train_examples")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = "fashion_mnist"
    model: str = "tiny_vgg"
    num_classes: int = 0  # 0: take it from the dataset
    batch_size: int = 128
    epochs: float = 10
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    augment: str = "default"
    aux_loss_weight: float = 0.0
    seed: int = 0
    checkpoint_every_steps: int = 500
    keep_checkpoints: int = 2
    log_every_steps: int = 20
    data_dir: str | None = None
    progress_bar: bool = True
    parallel: str = "jit"
    grad_accum_steps: int = 1  # batch_size stays the global batch per update, computed in this many micro-batches
    dtype: str = "float32"
    tta: str = "none"  # test-time augmentation views (jaxcnn.tta.parse_views), reported beside plain accuracy
    input_pipeline: str = "device"
    # Parts of the dataset (jaxcnn.data.subsets): these classes only, relabelled 0..k-1 ("5-9", "0,2,4"), and a
    # fixed random sample of this many training examples (0: all). Device pipeline only.
    classes: str = ""
    train_examples: int = 0
    # Transfer learning (jaxcnn.transfer): start from the trained backbone of the run in this workdir, with a
    # new head; the backbone learns at backbone_lr_scale times the learning rate (0 freezes it).
    init_from: str | None = None
    backbone_lr_scale: float = 1.0

    def validate(self) -> "TrainConfig":
        """Return self, or raise a one-line ConfigError naming the bad value."""
        for name in ("batch_size", "epochs", "learning_rate", "checkpoint_every_steps", "keep_checkpoints", "log_every_steps",
                     "grad_accum_steps"):
            if not getattr(self, name) > 0:
                raise errors.ConfigError(f"--{name} must be positive, got {getattr(self, name)}")
        for name in ("weight_decay", "warmup_epochs", "aux_loss_weight", "momentum", "num_classes", "train_examples",
                     "backbone_lr_scale"):
            if getattr(self, name) < 0:
                raise errors.ConfigError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.label_smoothing < 1:
            raise errors.ConfigError(f"--label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.optimizer not in OPTIMIZERS:
            raise errors.unknown_name_error("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise errors.unknown_name_error("schedule", self.schedule, SCHEDULES)
        if self.parallel not in PARALLEL_MODES:
            raise errors.unknown_name_error("parallel mode", self.parallel, PARALLEL_MODES)
        if self.dtype not in DTYPES:
            raise errors.unknown_name_error("dtype", self.dtype, DTYPES)
        if self.input_pipeline not in INPUT_PIPELINES:
            raise errors.unknown_name_error("input pipeline", self.input_pipeline, INPUT_PIPELINES)
        self._validate_policies()
        if (self.classes or self.train_examples) and self.input_pipeline != "device":
            raise errors.ConfigError("--classes and --train_examples select examples of a dataset held on the device; "
                                     "use them with --input_pipeline=device")
        self.class_ids()
        if self.batch_size % self.grad_accum_steps:
            raise errors.ConfigError(
                f"--batch_size={self.batch_size} does not split into --grad_accum_steps={self.grad_accum_steps} "
                f"equal micro-batches; use a multiple of {self.grad_accum_steps}"
            )
        return self

    def _validate_policies(self) -> None:
        """--augment and --tta parse (imported here: the config must stay importable without JAX)."""
        from jaxcnn import augment, tta

        augment.parse_policy(self.augment, default=augment.AugmentPolicy())
        tta.parse_views(self.tta)

    def class_ids(self) -> tuple[int, ...]:
        """The dataset classes this run trains on (--classes), () for all of them."""
        from jaxcnn.data import get_dataset_spec, subsets

        return subsets.parse_classes(self.classes, get_dataset_spec(self.dataset).num_classes) if self.classes else ()

    def class_count(self) -> int:
        """The model's outputs: --num_classes if set, else the number of --classes, else the dataset's."""
        from jaxcnn.data import get_dataset_spec

        return self.num_classes or len(self.class_ids()) or get_dataset_spec(self.dataset).num_classes

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def identity_differences(saved: dict, current: TrainConfig) -> list[str]:
    """Human-readable 'field: saved -> current' for the identity fields that differ (a field missing from an
    older config.json had its default value)."""
    defaults = TrainConfig()
    return [
        f"{name}: {saved.get(name, getattr(defaults, name))!r} -> {getattr(current, name)!r}"
        for name in IDENTITY_FIELDS
        if saved.get(name, getattr(defaults, name)) != getattr(current, name)
    ]
