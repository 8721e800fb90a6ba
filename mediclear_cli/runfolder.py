"""Atomic publication of a run folder: outputs appear complete or not at all.

A run is written into a private temporary sibling of `--out` (`.<name>.tmp-<pid>-<token>`, mode 0700,
files 0600). Only when every file is written and fsynced does `publish` put it in place: on Linux with
one `renameat2(RENAME_EXCHANGE)` that swaps the new folder with the old run in a single step, elsewhere with
two renames. Until then the previous run in `--out` stays whole; a killed run leaves only a temporary
sibling, which the next run removes once its owner process is gone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from mediclear_cli.errors import OutputError
from mediclear_cli.writers import output_error

RUN_MARKER = "manifest.json"  # a folder holding this file is a finished mediclear run
CLOSED_MARKER = "CLOSED"  # written by `close` into the run folder of a closed month; never replaced
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(out: Path) -> list[Path]:
    """Remove temporary siblings of `out` left by runs whose process is gone; return what was removed."""
    removed: list[Path] = []
    parent = out.parent
    if not parent.is_dir():
        return removed
    for prefix in (f".{out.name}.tmp-", f".{out.name}.old-"):
        for candidate in parent.glob(prefix + "*"):
            pid_text = candidate.name[len(prefix):].split("-", 1)[0]
            if pid_text.isdigit() and _pid_alive(int(pid_text)) and int(pid_text) != os.getpid():
                continue
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _make_parents(folder: Path) -> None:
    """Create missing parent folders never group- or world-writable (0750), whatever the umask."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o750)
        os.chmod(path, 0o750)


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the call is unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def finished_run(out: Path) -> dict[str, Any] | None:
    """What the finished run in `out` is — its command, period and run id, from its manifest — or None when
    `out` holds no finished run. Raises ValueError when the manifest cannot be read."""
    import json

    marker = out / RUN_MARKER
    if not marker.is_file():
        return None
    try:
        manifest = json.loads(marker.read_text(encoding="utf-8"))
        return {"command": manifest.get("command"), "period": (manifest.get("options") or {}).get("period"),
                "run_id": manifest.get("run_id")}
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(str(exc)) from None


def refuse_foreign_run(out: Path, command: str, period: str | None) -> None:
    """`--out` may replace a finished run only of the same command and period: never a closed month's
    statements with another month's, nor an auditor's diff with a clearing (exit 73)."""
    if (out / CLOSED_MARKER).is_file():
        raise OutputError(f"{out}: the run of a closed month (its statements were signed); it is never replaced "
                          "— choose another --out, or reopen the month (two people)")
    try:
        held = finished_run(out)
    except ValueError:
        raise OutputError(f"{out}: holds a run folder whose manifest.json cannot be read; refusing to replace "
                          "it (choose another --out)") from None
    if held is None:
        return
    held_command, held_period = held["command"], held["period"]
    if held_command != command or (period is not None and held_period != period):
        what = f"{held_command} run" + (f" of {held_period}" if held_period else "")
        mine = f"{command} run" + (f" of {period}" if period else "")
        raise OutputError(f"{out}: holds a {what}; refusing to replace it with a {mine} (choose another --out)")


class RunFolder:
    """Context manager: `with RunFolder(out) as run: write into run.path(...); run.publish()`.

    With `command` (and `period`), a finished run of another command or period in `out` is refused (73).
    An `out` that is a symbolic link is followed: the run replaces the folder it points to, and the link
    stays a link."""

    def __init__(self, out: Path, command: str | None = None, period: str | None = None) -> None:
        self.out = out.resolve() if out.is_symlink() else out
        self.command, self.period = command, period
        self.tmp: Path | None = None
        self.published = False
        self.outputs: dict[str, int | None] = {}  # every output written, with its rows where it has rows

    def wrote(self, name: str, rows: int | None = None) -> None:
        """Record an output written into the folder; the manifest lists exactly the recorded ones."""
        self.outputs[name] = rows

    def write_manifest(self, head: dict[str, Any], sign_key: bytes | None = None) -> dict[str, Any]:
        """manifest.json: `head` (tool, command, run id, options, inputs, control totals…) and every recorded
        output with its bytes, SHA-256 and rows; with a key, manifest.sig beside it. The one ending of every
        job: write, record, write_manifest, publish."""
        from mediclear_cli.verify import sign_run
        from mediclear_cli.writers import file_entry, write_json

        entries = []
        for name in sorted(self.outputs):
            entry = file_entry(self.path(name), name)
            if self.outputs[name] is not None:
                entry["rows"] = self.outputs[name]
            entries.append(entry)
        manifest = head | {"outputs": entries}
        write_json(manifest, self.path("manifest.json"))
        if sign_key is not None:
            sign_run(self.path(""), sign_key)
        return manifest

    def __enter__(self) -> RunFolder:
        out = self.out
        if self.command is not None:
            refuse_foreign_run(out, self.command, self.period)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not (out / RUN_MARKER).is_file():
            raise OutputError(f"{out}: folder is not empty and holds no mediclear run; refusing to replace it")
        try:
            _make_parents(out.parent)
            clean_stale(out)
            self.tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
            self.tmp.mkdir(mode=0o700)
            os.chmod(self.tmp, 0o700)  # whatever the umask
        except OSError as exc:
            raise output_error(out, exc) from None
        return self

    def path(self, name: str) -> Path:
        assert self.tmp is not None
        return self.tmp / name

    def publish(self) -> None:
        """fsync every file and the folder, then put the folder in place of `out` in one step."""
        assert self.tmp is not None
        out = self.out
        try:
            for folder, dirs, files in os.walk(self.tmp):
                for name in files:
                    os.chmod(os.path.join(folder, name), 0o600)
                    _fsync_path(Path(folder, name))
                for name in dirs:
                    os.chmod(os.path.join(folder, name), 0o700)
                _fsync_path(Path(folder), directory=True)
        except OSError as exc:
            raise output_error(out, exc) from None
        previous: Path | None = None
        try:
            if out.exists():
                if _exchange(self.tmp, out):
                    previous = self.tmp  # the swap left the previous run under the temporary name
                else:
                    previous = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
                    os.rename(out, previous)
                    os.rename(self.tmp, out)
            else:
                os.rename(self.tmp, out)
            self.tmp = None
            _fsync_path(out.parent, directory=True)
        except OSError as exc:
            self._roll_back(previous)
            raise output_error(out, exc) from None
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        self.published = True

    def _roll_back(self, previous: Path | None) -> None:
        """A failure after the new run became visible: put the previous run back (or take the new one away)."""
        out = self.out
        try:
            if self.tmp is not None and previous is not None and not out.exists():
                os.rename(previous, out)  # the two-rename fallback failed half-way: the old run goes back
            elif self.tmp is None and previous is not None:
                if not _exchange(previous, out):
                    failed = out.parent / f".{out.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
                    os.rename(out, failed)
                    os.rename(previous, out)
                    previous = failed
                shutil.rmtree(previous, ignore_errors=True)
            elif self.tmp is None and out.exists():
                shutil.rmtree(out, ignore_errors=True)  # there was no previous run: no partial one either
        except OSError:
            pass  # the next run's clean_stale removes what is left; the error is already being reported

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.tmp is not None and self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
