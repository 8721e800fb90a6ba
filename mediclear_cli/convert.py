"""`mediclear convert`: inputs as they arrive (text, Excel, zip, Parquet) written as contract Parquet, one file
per table, for data centres that keep Parquet.

Promises: every row of every input is written, in the input's order, under the contract's column names
(extra columns keep theirs). Values are normalised as clearing reads them (codes folded and trimmed), money is
DECIMAL(18,2) and setl_time TIMESTAMP — except a column in which some value cannot be converted: that column
stays the text the file held, so nothing is lost and clearing the converted file rejects the same rows for
the same reason. Rows that clearing would reject are counted by reason. Files appear complete or not at all:
everything is written into a private folder beside --out and moved in only once all tables are written.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import OutputError, UsageError
from mediclear_cli.inputs import load_tables, resolve_paths
from mediclear_cli.sources import ReadOptions, Staged, stage

ROW_GROUP_ROWS = 1_000_000
DEFAULT_MEMORY_LIMIT = "1GB"  # a 10M-row text file converts within 2 GiB of process memory (BENCHMARKS.md)


def _target_name(table: Staged, taken: set[str]) -> str:
    """file.csv -> file.parquet; book.xlsx!Sheet1 -> book-Sheet1.parquet; a.zip!x/b.txt -> a-b.parquet."""
    base, _, member = table.origin.partition("!")
    stem = Path(base).name.split(".")[0]
    if member:
        stem += "-" + Path(member).name.split(".")[0]
    stem = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", "_", stem) or "input"
    name, number = f"{stem}.parquet", 1
    while name in taken:
        number += 1
        name = f"{stem}-{number}.parquet"
    taken.add(name)
    return name


def convert(paths: list[str], side: str, out: Path, read: ReadOptions, memory_limit: str = "",
            temp_directory: str = "", progress: Callable[..., None] | None = None) -> dict[str, Any]:
    if side not in schema.SIDES:
        raise UsageError(f"--side {side!r}: expected claims or ledger")
    read = read.checked().for_side(side)
    files = resolve_paths(paths, side)
    for path in files:
        if path.resolve().is_relative_to(out.resolve()):
            raise UsageError(f"{path}: an input inside the output folder {out}; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    report: dict[str, Any] = {"side": side, "out": str(out), "tables": []}
    try:
        with engine.session(memory_limit or DEFAULT_MEMORY_LIMIT, temp_directory) as con:
            # Rows stay in the file's order through the load, so they are written back without a sort (a sort
            # of 10M wide rows under the 1GB default spilled and took 100 s of a 169 s conversion).
            con.execute("SET preserve_insertion_order = true")
            engine.run(con, "macros")
            taken: set[str] = set()
            for path in files:
                if progress is not None:
                    progress(f"converting {path.name}")
                for table in stage([path], engine.scratch_dir(con), read):
                    name = _target_name(table, taken)
                    report["tables"].append(_convert_table(con, side, path, table, read, partial / name) | {"file": name})
        out.mkdir(parents=True, exist_ok=True)
        clashes = [t["file"] for t in report["tables"] if (out / t["file"]).exists()]
        if clashes:
            raise OutputError(f"{out / clashes[0]}: already exists; convert into an empty folder")
        for entry in report["tables"]:
            os.replace(partial / entry["file"], out / entry["file"])
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    report["rows"] = sum(t["rows"] for t in report["tables"])
    report["would_reject"] = sum(sum(t["would_reject"].values()) for t in report["tables"])
    return report


def _convert_table(con: Any, side: str, path: Path, table: Staged, read: ReadOptions, target: Path) -> dict[str, Any]:
    loaded = load_tables(con, side, [path], [table], read, None)
    mapping = loaded.source_names[table.origin]
    raw = f"read_parquet({quote_literal(str(table.path))}, file_row_number=true)"
    typed = [c for c in schema.COLUMNS if c.name in mapping and c.kind in (schema.Kind.MONEY, schema.Kind.TIME)]
    # One pass over the file's own values beside the converted ones: which typed columns lost a value.
    counts = [f"count(*) FILTER (WHERE nullif(trim(CAST(r.{quote_ident(mapping[c.name])} AS VARCHAR)), '') IS NOT NULL "
              f"AND s.{quote_ident(c.name)} IS NULL)" for c in typed]
    lost = con.execute(f"SELECT {', '.join(counts)} FROM {quote_ident(side)} s JOIN {raw} r "  # noqa: S608 - quoted
                       "ON s.source_row = r.file_row_number + 1").fetchall()[0] if typed else ()
    kept_as_text = [c.name for c, n in zip(typed, lost, strict=True) if n]
    select = []
    for column in schema.COLUMNS:
        if column.name not in mapping:
            continue
        if column.name in kept_as_text:
            select.append(f"CAST(r.{quote_ident(mapping[column.name])} AS VARCHAR) AS {quote_ident(column.name)}")
        else:
            select.append(f"s.{quote_ident(column.name)}")
    select += [f"s.{quote_ident(e)}" for e in loaded.extras]
    # the join (only for a column kept as text) does not keep the order: it sorts; the table alone is in order
    source = (f"{quote_ident(side)} s JOIN {raw} r ON s.source_row = r.file_row_number + 1 ORDER BY s.source_row"
              if kept_as_text else f"{quote_ident(side)} s")
    con.execute(
        f"COPY (SELECT {', '.join(select)} FROM {source}) "  # noqa: S608 - identifiers and path quoted
        f"TO {quote_literal(str(target))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
    reasons = dict(con.execute(f"SELECT reject_reason, count(*) FROM {quote_ident(side)} "  # noqa: S608 - quoted
                               "WHERE reject_reason IS NOT NULL GROUP BY ALL ORDER BY 1").fetchall())
    return {"table": table.origin, "rows": loaded.rows, "read_as": table.describe(),
            "kept_as_text": kept_as_text, "would_reject": reasons}
