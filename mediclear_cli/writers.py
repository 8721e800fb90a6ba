"""Deterministic writers for the data files of a run: Parquet, JSON, and file hashes.

Same inputs and options → byte-identical files: rows are always explicitly ordered, Parquet is written
by pyarrow with fixed settings, JSON with sorted keys, LF endings and money as exact decimal strings.
An OSError while writing becomes `WriteError` (exit 74); the caller's run folder then removes the partial run.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mediclear_cli.errors import MediclearError, OutputError, WriteError
from mediclear_cli.schema import MONEY_ARROW

_PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": True}
BATCH_ROWS = 262_144


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


_NOT_PERMITTED = (errno.EACCES, errno.EPERM, errno.EROFS)


OUTPUT_BUFFER_BYTES = 1 << 20


def _open_raw(fd: int) -> Any:
    """The one place output files are opened for writing: each write() here is a write(2) — where a full
    disk or a failing device answers (the seam the I/O-fault tests wrap)."""
    return io.FileIO(fd, "wb")


def _open_fd(fd: int) -> Any:
    """An output handle: 1 MiB buffered, so the system is asked to write in large pieces (xlsxwriter and
    pyarrow write in many small ones: a small run made 374 writes, now one or two per file)."""
    return io.BufferedWriter(_open_raw(fd), buffer_size=OUTPUT_BUFFER_BYTES)


def output_error(path: Path, exc: BaseException) -> MediclearError:
    """The contract's error for a failed output: permission problems cannot create it (73), the rest are
    I/O errors (74: disk full, device errors)."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, OSError):
        cause = cause.__cause__ or cause.__context__
    code = cause.errno if isinstance(cause, OSError) else None
    reason = os.strerror(code) if code else str(exc)
    if code in _NOT_PERMITTED:
        return OutputError(f"{path}: cannot create ({reason})")
    return WriteError(f"{path}: cannot write ({reason})")


@contextmanager
def output_file(path: Path) -> Iterator[Any]:
    """Every output byte of a run goes through here: a new file, owner-only (0600) from its first byte
    whatever the umask, with any OSError turned into the contract's exit code."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise output_error(path, exc) from None
    handle = _open_fd(fd)
    try:
        yield handle
        handle.flush()
    except MediclearError:
        raise
    except Exception as exc:  # noqa: BLE001 - writers wrap OSError in their own types (xlsxwriter, pyarrow)
        if isinstance(exc, OSError) or isinstance(exc.__context__, OSError) or isinstance(exc.__cause__, OSError):
            raise output_error(path, exc) from None
        raise
    finally:
        try:
            handle.close()
        except OSError as exc:
            raise output_error(path, exc) from None


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_text(text: str, path: Path) -> None:
    with output_file(path) as handle:
        handle.write(text.encode("utf-8"))


def write_json(obj: Any, path: Path) -> None:
    write_text(to_json(obj), path)


def _ensure_money(schema: pa.Schema) -> pa.Schema:
    """Money stays DECIMAL(18,2) in every output, whatever precision a DuckDB sum widened it to."""
    fields = []
    for field in schema:
        if pa.types.is_decimal(field.type) and field.type.scale == 2:
            field = field.with_type(MONEY_ARROW)
        fields.append(field)
    return pa.schema(fields)


def write_parquet(table: pa.Table, path: Path) -> int:
    target = _ensure_money(table.schema)
    with output_file(path) as handle:
        pq.write_table(table.cast(target), handle, **_PARQUET_OPTIONS)
    return table.num_rows


def write_parquet_query(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """Stream an (ordered) query into one Parquet file without holding it all in memory."""
    rows = 0
    reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
    target = _ensure_money(reader.schema)
    with output_file(path) as handle, pq.ParquetWriter(handle, target, **_PARQUET_OPTIONS) as writer:
        for batch in reader:
            writer.write_batch(batch.cast(target))
            rows += batch.num_rows
    return rows


def copy_file(source: Path, path: Path) -> None:
    """A finished file (in the scratch folder) copied as an output."""
    import shutil

    with source.open("rb") as src, output_file(path) as handle:
        shutil.copyfileobj(src, handle, OUTPUT_BUFFER_BYTES)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"file": name or str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
