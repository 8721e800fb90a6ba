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
    INTERRUPTED = 130  # SIGINT (Ctrl-C): nothing published, recorded as interrupted
    TERMINATED = 143  # SIGTERM (timeout, systemd, kill): likewise


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


class WorkspaceBusy(MediclearError):
    """Another run holds the workspace lock: safe to retry later."""

    exit_code = ExitCode.TEMP_FAIL


class NotPermitted(MediclearError):
    """A closed period, or an action that needs a second person's approval."""

    exit_code = ExitCode.NO_PERM


class Interrupted(MediclearError):
    """The run was stopped by SIGINT or SIGTERM: it cleans up, publishes nothing and exits 130 / 143."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.exit_code = ExitCode.TERMINATED if signum == signal.SIGTERM else ExitCode.INTERRUPTED
        super().__init__(interruption(self.exit_code))


def interruption(code: ExitCode) -> str:
    """The one line an interrupted run ends with (on stderr, and in the workspace's record)."""
    return f"interrupted ({'SIGTERM' if code == ExitCode.TERMINATED else 'SIGINT'}); nothing was published"


# The signal that stopped this process, set by the CLI's handler. While it is set, whatever exception unwinds
# the run (DuckDB reports a query stopped by a signal as RuntimeError("Query interrupted")) is an interruption,
# not an internal error.
stopped_by: list[int] = []


def check_stopped() -> None:
    """Raise the interruption if a signal came and nothing has unwound the run for it yet. py4j swallows an
    exception raised while it sends a command to the JVM (it takes it for a network error and sends the
    command again), so a Ctrl-C that lands in a call to Spark is honoured here, after the call."""
    if stopped_by:
        raise Interrupted(stopped_by[0])


def exit_code_for(exc: BaseException) -> ExitCode:
    """The contract's exit code for any exception that ends a run: the one rule the CLI boundary and the
    workspace's record of a failed run share."""
    import duckdb

    if stopped_by or isinstance(exc, KeyboardInterrupt):
        import signal

        return ExitCode.TERMINATED if stopped_by and stopped_by[0] == signal.SIGTERM else ExitCode.INTERRUPTED
    if isinstance(exc, MediclearError):
        return exc.exit_code
    if isinstance(exc, (duckdb.IOException, OSError)):
        return ExitCode.IO
    return ExitCode.INTERNAL


def engine_reason(exc: BaseException) -> str:
    """The first line of a reader's or DuckDB's error, fit for a one-line message: quoted values are cut out
    (DuckDB's conversion errors quote the cell, which may be an ID number), so what remains says what went
    wrong, never with which value (SECURITY.md)."""
    import re

    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"\"[^\"]*\"|'[^']*'", "'…'", first)


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x20), 0x7F)} | {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
_INVISIBLE = {c: f"\\u{c:04x}" for c in (0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067,
                                          0x2068, 0x2069, 0x2028, 0x2029, 0x00AD, 0x200B, 0xFEFF)}


def one_line(message: str) -> str:
    """A message as the one line the contract promises: control characters (a newline in a file name) and
    bidirectional overrides escaped, and anything shaped like an ID number (15 to 18 digits, the last maybe
    X) masked but its last 4 — whatever a path or a value carried in."""
    import re

    text = message.translate(_CONTROL | _INVISIBLE)
    return re.sub(r"(?<![0-9A-Za-z])[0-9]{11,14}([0-9]{3}[0-9Xx]|[0-9]{4})(?![0-9A-Za-z])",
                  lambda m: "*" * (len(m.group(0)) - 4) + m.group(0)[-4:], text)
