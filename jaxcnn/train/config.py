"""Every setting of a training run, defined once: the `TrainConfig` dataclass, whose fields carry their help
text, choices and allowed range. The experiment scripts generate their flags from these fields, runs record
them in config.json, and `jaxcnn.train.plan.resolve` turns them into a checked `RunPlan`.

Plain data: this module imports nothing of jaxcnn and no JAX, so it loads instantly (fast `--help`, and
nothing touches a device before a multi-host run has started).
"""

import dataclasses
import math

# Fields that change how a run executes but not its numbers: a resume may change them freely. Every other field
# is part of the run's identity: a resume with a different value is refused (`identity_differences`) unless the
# user asks to continue on purpose (--allow_config_change), which the run's history records. --init_from is read
# by a fresh run only, so a resumed run needs neither the source nor the same path.
EXECUTION_FIELDS = ("checkpoint_every_steps", "keep_checkpoints", "log_every_steps", "data_dir", "progress_bar",
                    "init_from", "test_every_epoch")

# What a config.json written before a field existed meant by leaving it out, where that is not today's default:
# runs of jaxcnn 0.1 held out no validation set and used flax's BatchNorm statistics.
ABSENT_MEANS = {"validation_examples": 0, "batchnorm_stats": "flax"}

# Range rules a field may name in its metadata: (what the value must be, the test).
RULES = {
    "positive": ("positive", lambda v: math.isfinite(v) and v > 0),
    "non_negative": (">= 0", lambda v: math.isfinite(v) and v >= 0),
    "fraction": ("in [0, 1)", lambda v: 0 <= v < 1),
    "seed": ("an integer in [0, 2**31)", lambda v: 0 <= v < 2**31),
    "count_or_auto": (">= 0, or -1 for automatic", lambda v: v >= -1),
}


