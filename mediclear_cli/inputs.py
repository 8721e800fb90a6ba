"""Find input files, read them into DuckDB under the contract's names and types, and mark bad rows.

Promise: every row of every input file lands in the side's table exactly once, with `source_file` and
`source_row` (1-based, as a spreadsheet counts data rows) and either no reject reason or the first reason
of contract §2 that applies. Money is converted exactly to DECIMAL(18,2) or the row is rejected; codes are
normalised (full-width forms → ASCII, ideographic and non-breaking spaces, trimmed) before validation and
matching. A file that cannot be read, or lacks a column its side needs, fails the whole run (exit 65).
"""

from __future__ import annotations

import glob
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mediclear_cli import schema
from mediclear_cli.engine import quote_ident, quote_literal, scratch_if_any
from mediclear_cli.errors import CheckFailed, InputDataError, InputNotFound, UsageError, engine_reason
from mediclear_cli.masking import masked
from mediclear_cli.remote import is_remote
from mediclear_cli.schema import BY_NAME, FUND_BREAKDOWN, Kind
from mediclear_cli.sources import (
    IN_PLACE,
    ReadOptions,
    Staged,
    Tally,
    is_input_name,
    is_parquet,
    origin_of,
    sha256_of,
    stage,
)

# NFKC as it matters for codes and ids: the full-width ASCII block U+FF01–U+FF5E folds onto U+0021–U+007E,
# the ideographic space (U+3000) and no-break space (U+00A0) onto a plain space; then surrounding blanks go.
# Zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM) have no counterpart in the target and are deleted:
# invisible in a spreadsheet, they would otherwise make two equal ids silently differ.
# Also deleted: bidirectional marks and overrides (LRM, RLM, LRE…RLO, isolates), the soft hyphen, the line and
# paragraph separators — all invisible in a spreadsheet — and NUL, RS and US (chr(0), chr(30), chr(31),
# appended in SQL): control characters no extract means, and normalised text never holds them (they once
# separated the columns of a fingerprint; kept so that a value normalises as it always has).
_FULLWIDTH = ("".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000\u00a0" + "\u200b\u200c\u200d\u2060\ufeff"
              + "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u00ad\u2028\u2029")
_ASCII = "".join(chr(c) for c in range(0x21, 0x7F)) + "  "
_BLANKS = " \t\r\n\u3000\u00a0"
TIME_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S"]
# A float is accepted as money only when it sits within a thousandth of a cent of the cent grid.
_FLOAT_CENT_SLACK = "0.001"
INTERNAL_COLUMNS = ("source_file", "source_row", "reject_reason", "reject_column")
# Names the pipeline adds to a row later (recon_rows, exceptions): an input column with one of them is carried
# as extra_<name>, so it can never be confused with, or collide with, what mediclear computed.
DERIVED_COLUMNS = ("side", "category", "reason", "detail", "stmt_rslt", "diff_columns", "diff_text", "claims_rows",
                   "ledger_rows", "clr_amt", "file_row_number", "held_since")


def normalise_text_sql(expr: str, fold: bool = True) -> str:
    """SQL turning any value into normalised text; empty becomes NULL.

    Most values are already normal, and proving that is cheaper than normalising: a value whose first and
    last characters are printable and not blank needs no trim, and one that is pure ASCII (byte length ==
    character length) needs no folding — it is returned as it is. Only the others take the slow path:
    DuckDB's translate() with a 96-character map (~3 s per million strings) and a trim of every blank.
    Measured on 1M rows x 14 text columns: 1.7 s -> 0.6 s. `fold=False` (names) trims without folding.
    """
    text = f"CAST({expr} AS VARCHAR)"
    # The last character's code point by index, which gives the same code point as ascii(right(x, 1)) at a
    # third of the cost: loading a 10M-row side took 15.0 -> 13.5 s on 2 threads (BENCHMARKS.md, session 10).
    first, last = f"ascii({text})", f"ascii(({text})[-1])"
    if not fold:
        # Names are rarely ASCII; their blanks include U+00A0 and U+3000, which lie above 32.
        clean = f"{first} > 32 AND {last} > 32 AND {first} NOT IN (160, 12288) AND {last} NOT IN (160, 12288)"
        return f"CASE WHEN {clean} THEN {text} ELSE NULLIF(trim({text}, {quote_literal(_BLANKS)}), '') END"
    folded = f"translate({text}, {quote_literal(_FULLWIDTH)} || chr(0) || chr(30) || chr(31), {quote_literal(_ASCII)})"
    ascii_blanks = quote_literal(" \t\r\n")
    # Pure ASCII (then every character is below 128), neither end at or below a space, and no NUL, RS or US
    # inside (memchr each: NUL pads fixed-width exports).
    plain = (f"strlen({text}) = length({text}) AND NOT contains({text}, chr(0)) AND NOT contains({text}, chr(30)) "
             f"AND NOT contains({text}, chr(31))")
    clean = f"{plain} AND {first} > 32 AND {last} > 32"
    return (
        f"CASE WHEN {clean} THEN {text} "
        f"WHEN {plain} THEN NULLIF(trim({text}, {ascii_blanks}), '') "
        f"ELSE NULLIF(trim({folded}, {quote_literal(_BLANKS)}), '') END"
    )


