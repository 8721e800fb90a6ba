"""The DuckDB connection and the named SQL files it runs.

SQL lives in `sql/*.sql` (shipped inside the wheel as `mediclear_cli/sql`), one statement per file with a
header saying what it computes, what it binds and which invariant it keeps. Values are always bound as
`$name` parameters. Identifiers that come from inputs go through `quote_ident`; file paths through
`quote_literal` — the only two places text is spliced into SQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli.errors import OutputError, UsageError

# Settings a user may override through the environment (and later the config file).
DEFAULT_MEMORY_LIMIT = os.environ.get("MEDICLEAR_MEMORY_LIMIT", "")
# The memory limit of clear and reconcile when none is given (--memory-limit, mediclear.toml, the environment):
# a month larger than it is categorised in partitions (partitions_for), so the process stays under 2 GiB
# whatever the month's size — 10M rows per side peaked at 1.84 GB (issue 16; BENCHMARKS.md, session 7). Other
# commands keep DuckDB's default (80% of the machine's memory).
CLEARING_MEMORY_LIMIT = "1300MB"
DEFAULT_TEMP_DIR = os.environ.get("MEDICLEAR_TEMP_DIR", "")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (a column or table name), whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal (used for file paths in table functions)."""
    return "'" + text.replace("'", "''") + "'"


def _sql_dir() -> Any:
    packaged = resources.files("mediclear_cli").joinpath("sql")
    if packaged.is_dir():
        return packaged
    # A source checkout that was not installed: sql/ sits beside the package.
    return Path(__file__).resolve().parent.parent / "sql"


@lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """The text of `sql/<name>.sql`; `name` is the path below sql/ by stage (`recon/counts`,
    `clearing/net_positions`, `screen/readmission`; `macros` is shared)."""
    *folders, stem = name.split("/")
    text: str = _sql_dir().joinpath(*folders, f"{stem}.sql").read_text(encoding="utf-8")
    return text


BYTES_PER_ROW_IN_MEMORY = 1200  # measured: peak RSS of a clear ≈ 1.1 KB per input row (both sides counted)


_SCRATCH: dict[int, Path] = {}  # id(connection) -> its scratch folder, while the session is open


MIN_MEMORY_LIMIT = 64 * 2**20  # below this DuckDB cannot hold a run's working set: refused, not attempted


def check_memory_limit(memory_limit: str) -> None:
    """`--memory-limit` as DuckDB reads it (4GB, 1500MB, 2GiB), at least 64 MiB; anything else is a usage
    error (exit 2) naming what to write — never DuckDB's parser error, never a silent 'unlimited'."""
    if not memory_limit:
        return
    import re

    if not re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", memory_limit, re.IGNORECASE):
        raise UsageError(f"--memory-limit {memory_limit!r}: expected an amount with a unit, e.g. 4GB or 1500MB")
    if (_bytes(memory_limit) or 0) < MIN_MEMORY_LIMIT:
        raise UsageError(f"--memory-limit {memory_limit!r}: at least 64MB")


def _limit_bytes(memory_limit: str) -> int:
    """The memory limit in force for a session: the given one, else DuckDB's default (80% of RAM)."""
    given = _bytes(memory_limit) if memory_limit else None
    if given:
        return given
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * 0.8)
    except (ValueError, OSError):
        return 2**30


def fits_in_memory(rows: int | None, memory_limit: str = "") -> bool:
    """Whether a month of `rows` input rows can run in an in-memory database: its estimated footprint is at
    most half the memory limit. Unknown size: no."""
    if rows is None:
        return False
    return rows * BYTES_PER_ROW_IN_MEMORY <= _limit_bytes(memory_limit or DEFAULT_MEMORY_LIMIT) // 2


# What a partition of the month takes while it is categorised, per input row (both sides), of the memory limit.
# Measured under 1300MB (session 7): a 1M-row month (2.04M rows) categorised whole peaked at 1.46 GB with
# nothing spilled; 10M rows per side in 10 partitions at 1.84 GB, in 19 at 1.93 GB, as fast as each other.
PARTITION_BYTES_PER_ROW = 600


