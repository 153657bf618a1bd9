"""`resolve(config) -> RunPlan`: every setting checked and parsed once (one-line ConfigErrors), and the model,
head, step recipe and abstract state built from the plan."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import augment, errors, layers
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.evaluate import TTAViews
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.plan import abstract_state, build_model, resolve, step_recipe, transfer_head
from jaxcnn.train.state import create_train_state


def test_resolve_parses_the_text_settings_once_into_objects():
    plan = resolve(TrainConfig(augment="flip,crop4,mixup0.2", tta="flip,shift2", classes="0,2,5-7"))
    assert plan.augment == augment.AugmentPolicy(flip=True, crop_padding=4, mixup=0.2)
    assert plan.tta_views == TTAViews(flip=True, shift=2)
    assert plan.class_ids == (0, 2, 5, 6, 7)
    assert plan.dataset.tfds_name == "fashion_mnist" and plan.image_shape == (28, 28, 1)
    assert plan.config == TrainConfig(augment="flip,crop4,mixup0.2", tta="flip,shift2", classes="0,2,5-7")


@pytest.mark.parametrize("dataset, policy", [
    ("fashion_mnist", augment.AugmentPolicy(flip=True, crop_padding=2)),
    ("mnist", augment.AugmentPolicy(crop_padding=2)),  # a mirrored digit is another digit: no flip
    ("cifar10", augment.AugmentPolicy(flip=True, crop_padding=4)),
])
def test_the_default_augmentation_is_the_datasets(dataset, policy):
    assert resolve(TrainConfig(dataset=dataset)).augment == policy
    assert resolve(TrainConfig(dataset=dataset, augment="default,pca0.1")).augment == augment.AugmentPolicy(
        flip=policy.flip, crop_padding=policy.crop_padding, pca=0.1)
    assert resolve(TrainConfig(dataset=dataset, augment="none")).augment == augment.AugmentPolicy()


def test_the_class_count_is_num_classes_then_the_number_of_classes_then_the_datasets():
    assert resolve(TrainConfig(num_classes=12, classes="5-9")).num_classes == 12
    assert resolve(TrainConfig(classes="5-9")).num_classes == 5
    assert resolve(TrainConfig()).num_classes == 10
    assert resolve(TrainConfig(dataset="cifar100")).num_classes == 100
    assert resolve(TrainConfig()).class_ids == ()


def test_a_plan_transfers_when_it_starts_from_a_run_or_scales_the_backbone():
    assert not resolve(TrainConfig()).transfers
    assert resolve(TrainConfig(init_from="/runs/a")).transfers
    assert resolve(TrainConfig(backbone_lr_scale=0.0)).transfers


@pytest.mark.parametrize("settings, message", [
    ({"classes": "5-10"}, "--classes='5-10': '5-10' is outside the dataset's classes 0-9"),
    ({"classes": "shoes"}, "--classes='shoes': 'shoes' is not a class id or a range like 5-9"),
    ({"augment": "flip,spin"}, "unknown augmentation 'spin'; choose one of: "),
    ({"augment": "crop2.5"}, "augmentation 'crop2.5': crop takes a whole number of pixels"),
    ({"tta": "rotate"}, "unknown test-time augmentation 'rotate'; choose one of: flip, none, shiftN"),
    ({"batch_size": 100, "grad_accum_steps": 3},
     "--batch_size=100 does not split into --grad_accum_steps=3 equal micro-batches; use a multiple of 3"),
    ({"classes": "0-4", "input_pipeline": "streaming"}, "--classes and --train_examples select examples of a dataset "
                                                        "held on the device; use them with --input_pipeline=device"),
    ({"train_examples": 500, "input_pipeline": "streaming"}, "--classes and --train_examples select examples"),
    ({"dataset": "svhn"}, "unknown dataset 'svhn' (Dataset svhn not found.); use any TFDS image-classification "
                          "dataset (e.g. cifar10, cifar100, fashion_mnist, mnist, svhn_cropped) or folder:PATH"),
    ({"dataset": "glue/cola"}, "dataset 'glue/cola' is not image classification"),
    ({"dataset": "fashion_mnist", "image_size": 32, "input_pipeline": "streaming"},
     "image folders, --image_size and --channels are read into a dataset held on the device"),
    ({"epochs": 0.0, "optimizer": "adam"}, "--epochs must be positive, got 0.0"),  # the first problem
])
def test_a_bad_setting_is_one_config_error_line(settings, message):
    with pytest.raises(errors.ConfigError) as raised:
        resolve(TrainConfig(**settings))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_build_model_follows_the_plan():
    model = build_model(resolve(TrainConfig(classes="5-9", dtype="bfloat16")))
    assert model.num_classes == 5 and model.dtype == jnp.bfloat16
    with_aux = build_model(resolve(TrainConfig(model="resnet20", dataset="cifar10", aux_loss_weight=0.3)))
    assert with_aux.aux_heads
    assert not build_model(resolve(TrainConfig(model="resnet20", dataset="cifar10"))).aux_heads


def test_with_an_axis_name_the_models_batch_norm_averages_over_that_axis():
    plan = resolve(TrainConfig())
    model = build_model(plan, axis_name="batch")
    assert isinstance(model.norm, functools.partial) and model.norm.func is layers.BatchNorm
    assert model.norm.keywords == {"axis_name": "batch"}
    # Behaviour: two differently distributed halves mapped over the axis (vmap names it as pmap would) normalise
    # with, and record, the statistics of the whole batch: those of the plain model on the whole batch.
    plain = build_model(plan)
    images = jax.random.uniform(jax.random.PRNGKey(0), (8, 28, 28, 1)) * jnp.array([1.0, 3.0]).repeat(4)[:, None, None, None]
    variables = jax.jit(plain.init)(jax.random.PRNGKey(1), images[:1])
    whole_logits, whole = jax.jit(lambda x: plain.apply(variables, x, train=True, mutable=["batch_stats"]))(images)
    apply = lambda x: model.apply(variables, x, train=True, mutable=["batch_stats"])  # noqa: E731
    logits, halves = jax.jit(jax.vmap(apply, axis_name="batch"))(images.reshape(2, 4, 28, 28, 1))
    np.testing.assert_allclose(logits.reshape(8, -1), whole_logits, rtol=1e-4, atol=1e-4)
    for got, want in zip(jax.tree.leaves(halves), jax.tree.leaves(whole), strict=True):
        np.testing.assert_allclose(got, np.stack([want, want]), rtol=1e-4, atol=1e-6)
    _, per_half = jax.jit(jax.vmap(lambda x: plain.apply(variables, x, train=True, mutable=["batch_stats"])))(
        images.reshape(2, 4, 28, 28, 1))
    means = per_half["batch_stats"]["block1"]["bn"]["mean"]
    assert not np.allclose(means[0], means[1], rtol=0.1)  # without the axis each half has its own statistics


def test_the_head_is_found_only_for_a_plan_that_transfers():
    plan = resolve(TrainConfig(init_from="/runs/a"))
    assert transfer_head(plan, build_model(plan)) == frozenset({"fc2"})
    plain = resolve(TrainConfig())
    assert transfer_head(plain, build_model(plain)) == frozenset()


def test_the_step_recipe_carries_the_plans_settings():
    config = TrainConfig(classes="5-9", label_smoothing=0.1, aux_loss_weight=0.2, grad_accum_steps=2,
                         backbone_lr_scale=0.0, tta="flip", augment="flip,mixup0.4")
    plan = resolve(config)
    model = build_model(resolve(dataclasses.replace(config, aux_loss_weight=0.0)))  # tiny_vgg has no aux heads
    head = transfer_head(plan, model)
    recipe = step_recipe(plan, model, head)
    assert recipe.model is model and recipe.num_classes == 5
    assert (recipe.mean, recipe.std) == ((0.2860,), (0.3530,))
    assert (recipe.label_smoothing, recipe.aux_loss_weight, recipe.grad_accum_steps) == (0.1, 0.2, 2)
    assert recipe.frozen_backbone_head == head == frozenset({"fc2"}) and recipe.tta_views == TTAViews(flip=True)
    assert recipe.mix_fn is not None
    plain_plan = resolve(TrainConfig(backbone_lr_scale=0.1, augment="none"))
    plain = step_recipe(plain_plan, build_model(plain_plan), frozenset({"fc2"}))
    assert plain.frozen_backbone_head is None and plain.mix_fn is None and plain.tta_views == TTAViews()
    images = jnp.arange(2 * 28 * 28, dtype=jnp.uint8).reshape(2, 28, 28, 1)
    np.testing.assert_array_equal(plain.augment_fn(jax.random.PRNGKey(0), images), images)  # --augment=none


@pytest.mark.parametrize("settings", [
    {},
    {"optimizer": "adamw", "grad_accum_steps": 2},
    {"init_from": "/runs/a", "backbone_lr_scale": 0.1, "classes": "5-9"},  # two parameter groups
    {"backbone_lr_scale": 0.0, "dtype": "bfloat16"},
])
def test_the_abstract_state_has_the_shapes_of_a_real_one(settings):
    plan = resolve(TrainConfig(**settings))
    model = build_model(plan)
    tx = make_optimizer(plan.config, steps_per_epoch=37, head=transfer_head(plan, model))
    real = create_train_state(model, tx, plan.config.seed, plan.image_shape)
    abstract = abstract_state(plan)
    assert jax.tree.structure(abstract) == jax.tree.structure(real)
    shapes = lambda tree: [(leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(tree)]  # noqa: E731
    assert shapes(abstract) == shapes(real)
    assert not any(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(abstract))  # nothing computed