@dataclass
class SideInput:
    """One side's input as loaded: its DuckDB table and what its files held."""

    side: str
    table: str
    files: list[Path]
    present: set[str] = field(default_factory=set)  # canonical columns found in at least one file
    extras: list[str] = field(default_factory=list)  # carried columns outside the contract
    rows: int = 0
    footer_rows: int = 0  # what the files' Parquet footers declare, to check `rows` against
    # per file (as source_file holds it): contract name -> the file's own column name, so messages name the
    # column the user sees (`insu_admdvs`, not `insuplc_admdvs`)
    source_names: dict[str, dict[str, str]] = field(default_factory=dict)
    tables: list[Staged] = field(default_factory=list)  # what was read: each file, or each member of a zip/workbook


def resolve_paths(paths: list[str], what: str) -> list[Path]:
    """Expand files, directories (every input file below: Parquet, text, Excel, .zip and .gz; hidden files and
    Excel's ~$ lock files left out) and globs; sorted, de-duplicated."""
    found: list[Path] = []
    for raw in paths:
        if is_remote(raw):
            raise UsageError(f"{raw}: a path this machine does not read; hdfs://, s3a:// and other Spark paths are "
                             "read by clear, reconcile (--claims, --ledger) and diff with --engine spark")
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            below = sorted(p for p in path.rglob("*") if p.is_file() and is_input_name(p.name))
            if not below:
                raise InputNotFound(f"{raw}: no input files (Parquet, CSV, TXT, xlsx, zip) under this {what} directory")
            found.extend(below)
        elif any(ch in raw for ch in "*?["):
            matched = sorted(Path(p) for p in glob.glob(raw, recursive=True) if Path(p).is_file())
            if not matched:
                raise InputNotFound(f"{raw}: the {what} pattern matches no file")
            found.extend(matched)
        else:
            raise InputNotFound(f"{raw}: {what} input not found")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return list(unique)


def footer_rows(*sides: tuple[str, list[str]]) -> int | None:
    """The rows the inputs' Parquet footers declare (all sides; a text or Excel file's rows guessed from its
    size), to size the run's database; None when a file cannot be resolved or read here (the real read reports
    problems properly)."""
    from mediclear_cli.sources import estimated_rows

    try:
        paths = [p for what, given in sides for p in resolve_paths(given, what)]
        return sum(pq.ParquetFile(p).metadata.num_rows if is_parquet(p, ReadOptions()) else estimated_rows(p)
                   for p in paths)
    except Exception:  # noqa: BLE001 - only a hint; any problem is reported by the real read
        return None


def refuse_shared_inputs(claims: list[Path], ledger: list[Path]) -> None:
    """Contract §1: no file may be an input of both sides — by real path, or by identical content (a copy).
    A month reconciled against itself matches every row and clears money that was never owed (exit 2).
    Only files of equal size are hashed, so the check costs nothing in the usual case."""
    both = set(claims) & set(ledger)
    if both:
        shared = origin_of(sorted(both)[0])
        raise UsageError(f"{shared}: given as both a claims and a ledger input (one file cannot be both sides); "
                         "check --claims and --ledger")
    by_size: dict[int, list[Path]] = {}
    for path in ledger:
        by_size.setdefault(path.stat().st_size, []).append(path)

    ledger_digests: dict[Path, str] = {}
    for path in claims:
        same_size = by_size.get(path.stat().st_size, [])
        if not same_size:
            continue
        digest = sha256_of(path)  # once per file: a remote one's bytes stream through Spark's client
        for other in same_size:
            if other not in ledger_digests:
                ledger_digests[other] = sha256_of(other)  # where the bytes lie, if left in place
            if digest == ledger_digests[other]:
                raise UsageError(f"{origin_of(path)}: has the same content as ledger input {origin_of(other)} (one extract cannot be "
                                 "both sides); check --claims and --ledger")


def _read_footer(path: Path, origin: str | None = None) -> tuple[pa.Schema, pq.FileMetaData]:
    """A file's schema and footer metadata (rows, row groups), read once; unreadable: exit 65."""
    try:
        with pq.ParquetFile(path) as parquet:
            return parquet.schema_arrow, parquet.metadata
    except (OSError, pa.ArrowException, ValueError) as exc:
        first = engine_reason(exc)
        raise InputDataError(f"{origin or path}: cannot be read as Parquet ({first}); text and Excel inputs are "
                             "read by their extension (.csv, .txt, .tsv, .xlsx, .zip, .gz) or --format") from None


def read_schema(path: Path) -> pa.Schema:
    return _read_footer(path)[0]


