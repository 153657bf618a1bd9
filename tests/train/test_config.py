"""`TrainConfig`, every run setting defined once: each field's rule and choices are checked by `problems()`, runs
read back their config.json with `from_dict`, resuming compares identity fields, and the experiment flags are
generated from the fields (their defaults and help)."""

import dataclasses
import json
import math

import pytest
from absl import flags

from experiments import common
from jaxcnn.train.config import EXECUTION_FIELDS, RULES, TrainConfig, identity_differences, identity_fields

FIELDS = {field.name: field for field in dataclasses.fields(TrainConfig)}
RULED = [name for name, field in FIELDS.items() if field.metadata["rule"]]
CHOICES = [name for name, field in FIELDS.items() if field.metadata["choices"]]
# A value each rule refuses, and one it accepts at its edge.
REFUSED = {"positive": [0, -1], "non_negative": [-1], "fraction": [1, -0.1], "seed": [-1, 2**31, 10**23],
           "count_or_auto": [-2]}
EDGE = {"positive": 1, "non_negative": 0, "fraction": 0, "seed": 2**31 - 1, "count_or_auto": -1}


def test_a_default_config_has_no_problems():
    assert TrainConfig().problems() == []


def test_every_field_says_what_it_is_and_its_default_obeys_its_own_rules():
    for name, field in FIELDS.items():
        assert field.metadata["help"].strip(), name
        assert field.metadata["rule"] in (None, *RULES), name
        if field.metadata["choices"]:
            assert field.default in field.metadata["choices"], name
    assert set(RULED) >= {"num_classes", "batch_size", "epochs", "learning_rate", "momentum", "warmup_epochs",
                          "weight_decay", "label_smoothing", "aux_loss_weight", "checkpoint_every_steps",
                          "keep_checkpoints", "log_every_steps", "grad_accum_steps", "train_examples",
                          "backbone_lr_scale", "seed", "validation_examples", "early_stopping_patience"}
    assert {"optimizer", "schedule", "parallel", "dtype", "input_pipeline", "batchnorm_stats"} <= set(CHOICES)
    assert set(EXECUTION_FIELDS) < set(FIELDS)


@pytest.mark.parametrize("name", RULED)
def test_each_range_rule_refuses_its_bad_values_in_one_line(name):
    rule = FIELDS[name].metadata["rule"]
    want = RULES[rule][0]
    for bad in REFUSED[rule]:
        assert TrainConfig(**{name: bad}).problems() == [f"--{name} must be {want}, got {bad}"]
    assert TrainConfig(**{name: EDGE[rule]}).problems() == []


@pytest.mark.parametrize("name", [name for name in RULED if FIELDS[name].type is float])
def test_infinity_and_nan_are_refused_by_every_float_rule(name):
    for bad in (math.inf, -math.inf, math.nan):
        assert TrainConfig(**{name: bad}).problems() == [f"--{name} must be {RULES[FIELDS[name].metadata['rule']][0]}, "
                                                         f"got {bad}"], bad


@pytest.mark.parametrize("name", CHOICES)
def test_each_choice_field_refuses_a_value_outside_its_choices(name):
    choices = FIELDS[name].metadata["choices"]
    assert TrainConfig(**{name: "nonsense"}).problems() == [f"--{name}='nonsense' is not one of: {', '.join(choices)}"]
    for allowed in choices:
        assert TrainConfig(**{name: allowed}).problems() == []


def test_problems_lists_every_bad_field_in_field_order():
    config = TrainConfig(label_smoothing=1.5, optimizer="adam", batch_size=0, epochs=math.nan)
    assert config.problems() == [
        "--batch_size must be positive, got 0",
        "--epochs must be positive, got nan",
        "--optimizer='adam' is not one of: sgd, adamw",
        "--label_smoothing must be in [0, 1), got 1.5",
    ]


