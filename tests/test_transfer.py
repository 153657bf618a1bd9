"""Transfer learning: the head found by tracing, parameter groups, grafting a trained backbone, and whole runs
on real Fashion-MNIST that pretrain on classes 0-4 and transfer to classes 5-9 (frozen, fine-tuned, resumed)."""

import os
import pathlib
import shutil
import sys

import jax
import jax.numpy as jnp
import numpy as np
import flax.linen as nn
import optax
import pytest

from jaxcnn import errors, layers, models, transfer
from jaxcnn.train import TrainConfig
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.optim import make_optimizer
from jaxcnn.train.state import create_train_state
from jaxcnn.train.steps import StepRecipe, make_steps

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "train"))
from scale_run import read_checkpoint  # noqa: E402
from conftest import FASHION_MNIST_RUN  # noqa: E402


@pytest.mark.parametrize("name, shape, options, head", [
    ("tiny_vgg", (28, 28, 1), {}, {"fc2"}),
    ("simple_cnn", (28, 28, 1), {}, {"fc2"}),
    ("lenet5", (32, 32, 1), {}, {"output"}),
    ("resnet20", (32, 32, 3), {}, {"fc"}),
    ("resnet20", (32, 32, 3), {"aux_heads": True}, {"fc", "aux_head1", "aux_head2"}),
    ("vgg11_cifar", (32, 32, 3), {}, {"classifier"}),
    ("airbench", (32, 32, 3), {}, {"fc"}),
])
def test_the_head_is_every_module_whose_shapes_follow_the_class_count(name, shape, options, head):
    assert transfer.head_modules(models.get_model(name, num_classes=10, **options), shape) == head


def test_parameter_groups_label_every_leaf_and_split_the_count():
    model = models.get_model("tiny_vgg", num_classes=10)
    params = models.abstract_variables(model, (28, 28, 1))["params"]
    head = transfer.head_modules(model, (28, 28, 1))
    labels = transfer.param_labels(params, head)
    assert jax.tree.structure(labels) == jax.tree.structure(params)
    assert labels["fc2"] == {"kernel": transfer.HEAD, "bias": transfer.HEAD}
    assert set(jax.tree.leaves(labels)) == {transfer.HEAD, transfer.BACKBONE}
    backbone, head_size = transfer.count(params, head)
    assert head_size == 128 * 10 + 10 and backbone + head_size == layers.param_count(params)


def _state(name, num_classes, seed):
    model = models.get_model(name, num_classes=num_classes)
    return create_train_state(model, optax.sgd(0.1), seed, (28, 28, 1)), model


def _variables(state) -> dict:
    return {"params": state.params, "batch_stats": state.batch_stats}


def _trained_variables(state) -> dict:
    """A trained run's {'params', 'batch_stats'} as `jaxcnn.train.workdir.TrainedRun.variables` gives them."""
    return jax.tree.map(np.asarray, {"params": state.params, "batch_stats": state.batch_stats})


def test_graft_takes_the_backbone_and_keeps_the_fresh_head():
    source, _ = _state("tiny_vgg", 5, seed=1)  # a different class count: only the head differs in shape
    target, model = _state("tiny_vgg", 10, seed=2)
    head = transfer.head_modules(model, (28, 28, 1))
    assert transfer.backbone_differences(_variables(target), _trained_variables(source), head) == []
    grafted = transfer.graft(target, _trained_variables(source), head)
    for kind in ("params", "batch_stats"):
        for name in getattr(target, kind):
            want = getattr(target if name in head else source, kind)[name]
            for a, b in zip(jax.tree.leaves(getattr(grafted, kind)[name]), jax.tree.leaves(want), strict=True):
                np.testing.assert_array_equal(a, b, err_msg=f"{kind}/{name}")
    assert not np.array_equal(source.params["block1"]["conv"]["kernel"], target.params["block1"]["conv"]["kernel"])
    assert jax.tree.structure(grafted) == jax.tree.structure(target)


def test_a_backbone_from_another_architecture_is_refused_naming_the_differences():
    source, _ = _state("simple_cnn", 10, seed=1)
    target, model = _state("tiny_vgg", 10, seed=2)
    head = transfer.head_modules(model, (28, 28, 1))
    differences = transfer.backbone_differences(_variables(target), _trained_variables(source), head)
    assert "params/block1/conv/kernel: not in the trained run, this run (3, 3, 1, 32)" in differences
    assert "batch_stats/block1/bn/mean: not in the trained run, this run (32,)" in differences
    assert any(line.endswith(": only in the trained run") for line in differences)
    with pytest.raises(errors.ShapeError) as raised:
        transfer.graft(target, _trained_variables(source), head)
    message = str(raised.value)
    assert message.startswith("the trained backbone does not fit this model: ")
    assert "params/block1/conv/kernel: not in the trained run" in message and "\n" not in message
    # The same leaves with another shape (a wider first layer) are named with both shapes.
    wider = _trained_variables(target)
    wider["params"]["block1"]["conv"]["kernel"] = np.zeros((3, 3, 1, 16), np.float32)
    assert transfer.backbone_differences(_variables(target), wider, head) == [
        "params/block1/conv/kernel: trained (3, 3, 1, 16), this run (3, 3, 1, 32)"]


