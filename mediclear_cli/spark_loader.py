"""The month's rows read and checked on Spark's executors (`--engine spark` off a local master, issue 17).

The loader's own DuckDB SQL (inputs._group_select, inputs.side_rows_sql) runs inside Spark's Python workers:
Spark reads each group of same-schema files where they lie, with each row's file and row number
(`_metadata`), hands every Arrow batch to a DuckDB connection in the worker, and writes what it yields as
the Parquet files a DuckDB load writes for Spark (inputs.Partitions, one written partition): the same
columns, types, values, reject reasons, source_file and source_row. So contract §1-2 stay written once, and
their semantics are DuckDB's by construction — no second dialect to keep in step. The executors need duckdb
(the driver's version: checked, exit 78 otherwise) and pyarrow in the Python Spark gives them; not mediclear:
the function Spark ships is self-contained.

What is measured on this machine (local[2], docs/decisions.md "The month read on the executors"): the Arrow
round trip through Python costs Spark more than DuckDB takes to load the month here, which is why a local
master loads on the driver unless `spark.mediclear.load = executors` says otherwise.
"""

from __future__ import annotations

import re
from functools import reduce
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from mediclear_cli import engine, inputs, schema
from mediclear_cli.engine import quote_ident
from mediclear_cli.errors import ConfigError, InputDataError, check_stopped
from mediclear_cli.sources import IN_PLACE, Staged

# What a worker's own error says first, so the driver can tell the executors' set-up from the data (exit 78)
WORKER_SETUP = "mediclear worker set-up: "
_GLOB = re.compile(r"([\\{}\[\]*?])")
_JAVA_CAUSE = re.compile(r"^Caused by: ([^\n]*)", re.MULTILINE)
_PYTHON_ERROR = re.compile(r"^[A-Za-z_.]*(?:Error|Exception): [^\n]*?(?= SQLSTATE|$)", re.MULTILINE)


def escaped(path: str) -> str:
    """`path` as Spark's reader takes it literally: Hadoop globs {}[]*? unless escaped (an extract named
    `2026[10].parquet` is one file, not a pattern)."""
    return _GLOB.sub(r"\\\1", path)


def uri_key(uri: str) -> tuple[str, str, str]:
    """A file's URI as Spark writes it in `_metadata.file_path` (file:/x) and as Hadoop qualifies it
    (file:///x), made comparable: scheme, authority and the still-encoded path."""
    parts = urlsplit(uri)
    return parts.scheme, parts.netloc, parts.path