def test_from_dict_ignores_unknown_keys_and_fills_missing_ones():
    config = TrainConfig.from_dict({**TrainConfig().to_dict(), "model": "resnet20", "epochs": 3, "removed_long_ago": 7,
                                     "dataset": "cifar10"})
    assert config == TrainConfig(model="resnet20", epochs=3.0, dataset="cifar10")
    assert type(config.epochs) is float
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_a_config_survives_its_json_round_trip():
    config = TrainConfig(model="resnet20", classes="0,2,4", epochs=0.5, data_dir="/data", init_from="/runs/a",
                         progress_bar=False, tta="flip,shift2")
    saved = json.loads(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(saved) == config
    assert set(saved) == set(FIELDS)


def test_every_setting_that_changes_the_numbers_is_identity_and_execution_settings_are_not():
    current = TrainConfig(model="resnet20", classes="5-9")
    saved = {**TrainConfig().to_dict(), "epochs": 99.0, "learning_rate": 1.0}
    assert identity_differences(saved, current) == ["model: 'tiny_vgg' -> 'resnet20'", "epochs: 99.0 -> 10.0",
                                                    "learning_rate: 1.0 -> 0.1", "classes: '' -> '5-9'"]
    assert identity_differences(current.to_dict(), current) == []
    execution = {"checkpoint_every_steps": 7, "keep_checkpoints": 9, "log_every_steps": 3, "data_dir": "/elsewhere",
                 "progress_bar": False, "init_from": "/moved/source", "test_every_epoch": False}
    assert set(execution) == set(EXECUTION_FIELDS)
    assert identity_differences({**TrainConfig().to_dict(), **execution}, TrainConfig()) == []
    assert set(identity_fields()) == set(FIELDS) - set(EXECUTION_FIELDS)
    for name in ("seed", "augment", "epochs", "dtype", "parallel", "validation_examples", "batchnorm_stats"):
        assert name in identity_fields(), name


def test_a_config_json_from_before_a_field_existed_means_what_it_meant_then():
    old = {name: value for name, value in TrainConfig().to_dict().items()
           if name not in ("validation_examples", "batchnorm_stats", "validation_split", "early_stopping_patience")}
    assert TrainConfig.from_dict(old) == TrainConfig(validation_examples=0, batchnorm_stats="flax")
    assert identity_differences(old, TrainConfig()) == ["validation_examples: 0 -> -1",
                                                        "batchnorm_stats: 'flax' -> 'pytorch'"]
    assert identity_differences({"dataset": "fashion_mnist", "validation_examples": -1, "batchnorm_stats": "pytorch"},
                                TrainConfig()) == []


@pytest.mark.parametrize("saved, message", [
    ([], "it holds a JSON list, not the settings of a run"),
    ({"epochs": "ten"}, "epochs is 'ten' where a number is expected"),
    ({"seed": True}, "seed is True where an integer is expected"),
    ({"progress_bar": 1}, "progress_bar is 1 where true or false is expected"),
    ({"init_from": 3}, "init_from is 3 where a string or null is expected"),
])
def test_from_dict_refuses_values_of_the_wrong_type_with_one_line(saved, message):
    with pytest.raises(ValueError) as caught:
        TrainConfig.from_dict(saved)
    assert str(caught.value) == message


def _experiment_flags() -> flags.FlagValues:
    fv = flags.FlagValues()
    common.define_flags(fv, dataset="fashion_mnist", datasets=["mnist", "fashion_mnist"], model="tiny_vgg")
    return fv


def test_the_experiment_flags_are_generated_from_the_fields():
    fv = _experiment_flags()
    for name, field in FIELDS.items():
        assert name in fv, name
        assert fv[name].default == field.default, name
        choices = ["mnist", "fashion_mnist"] if name == "dataset" else list(field.metadata["choices"])
        if choices:  # absl shows an enum's values before its help
            assert fv[name].parser.enum_values == choices, name
            assert fv[name].help == f"<{'|'.join(choices)}>: {field.metadata['help']}", name
        else:
            assert fv[name].help == field.metadata["help"], name
    assert {"workdir", "new_run", "allow_config_change", "multihost"} <= set(fv)


def test_the_scripts_defaults_replace_the_fields_defaults():
    fv = flags.FlagValues()
    common.define_flags(fv, dataset="cifar10", datasets=["cifar10", "cifar100"], model="resnet20")
    assert (fv["dataset"].default, fv["model"].default) == ("cifar10", "resnet20")
    fv(["prog"])
    assert common.config_from_flags(fv) == TrainConfig(dataset="cifar10", model="resnet20")


def test_config_from_flags_round_trips_a_command_line():
    fv = _experiment_flags()
    fv(["prog", "--epochs=3", "--augment=flip", "--classes=5-9", "--batch_size=64", "--noprogress_bar",
        "--optimizer=adamw", "--init_from=/runs/pretrain", "--dataset=mnist"])
    config = common.config_from_flags(fv)
    assert config == TrainConfig(epochs=3.0, augment="flip", classes="5-9", batch_size=64, progress_bar=False,
                                 optimizer="adamw", init_from="/runs/pretrain", dataset="mnist")
    assert type(config.epochs) is float and type(config.batch_size) is int
    fresh = _experiment_flags()
    fresh(["prog"])
    assert common.config_from_flags(fresh) == TrainConfig()


def test_a_value_outside_a_fields_choices_is_refused_by_the_flag_parser():
    with pytest.raises(flags.IllegalFlagValueError, match=r"value should be one of <sgd\|adamw>"):
        _experiment_flags()(["prog", "--optimizer=adagrad"])
