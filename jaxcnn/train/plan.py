"""A run's config resolved once into what every part of the run uses: the `RunPlan`.

`resolve(config)` checks every setting and parses the ones written as text (--augment, --tta, --classes) into
objects, raising a one-line `ConfigError` for the first bad value. It computes nothing on a device, so
experiments call it before a multi-host run starts. The model, its head, the optimizer and the steps are
then built from the plan, never from the raw config, so no two parts can read a setting differently.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxcnn import augment, errors, layers, models, pretrained, transfer
from jaxcnn.data.catalog import DatasetSpec
from jaxcnn.data.folder import is_folder_name
from jaxcnn.data.sources import dataset_spec
from jaxcnn.data.subsets import parse_classes
from jaxcnn.model_input import IMAGENET_MEAN, IMAGENET_STD, model_input, model_input_shape
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.evaluate import TTAViews, parse_views
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import TrainState, create_train_state
from jaxcnn.train.steps import StepRecipe


@dataclasses.dataclass(frozen=True)
class RunPlan:
    config: TrainConfig
    dataset: DatasetSpec
    class_ids: tuple[int, ...]  # --classes: the dataset classes trained on, relabelled 0..k-1; () for all
    num_classes: int  # the model's outputs: --num_classes, else the number of --classes, else the dataset's
    augment: augment.AugmentPolicy
    tta_views: TTAViews

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.dataset.image_shape

    @property
    def model_input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) the model sees: `image_shape` (as stored) after --model_input_size / --model_input_channels."""
        return model_input_shape(self.image_shape, self.config.model_input_size, self.config.model_input_channels == 3)

    @property
    def input_stats(self) -> tuple[tuple, tuple]:
        """(mean, std) the images are standardised with (--input_norm): the dataset's, or ImageNet's."""
        if self.config.input_norm == "imagenet":
            return IMAGENET_MEAN, IMAGENET_STD
        return self.dataset.mean, self.dataset.std

    def model_input(self, images):
        """uint8 images as stored -> the float batch the model takes (`jaxcnn.model_input`; jittable)."""
        config = self.config
        return model_input(images, *self.input_stats, config.model_input_size, config.model_input_channels == 3)

    @property
    def transfers(self) -> bool:
        """True when the backbone is treated apart from the head (--init_from or --backbone_lr_scale != 1)."""
        return bool(self.config.init_from) or self.config.backbone_lr_scale != 1


def resolve(config: TrainConfig) -> RunPlan:
    """The checked plan of `config`; a one-line ConfigError names the first bad setting."""
    problems = config.problems()
    if problems:
        raise errors.ConfigError(problems[0])
    dataset = dataset_spec(config.dataset, config.data_dir, config.image_size, config.channels)
    if config.input_pipeline != "device" and (config.image_size or config.channels or is_folder_name(config.dataset)):
        raise errors.ConfigError("image folders, --image_size and --channels are read into a dataset held on the "
                                 "device; use them with --input_pipeline=device")
    if config.batch_size % config.grad_accum_steps:
        raise errors.ConfigError(
            f"--batch_size={config.batch_size} does not split into --grad_accum_steps={config.grad_accum_steps} "
            f"equal micro-batches; use a multiple of {config.grad_accum_steps}")
    if (config.classes or config.train_examples) and config.input_pipeline != "device":
        raise errors.ConfigError("--classes and --train_examples select examples of a dataset held on the device; "
                                 "use them with --input_pipeline=device")
    if config.early_stopping_patience and config.validation_examples == 0 and not config.validation_split:
        raise errors.ConfigError("--early_stopping_patience needs a validation set; set --validation_examples (or "
                                 "--validation_split), or 0 patience")
    _check_model_input(config, dataset)
    class_ids = parse_classes(config.classes, dataset.num_classes)
    policy = augment.parse_policy(config.augment, default=augment.dataset_default(dataset))
    views = parse_views(config.tta)
    largest_shift = min(dataset.image_shape[:2]) // 4
    if views.shift > largest_shift:
        raise errors.ConfigError(f"--tta={config.tta}: a shift of {views.shift} pixels leaves little of a "
                                 f"{dataset.image_shape[0]}x{dataset.image_shape[1]} image; use shift1 to "
                                 f"shift{largest_shift}")
    return RunPlan(config, dataset, class_ids, config.num_classes or len(class_ids) or dataset.num_classes,
                   policy, views)


