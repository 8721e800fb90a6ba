"""The auditors' diff: any two tables, compared on a (composite) key, explained row by row and cell by cell.

Everything runs in DuckDB over a scratch database, so inputs larger than memory work. Rows whose key repeats on
either side are never paired silently: every row of such a key is reported as `duplicate_key` with the count
on each side. Numbers are compared as exact decimals (DECIMAL(38,10)) with a tolerance per column; text as
text, optionally ignoring case and surrounding blanks. Text and Excel inputs (CSV, TXT, .xlsx, in .zip or .gz;
UTF-8 or GB18030, detected unless --encoding says) are read as text, staged as Parquet in the scratch folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable

import duckdb

from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import InputDataError, UsageError, engine_reason
from mediclear_cli.inputs import resolve_paths
from mediclear_cli.masking import masked
from mediclear_cli.sources import ReadOptions, Staged, stage

NUMERIC_PREFIXES = ("DECIMAL", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER",
                    "USMALLINT", "UTINYINT", "DOUBLE", "FLOAT", "REAL")
STATUSES = ("duplicate_key", "left_only", "right_only", "changed")
SAMPLE_ROWS = 20


RESERVED = "__mc_"  # the prefix of every column the diff adds; an input column may not start with it
ROW, FILE = f"{RESERVED}row", f"{RESERVED}file"
BLANKS = " \t\n\r\f\v\u3000\u00a0"  # what --ignore-spaces trims at either end of text
INTEGER_PREFIXES = ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER", "USMALLINT",
                    "UTINYINT", "UHUGEINT")
FLOAT_PREFIXES = ("DOUBLE", "FLOAT", "REAL")
TEMPORAL_PREFIXES = ("DATE", "TIMESTAMP")


@dataclass
class DiffOptions:
    keys: list[str]
    mapping: dict[str, str] = field(default_factory=dict)  # left column -> right column
    columns: list[str] | None = None  # left names to compare (default: every common column but the keys)
    tolerance: Decimal = Decimal(0)  # absolute, every number
    column_tolerance: dict[str, Decimal] = field(default_factory=dict)  # absolute, per column
    ignore_case: bool = False
    ignore_spaces: bool = False
    encoding: str | None = None  # for text inputs (None: detected)
    relative: Decimal = Decimal(0)  # a share: |a - b| <= abs + relative * |b| (datacompy's rule)
    column_relative: dict[str, Decimal] = field(default_factory=dict)
    ignore_extra_columns: bool = False  # columns on one side only are then no difference
    match_case_insensitive: bool = False  # pair `b` with `B`
    assume_tz: str | None = None  # compare naive timestamps with zoned ones as local time in this zone

    @staticmethod
    def parse_tolerances(values: list[str]) -> tuple[Decimal, dict[str, Decimal], Decimal, dict[str, Decimal]]:
        """`X` / `COL=X` absolute, `X%` / `COL=X%` relative; returns (abs, abs per column, rel, rel per column)."""
        overall, relative = Decimal(0), Decimal(0)
        per_column: dict[str, Decimal] = {}
        per_column_rel: dict[str, Decimal] = {}
        for value in values:
            name, _, amount = value.rpartition("=")
            share = amount.strip().endswith("%")
            try:
                number = Decimal(amount.strip().removesuffix("%"))
            except InvalidOperation:
                raise UsageError(f"--tolerance {value!r}: expected X, X%, COLUMN=X or COLUMN=X%") from None
            if not number.is_finite() or number < 0:
                raise UsageError(f"--tolerance {value!r}: must be a number, not negative")
            if share:
                number /= 100
            if name:
                (per_column_rel if share else per_column)[name] = number
            elif share:
                relative = number
            else:
                overall = number
        return overall, per_column, relative, per_column_rel

    @staticmethod
    def parse_mapping(values: list[str]) -> dict[str, str]:
        mapping = {}
        for value in values:
            left, sep, right = value.partition("=")
            if not sep or not left or not right:
                raise UsageError(f"--map {value!r}: expected left_column=right_column")
            mapping[left] = right
        return mapping


def load_table(con: duckdb.DuckDBPyConnection, name: str, paths: list[str], encoding: str | None,
               scratch: Path) -> list[str]:
    """Read one side into table `name` with __mc_row (1-based per file) and __mc_file; returns its column names.
    Text and Excel files are staged as Parquet of text columns first (sources.stage), in any mix with Parquet."""
    tables = stage_side(paths, name, encoding, scratch)
    listing = "[" + ", ".join(quote_literal(str(t.path)) for t in tables) + "]"
    renamed = [t for t in tables if str(t.path) != t.origin]
    origin = (f"CASE {FILE} " + " ".join(f"WHEN {quote_literal(str(t.path))} THEN {quote_literal(t.origin)}"
                                         for t in renamed) + f" ELSE {FILE} END") if renamed else FILE
    try:
        plain = f"read_parquet({listing}, union_by_name=true, filename={quote_literal(FILE)})"
        names = _refuse_reserved(con, plain, Path(tables[0].origin))
        if "file_row_number" in {n.lower() for n in names}:
            # an input column of that name: DuckDB cannot add its own beside it, so rows are numbered here
            con.execute("SET preserve_insertion_order = true")
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS "  # noqa: S608 - quoted
                        f"SELECT * REPLACE ({origin} AS {FILE}), row_number() OVER (PARTITION BY {FILE}) AS {ROW} "
                        f"FROM {plain}")
            con.execute("SET preserve_insertion_order = false")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(name)} AS SELECT * EXCLUDE (file_row_number) "  # noqa: S608 - quoted
                        f"REPLACE ({origin} AS {FILE}), file_row_number + 1 AS {ROW} FROM read_parquet({listing}, "
                        f"union_by_name=true, file_row_number=true, filename={quote_literal(FILE)})")
    except (duckdb.OutOfMemoryException, duckdb.IOException):
        raise
    except duckdb.Error as exc:
        raise InputDataError(f"{tables[0].origin}: cannot be read ({engine_reason(exc)})") from None
    return [r[0] for r in con.execute(f"DESCRIBE {quote_ident(name)}").fetchall()  # noqa: S608 - quoted
            if r[0] not in (ROW, FILE)]


def stage_side(paths: list[str], name: str, encoding: str | None, scratch: Path) -> list[Staged]:
    """One side's files (folders and globs expanded), text and Excel staged as Parquet in `scratch`."""
    return stage(resolve_paths(paths, name), scratch, ReadOptions(encoding=encoding or "auto").checked())


