"""Selection on validation, never on test: the best epoch, early stopping and the report are functions of the
metrics rows alone, so a resumed run decides what an uninterrupted one decided."""

from jaxcnn.train import selection


def _rows(validation, test=None):
    test = test or [0.5] * len(validation)
    return [{"step": 10 * (i + 1), "epoch": i + 1, "validation_accuracy": v, "validation_loss": 1 - v,
             "test_accuracy": t, "test_loss": 1 - t, "train_accuracy": 0.9} for i, (v, t) in enumerate(zip(validation, test))]


def test_the_best_epoch_is_chosen_on_validation_and_a_tie_keeps_the_earlier_one():
    rows = _rows([0.6, 0.8, 0.7, 0.8], test=[0.9, 0.5, 0.99, 0.6])  # test would pick epoch 3: never used
    assert selection.best_row(rows)["epoch"] == 2
    assert [selection.is_new_best(rows, row) for row in rows] == [True, True, False, False]
    assert selection.is_new_best(rows[:2], rows[1])  # the row itself being recorded already changes nothing


def test_early_stopping_counts_epochs_since_the_best():
    rows = _rows([0.6, 0.8, 0.7, 0.75])
    assert selection.epochs_without_improvement(rows) == 2
    assert selection.should_stop_early(rows, patience=2)
    assert not selection.should_stop_early(rows, patience=3)
    assert not selection.should_stop_early(rows, patience=0)  # 0: off
    assert not selection.should_stop_early(rows[:2], patience=1)


def test_the_report_gives_the_selected_epochs_test_numbers_beside_the_last_epochs():
    report = selection.report(_rows([0.6, 0.8, 0.7], test=[0.61, 0.79, 0.85]))
    assert report["epoch"] == 3 and report["test_accuracy"] == 0.85  # the last epoch's, as it was
    assert (report["selected_epoch"], report["selected_step"]) == (2, 20)
    assert (report["selected_validation_accuracy"], report["selected_test_accuracy"]) == (0.8, 0.79)
    assert report["selected_by"] == "validation accuracy" and "selected_train_accuracy" not in report


def test_without_validation_nothing_is_selected_and_the_last_epoch_is_reported():
    rows = [{"step": 10, "epoch": 1, "test_accuracy": 0.9, "test_loss": 0.1},
            {"step": 20, "epoch": 2, "test_accuracy": 0.8, "test_loss": 0.2}]
    assert selection.best_row(rows) is None and not selection.is_new_best(rows, rows[1])
    assert not selection.should_stop_early(rows, patience=1)
    report = selection.report(rows)
    assert (report["selected_epoch"], report["selected_test_accuracy"]) == (2, 0.8)
    assert report["selected_by"] == "last epoch (no validation set)"
    assert selection.report([]) == {}
