import json

import matplotlib.image
import numpy as np

from jaxcnn import viz


def test_curves_png_is_written_and_nonblank(tmp_path):
    rows = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e, "train_accuracy": 0.5 + e / 20,
             "test_accuracy": 0.45 + e / 20} for e in range(1, 6)]
    (tmp_path / "metrics.jsonl").write_text("".join(f"{json.dumps(r)}\n" for r in rows))
    out = viz.plot_training_curves(viz.read_metrics(tmp_path / "metrics.jsonl"), tmp_path / "curves.png")
    pixels = matplotlib.image.imread(out)
    assert pixels.shape[:2] == (400, 1000)
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 20  # lines and text, not blank


def _distinct_colours(path) -> int:
    pixels = matplotlib.image.imread(path)
    return np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0]


def test_confusion_filters_and_feature_maps_pngs_are_written_and_nonblank(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, (5, 5)) + np.diag([400] * 5)
    confusion = viz.plot_confusion_matrix(counts, [f"class {i}" for i in range(5)], tmp_path / "a" / "confusion.png")
    filters = viz.plot_filters(rng.normal(size=(3, 3, 3, 16)), tmp_path / "filters.png", title="rgb")
    gray_filters = viz.plot_filters(rng.normal(size=(5, 5, 1, 6)), tmp_path / "gray.png")
    maps = [("conv1", rng.normal(size=(28, 28, 32))), ("conv2", rng.normal(size=(14, 14, 64)))]
    feature_maps = viz.plot_feature_maps(rng.integers(0, 256, (28, 28, 1)).astype(np.uint8), maps,
                                         tmp_path / "maps.png", channels=4)
    for path in (confusion, filters, gray_filters, feature_maps):
        assert path.exists() and _distinct_colours(path) > 20, path
    assert matplotlib.image.imread(feature_maps).shape[0] < matplotlib.image.imread(feature_maps).shape[1]  # 2 rows x 5
