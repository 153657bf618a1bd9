"""`jaxcnn.cli`: how every entry point ends. A user's mistake is one `error: ...` line on stderr and status 2, an
interrupted run `interrupted: ...` and 130; anything else is a bug and keeps its traceback."""

import asyncio
import os
import signal
import sys
import types

import pytest

from jaxcnn import cli, errors
from jaxcnn.train.loop import TrainingInterrupted
from jaxcnn.train.signals import TrainingInterrupted as SignalsTrainingInterrupted


def _exit_of(raise_inside) -> int:
    with pytest.raises(SystemExit) as exit_info:
        with cli.user_errors_exit():
            raise raise_inside
    return exit_info.value.code


@pytest.mark.parametrize("error", [
    errors.ConfigError("--epochs must be positive, got 0"),
    errors.CheckpointError("--init_from=/runs/a: the run has no checkpoint yet"),
    errors.DatasetUnavailableError("cifar10 is not prepared"),
    errors.UserError("plain user error"),
])
def test_a_user_error_is_its_message_on_stderr_and_status_2(error, capsys):
    assert _exit_of(error) == 2
    captured = capsys.readouterr()
    assert captured.err == f"error: {error}\n" and captured.out == ""


def test_an_interrupted_run_exits_130_labelled_interrupted(capsys):
    assert TrainingInterrupted is SignalsTrainingInterrupted  # the loop re-exports the one class
    assert _exit_of(TrainingInterrupted("SIGTERM at step 40: checkpoint saved in /w; run the same command again")) == 130
    assert capsys.readouterr().err == "interrupted: SIGTERM at step 40: checkpoint saved in /w; run the same command again\n"


def test_a_user_error_subclass_chooses_its_label_and_status(capsys):
    class Stale(errors.UserError):
        label, exit_status = "stale", 75

    assert _exit_of(Stale("lock held by another run")) == 75
    assert capsys.readouterr().err == "stale: lock held by another run\n"


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("missing"), RuntimeError("xla"), KeyboardInterrupt()])
def test_anything_else_propagates_unchanged(bug, capsys):
    with pytest.raises(type(bug)) as raised:
        with cli.user_errors_exit():
            raise bug
    assert raised.value is bug
    assert capsys.readouterr().err == ""


def test_without_an_error_the_block_runs_and_nothing_is_printed(capsys):
    ran = []
    with cli.user_errors_exit():
        ran.append(1)
    assert ran == [1] and capsys.readouterr() == ("", "")


def test_fail_prints_one_labelled_line_and_exits_with_the_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("--workdir is required")
    assert exit_info.value.code == 2 and capsys.readouterr().err == "error: --workdir is required\n"
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("stopped before a checkpoint", status=130, label="interrupted")
    assert exit_info.value.code == 130 and capsys.readouterr().err == "interrupted: stopped before a checkpoint\n"


def test_sigterm_while_a_training_command_starts_unwinds_to_one_line_and_130(capsys):
    """Before the loop's own handler is installed (data loading, compiling), SIGTERM must unwind like Ctrl-C, so the
    workdir lock and every `finally` run, not kill the process where it stands."""
    before = signal.getsignal(signal.SIGTERM)
    unwound = []
    with pytest.raises(SystemExit) as exit_info:
        with cli.training_exit():
            try:
                os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler before the next line
                unwound.append(False)
            finally:
                unwound.append(True)
    assert exit_info.value.code == 130 and unwound == [True]
    assert capsys.readouterr().err == "interrupted: stopped before a new checkpoint could be saved; rerun to resume\n"
    assert signal.getsignal(signal.SIGTERM) is before  # the caller's handler is back


def test_a_training_command_still_turns_user_errors_into_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        with cli.training_exit():
            raise errors.ConfigError("--epochs must be positive, got 0")
    assert exit_info.value.code == 2 and capsys.readouterr().err == "error: --epochs must be positive, got 0\n"


def _unraisable(err):  # the fields of what Python passes to sys.unraisablehook
    return types.SimpleNamespace(exc_type=type(err), exc_value=err, exc_traceback=err.__traceback__, err_msg=None,
                                 object=None)


def test_a_training_command_drops_only_closed_loop_callbacks_from_unraisable_errors(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(repr(u.exc_value)))
    closed = asyncio.new_event_loop()
    closed.close()

    def callback_into(loop):  # what tensorstore's completion callbacks do after a failed orbax write
        try:
            loop.call_soon_threadsafe(print)
        except RuntimeError as err:
            sys.unraisablehook(_unraisable(err))

    with cli.training_exit():
        callback_into(closed)
        other = RuntimeError("a callback's own bug")
        sys.unraisablehook(_unraisable(other))
    callback_into(closed)  # outside a training command: Python's usual report
    assert seen == ["RuntimeError(\"a callback's own bug\")", "RuntimeError('Event loop is closed')"]
