"""Errors that the command-line tools turn into one-line messages and exit codes.

Usage: ``raise BadInputError(f"{path}: not a video file")``

Exit codes follow docs/ARCHITECTURE.md: 0 ok, 1 runtime failure, 2 usage or bad input.
"""


class CartoonizeError(Exception):
    """A failure we can explain in one line. Exit code 1 (runtime failure)."""

    exit_code = 1


class BadInputError(CartoonizeError):
    """The user's input or request is wrong (missing file, not a video, bad option). Exit code 2."""

    exit_code = 2


class BackendUnavailableError(BadInputError):
    """An explicitly requested backend cannot run here; the message says what to install."""
