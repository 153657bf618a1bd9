"""A picture of a detector's predictions: canvases with predicted boxes (class name and score) over the
ground-truth boxes, written as a PNG (matplotlib, files only)."""

import pathlib

import numpy as np


def plot_detections(images, predicted: list, truth: list, class_names, out_path, title: str = "",
                    min_score: float = 0.3, columns: int = 4) -> pathlib.Path:
    """`images` uint8 [N, H, W, C] (grey or RGB); predicted[i] = (boxes, scores, classes); truth[i] = (boxes, classes).
    Predictions scoring at least `min_score` are drawn solid with their name and score, ground truth dashed."""
    plt = _pyplot()
    rows = -(-len(images) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.75 * rows + 0.4), squeeze=False,
                             constrained_layout=True)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, (boxes, scores, classes), (true_boxes, _) in zip(axes.flat, images, predicted, truth):
        image = np.asarray(image)
        if image.shape[-1] == 1:
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        for x0, y0, x1, y1 in np.asarray(true_boxes):
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ls="--", lw=0.8,
                                       ec="deepskyblue"))
        for (x0, y0, x1, y1), score, cls in zip(np.asarray(boxes), np.asarray(scores), np.asarray(classes)):
            if score < min_score:
                continue
            ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.2, ec="orange"))
            ax.text(x0 - 0.5, y0 - 1.5, f"{class_names[int(cls)]} {score:.2f}", fontsize=6, color="black",
                    bbox={"facecolor": "orange", "alpha": 0.8, "pad": 0.5, "lw": 0})
    fig.suptitle(title or "predictions (orange, score >= %.2f) and ground truth (dashed blue)" % min_score, fontsize=8)
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=130)
    plt.close(fig)
    return out_path


def _pyplot():
    """pyplot on the file-only Agg backend, imported when a picture is drawn (as jaxcnn.viz does)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
