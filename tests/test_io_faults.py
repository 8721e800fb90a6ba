"""I/O faults (issue 7, part 5): make the k-th output write, fsync or rename fail — for every k of a small
run, with ENOSPC, EIO and EACCES — and check the run ends with the documented exit code (73 for a permission
problem, 74 for any other I/O error), leaves the previous run in --out untouched, and leaves no temporary
folder behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from test_clearing import HAND_MONTH

from mediclear_cli import runfolder, writers
from mediclear_cli.errors import MediclearError
from mediclear_cli.jobs import JobSpec, run_clear

from conftest import write_rows

pytestmark = pytest.mark.slow  # every fault at every point: tens of seconds

CODES = {errno.ENOSPC: 74, errno.EIO: 74, errno.EACCES: 73}
# Every fault point fails once, with the errors taken in turn; MEDICLEAR_LONG_TESTS=1 tries every error at
# every point (three times as long).
LONG = bool(os.environ.get("MEDICLEAR_LONG_TESTS"))


class Faults:
    """Counts fault points of one kind and raises `err` at the `fail_at`-th one (never when fail_at is 0)."""

    def __init__(self, fail_at: int = 0, err: int = errno.EIO) -> None:
        self.fail_at, self.err, self.seen = fail_at, err, 0

    def point(self) -> None:
        self.seen += 1
        if self.seen == self.fail_at:
            raise OSError(self.err, os.strerror(self.err))


class _Handle:
    def __init__(self, real, faults: Faults) -> None:
        self._real, self._faults = real, faults

    def write(self, data):
        self._faults.point()
        return self._real.write(data)

    def __getattr__(self, name):
        return getattr(self._real, name)


def install(monkeypatch, kind: str, faults: Faults) -> None:
    if kind == "write":  # every write(2) of an output (under the 1 MiB buffer, where the system answers)
        real_open = writers._open_raw
        monkeypatch.setattr(writers, "_open_raw", lambda fd: _Handle(real_open(fd), faults))
    elif kind == "fsync":
        real_fsync = runfolder._fsync_path

        def fsync(path, directory=False):
            faults.point()
            return real_fsync(path, directory)

        monkeypatch.setattr(runfolder, "_fsync_path", fsync)
    elif kind == "rename":
        real_exchange, real_rename = runfolder._exchange, os.rename

        def exchange(a, b):
            faults.point()
            return real_exchange(a, b)

        def rename(a, b):
            faults.point()
            return real_rename(a, b)

        monkeypatch.setattr(runfolder, "_exchange", exchange)
        monkeypatch.setattr(runfolder.os, "rename", rename)
    elif kind == "rename_without_exchange":  # a system without renameat2: the two-rename path
        real_rename = os.rename

        def rename_only(a, b):
            faults.point()
            return real_rename(a, b)

        monkeypatch.setattr(runfolder, "_exchange", lambda a, b: False)
        monkeypatch.setattr(runfolder.os, "rename", rename_only)


@pytest.fixture
def month(tmp_path):
    claims = write_rows(tmp_path / "in" / "c.parquet", HAND_MONTH)
    ledger = write_rows(tmp_path / "in" / "l.parquet", HAND_MONTH + [dict(HAND_MONTH[0], setl_id="HELD")])
    return claims, ledger


def spec(month, out: Path, tolerance: str = "0.00") -> JobSpec:
    return JobSpec([str(month[0])], [str(month[1])], "2026-10", out, tolerance=tolerance)


def snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # xlsxwriter's zip, left open
@pytest.mark.parametrize("kind", ["write", "fsync", "rename", "rename_without_exchange"])
def test_every_fault_point_keeps_the_previous_run(tmp_path, month, monkeypatch, kind):
    out = tmp_path / "runs" / "2026-10"
    run_clear(spec(month, out))
    before = snapshot(out)
    counter = Faults()
    with monkeypatch.context() as patch:
        install(patch, kind, counter)
        run_clear(spec(month, out, tolerance="0.01"))  # a fault-free run, to count the fault points
    total = counter.seen
    assert total > 0
    run_clear(spec(month, out))  # back to the first run's outputs
    before = snapshot(out)
    cases = 0
    errors = list(CODES.items())
    for k in range(1, total + 1):
        for err, code in errors if LONG else [errors[k % len(errors)]]:
            with monkeypatch.context() as patch:
                install(patch, kind, Faults(k, err))
                with pytest.raises(MediclearError) as failure:
                    run_clear(spec(month, out, tolerance="0.01"))
            assert int(failure.value.exit_code) == code, (kind, k, err, str(failure.value))
            assert snapshot(out) == before, (kind, k, err)
            assert sorted(p.name for p in out.parent.iterdir()) == ["2026-10"], (kind, k, err)
            cases += 1
    assert cases == (3 if LONG else 1) * total
    print(f"{kind}: {total} fault points, {cases} cases")
