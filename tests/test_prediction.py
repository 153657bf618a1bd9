"""`jaxcnn.prediction` and `python -m jaxcnn.predict`: a run trained on a folder of real PNG and JPEG files
names the class of those files, read as training read them, in a table, CSV or JSON."""

import csv
import io
import json
import pathlib

import numpy as np
import pytest
from PIL import Image

from jaxcnn import errors, prediction
from jaxcnn import predict as predict_command


def test_a_run_trained_on_image_files_predicts_their_classes_by_name(folder_run):
    root, workdir = folder_run
    result = prediction.predict_files(workdir, [root / "test"], top_k=2)
    rows = result["predictions"]
    assert len(rows) == 42 and all(len(row["top"]) == 2 for row in rows)
    truth = [pathlib.Path(row["file"]).parent.name for row in rows]  # the class folder
    names = [row["top"][0][0] for row in rows]
    assert np.mean([t == n for t, n in zip(truth, names)]) >= 0.9
    assert all(1 >= row["top"][0][1] >= row["top"][1][1] >= 0 for row in rows)


def test_a_file_is_read_as_training_read_it_whatever_its_format_and_size(folder_run, tmp_path):
    root, workdir = folder_run
    original = root / "test" / "top_right" / "0.png"
    big = tmp_path / "big.bmp"
    Image.open(original).convert("RGB").resize((64, 64), Image.Resampling.NEAREST).save(big)
    top = {p["file"]: p["top"][0] for p in prediction.predict_files(workdir, [original, big], top_k=1)["predictions"]}
    assert top[str(original)][0] == top[str(big)][0] == "top_right"


def test_csv_and_json_files_and_the_table(folder_run, tmp_path, capsys):
    root, workdir = folder_run
    files = [str(root / "test" / "top_left" / name) for name in ("0.png", "1.jpg")]
    out = tmp_path / "p.csv"
    assert predict_command.main([f"--workdir={workdir}", *files, "--top_k=3", f"--out={out}"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["file"], r["rank"]) for r in rows] == [(f, str(k)) for f in files for k in (1, 2, 3)]
    assert sum(float(r["probability"]) for r in rows[:3]) == pytest.approx(1, abs=1e-5)
    assert predict_command.main([f"--workdir={workdir}", files[0], "--format=json"]) == 0
    printed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert printed[0]["file"] == files[0] and len(printed[0]["top"]) == 3
    assert predict_command.main([f"--workdir={workdir}", files[0], "--top_k=1"]) == 0
    assert capsys.readouterr().out.startswith(f"{files[0]}  ")
    with pytest.raises(SystemExit):  # never overwrites
        predict_command.main([f"--workdir={workdir}", *files, f"--out={out}"])
    assert "exists; choose another --out" in capsys.readouterr().err


def test_unreadable_files_are_one_line_errors(folder_run, tmp_path):
    _, workdir = folder_run
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(errors.UserError) as raised:
        prediction.predict_files(workdir, [bad])
    assert str(raised.value).startswith(f"{bad} cannot be read as an image")
