"""User-facing errors: raised by the library, printed as one line by the entry points.

Anything a user can fix (a bad name, a bad number, missing data) raises a subclass of `UserError`
whose message says what was wrong and what to do. Entry points catch `UserError`, print the message
on one line and exit non-zero, so a user never has to read a traceback to fix their command.
"""


class UserError(Exception):
    """Base class for mistakes the user can fix; the message is shown as-is, on one line, after `label`, and
    the command exits with `exit_status` (`jaxcnn.cli`)."""

    label = "error"
    exit_status = 2


class ConfigError(UserError, ValueError):
    """A flag or config value is invalid (unknown name, non-positive number, ...)."""


class ChannelOrderError(UserError, ValueError):
    """An input looks channels-first (NCHW) where jaxcnn expects channels-last (NHWC)."""


class ShapeError(UserError, ValueError):
    """An input is too small or otherwise the wrong shape for a network."""


class DatasetUnavailableError(UserError, RuntimeError):
    """A dataset is neither prepared locally nor downloadable from here."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint in the workdir cannot be used to resume this run."""


def unknown_name_error(kind: str, name: str, choices) -> ConfigError:
    """The standard message for an unknown model / dataset / optimizer / ... name."""
    return ConfigError(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