def load(con: duckdb.DuckDBPyConnection, partitions: inputs.Partitions, side: str,
         groups: list[tuple[list[Staged], pa.Schema]], packed: bool, maps: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Load one side on Spark into `partitions` (one written partition, as inputs.load_tables writes it for
    Spark); returns its extra columns (name carried -> source name) in the order DuckDB's load gives them.
    Interrupted, Spark's jobs are cancelled (spark_engine.stop_jobs); a failure is exit 65 naming the file, or
    78 when the executors cannot run the loader."""
    spark = partitions.spark
    if partitions.written != 1:
        raise ValueError("Spark loads a month into one written partition")
    try:
        return _load(con, spark, partitions, side, groups, packed, maps)
    except BaseException as exc:
        from mediclear_cli.errors import MediclearError
        from mediclear_cli.spark_engine import stop_jobs

        seen = stop_jobs(spark, exc)  # an interruption (exit 130/143), and Spark's jobs cancelled
        if seen is not exc or isinstance(exc, MediclearError) or not isinstance(exc, Exception):
            raise seen from None
        raise _reported(exc, side, [s for files, _ in groups for s in files]) from None


def _load(con: duckdb.DuckDBPyConnection, spark: Any, partitions: inputs.Partitions, side: str,
          groups: list[tuple[list[Staged], pa.Schema]], packed: bool, maps: tuple[tuple[str, str], ...]) -> dict[str, str]:
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    cursor = con.cursor()  # the shapes registered here stay off the caller's connection
    extras: dict[str, str] = {}
    planned: list[tuple[Any, list[str], dict[str, str], dict[tuple[str, str, str], str]]] = []
    try:
        for number, (files, _) in enumerate(groups):
            frame = spark.read.parquet(*[escaped(_where(s)) for s in files])
            clash = {n: f"extra_{n}" for n in frame.columns if n.lower() in inputs._READER_COLUMNS}
            sql_schema = to_arrow_schema(frame.withColumnsRenamed(clash).schema)
            frame = frame.withColumnsRenamed(clash).selectExpr(
                "*", "_metadata.file_path AS source_file", "_metadata.row_index AS file_row_number")
            batch_schema = to_arrow_schema(frame.schema)
            if clash:  # as inputs._read_renamed hands DuckDB such a group: its columns sorted
                sql_schema = pa.schema(sorted(sql_schema, key=lambda f: f.name))
            own: dict[str, str] = {}
            shape = f"_arrow_shape_{side}_{number}"
            cursor.register(shape, batch_schema.empty_table())
            selects = [inputs._group_select(side, files, sql_schema, own, quote_ident(name), packed, maps)
                       for name in (shape, "_arrow_batch")]
            for name, source in own.items():
                extras.setdefault(name, source)
            planned.append((frame, selects, own, {uri_key(_qualified(spark, _where(s))): s.origin for s in files}))
        # The side's columns and their types: DuckDB's, over every group at once (as one load unites them);
        # packed extras give every group the same columns, and the first stands for all
        shapes = [selects[0] for _, selects, _, _ in (planned[:1] if packed else planned)]
        united = inputs.side_rows_sql(side, shapes, list(extras))
        described = [(name, typ) for name, typ, *_ in cursor.execute(f"DESCRIBE {united}").fetchall()]
        target = cursor.sql(f"{united} LIMIT 0").to_arrow_table().schema
    finally:
        cursor.close()
    macros = engine.load_sql("macros")
    frames = []
    for frame, selects, own, origins in planned:
        have = set(schema.CANONICAL) | set(inputs.INTERNAL_COLUMNS) | set(own)
        rows = inputs.side_rows_sql(side, selects[1:], list(own))
        cols = ", ".join(f"CAST({quote_ident(n) if n in have else 'NULL'} AS {t}) AS {quote_ident(n)}"
                         for n, t in described)
        worker = _normaliser(f"SELECT {cols} FROM ({rows})", macros, target, origins, duckdb.__version__)  # noqa: S608 - generated
        frames.append(frame.mapInArrow(worker, from_arrow_schema(target)))
    month = reduce(lambda a, b: a.unionByName(b), frames)
    codec = "zstd" if "zstd" in partitions.parquet else "lz4_raw"
    folder = partitions.folder / side / "c00000" / "_part=0"
    month.write.option("compression", codec).parquet(str(folder))
    check_stopped()  # a signal py4j swallowed (errors.check_stopped)
    return extras


def _where(table: Staged) -> str:
    """Where Spark reads a table: its file here, or the remote file it stands for (sources.IN_PLACE)."""
    return IN_PLACE.get(table.path.resolve(), str(table.path)) if IN_PLACE else str(table.path)


def _qualified(spark: Any, path: Any) -> str:
    """The file's URI as Spark's file system qualifies it (file:///x, hdfs://host:port/x)."""
    from mediclear_cli.remote import _file_system

    fs, hadoop = _file_system(spark, str(path))
    return str(fs.makeQualified(hadoop).toUri().toString())


def _reported(exc: Exception, side: str, files: list[Staged]) -> Exception:
    """What a failed load on Spark is to the user: the executors' set-up (78) when a worker said so; else the
    files could not be read (65), naming the one Spark names, or the side's files."""
    text = str(exc)
    if WORKER_SETUP in text:
        line = text[text.index(WORKER_SETUP) + len(WORKER_SETUP):].splitlines()[0]
        return ConfigError(f"Spark's executors cannot load the month: {line}")
    # A Python worker's error comes as its traceback: what it says is the last line naming an exception
    raised = [m.group(0).strip() for m in _PYTHON_ERROR.finditer(text)]
    if raised and any(raised[-1].startswith(k) for k in ("ModuleNotFoundError", "ImportError")):
        return ConfigError(f"Spark's executors cannot load the month: {raised[-1]} (their Python needs duckdb "
                           "and pyarrow: spark.pyspark.python, or a venv given with --archives)")
    named = [s.origin for s in files if _where(s) in text or escaped(_where(s)) in text]
    where = named[0] if named else (files[0].origin if len(files) == 1 else f"{len(files)} {side} files")
    causes = [m.group(1).strip() for m in _JAVA_CAUSE.finditer(text)]  # a Java error: its deepest cause
    first = raised[-1] if raised else causes[-1] if causes else next(
        (ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return InputDataError(f"{where}: cannot be read on Spark ({first[:300]})")


def _normaliser(sql: str, macros: str, target: pa.Schema, origins: dict[tuple[str, str, str], str],
                version: str) -> Any:
    """The function Spark runs in its Python workers over each partition's Arrow batches: `sql` in DuckDB
    over each batch (as `_arrow_batch`, its source_file the input's own name), cast to `target`. Nested, so
    Spark's pickler ships it by value: the workers need duckdb and pyarrow, not mediclear."""

    def normalise(batches: Any) -> Any:
        from urllib.parse import urlsplit as split

        import duckdb as worker_duckdb
        import pyarrow as wpa
        import pyarrow.compute as pc

        if worker_duckdb.__version__ != version:
            raise RuntimeError(f"{WORKER_SETUP}the executors' Python has duckdb {worker_duckdb.__version__}, the "
                               f"driver's {version}: give them the same (spark.pyspark.python, or --archives a venv)")
        con = worker_duckdb.connect()
        con.execute("SET threads = 1")  # Spark runs one worker per core
        con.execute(macros)
        for batch in batches:
            table = wpa.Table.from_batches([batch])
            paths = table.column("source_file")
            seen = pc.unique(paths)
            names = []
            for uri in seen.to_pylist():
                parts = split(str(uri))
                names.append(origins[(parts.scheme, parts.netloc, parts.path)])
            named = pc.take(wpa.array(names, wpa.string()), pc.index_in(paths, seen))
            table = table.set_column(table.schema.get_field_index("source_file"), "source_file", named)
            con.register("_arrow_batch", table)
            yield from con.sql(sql).to_arrow_table().cast(target).to_batches()
            con.unregister("_arrow_batch")
        con.close()

    return normalise
