"""Exit codes of the contract (§6) and the one exception tree that carries them.

Only the CLI layer catches `MediclearError`; it prints `str(error)` as one line on stderr and exits with
`error.exit_code`. Messages name the file, and where it applies the row and column, but never a person's data.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done; nothing held / no difference
    HELD = 1  # done; exceptions held or differences found; outputs complete
    USAGE = 2  # usage error
    DATA = 65  # input data unusable (unreadable file, missing required column); nothing written
    NO_INPUT = 66  # input not found
    INTERNAL = 70  # an internal check failed (e.g. conservation); nothing written
    CANT_CREATE = 73  # output cannot be created
    IO = 74  # I/O error while writing
    TEMP_FAIL = 75  # another run holds the workspace lock; safe to retry
    NO_PERM = 77  # not permitted (closed period, missing second approver)
    CONFIG = 78  # configuration error


class MediclearError(Exception):
    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(MediclearError):
    exit_code = ExitCode.USAGE


class InputDataError(MediclearError):
    """A whole input is unusable: unreadable, or lacks a column its side needs."""

    exit_code = ExitCode.DATA


class InputNotFound(MediclearError):
    exit_code = ExitCode.NO_INPUT


class CheckFailed(MediclearError):
    """An invariant (conservation, row accounting) did not hold; nothing was written."""

    exit_code = ExitCode.INTERNAL


class OutputError(MediclearError):
    exit_code = ExitCode.CANT_CREATE


class WriteError(MediclearError):
    exit_code = ExitCode.IO


class VerifyMismatch(MediclearError):
    """`verify` found a file or control total that differs from the manifest."""

    exit_code = ExitCode.DATA


class ConfigError(MediclearError):
    exit_code = ExitCode.CONFIG