def map_columns(path: Path | str, names: list[str], maps: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """canonical name -> source column name: first what --map says, then case-insensitively through the
    contract's names, their aliases and their Chinese headers (schema.Column.header_names)."""
    lowered: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key in lowered:
            raise InputDataError(f"{path}: columns {lowered[key]!r} and {name!r} differ only in case")
        lowered[key] = name
    mapping: dict[str, str] = {}
    for source, target in maps:
        if source.strip().lower() in lowered:
            mapping[target] = lowered[source.strip().lower()]
    taken = set(mapping.values())
    for col in schema.COLUMNS:
        if col.name in mapping:
            continue
        for candidate in col.header_names:
            found = lowered.get(candidate.lower())
            if found is not None and found not in taken:
                mapping[col.name] = found
                break
    return mapping


def money_sql(src: str, typ: pa.DataType, path: Path | str) -> str:
    q = quote_ident(src)
    if pa.types.is_decimal(typ):
        if typ.scale <= 2 and typ.precision - typ.scale <= 16:
            return f"CAST({q} AS {schema.MONEY_SQL})"
        return f"CASE WHEN {q} = round({q}, 2) THEN TRY_CAST({q} AS {schema.MONEY_SQL}) END"
    if pa.types.is_integer(typ):
        return f"TRY_CAST({q} AS {schema.MONEY_SQL})"
    if pa.types.is_floating(typ):
        # In double precision whatever the column's width: a float32 half cent (1234567.875) multiplied by 100
        # in float32 lands on the cent grid and would pass.
        d = f"CAST({q} AS DOUBLE)"
        return (
            f"CASE WHEN isfinite({d}) AND abs({d} * 100 - round({d} * 100)) < {_FLOAT_CENT_SLACK} "
            f"THEN TRY_CAST(round({d}, 2) AS {schema.MONEY_SQL}) END"
        )
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
        text = normalise_text_sql(q)
        return (f"CASE WHEN regexp_full_match({text}, {quote_literal(schema.MONEY_TEXT_PATTERN)}) "
                f"THEN TRY_CAST(CAST({text} AS DECIMAL(38,18)) AS {schema.MONEY_SQL}) END")
    raise InputDataError(f"{path}: column {src!r} has type {typ}, which cannot hold money")


def _time_sql(src: str, typ: pa.DataType, path: Path | str) -> str:
    q = quote_ident(src)
    if pa.types.is_timestamp(typ):
        if typ.tz is not None:
            # An instant with a zone: settlement months are cut in China's local time.
            return f"CAST(timezone('Asia/Shanghai', {q}) AS TIMESTAMP)"
        return f"CAST({q} AS TIMESTAMP)"
    if pa.types.is_date(typ):
        return f"CAST({q} AS TIMESTAMP)"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ) or pa.types.is_integer(typ):
        formats = "[" + ", ".join(quote_literal(f) for f in TIME_FORMATS) + "]"
        text = normalise_text_sql(q)
        # The first format alone is 4x cheaper than the list; the list is tried only where it fails.
        return f"coalesce(try_strptime({text}, {quote_literal(TIME_FORMATS[0])}), try_strptime({text}, {formats}))"
    raise InputDataError(f"{path}: column {src!r} has type {typ}, which cannot hold a settlement time")


def _present_sql(src: str, typ: pa.DataType) -> str:
    """Whether the source value is there at all (so a NULL typed value can be told bad from missing)."""
    q = quote_ident(src)
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
        return f"({normalise_text_sql(q)} IS NOT NULL)"
    return f"({q} IS NOT NULL)"


# Thousands of files with distinct extra columns would make a table thousands of columns wide, and DuckDB's
# cost grows with width times files (1,000 such files: 86 s and 8 GB). Above this many distinct extra
# columns in a side, they are carried as one JSON text column instead (1,000 files: under 2 s).
PACK_EXTRAS_ABOVE = 200
PACKED_EXTRAS = "extra_columns"
GROUPS_PER_STATEMENT = 25
_READER_COLUMNS = {"source_file", "file_row_number"}  # the columns read_parquet adds for every row


def _read_renamed(files: list[Staged]) -> pa.Table:
    """Files whose columns collide with the reader's own, as one Arrow table: the colliding columns renamed
    extra_<name>, then the reader's source_file and file_row_number (0-based) appended."""
    tables = []
    for staged in files:
        try:
            table = pq.read_table(staged.path)
        except (OSError, pa.ArrowException) as exc:
            raise InputDataError(f"{staged.origin}: cannot be read as Parquet ({engine_reason(exc)})") from None
        table = table.rename_columns([f"extra_{n}" if n.lower() in _READER_COLUMNS else n for n in table.column_names])
        table = table.append_column("source_file", pa.array([staged.origin] * table.num_rows, pa.string()))
        table = table.append_column("file_row_number", pa.array(range(table.num_rows), pa.int64()))
        tables.append(table.select(sorted(table.column_names)))  # a group's files may order columns differently
    return pa.concat_tables(tables)


def _parquet_source(files: list[Staged]) -> str:
    file_list = "[" + ", ".join(quote_literal(str(s.path)) for s in files) + "]"
    return f"read_parquet({file_list}, filename='source_file', file_row_number=true)"


