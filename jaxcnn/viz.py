"""Plots a person looks at after a run: loss and accuracy curves per epoch, written as PNG."""

import json
import pathlib


def read_metrics(path: pathlib.Path) -> list[dict]:
    """The rows of a metrics.jsonl file (one dict per epoch)."""
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]


def plot_training_curves(rows: list[dict], out_path: pathlib.Path) -> pathlib.Path:
    """Two panels, loss and accuracy, train vs test, against epoch; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and CI
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in rows]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for split, style in (("train", "-o"), ("test", "-s")):
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in rows], style, label=split)
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in rows], style, label=split)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title=f"accuracy (best test {100 * max(r['test_accuracy'] for r in rows):.2f}%)")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    out_path = pathlib.Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
