"""TFDS detection datasets by name: letterboxing and box conversion against hand-computed numbers, the largest
objects kept, default splits (COCO's unlabelled test), one-line errors, and voc/2007 / coco/2017 read and trained
on end to end under tfds.testing.mock_data (random examples with the real metadata)."""

import json
import pathlib
import re
import types

import numpy as np
import pytest
import tensorflow as tf

from experiments import detection as detection_cli
from jaxcnn import errors
from jaxcnn.detection import datasets, tfds_data
from jaxcnn.detection.config import DetectionConfig
from tfds_mock import mock_data

RECIPE = pathlib.Path(__file__).parents[2] / "launch/flags/voc2007_detection.flags"
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")


def test_letterbox_scales_the_longer_side_and_pads_bottom_right():
    image = np.full((50, 100, 3), 200, np.uint8)  # wide: scale 64/100 = 0.64 -> 32 x 64
    canvas, covered = tfds_data.letterbox(image, 64)
    assert canvas.shape == (64, 64, 3) and covered == (32, 64)
    assert np.all(canvas[:32] == 200) and np.all(canvas[32:] == 0)
    tall = np.full((100, 40, 1), 90, np.uint8)  # tall: scale 0.32 -> 32 x round(12.8) = 13
    canvas, covered = tfds_data.letterbox(tall, 32)
    assert canvas.shape == (32, 32, 1) and covered == (32, 13)
    assert np.all(canvas[:, :13] == 90) and np.all(canvas[:, 13:] == 0)


def test_pixel_boxes_from_normalised_yxyx():
    # (ymin, xmin, ymax, xmax) of the image -> (x0, y0, x1, y1) pixels of the 32 x 64 region it covers.
    boxes = tfds_data.pixel_boxes(np.array([[0.2, 0.25, 0.6, 0.75], [0.0, 0.0, 1.0, 1.0]]), (32, 64))
    np.testing.assert_allclose(boxes, [[16.0, 6.4, 48.0, 19.2], [0.0, 0.0, 64.0, 32.0]], rtol=1e-6)
    np.testing.assert_allclose(tfds_data.pixel_boxes(np.array([[0.5, 0.5, 1.0, 1.0]]), (32, 13)),
                               [[6.5, 16.0, 13.0, 32.0]], rtol=1e-6)


def test_letterboxed_box_still_frames_its_object():
    image = np.zeros((80, 120, 3), np.uint8)
    image[20:60, 30:90] = 255  # the object: rows 20..59, columns 30..89
    canvas, covered = tfds_data.letterbox(image, 48)  # scale 0.4 -> 32 x 48
    box = tfds_data.pixel_boxes(np.array([[20 / 80, 30 / 120, 60 / 80, 90 / 120]]), covered)[0]
    np.testing.assert_allclose(box, [12.0, 8.0, 36.0, 24.0], rtol=1e-6)
    x0, y0, x1, y1 = box.astype(int)
    assert np.all(canvas[y0 + 1:y1 - 1, x0 + 1:x1 - 1] > 200)  # inside the box: the object
    assert canvas[:y0 - 1].max() == 0 and canvas[:, x1 + 1:].max() == 0  # outside: background


def test_keep_largest_keeps_order_and_counts_what_is_dropped():
    boxes = np.array([[0, 0, 2, 2], [0, 0, 10, 10], [5, 5, 5, 9], [0, 0, 4, 4], [1, 1, 9, 3]], np.float32)
    classes = np.array([0, 1, 2, 3, 4], np.int32)  # areas 4, 100, 0 (no width), 16, 16
    dropped = tfds_data.Dropped()
    kept_boxes, kept_classes = tfds_data.keep_largest(boxes, classes, 2, dropped)
    np.testing.assert_array_equal(kept_classes, [1, 3])  # the two largest (first of equals), original order
    np.testing.assert_array_equal(kept_boxes, boxes[[1, 3]])
    assert (dropped.beyond_max, dropped.no_area) == (2, 1)


