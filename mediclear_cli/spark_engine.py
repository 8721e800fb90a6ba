"""The record-level reconciliation on Apache Spark (`--engine spark`, issue 17).

What Spark runs is the very SQL the DuckDB engine runs — sql/recon/{side_totals,counts,pairs,keys,rows,held,
groups,matched}.sql, written in the subset both engines accept (docs/decisions.md) — over the month's rows as
mediclear's loader wrote them (normalised and checked, as Parquet in the run's scratch folder). Spark's own
part is small and named here: a statement `CREATE OR REPLACE TEMP TABLE t AS q` is run as q, written as
Parquet and read back as the view t (Spark has no temporary tables; the files keep a stage from being
computed again by each later one); `$name` parameters become Spark's `:name` markers; both_sides (DuckDB's
UNION ALL BY NAME) is DataFrame.unionByName; setl_id_hash is sql/spark/functions.sql.

What the DuckDB session then reads is what a partitioned DuckDB month leaves behind (reconcile
._categorise_partitions): recon_held and recon_keys_held as Parquet files, recon_groups and recon_matched
(small sums) as tables, each side's input totals — typed exactly as the DuckDB engine types them, so every
later step (the proofs, the clearing, every output) runs unchanged and yields the same bytes.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import ConfigError, check_stopped

# The file whose view each engine makes its own way (DuckDB: UNION ALL BY NAME; Spark: unionByName).
OWN_WAY = "recon/both_sides"
INSTALL_HINT = "--engine spark needs pyspark (and Java 17 or later): pip install 'mediclear[spark]'"


# The masters Spark 4 accepts (spark-submit refuses others with a Java stack trace): checked first, so a typo is
# one line naming it.
MASTER = re.compile(r"local(\[(\*|[1-9][0-9]*)(,[1-9][0-9]*)?\])?|yarn|(spark|k8s)://\S+")
MASTER_FORMS = "expected local[N], yarn, spark://HOST:PORT or k8s://URL"


# The driver's log settings (spark-log4j2.properties), as a JVM option: what spark.driver.extraJavaOptions is when
# mediclear starts Spark and the user set none
LOG4J_OPTION = f"-Dlog4j2.configurationFile={Path(__file__).with_name('spark-log4j2.properties').as_uri()}"

# Where the month is read and checked with --engine spark: auto (on the executors, unless the master is local:
# there they share this machine, where DuckDB loads it several times faster), driver, or executors.
LOAD_SETTING = "spark.mediclear.load"
LOAD_PLACES = ("auto", "driver", "executors")


def check_master(master: str) -> bool:
    """Whether `master` is a master URL Spark accepts."""
    return MASTER.fullmatch(master) is not None


@dataclass
class SparkOptions:
    """Where and how Spark runs: `master` (--spark-master, else spark.master of `conf`, else local[*]) and
    any spark.* settings (mediclear.toml's [spark] table)."""

    master: str = ""
    conf: dict[str, str] = field(default_factory=dict)


def check_available() -> None:
    """Exit 78 (configuration) with one line saying how to install pyspark, when it is not installed."""
    try:
        import pyspark  # noqa: F401 - only whether it imports
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def check_options(options: SparkOptions) -> None:
    """Before anything is read: pyspark is installed (else exit 78 saying how to install it) and the
    configuration's master is one Spark accepts (else exit 78 naming it)."""
    check_available()
    master = options.conf.get("spark.master")
    if not options.master and master is not None and not check_master(master):
        raise ConfigError(f"spark.master {master!r}: {MASTER_FORMS}")
    _check_load_place(options.conf.get(LOAD_SETTING, "auto"))


def session(options: SparkOptions) -> Any:
    """The Spark session (one per process: pyspark's getOrCreate), with mediclear's settings: UTC session
    time (settlement times are local wall-clock times without a zone and must stay so), no web UI unless
    asked for, ANSI SQL (an overflow fails instead of wrapping), column names told apart by case as DuckDB tells
    them apart (an extra `Note` is not `note`). Started by spark-submit, its master and options stand."""
    check_options(options)
    # pyspark warns, as it first uses pandas, about the version it finds (mediclear hands it none)
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
    from pyspark.sql import SparkSession

    conf = {"spark.app.name": "mediclear", "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.ansi.enabled": "true", "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
            "spark.sql.caseSensitive": "true"} | options.conf
    if options.master:
        conf["spark.master"] = options.master
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not under spark-submit (which has started the driver's JVM with its own master and options)
        conf.setdefault("spark.master", "local[*]")
        # The Python of Spark's workers (the month is loaded there, spark_loader): pyspark takes it from
        # PYSPARK_PYTHON as it starts — spark-submit sets that from spark.pyspark.python; here mediclear does.
        # A local master's workers run this Python, with its duckdb and pyarrow, not the first python3 on PATH.
        if "spark.pyspark.python" in conf:
            os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
        elif conf["spark.master"].startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        conf.setdefault("spark.driver.extraJavaOptions", LOG4J_OPTION)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    # py4j logs a call cut short by Ctrl-C as an error with its traceback, on the root logger: mediclear says
    # it in one line (stop_jobs, cli)
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    logging.getLogger().addFilter(_not_py4j)
    # pyspark puts its own SIGINT handler in place, which calls into the JVM from inside the call it interrupts;
    # mediclear's (cli._on_signal) stays: it unwinds the run and stop_jobs cancels what Spark still runs
    signals = ((signal.SIGINT, signal.getsignal(signal.SIGINT)), (signal.SIGTERM, signal.getsignal(signal.SIGTERM))) \
        if threading.current_thread() is threading.main_thread() else ()
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that cannot be reached: the machine's set-up, not the data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot start Spark (master {conf.get('spark.master', 'of spark-submit')}): {first}") from None
    finally:
        for signum, handler in signals:
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(signum, handler)
    return spark


def loads_on_executors(spark: Any, options: SparkOptions) -> bool:
    """Whether the month is loaded on the executors (spark_loader) rather than by DuckDB on the driver:
    LOAD_SETTING as mediclear.toml gives it, else (under spark-submit) as the submitted --conf gives it, else
    auto. An unknown value is exit 78 naming it."""
    place = options.conf.get(LOAD_SETTING)
    if place is None:
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ
        place = spark.sparkContext.getConf().get(LOAD_SETTING, "auto") if submitted else "auto"
    _check_load_place(place)
    if place == "auto":
        return not str(spark.sparkContext.master).startswith("local")
    return bool(place == "executors")


def _check_load_place(place: str) -> None:
    if place not in LOAD_PLACES:
        raise ConfigError(f"{LOAD_SETTING} {place!r}: expected one of {', '.join(LOAD_PLACES)}")


def _not_py4j(record: Any) -> bool:
    return "py4j" not in str(getattr(record, "pathname", ""))


def stop_jobs(spark: Any, exc: BaseException) -> BaseException:
    """After a failure or an interruption (Ctrl-C, SIGTERM), what to raise: the Interrupted that a py4j error
    stands for when the signal cut a call to the JVM short (exit 130 / 143, not 70). Spark's running jobs are
    cancelled. Interrupted, the JVM this process started is ended at once: the query it runs would go on
    submitting jobs into a scratch folder that is being removed, and at exit its shutdown hook logs every one
    it aborts (under spark-submit the JVM is not this process's to end; its jobs are cancelled)."""
    from mediclear_cli.errors import Interrupted, stopped_by

    seen: BaseException | None = exc
    while seen is not None and not isinstance(seen, Interrupted):
        seen = seen.__cause__ or seen.__context__
    if seen is None and stopped_by:  # py4j answered the cut call with an error of its own, without the cause
        seen = Interrupted(stopped_by[0])
    context = spark.sparkContext
    jvm = getattr(getattr(context, "_gateway", None), "proc", None)  # pyspark's Popen of the JVM it started
    try:
        if seen is not None and jvm is not None:
            # pyspark's accumulator server (a thread here, fed by the JVM) would print the broken connection
            server = getattr(context, "_accumulatorServer", None)
            if server is not None:
                server.handle_error = lambda request, address: None
            jvm.kill()  # not a call into the JVM: one right after the interrupted call may fail or hang
            jvm.wait(timeout=30)
        else:
            context.cancelAllJobs()
    except Exception:  # noqa: BLE001, S110 - the JVM may be gone already; there is nothing left to stop then
        pass
    return seen if seen is not None else exc


def statements(name: str) -> list[str]:
    """The statements of sql/<name>.sql, without their comment lines (Spark runs one statement at a time)."""
    text = "\n".join(line for line in engine.load_sql(name).splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


_TEMP_TABLE = re.compile(r"CREATE OR REPLACE TEMP TABLE (\w+) AS\s+(.*)", re.DOTALL | re.IGNORECASE)


# With RECORD_PLANS set, run() keeps the physical plan of every query it runs, by file (tests/test_spark.py).
RECORD_PLANS = False
PLANS: dict[str, str] = {}


def run(spark: Any, name: str, folder: Path, **params: Any) -> Any:
    """Run sql/<name>.sql on Spark; a temporary table is written to folder/<table> and read back as a view.
    Returns the DataFrame of the last statement (a query's result)."""
    args = {key: _spark_value(value) for key, value in params.items()}  # each statement takes those it names
    result = None
    for statement in statements(name):
        sql = re.sub(r"\$(\w+)", r":\1", statement)
        used = {k: v for k, v in args.items() if f":{k}" in sql}
        table = _TEMP_TABLE.fullmatch(sql)
        query = sql if table is None else table.group(2)
        if RECORD_PLANS and not query.upper().startswith("CREATE"):
            plan = spark.sql(f"EXPLAIN {query}", args=used or None).collect()[0][0]
            PLANS[name] = PLANS.get(name, "") + plan
        if table is None:
            result = spark.sql(sql, args=used or None)
            continue
        path = str(folder / table.group(1))
        spark.sql(query, args=used or None).write.mode("overwrite").parquet(path)
        result = spark.read.parquet(path)
        result.createOrReplaceTempView(table.group(1))
        check_stopped()
    return result


def _spark_value(value: Any) -> Any:
    """A bound value as Spark takes it: a timestamp as its text (compared with a TIMESTAMP_NTZ column, Spark
    casts it to one — a Python datetime would be read in the driver's time zone)."""
    import datetime

    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    return value


def categorise(con: duckdb.DuckDBPyConnection, spark: Any, options: Any, files: dict[str, list[Path]],
               carried: bool, folder: Path) -> dict[str, dict[str, Any]]:
    """Categorise the month on Spark: the rows of each side are `files` (what the loader wrote) and, when
    `carried`, the rows DuckDB's table `carried` marks used. Writes under `folder` what reconcile's later
    steps read (fill); returns each side's rows and money in (recon/side_totals)."""
    from mediclear_cli.reconcile import categorising, side_totals

    folder.mkdir(parents=True, exist_ok=True)
    for statement in statements("spark/functions"):
        spark.sql(statement)
    _register_inputs(con, spark, files, carried)
    inputs = side_totals(run(spark, "recon/side_totals", folder).collect())
    for name, params in categorising(options).items():
        if name != OWN_WAY:
            run(spark, name, folder, **params)
    return inputs


def _register_inputs(con: duckdb.DuckDBPyConnection, spark: Any, files: dict[str, list[Path]], carried: bool) -> None:
    """The views the SQL reads, on Spark: claims and ledger (their files, with the carried-in rows),
    both_sides, late_keys and recon_period (small tables from `con`)."""
    from mediclear_cli.reconcile import _carried_rows

    frames = {}
    for side in schema.SIDES:
        frame = (spark.read.parquet(*[str(f) for f in files[side]]) if files[side] else
                 _to_spark(spark, con.sql(f"SELECT * FROM {quote_ident('_empty_' + side)}").to_arrow_table()))  # noqa: S608 - quoted
        frame = frame.drop("_part")
        if carried:
            frame = frame.unionByName(_to_spark(spark, con.sql(_carried_rows(side)).to_arrow_table()),
                                      allowMissingColumns=True)
        frames[side] = frame
    for side, frame in _lined_up(con, frames, carried).items():
        frame.createOrReplaceTempView(side)
        frames[side] = frame
    frames["claims"].selectExpr("'claims' AS side", "*").unionByName(
        frames["ledger"].selectExpr("'ledger' AS side", "*"), allowMissingColumns=True).createOrReplaceTempView("both_sides")
    _to_spark(spark, con.sql("SELECT setl_id FROM late_keys").to_arrow_table()).createOrReplaceTempView("late_keys")
    _to_spark(spark, con.sql("SELECT label FROM recon_period").to_arrow_table()).createOrReplaceTempView("recon_period")


def _lined_up(con: duckdb.DuckDBPyConnection, frames: dict[str, Any], carried: bool) -> dict[str, Any]:
    """Each side's frame with a column the two sides type differently (an extra column: DECIMAL in a Parquet
    claims file, text in a CSV ledger) cast to the type DuckDB's both_sides gives it. Left to unionByName,
    Spark would widen DECIMAL and text to DOUBLE, and a held row's `433.00` would read `433.0`."""
    from mediclear_cli.diff import SPARK
    from mediclear_cli.reconcile import side_rows

    def duckdb_types(side: str) -> dict[str, str]:
        described = con.execute(f"DESCRIBE SELECT * FROM ({side_rows(side, carried)})").fetchall()  # noqa: S608 - generated
        return {name: typ for name, typ, *_ in described}

    claims, ledger = frames["claims"], frames["ledger"]
    apart = [name for name in claims.columns if name in ledger.columns
             and claims.schema[name].dataType != ledger.schema[name].dataType]
    if not apart:
        return frames
    types = {side: duckdb_types(side) for side in schema.SIDES}
    common = {}
    for name in apart:
        both = " UNION ALL ".join(f"SELECT CAST(NULL AS {types[side][name]}) AS x" for side in schema.SIDES)
        common[name] = SPARK.type(con.execute(f"SELECT typeof(x) FROM ({both}) LIMIT 1").fetchall()[0][0])  # noqa: S608 - DuckDB's own type names
    return {side: frame.withColumns({name: frame[name].cast(typ) for name, typ in common.items()})
            for side, frame in frames.items()}


def _to_spark(spark: Any, table: Any) -> Any:
    """A small Arrow table (carried rows, late keys, the period label) as a Spark DataFrame."""
    if table.num_rows:
        return spark.createDataFrame(table)
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame([], from_arrow_schema(table.schema))


def fill(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """What Spark wrote under `folder`, in `con` with the DuckDB engine's types: reconcile has run the DuckDB
    categorisation over no rows (so each table is typed as its SQL makes it); recon_keys_held, recon_groups
    and recon_matched are filled from Spark's files, and recon_held becomes a view over them that casts each
    column to its type (Spark sums DECIMAL(18,2) as DECIMAL(28,2), DuckDB as DECIMAL(38,2))."""
    for table in ("recon_keys_held", "recon_groups", "recon_matched"):
        files = quote_literal(str(folder / table / "*.parquet"))
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet({files})")  # noqa: S608 - constant names, path quoted
    held = con.execute("DESCRIBE recon_held").fetchall()
    cols = ", ".join(f"CAST({quote_ident(n)} AS {t}) AS {quote_ident(n)}" for n, t, *_ in held)
    files = quote_literal(str(folder / "recon_held" / "*.parquet"))
    con.execute("DROP TABLE recon_held")
    con.execute(f"CREATE OR REPLACE TEMP VIEW recon_held AS SELECT {cols} FROM read_parquet({files})")  # noqa: S608 - quoted
