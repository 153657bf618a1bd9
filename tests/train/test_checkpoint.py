import json

import jax
import numpy as np
import optax
import pytest

from conftest import TinyNet
from jaxcnn import errors
from jaxcnn.train.checkpoint import Checkpointer, write_or_check_config
from jaxcnn.train.config import TrainConfig
from jaxcnn.train.state import create_train_state


def _state(seed):
    return create_train_state(TinyNet(), optax.sgd(0.1, momentum=0.9), seed=seed, image_shape=(8, 8, 1))


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_restores_every_leaf_exactly(tmp_path):
    saved = _state(1).replace(step=np.int32(7))
    saved = saved.replace(opt_state=jax.tree.map(lambda x: x + 0.5, saved.opt_state))
    checkpointer = Checkpointer(tmp_path)
    checkpointer.save(saved, force=True)
    checkpointer.wait()
    restored = Checkpointer(tmp_path).restore(_state(2))
    assert int(restored.step) == 7
    _assert_trees_equal(restored, saved)
    with pytest.raises(AssertionError):
        _assert_trees_equal(_state(2), saved)  # the target really was different


def test_keeps_latest_n_and_the_best_by_accuracy(tmp_path):
    checkpointer = Checkpointer(tmp_path, keep=2)
    state = _state(0)
    for step, accuracy in [(10, 0.5), (20, 0.9), (30, 0.7), (40, 0.8)]:
        state = state.replace(step=np.int32(step))
        checkpointer.save(state, force=True)
        checkpointer.save_best(state, accuracy)
    checkpointer.wait()
    assert checkpointer.latest_step() == 40
    assert sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir()) == [30, 40]
    assert checkpointer.best_step() == 20
    assert int(checkpointer.restore(_state(0), best=True).step) == 20


def test_resuming_a_different_model_is_refused(tmp_path):
    write_or_check_config(tmp_path, TrainConfig(model="tiny_vgg"), resuming=False)
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "tiny_vgg"
    write_or_check_config(tmp_path, TrainConfig(model="tiny_vgg", epochs=20), resuming=True)  # more epochs is fine
    with pytest.raises(errors.CheckpointError, match="model: 'tiny_vgg' -> 'resnet20'"):
        write_or_check_config(tmp_path, TrainConfig(model="resnet20"), resuming=True)