def partitions_for(con: duckdb.DuckDBPyConnection, rows: int | None) -> int:
    """How many partitions by setl_id a month of `rows` input rows (both sides) is categorised in (issue 16):
    enough that each takes at most the session's memory limit (PARTITION_BYTES_PER_ROW); 1 when the month
    does. $MEDICLEAR_PARTITIONS sets the count (tests run small months in many partitions this way)."""
    forced = os.environ.get("MEDICLEAR_PARTITIONS", "").strip()
    if forced:
        if not forced.isdigit() or int(forced) < 1:
            raise UsageError(f"MEDICLEAR_PARTITIONS={forced!r}: expected a whole number of partitions, 1 or more")
        return int(forced)
    limit = threads_and_limit(con)[1]
    if rows is None or not limit:
        return 1
    return max(1, -(-rows * PARTITION_BYTES_PER_ROW // limit))


@contextmanager
def session(memory_limit: str = "", temp_directory: str = "", threads: int = 0,
            in_memory: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private DuckDB database for one run, in a scratch folder removed afterwards.

    Two shapes, both bounded by `memory_limit` and spilling into the scratch folder:
    - `in_memory`: tables live in memory (DuckDB 2.0 can evict their blocks to temp_directory). Faster — no
      table is written to disk (1M rows per side: loading 2.3 s instead of 4.0 s a side) — and chosen when
      the month fits comfortably (`fits_in_memory`).
    - a database file: table blocks are evicted to it cleanly. Chosen for months near or above the limit: an
      in-memory run of 10M rows per side under 1 GB failed ("failed to pin block") where the file-backed run
      completed under 1.5 GB.
    The scratch folder lives under `temp_directory` (default: the system temp folder, never the caller's
    working directory — a cron job's cwd may be / or a read-only share) and is private to the user (0700).
    The folder is flock-ed while the run lives; every session first removes the folders of killed runs
    (`sweep_stale_scratch`), so a SIGKILL leaves no spill behind for longer than the next run.
    """
    check_memory_limit(memory_limit)
    base = temp_directory or DEFAULT_TEMP_DIR or tempfile.gettempdir()
    try:
        Path(base).mkdir(parents=True, exist_ok=True)
        sweep_stale_scratch(Path(base))
        # The pid is in the name from the start, so a run killed before it could take the folder's lock is
        # still recognisable as dead.
        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=base))
    except OSError as exc:
        raise OutputError(f"{base}: cannot make the scratch folder there ({exc.strerror}); give --temp-dir a "
                          "writable folder") from None
    lock = _hold_scratch_lock(scratch)
    con = None
    try:
        con = duckdb.connect(":memory:" if in_memory else str(scratch / "run.duckdb"))
        _SCRATCH[id(con)] = scratch
        limit = memory_limit or DEFAULT_MEMORY_LIMIT
        if limit:
            con.execute("SET memory_limit = $v", {"v": limit})
        con.execute("SET temp_directory = $v", {"v": str(scratch / "spill")})
        # Every output is explicitly ordered, so insertion order need not be kept; dropping it lets large
        # joins and aggregates stream and spill within the memory limit.
        con.execute("SET preserve_insertion_order = false")
        # DuckDB draws its own progress bar on stdout for long queries; stdout is data (--json). Progress is
        # console.py's to show, on stderr, and it turns the tracking on only while it watches.
        con.execute("SET enable_progress_bar = false")
        con.execute("SET enable_progress_bar_print = false")
        if not threads and limit:
            threads = threads_for_limit(con)
        if threads:
            con.execute("SET threads = $v", {"v": threads})
        yield con
    finally:
        if con is not None:
            _SCRATCH.pop(id(con), None)
            con.close()
        shutil.rmtree(scratch, ignore_errors=True)
        os.close(lock)


SCRATCH_PREFIX = "mediclear-"
SCRATCH_LOCK = "owner.lock"
LOCKLESS_STALE_AFTER_S = 24 * 3600


def _hold_scratch_lock(scratch: Path) -> int:
    """Lock the scratch folder for this process's lifetime. The kernel drops an flock when its process dies,
    so a folder whose lock can be taken belongs to a run that was killed."""
    import fcntl

    fd = os.open(scratch / SCRATCH_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def sweep_stale_scratch(base: Path) -> list[Path]:
    """Remove the scratch folders of runs that died without cleaning up (SIGKILL, power loss): a killed run
    on a 100M-row month leaves tens of GB behind, and the next cron run would find the disk full. A folder
    counts as stale when its lock can be taken (its owner is gone); lacking a lock file (killed between
    creating the folder and the lock), when the process named in it is gone, or — a folder without a pid in
    its name — when untouched for a day. Folders of live runs are never touched."""
    import fcntl
    import time

    removed: list[Path] = []
    try:
        candidates = [p for p in base.glob(SCRATCH_PREFIX + "*") if p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for folder in candidates:
        try:
            if folder.stat().st_uid != os.getuid():
                continue
            lock_path = folder / SCRATCH_LOCK
            if lock_path.exists():
                fd = os.open(lock_path, os.O_RDWR)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a live run
                    if _owner_gone(folder.name) is False:
                        continue  # its run is alive and about to take the lock (or its pid was reused)
                    shutil.rmtree(folder, ignore_errors=True)
                finally:
                    os.close(fd)
            else:
                gone = _owner_gone(folder.name)
                if gone is None:
                    gone = time.time() - folder.stat().st_mtime > LOCKLESS_STALE_AFTER_S
                if not gone:
                    continue
                shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except OSError:
            continue
    return removed


def _owner_gone(name: str) -> bool | None:
    """Whether the process whose pid a scratch folder's name holds has ended; None: no pid in the name."""
    pid = name[len(SCRATCH_PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (another user's, say)
    return False


MIB_PER_THREAD = 100


def threads_for_limit(con: duckdb.DuckDBPyConnection) -> int:
    """Under a tight memory limit, fewer threads: DuckDB's joins need room per thread, and with too little
    they fail instead of spilling. At least MIB_PER_THREAD MiB per thread; never more than DuckDB chose."""
    threads, limit = threads_and_limit(con)
    if limit is None:
        return 0
    return max(1, min(threads, limit // (MIB_PER_THREAD * 2**20)))


def threads_and_limit(con: duckdb.DuckDBPyConnection) -> tuple[int, int | None]:
    """The session's thread count and memory limit in bytes (None when DuckDB's text cannot be read)."""
    threads, limit_text = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchall()[0]
    return int(threads), _bytes(str(limit_text))


def _bytes(text: str) -> int | None:
    """'250.0 MiB' / '4GB' / '1.5 GiB' → bytes (DuckDB's own spellings)."""
    units = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    number = text.strip().rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ").strip()
    unit = text.strip()[len(number):].strip().lower()
    try:
        return int(float(number) * units[unit or "b"])
    except (ValueError, KeyError):
        return None


def scratch_dir(con: duckdb.DuckDBPyConnection) -> Path:
    """The run's private scratch folder (where DuckDB spills)."""
    return _SCRATCH[id(con)]


def scratch_if_any(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The scratch folder of a connection made by `session`; None for one made elsewhere (a library user's)."""
    return _SCRATCH.get(id(con))


def scratch_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """Bytes the run's scratch database and spill files take on disk now (what did not fit in memory)."""
    folder = _SCRATCH.get(id(con))
    if folder is None or not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def resource_report(con: duckdb.DuckDBPyConnection, scratch_max: int, partitions: int = 1,
                    engine_name: str = "duckdb") -> dict[str, Any]:
    """Resource figures for the manifest: the memory limit in force, peak RSS, the most scratch on disk, in
    how many partitions by setl_id DuckDB categorised the month (1: as a whole), and which engine did
    (duckdb, or spark: then DuckDB's figures are the driver's)."""
    import resource

    limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return {"memory_limit": limit, "database": "file" if path and path[0][0] else "memory",
            "peak_rss_bytes": int(peak_kib) * 1024,
            "scratch_bytes_max": max(scratch_max, scratch_bytes(con)), "partitions": partitions,
            "engine": engine_name}


def run(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run the named SQL file (a statement, or a query read with fetchall) with its parameters bound."""
    return con.execute(load_sql(name), params or None)


def query(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyRelation:
    """The named SQL file's query as a relation, for Arrow output without an extra copy."""
    return con.sql(load_sql(name), params=params or None)
