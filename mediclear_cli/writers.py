"""Deterministic writers for the data files of a run: Parquet, JSON, and file hashes.

Same inputs and options → byte-identical files: rows are always explicitly ordered, Parquet is written
by pyarrow with fixed settings, JSON with sorted keys, LF endings and money as exact decimal strings.
An OSError while writing becomes `WriteError` (exit 74); the caller's run folder then removes the partial run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mediclear_cli.errors import WriteError

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


def to_json(obj: Any) -> str:
    return json.dumps(obj, default=_json_default, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_json(obj: Any, path: Path) -> None:
    try:
        path.write_text(to_json(obj), encoding="utf-8", newline="\n")
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror})") from None


def _ensure_money(schema: pa.Schema) -> pa.Schema:
    """Money stays DECIMAL(18,2) in every output, whatever precision a DuckDB sum widened it to."""
    fields = []
    for field in schema:
        if pa.types.is_decimal(field.type) and field.type.scale == 2:
            field = field.with_type(pa.decimal128(18, 2))
        fields.append(field)
    return pa.schema(fields)


def write_parquet(table: pa.Table, path: Path) -> int:
    try:
        target = _ensure_money(table.schema)
        pq.write_table(table.cast(target), path, **_PARQUET_OPTIONS)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return table.num_rows


def write_parquet_query(con: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """Stream an (ordered) query into one Parquet file without holding it all in memory."""
    rows = 0
    try:
        reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        target = _ensure_money(reader.schema)
        with pq.ParquetWriter(path, target, **_PARQUET_OPTIONS) as writer:
            for batch in reader:
                writer.write_batch(batch.cast(target))
                rows += batch.num_rows
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return rows


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"file": name or str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
