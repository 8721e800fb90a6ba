"""The auditors' diff: any two tables, compared on a (composite) key, explained row by row and cell by cell.

Everything runs in DuckDB over a scratch database, so inputs larger than memory work. Rows whose key repeats on
either side are never paired silently: every row of such a key is reported as `duplicate_key` with the count
on each side. Numbers are compared as exact decimals (DECIMAL(38,10)) with a tolerance per column; text as
text, optionally ignoring case and surrounding blanks. CSV inputs need an explicit encoding (GB18030 too):
they are read as text and transcoded to UTF-8 in the scratch folder, streaming.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import InputDataError, UsageError, engine_reason
from mediclear_cli.inputs import resolve_paths

NUMERIC_PREFIXES = ("DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                    "USMALLINT", "UTINYINT", "DOUBLE", "FLOAT", "REAL")
STATUSES = ("duplicate_key", "left_only", "right_only", "changed")
SAMPLE_ROWS = 20


@dataclass
class DiffOptions:
    keys: list[str]
    mapping: dict[str, str] = field(default_factory=dict)  # left column -> right column
    columns: list[str] | None = None  # left names to compare (default: every common column but the keys)
    tolerance: Decimal = Decimal(0)
    column_tolerance: dict[str, Decimal] = field(default_factory=dict)
    ignore_case: bool = False
    ignore_spaces: bool = False
    encoding: str | None = None  # for CSV inputs

    @staticmethod
    def parse_tolerances(values: list[str]) -> tuple[Decimal, dict[str, Decimal]]:
        overall, per_column = Decimal(0), {}
        for value in values:
            name, _, amount = value.rpartition("=")
            try:
                number = Decimal(amount)
            except InvalidOperation:
                raise UsageError(f"--tolerance {value!r}: expected X or COLUMN=X") from None
            if number < 0:
                raise UsageError(f"--tolerance {value!r}: must not be negative")
            if name:
                per_column[name] = number
            else:
                overall = number
        return overall, per_column

    @staticmethod
    def parse_mapping(values: list[str]) -> dict[str, str]:
        mapping = {}
        for value in values:
            left, sep, right = value.partition("=")
            if not sep or not left or not right:
                raise UsageError(f"--map {value!r}: expected left_column=right_column")
            mapping[left] = right
        return mapping


def _transcode(path: Path, encoding: str, target: Path) -> None:
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise UsageError(f"--encoding {encoding!r}: unknown encoding") from None
    try:
        with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as sink:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                sink.write(decoder.decode(chunk))
            sink.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise InputDataError(f"{path}: not valid {encoding} (byte {exc.start} of a chunk)") from None


def load_table(con: duckdb.DuckDBPyConnection, name: str, paths: list[str], encoding: str | None,
               scratch: Path) -> list[str]:
    """Read one side into table `name` with `_row` (1-based per file); returns its column names."""
    files = []
    for raw in paths:
        if raw.lower().endswith(".csv") and Path(raw).is_file():
            files.append(Path(raw))
        else:
            files.extend(resolve_paths([raw], name))
    csv = [f for f in files if f.suffix.lower() == ".csv"]
    parquet = [f for f in files if f.suffix.lower() != ".csv"]
    if csv and parquet:
        raise UsageError(f"{name}: mix of CSV and Parquet inputs; convert one side first")
    try:
        if csv:
            if not encoding:
                raise UsageError(f"{csv[0]}: CSV input needs --encoding (e.g. utf-8, gb18030)")
            readable = []
            for number, path in enumerate(csv):
                if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
                    readable.append(path)
                else:
                    target = scratch / f"{name}-{number}.csv"
                    _transcode(path, encoding, target)
                    readable.append(target)
            listing = "[" + ", ".join(quote_literal(str(p)) for p in readable) + "]"
            source = f"read_csv({listing}, header=true, all_varchar=true, union_by_name=true, filename='_file')"
            con.execute("SET preserve_insertion_order = true")  # row numbers follow the file's order
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS "  # noqa: S608 - quoted
                        f"SELECT *, row_number() OVER (PARTITION BY _file) AS _row FROM {source}")
            con.execute("SET preserve_insertion_order = false")
        else:
            listing = "[" + ", ".join(quote_literal(str(p)) for p in parquet) + "]"
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * EXCLUDE (file_row_number), "  # noqa: S608 - quoted
                        f"file_row_number + 1 AS _row FROM read_parquet({listing}, union_by_name=true, "
                        "file_row_number=true, filename='_file')")
    except (duckdb.OutOfMemoryException, duckdb.IOException):
        raise
    except duckdb.Error as exc:
        raise InputDataError(f"{files[0]}: cannot be read ({engine_reason(exc)})") from None
    return [r[0] for r in con.execute(f"DESCRIBE {quote_ident(name)}").fetchall()  # noqa: S608 - quoted
            if r[0] not in ("_row", "_file")]


@dataclass
class DiffResult:
    summary: dict[str, Any]
    rows_sql: str
    cells_sql: str


def _is_csv(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(f"SELECT any_value(_file) FROM {quote_ident(table)}").fetchall()  # noqa: S608 - quoted
    return bool(rows and rows[0][0] and str(rows[0][0]).lower().endswith(".csv"))


def plain(value: Any) -> Any:
    """A Decimal without trailing zeros and without exponent (0.4000000000 -> 0.4), for summaries."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return Decimal(text)
    return value


