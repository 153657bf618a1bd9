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
import sys

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
