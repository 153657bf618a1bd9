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
import signal
import sys
import threading

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


@contextlib.contextmanager
def training_exit():
    """`user_errors_exit` for a command that trains. SIGTERM counts as Ctrl-C until the training loop's own
    handler takes over (it saves a checkpoint first): a run stopped while it starts, or by a second signal, unwinds
    and ends with one line and exit status 130, its workdir lock released, instead of dying where it stood."""
    main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        with user_errors_exit():
            yield
    except KeyboardInterrupt:  # checkpoints on disk are intact: the loop saves them whole or not at all
        fail("stopped before a new checkpoint could be saved; rerun to resume", status=130, label="interrupted")
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
