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
