"""Model selection on validation, never on test: which epoch is the best, whether to stop early, what to report.

Pure functions of a run's metrics rows (one per epoch, as in metrics.jsonl), so a resumed run decides exactly
what an uninterrupted one decided: the rows are the record, and nothing else is remembered between processes.
The best epoch is the first with the highest validation accuracy; the test accuracy of that epoch is what the
run reports. Without a validation set nothing is selected: the last epoch is reported.
"""

VALIDATION_KEY = "validation_accuracy"


def has_validation(rows: list[dict]) -> bool:
    return bool(rows) and VALIDATION_KEY in rows[-1]


def best_row(rows: list[dict]) -> dict | None:
    """The first row with the highest validation accuracy; None without rows or validation."""
    scored = [row for row in rows if VALIDATION_KEY in row]
    return max(scored, key=lambda row: row[VALIDATION_KEY]) if scored else None


def is_new_best(rows: list[dict], row: dict) -> bool:
    """True when `row` beats every earlier row's validation accuracy (strictly: a tie keeps the earlier one)."""
    if VALIDATION_KEY not in row:
        return False
    earlier = best_row([r for r in rows if r["step"] < row["step"]])
    return earlier is None or row[VALIDATION_KEY] > earlier[VALIDATION_KEY]


def epochs_without_improvement(rows: list[dict]) -> int:
    """Epochs since the best one (0 when the last row is the best)."""
    best = best_row(rows)
    return 0 if best is None else sum(1 for row in rows if row["step"] > best["step"])


def should_stop_early(rows: list[dict], patience: int) -> bool:
    return patience > 0 and has_validation(rows) and epochs_without_improvement(rows) >= patience


def report(rows: list[dict]) -> dict:
    """What the run reports: the selected epoch's numbers under `selected_*` (the best validation epoch, else the
    last), beside the last epoch's."""
    if not rows:
        return {}
    chosen = best_row(rows) or rows[-1]
    selected = {f"selected_{key}": value for key, value in chosen.items()
                if key == "epoch" or key == "step" or key.startswith(("validation_", "test_"))}
    selected["selected_by"] = "validation accuracy" if best_row(rows) else "last epoch (no validation set)"
    return {**rows[-1], **selected}
