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


def _figure_of(monkeypatch):
    """Keep the figure a plot function saves, to read its ticks, titles and colour bars."""
    kept = []
    original = viz._save

    def save(fig, out_path, **kwargs):
        kept.append((fig, [ax.get_xticks() for ax in fig.axes], fig.get_suptitle(),
                     [ax.get_ylabel() for ax in fig.axes]))
        return original(fig, out_path, **kwargs)

    monkeypatch.setattr(viz, "_save", save)
    return kept


def test_curves_have_whole_epoch_ticks(tmp_path, monkeypatch):
    kept = _figure_of(monkeypatch)
    rows = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1 / e, "train_accuracy": 0.5, "test_accuracy": 0.5}
            for e in (1, 2, 3)]
    viz.plot_training_curves(rows, tmp_path / "curves.png")
    for ticks in kept[0][1]:
        assert len(ticks) and all(float(t).is_integer() for t in ticks), ticks


def test_filters_and_feature_maps_say_how_many_channels_they_show_and_have_a_colour_scale(tmp_path, monkeypatch):
    kept = _figure_of(monkeypatch)
    rng = np.random.default_rng(0)
    viz.plot_filters(rng.normal(size=(3, 3, 2, 100)), tmp_path / "f.png", title="conv", max_filters=16)
    viz.plot_filters(rng.normal(size=(3, 3, 3, 8)), tmp_path / "rgb.png")
    maps = [("conv1", rng.normal(size=(8, 8, 64))), ("conv2", rng.normal(size=(4, 4, 5)))]
    viz.plot_feature_maps(rng.integers(0, 256, (8, 8, 1)).astype(np.uint8), maps, tmp_path / "m.png", channels=8)
    (gray, _, gray_title, gray_labels), (_, _, rgb_title, _), (fmaps, _, _, map_labels) = kept
    assert gray_title == "conv\n16 of 100 filters; one colour scale" and len(gray.axes) == 16 + 1  # + colour bar
    assert "weight (input channels averaged)" in gray_labels
    assert rgb_title == "all 8 filters; RGB, each filter scaled to its own range"
    assert [label for label in map_labels if "channels" in label] == ["conv1\n8x8x64\n8 of 64 channels",
                                                                       "conv2\n4x4x5\n5 of 5 channels"]
    assert len(fmaps.axes) == 2 * (8 + 2)  # image, 8 maps and a colour bar per layer
