"""A trained run's top-k classes for image files, each file read as the run's training images were (decoded,
converted to the run's grayscale or RGB, resized to its size by `jaxcnn.data.images`; normalised by the run's
mean and std). Results print as a table or are written as CSV or JSON. `python -m jaxcnn.predict` is the
command line.
"""

import csv
import io
import json
import pathlib

import numpy as np

from jaxcnn import errors
from jaxcnn.data import images as image_files
from jaxcnn.inspection import class_names
from jaxcnn.train.evaluate import parse_views
from jaxcnn.trained_run import batched_scores, load_run, scores_fn

FORMATS = ("table", "csv", "json")


def predict_files(workdir, paths, *, top_k: int = 3, checkpoint: str | int = "best", tta: str = "none",
                  batch_size: int = 256) -> dict:
    """{'step', 'source', 'predictions': [{'file', 'top': [(class name, probability), ...]}, ...]} for every
    image file in `paths` (folders searched), most probable class first."""
    run = load_run(workdir, checkpoint)
    names = class_names(run.plan)
    if top_k < 1:
        raise errors.ConfigError(f"--top_k={top_k} must be at least 1")
    files = image_files.find_images(paths)
    height, width, channels = run.plan.image_shape
    images = np.stack([image_files.read_image(path, (height, width), channels) for path in files])
    _, probs = batched_scores(scores_fn(run, parse_views(tta)), images, batch_size)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :min(top_k, len(names))]
    predictions = [{"file": str(path), "top": [(names[c], float(probs[row, c])) for c in order[row]]}
                   for row, path in enumerate(files)]
    return {"step": run.step, "source": run.source, "predictions": predictions}


def format_predictions(predictions: list[dict], fmt: str) -> str:
    """The predictions as a table (one line a file), CSV (file, rank, class, probability) or JSON."""
    if fmt == "json":
        rows = [{"file": p["file"], "top": [{"class": c, "probability": round(prob, 6)} for c, prob in p["top"]]}
                for p in predictions]
        return json.dumps(rows, indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["file", "rank", "class", "probability"])
        for p in predictions:
            writer.writerows([p["file"], rank, c, f"{prob:.6f}"] for rank, (c, prob) in enumerate(p["top"], 1))
        return out.getvalue()
    if fmt != "table":
        raise errors.unknown_name_error("output format", fmt, FORMATS)
    width = max(len(p["file"]) for p in predictions)
    return "".join(f"{p['file']:<{width}}  " + "  ".join(f"{c} {100 * prob:5.1f}%" for c, prob in p["top"]) + "\n"
                   for p in predictions)


def write_new(path, text: str) -> pathlib.Path:
    """Write `text` to a file that does not exist yet; a one-line error rather than overwrite one."""
    path = pathlib.Path(path)
    try:
        with open(path, "x") as out:
            out.write(text)
    except FileExistsError:
        raise errors.ConfigError(f"{path} exists; choose another --out (nothing is overwritten)") from None
    except OSError as err:
        raise errors.ConfigError(f"cannot write {path} ({err.strerror or err})") from None
    return path