def _origin_sql(files: list[Staged], source: str | None) -> str:
    """source_file as the user knows it: the input's own path (or archive!member), not its staged copy."""
    staged = [s for s in files if str(s.path) != s.origin]
    if not staged or (source is not None and source.startswith('"_arrow_')):
        return "source_file"
    cases = " ".join(f"WHEN {quote_literal(str(s.path))} THEN {quote_literal(s.origin)}" for s in staged)
    return f"CASE source_file {cases} ELSE source_file END"


def _extra_names(file_schema: pa.Schema, mapping: dict[str, str]) -> list[tuple[str, str]]:
    """(source column, name it is carried under) for every column outside the contract."""
    used = set(mapping.values())
    reserved = set(schema.CANONICAL) | set(INTERNAL_COLUMNS) | set(DERIVED_COLUMNS)
    return [(src, src if src.lower() not in reserved and not src.startswith("_") else f"extra_{src.lstrip('_')}")
            for src in file_schema.names if src not in used]


def _group_select(side: str, files: list[Staged], file_schema: pa.Schema, extras_out: dict[str, str],
                  source: str | None = None, packed: bool = False, maps: tuple[tuple[str, str], ...] = ()) -> str:
    """The SELECT reading one group of same-schema files under the contract's names and types; `source`
    replaces the read_parquet(...) it reads from (a staged copy of it, see load_side). `packed` carries the
    extra columns as one JSON text column, extra_columns (see PACK_EXTRAS_ABOVE)."""
    path = files[0].origin
    mapping = map_columns(path, file_schema.names, maps)
    # The platform's 3202 detail file carries no settlement time: its rows are the hospital's statement of the
    # period reconciled, and their window is judged by the ledger's row (contract §3 looks at either side).
    no_time = files[0].format == "3202"
    missing = [c for c in schema.required_columns(side) if c not in mapping and not (no_time and c == "setl_time")]
    if missing:
        raise InputDataError(f"{path}: missing column {missing[0]!r}, which the {side} side needs")
    types = {f.name: f.type for f in file_schema}
    inner: list[str] = []
    for col in schema.COLUMNS:
        name = col.name
        target = quote_ident(name)
        src = mapping.get(name)
        if src is None or pa.types.is_null(types[src]):  # absent, or a column of nothing but nulls
            sql_type = {"money": schema.MONEY_SQL, "time": "TIMESTAMP"}.get(col.kind.value, "VARCHAR")
            inner.append(f"CAST(NULL AS {sql_type}) AS {target}")
            if col.kind in (Kind.MONEY, Kind.TIME):
                inner.append(f"false AS {quote_ident('_p_' + name)}")
            continue
        typ = types[src]
        if col.kind is Kind.MONEY:
            inner.append(f"{money_sql(src, typ, path)} AS {target}")
        elif col.kind is Kind.TIME:
            inner.append(f"{_time_sql(src, typ, path)} AS {target}")
        elif name == "certno":
            inner.append(f"upper({normalise_text_sql(quote_ident(src))}) AS {target}")
        elif name == "psn_name":
            inner.append(f"{normalise_text_sql(quote_ident(src), fold=False)} AS {target}")
        else:
            inner.append(f"{normalise_text_sql(quote_ident(src))} AS {target}")
        if col.kind in (Kind.MONEY, Kind.TIME):
            # Whether a raw value was there, so a NULL after conversion can be told bad from missing.
            # Text columns need no flag: their normalised value is NULL exactly when nothing was there.
            inner.append(f"{_present_sql(src, typ)} AS {quote_ident('_p_' + name)}")
    extra_names = _extra_names(file_schema, mapping)
    if packed:
        # Personal data is masked as it is packed: packed extras are never compared, and by name is the
        # only way to know a 姓名 or 证件号码 once it sits inside JSON text.
        parts = [f"{quote_literal(out)}, {masked(quote_ident(src), out, None)}" for src, out in extra_names]
        packed_sql = f"CAST(json_object({', '.join(parts)}) AS VARCHAR)" if parts else "CAST(NULL AS VARCHAR)"
        extras_out.setdefault(PACKED_EXTRAS, PACKED_EXTRAS)
        inner.append(f"{packed_sql} AS {quote_ident(PACKED_EXTRAS)}")
    for src, out in ([] if packed else extra_names):
        extras_out.setdefault(out, src)
        inner.append(f"{quote_ident(src)} AS {quote_ident(out)}")
    present_fb = [c for c in FUND_BREAKDOWN if c in mapping]
    inner.append(f"{len(present_fb)} AS _fb_present")
    inner.append(f"{'true' if no_time else 'false'} AS _time_optional")
    inner.append(f"{_origin_sql(files, source)} AS source_file")
    inner.append("file_row_number + 1 AS source_row")
    return f"SELECT {', '.join(inner)} FROM {source or _parquet_source(files)}"  # noqa: S608 - every input column name goes through quote_ident, paths through quote_literal


