"""Plots a person looks at after a run: loss and accuracy curves per epoch, written as PNG."""

import json
import pathlib


def read_metrics(path: pathlib.Path) -> list[dict]:
    """The rows of a metrics.jsonl file (one dict per epoch)."""
    return parse_metrics(pathlib.Path(path).read_text())


def parse_metrics(text: str) -> list[dict]:
    """The rows of metrics.jsonl text. A last line cut short by a killed process is skipped: the resumed
    run writes that epoch again."""
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


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


def plot_augmentation_grid(columns: dict[str, "np.ndarray"], out_path: pathlib.Path, title: str = "") -> pathlib.Path:
    """A grid of example images: one column per name in `columns` (e.g. "original", "rotate15", ...), each an
    NHWC batch (uint8, or float on [0, 1]) with the same examples in the same rows; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(columns)
    rows = len(next(iter(columns.values())))
    fig, axes = plt.subplots(rows, len(names), figsize=(1.15 * len(names), 1.15 * rows + 0.5), squeeze=False,
                             constrained_layout=True)
    for col, name in enumerate(names):
        batch = np.asarray(columns[name], np.float32)
        batch = batch / 255.0 if np.asarray(columns[name]).dtype == np.uint8 or batch.max() > 1.5 else batch
        for row in range(rows):
            ax = axes[row, col]
            image = np.clip(batch[row], 0.0, 1.0)
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
