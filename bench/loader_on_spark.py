"""Experiment (issue 17, session 12; nothing in mediclear uses it yet): the loader's very DuckDB SQL run inside
Spark's Python workers with mapInArrow, so the month's checks could run on the executors with DuckDB's
semantics exactly, instead of on the driver.

One side of a month (claims) normalised and checked three ways, timed, and compared row for row:
  duckdb      inputs' generated SQL into a DuckDB table (what the loader does, without partitioning)
  spark       Spark reads the files (file and row from _metadata), each Arrow batch goes through the same
              SQL in DuckDB inside the Python worker, Spark writes the rows as Parquet
  floors      Spark reading and writing the same files; and with an Arrow round trip through Python

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python bench/loader_on_spark.py bench/data/month-1000000

Uses inputs' private builders (_group_select, _reject_case): an experiment, not an interface.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from mediclear_cli import inputs, schema, spark_engine
from mediclear_cli.engine import quote_ident
from mediclear_cli.sources import Staged


def rows_sql(side: str, staged: list[Staged], file_schema: pa.Schema, source: str | None) -> str:
    extras: dict[str, str] = {}
    select = inputs._group_select(side, staged, file_schema, extras, source)
    index, reason, column = inputs._reject_case(side)
    canonical = ", ".join(quote_ident(c) for c in schema.CANONICAL)
    extra_cols = "".join(f", {quote_ident(e)}" for e in extras)
    return (f"SELECT {canonical}{extra_cols}, source_file, CAST(source_row AS BIGINT) AS source_row, "  # noqa: S608
            f"{reason} AS reject_reason, {column} AS reject_column FROM (SELECT *, {index} AS _rj FROM ({select}))")


def main(month: Path, side: str = "claims") -> None:
    files = sorted((month / side).glob("*.parquet"))
    file_schema = pq.read_schema(files[0])
    staged = [Staged(str(f), f) for f in files]

    con = duckdb.connect()
    con.execute("SET threads = 2")
    started = time.perf_counter()
    con.execute(f"CREATE TABLE loaded AS {rows_sql(side, staged, file_schema, None)}")
    print(f"duckdb  {time.perf_counter() - started:6.1f} s")
    expected = con.sql("SELECT * FROM loaded ORDER BY source_file, source_row").to_arrow_table()

    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    spark = spark_engine.session(spark_engine.SparkOptions("local[2]"))
    sql = rows_sql(side, staged, file_schema, '"batch"')
    empty = pa.table({f.name: pa.array([], f.type) for f in file_schema}).append_column(
        "source_file", pa.array([], pa.string())).append_column("file_row_number", pa.array([], pa.int64()))
    probe = duckdb.connect()
    probe.register("batch", empty)
    out_schema = probe.sql(sql).to_arrow_table().schema

    def normalise(batches):  # type: ignore[no-untyped-def]
        worker = duckdb.connect()
        worker.execute("SET threads = 1")
        for batch in batches:
            worker.register("batch", pa.Table.from_batches([batch]))
            yield from worker.sql(sql).to_arrow_table().to_batches()
            worker.unregister("batch")

    def read() -> object:
        return spark.read.parquet(*[str(f) for f in files]).selectExpr(
            "*", "_metadata.file_path AS source_file", "_metadata.row_index AS file_row_number").withColumn(
            "source_file", F.regexp_replace("source_file", "^file:", ""))

    out = Path("/tmp/mediclear-loader-on-spark")
    started = time.perf_counter()
    read().mapInArrow(normalise, from_arrow_schema(out_schema)).write.mode("overwrite").parquet(str(out / "loaded"))
    print(f"spark   {time.perf_counter() - started:6.1f} s")
    got = duckdb.sql(f"SELECT * FROM read_parquet('{out}/loaded/*.parquet') ORDER BY source_file, source_row").to_arrow_table()  # noqa: S608 - a constant path
    print("the same rows:", got.num_rows == expected.num_rows and got.cast(expected.schema).equals(expected))

    started = time.perf_counter()
    read().write.mode("overwrite").parquet(str(out / "floor"))
    print(f"floor: Spark reads and writes the files  {time.perf_counter() - started:6.1f} s")
    frame = read()
    started = time.perf_counter()
    frame.mapInArrow(lambda it: it, frame.schema).write.mode("overwrite").parquet(str(out / "floor2"))
    print(f"floor: the same through Python's Arrow   {time.perf_counter() - started:6.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
