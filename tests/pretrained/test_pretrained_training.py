"""--init_from=torchvision:resnet18:PATH end to end on real Fashion-MNIST: grey 28x28 images brought to what an
ImageNet network takes on the device (3 channels, ImageNet statistics, resized), a new 2-class head, and the
frozen backbone, parameters and BatchNorm statistics, not moved by one bit."""

import json
import pathlib

import jax
import numpy as np
import pytest
from absl import flags

from experiments import common

from jaxcnn import errors, models, pretrained
from jaxcnn.train import TrainConfig
from jaxcnn.train.init_source import PretrainedSource, load_init_source
from jaxcnn.train.loop import train_and_evaluate
from jaxcnn.train.plan import build_model, resolve, transfer_head
from jaxcnn.train.workdir import load_trained

import synthetic_weights

SKELETON = json.loads((pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "pretrained" /
                       "torchvision_skeletons.json").read_text())["resnet18"]["skeleton"]
PRETRAINED_INPUT = {"model_input_channels": 3, "model_input_size": 32, "input_norm": "imagenet"}


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A torchvision-layout resnet18 .safetensors file (synthetic weights: nothing can be downloaded here)."""
    return pretrained.write_state_dict(tmp_path_factory.mktemp("weights") / "resnet18.safetensors",
                                       synthetic_weights.state_dict(SKELETON))


def _config(weights, **overrides) -> TrainConfig:
    return TrainConfig(**{"dataset": "fashion_mnist", "model": "resnet18", "classes": "0-1", "train_examples": 64,
                          "validation_examples": 32, "batch_size": 32, "epochs": 1, "augment": "flip",
                          "progress_bar": False, "learning_rate": 0.1, "warmup_epochs": 0.0,
                          "init_from": f"torchvision:resnet18:{weights}", **PRETRAINED_INPUT, **overrides})


@pytest.mark.slow  # a whole ResNet-18 run (two compiles, a 2,000-image test pass): 30 s on a quiet 2-core CPU;
# the default suite checks frozen backbones bitwise with tiny_vgg (tests/test_transfer.py), the same code path
def test_a_frozen_pretrained_backbone_stays_bitwise_unchanged(fashion_mnist, resnet18_file, tmp_path, capsys):
    train_and_evaluate(_config(resnet18_file, backbone_lr_scale=0.0), tmp_path)
    out = capsys.readouterr().out
    assert f"from {resnet18_file} (torchvision resnet18; not verified: its name carries no published SHA-256)" in out
    assert "trained frozen; new head fc (1,026 parameters)" in out
    imported = pretrained.import_state_dict("resnet18", pretrained.read_state_dict(resnet18_file))
    trained = load_trained(tmp_path)
    assert trained.plan.config.input_norm == "imagenet" and trained.plan.model_input_shape == (32, 32, 3)
    for kind in ("params", "batch_stats"):
        ours, theirs = ({k: v for k, v in tree[kind].items() if k != "fc"} for tree in (trained.variables, imported))
        assert jax.tree.structure(ours) == jax.tree.structure(theirs)
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            assert np.array_equal(a, b), kind  # frozen: not one bit moved, BatchNorm statistics included
    assert trained.params["fc"]["kernel"].shape == (512, 2)
    assert np.abs(trained.params["fc"]["bias"]).max() > 0  # the new head did learn


def test_the_pretrained_input_is_recorded_and_checked():
    plan = resolve(TrainConfig(dataset="fashion_mnist", model="resnet18", **PRETRAINED_INPUT))
    assert plan.image_shape == (28, 28, 1) and plan.model_input_shape == (32, 32, 3)
    assert plan.input_stats == ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert plan.model_input(np.zeros((2, 28, 28, 1), np.uint8)).shape == (2, 32, 32, 3)  # for tools that predict
    with pytest.raises(errors.ConfigError, match="--input_norm=imagenet standardises RGB images, and fashion_mnist's "
                                                 "have 1 channel.s.; add --model_input_channels=3"):
        resolve(TrainConfig(dataset="fashion_mnist", model="resnet18", input_norm="imagenet"))
    with pytest.raises(errors.ConfigError, match="holds resnet50 weights; use --model=resnet50"):
        resolve(TrainConfig(dataset="fashion_mnist", model="resnet18", init_from="torchvision:resnet50:/w.pth"))
    with pytest.raises(errors.UserError, match="jaxcnn imports no pretrained 'resnet20'"):
        resolve(TrainConfig(dataset="fashion_mnist", model="resnet20", init_from="torchvision:resnet20:/w.pth"))


def test_init_from_reads_pretrained_weights_that_fit_the_model_and_refuses_others(resnet18_file):
    source = load_init_source(f"torchvision:resnet18:{resnet18_file}")
    assert isinstance(source, PretrainedSource) and "torchvision resnet18" in source.origin
    plan = resolve(_config(resnet18_file))
    model = build_model(plan)
    source.check_backbone_fits(models.abstract_variables(model, plan.model_input_shape), transfer_head(plan, model))
    resnet34 = models.get_model("resnet34", num_classes=2)
    with pytest.raises(errors.CheckpointError) as raised:
        source.check_backbone_fits(models.abstract_variables(resnet34, (32, 32, 3)), frozenset({"fc"}))
    message = str(raised.value)
    assert message.startswith(f"--init_from=torchvision:resnet18:{resnet18_file} does not fit this run's model (")
    assert "params/layer1_2/" in message and "\n" not in message


def test_the_finetune_flagfile_is_a_valid_pretrained_run():
    flagfile = pathlib.Path(__file__).resolve().parents[2] / "launch" / "flags" / "fashion_mnist_resnet18_finetune.flags"
    fv = flags.FlagValues()
    common.define_flags(fv, dataset="fashion_mnist", datasets=["mnist", "fashion_mnist"], model="tiny_vgg")
    fv(["mnist", f"--flagfile={flagfile}"])
    plan = resolve(common.config_from_flags(fv))
    assert plan.config.init_from == "torchvision:resnet18" and plan.config.backbone_lr_scale == 0
    assert plan.model_input_shape == (64, 64, 3) and plan.input_stats[0] == (0.485, 0.456, 0.406)