def _types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()}  # noqa: S608


def shown(expr: str, column: str, text: bool = True) -> str:
    """A value as the diff's outputs may show it (SECURITY.md: personal data masked in every output): an ID
    number, phone or address column like certno, a name column like psn_name, and in any other text a value
    that is a resident ID number (or holds one among other words)."""
    from mediclear_cli import schema

    lowered = column.lower()
    v = f"CAST({expr} AS VARCHAR)"
    if lowered == "psn_name" or schema.is_name_extra(column):
        return f"mask_name({v})"
    if lowered == "certno" or schema.is_personal_extra(column):
        return f"mask_id({v})"
    if not text:
        return expr
    return (f"CASE WHEN is_resident_id({v}) THEN mask_id({v}) WHEN regexp_full_match({v}, '[0-9]+') THEN {v} "
            f"ELSE mask_text({v}) END")


def diff(con: duckdb.DuckDBPyConnection, options: DiffOptions, left_cols: list[str], right_cols: list[str]) -> DiffResult:
    """Compare tables `left` and `right`; creates `diff_keys`, `diff_pairs`; returns the summary and output SQL."""
    right_name = {c: options.mapping.get(c, c) for c in left_cols}
    missing_keys = [k for k in options.keys if k not in left_cols or right_name[k] not in right_cols]
    if missing_keys:
        raise UsageError(f"--key {missing_keys[0]!r}: not a column of both sides (use --map left=right)")
    common = [c for c in left_cols if right_name[c] in right_cols and c not in options.keys]
    compared = options.columns if options.columns is not None else common
    unknown = [c for c in compared if c not in common]
    if unknown:
        raise UsageError(f"--columns {unknown[0]!r}: not a column of both sides")
    ltypes, rtypes = _types(con, "left"), _types(con, "right")
    csv_side = {"left": _is_csv(con, "left"), "right": _is_csv(con, "right")}

    def numeric(col: str) -> bool:
        """Both sides hold numbers; CSV text (read as text) counts when every value parses as a number.
        Text columns of typed inputs (codes like '011') stay text."""
        sides = (("left", col, ltypes[col]), ("right", right_name[col], rtypes[right_name[col]]))
        for table, name, typ in sides:
            if typ.startswith(NUMERIC_PREFIXES):
                continue
            if not (csv_side[table] and typ == "VARCHAR"):
                return False
            q = quote_ident(name)
            bad, filled = con.execute(
                f"SELECT count(*) FILTER ({q} IS NOT NULL AND TRY_CAST({q} AS DECIMAL(38,10)) IS NULL), "  # noqa: S608
                f"count({q}) FROM {quote_ident(table)}").fetchall()[0]
            if bad or not filled:
                return False
        return True

    kinds = {c: numeric(c) for c in compared}
    key_l = ", ".join(f"l.{quote_ident(k)}" for k in options.keys)
    join = " AND ".join(f"l.{quote_ident(k)} IS NOT DISTINCT FROM r.{quote_ident(right_name[k])}" for k in options.keys)
    lkeys = ", ".join(quote_ident(k) for k in options.keys)
    rkeys = ", ".join(f"{quote_ident(right_name[k])} AS {quote_ident(k)}" for k in options.keys)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE diff_keys AS WITH lc AS (SELECT {lkeys}, count(*) AS n FROM \"left\" GROUP BY ALL), "  # noqa: S608 - identifiers quoted
        f"rc AS (SELECT {rkeys}, count(*) AS n FROM \"right\" GROUP BY ALL) "
        f"SELECT {', '.join(f'coalesce(lc.{quote_ident(k)}, rc.{quote_ident(k)}) AS {quote_ident(k)}' for k in options.keys)}, "
        "coalesce(lc.n, 0) AS left_count, coalesce(rc.n, 0) AS right_count FROM lc FULL OUTER JOIN rc ON "
        + " AND ".join(f"lc.{quote_ident(k)} IS NOT DISTINCT FROM rc.{quote_ident(k)}" for k in options.keys)
    )

    def value(alias: str, col: str) -> str:
        q = f"{alias}.{quote_ident(col if alias == 'l' else right_name[col])}"
        if kinds[col]:
            return f"TRY_CAST({q} AS DECIMAL(38,10))"
        text = f"CAST({q} AS VARCHAR)"
        if options.ignore_spaces:
            text = f"trim({text})"
        if options.ignore_case:
            text = f"lower({text})"
        return text

    diffs = []
    for col in compared:
        lv, rv = value("l", col), value("r", col)
        if kinds[col]:
            tol = options.column_tolerance.get(col, options.tolerance)
            cond = (f"(({lv} IS NULL) <> ({rv} IS NULL) OR abs({lv} - {rv}) > "
                    f"CAST({quote_literal(str(tol))} AS DECIMAL(38,10)))")
        else:
            cond = f"({lv} IS DISTINCT FROM {rv})"
        diffs.append(f"CASE WHEN {cond} THEN {quote_literal(col)} END")
    changed = f"list_filter([{', '.join(diffs)}], lambda x: x IS NOT NULL)" if diffs else "[]::VARCHAR[]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE diff_pairs AS SELECT {key_l}, l._row AS left_row, "  # noqa: S608 - identifiers quoted
        f"{changed} AS changed_columns FROM \"left\" l JOIN \"right\" r ON {join} "
        "JOIN diff_keys k ON " + " AND ".join(f"k.{quote_ident(k)} IS NOT DISTINCT FROM l.{quote_ident(k)}" for k in options.keys)
        + " WHERE k.left_count = 1 AND k.right_count = 1"
    )
    def keys_equal(key_alias: str, alias: str, names: dict[str, str]) -> str:
        return " AND ".join(f"{key_alias}.{quote_ident(k)} IS NOT DISTINCT FROM {alias}.{quote_ident(names[k])}"
                            for k in options.keys)

    same = {k: k for k in options.keys}
    key_text = {k: ltypes[k] == "VARCHAR" for k in options.keys}
    keys_k = ", ".join(f"{shown(f'k.{quote_ident(k)}', k, key_text[k])} AS {quote_ident(k)}" for k in options.keys)
    keys_p = ", ".join(f"{shown(f'p.{quote_ident(k)}', k, key_text[k])} AS {quote_ident(k)}" for k in options.keys)
    on_l = keys_equal("k", "l", same)
    on_r = keys_equal("k", "r", right_name)
    order = ", ".join(quote_ident(k) for k in options.keys)
    rows_sql = (
        f"SELECT * FROM ("  # noqa: S608 - identifiers quoted
        f"SELECT 'duplicate_key' AS status, {keys_k}, 'left' AS side, l._file AS file, l._row AS row_number, k.left_count, "
        f"k.right_count, NULL::VARCHAR[] AS changed_columns FROM diff_keys k JOIN \"left\" l ON {on_l} "
        "WHERE k.left_count > 1 OR k.right_count > 1 "
        f"UNION ALL SELECT 'duplicate_key', {keys_k}, 'right', r._file, r._row, k.left_count, k.right_count, NULL "
        f"FROM diff_keys k JOIN \"right\" r ON {on_r} WHERE k.left_count > 1 OR k.right_count > 1 "
        f"UNION ALL SELECT 'left_only', {keys_k}, 'left', l._file, l._row, 1, 0, NULL FROM diff_keys k JOIN \"left\" l "
        f"ON {on_l} WHERE k.left_count = 1 AND k.right_count = 0 "
        f"UNION ALL SELECT 'right_only', {keys_k}, 'right', r._file, r._row, 0, 1, NULL FROM diff_keys k JOIN \"right\" r "
        f"ON {on_r} WHERE k.left_count = 0 AND k.right_count = 1 "
        f"UNION ALL SELECT 'changed', {keys_p}, 'both', NULL, p.left_row, 1, 1, "
        "p.changed_columns FROM diff_pairs p WHERE len(p.changed_columns) > 0"
        f") ORDER BY status, {order}, side, row_number"
    )
    cell_parts = []
    for col in compared:
        lv, rv = value("l", col), value("r", col)
        difference = f"CAST({rv} - {lv} AS DECIMAL(38,10))" if kinds[col] else "CAST(NULL AS DECIMAL(38,10))"
        cell_parts.append(
            f"SELECT {keys_p}, {quote_literal(col)} AS column_name, "  # noqa: S608 - identifiers quoted; column name as a quoted literal
            f"{shown(f'l.{quote_ident(col)}', col)} AS left_value, "
            f"{shown(f'r.{quote_ident(right_name[col])}', col)} AS right_value, {difference} AS difference "
            f"FROM diff_pairs p JOIN \"left\" l ON {keys_equal('p', 'l', same)} "
            f"JOIN \"right\" r ON {keys_equal('p', 'r', right_name)} "
            f"WHERE list_contains(p.changed_columns, {quote_literal(col)})"
        )
    cells_sql = (" UNION ALL ".join(cell_parts) + f" ORDER BY column_name, {order}") if cell_parts else (
        "SELECT NULL::VARCHAR AS column_name WHERE false")

    counts = dict(con.execute(f"SELECT status, count(*) FROM ({rows_sql}) GROUP BY status").fetchall())  # noqa: S608
    per_column = {}
    for col in compared:
        found = con.execute(
            f"SELECT count(*), sum(abs(difference)), max(abs(difference)), sum(difference) FROM ({cells_sql}) "  # noqa: S608
            f"WHERE column_name = {quote_literal(col)}").fetchall()[0]
        per_column[col] = {"kind": "number" if kinds[col] else "text", "rows_differ": int(found[0])}
        if kinds[col]:
            per_column[col] |= {"sum_difference": plain(found[3] or Decimal(0)),
                                "sum_abs_difference": plain(found[1] or Decimal(0)),
                                "max_abs_difference": plain(found[2] or Decimal(0)),
                                "tolerance": plain(options.column_tolerance.get(col, options.tolerance))}
    totals = {}
    for side, table, names in (("left", "left", {c: c for c in compared}),
                               ("right", "right", {c: right_name[c] for c in compared})):
        sums = [f"sum(TRY_CAST({quote_ident(names[c])} AS DECIMAL(38,10)))" for c in compared if kinds[c]]
        row = con.execute(f"SELECT count(*){''.join(', ' + s for s in sums)} FROM {quote_ident(table)}").fetchall()[0]  # noqa: S608
        totals[side] = {"rows": int(row[0]),
                        "sums": {c: plain(v) for c, v in zip([c for c in compared if kinds[c]], row[1:], strict=True)}}
    equal_pairs = con.execute("SELECT count(*) FROM diff_pairs WHERE len(changed_columns) = 0").fetchall()[0][0]
    summary = {
        "keys": options.keys, "mapping": options.mapping, "compared_columns": compared,
        "only_left_columns": [c for c in left_cols if right_name[c] not in right_cols],
        "only_right_columns": [c for c in right_cols if c not in right_name.values()],
        "rows": {s: int(counts.get(s, 0)) for s in STATUSES} | {"equal": int(equal_pairs)},
        "columns": per_column, "totals": totals,
        "identical": not any(counts.get(s, 0) for s in STATUSES),
    }
    return DiffResult(summary, rows_sql, cells_sql)


def samples(con: duckdb.DuckDBPyConnection, cells_sql: str, compared: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Up to SAMPLE_ROWS differing cells per column, for the reports."""
    out = {}
    for col in compared:
        table = con.sql(f"SELECT * FROM ({cells_sql}) WHERE column_name = {quote_literal(col)} "  # noqa: S608
                        f"LIMIT {SAMPLE_ROWS}").to_arrow_table()
        out[col] = table.to_pylist()
    return out
