"""The one way jaxcnn's command-line entry points end: a user's mistake prints one line and exits non-zero.

    def main(argv=None) -> int:
        args = parser.parse_args(argv)
        with cli.user_errors_exit():
            ...library calls that may raise errors.UserError...
        return 0

Library code raises `errors.UserError` with a message that says what was wrong and what to do; only the
entry points (which own the terminal) turn it into `error: <message>` on stderr and its exit status (2, or
130 for an interrupted run), never a traceback.
"""

import contextlib
import logging
import signal
import sys
import threading
import traceback

from jaxcnn import errors


def fail(message: str, *, status: int = errors.UserError.exit_status, label: str = errors.UserError.label):
    """Print `label: message` on stderr and exit with `status` (raises SystemExit)."""
    print(f"{label}: {message}", file=sys.stderr)
    raise SystemExit(status)


@contextlib.contextmanager
def user_errors_exit():
    """Inside it, an `errors.UserError` becomes its one-line message and its exit status."""
    try:
        yield
    except errors.UserError as err:
        fail(str(err), status=err.exit_status, label=err.label)


class _ShortOrbaxErrors(logging.Filter):
    """Orbax logs the traceback of a failed background write before the main thread re-raises the error,
    which the command turns into its one line: keep orbax's record to a short line of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "orbax" in record.pathname and record.levelno >= logging.ERROR:
            record.msg, record.args = record.getMessage().splitlines()[0][:300], ()
            record.exc_info = record.exc_text = None
        return True


def _is_closed_loop_callback(unraisable) -> bool:
    """When an orbax write fails (a full disk), tensorstore still completes the write's other futures, and their
    callbacks reach asyncio loops orbax has already closed: tracebacks that say nothing the error does not."""
    return (isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed"
            and any(frame.f_code.co_name == "call_soon_threadsafe"
                    for frame, _ in traceback.walk_tb(unraisable.exc_traceback)))


@contextlib.contextmanager
def _library_noise_kept_short():
    """Inside it, orbax's error records are one line each and closed-loop callbacks print nothing."""
    absl_logger, short = logging.getLogger("absl"), _ShortOrbaxErrors()
    absl_logger.addFilter(short)
    previous_hook = sys.unraisablehook

    def hook(unraisable):
        if not _is_closed_loop_callback(unraisable):
            previous_hook(unraisable)
    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        absl_logger.removeFilter(short)


@contextlib.contextmanager
def training_exit():
    """`user_errors_exit` for a command that trains. SIGTERM counts as Ctrl-C until the training loop's own
    handler takes over (it saves a checkpoint first): a run stopped while it starts, or by a second signal, unwinds
    and ends with one line and exit status 130, its workdir lock released, instead of dying where it stood. A
    checkpoint write that fails ends with its one line too, not with the storage libraries' tracebacks."""
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        with user_errors_exit(), _library_noise_kept_short():
            yield
    except KeyboardInterrupt:  # checkpoints on disk are intact: the loop saves them whole or not at all
        fail("stopped before a new checkpoint could be saved; rerun to resume", status=130, label="interrupted")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