def _reject_case(side: str) -> tuple[str, str, str]:
    """The first reject reason of contract §2 that applies to a row, and the column it concerns.

    Returns (index, reason, column): `index` is one CASE numbering the first failing check (NULL: none),
    evaluated once per row; `reason` and `column` map that number (as `_rj`) to text. Evaluating the checks
    once instead of twice saves ~0.3 s per million rows."""
    checks: list[tuple[str, str, str]] = [("setl_id IS NULL", "missing_setl_id", "setl_id")]
    for c in schema.MONEY_COLUMNS:
        checks.append((f"_p_{c} AND ({c} IS NULL OR abs({c}) >= {schema.MONEY_LIMIT})", "bad_money", c))
    for c in schema.required_columns(side):
        if c != "setl_id":
            absent = f"NOT _p_{c}" if BY_NAME[c].kind in (Kind.MONEY, Kind.TIME) else f"{c} IS NULL"
            if c == "setl_time":
                absent += " AND NOT _time_optional"
            checks.append((absent, "missing_value", c))
    for c in schema.REGION_COLUMNS:
        checks.append((f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '[0-9]{{6}}')", "bad_region_code", c))
    checks.append(("_p_setl_time AND setl_time IS NULL", "bad_setl_time", "setl_time"))
    checks.append(
        ("psn_cash_pay IS NOT NULL AND medfee_sumamt <> fund_pay_sumamt + acct_pay + psn_cash_pay",
         "medfee_identity", "medfee_sumamt")
    )
    nonnull = " + ".join(f"CAST(_p_{c} AND {c} IS NOT NULL AS INTEGER)" for c in FUND_BREAKDOWN)
    total = " + ".join(f"coalesce({c}, 0)" for c in FUND_BREAKDOWN)
    checks.append(
        (f"_fb_present > 0 AND ({nonnull}) = _fb_present AND ({total}) <> fund_pay_sumamt",
         "fund_breakdown", "fund_pay_sumamt")
    )
    index = "CASE " + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, _, _) in enumerate(checks)) + " END"
    reason = "CASE _rj " + " ".join(f"WHEN {i} THEN {quote_literal(code)}" for i, (_, code, _) in enumerate(checks))
    column = "CASE _rj " + " ".join(f"WHEN {i} THEN {quote_literal(col)}" for i, (_, _, col) in enumerate(checks))
    return index, reason + " END", column + " END"


def side_rows_sql(side: str, selects: list[str], extras: list[str]) -> str:
    """The rows of a side as the loader writes them: the groups' SELECTs (_group_select) united by name, under
    the contract's columns, then `extras`, source_file and source_row, and each row's first reject reason and
    its column (_reject_case)."""
    index, reason, column = _reject_case(side)
    canonical = ", ".join(quote_ident(c) for c in schema.CANONICAL)
    extra_cols = "".join(f", {quote_ident(e)}" for e in extras)
    union = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
    return (
        f"SELECT {canonical}{extra_cols}, "  # noqa: S608 - identifiers quoted; fragments generated from the schema module
        f"source_file, CAST(source_row AS BIGINT) AS source_row, "
        f"{reason} AS reject_reason, {column} AS reject_column FROM (SELECT *, {index} AS _rj FROM ({union}))"
    )


STAGE_BYTES_PER_ROW = 1000  # a generous size of one decoded input row, for the staging decision


