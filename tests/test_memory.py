"""Memory (issue 7, part 9): a month larger than the DuckDB memory limit completes by spilling to the scratch
folder (configurable with --temp-dir), gives the same results as an unlimited run, and reports its peak."""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest

from mediclear_cli import engine
from mediclear_cli.periods import Period
from mediclear_cli.sample import generate

from conftest import cli

LIMIT_MIB = 250  # DuckDB needs some room per thread; below ~200 MiB its joins can fail instead of spilling


def test_a_month_larger_than_the_memory_limit_spills_and_completes(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    if free < 2 * 2**30:  # DuckDB caps its spill files at 90% of the free space; the test needs ~0.5 GiB
        pytest.skip(f"only {free / 2**20:.0f} MiB free under {tmp_path}: cannot test spilling to disk")
    month = tmp_path / "month"
    generate(month, rows=500_000, period=Period.parse("2026-10"), seed=11)
    args = ["--claims", month / "claims", "--ledger", month / "ledger", "--period", "2026-10", "--no-statements"]
    cli(["clear", *args, "--out", tmp_path / "free"], 1)
    result = cli(["clear", *args, "--out", tmp_path / "tight", "--memory-limit", f"{LIMIT_MIB}MiB",
                  "--temp-dir", tmp_path / "spill"], 1)
    assert "peak memory" in result.stderr and "scratch on disk" in result.stderr
    resources = json.loads((tmp_path / "tight" / "manifest.json").read_text(encoding="utf-8"))["resources"]
    assert resources["memory_limit"] == f"{LIMIT_MIB}.0 MiB"
    # the month did not fit: estimated in memory it is several times the limit, so it was categorised in
    # partitions (issue 16), one at a time in memory, and put data on disk
    rows = sum(pq.ParquetFile(p).metadata.num_rows for side in ("claims", "ledger")
               for p in (month / side).glob("*.parquet"))
    assert rows * engine.PARTITION_BYTES_PER_ROW > 2 * LIMIT_MIB * 2**20
    assert resources["partitions"] >= rows * engine.PARTITION_BYTES_PER_ROW // (LIMIT_MIB * 2**20)
    assert resources["database"] == "memory" and resources["scratch_bytes_max"] > 0
    assert resources["peak_rss_bytes"] > 0
    for name in ("net_positions.parquet", "pair_totals.parquet", "exceptions.parquet"):
        assert pq.read_table(tmp_path / "free" / name).equals(pq.read_table(tmp_path / "tight" / name)), name
    assert not any((tmp_path / "spill").iterdir())  # the scratch folder is removed after the run


def test_a_tight_memory_limit_runs_fewer_threads_so_joins_can_spill():
    with engine.session("250MiB") as con:
        con.execute("SET threads = 16")  # a machine that shows many cores
        assert engine.threads_for_limit(con) == 250 // engine.MIB_PER_THREAD
    with engine.session("80MiB") as con:
        assert engine.threads_for_limit(con) == 1
    with engine.session("20GB") as con:
        con.execute("SET threads = 3")
        assert engine.threads_for_limit(con) == 3  # never more than DuckDB chose
    assert engine._bytes("1.5 GiB") == 1536 * 2**20 and engine._bytes("4GB") == 4 * 10**9


def test_a_month_runs_in_memory_only_when_it_fits_comfortably():
    assert engine.fits_in_memory(10_000, "1GB")
    assert not engine.fits_in_memory(20_000_000, "1GB")  # 10M rows per side: a database file
    assert not engine.fits_in_memory(None, "64GB")  # unknown size: the safe shape
    with engine.session("1GB", in_memory=True) as con:
        assert engine.resource_report(con, 0)["database"] == "memory"
    with engine.session("1GB") as con:
        assert engine.resource_report(con, 0)["database"] == "file"


def test_scratch_of_a_killed_run_is_swept_and_a_live_one_is_kept(tmp_path):
    """A SIGKILLed run cannot remove its scratch folder (at 100M rows, tens of GB of spill); the next session
    removes it, also when the kill came before the folder's lock existed. The folder of a run still alive
    (its flock held, or its process running) is never touched."""
    import fcntl
    import os
    import subprocess
    import sys
    import time

    from mediclear_cli import engine

    dead = tmp_path / "mediclear-dead"
    (dead / "spill").mkdir(parents=True)
    (dead / engine.SCRATCH_LOCK).touch()
    (dead / "spill" / "block.tmp").write_bytes(b"x" * 1000)
    live = tmp_path / "mediclear-live"
    live.mkdir()
    fd = os.open(live / engine.SCRATCH_LOCK, os.O_CREAT | os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    young, old = tmp_path / "mediclear-young", tmp_path / "mediclear-old"
    young.mkdir()
    old.mkdir()
    past = time.time() - engine.LOCKLESS_STALE_AFTER_S - 60
    os.utime(old, (past, past))
    other = tmp_path / "not-ours"
    other.mkdir()
    # killed before it could create its lock: lockless, but the pid in its name has ended
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"mediclear-{int(ended.stdout)}-x1"
    orphan.mkdir()
    # starting right now: its own process is alive, its lock file exists but is not locked yet
    starting = tmp_path / f"mediclear-{os.getpid()}-x2"
    starting.mkdir()
    (starting / engine.SCRATCH_LOCK).touch()
    try:
        with engine.session(temp_directory=str(tmp_path)) as con:
            assert con.execute("SELECT 1").fetchall() == [(1,)]
            assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("mediclear-")
                          and p.name not in ("mediclear-live", "mediclear-young", starting.name)) != []  # its own
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["mediclear-live", "mediclear-young", starting.name, "not-ours"])
    finally:
        os.close(fd)