# Whole runs on real Fashion-MNIST (tiny_vgg has BatchNorm, so frozen statistics are checked too), starting from
# conftest's `fashion_mnist_run`: tiny_vgg trained on classes 0-4 (one epoch of 20 steps), shared by the session.
RECIPE = {key: value for key, value in FASHION_MNIST_RUN.items()
          if key not in ("classes", "train_examples", "batch_size", "epochs", "learning_rate")}


def _transfer_config(source, **overrides):
    return TrainConfig(**{**RECIPE, "classes": "5-9", "train_examples": 500, "batch_size": 50, "epochs": 3,
                          "learning_rate": 0.05, "init_from": str(source), **overrides})


def _files(workdir) -> dict:
    return {str(p.relative_to(workdir)): (p.stat().st_size, p.stat().st_mtime_ns) for p in workdir.rglob("*")}


@pytest.fixture
def pretrained(fashion_mnist_run):
    return fashion_mnist_run


def _leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def test_frozen_transfer_keeps_the_backbone_bitwise_and_learns_the_new_classes(pretrained, tmp_path, capsys):
    before = _files(pretrained)
    final = train_and_evaluate(_transfer_config(pretrained, backbone_lr_scale=0.0), tmp_path)
    out = capsys.readouterr().out
    assert "500 train / " in out and " / 5000 test images" in out  # classes 5-9 of the test split: 1,000 each
    assert "trained frozen; new head fc2 (645 parameters)" in out and "best checkpoint, step 20" in out
    source = read_checkpoint(pretrained, 20)
    result = read_checkpoint(tmp_path)
    for kind in ("params", "batch_stats"):
        backbone = lambda tree: {k: v for k, v in tree.items() if k != "fc2"}  # noqa: E731
        assert _leaves_equal(backbone(result[kind]), backbone(source[kind])), kind  # frozen: not one bit moved
    assert result["params"]["fc2"]["kernel"].shape == (128, 5)
    assert final["test_accuracy"] > 0.35  # chance is 0.2
    assert _files(pretrained) == before  # the source run is read, never written


@pytest.mark.slow
def test_a_pretrained_frozen_backbone_is_a_far_better_feature_extractor_than_a_random_one(pretrained, tmp_path):
    """A new head on the frozen backbone, 500 images of the pretraining classes 0-4: the learned features must
    beat random ones by far (measured: 72% vs 45%, the same on jax 0.10 and 0.12)."""
    random_features = train_and_evaluate(_transfer_config(None, init_from=None, classes="0-4", backbone_lr_scale=0.0),
                                         tmp_path / "random")
    learned_features = train_and_evaluate(_transfer_config(pretrained, classes="0-4", backbone_lr_scale=0.0),
                                          tmp_path / "learned")
    assert learned_features["test_accuracy"] > random_features["test_accuracy"] + 0.15


@pytest.mark.slow
def test_fine_tuning_moves_the_backbone_and_a_resumed_run_needs_no_source(pretrained, tmp_path, capsys):
    source = tmp_path / "source"
    shutil.copytree(pretrained, source)  # the session's run is shared: this test takes its own copy away
    whole = train_and_evaluate(_transfer_config(source, backbone_lr_scale=0.1), tmp_path / "whole")
    train_and_evaluate(_transfer_config(source, backbone_lr_scale=0.1, epochs=1.5), tmp_path / "part")
    moved = source.with_name("source_moved")
    os.rename(source, moved)  # the source is gone: resuming must not need it
    try:
        resumed = train_and_evaluate(_transfer_config(source, backbone_lr_scale=0.1), tmp_path / "part",
                                     allow_config_change=True)  # longer: the constant rate makes it a prefix
    finally:
        os.rename(moved, source)
    assert "Resuming from checkpoint at step 15" in capsys.readouterr().out
    a, b = read_checkpoint(tmp_path / "whole"), read_checkpoint(tmp_path / "part")
    assert _leaves_equal(a["params"], b["params"]) and _leaves_equal(a["opt_state"], b["opt_state"])
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    source_state = read_checkpoint(source, 20)
    kernel = "block1", "conv", "kernel"
    delta = np.abs(a["params"][kernel[0]][kernel[1]][kernel[2]] - source_state["params"][kernel[0]][kernel[1]][kernel[2]])
    assert delta.max() > 1e-4  # fine-tuned, not frozen


