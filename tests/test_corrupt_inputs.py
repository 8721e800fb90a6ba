"""Corrupt and hostile files (issue 7, part 1): every damaged input ends in exit 65 (66 for a missing path)
with one line naming the file, no traceback, and nothing written — never a crash or a partial run."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SAMPLE

GOOD_CLAIMS = SAMPLE / "claims" / "part-0001.parquet"
GOOD_LEDGER = SAMPLE / "ledger" / "part-0001.parquet"


def run_reconcile(tmp: Path, claims: Path, ledger: Path = GOOD_LEDGER) -> subprocess.CompletedProcess:
    """The real CLI in a subprocess: a reader that crashes the process would show here as a signal exit."""
    return subprocess.run(
        [sys.executable, "-m", "mediclear_cli", "reconcile", "--claims", str(claims), "--ledger", str(ledger),
         "--period", "2026-10", "--out", str(tmp / "out")],
        capture_output=True, text=True, timeout=120,
    )


def assert_rejected_cleanly(done: subprocess.CompletedProcess, tmp: Path, name: str, code: int = 65) -> None:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert name in lines[0]
    assert done.stdout == ""
    assert not (tmp / "out").exists()
    assert not any(p.name.startswith(".out.") for p in tmp.iterdir())


def damaged(tmp: Path, data: bytes, name: str = "bad.parquet") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def test_empty_file(tmp_path):
    assert_rejected_cleanly(run_reconcile(tmp_path, damaged(tmp_path, b"")), tmp_path, "bad.parquet")


def test_csv_renamed_parquet(tmp_path):
    data = b"setl_id,setl_time,medfee_sumamt\nA,2026-10-01 00:00:00,1.00\n"
    assert_rejected_cleanly(run_reconcile(tmp_path, damaged(tmp_path, data)), tmp_path, "bad.parquet")


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
def test_truncated_file(tmp_path, fraction):
    good = GOOD_CLAIMS.read_bytes()
    path = damaged(tmp_path, good[: int(len(good) * fraction)])
    assert_rejected_cleanly(run_reconcile(tmp_path, path), tmp_path, "bad.parquet")


@pytest.mark.parametrize("offset", [1, 4, 8, 12, 64, 200])
def test_damaged_footer(tmp_path, offset):
    good = bytearray(GOOD_CLAIMS.read_bytes())
    position = len(good) - offset - 8  # inside the footer metadata / its length field
    good[position] ^= 0xFF
    done = run_reconcile(tmp_path, damaged(tmp_path, bytes(good)))
    # a flipped footer byte either makes the file unreadable (65) or leaves it readable; never a crash
    if done.returncode != 65:
        assert done.returncode in (0, 1) and (tmp_path / "out" / "manifest.json").is_file(), done.stderr[-2000:]
    else:
        assert_rejected_cleanly(done, tmp_path, "bad.parquet")


@pytest.mark.parametrize("seed", range(12))
def test_seeded_byte_flips_never_crash(tmp_path, seed):
    rng = random.Random(seed)
    data = bytearray(GOOD_CLAIMS.read_bytes())
    for _ in range(8):
        data[rng.randrange(4, len(data) - 8)] ^= 1 << rng.randrange(8)
    done = run_reconcile(tmp_path, damaged(tmp_path, bytes(data)))
    assert done.returncode in (0, 1, 65), (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    if done.returncode == 65:
        assert_rejected_cleanly(done, tmp_path, "bad.parquet")
    else:  # the damage landed in values: the run completed and accounts for every row it read
        assert (tmp_path / "out" / "manifest.json").is_file()


def test_directory_with_one_bad_file_among_good_ones(tmp_path):
    folder = tmp_path / "claims"
    folder.mkdir()
    shutil.copy(GOOD_CLAIMS, folder / "a.parquet")
    (folder / "b.parquet").write_bytes(b"PAR1 not really")
    shutil.copy(GOOD_CLAIMS, folder / "c.parquet")
    assert_rejected_cleanly(run_reconcile(tmp_path, folder), tmp_path, "b.parquet")


def test_missing_path_exits_66(tmp_path):
    assert_rejected_cleanly(run_reconcile(tmp_path, tmp_path / "gone.parquet"), tmp_path, "gone.parquet", 66)