def setting(default, help: str, *, choices: tuple = (), rule: str | None = None):  # noqa: A002 (help, as absl)
    """A config field with its flag help, its allowed values (`choices`) or its range (`rule`, a key of RULES)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "rule": rule})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = setting("fashion_mnist", "TFDS dataset name.")
    model: str = setting("tiny_vgg", "Model name (python -m jaxcnn.models --list).")
    num_classes: int = setting(0, "Output classes (0: the dataset's, or the number of --classes).", rule="non_negative")
    batch_size: int = setting(128, "Global batch size (over every device, per update).", rule="positive")
    epochs: float = setting(10.0, "Training epochs (fractions allowed).", rule="positive")
    optimizer: str = setting("sgd", "sgd (Nesterov momentum) or adamw.", choices=("sgd", "adamw"))
    learning_rate: float = setting(0.1, "Peak learning rate.", rule="positive")
    momentum: float = setting(0.9, "SGD momentum (Nesterov; 0: plain SGD).", rule="non_negative")
    schedule: str = setting("cosine", "cosine (with linear warmup), onecycle or constant.",
                            choices=("cosine", "onecycle", "constant"))
    warmup_epochs: float = setting(1.0, "Linear warmup length (cosine) / rise (onecycle).", rule="non_negative")
    weight_decay: float = setting(5e-4, "Decoupled weight decay on kernels (not biases/BN).", rule="non_negative")
    label_smoothing: float = setting(0.0, "Label smoothing in [0, 1).", rule="fraction")
    augment: str = setting("default", "default | none | comma list of ops, e.g. flip,crop4 or default,pca0.1,mixup0.2; "
                           "mixupA / cutmixA mix pairs of examples and their labels (soft targets).")
    aux_loss_weight: float = setting(0.0, "Weight of auxiliary-head losses (0: off).", rule="non_negative")
    seed: int = setting(0, "Seed for init, data order and augmentation.", rule="seed")
    checkpoint_every_steps: int = setting(500, "Checkpoint interval in steps.", rule="positive")
    keep_checkpoints: int = setting(2, "How many recent checkpoints to keep.", rule="positive")
    log_every_steps: int = setting(20, "Steps between progress-bar updates.", rule="positive")
    data_dir: str | None = setting(None, "TFDS data directory (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).")
    progress_bar: bool = setting(True, "Show a per-epoch progress bar.")
    parallel: str = setting("jit", "jit: one jit over a device mesh, batch sharded (default); pmap: the same step "
                            "under jax.pmap, BatchNorm statistics over the global batch.", choices=("jit", "pmap"))
    grad_accum_steps: int = setting(1, "Split each --batch_size batch into this many micro-batches and accumulate "
                                    "their gradients (optax.MultiSteps): a large global batch on few devices.",
                                    rule="positive")
    dtype: str = setting("float32", "Computation dtype; parameters, optimizer state and BatchNorm statistics stay "
                         "float32.", choices=("float32", "bfloat16"))
    tta: str = setting("none", "Test-time augmentation: none | flip | shiftN | flip,shiftN. Reported as "
                       "test_tta_accuracy beside the plain test accuracy.")
    input_pipeline: str = setting("device", "device: the dataset held on device as uint8 (small datasets); streaming: "
                                  "TFDS + tf.data, each process reading its part, prefetched to device. Same "
                                  "augmentation either way.", choices=("device", "streaming"))
    classes: str = setting("", "Train and test on these classes only, relabelled 0..k-1: a range or list such as 5-9 "
                           "or 0,2,4 (empty: all). With --input_pipeline=device.")
    train_examples: int = setting(0, "Train on a fixed random sample of this many training examples (0: all), drawn "
                                  "from --seed. With --input_pipeline=device.", rule="non_negative")
    init_from: str | None = setting(None, "Transfer learning: the --workdir of a trained run, or pretrained weights "
                                    "SOURCE:ARCH[:PATH] (torchvision:resnet50:resnet50-0676ba61.pth, "
                                    "timm:resnet18.a1_in1k); start from its backbone (a run's best checkpoint) with a "
                                    "new head. Same --model; any dataset classes.")
    validation_examples: int = setting(-1, "Hold out this many examples of the training split for validation (the "
                                       "split's last ones, fixed whatever --seed); -1: a tenth of the split, at most "
                                       "5000; 0: no validation set, nothing is selected. Ignored with "
                                       "--validation_split.", rule="count_or_auto")
    validation_split: str = setting("", "Validate on this split of the dataset instead (e.g. validation, for datasets "
                                    "that have one); empty: hold out --validation_examples.")
    test_every_epoch: bool = setting(True, "Evaluate the test split after every epoch (a column of metrics.jsonl and "
                                     "the curves); false: once, when the run ends, on the checkpoint selected on "
                                     "validation (faster, and no test number is seen before the run is over).")
    early_stopping_patience: int = setting(0, "Stop after this many epochs without a new best validation accuracy "
                                           "(0: train every epoch).", rule="non_negative")
    batchnorm_stats: str = setting("pytorch", "pytorch: BatchNorm's running variance is the unbiased batch variance "
                                   "and batch variances are computed in two passes (PyTorch's meaning); flax: biased "
                                   "running variance, one-pass E[x^2]-E[x]^2 (jaxcnn 0.1's numbers).",
                                   choices=("pytorch", "flax"))
    backbone_lr_scale: float = setting(1.0, "The backbone's learning rate as a fraction of the head's: 0 freezes it "
                                       "(parameters fixed, BatchNorm and Dropout as at test time), 0.1 fine-tunes it.",
                                       rule="non_negative")
    image_size: int = setting(0, "Resize every image to this many pixels square (0: the dataset's own size; needed "
                              "when its images differ in size, e.g. --dataset=folder:PATH of photos).",
                              rule="non_negative")
    channels: int = setting(0, "Read images as 1 (grayscale) or 3 (RGB) channels (0: the dataset's own).",
                            rule="non_negative")
    input_norm: str = setting("dataset", "Standardise images (on the device) with the dataset's per-channel mean "
                              "and std, or with ImageNet's (torchvision's (0.485, 0.456, 0.406) / (0.229, 0.224, "
                              "0.225)), which networks pretrained on ImageNet expect.", choices=("dataset", "imagenet"))
    model_input_size: int = setting(0, "Resize each batch on the device, after augmentation, to this many pixels "
                                    "square before the model (0: as stored), e.g. 64 to 224 for an ImageNet network "
                                    "on 28x28 images; the dataset stays small in memory (--image_size resizes once, "
                                    "at load).", rule="non_negative")
    model_input_channels: int = setting(0, "3: repeat a grayscale image's channel to RGB on the device, for networks "
                                        "pretrained on colour images (0: as stored).", rule="non_negative")

    def problems(self) -> list[str]:
        """One line per field whose value is out of its choices or range (empty when all are fine)."""
        found = []
        for field in dataclasses.fields(self):
            value, choices, rule = getattr(self, field.name), field.metadata["choices"], field.metadata["rule"]
            if choices and value not in choices:
                found.append(f"--{field.name}={value!r} is not one of: {', '.join(choices)}")
            elif rule and not RULES[rule][1](value):
                found.append(f"--{field.name} must be {RULES[rule][0]}, got {value}")
        return found

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> "TrainConfig":
        """A config from config.json: fields it lacks (an older run) take their defaults, unknown keys are ignored.
        A ValueError names the first value of the wrong type (a damaged or foreign file)."""
        if not isinstance(saved, dict):
            raise ValueError(f"it holds a JSON {type(saved).__name__}, not the settings of a run")
        values = {name: value for name, value in ABSENT_MEANS.items() if name not in saved}
        for field in dataclasses.fields(cls):
            if field.name in saved:
                values[field.name] = _typed(field, saved[field.name])
        return cls(**values)


# What config.json may hold for a field of each annotated type (JSON writes 3.0 as 3), and its name in a message.
_JSON_TYPES = {int: ((int,), "an integer"), float: ((int, float), "a number"), str: ((str,), "a string"),
               bool: ((bool,), "true or false"), str | None: ((str, type(None)), "a string or null")}


def _typed(field: dataclasses.Field, value):
    allowed, expected = _JSON_TYPES[field.type]
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ValueError(f"{field.name} is {value!r} where {expected} is expected")
    return float(value) if field.type is float else value


def identity_fields() -> tuple[str, ...]:
    """The fields that change a run's numbers: all but EXECUTION_FIELDS."""
    return tuple(field.name for field in dataclasses.fields(TrainConfig) if field.name not in EXECUTION_FIELDS)


def identity_differences(saved: dict, current: TrainConfig) -> list[str]:
    """Human-readable 'field: saved -> current' for the identity fields that differ (`saved` as read from
    config.json: a field an older config.json lacks had the value it meant then)."""
    saved = dataclasses.asdict(TrainConfig.from_dict(saved))
    return [f"{name}: {saved[name]!r} -> {getattr(current, name)!r}"
            for name in identity_fields() if saved[name] != getattr(current, name)]
