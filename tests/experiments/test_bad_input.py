"""Every mistake a user can make on the command line ends in one line saying what was wrong and what to do,
with a non-zero exit code and no traceback; nothing the user had is lost.

The checks that need no data run as real subprocesses (the exit code and stderr a user sees); those that
train run in-process under tfds.testing.mock_data.
"""

import gc
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from experiments import cifar, mnist
from jaxcnn.train.checkpoint import Checkpointer

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _cli(tmp_path, *flags, module="experiments.mnist", devices=1):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-m", module, f"--workdir={tmp_path / 'run'}",
                             f"--data_dir={tmp_path / 'tfds'}", *flags],
                            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.returncode, result.stderr.strip().splitlines()[-1]


# Every case runs in-process (the exit code and stderr a user sees, through the experiment's own main); the
# first few also run as real subprocesses, as a user starts them (a Python start each, so only a few).
BAD_FLAGS = [
        (["--model=resnet9000"], 2, "error: unknown model 'resnet9000'; choose one of: airbench, cnn256,"),
        (["--dataset=svhn"], 2, "error: flag --dataset=svhn: value should be one of <mnist|fashion_mnist>"),
        (["--augment=flip,spin"], 2, "error: unknown augmentation 'spin'"),
        (["--augment=mixup"], 2, "error: augmentation 'mixup': mixup needs a number, e.g. mixup0.2"),
        (["--tta=rotate"], 2, "error: unknown test-time augmentation 'rotate'; choose one of: flip, none, shiftN"),
        (["--input_pipeline=disk"], 2, "error: flag --input_pipeline=disk: value should be one of <device|streaming>"),
        (["--optimizer=adagrad"], 2, "error: flag --optimizer=adagrad: value should be one of <sgd|adamw>"),
        (["--learning_rate=-1"], 2, "error: --learning_rate must be positive, got -1.0"),
        (["--batch_size=0"], 2, "error: --batch_size must be positive, got 0"),
        (["--epochs=0"], 2, "error: --epochs must be positive, got 0.0"),
        (["--epochs=abc"], 2, "error: flag --epochs=abc: could not convert string to float"),
        (["--flagfile=/nonexistent.flags"], 2, "error: Unable to open flagfile: [Errno 2] No such file or directory: "
                                               "'/nonexistent.flags'"),
        (["--classes=5-10"], 2, "error: --classes='5-10': '5-10' is outside the dataset's classes 0-9"),
        (["--classes=shoes"], 2, "error: --classes='shoes': 'shoes' is not a class id or a range like 5-9"),
        (["--classes=0-4", "--input_pipeline=streaming"], 2, "error: --classes and --train_examples select examples of "
                                                             "a dataset held on the device; use them with --input_pipeline=device"),
        (["--backbone_lr_scale=-0.1"], 2, "error: --backbone_lr_scale must be >= 0, got -0.1"),
        (["--init_from=/nonexistent/run"], 2, "error: --init_from=/nonexistent/run: cannot use its config.json ([Errno 2]"),
        # vgg16's five 2x2 pools take 28x28 to 0x0: caught by tracing the model, before any data is read
        (["--model=vgg16"], 2, "error: layer 'pool5' (MaxPool2d): input 1x1 is too small for this max pooling "
                               "(kernel 2, stride 2, padding (0, 0), dilation 1): output height = floor((1 + 0 + 0"),
        (["--seed=-1", "--train_examples=2000"], 2, "error: --seed must be an integer in [0, 2**31), got -1"),
        (["--seed=99999999999999999999999"], 2, "error: --seed must be an integer in [0, 2**31), got "
                                                "99999999999999999999999"),
        (["--epochs=inf"], 2, "error: --epochs must be positive, got inf"),
        (["--warmup_epochs=nan"], 2, "error: --warmup_epochs must be >= 0, got nan"),
        (["--tta=shift999"], 2, "error: --tta=shift999: a shift of 999 pixels leaves little of a 28x28 image; use "
                                "shift1 to shift7"),
        (["--validation_examples=-5"], 2, "error: --validation_examples must be >= 0, or -1 for automatic, got -5"),
        (["--early_stopping_patience=3", "--validation_examples=0"], 2, "error: --early_stopping_patience needs a "
                                                                        "validation set; set --validation_examples"),
        (["--batchnorm_stats=keras"], 2, "error: flag --batchnorm_stats=keras: value should be one of <pytorch|flax>"),

]
SUBPROCESS_CASES = [BAD_FLAGS[i] for i in (0, 1, 11, 17)]  # unknown model, a flag absl refuses, a flagfile, tracing