def refuse_reserved(names: list[str], origin: str | Path) -> None:
    """A column named with the diff's reserved prefix is a usage error (exit 2)."""
    clash = [n for n in names if n.lower().startswith(RESERVED)]
    if clash:
        raise UsageError(f"{origin}: column {clash[0]!r} uses the prefix {RESERVED!r}, which mediclear diff keeps for "
                         "its own columns; rename it")


def _refuse_reserved(con: duckdb.DuckDBPyConnection, source: str, path: Path) -> list[str]:
    """The columns a source holds (refuse_reserved)."""
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall() if r[0] != FILE]  # noqa: S608 - quoted
    refuse_reserved(names, path)
    return names


@dataclass
class DiffResult:
    summary: dict[str, Any]
    rows_sql: str
    cells_sql: str
    left_only_sql: str = ""  # the full rows found only on the left (personal data masked)
    right_only_sql: str = ""


def _is_csv(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = con.execute(f"SELECT any_value({FILE}) FROM {quote_ident(table)}").fetchall()  # noqa: S608 - quoted
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
    """A value as the diff's outputs may show it: cells are text, so they are masked by name and by value
    (masking.masked); a key of another type only by its name."""
    return masked(f"CAST({expr} AS VARCHAR)", column, "text") if text else masked(expr, column, None)


def _pair_columns(options: DiffOptions, left_cols: list[str], right_cols: list[str]
                  ) -> tuple[dict[str, str], list[str], list[str], list[list[str]]]:
    """Which right column each left column is compared with: --map first, then the same name, then (with
    --match-case-insensitive) a name equal but for case. Returns (left -> right, only left, only right, pairs
    equal but for case that were not paired)."""
    unknown_left = [c for c in options.mapping if c not in left_cols]
    unknown_right = [c for c in options.mapping.values() if c not in right_cols]
    if unknown_left or unknown_right:
        name = (unknown_left or unknown_right)[0]
        side = "LEFT" if unknown_left else "RIGHT"
        raise UsageError(f"--map: {name!r} is not a column of {side}")
    right_name: dict[str, str] = {}
    taken = set(options.mapping.values())
    for c in left_cols:
        if c in options.mapping:
            right_name[c] = options.mapping[c]
        elif c in right_cols and c not in taken:
            right_name[c] = c
    lower_right: dict[str, list[str]] = {}
    for r in right_cols:
        lower_right.setdefault(r.lower(), []).append(r)
    case_only = []
    for c in left_cols:
        if c in right_name:
            continue
        candidates = [r for r in lower_right.get(c.lower(), []) if r not in right_name.values() and r not in taken]
        if len(candidates) == 1:
            if options.match_case_insensitive:
                right_name[c] = candidates[0]
            else:
                case_only.append([c, candidates[0]])
    only_left = [c for c in left_cols if c not in right_name and c not in {p[0] for p in case_only}]
    paired_right = set(right_name.values()) | {p[1] for p in case_only}
    only_right = [r for r in right_cols if r not in paired_right]
    return right_name, only_left, only_right, case_only


Fetch = Callable[[str], list[tuple[Any, ...]]]  # runs a query, returns its rows (DuckDB's or Spark's)


def duckdb_fetch(con: duckdb.DuckDBPyConnection) -> Fetch:
    return lambda sql: con.execute(sql).fetchall()


class Probe:
    """What the plan asks of the data, over tables `left` and `right` (of DuckDB; with the SPARK dialect, of
    Spark over every row: diff_spark): whether a column's values read as another type."""

    def __init__(self, fetch: Fetch, dialect: Dialect | None = None) -> None:
        self.fetch, self.d = fetch, dialect or DUCKDB

    def unreadable(self, table: str, col: str, target: str) -> int:
        """How many non-null values of `col` do not read as `target` once trimmed."""
        q = quote_ident(col)
        return int(self.fetch(f"SELECT count(*) FROM {quote_ident(table)} WHERE {q} IS NOT NULL "  # noqa: S608 - quoted
                              f"AND {self.d.try_cast(self.d.trim(q), target)} IS NULL")[0][0])

    def numbers(self, table: str, col: str) -> tuple[int, int]:
        """(values that do not read as a number, values) of a text column."""
        q = quote_ident(col)
        bad, filled = self.fetch(
            f"SELECT count(*) FILTER (WHERE {q} IS NOT NULL AND {self.d.try_cast(q, 'DOUBLE')} IS NULL), "  # noqa: S608
            f"count({q}) FROM {quote_ident(table)}")[0]
        return int(bad), int(filled)


def _kind(t: str) -> str:
    if t.startswith(INTEGER_PREFIXES):
        return "integer"
    if t.startswith(NUMERIC_PREFIXES):
        return "number"
    if t.startswith(TEMPORAL_PREFIXES) and "TIME ZONE" not in t:
        return "time"
    return "text" if t == "VARCHAR" else "other"


def _common_key_type(probe: Probe, lt: str, rt: str, lcol: str, rcol: str) -> str:
    """The type two differently typed key columns are compared in (docs/decisions.md): numbers as exact
    numbers (integers as HUGEINT, else DECIMAL(38,10)), dates and timestamps as TIMESTAMP, text against a
    number or a date as that type when every text value reads as one, else text."""
    kinds = {_kind(lt), _kind(rt)}
    if kinds <= {"integer"}:
        return "HUGEINT"
    if kinds <= {"integer", "number"}:
        return "DECIMAL(38,10)"
    if kinds <= {"time"}:
        return "TIMESTAMP"
    if "text" in kinds and len(kinds) == 2:
        other = (kinds - {"text"}).pop()
        target = {"integer": "HUGEINT", "number": "DECIMAL(38,10)", "time": "TIMESTAMP"}.get(other)
        text_table, text_col = ("left", lcol) if _kind(lt) == "text" else ("right", rcol)
        if target is not None and not probe.unreadable(text_table, text_col, target):
            return target
    return "VARCHAR"


@dataclass
class Plan:
    """What a diff compares and how, decided once from the two sides' columns, types and (where text must
    read as numbers or times) values: DuckDB and Spark (diff_spark) then compare by the same plan."""

    right_name: dict[str, str]  # left column -> the right column it is compared with
    only_left: list[str]
    only_right: list[str]
    case_only: list[list[str]]
    compared: list[str]
    ltypes: dict[str, str]  # DuckDB's names of the types, keys as aligned (key_types)
    rtypes: dict[str, str]
    key_types: dict[str, str]  # key -> the type both sides' key is compared in
    kinds: dict[str, bool]  # compared as numbers
    times: dict[str, str | None]
    cast_to: dict[str, str]
    floaty: dict[str, bool]
    exact_fit: dict[str, bool]


def make_plan(options: DiffOptions, left_cols: list[str], right_cols: list[str], ltypes: dict[str, str],
              rtypes: dict[str, str], csv_side: dict[str, bool], probe: Probe) -> Plan:
    """The plan for columns of these types (DuckDB's names), asking `probe` what the types alone cannot say;
    a key, column or tolerance that names no column of both sides is a usage error (exit 2)."""
    right_name, only_left, only_right, case_only = _pair_columns(options, left_cols, right_cols)
    missing_keys = [k for k in options.keys if k not in right_name]
    if missing_keys:
        raise UsageError(f"--key {missing_keys[0]!r}: not a column of both sides (use --map left=right)")
    common = [c for c in left_cols if c in right_name and c not in options.keys]
    compared = options.columns if options.columns is not None else common
    unknown = [c for c in compared if c not in common]
    if unknown:
        raise UsageError(f"--columns {unknown[0]!r}: not a column of both sides")
    for flag, names in (("--tolerance", options.column_tolerance), ("--tolerance", options.column_relative)):
        stray = [c for c in names if c not in compared]
        if stray:
            raise UsageError(f"{flag} {stray[0]}=…: not a compared column")
    key_types = {k: _common_key_type(probe, ltypes[k], rtypes[right_name[k]], k, right_name[k]) for k in options.keys}
    ltypes = ltypes | key_types
    rtypes = rtypes | {right_name[k]: t for k, t in key_types.items()}

    def numeric(col: str) -> bool:
        """Both sides hold numbers; CSV text (read as text) counts when every value parses as a number.
        Text columns of typed inputs (codes like '011') stay text."""
        sides = (("left", col, ltypes[col]), ("right", right_name[col], rtypes[right_name[col]]))
        for table, name, typ in sides:
            if typ.startswith(NUMERIC_PREFIXES):
                continue
            if not (csv_side[table] and typ == "VARCHAR"):
                return False
            bad, filled = probe.numbers(table, name)
            if bad or not filled:
                return False
        return True

    def temporal(col: str) -> str | None:
        """'naive' when both sides hold dates or naive timestamps (compared by value), 'zoned' when both are
        zoned, 'mixed' for a naive against a zoned one (equal only with --assume-tz), else None."""
        lt, rt = ltypes[col], rtypes[right_name[col]]
        if not (lt.startswith(TEMPORAL_PREFIXES) and rt.startswith(TEMPORAL_PREFIXES)):
            return None
        zoned = ("TIME ZONE" in lt, "TIME ZONE" in rt)
        return "zoned" if all(zoned) else ("mixed" if any(zoned) else "naive")

    kinds = {c: numeric(c) for c in compared}
    times = {c: temporal(c) for c in compared}
    # Values of different types on the two sides (a CSV's text against a Parquet DATE) are compared on the
    # same common type as keys are: by value where every value reads as one, else as text.
    cast_to: dict[str, str] = {}
    for c in compared:
        lt, rt = ltypes[c], rtypes[right_name[c]]
        if not kinds[c] and times[c] is None and lt != rt:
            common_type = _common_key_type(probe, lt, rt, c, right_name[c])
            if common_type != "VARCHAR":
                cast_to[c] = common_type
    floaty = {c: ltypes[c].startswith(FLOAT_PREFIXES) or rtypes[right_name[c]].startswith(FLOAT_PREFIXES)
              for c in compared}

    def fits(t: str) -> bool:
        """Every value of a column of this type converts to DECIMAL(38,10) exactly."""
        import re

        if t in ("INTEGER", "BIGINT", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"):
            return True
        m = re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", t)
        return m is not None and int(m.group(2)) <= 10 and int(m.group(1)) - int(m.group(2)) <= 28

    exact_fit = {c: kinds[c] and fits(ltypes[c]) and fits(rtypes[right_name[c]]) for c in compared}
    return Plan(right_name, only_left, only_right, case_only, compared, ltypes, rtypes, key_types, kinds, times,
                cast_to, floaty, exact_fit)


def _align_keys(con: duckdb.DuckDBPyConnection, options: DiffOptions, plan: Plan) -> None:
    """Key columns of both sides rewritten in one comparable type (and trimmed with --ignore-spaces), so a
    CSV's text key meets a Parquet integer or DATE key by value instead of failing to join."""
    for table, names in (("left", {k: k for k in options.keys}), ("right", {k: plan.right_name[k] for k in options.keys})):
        types = _types(con, table)
        exprs = {names[k]: key_sql(DUCKDB, quote_ident(names[k]), types[names[k]], plan.key_types[k], options)
                 for k in options.keys}
        replaced = [f"{expr} AS {quote_ident(col)}" for col, expr in exprs.items() if expr != quote_ident(col)]
        if replaced:
            con.execute(f"CREATE OR REPLACE TABLE {quote_ident(table)} AS SELECT * REPLACE ({', '.join(replaced)}) "  # noqa: S608 - quoted
                        f"FROM {quote_ident(table)}")


@dataclass(frozen=True)
class Dialect:
    """The few places where the comparison's SQL differs between DuckDB and Spark SQL (diff_spark): type
    names, trimming given characters, a finite double, a naive time read in a zone, and reading trimmed text as
    an integer (Spark has no HUGEINT, and its cast of '1.5' to DECIMAL(38,0) rounds where DuckDB's to HUGEINT
    refuses)."""

    name: str

    def literal(self, text: str) -> str:
        """Text as a string literal (Spark reads a backslash as an escape, and 'a''b' as two literals)."""
        if self.name == "duckdb":
            return quote_literal(text)
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def type(self, t: str) -> str:
        if self.name == "duckdb":
            return t
        return {"VARCHAR": "STRING", "HUGEINT": "DECIMAL(38,0)", "TIMESTAMPTZ": "TIMESTAMP_LTZ",
                "TIMESTAMP": "TIMESTAMP_NTZ"}.get(t, t)

    def trim(self, expr: str, chars: str | None = None) -> str:
        if chars is None:
            return f"trim({expr})"
        return f"trim({expr}, {self.literal(chars)})" if self.name == "duckdb" else \
            f"trim(BOTH {self.literal(chars)} FROM {expr})"

    def try_cast(self, expr: str, t: str) -> str:
        if self.name == "spark" and t == "HUGEINT":
            return f"CASE WHEN {expr} RLIKE '^[+-]?[0-9]+$' THEN try_cast({expr} AS DECIMAL(38,0)) END"
        return f"TRY_CAST({expr} AS {self.type(t)})"

    def isfinite(self, expr: str) -> str:
        return f"isfinite({expr})" if self.name == "duckdb" else f"(NOT isnan({expr}) AND abs({expr}) < double('inf'))"

    def in_zone(self, zone: str, expr: str) -> str:
        """A naive timestamp read as wall-clock time in `zone`: the instant (DuckDB's TIMESTAMPTZ)."""
        if self.name == "duckdb":
            return f"timezone({self.literal(zone)}, {expr})"
        return f"CAST(to_utc_timestamp({expr}, {self.literal(zone)}) AS TIMESTAMP_LTZ)"


DUCKDB, SPARK = Dialect("duckdb"), Dialect("spark")


def key_sql(dialect: Dialect, q: str, typ: str, common: str, options: DiffOptions) -> str:
    """A key column `q` of type `typ` as compared: in `common`, trimmed with --ignore-spaces."""
    expr = q
    if typ == "VARCHAR" and options.ignore_spaces:
        expr = dialect.trim(q, BLANKS)
    if common != typ:
        source = dialect.trim(expr) if typ == "VARCHAR" and common != "VARCHAR" else expr
        expr = f"CAST({source} AS {dialect.type(common)})"
    return expr


class Compare:
    """A compared column's value on either side (`l.`/`r.`), and whether the two differ, as SQL in a dialect."""

    def __init__(self, plan: Plan, options: DiffOptions, dialect: Dialect = DUCKDB) -> None:
        self.plan, self.options, self.d = plan, options, dialect

    def raw(self, alias: str, col: str) -> str:
        return f"{alias}.{quote_ident(col if alias == 'l' else self.plan.right_name[col])}"

    def value(self, alias: str, col: str) -> str:
        plan, d, q = self.plan, self.d, self.raw(alias, col)
        if plan.kinds[col]:
            return d.try_cast(q, "DECIMAL(38,10)")
        if col in plan.cast_to:
            return d.try_cast(d.trim(f"CAST({q} AS {d.type('VARCHAR')})"), plan.cast_to[col])
        if plan.times[col] == "naive":
            return f"CAST({q} AS {d.type('TIMESTAMP')})"
        if plan.times[col] == "zoned":
            return f"CAST({q} AS {d.type('TIMESTAMPTZ')})"
        if plan.times[col] == "mixed" and self.options.assume_tz:
            typ = plan.ltypes[col] if alias == "l" else plan.rtypes[plan.right_name[col]]
            return (f"CAST({q} AS {d.type('TIMESTAMPTZ')})" if "TIME ZONE" in typ
                    else d.in_zone(self.options.assume_tz, f"CAST({q} AS {d.type('TIMESTAMP')})"))
        text = f"CAST({q} AS {d.type('VARCHAR')})"
        if self.options.ignore_spaces:
            text = d.trim(text, BLANKS)
        if self.options.ignore_case:
            text = f"lower({text})"
        return text

    def differs(self, col: str) -> str:
        """True when the two values differ, false or NULL when they do not."""
        plan, d, options = self.plan, self.d, self.options
        lv, rv = self.value("l", col), self.value("r", col)
        if not plan.kinds[col]:
            return f"({lv} IS DISTINCT FROM {rv})"
        tol = options.column_tolerance.get(col, options.tolerance)
        rel = options.column_relative.get(col, options.relative)
        allowed = f"CAST({quote_literal(str(tol))} AS DECIMAL(38,10)) + CAST({quote_literal(str(rel))} AS DECIMAL(38,10)) * abs({rv})"
        lr, rr = self.raw("l", col), self.raw("r", col)
        if plan.exact_fit[col] and tol == 0 and rel == 0:
            # exact numbers without a tolerance differ exactly when they are not equal: compared in their own
            # types (Spark computes DECIMAL(38,10) with Java's BigDecimal, DECIMAL(18,2) as a long: at 1M
            # rows by 27 columns, the comparison took 40 s of Spark's 64)
            return f"({lr} IS DISTINCT FROM {rr})"
        if plan.exact_fit[col]:  # every value fits DECIMAL(38,10) (money as DECIMAL(18,2), integers): the short test
            rel_part = "" if rel == 0 else f" + CAST({quote_literal(str(rel))} AS DECIMAL(38,10)) * abs({rv})"
            return (f"(({lv} IS NULL) <> ({rv} IS NULL) OR abs({lv} - {rv}) > "
                    f"CAST({quote_literal(str(tol))} AS DECIMAL(38,10)){rel_part})")
        # Beyond DECIMAL(38,10) (±inf, NaN, |x| >= 1e28, a 30-digit decimal) a number is compared by another
        # exact path — as a double when a side holds floats, else as its text — never as NULL.
        if plan.floaty[col]:
            ld, rd = f"CAST({lr} AS DOUBLE)", f"CAST({rr} AS DOUBLE)"
            # infinities only equal themselves (inf - inf is NaN, and 0 * inf is NaN too)
            wide = (f"NOT ({ld} = {rd} OR ({d.isfinite(ld)} AND {d.isfinite(rd)} AND "
                    f"abs({ld} - {rd}) <= {float(tol)} + {float(rel)} * abs({rd})))")
        else:
            wide = f"(CAST({lr} AS {d.type('VARCHAR')}) <> CAST({rr} AS {d.type('VARCHAR')}))"
        return (f"(CASE WHEN {lr} IS NULL AND {rr} IS NULL THEN false WHEN {lr} IS NULL OR {rr} IS NULL THEN true "
                f"WHEN {lv} IS NOT NULL AND {rv} IS NOT NULL THEN abs({lv} - {rv}) > {allowed} ELSE {wide} END)")


def diff(con: duckdb.DuckDBPyConnection, options: DiffOptions, left_cols: list[str], right_cols: list[str],
         plan: Plan | None = None, equal_elsewhere: int = 0, totals: dict[str, Any] | None = None) -> DiffResult:
    """Compare tables `left` and `right`; creates `diff_keys`, `diff_pairs`; returns the summary and output SQL.
    With `plan` (made over every row elsewhere: diff_spark), the tables hold only the rows that are not an
    equal pair; `equal_elsewhere` such pairs and each side's `totals` were counted there."""
    if plan is None:
        csv_side = {"left": _is_csv(con, "left"), "right": _is_csv(con, "right")}
        plan = make_plan(options, left_cols, right_cols, _types(con, "left"), _types(con, "right"), csv_side,
                         Probe(duckdb_fetch(con)))
    _align_keys(con, options, plan)
    right_name, only_left, only_right, case_only = plan.right_name, plan.only_left, plan.only_right, plan.case_only
    compared, kinds, times, cast_to = plan.compared, plan.kinds, plan.times, plan.cast_to
    ltypes, rtypes = plan.ltypes, plan.rtypes
    compare = Compare(plan, options)
    value, differs = compare.value, compare.differs
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

    diffs = [f"CASE WHEN {differs(col)} THEN {quote_literal(col)} END" for col in compared]
    changed = f"list_filter([{', '.join(diffs)}], lambda x: x IS NOT NULL)" if diffs else "[]::VARCHAR[]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE diff_pairs AS SELECT {key_l}, l.{ROW} AS left_row, "  # noqa: S608 - identifiers quoted
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
        f"SELECT 'duplicate_key' AS status, {keys_k}, 'left' AS side, l.{FILE} AS file, l.{ROW} AS row_number, k.left_count, "
        f"k.right_count, NULL::VARCHAR[] AS changed_columns FROM diff_keys k JOIN \"left\" l ON {on_l} "
        "WHERE k.left_count > 1 OR k.right_count > 1 "
        f"UNION ALL SELECT 'duplicate_key', {keys_k}, 'right', r.{FILE}, r.{ROW}, k.left_count, k.right_count, NULL "
        f"FROM diff_keys k JOIN \"right\" r ON {on_r} WHERE k.left_count > 1 OR k.right_count > 1 "
        f"UNION ALL SELECT 'left_only', {keys_k}, 'left', l.{FILE}, l.{ROW}, 1, 0, NULL FROM diff_keys k JOIN \"left\" l "
        f"ON {on_l} WHERE k.left_count = 1 AND k.right_count = 0 "
        f"UNION ALL SELECT 'right_only', {keys_k}, 'right', r.{FILE}, r.{ROW}, 0, 1, NULL FROM diff_keys k JOIN \"right\" r "
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

    def one_side_sql(table: str, alias: str, names: dict[str, str], cols: list[str], counts: str) -> str:
        """The full rows found on one side only, every column shown as the outputs may show it."""
        shown_cols = ", ".join(f"{shown(f'{alias}.{quote_ident(c)}', c, (ltypes if table == 'left' else rtypes)[c] == 'VARCHAR')} "
                               f"AS {quote_ident(c)}" for c in cols)
        on = keys_equal("k", alias, names)
        return (f"SELECT {alias}.{FILE} AS source_file, {alias}.{ROW} AS source_row, {shown_cols} "  # noqa: S608 - quoted
                f"FROM diff_keys k JOIN {quote_ident(table)} {alias} ON {on} WHERE {counts} "
                f"ORDER BY {', '.join(f'k.{quote_ident(k)}' for k in options.keys)}, source_file, source_row")

    left_only_sql = one_side_sql("left", "l", same, left_cols, "k.left_count = 1 AND k.right_count = 0")
    right_only_sql = one_side_sql("right", "r", right_name, [c for c in rtypes if c not in (ROW, FILE)],
                                  "k.left_count = 0 AND k.right_count = 1")

    # Each computed once: the counts, the per-column figures, the samples and the two files all read them (21
    # compared columns re-ran the whole cell union 21 times, twice: 7 of 14 s at 1M rows).
    con.execute(f"CREATE OR REPLACE TEMP TABLE diff_rows_t AS {rows_sql}")  # noqa: S608 - our own SQL
    con.execute(f"CREATE OR REPLACE TEMP TABLE diff_cells_t AS {cells_sql}")  # noqa: S608 - our own SQL
    rows_sql = f"SELECT * FROM diff_rows_t ORDER BY status, {order}, side, row_number"  # noqa: S608 - quoted
    cells_sql = f"SELECT * FROM diff_cells_t ORDER BY column_name, {order}" if cell_parts else cells_sql  # noqa: S608
    counts = dict(con.execute(f"SELECT status, count(*) FROM ({rows_sql}) GROUP BY status").fetchall())  # noqa: S608
    per_column = {}
    for col in compared:
        found = con.execute(
            f"SELECT count(*), sum(abs(difference)), max(abs(difference)), sum(difference) FROM ({cells_sql}) "  # noqa: S608
            f"WHERE column_name = {quote_literal(col)}").fetchall()[0]
        kind = "number" if kinds[col] else ("time" if times[col] in ("naive", "zoned") or (
            times[col] == "mixed" and options.assume_tz) or cast_to.get(col) == "TIMESTAMP" else "text")
        per_column[col] = {"kind": kind, "rows_differ": int(found[0])}
        if times[col] == "mixed" and not options.assume_tz:
            per_column[col]["note"] = "a naive timestamp against a zoned one: compared as text; --assume-tz ZONE"
        if kinds[col]:
            per_column[col] |= {"sum_difference": plain(found[3] or Decimal(0)),
                                "sum_abs_difference": plain(found[1] or Decimal(0)),
                                "max_abs_difference": plain(found[2] or Decimal(0)),
                                "tolerance": plain(options.column_tolerance.get(col, options.tolerance)),
                                "relative_tolerance": plain(options.column_relative.get(col, options.relative))}
    totals = totals if totals is not None else side_totals(duckdb_fetch(con), plan)
    equal_pairs = con.execute("SELECT count(*) FROM diff_pairs WHERE len(changed_columns) = 0").fetchall()[0][0]
    equal_pairs += equal_elsewhere
    schema_differs = bool(only_left or only_right or case_only)
    summary = {
        "keys": options.keys, "mapping": options.mapping, "compared_columns": compared,
        "only_left_columns": only_left, "only_right_columns": only_right,
        "columns_differing_only_in_case": case_only,
        "schema": {"identical": not schema_differs, "counts": schema_differs and not options.ignore_extra_columns},
        "rows": {s: int(counts.get(s, 0)) for s in STATUSES} | {"equal": int(equal_pairs)},
        "columns": per_column, "totals": totals,
        "identical": not any(counts.get(s, 0) for s in STATUSES) and (
            options.ignore_extra_columns or not schema_differs),
    }
    return DiffResult(summary, rows_sql, cells_sql, left_only_sql, right_only_sql)


def side_totals(fetch: Fetch, plan: Plan, dialect: Dialect | None = None) -> dict[str, Any]:
    """Each side's rows and the sum of each number column compared, over tables `left` and `right` (of DuckDB,
    or with the SPARK dialect of Spark); a column with values beyond DECIMAL(38,10) is named under
    not_summed_exactly (those values are left out of its sum)."""
    d = dialect or DUCKDB
    return {side: totals_of(plan, fetch(f"SELECT {', '.join(total_exprs(plan, side, d))} FROM {quote_ident(side)}")[0])  # noqa: S608 - generated, quoted
            for side in ("left", "right")}


def total_exprs(plan: Plan, side: str, dialect: Dialect, column: Callable[[str], str] = quote_ident,
                rows: str = "count(*)") -> list[str]:
    """The aggregates of one side's totals (totals_of reads them in this order): its `rows`; then for each
    number column compared, its sum as DECIMAL(38,10) and, unless every value fits, how many do not.
    `column` spells a column of the side by its name (diff_spark reads both sides off one joined row)."""
    exprs = [rows]
    for c in plan.compared:
        if not plan.kinds[c]:
            continue
        q = column(c if side == "left" else plan.right_name[c])
        exact = dialect.try_cast(q, "DECIMAL(38,10)")
        exprs.append(f"sum({exact})")
        if not plan.exact_fit[c]:
            exprs.append(f"count({q}) - count({exact})")
    return exprs


def totals_of(plan: Plan, row: Sequence[Any]) -> dict[str, Any]:
    """One side's totals from the values of its total_exprs."""
    values = iter(row)
    entry: dict[str, Any] = {"rows": int(next(values)), "sums": {}}
    inexact = []
    for c in plan.compared:
        if not plan.kinds[c]:
            continue
        entry["sums"][c] = plain(next(values))
        if not plan.exact_fit[c] and next(values):
            inexact.append(c)
    if inexact:
        entry["not_summed_exactly"] = inexact  # values beyond DECIMAL(38,10) are left out of these sums
    return entry


def samples(con: duckdb.DuckDBPyConnection, cells_sql: str, compared: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Up to SAMPLE_ROWS differing cells per column, for the reports."""
    out = {}
    for col in compared:
        table = con.sql(f"SELECT * FROM ({cells_sql}) WHERE column_name = {quote_literal(col)} "  # noqa: S608
                        f"LIMIT {SAMPLE_ROWS}").to_arrow_table()
        out[col] = table.to_pylist()
    return out
