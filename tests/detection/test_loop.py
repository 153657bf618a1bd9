"""The detection training loop on tiny real canvases: an interrupted and resumed run ends with exactly the
parameters of an uninterrupted one; its outputs are written; bad settings fail in one line.

The runs compile three steps each (train, eval, predict), about 15 s a run on a quiet 2-core CPU: `slow`."""

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxcnn import errors
from jaxcnn.detection.config import DetectionConfig
from jaxcnn.detection.loop import TrainingInterrupted, train_and_evaluate
from jaxcnn.train.signals import StopFlag

TINY = DetectionConfig(canvas_size=32, max_item_size=20, min_item_size=10, max_objects=3, train_images=48,
                       validation_images=8, test_images=8, widths="8,8,16", head_width=8, batch_size=16, epochs=2,
                       max_detections=10, progress_bar=False, checkpoint_every_steps=100)


class StopAtStep(StopFlag):
    """SIGTERM as the loop sees it, arriving after `step` steps (the loop asks once a step on one process)."""

    def __init__(self, step: int):
        super().__init__()
        self.asked, self.step = 0, step

    def agreed(self):
        self.asked += 1
        return "SIGTERM" if self.asked >= self.step else None


def _final_params(workdir):
    step = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    state = ocp.StandardCheckpointer().restore((workdir / "checkpoints" / str(step) / "state").absolute())
    return step, state["params"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fashion_mnist):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    return workdir, train_and_evaluate(TINY, workdir)


@pytest.mark.slow
def test_resumed_run_matches_uninterrupted_run(uninterrupted, tmp_path):
    workdir, result = uninterrupted
    with pytest.raises(TrainingInterrupted, match="at step 4"):  # mid-epoch 2 (3 steps an epoch)
        train_and_evaluate(TINY, tmp_path, stop=StopAtStep(4))
    resumed = train_and_evaluate(TINY, tmp_path)
    (step_a, params_a), (step_b, params_b) = _final_params(workdir), _final_params(tmp_path)
    assert step_a == step_b == 6
    for a, b in zip(jax.tree.leaves(params_a), jax.tree.leaves(params_b)):
        np.testing.assert_array_equal(a, b)
    assert resumed == result
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]


@pytest.mark.slow
def test_run_writes_its_results(uninterrupted):
    workdir, result = uninterrupted
    saved = json.loads((workdir / "test_results.json").read_text())
    assert saved["test_map50"] == result["test_map50"] and 0 <= result["test_map"] <= result["test_map50"] <= 1
    assert (workdir / "predictions.png").stat().st_size > 0
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]  # it learns


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(errors.ConfigError, match="--canvas_size must be a multiple of 8"):
        train_and_evaluate(DetectionConfig(canvas_size=60), tmp_path)
    with pytest.raises(errors.ConfigError, match="--widths"):
        train_and_evaluate(DetectionConfig(widths="8,x"), tmp_path)
