"""Every setting of a detection run, defined once: `DetectionConfig`, whose fields carry their flag help, choices
and range (the same `setting` fields as `jaxcnn.train.config.TrainConfig`; experiments/detection.py makes its
flags from them and runs record them in config.json). Plain data: no JAX, so `--help` is instant."""

import dataclasses

from jaxcnn.train.config import TrainConfig, setting

CANVAS_DATASET = "fashion_canvas"

# Fields that define what is trained: resuming a workdir with other values is refused.
IDENTITY_FIELDS = ("dataset", "train_split", "canvas_size", "min_objects", "max_objects", "min_item_size",
                   "max_item_size", "train_images", "widths", "head_width")


@dataclasses.dataclass(frozen=True)
class DetectionConfig:
    # The data: the offline canvases (real Fashion-MNIST items on blank canvases, jaxcnn.detection.canvas_data) or
    # any TFDS object-detection dataset (jaxcnn.detection.tfds_data).
    dataset: str = setting(CANVAS_DATASET, f"{CANVAS_DATASET} (offline canvases of Fashion-MNIST items) or a TFDS "
                           "object-detection dataset prepared in --data_dir, e.g. voc/2007, coco/2017.")
    train_split: str = setting("", "TFDS split to train on (empty: train; train[:-V] where validation is held out of "
                               "it, V = --validation_images).")
    validation_split: str = setting("", "TFDS split that picks the best checkpoint (empty: validation; train[-V:] "
                                    "where the test split is 'validation', e.g. COCO, whose test has no labels).")
    test_split: str = setting("", "TFDS split scored once at the end (empty: test; validation where test has no "
                              "labels, e.g. COCO).")
    canvas_size: int = setting(64, "Canvas side in pixels (a multiple of 8); TFDS images are letterboxed to it.",
                               rule="positive")
    min_objects: int = setting(1, "Fewest items pasted on a canvas.", rule="positive")
    max_objects: int = setting(4, "Most items on a canvas / objects kept an image (the largest; the object slots of "
                               "a batch).", rule="positive")
    min_item_size: int = setting(14, "Smallest item side in pixels (items are resized from 28x28).", rule="positive")
    max_item_size: int = setting(36, "Largest item side in pixels.", rule="positive")
    train_images: int = setting(8000, "Training canvases (items from Fashion-MNIST train 0..49,999); TFDS: at most "
                                "this many of the train split.", rule="positive")
    validation_images: int = setting(1000, "Validation canvases (train items 50,000..59,999) / at most this many "
                                     "validation images: picks the best checkpoint by mAP@0.5.", rule="positive")
    test_images: int = setting(2000, "Test canvases (Fashion-MNIST test items) / at most this many test images, "
                               "scored once with the best checkpoint.", rule="positive")
    # The detector (jaxcnn.detection.model.CenterNet) and its loss.
    widths: str = setting("32,64,128", "Stem width, then one residual stage per width (stride 2 each).")
    head_width: int = setting(64, "Channels of the feature-pyramid neck and of the heads.", rule="positive")
    size_weight: float = setting(0.1, "Weight of the L1 size loss (CenterNet: 0.1).", rule="non_negative")
    offset_weight: float = setting(1.0, "Weight of the L1 centre-offset loss.", rule="non_negative")
    # Optimisation (optax AdamW with jaxcnn.train.optim's schedule and weight-decay mask).
    batch_size: int = setting(64, "Global batch size.", rule="positive")
    epochs: float = setting(12.0, "Training epochs (fractions allowed).", rule="positive")
    learning_rate: float = setting(2e-3, "Peak AdamW learning rate.", rule="positive")
    schedule: str = setting("cosine", "cosine (with linear warmup), onecycle or constant.",
                            choices=("cosine", "onecycle", "constant"))
    warmup_epochs: float = setting(0.5, "Linear warmup length (cosine) / rise (onecycle).", rule="non_negative")
    weight_decay: float = setting(1e-4, "Decoupled weight decay on kernels.", rule="non_negative")
    flip: bool = setting(True, "Random horizontal flip (boxes mirrored with the pixels).")
    scale_range: float = setting(0.25, "Random zoom in [1-r, 1+r] at a random place: zooming in crops, zooming "
                                 "out shrinks; boxes follow, clipped (0: off).", rule="fraction")
    # Decoding.
    max_detections: int = setting(100, "Heatmap peaks decoded an image (top k).", rule="positive")
    nms_iou: float = setting(0.5, "Class-wise NMS drops a box overlapping a better one by more than this IoU.",
                             rule="fraction")
    min_score: float = setting(0.01, "Detections scoring below this are dropped.", rule="fraction")
    # Running.
    seed: int = setting(0, "Seed for the canvases, init, data order and augmentation.")
    checkpoint_every_steps: int = setting(200, "Checkpoint interval in steps.", rule="positive")
    keep_checkpoints: int = setting(2, "How many recent checkpoints to keep.", rule="positive")
    log_every_steps: int = setting(20, "Steps between progress-bar updates.", rule="positive")
    data_dir: str | None = setting(None, "TFDS data directory holding fashion_mnist or the detection dataset.")
    progress_bar: bool = setting(True, "Show a per-epoch progress bar.")
    parallel: str = setting("jit", "jit over a device mesh (default) or pmap: the same numbers.",
                            choices=("jit", "pmap"))

    # The same range checks and config.json record as TrainConfig (they read only the fields and their metadata).
    problems = TrainConfig.problems
    to_dict = TrainConfig.to_dict

    def width_list(self) -> tuple[int, ...]:
        return tuple(int(w) for w in self.widths.split(",") if w.strip())

    def all_problems(self) -> list[str]:
        """`problems()` plus the checks that involve several fields."""
        found = self.problems()
        try:
            if len(self.width_list()) != 3 or min(self.width_list()) < 1:
                found.append(f"--widths must be three positive widths (stem, stride-4 stage, stride-8 stage), got {self.widths!r}")
        except ValueError:
            found.append(f"--widths must be comma-separated integers, got {self.widths!r}")
        if self.canvas_size % 8:
            found.append(f"--canvas_size must be a multiple of 8 (the backbone's stride), got {self.canvas_size}")
        if self.dataset != CANVAS_DATASET:
            return found  # the rest are the canvases' own settings
        if self.train_split or self.validation_split or self.test_split:
            found.append(f"--train_split / --validation_split / --test_split name TFDS splits; the {CANVAS_DATASET} "
                         "splits are fixed (pass --dataset=voc/2007 or another TFDS detection dataset)")
        if self.min_objects > self.max_objects or self.min_item_size > self.max_item_size:
            found.append("--min_objects / --min_item_size must not exceed --max_objects / --max_item_size")
        if self.max_item_size > self.canvas_size:
            found.append(f"--max_item_size={self.max_item_size} does not fit on a {self.canvas_size}-pixel canvas")
        return found
