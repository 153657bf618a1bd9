"""What a person sees of a run: the non-finite error, the epoch line, metrics.jsonl and TensorBoard events (rows
appended, none written twice by a resumed run, a cut line ended); and the sums -> means every metric goes through."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow as tf

from jaxcnn import errors
from jaxcnn.train import metrics
from jaxcnn.train.losses import cross_entropy, masked_sums, means_of_sums
from jaxcnn.train.state import NONFINITE_GRADIENTS, NONFINITE_LOSS


def test_finite_training_has_no_error():
    assert metrics.nonfinite_error(np.array([-1, 0]), last_good_step=100) is None
    assert metrics.nonfinite_error(jnp.array([-1, 0], jnp.int32), last_good_step=None) is None


def test_the_nonfinite_error_names_what_and_when_and_what_was_kept():
    error = metrics.nonfinite_error(np.array([41, NONFINITE_LOSS]), last_good_step=40)
    assert isinstance(error, errors.UserError) and isinstance(error, FloatingPointError)
    assert str(error) == ("loss became NaN or Inf at step 41; stopped without saving the damaged state, the last good "
                          "checkpoint (step 40) is kept. Lower --learning_rate or add warmup (--warmup_epochs)")
    both = metrics.nonfinite_error(jnp.array([7, NONFINITE_LOSS | NONFINITE_GRADIENTS]), last_good_step=None)
    assert str(both) == ("loss and gradients became NaN or Inf at step 7; stopped without saving the damaged state, "
                         "no checkpoint was saved. Lower --learning_rate or add warmup (--warmup_epochs)")
    assert str(metrics.nonfinite_error(np.array([3, NONFINITE_GRADIENTS]), 0)).startswith(
        "gradients became NaN or Inf at step 3; stopped without saving the damaged state, the last good checkpoint "
        "(step 0) is kept.")


def test_the_epoch_line_shows_validation_marked_when_best_test_and_tta_beside_the_plain_one():
    train, test = {"loss": 0.51234, "accuracy": 0.8123}, {"loss": 0.4, "accuracy": 0.85}
    assert metrics.epoch_summary_line(3, 10, train, None, test, 12.345, 4567.8) == (
        "epoch   3/10  train loss 0.5123 acc  81.23%  test loss 0.4000 acc  85.00%  time   12.3s  (4,568 img/s)")
    validation = {"loss": 0.45, "accuracy": 0.84}
    assert metrics.epoch_summary_line(1, 10, train, validation, test, 2.0, 10.0, new_best=True, compile_seconds=7.25) == (
        "epoch   1/10  train loss 0.5123 acc  81.23%  val loss 0.4500 acc  84.00%* test loss 0.4000 acc  85.00%  "
        "time    2.0s, +7.2s compiling  (10 img/s)")
    with_tta = metrics.epoch_summary_line(10, 10, train, validation, {**test, "tta_loss": 0.3, "tta_accuracy": 0.8612},
                                          1.0, 10.0)
    assert with_tta == ("epoch  10/10  train loss 0.5123 acc  81.23%  val loss 0.4500 acc  84.00%  test loss 0.4000 "
                        "acc  85.00% (tta 86.12%)  time    1.0s  (10 img/s)")


def _rows(workdir) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _tensorboard_scalars(workdir) -> dict:
    """{(tag, step): value} from every TensorBoard event file in workdir/tensorboard."""
    scalars = {}
    for path in sorted((workdir / "tensorboard").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    return scalars


def test_metrics_are_kept_as_rows_and_as_tensorboard_scalars(tmp_path):
    writer = metrics.MetricsWriter(tmp_path)
    writer.write({"step": 10, "epoch": 1, "test_accuracy": 0.5, "train_loss": 1.25})
    writer.write({"step": 20, "epoch": 2, "test_accuracy": 0.75, "train_loss": 0.5, "note": "text is not a scalar"})
    writer.close()
    assert _rows(tmp_path) == [{"step": 10, "epoch": 1, "test_accuracy": 0.5, "train_loss": 1.25},
                               {"step": 20, "epoch": 2, "test_accuracy": 0.75, "train_loss": 0.5,
                                "note": "text is not a scalar"}]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left
    assert _tensorboard_scalars(tmp_path) == {
        ("epoch", 10): 1.0, ("test_accuracy", 10): 0.5, ("train_loss", 10): 1.25,
        ("epoch", 20): 2.0, ("test_accuracy", 20): 0.75, ("train_loss", 20): 0.5,
    }


def test_a_resumed_run_does_not_write_a_step_twice(tmp_path):
    first = metrics.MetricsWriter(tmp_path)
    first.write({"step": 10, "epoch": 1, "test_accuracy": 0.5})
    first.write({"step": 20, "epoch": 2, "test_accuracy": 0.6})
    first.close()
    resumed = metrics.MetricsWriter(tmp_path)  # replays step 20 after restoring the checkpoint of step 10
    assert [row["step"] for row in resumed.rows] == [10, 20]
    resumed.write({"step": 20, "epoch": 2, "test_accuracy": 0.61})  # already recorded: the first record stays
    resumed.write({"step": 30, "epoch": 3, "test_accuracy": 0.7})
    resumed.write({"step": 30, "epoch": 3, "test_accuracy": 0.7})
    resumed.close()
    assert [(row["step"], row["test_accuracy"]) for row in _rows(tmp_path)] == [(10, 0.5), (20, 0.6), (30, 0.7)]
    assert sorted(step for tag, step in _tensorboard_scalars(tmp_path)) == [10, 10, 20, 20, 30, 30]


def test_a_line_cut_short_by_an_older_version_is_dropped_with_a_warning(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"step": 10, "epoch": 1}\n{"step": 20, "test_acc')
    writer = metrics.MetricsWriter(tmp_path)
    assert "ended in a line cut short" in capsys.readouterr().out
    writer.write({"step": 20, "epoch": 2, "test_accuracy": 0.6})  # the cut row is written again, whole
    writer.close()
    assert _rows(tmp_path) == [{"step": 10, "epoch": 1}, {"step": 20, "epoch": 2, "test_accuracy": 0.6}]


@pytest.mark.parametrize("line", ["5", '{"foo": 1}', '{"step": "ten", "epoch": 1}', '{"step": -1, "epoch": 0}',
                                  "not json at all"])
def test_a_foreign_or_damaged_metrics_file_is_refused_in_one_line_and_kept(tmp_path, line):
    path = tmp_path / "metrics.jsonl"
    path.write_text(f'{{"step": 10, "epoch": 1}}\n{line}\n')
    before = path.read_bytes()
    with pytest.raises(metrics.MetricsFileError) as raised:
        metrics.MetricsWriter(tmp_path)
    assert str(raised.value).startswith(f"{path} line 2 is not a jaxcnn metrics row (")
    assert "\n" not in str(raised.value) and isinstance(raised.value, errors.UserError)
    assert path.read_bytes() == before


def test_the_curves_are_drawn_from_every_row(tmp_path):
    writer = metrics.MetricsWriter(tmp_path)
    for epoch in (1, 2, 3):
        writer.write({"step": 10 * epoch, "epoch": epoch, "train_loss": 1 / epoch, "validation_loss": 1.1 / epoch,
                      "test_loss": 1.2 / epoch, "train_accuracy": 0.3 * epoch, "validation_accuracy": 0.2 * epoch,
                      "test_accuracy": 0.25 * epoch})
    writer.plot()
    writer.close()
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_means_of_sums_divides_every_sum_by_the_count():
    sums = {"loss_sum": jnp.float32(6.0), "correct": jnp.float32(3.0), "count": jnp.float32(4.0),
            "tta_loss_sum": np.float32(2.0), "tta_accuracy_sum": 1.0, "grad_norm_sum": 10.0}
    means = means_of_sums(sums)
    assert means == {"loss": 1.5, "accuracy": 0.75, "tta_loss": 0.5, "tta_accuracy": 0.25, "grad_norm": 2.5}
    assert all(type(v) is float for v in means.values())
    assert means_of_sums({"loss_sum": 0.0, "correct": 0.0, "count": 0.0}) == {"loss": 0.0, "accuracy": 0.0}


def test_masked_sums_count_only_the_real_examples():
    logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 5.0]])
    labels = jnp.array([0, 0, 0, 1])
    per_example = cross_entropy(logits, labels, 2, 0.0)
    np.testing.assert_allclose(per_example[0], np.log1p(np.exp(-2.0)), rtol=1e-6)
    sums = masked_sums(logits, labels, per_example, jnp.array([True, True, False, True]))
    assert (float(sums["correct"]), float(sums["count"])) == (2.0, 3.0)
    np.testing.assert_allclose(float(sums["loss_sum"]), float(per_example[0] + per_example[1] + per_example[3]), rtol=1e-6)
    soft = jnp.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8], [0.9, 0.1]])  # mixup targets: the heavier class counts
    assert float(masked_sums(logits, soft, per_example, jnp.ones(4, bool))["correct"]) == 2.0  # rows 0, 1
    assert means_of_sums(sums)["accuracy"] == pytest.approx(2 / 3)