def test_channel_statistics_in_chunks_match_numpy():
    images = np.random.default_rng(0).integers(0, 256, (10, 6, 5, 3), dtype=np.uint8)
    exact = datasets.channel_statistics(images)
    np.testing.assert_allclose(exact[0], images.reshape(-1, 3).mean(0) / 255)
    np.testing.assert_allclose(exact[1], images.reshape(-1, 3).std(0) / 255)
    chunked = datasets.channel_statistics(images, exact_bytes=720)  # a channel's copy: 2,400 bytes: in chunks
    np.testing.assert_allclose(chunked, exact, rtol=1e-12)


def test_default_splits_never_select_on_the_test_split():
    voc = tfds_data.default_splits("voc/2007", ["train", "validation", "test"], 500)
    assert voc == tfds_data.SplitNames("train", "validation", "test")
    coco = tfds_data.default_splits("coco/2017", ["train", "validation", "test", "unlabeled"], 500)
    assert coco == tfds_data.SplitNames("train[:-500]", "train[-500:]", "validation")  # COCO's test has no labels
    voc2012 = tfds_data.default_splits("voc/2012", ["train", "validation", "test"], 500)  # test: no labels public
    assert voc2012 == coco
    assert tfds_data.default_splits("some/dataset", ["train", "test"], 7).validation == "train[-7:]"


def _config(tmp_path, **overrides):
    settings = dict(dataset="voc/2007", data_dir=str(tmp_path), canvas_size=32, max_objects=3, train_images=5,
                    validation_images=3, test_images=2)
    return DetectionConfig(**{**settings, **overrides})


def test_voc_mock_reads_letterboxed_rgb_with_class_names(tmp_path):
    with mock_data(6, tmp_path):
        data = datasets.load(_config(tmp_path))
    assert data.class_names == VOC_CLASSES
    assert {split: len(d.images) for split, d in data.splits.items()} == {"train": 5, "validation": 3, "test": 2}
    train = data.splits["train"]
    assert train.images.shape == (5, 32, 32, 3) and train.boxes.shape == (5, 3, 4)
    valid = train.classes >= 0
    assert valid.sum(axis=1).max() == 3 and np.all(train.classes < 20)  # mock images hold many objects: capped
    assert np.all(train.boxes[valid][:, 2:] > train.boxes[valid][:, :2]) and train.boxes.max() <= 32
    assert np.all(train.boxes[~valid] == 0)
    assert "voc/2007 (train / validation / test, 20 classes)" in data.description
    assert "beyond --max_objects=3" in data.description


def test_coco_mock_holds_validation_out_of_train_and_drops_crowd_boxes(tmp_path):
    config = _config(tmp_path, dataset="coco/2017", max_objects=50)
    with mock_data(4, tmp_path):
        data = datasets.load(config)
    assert len(data.class_names) == 80  # named in a prepared copy's metadata; the package alone numbers them
    assert "coco/2017 (train[:-3] / train[-3:] / validation, 80 classes)" in data.description
    assert " 0 crowd boxes" not in data.description  # mock examples flag about half their objects as crowds


def test_mistakes_are_one_line_errors(tmp_path):
    with mock_data(2, tmp_path):
        with pytest.raises(errors.ConfigError, match="'mnist' is not object detection.*image .*label"):
            datasets.load(_config(tmp_path, dataset="mnist"))
        with pytest.raises(errors.ConfigError, match="--validation_split='test' is also the train or test split"):
            datasets.load(_config(tmp_path, validation_split="test"))
    with pytest.raises(errors.ConfigError, match="unknown dataset 'voc/1999'"):
        datasets.load(_config(tmp_path, dataset="voc/1999"))
    empty = tmp_path / "empty"
    with pytest.raises(errors.DatasetUnavailableError, match=re.escape(
            f"not prepared in {empty}; prepare it once, online: python -c \"import tensorflow_datasets as tfds; "
            f"tfds.builder('voc/2007', data_dir='{empty}').download_and_prepare()\"")):
        datasets.load(_config(empty))
    assert not empty.exists() or not any(empty.iterdir())  # nothing downloaded or written


