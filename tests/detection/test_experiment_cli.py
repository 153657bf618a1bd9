"""experiments/detection.py: flags from DetectionConfig; a user's mistake ends in one line and exit status 2."""

import pytest

from experiments import detection


@pytest.mark.parametrize("argv, message", [
    (["--canvas_size=60"], "--canvas_size must be a multiple of 8"),
    (["--nms_iou=1.5"], "--nms_iou must be in [0, 1)"),
    (["--parallel=mpi"], "parallel"),
    (["--test_split=validation"], "--test_split name TFDS splits; the fashion_canvas splits are fixed"),
    ([], "--workdir is required"),
])
def test_mistakes_are_one_line(argv, message, tmp_path, capsys):
    workdir = [f"--workdir={tmp_path}"] if argv else []
    with pytest.raises(SystemExit) as exit_info:
        detection.main(["detection", *workdir, *argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_help_lists_every_setting(capsys):
    detection.main(["detection", "--help"])
    out = capsys.readouterr().out
    for flag in ("--dataset", "--train_split", "--validation_split", "--test_split", "--canvas_size", "--scale_range",
                 "--nms_iou", "--parallel", "--workdir", "--[no]new_run", "--[no]flip"):
        assert flag in out
