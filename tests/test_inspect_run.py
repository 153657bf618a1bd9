"""`python -m jaxcnn.inspect_run`, the thin command line over `jaxcnn.inspection` (whose numbers on a real run
`tests/test_inspection.py` checks): what it passes on, what it prints, and its one-line errors with status 2."""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jaxcnn import errors, inspect_run, inspection

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _fake_result(out: pathlib.Path) -> dict:
    return {"accuracy": 0.91234, "per_class": {"Sandal": 0.975, "Ankle boot": 0.8496}, "counts": np.eye(2, dtype=int),
            "paths": [out / "confusion.png", out / "filters.png"], "step": 20, "source": "best"}


def test_it_passes_its_flags_to_the_library_and_prints_the_result(tmp_path, monkeypatch, capsys):
    calls = []

    def fake_inspect_run(workdir, out_dir=None, *, image_index=0, data_dir=None):
        calls.append((workdir, out_dir, image_index, data_dir))
        return _fake_result(tmp_path)

    monkeypatch.setattr(inspection, "inspect_run", fake_inspect_run)
    assert inspect_run.main([f"--workdir={tmp_path}/run", f"--out={tmp_path}", "--image_index=3", "--data_dir=/d"]) == 0
    assert calls == [(f"{tmp_path}/run", str(tmp_path), 3, "/d")]
    assert capsys.readouterr().out.splitlines() == [
        "best checkpoint at step 20: test accuracy 91.23%",
        "            Sandal  97.50%",
        "        Ankle boot  84.96%",
        f"wrote {tmp_path / 'confusion.png'}",
        f"wrote {tmp_path / 'filters.png'}",
    ]
    assert inspect_run.main([f"--workdir={tmp_path}/run"]) == 0
    assert calls[-1] == (f"{tmp_path}/run", None, 0, None)  # defaults: WORKDIR/inspect, image 0, the run's data


def test_a_missing_run_exits_2_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        inspect_run.main([f"--workdir={tmp_path / 'nothing'}"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: --workdir={tmp_path / 'nothing'}: cannot use its config.json (")
    assert captured.err.count("\n") == 1 and captured.out == ""


def test_a_library_user_error_exits_2_with_its_message(tmp_path, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise errors.ConfigError("--image_index=5000 is not in [0, 5000) (the test split)")

    monkeypatch.setattr(inspection, "inspect_run", refuse)
    with pytest.raises(SystemExit) as exit_info:
        inspect_run.main([f"--workdir={tmp_path}", "--image_index=5000"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: --image_index=5000 is not in [0, 5000) (the test split)\n"


def test_help_needs_neither_jax_nor_tensorflow():
    code = ("import sys, contextlib, io\nfrom jaxcnn import inspect_run\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    inspect_run.main(['--help'])\n"
            "assert '--image_index' in out.getvalue()\n"
            "print(sorted(m for m in ('jax', 'tensorflow', 'flax') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
