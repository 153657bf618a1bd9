"""`--model=package.module:Name`: a Flax module (or a function building one) from the user's own code is built
like a registered model and trains through the experiment scripts; mistakes are one-line errors."""

import json
import textwrap

import jax
import jax.numpy as jnp
import pytest

from experiments import images as images_experiment
from jaxcnn import errors, models
from jaxcnn.models import registry

USER_CODE = '''
import flax.linen as nn


class CornerNet(nn.Module):
    """A user's own net: one conv, global pooling, a dense layer."""

    num_classes: int = 10
    width: int = 8

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.relu(nn.Conv(self.width, (3, 3))(x))
        return nn.Dense(self.num_classes)(nn.max_pool(x, (4, 4), (4, 4)).reshape(x.shape[0], -1))


def wide_corner_net(num_classes, width=16):
    return CornerNet(num_classes=num_classes, width=width)


NOT_A_MODEL = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    package = tmp_path / "user_nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "corner.py").write_text(textwrap.dedent(USER_CODE))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_nets.corner"


def test_a_class_or_function_from_user_code_is_built_with_the_runs_classes(user_module):
    model = registry.get_model(f"{user_module}:CornerNet", num_classes=3, width=4, dtype=jnp.bfloat16)
    assert (model.num_classes, model.width) == (3, 4)
    logits = model.apply(models.init_variables(model, jax.random.key(0), jnp.zeros((1, 16, 16, 3))),
                         jnp.zeros((2, 16, 16, 3)))
    assert logits.shape == (2, 3)
    built = registry.get_model(f"{user_module}:wide_corner_net", num_classes=5)
    assert (type(built).__name__, built.num_classes, built.width) == ("CornerNet", 5, 16)
    assert registry.get_spec(f"{user_module}:CornerNet").description.startswith("A user's own net")


@pytest.mark.parametrize("name, message", [
    ("no_such_package.nets:Net", "cannot import 'no_such_package.nets' (ModuleNotFoundError: No module named "
                                 "'no_such_package'); is it on PYTHONPATH?"),
    ("user_nets.corner:Missing", "user_nets.corner has no Flax module class or function 'Missing'"),
    ("user_nets.corner:NOT_A_MODEL", "user_nets.corner has no Flax module class or function 'NOT_A_MODEL'"),
])
def test_a_model_it_cannot_use_is_a_one_line_error(user_module, name, message):
    with pytest.raises(errors.ConfigError) as raised:
        registry.get_model(name, num_classes=3)
    assert str(raised.value) == f"--model={name}: {message}"
    with pytest.raises(errors.ConfigError, match="has no option depth; it accepts: width"):
        registry.get_model(f"{user_module}:CornerNet", num_classes=3, depth=2)


def test_the_experiment_script_trains_a_user_model_on_an_image_folder(user_module, folder_run, tmp_path):
    root, _ = folder_run
    workdir = tmp_path / "run"
    images_experiment.main(["images", f"--dataset=folder:{root}", f"--model={user_module}:CornerNet",
                            "--batch_size=12", "--epochs=2", "--validation_examples=6", "--noprogress_bar",
                            f"--workdir={workdir}"])
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2] and 0 <= rows[-1]["test_accuracy"] <= 1
    assert json.loads((workdir / "config.json").read_text())["model"] == f"{user_module}:CornerNet"