def _check_model_input(config: TrainConfig, dataset: DatasetSpec) -> None:
    """--model_input_channels, --input_norm and pretrained --init_from weights fit the model and the images."""
    if config.model_input_channels not in (0, 3):
        raise errors.ConfigError(f"--model_input_channels={config.model_input_channels}: use 3 (grey to RGB) or 0")
    channels = model_input_shape(dataset.image_shape, 0, config.model_input_channels == 3)[-1]
    if config.input_norm == "imagenet" and channels != 3:
        raise errors.ConfigError(f"--input_norm=imagenet standardises RGB images, and {config.dataset}'s have "
                                 f"{channels} channel(s); add --model_input_channels=3")
    if pretrained.is_spec(config.init_from):
        spec = pretrained.parse_spec(config.init_from)
        if spec.arch != config.model:
            raise errors.ConfigError(f"--init_from={config.init_from} holds {spec.arch} weights; use "
                                     f"--model={spec.arch}")


def build_model(plan: RunPlan, axis_name: str | None = None):
    """The plan's model (its class count and dtype, auxiliary heads when their loss is on, its BatchNorm's
    statistics as --batchnorm_stats says); with `axis_name`, its BatchNorm layers compute statistics over that
    pmap axis (the global batch)."""
    options = {"aux_heads": True} if plan.config.aux_loss_weight else {}
    norm = layers.FlaxBatchNorm if plan.config.batchnorm_stats == "flax" else layers.BatchNorm
    options["norm"] = functools.partial(norm, axis_name=axis_name)
    return models.get_model(plan.config.model, num_classes=plan.num_classes, dtype=jnp.dtype(plan.config.dtype),
                            **options)


def transfer_head(plan: RunPlan, model) -> frozenset[str]:
    """The head modules (`jaxcnn.transfer.head_modules`) of a plan that transfers; empty for any other, which
    has one parameter group."""
    return transfer.head_modules(model, plan.model_input_shape) if plan.transfers else frozenset()


def step_recipe(plan: RunPlan, model, head: frozenset[str], colour_stats=None) -> StepRecipe:
    """What the plan's steps compute; `colour_stats` (`jaxcnn.data.stats`) when --augment has pcaF."""
    config = plan.config
    return StepRecipe(
        model=model, num_classes=plan.num_classes, mean=plan.input_stats[0], std=plan.input_stats[1],
        resize_to=config.model_input_size, to_rgb=config.model_input_channels == 3,
        augment_fn=augment.make_batch_augmenter(plan.augment.per_example(), colour_stats),
        mix_fn=augment.make_pair_mixer(plan.augment, plan.num_classes) if plan.augment.mixes else None,
        label_smoothing=config.label_smoothing, aux_loss_weight=config.aux_loss_weight,
        grad_accum_steps=config.grad_accum_steps,
        frozen_backbone_head=head if config.backbone_lr_scale == 0 else None, tta_views=plan.tta_views,
    )


def abstract_state(plan: RunPlan) -> TrainState:
    """The shapes and dtypes of the plan's TrainState (nothing computed): the target for reading a checkpoint
    the plan's run wrote. The schedule's length does not change the state, so one step an epoch will do."""
    model = build_model(plan)
    tx = make_optimizer(plan.config, steps_per_epoch=1, head=transfer_head(plan, model))
    return jax.eval_shape(lambda: create_train_state(model, tx, plan.config.seed, plan.model_input_shape))
