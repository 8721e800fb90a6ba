"""`mediclear diff --engine spark` (issue 17): Spark finds the equal pairs; DuckDB explains the rest.

A diff of two large tables is mostly equal pairs — a key once on each side, every compared column equal — and
that is the part that grows with the tables. Spark reads both sides where they are (local, hdfs://, s3a://;
text and Excel inputs are staged as Parquet on this machine first, as for DuckDB), makes the diff's plan over
every row (diff.make_plan, asking Spark what the types alone cannot say), counts the rows and sums the numbers
of each side, and finds the equal pairs by the very comparison DuckDB makes (diff.Compare, in Spark's
dialect). What is left — every row of a key that is not an equal pair — is written as Parquet in the run's
scratch folder and read into DuckDB's tables `left` and `right`, where diff.diff explains it by the same plan:
duplicates, one-sided rows, changed cells, and every output, unchanged. So the outputs are DuckDB's, written
by the same code; what Spark decides is only which pairs are equal, and how many.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import duckdb

from mediclear_cli.diff import (
    FILE,
    RESERVED,
    ROW,
    SPARK,
    Compare,
    DiffOptions,
    Plan,
    Probe,
    key_sql,
    make_plan,
    refuse_reserved,
    stage_side,
    total_exprs,
    totals_of,
)
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import InputDataError, InputNotFound, check_stopped
from mediclear_cli.remote import is_remote

# What the comparison's SQL needs of Spark for the time it runs (put back after): identifiers in double
# quotes, as DuckDB writes them; and decimal arithmetic that keeps its scale (Spark's default rounds
# DECIMAL(38,10) - DECIMAL(38,10) to 9 places, and would call a difference of 1e-10 none); and zoned
# timestamps written as Parquet's instants (INT96, Spark's default, reads back into DuckDB as a naive time).
SESSION = {"spark.sql.ansi.doubleQuotedIdentifiers": "true", "spark.sql.decimalOperations.allowPrecisionLoss": "false",
           "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS"}
KEY = f"{RESERVED}k"  # the aligned keys on Spark: __mc_k0, __mc_k1, ...


@dataclass
class Pruned:
    """What Spark found: the plan, each side's columns, the equal pairs it took out, each side's totals."""

    plan: Plan
    left_cols: list[str]
    right_cols: list[str]
    equal: int
    totals: dict[str, Any]


def spark_type(data_type: Any) -> str:
    """A Spark column type under DuckDB's name for it (what diff's plan reasons with)."""
    from pyspark.sql import types as T

    simple = {T.StringType: "VARCHAR", T.CharType: "VARCHAR", T.VarcharType: "VARCHAR", T.ByteType: "TINYINT",
              T.ShortType: "SMALLINT", T.IntegerType: "INTEGER", T.LongType: "BIGINT", T.DoubleType: "DOUBLE",
              T.FloatType: "FLOAT", T.BooleanType: "BOOLEAN", T.DateType: "DATE", T.BinaryType: "BLOB",
              T.TimestampType: "TIMESTAMP WITH TIME ZONE", T.TimestampNTZType: "TIMESTAMP"}
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    for kind, name in simple.items():
        if isinstance(data_type, kind):
            return name
    return str(data_type.simpleString()).upper()


@contextmanager
def _settings(spark: Any) -> Iterator[None]:
    before = {key: spark.conf.get(key, None) for key in SESSION}
    for key, value in SESSION.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _read_side(spark: Any, side: str, paths: list[str], encoding: str | None, scratch: Path) -> tuple[Any, str]:
    """One side as a Spark DataFrame with the diff's __mc_file (the file as the user named it) and __mc_row
    (1-based in its file); and the first file's name (a CSV side compares number-like text as numbers)."""
    local = [p for p in paths if not is_remote(p)]
    remote = [p for p in paths if is_remote(p)]
    # each side staged in a folder of its own: Spark reads the files when it runs, after both are staged
    staging = scratch / f"staged-{side}"
    staging.mkdir(exist_ok=True)
    local = [unquote(urlparse(p).path) if p.startswith("file:") else p for p in local]
    tables = stage_side(local, side, encoding, staging) if local else []
    origin = {str(Path(t.path).resolve()): t.origin for t in tables}
    sources = [str(t.path) for t in tables] + remote
    first = tables[0].origin if tables else remote[0]
    try:
        frame = spark.read.option("mergeSchema", "true").option("recursiveFileLookup", "true").parquet(*sources)
        files = frame.inputFiles()
    except Exception as exc:  # Spark's AnalysisException and Py4J errors: the file's problem, said in a line
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        if "PATH_NOT_FOUND" in reason:
            raise InputNotFound(f"{first}: {side} input not found ({reason})") from None
        raise InputDataError(f"{first}: cannot be read on Spark ({reason})") from None
    refuse_reserved(frame.columns, first)
    # Spark names a file as a URI (file:/tmp/a%20b.parquet); the outputs name it as DuckDB's diff does: a local
    # file by the path it was given (or staged from), any other by its URI
    names = [(_path_key(uri), origin.get(str(Path(unquote(_path_key(uri))).resolve()), unquote(uri))
              if urlparse(uri).scheme == "file" else unquote(uri)) for uri in files]
    spark.createDataFrame(names, "key STRING, origin STRING").createOrReplaceTempView(f"{RESERVED}{side}_files")
    frame.selectExpr("*", "_metadata.file_path AS __mc_path", f"_metadata.row_index + 1 AS {ROW}").createOrReplaceTempView(
        f"{RESERVED}{side}_raw")
    columns = ", ".join(f"t.{quote_ident(c)}" for c in frame.columns)
    # the files' names are a handful of rows: broadcast (Spark cannot size a local list, and would otherwise
    # shuffle every row of the side by its file)
    return spark.sql(f"SELECT /*+ BROADCAST(f) */ {columns}, coalesce(f.origin, t.__mc_path) AS {FILE}, t.{ROW} "  # noqa: S608 - quoted
                     f"FROM {RESERVED}{side}_raw t LEFT JOIN {RESERVED}{side}_files f ON f.key = {_PATH_KEY_SQL}"), first


