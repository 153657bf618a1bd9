"""Plots a person looks at after a run, written as PNG: loss and accuracy curves per epoch, augmentation grids,
the confusion matrix, first-layer filters and the feature maps of one image (see `jaxcnn.analysis`)."""

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
    """Two panels, loss and accuracy, train vs validation (when the run has one) vs test, against epoch; the
    title names the epoch selected on validation and its test accuracy. Returns the PNG path."""
    plt = _pyplot()
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    splits = [split for split in ("train", "validation", "test") if any(f"{split}_accuracy" in row for row in rows)]
    for split, style in zip(splits, ("-o", "-^", "-s")):
        evaluated = [row for row in rows if f"{split}_accuracy" in row]  # test: none with --test_every_epoch=false
        epochs = [row["epoch"] for row in evaluated]
        loss_ax.plot(epochs, [row[f"{split}_loss"] for row in evaluated], style, label=split)
        acc_ax.plot(epochs, [100 * row[f"{split}_accuracy"] for row in evaluated], style, label=split)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    if "validation" in splits:
        chosen = max(rows, key=lambda row: row["validation_accuracy"])  # the first of equals, as the run selects
        test = f", test {100 * chosen['test_accuracy']:.2f}%" if "test_accuracy" in chosen else ""
        title = f"accuracy (selected on validation: epoch {chosen['epoch']}{test})"
    else:
        test = f"; last test {100 * rows[-1]['test_accuracy']:.2f}%" if "test_accuracy" in rows[-1] else ""
        title = f"accuracy (no validation set{test})"
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title=title)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
        ax.xaxis.set_major_locator(_integer_ticks())  # epochs are whole: no tick at 1.25
    return _save(fig, out_path, dpi=100)


def plot_augmentation_grid(columns: dict[str, "np.ndarray"], out_path: pathlib.Path, title: str = "") -> pathlib.Path:
    """A grid of example images: one column per name in `columns` (e.g. "original", "rotate15", ...), each an
    NHWC batch (uint8, or float on [0, 1]) with the same examples in the same rows; returns the PNG path."""
    import numpy as np

    plt = _pyplot()
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
    return _save(fig, out_path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _save(fig, out_path, dpi: int = 110) -> pathlib.Path:
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=dpi)
    _pyplot().close(fig)
    return out_path


def plot_confusion_matrix(counts, class_names: list[str], out_path, title: str = "") -> pathlib.Path:
    """counts[true, predicted] as a heat map of row percentages (each true class sums to 100%), with the
    counts written in the cells when there are few classes."""
    import numpy as np

    plt = _pyplot()
    counts = np.asarray(counts)
    k = len(counts)
    percent = 100 * counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(1.0 + 0.55 * k, 24)
    fig, ax = plt.subplots(figsize=(size + 1.5, size), constrained_layout=True)
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label="% of the true class")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(k), yticks=range(k))
    ax.set_xticklabels(class_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticklabels(class_names, fontsize=8)
    if k <= 20:
        for true in range(k):
            for predicted in range(k):
                ax.text(predicted, true, str(counts[true, predicted]), ha="center", va="center", fontsize=7,
                        color="white" if percent[true, predicted] > 60 else "black")
    ax.set_title(title or f"accuracy {100 * np.trace(counts) / max(counts.sum(), 1):.2f}%", fontsize=9)
    return _save(fig, out_path)


def plot_filters(kernel, out_path, title: str = "", max_filters: int = 64) -> pathlib.Path:
    """The output filters of a conv kernel [kh, kw, in, out] (the first `max_filters`). With 3 input channels
    each is drawn in RGB, scaled to its own range; otherwise its input channels are averaged and every filter
    shares one colour scale (a colour bar of the weights, blue negative, red positive). The title says how many
    of the filters are shown."""
    import numpy as np

    plt = _pyplot()
    kernel = np.asarray(kernel, np.float32)
    total = kernel.shape[-1]
    filters = np.moveaxis(kernel, -1, 0)[:max_filters]  # [shown, kh, kw, in]
    rgb = filters.shape[-1] == 3
    if rgb:
        low = filters.min(axis=(1, 2, 3), keepdims=True)
        high = filters.max(axis=(1, 2, 3), keepdims=True)
        filters = (filters - low) / np.maximum(high - low, 1e-12)
    else:
        averaged = kernel.shape[2] > 1
        filters = filters.mean(axis=-1, keepdims=True)
        limit = float(np.abs(filters).max()) or 1.0
    columns = int(np.ceil(np.sqrt(len(filters))))
    rows = int(np.ceil(len(filters) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(0.9 * columns + (0 if rgb else 1.0), 0.9 * rows + 0.6),
                             squeeze=False, constrained_layout=True)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index < len(filters):
            shown = filters[index]
            image = ax.imshow(shown if rgb else shown[..., 0], interpolation="nearest",
                              **({} if rgb else {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}))
    if not rgb:
        fig.colorbar(image, ax=axes, shrink=0.8, label="weight" + (" (input channels averaged)" if averaged else ""))
    shown_text = f"all {total} filters" if len(filters) == total else f"{len(filters)} of {total} filters"
    scale = "RGB, each filter scaled to its own range" if rgb else "one colour scale"
    fig.suptitle(f"{title}\n{shown_text}; {scale}" if title else f"{shown_text}; {scale}", fontsize=8)
    return _save(fig, out_path)


def plot_feature_maps(image, maps: list[tuple[str, "np.ndarray"]], out_path, channels: int = 8,
                      title: str = "") -> pathlib.Path:
    """One row per layer: the input image, then the first `channels` maps of that layer's H x W x C output,
    labelled with its shape and "8 of 64 channels", on one colour scale per layer (its colour bar at the row's
    end), so the shrinking maps, growing channel counts and activation sizes can be seen."""
    import numpy as np

    plt = _pyplot()
    fig, axes = plt.subplots(len(maps), channels + 2, figsize=(1.1 * (channels + 1) + 0.6, 1.2 * len(maps) + 0.5),
                             squeeze=False, constrained_layout=True,
                             gridspec_kw={"width_ratios": [1] * (channels + 1) + [0.12]})
    image = np.asarray(image, np.float32) / (255.0 if np.asarray(image).dtype == np.uint8 else 1.0)
    for row, (name, output) in enumerate(maps):
        shown = min(channels, output.shape[-1])
        low, high = float(output[..., :shown].min()), float(output[..., :shown].max())
        axes[row, 0].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_ylabel(f"{name}\n{'x'.join(map(str, output.shape))}\n{shown} of {output.shape[-1]} "
                                "channels", fontsize=7)
        for column in range(channels + 1):
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        for channel in range(shown):
            drawn = axes[row, channel + 1].imshow(output[..., channel], cmap="viridis", interpolation="nearest",
                                                  vmin=low, vmax=high if high > low else low + 1e-6)
        for column in range(shown + 1, channels + 1):
            axes[row, column].axis("off")
        fig.colorbar(drawn, cax=axes[row, -1])
        axes[row, -1].tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, out_path)