@pytest.mark.parametrize("flags, code, message", SUBPROCESS_CASES)
def test_bad_flags_exit_with_one_line_from_the_shell(tmp_path, flags, code, message):
    returncode, last = _cli(tmp_path, *flags)
    assert (returncode, last[: len(message)]) == (code, message)


@pytest.mark.parametrize("flags, code, message", BAD_FLAGS)
def test_bad_flags_exit_with_one_line(tmp_path, capsys, flags, code, message):
    argv = ["mnist", f"--workdir={tmp_path / 'run'}", f"--data_dir={tmp_path / 'tfds'}", *flags]
    returncode, last = _run_in_process(mnist.main, argv, capsys)
    assert (returncode, last[: len(message)]) == (code, message)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())  # nothing written


def test_a_batch_that_does_not_divide_across_devices_names_a_fix(tmp_path):
    returncode, last = _cli(tmp_path, "--batch_size=12", devices=8)
    assert returncode == 2
    assert last == "error: --batch_size=12 does not divide across 8 devices; use a multiple of 8, e.g. 8"


def test_an_unwritable_workdir_is_named(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a directory")
    argv = ["mnist", f"--workdir={tmp_path / 'a_file' / 'run'}", f"--data_dir={tmp_path / 'tfds'}"]
    returncode, last = _run_in_process(mnist.main, argv, capsys)  # the shell's view: the subprocess cases above
    assert returncode == 2
    assert last == f"error: cannot write to --workdir {tmp_path / 'a_file' / 'run'} (Not a directory); choose a writable directory"


def _run_in_process(main, argv, capsys) -> tuple[int, str]:
    """(exit code, last stderr line) of an experiment's main, as the shell would see them."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    if isinstance(code, str):  # sys.exit("message"): Python prints it and exits with 1
        return 1, code
    return code, err.strip().splitlines()[-1]


def _mnist_argv(workdir, *flags):
    return ["mnist", "--dataset=mnist", "--model=simple_cnn", f"--workdir={workdir}", f"--data_dir={workdir.parent / 'tfds'}",
            "--batch_size=8", "--epochs=1", "--progress_bar=false", "--validation_examples=0", *flags]


def test_a_dataset_unavailable_offline_says_how_to_get_it_at_once(tmp_path, capsys, monkeypatch):
    def offline(address, *args, **kwargs):
        raise OSError(f"no route to {address[0]}")

    monkeypatch.setattr(socket, "create_connection", offline)
    code, last = _run_in_process(cifar.main, ["cifar", f"--workdir={tmp_path / 'run'}", f"--data_dir={tmp_path / 'tfds'}",
                                              "--model=resnet20"], capsys)
    assert code == 2
    assert last == (f"error: dataset 'cifar10' is not prepared in {tmp_path / 'tfds'} and could not be downloaded "
                    "(www.cs.toronto.edu is unreachable); connect to the internet once, or point --data_dir at a "
                    "directory where TFDS already prepared it")


def test_a_class_count_mismatch_on_restore_names_the_difference(tmp_path, capsys):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=16):
        mnist.main(_mnist_argv(workdir, "--num_classes=10"))
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--num_classes=12", "--epochs=2"), capsys)
        assert code == 2
        assert last == (f"error: {workdir} holds a run with other settings (num_classes: 10 -> 12; epochs: 1.0 -> 2.0); "
                        "rerun with the original flags, pass --allow_config_change to continue it with these on purpose "
                        "(recorded in its history.jsonl), use a new --workdir, or pass --new_run to archive the old run "
                        "and start a new one")
        # Continuing on purpose: the checkpoint's own shapes still refuse another class count.
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--num_classes=12", "--allow_config_change"),
                                     capsys)
        assert code == 2
        assert "does not fit this run's state (params/fc2/bias: saved (10,), this run (12,); params/fc2/kernel: saved (32, 10), this run (32, 12)" in last, last
        # Without the config record (a workdir copied without it), nothing is adopted.
        (workdir / "config.json").rename(tmp_path / "config.json.moved")
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--num_classes=10"), capsys)
    assert (code, last) == (2, f"error: {workdir} holds checkpoints but no config.json saying how they were trained; "
                               "restore it, or pass --new_run to archive the old run and start a new one")
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["2"]  # kept as it was


def test_more_train_examples_than_the_split_holds_and_other_classes_on_resume_are_one_line(tmp_path, capsys):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=16):
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--train_examples=100"), capsys)
        assert (code, last) == (2, "error: --train_examples=100 but the training split holds 16 examples (after "
                                   "--classes); use at most that many, or 0 for all")
        mnist.main(_mnist_argv(workdir, "--train_examples=8"))
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--train_examples=16", "--epochs=2"), capsys)
    assert code == 2 and "(epochs: 1.0 -> 2.0; train_examples: 8 -> 16)" in last, last


def test_new_run_archives_the_previous_run_instead_of_deleting_it(tmp_path, capsys):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=16):
        mnist.main(_mnist_argv(workdir, "--num_classes=10"))
        capsys.readouterr()
        mnist.main(_mnist_argv(workdir, "--num_classes=12", "--new_run"))
    out = capsys.readouterr().out
    [archived] = (workdir / "archive").iterdir()
    assert f"--new_run: moved the previous run's files to {archived}" in out
    assert json.loads((archived / "config.json").read_text())["num_classes"] == 10
    assert (archived / "checkpoints" / "2").is_dir() and (archived / "metrics.jsonl").exists()
    assert json.loads((workdir / "config.json").read_text())["num_classes"] == 12
    assert len((workdir / "metrics.jsonl").read_text().splitlines()) == 1


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=64):
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir, "--learning_rate=1e30", "--schedule=constant",
                                                              "--checkpoint_every_steps=1", "--log_every_steps=1"), capsys)
    assert code == 2
    prefix = "error: loss and gradients became NaN or Inf at step "
    assert last.startswith(prefix), last
    bad_step = int(last[len(prefix):].split(";")[0])
    assert 1 < bad_step <= 8
    assert (f"stopped without saving the damaged state, the last good checkpoint (step {bad_step - 1}) is kept"
            in last)
    saved = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir())
    assert saved and max(saved) == bad_step - 1


def test_a_full_disk_at_checkpoint_time_is_one_line_and_keeps_the_data(tmp_path, mount_small_disk, capsys):
    tiny_disk = mount_small_disk(4)
    shutil.copytree(ROOT / "launch" / "flags", tiny_disk / "flags")  # something of the user's on that disk
    with (tiny_disk / "filler").open("wb") as filler:  # leave 256 KiB: less than tiny_vgg's 1.2 MiB state
        filler.write(b"\0" * (shutil.disk_usage(tiny_disk).free - 256 * 2**10))
    with tfds.testing.mock_data(num_examples=16):
        code, last = _run_in_process(mnist.main, ["mnist", "--dataset=mnist", "--model=tiny_vgg",
                                                  f"--workdir={tiny_disk / 'run'}", f"--data_dir={tmp_path / 'tfds'}",
                                                  "--batch_size=8", "--epochs=1", "--progress_bar=false",
                                                  "--validation_examples=0"], capsys)
    assert code == 2
    assert last.startswith(f"error: not enough disk space to checkpoint step 2 in {tiny_disk / 'run'}: about "), last
    assert last.endswith("no checkpoint was saved yet: free some space and rerun to start the run again")
    assert sorted(p.name for p in (tiny_disk / "flags").iterdir()) == sorted(p.name for p in (ROOT / "launch/flags").iterdir())


def test_a_disk_that_fills_during_the_write_is_one_line_without_library_tracebacks(tmp_path, mount_small_disk, capsys,
                                                                                   monkeypatch):
    tiny_disk = mount_small_disk(4)
    monkeypatch.setattr(Checkpointer, "_check_free_space", lambda self, state, step: None)  # the space check passed
    with (tiny_disk / "filler").open("wb") as filler:  # then something else filled the disk
        filler.write(b"\0" * (shutil.disk_usage(tiny_disk).free - 256 * 2**10))
    # What Python could not raise, printed as tracebacks outside pytest; kept as text, since holding their frames
    # keeps the failed write's files open and the disk could not be unmounted.
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: unraisable.append(repr(u.exc_value)))
    with tfds.testing.mock_data(num_examples=16):
        code, last = _run_in_process(mnist.main, ["mnist", "--dataset=mnist", "--model=tiny_vgg",
                                                  f"--workdir={tiny_disk / 'run'}", f"--data_dir={tmp_path / 'tfds'}",
                                                  "--batch_size=8", "--epochs=1", "--progress_bar=false",
                                                  "--validation_examples=0"], capsys)
    gc.collect()
    assert code == 2
    assert last == (f"error: writing a checkpoint at step 2 in {tiny_disk / 'run'} failed: the disk is full; "
                    "no checkpoint was saved yet: free some space and rerun to start the run again")
    assert unraisable == []


def test_a_small_volume_that_holds_the_checkpoint_is_not_refused(tmp_path, mount_small_disk, capsys):
    small_disk = mount_small_disk(5)  # simple_cnn's state is about 0.1 MiB
    with tfds.testing.mock_data(num_examples=16):
        mnist.main(_mnist_argv(small_disk / "run"))
    assert sorted(p.name for p in (small_disk / "run" / "checkpoints").iterdir()) == ["2"]


def test_a_flagfile_that_is_not_utf8_is_named(tmp_path, capsys):
    flagfile = tmp_path / "latin1.flags"
    flagfile.write_bytes("--model=tiny_vgg\n# r\xe9sum\xe9\n".encode("latin-1"))
    code, last = _run_in_process(mnist.main, ["mnist", f"--workdir={tmp_path / 'run'}", f"--flagfile={flagfile}"], capsys)
    assert (code, last) == (2, f"error: --flagfile={flagfile} is not UTF-8 text (byte b'\\xe9' at position 20); "
                               "save it as UTF-8")


def test_holding_out_every_training_example_is_one_line(tmp_path, capsys):
    with tfds.testing.mock_data(num_examples=16):
        code, last = _run_in_process(mnist.main, [*_mnist_argv(tmp_path / "a"), "--validation_examples=16"], capsys)
    assert (code, last) == (2, "error: --validation_examples=16 leaves no training examples (the training split "
                               "holds 16); hold out fewer, or 0 for no validation set")


def test_an_unknown_validation_split_is_one_line(tmp_path, capsys, fashion_mnist):
    code, last = _run_in_process(mnist.main, ["mnist", f"--workdir={tmp_path / 'run'}", "--validation_split=valid",
                                              "--epochs=1", "--progress_bar=false"], capsys)
    assert (code, last) == (2, "error: fashion_mnist has no split 'valid'; it has test, train")


def test_init_from_a_run_whose_config_is_not_settings_is_one_line(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    (source / "config.json").write_text("[]")
    code, last = _run_in_process(mnist.main, [*_mnist_argv(tmp_path / "run"), f"--init_from={source}"], capsys)
    assert (code, last) == (2, f"error: --init_from={source}: cannot use its config.json (it holds a JSON list, not the "
                               "settings of a run); give the --workdir of a jaxcnn training run")


def test_a_damaged_metrics_file_is_refused_and_kept(tmp_path, capsys):
    workdir = tmp_path / "run"
    with tfds.testing.mock_data(num_examples=16):
        mnist.main(_mnist_argv(workdir))
        (workdir / "metrics.jsonl").write_text('{"foo": 1}\n')
        code, last = _run_in_process(mnist.main, _mnist_argv(workdir), capsys)
    assert code == 2 and last.startswith(f"error: {workdir / 'metrics.jsonl'} line 1 is not a jaxcnn metrics row"), last
    assert (workdir / "metrics.jsonl").read_text() == '{"foo": 1}\n'