# A file's URI as a key both forms of it give: Spark's metadata says file:/tmp/x, its file index file:///tmp/x
_PATH_KEY_SQL = "CASE WHEN t.__mc_path LIKE 'file:%' THEN regexp_replace(t.__mc_path, '^file:/*', '/') ELSE t.__mc_path END"


def _path_key(uri: str) -> str:
    parsed = urlparse(uri)
    return "/" + parsed.path.lstrip("/") if parsed.scheme == "file" else uri


def prune(con: duckdb.DuckDBPyConnection, spark: Any, options: DiffOptions, left: list[str], right: list[str],
          scratch: Path) -> Pruned:
    """Read both sides on Spark, make the plan over every row, take out the equal pairs, and leave in DuckDB's
    tables `left` and `right` every other row (as the DuckDB engine reads them)."""
    folder = scratch / "spark-diff"
    with _settings(spark):
        frames, firsts = {}, {}
        for side, paths in (("left", left), ("right", right)):
            frames[side], firsts[side] = _read_side(spark, side, paths, options.encoding, scratch)
            frames[side].createOrReplaceTempView(side)
        types = {side: {f.name: spark_type(f.dataType) for f in frame.schema.fields if f.name not in (FILE, ROW)}
                 for side, frame in frames.items()}
        cols = {side: list(t) for side, t in types.items()}

        def fetch(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in spark.sql(sql).collect()]

        csv_side = {side: firsts[side].lower().endswith(".csv") for side in frames}
        plan = make_plan(options, cols["left"], cols["right"], types["left"], types["right"], csv_side,
                         Probe(fetch, SPARK))
        names = {"left": {k: k for k in options.keys}, "right": {k: plan.right_name[k] for k in options.keys}}
        keys = [f"{KEY}{n}" for n in range(len(options.keys))]
        for side in frames:
            aligned = ", ".join(f"{key_sql(SPARK, quote_ident(names[side][k]), types[side][names[side][k]], plan.key_types[k], options)} "
                                f"AS {keys[n]}" for n, k in enumerate(options.keys))
            spark.sql(f"SELECT *, {aligned} FROM {quote_ident(side)}").createOrReplaceTempView(f"{RESERVED}{side}")  # noqa: S608 - quoted
        equal, totals = _pairs(spark, plan, options, keys, {side: [*cols[side], FILE, ROW] for side in frames},
                               folder / "kept")
    for side in frames:
        own = [*cols[side], FILE, ROW]
        prefix = _PREFIX[side]
        files = quote_literal(str(folder / "kept" / "*.parquet"))
        named = ", ".join(f"{prefix}{n} AS {quote_ident(c)}" for n, c in enumerate(own))
        con.execute(f"CREATE OR REPLACE TABLE {quote_ident(side)} AS SELECT {named} FROM read_parquet({files}) "  # noqa: S608 - quoted
                    f"WHERE {prefix}{own.index(FILE)} IS NOT NULL")
    return Pruned(plan, cols["left"], cols["right"], equal, totals)