def test_transfer_errors_are_one_line_and_leave_no_trace(pretrained, tmp_path):
    with pytest.raises(errors.CheckpointError, match="cannot use its config.json"):
        train_and_evaluate(_transfer_config(tmp_path / "nothing"), tmp_path / "a")
    with pytest.raises(errors.CheckpointError, match="trained 'tiny_vgg', whose backbone does not fit"):
        train_and_evaluate(_transfer_config(pretrained, model="simple_cnn"), tmp_path / "b")
    assert not (tmp_path / "b" / "config.json").exists()  # refused before anything was recorded
    empty = tmp_path / "empty_run"
    empty.mkdir()
    (empty / "config.json").write_text('{"model": "tiny_vgg", "dataset": "fashion_mnist"}')
    with pytest.raises(errors.CheckpointError, match="has no checkpoint yet"):
        train_and_evaluate(_transfer_config(empty), tmp_path / "c")


def test_a_frozen_backbone_computes_its_test_time_features_in_training_and_keeps_its_statistics():
    model = models.get_model("tiny_vgg", num_classes=5)
    head = transfer.head_modules(model, (28, 28, 1))
    tx = make_optimizer(TrainConfig(backbone_lr_scale=0.0, schedule="constant"), 10, head)
    state = create_train_state(model, tx, 0, (28, 28, 1))
    state = state.replace(batch_stats=jax.tree.map(lambda s: s + 0.3, state.batch_stats))  # not the identity
    images = jax.random.uniform(jax.random.PRNGKey(1), (8, 28, 28, 1)) * 3.0
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    with transfer.backbone_in_inference_mode(head):
        train_logits, updates = model.apply(variables, images, train=True, mutable=["batch_stats"])
    np.testing.assert_array_equal(train_logits, model.apply(variables, images, train=False))
    assert _leaves_equal(updates["batch_stats"], state.batch_stats)
    # Only outside the head: with block2 and block3 counted as head, they learn their statistics as usual.
    with transfer.backbone_in_inference_mode(head | {"block2", "block3"}):
        _, updates = model.apply(variables, images, train=True, mutable=["batch_stats"])
    assert _leaves_equal(updates["batch_stats"]["block1"], state.batch_stats["block1"])
    assert not _leaves_equal(updates["batch_stats"]["block2"], state.batch_stats["block2"])

    steps = make_steps(StepRecipe(model, num_classes=5, mean=(0.5,), std=(0.5,), augment_fn=lambda key, x: x,
                                  frozen_backbone_head=head), tx)
    batch = {"image": (images * 80).astype(jnp.uint8), "label": jnp.arange(8) % 5, "mask": jnp.ones(8, bool)}
    new_state, _ = jax.jit(steps.train_step)(state, batch)
    assert _leaves_equal(new_state.batch_stats, state.batch_stats)
    backbone = lambda params: {k: v for k, v in params.items() if k not in head}  # noqa: E731
    assert _leaves_equal(backbone(new_state.params), backbone(state.params))
    assert not _leaves_equal(new_state.params["fc2"], state.params["fc2"])


class _DropoutNet(nn.Module):
    """Dropout both ways Flax allows: `deterministic` given at call time (as the zoo's VGG does) and as a field."""

    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Dense(32, name="features")(x.reshape(x.shape[0], -1)))
        x = nn.Dropout(0.5)(x, deterministic=not train)
        x = nn.Dropout(0.5, deterministic=not train, name="dropout_field")(x)
        return nn.Dense(self.num_classes, name="classifier")(x)


def test_a_frozen_backbone_keeps_every_unit_its_dropout_would_drop():
    model = _DropoutNet()
    head = transfer.head_modules(model, (4, 4, 1))
    assert head == {"classifier"}
    images = jax.random.normal(jax.random.PRNGKey(1), (3, 4, 4, 1))
    variables = model.init(jax.random.PRNGKey(0), images)
    test_time = model.apply(variables, images, train=False)
    train = lambda: model.apply(variables, images, train=True, rngs={"dropout": jax.random.PRNGKey(3)})  # noqa: E731
    assert not np.allclose(train(), test_time)  # dropout is on in training
    with transfer.backbone_in_inference_mode(head):
        np.testing.assert_array_equal(train(), test_time)


@pytest.mark.parametrize("name", models.list_models())
def test_every_zoo_models_head_is_exactly_its_final_classifier(name):
    input_shape = models.get_spec(name).input_shape
    model = models.get_model(name, num_classes=7)
    head = transfer.head_modules(model, input_shape)
    assert len(head) == 1, head
    (classifier,) = head
    params = models.abstract_variables(model, input_shape)["params"][classifier]
    assert params["kernel"].shape[-1] == 7  # the layer that outputs the logits