def _stage_raw(con: duckdb.DuckDBPyConnection, rows: int, row_groups: int, alongside: int = 1) -> bool:
    """Whether to copy a side's files (`rows` in `row_groups`) into memory as they are before normalising
    and validating them.

    DuckDB reads a Parquet file one row group per thread, and normalising, converting and checking every
    value runs in the thread that read it. A side of few row groups (a 1M-row file written as one row group
    is common) then loads on one core. Copied first (a plain decode), the work runs on every core: 1.5 ->
    1.15 s for a 1M-row side on 2 cores. Only when the files have fewer row groups than twice the threads,
    and the copy fits easily (a quarter of the memory limit): otherwise the direct read is as parallel, or
    the copy would spill. `alongside` sides loading at the same time share the threads (load_sides): with
    one thread each, the copy only costs time and memory."""
    from mediclear_cli.engine import threads_and_limit

    threads, budget = threads_and_limit(con)
    threads //= alongside
    return threads > 1 and row_groups < 2 * threads and budget is not None and (
        rows * STAGE_BYTES_PER_ROW <= budget // 4)


def load_side(con: duckdb.DuckDBPyConnection, side: str, paths: list[str],
              progress: Callable[..., None] | None = None, read: ReadOptions | None = None,
              alongside: int = 1, partitions: Partitions | None = None) -> SideInput:
    """Read one side's inputs into table `<side>` with the contract's columns and reject reasons.
    Text and Excel inputs are first staged as Parquet in the run's scratch folder (sources.stage).
    `progress("reading <side>", watch=con, rows_total=N)` is called as the read starts."""
    read = (read or ReadOptions()).checked().for_side(side)
    files = resolve_paths(paths, side)
    with ExitStack() as cleanup:
        if all(is_parquet(p, read) for p in files):
            tables = stage(files, Path("."), read)
        else:
            tally = Tally()
            if progress is not None:
                text_bytes = sum(p.stat().st_size for p in files if not is_parquet(p, read))
                progress(f"staging {side} text", rows_total=text_bytes, unit="bytes", count=tally)
            # The run's scratch folder; a connection made outside engine.session gets a private one for the load.
            scratch = scratch_if_any(con) or Path(cleanup.enter_context(TemporaryDirectory(prefix="mediclear-")))
            tables = stage(files, scratch, read, tally)
        return load_tables(con, side, files, tables, read, progress, alongside, partitions)


# At most this many partitions are written by one partitioned COPY (fewer under a small memory limit, see
# Partitions.plan). DuckDB keeps a buffer for every partition in every writing thread: with hundreds of
# partitions of wide rows the buffers alone outgrew a 2.5 GB limit and spilled until the disk was full (100M
# rows per side, 384 partitions, session 7). A plan of more partitions writes this many per side and reads
# each written one once per partition it holds (Partitions.source_filter).
MAX_WRITTEN_PARTITIONS = 32
WRITTEN_PARTITION_BYTES = 64 * 2**20  # of the memory limit, per written partition (its buffers in every thread)
# How the run writes Parquet to its scratch folder (the partitions, and what each partition yields): LZ4, and
# format version 2's encodings (delta, byte-stream split), which took 15% less disk than version 1 for a
# normalised month and wrote and read as fast (BENCHMARKS.md, session 8). Scratch only: outputs are unchanged.
SCRATCH_PARQUET = "FORMAT parquet, COMPRESSION lz4_raw, PARQUET_VERSION v2"
# A month of more input rows than this (both sides) writes its scratch with ZSTD instead: there the disk, not
# the CPU, runs out first. The claims side of the 10M month, normalised into 10 partitions: LZ4 863 MB written
# in 14.0-15.5 s, ZSTD 630 MB in 15.9-16.1 s, read back 10-20% slower (BENCHMARKS.md, session 10); a 100M-row
# month took 21.3 GB of scratch in LZ4, most of it these partitions.
COMPACT_SCRATCH_ABOVE_ROWS = 50_000_000
COMPACT_SCRATCH_PARQUET = "FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION v2"


@dataclass(frozen=True)
class Partitions:
    """Where a partitioned load writes a side (issue 16): the month is categorised in `count` partitions by a
    hash of setl_id, each holding every row of its setl_ids on both sides. They are written as `written`
    Parquet partitions under `folder`/<side>/ (written divides count): partition p lies in written partition
    p % written, from which it is read with source_filter."""

    count: int
    folder: Path

    written: int = 0  # how many are written (0: count)
    parquet: str = SCRATCH_PARQUET  # how the partitions, and what each partition yields, are written
    # A Spark session that loads the month on its executors (spark_loader) instead of DuckDB here: --engine spark
    # off a local master (spark_engine.loads_on_executors)
    spark: Any = field(default=None, compare=False)

    @classmethod
    def plan(cls, count: int, folder: Path, limit: int | None = None, rows: int | None = None,
             spark: Any = None) -> Partitions:
        """`count` partitions — or the next multiple of the written ones above it — of which at most
        MAX_WRITTEN_PARTITIONS are written, and fewer under a memory `limit` (bytes) that cannot hold their
        buffers (WRITTEN_PARTITION_BYTES each); compressed harder for a month of more than
        COMPACT_SCRATCH_ABOVE_ROWS input `rows`."""
        cap = MAX_WRITTEN_PARTITIONS if limit is None else max(2, min(MAX_WRITTEN_PARTITIONS,
                                                                      limit // WRITTEN_PARTITION_BYTES))
        written = min(count, cap)
        parquet = COMPACT_SCRATCH_PARQUET if (rows or 0) > COMPACT_SCRATCH_ABOVE_ROWS else SCRATCH_PARQUET
        return cls(-(-count // written) * written, folder, written, parquet, spark)

    def __post_init__(self) -> None:
        if not self.written:
            object.__setattr__(self, "written", self.count)
        if self.count % self.written:
            raise ValueError(f"{self.written} written partitions cannot hold {self.count}")

    def key_sql(self, column: str = "setl_id", of: int | None = None) -> str:
        """The partition of a row, of `count` (or `of`) partitions. DuckDB's hash(): not a secret — a month
        whose ids all fall in one partition only makes that partition large (it spills), it cannot change a
        result."""
        return f"CAST(hash({quote_ident(column)}) % {int(of or self.count)} AS INTEGER)"

    def written_key_sql(self) -> str:
        """The written partition of a row (its folder _part=n)."""
        return self.key_sql(of=self.written)

    def source_filter(self, part: int) -> str:
        """What selects partition `part` among the rows of its written partition ('true' when it is all of them)."""
        return "true" if self.count == self.written else f"{self.key_sql()} = {int(part)}"

    def files(self, side: str, part: int | str = "*") -> list[Path]:
        """The files that hold partition `part` of `side`, or all the side's files."""
        written = part if part == "*" else int(part) % self.written
        return sorted((self.folder / side).glob(f"*/_part={written}/*.parquet"))


# Rows a writing thread buffers before it flushes them to the partitions' files (DuckDB's default: 524,288).
# Small buffers write fastest here: 10M wide rows into 16 partitions under 1300MB took 14 s at 10,000 rows, 39 s
# at 81,250 and 52 s at 250,000 (the buffers press on the limit and spill); at DuckDB's default and no limit,
# 17 s at 5.8 GiB. DuckDB merges the small flushes into row groups of about 11,000 rows, which read as fast.
PARTITION_FLUSH_ROWS = 10_000


def _bound_partition_buffers(con: duckdb.DuckDBPyConnection) -> None:
    """See PARTITION_FLUSH_ROWS (BENCHMARKS.md, session 7)."""
    con.execute("SET partitioned_write_flush_threshold = $v", {"v": PARTITION_FLUSH_ROWS})


def load_tables(con: duckdb.DuckDBPyConnection, side: str, files: list[Path], tables: list[Staged],
                read: ReadOptions, progress: Callable[..., None] | None, alongside: int = 1,
                partitions: Partitions | None = None) -> SideInput:
    """Read the staged tables of one side into table `<side>`; with `partitions`, into Parquet partitions
    (Partitions) instead, with `<side>` left for the caller to make."""
    groups: dict[tuple[tuple[str, str], ...], list[Staged]] = {}
    schemas: dict[tuple[tuple[str, str], ...], pa.Schema] = {}
    present: set[str] = set()
    source_names: dict[str, dict[str, str]] = {}
    footer_rows = row_groups = 0
    for table in tables:
        file_schema, metadata = _read_footer(table.path, table.origin)
        footer_rows += metadata.num_rows
        row_groups += metadata.num_row_groups
        # column order does not matter; a 3202 file is read under its own rules, so it is its own group
        key = (("", table.format if table.format == "3202" else ""),
               *sorted((f.name, str(f.type)) for f in file_schema))
        groups.setdefault(key, []).append(table)
        schemas[key] = file_schema
        mapping = map_columns(table.origin, file_schema.names, read.maps)
        present |= set(mapping)
        source_names[table.origin] = mapping
    extras: dict[str, str] = {}
    staged = _stage_raw(con, footer_rows, row_groups, alongside)
    staging: list[str] = []
    selects = []
    staged_names: list[str] = []
    registered: list[str] = []
    all_extras = {out for key in groups
                  for _, out in _extra_names(schemas[key], source_names[groups[key][0].origin])}
    packed = len(all_extras) > PACK_EXTRAS_ABOVE
    on_spark = partitions is not None and partitions.spark is not None
    if IN_PLACE and not on_spark and any(t.path.resolve() in IN_PLACE for t in tables):
        raise CheckFailed(f"{side}: remote files left in place, and the month is not loaded by Spark's executors")
    if on_spark:
        assert partitions is not None
        from mediclear_cli import spark_loader

        if progress is not None:
            progress(f"reading {side} on Spark", rows_total=footer_rows, files=len(files))
        extras = spark_loader.load(con, partitions, side, [(groups[k], schemas[k]) for k in groups], packed,
                                   read.maps)
        loaded = sum(pq.read_metadata(p).num_rows for p in partitions.files(side))
        return SideInput(side, side, files, present, list(extras), loaded, footer_rows, source_names, tables)
    for number, (key, group_files) in enumerate(groups.items()):
        source = None
        file_schema = schemas[key]
        if {n.lower() for n in file_schema.names} & _READER_COLUMNS:
            # A column named like what the reader adds (source_file, file_row_number): DuckDB refuses to add
            # its own beside it, so this group is read through Arrow and the column carried as extra_<name>.
            name = f"_arrow_{side}_{number}"
            renamed = _read_renamed(group_files)
            con.register(name, renamed)
            registered.append(name)
            # the file's own columns (the reader's two are not extras: beside another group's they were
            # carried twice under one name, and the union refused the month)
            source, file_schema = quote_ident(name), pa.schema([f for f in renamed.schema
                                                               if f.name not in _READER_COLUMNS])
        elif staged:
            source = quote_ident(f"_raw_{side}_{number}")
            staged_names.append(source)
            staging.append(f"CREATE OR REPLACE TEMP TABLE {source} AS SELECT * FROM {_parquet_source(group_files)}")  # noqa: S608 - name quoted, paths quoted
        selects.append(_group_select(side, group_files, file_schema, extras, source, packed, read.maps))
    table_name = side
    # One statement over every group; with extras packed (all groups then have the same columns) groups go in
    # chunks — a plan of thousands of unions costs more than the rows (1,000 files: 19 s as one, 2 s chunked).
    chunks = [selects[i:i + GROUPS_PER_STATEMENT] for i in range(0, len(selects), GROUPS_PER_STATEMENT)] \
        if packed else [selects]
    statements = []
    empty_sql = ""
    for number, chunk in enumerate(chunks):
        rows_sql = side_rows_sql(side, chunk, list(extras))
        if number == 0:
            empty_sql = rows_sql
        if partitions is not None:
            # Each statement (chunk) writes its own folder of partitions; a partition is read from all of them.
            target = quote_literal(str(partitions.folder / side / f"c{number:05d}"))
            statements.append(f"COPY (SELECT *, {partitions.written_key_sql()} AS _part FROM ({rows_sql})) TO {target} "  # noqa: S608 - generated, path quoted
                              f"({partitions.parquet}, PARTITION_BY (_part))")
            continue
        head = f"CREATE OR REPLACE TABLE {quote_ident(table_name)} AS" if number == 0 else \
            f"INSERT INTO {quote_ident(table_name)} BY NAME"
        statements.append(f"{head} {rows_sql}")
    if partitions is not None:
        (partitions.folder / side).mkdir(parents=True, exist_ok=True)
        _bound_partition_buffers(con)
    if progress is not None:
        progress(f"reading {side}", watch=con, rows_total=footer_rows, files=len(files))
    try:
        for stage_sql in staging:
            con.execute(stage_sql)
        for statement in statements:
            con.execute(statement)
        for name in staged_names:
            con.execute(f"DROP TABLE {name}")
        for name in registered:
            con.unregister(name)
    except (duckdb.OutOfMemoryException, duckdb.IOException):
        raise  # the machine's problem, not the file's: reported as such (exit 70 / 74), never as bad input
    except duckdb.Error as exc:
        first = engine_reason(exc)
        where = tables[0].origin if len(tables) == 1 else f"{len(tables)} {side} files"
        raise InputDataError(f"{where}: cannot be read ({first})") from None
    if partitions is not None:
        written = partitions.files(side)
        rows = [(sum(pq.read_metadata(p).num_rows for p in written),)]
        if not written:  # nothing to partition: the side's columns, for the partitions to take their shape from
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident('_empty_' + side)} AS {empty_sql} LIMIT 0")
    else:
        rows = con.execute(f"SELECT count(*) FROM {quote_ident(table_name)}").fetchall()  # noqa: S608 - identifier quoted
    return SideInput(side, table_name, files, present, list(extras), int(rows[0][0]), footer_rows, source_names,
                     tables)


class _Watch:
    """What the terminal's progress bar polls (console.Progress._poll) while the sides load at once: the share
    of all rows read, from each side's connection, weighted by the rows its files declare."""

    def __init__(self, cursors: dict[str, duckdb.DuckDBPyConnection], rows: dict[str, int]) -> None:
        self.cursors, self.rows = cursors, rows
        self.last = dict.fromkeys(cursors, 0.0)

    def execute(self, sql: str) -> None:
        for cursor in self.cursors.values():
            cursor.execute(sql)

    def query_progress(self) -> float:
        for side, cursor in self.cursors.items():
            share = cursor.query_progress()
            if share >= 0:  # -1: no query running (not begun, between its two queries, or done)
                self.last[side] = max(self.last[side], share)
        total = sum(self.rows.values()) or 1
        return sum(self.last[side] * self.rows[side] for side in self.cursors) / total


def load_sides(con: duckdb.DuckDBPyConnection, paths: dict[str, list[str]],
               progress: Callable[..., None] | None = None, read: ReadOptions | None = None,
               partitions: Partitions | None = None) -> dict[str, SideInput]:
    """Load both sides (load_side): at the same time when every input is Parquet, one after the other
    otherwise (staging text is Python's work, which two threads would only share).

    Why: DuckDB reads a Parquet file one row group per thread, and a side's files often hold fewer row groups
    than there are cores (a 1M-row extract written as one row group is common): such a side decodes on one
    core while the others wait. Both sides at once, each on its own connection to the run's database, keep
    two cores busy (see BENCHMARKS.md, session 6). An error is reported as the sides in order would report
    it (claims first); on any error or signal the other side's query is interrupted before this returns."""
    read = read or ReadOptions()
    files = {side: resolve_paths(side_paths, side) for side, side_paths in paths.items()}
    # (on Spark's executors the sides load one after the other: Spark spreads each over the cluster)
    together = len(paths) > 1 and (partitions is None or partitions.spark is None) and all(
        is_parquet(p, read.checked().for_side(side)) for side, side_files in files.items() for p in side_files)
    if not together:
        return {side: load_side(con, side, side_paths, progress, read, partitions=partitions)
                for side, side_paths in paths.items()}
    from concurrent.futures import ThreadPoolExecutor

    # the rows the footers declare, for the progress bar (an unreadable footer fails here, claims first)
    rows = {side: sum(_read_footer(p, origin_of(p))[1].num_rows for p in side_files) for side, side_files in files.items()}
    cursors = {side: con.cursor() for side in paths}
    if progress is not None:
        progress("reading " + " and ".join(paths), watch=_Watch(cursors, rows), rows_total=sum(rows.values()),
                 files=sum(len(f) for f in files.values()))
    try:
        with ThreadPoolExecutor(max_workers=len(paths), thread_name_prefix="mediclear-load") as pool:
            futures = {side: pool.submit(load_side, cursors[side], side, side_paths, None, read, len(paths), partitions)
                       for side, side_paths in paths.items()}
            try:
                return {side: future.result() for side, future in futures.items()}
            except BaseException:
                for cursor in cursors.values():
                    cursor.interrupt()
                raise
    finally:
        for cursor in cursors.values():
            cursor.close()