class UnlabelledTestSplit:
    """A stand-in TFDS builder whose 'test' images carry no objects (as VOC 2012's and COCO's test splits)."""

    info = types.SimpleNamespace(splits={"train": None, "validation": None, "test": None},
                                 features={"objects": {"label": types.SimpleNamespace(names=["cat", "dog"])}})

    name = "voc/2012"

    def as_dataset(self, split, shuffle_files):
        if split.split("[")[0] not in self.info.splits:
            raise ValueError(f"Unknown split {split!r}. Should be one of {list(self.info.splits)}.")  # as TFDS
        count = 0 if split == "test" else 1
        return tf.data.Dataset.from_tensors({"image": tf.zeros((6, 8, 3), tf.uint8), "objects": {
            "bbox": tf.constant([[0.1, 0.1, 0.9, 0.9]] * count, tf.float32, shape=(count, 4)),
            "label": tf.ones((count,), tf.int64)}})


def test_unlabelled_or_unknown_splits_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_data, "open_builder", lambda name, data_dir: UnlabelledTestSplit())
    with pytest.raises(errors.ConfigError, match=re.escape("split 'test' of voc/2012 has no labelled objects in the "
                                                           "1 image(s) read; choose another --test_split")):
        datasets.load(_config(tmp_path, dataset="voc/2012", test_split="test"))
    with pytest.raises(errors.ConfigError, match=re.escape("voc/2012 cannot read split 'tset' (Unknown split 'tset'.")):
        datasets.load(_config(tmp_path, dataset="voc/2012", test_split="tset"))
    data = datasets.load(_config(tmp_path, dataset="voc/2012"))  # default: test on validation, validation held out
    assert data.class_names == ("cat", "dog")
    assert "(train[:-3] / train[-3:] / validation, 2 classes)" in data.description
    np.testing.assert_allclose(data.splits["test"].boxes[0, 0], [3.2, 2.4, 28.8, 21.6], rtol=1e-6)  # 24 x 32 covered


def test_unprepared_dataset_ends_the_command_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        detection_cli.main(["detection", "--dataset=coco/2017", f"--data_dir={tmp_path / 'tfds'}",
                            f"--workdir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1, err
    assert "'coco/2017' is not prepared" in err and "tfds.builder('coco/2017', data_dir=" in err


@pytest.mark.slow  # ~10-20 s end to end; the loading, conversion and errors above stay in the default suite
def test_voc_recipe_trains_by_name(tmp_path, capsys):
    """launch/flags/voc2007_detection.flags, shrunk to two steps on 32x32 letterboxed mock images."""
    workdir = tmp_path / "run"
    argv = ["detection", f"--flagfile={RECIPE}", f"--data_dir={tmp_path / 'tfds'}", f"--workdir={workdir}",
            "--canvas_size=32", "--max_objects=4", "--train_images=8", "--validation_images=4", "--test_images=4",
            "--widths=8,8,16", "--head_width=8", "--batch_size=4", "--epochs=1", "--max_detections=10",
            "--noprogress_bar"]
    with mock_data(8, tmp_path / "tfds"):
        detection_cli.main(argv)
        first_line = capsys.readouterr().out.splitlines()[0]
        with pytest.raises(SystemExit):  # the workdir's run is a voc/2007 one: not resumed on another dataset
            detection_cli.main([*argv, "--dataset=coco/2017"])
    refusal = capsys.readouterr().err
    assert "holds a detection run with a different setup (dataset: 'voc/2007' -> 'coco/2017')" in refusal
    assert first_line.startswith("CenterNet 8,8,16 on voc/2007 (train / validation / test, 20 classes) letterboxed "
                                 "to 32x32, ") and " beyond --max_objects=4 (the smallest), " in first_line
    assert (workdir / "checkpoints" / "2").is_dir() and (workdir / "best").is_dir()
    row = json.loads((workdir / "metrics.jsonl").read_text().splitlines()[0])
    assert row["step"] == 2 and 0 <= row["validation_map50"] <= 1
    result = json.loads((workdir / "test_results.json").read_text())
    assert 0 <= result["test_map"] <= result["test_map50"] <= 1
    assert result["test_ap50_by_class"] and set(result["test_ap50_by_class"]) <= set(VOC_CLASSES)
    assert json.loads((workdir / "config.json").read_text())["dataset"] == "voc/2007"
    assert (workdir / "predictions.png").stat().st_size > 0