# The kept rows' columns on Spark: the left side's as __mc_l0, __mc_l1, ..., the right side's as __mc_r0, ...
_PREFIX = {"left": f"{RESERVED}l", "right": f"{RESERVED}r"}


def _pairs(spark: Any, plan: Plan, options: DiffOptions, keys: list[str], own: dict[str, list[str]],
           folder: Path) -> tuple[int, dict[str, Any]]:
    """One pass over both sides: pair every key's row once on each side, take out the equal pairs (no compared
    column differing), and write every other row — both sides' columns on one row (_PREFIX), NULL where a side
    has none — under `folder`. Returns how many pairs were equal and each side's totals (diff.side_totals),
    measured on the way by an Observation, so neither side is read twice.

    Each side's rows are counted per key by a window partitioned as the join is (one exchange a side, which
    the join reuses); the FULL JOIN pairs only rows alone under their key on both sides, so every row of
    either side is on exactly one joined row — paired, or alone (a one-sided key, or a duplicate). Keys are
    joined by `=`, which Spark partitions as the window (`<=>` would make it shuffle both sides again): a row
    whose key is NULL is never paired here, so it is kept, and DuckDB pairs and compares it as it does
    every kept row."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    compare = Compare(plan, options, SPARK)
    differs = " OR ".join(f"coalesce({compare.differs(c)}, false)" for c in plan.compared) or "false"
    key_list = ", ".join(keys)
    counted = {side: f"(SELECT *, count(*) OVER (PARTITION BY {key_list}) AS {RESERVED}n FROM {RESERVED}{side})"  # noqa: S608 - generated
               for side in ("left", "right")}
    alias = {"left": "l", "right": "r"}
    columns = [f"{alias[side]}.{quote_ident(c)} AS {_PREFIX[side]}{n}" for side in ("left", "right")
               for n, c in enumerate(own[side])]
    equal = f"l.{FILE} IS NOT NULL AND r.{FILE} IS NOT NULL AND NOT ({differs})"
    sql = (f"SELECT {', '.join(columns)}, {equal} AS {RESERVED}eq FROM {counted['left']} l "  # noqa: S608 - generated
           f"FULL JOIN {counted['right']} r ON {' AND '.join(f'l.{k} = r.{k}' for k in keys)} "
           f"AND l.{RESERVED}n = 1 AND r.{RESERVED}n = 1")

    def on_joined(side: str) -> Any:
        return lambda name: f"{_PREFIX[side]}{own[side].index(name)}"

    measures = {"equal": [f"count_if({RESERVED}eq)"]}
    for side in ("left", "right"):
        measures[side] = total_exprs(plan, side, SPARK, on_joined(side), f"count({_PREFIX[side]}{own[side].index(FILE)})")
    flat = [(side, e) for side, exprs in measures.items() for e in exprs]
    observation = Observation(f"{RESERVED}diff")
    joined = _query(spark, "diff/pairs", sql).observe(
        observation, *[F.expr(e).alias(f"m{n}") for n, (_, e) in enumerate(flat)])
    joined.where(f"NOT {RESERVED}eq").drop(f"{RESERVED}eq").write.mode("overwrite").parquet(str(folder))
    check_stopped()
    measured = observation.get
    values: dict[str, list[Any]] = {side: [] for side in measures}
    for n, (side, _) in enumerate(flat):
        values[side].append(measured[f"m{n}"])
    return int(values["equal"][0]), {side: totals_of(plan, values[side]) for side in ("left", "right")}


def _query(spark: Any, name: str, sql: str) -> Any:
    """spark.sql(sql), its physical plan kept under `name` when spark_engine.RECORD_PLANS is set (tests)."""
    from mediclear_cli import spark_engine

    check_stopped()  # a signal py4j swallowed in an earlier call (errors.check_stopped)
    if spark_engine.RECORD_PLANS:
        spark_engine.PLANS[name] = spark.sql(f"EXPLAIN {sql}").collect()[0][0]
    return spark.sql(sql)
