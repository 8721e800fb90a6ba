"""Record-level reconciliation (对明细账) and the totals view (对总账), with the accounting identity proved.

Every input row ends in exactly one category of contract §3. Before anything is written, per side,
rows in = Σ rows over categories and money in = Σ money over categories (and rows in = the row counts the
Parquet footers declare); otherwise `CheckFailed` (exit 70) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

import duckdb

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import CheckFailed, UsageError, check_stopped
from mediclear_cli.inputs import Partitions, SideInput, footer_rows, load_sides
from mediclear_cli.masking import masked
from mediclear_cli.periods import Period
from mediclear_cli.sources import ReadOptions
from mediclear_cli.writeoffs import written_off

MONEY_SUMMED = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "clr_amt")


@dataclass
class ReconOptions:
    period: Period
    tolerance: Decimal = Decimal("0.00")
    carry: Any = None  # workspace.CarryIn: held rows of earlier months to consider again (None: the run stands alone)
    read: ReadOptions = field(default_factory=ReadOptions)  # how text and Excel inputs are read
    # Partitions by a hash of setl_id (issue 16): 1 runs the month as one; more, each partition on its own
    # (needs the run's scratch folder, engine.session); 0 lets reconcile choose (engine.partitions_for).
    partitions: int = 0
    # Which engine categorises the month's rows (issue 17): duckdb, or spark (spark_engine; its master and
    # settings in `spark`). Loading, the proofs, the clearing and every output run on DuckDB either way.
    engine: str = "duckdb"
    spark: Any = None  # spark_engine.SparkOptions


@dataclass
class ReconResult:
    options: ReconOptions
    sides: dict[str, SideInput]
    per_side: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: list[dict[str, Any]] = field(default_factory=list)
    totals_balanced: bool = True
    scratch_bytes_max: int = 0  # the most the scratch database took on disk while reconciling
    carried: dict[str, dict[str, int]] = field(default_factory=dict)  # per side: rows carried in, used, superseded
    partitions: int = 1  # how many partitions by setl_id the month was categorised in (issue 16)

    @property
    def held_records(self) -> int:
        return sum(
            cats["records"]
            for side in self.per_side.values()
            for name, cats in side["categories"].items()
            if name != "matched"
        )

    @property
    def matched_records(self) -> int:
        return int(self.per_side["ledger"]["categories"].get("matched", {}).get("records", 0))


def _money_row(names: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return {n: Decimal(v) for n, v in zip(names, values, strict=True)}


def side_totals(rows: Any) -> dict[str, dict[str, Any]]:
    """Each side's rows and money in, from the rows of recon/side_totals (whichever engine ran it)."""
    return {row[0]: _money_row(MONEY_SUMMED, tuple(row[2:])) | {"records": int(row[1])} for row in rows}


def check_accounting(result: ReconResult) -> list[str]:
    """The contract's per-side identities; returns the failures (empty when all hold)."""
    failures: list[str] = []
    for side, info in result.per_side.items():
        total_in = info["input"]
        cats = info["categories"]
        rows_out = sum(c["records"] for c in cats.values())
        if rows_out != total_in["records"]:
            failures.append(f"{side}: {total_in['records']} rows in but {rows_out} rows over categories")
        if info["footer_records"] != total_in["records"]:
            failures.append(f"{side}: files declare {info['footer_records']} rows but {total_in['records']} were read")
        for money in MONEY_SUMMED:
            out = sum((c[money] for c in cats.values()), Decimal("0.00"))
            if out != total_in[money]:
                failures.append(f"{side}: {money} in {total_in[money]} but {out} over categories")
    failures.extend(_matched_sides_agree(result))
    return failures


def _matched_sides_agree(result: ReconResult) -> list[str]:
    """Matched is one row per side per id, each compared amount within the tolerance: so the two sides'
    matched counts are equal and their matched money differs by at most tolerance x count — exactly equal at
    the default tolerance of 0. Proved from the sums, independently of how the pairs were compared."""
    if set(result.per_side) != set(schema.SIDES):
        return []
    empty = {"records": 0} | {m: Decimal("0.00") for m in MONEY_SUMMED}
    claims, ledger = (result.per_side[s]["categories"].get("matched", empty) for s in schema.SIDES)
    if claims["records"] != ledger["records"]:
        return [f"matched: {claims['records']} claims rows but {ledger['records']} ledger rows"]
    bound = result.options.tolerance * claims["records"]
    return [
        f"matched {money}: claims {claims[money]} and ledger {ledger[money]} differ by more than {bound}"
        for money in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay")
        if abs(claims[money] - ledger[money]) > bound
    ]


def reconcile(
    con: duckdb.DuckDBPyConnection,
    claims: list[str],
    ledger: list[str],
    options: ReconOptions,
    progress: Callable[..., None] | None = None,
) -> ReconResult:
    """Load both sides into `con`, categorise every row (the view `recon_rows`), and prove the identities.
    `progress(stage, **counts)` hears when each side starts loading (with the rows its footers declare) and
    when reconciling starts."""
    engine.run(con, "macros")
    parts = _partitions(con, options, claims, ledger)
    sides = load_sides(con, {"claims": claims, "ledger": ledger}, progress, options.read, parts)
    if progress is not None:
        progress("reconciling", rows=sides["claims"].rows + sides["ledger"].rows)
    result = ReconResult(options, sides)
    period = options.period
    con.execute("CREATE OR REPLACE TEMP TABLE recon_period AS SELECT $label AS label", {"label": period.label})
    if options.engine == "spark":
        assert parts is not None  # _partitions plans files for Spark to read
        result.carried, inputs = _categorise_on_spark(con, options, parts)
    elif parts is None:
        result.carried = _carry_in(con, options.carry)
        inputs = _categorise(con, options)
    else:
        result.carried, inputs = _categorise_partitions(con, options, parts)
        result.partitions = parts.count
    result.scratch_bytes_max = max(result.scratch_bytes_max, engine.scratch_bytes(con))
    for side in schema.SIDES:
        result.per_side[side] = {
            "input": inputs[side],
            "footer_records": sides[side].footer_rows + result.carried.get(side, {}).get("used", 0),
            "categories": {},
        }
    for row in engine.run(con, "recon/summary").fetchall():
        side, category = row[0], row[1]
        result.per_side[side]["categories"][category] = {"records": int(row[2])} | _money_row(
            MONEY_SUMMED, row[3:]
        )
    failures = check_accounting(result)
    if failures:
        raise CheckFailed("reconciliation accounting does not hold: " + "; ".join(failures))
    both = sides["claims"].present & sides["ledger"].present
    cursor = engine.run(
        con,
        "recon/totals",
        by_insutype="insutype" in both,
        by_clr_type="clr_type" in both,
    )
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        group = dict(zip(names, row, strict=True))
        group["balanced"] = all(
            group[f"claims_{m}"] == group[f"ledger_{m}"]
            for m in ("records", "medfee_sumamt", "fund_pay_sumamt", "acct_pay")
        )
        result.totals.append(group)
    result.totals_balanced = all(g["balanced"] for g in result.totals)
    return result


def categorising(options: ReconOptions) -> dict[str, dict[str, Any]]:
    """The SQL files that categorise a month, in order, with what each binds: the one list both engines run
    (spark_engine makes recon/both_sides its own way)."""
    period = {"period_start": options.period.start, "period_end": options.period.end}
    return {"recon/counts": period, "recon/pairs": {"tolerance": options.tolerance}, "recon/keys": {},
            "recon/both_sides": {}, "recon/rows": {}, "recon/held": {}, "recon/groups": period, "recon/matched": {}}


def _categorise(con: duckdb.DuckDBPyConnection, options: ReconOptions) -> dict[str, dict[str, Any]]:
    """Categorise every row of `claims` and `ledger` (contract §3): recon_keys_held (the non-matched ids), the
    view recon_rows, recon_held, recon_groups, recon_matched. Returns each side's rows and money in, counted from the tables themselves."""
    inputs = side_totals(engine.run(con, "recon/side_totals").fetchall())
    for name, params in categorising(options).items():
        engine.run(con, name, **params)
    for view in ("recon_matched_rows", "recon_keys"):
        con.execute(f"DROP VIEW {view}")
    for table in ("recon_counts", "recon_pairs"):
        con.execute(f"DROP TABLE {table}")
    return inputs


def _partitions(con: duckdb.DuckDBPyConnection, options: ReconOptions, claims: list[str],
                ledger: list[str]) -> Partitions | None:
    """The partitioned plan for this month (None: one partition, the month as a whole)."""
    scratch = engine.scratch_if_any(con)
    rows = footer_rows(("claims", claims), ("ledger", ledger))
    if options.engine == "spark":
        if scratch is None:
            raise UsageError("--engine spark needs a run's scratch folder (engine.session)")
        # files for Spark to read (it partitions them itself), compressed as DuckDB's own for a large month;
        # written by Spark's executors off a local master (spark_engine.loads_on_executors)
        from mediclear_cli import spark_engine

        settings = options.spark or spark_engine.SparkOptions()
        spark = spark_engine.session(settings)
        on_executors = spark if spark_engine.loads_on_executors(spark, settings) else None
        return Partitions.plan(1, scratch / "partitions", rows=rows, spark=on_executors)
    count = options.partitions or engine.partitions_for(con, rows)
    if count <= 1 or scratch is None:
        return None
    return Partitions.plan(count, scratch / "partitions", engine.threads_and_limit(con)[1], rows)


def _categorise_partitions(con: duckdb.DuckDBPyConnection, options: ReconOptions, parts: Partitions
                           ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    """Categorise a month written as partitions (inputs.Partitions): each partition holds every row of its
    setl_ids on both sides, so each is categorised on its own by the very SQL a whole month runs through
    (_categorise), over views of its files (with its carried-in rows). What it yields is kept: recon_keys_held
    and recon_held (wide rows) as Parquet files
    in the scratch folder — appended to tables in memory, the month's held rows alone took half of a 1300MB
    limit at 10M rows per side and the appends and everything after them spilled (session 7) — and
    recon_groups and recon_matched (small sums) in tables. Then recon_keys_held and recon_held become views over
    their files, the sides views over all partitions (with the carried-in rows), and recon_rows is defined
    over them as for a whole month — the clearing, the screens and the carry-forward read the same names
    either way."""
    folder = parts.folder
    _all_views(con, parts)
    carried = _carry_in(con, options.carry, "_all")
    totals: dict[str, dict[str, Any]] = {}
    kept = {table: folder / table for table in ("recon_keys_held", "recon_held")}
    for path in kept.values():
        path.mkdir(parents=True, exist_ok=True)
    for part in range(parts.count):
        for side in schema.SIDES:
            files = parts.files(side, part)
            source = ("read_parquet([" + ", ".join(quote_literal(str(f)) for f in files) + "], hive_partitioning = false) "
                      f"WHERE {parts.source_filter(part)}"
                      if files else f"{quote_ident(side + '_all')} LIMIT 0")  # noqa: S608 - quoted
            rows = f"SELECT * FROM {source}"  # noqa: S608 - quoted
            if carried:
                rows = f"({rows}) UNION ALL BY NAME ({_carried_rows(side, f'{parts.key_sql()} = {int(part)}')})"
            # A view, not a table: each statement of the categorisation reads the columns it needs from the
            # partition's files. Copied into a table first, every column was decoded and stored and the
            # categorisation pressed on the memory limit: 10M rows per side, reconciling 28-31 s -> 20-21 s.
            con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(side)} AS {rows}")
        for side, money in _categorise(con, options).items():
            totals[side] = {k: totals.get(side, {}).get(k, 0) + v for k, v in money.items()}
        for table, path in kept.items():
            target = quote_literal(str(path / f"{part:06d}.parquet"))
            con.execute(f"COPY {quote_ident(table)} TO {target} ({parts.parquet})")
        for table in ("recon_groups", "recon_matched"):
            head = (f"CREATE OR REPLACE TEMP TABLE {table}_all AS" if part == 0 else
                    f"INSERT INTO {table}_all BY NAME")
            con.execute(f"{head} SELECT * FROM {table}")  # noqa: S608 - constant names
    _side_views(con, bool(carried))
    for table, path in kept.items():
        con.execute(f"DROP TABLE {quote_ident(table)}")
        every = quote_literal(str(path / "*.parquet"))
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS SELECT * FROM read_parquet({every})")  # noqa: S608 - quoted
    for table in ("recon_groups", "recon_matched"):
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_all RENAME TO {table}")
    engine.run(con, "recon/both_sides")
    engine.run(con, "recon/rows")
    return carried, totals


def _all_views(con: duckdb.DuckDBPyConnection, parts: Partitions) -> None:
    """Views `claims_all` and `ledger_all`: every row of each side as the loader wrote it into `parts`."""
    for side in schema.SIDES:
        written = quote_literal(str(parts.folder / side / "*" / "_part=*" / "*.parquet"))
        # a side without a row was left as an empty table of its columns (inputs.load_tables)
        source = (f"read_parquet({written}, hive_partitioning = false)"
                  if parts.files(side) else quote_ident("_empty_" + side))
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(side + '_all')} AS SELECT * FROM {source}")  # noqa: S608 - quoted


def _side_views(con: duckdb.DuckDBPyConnection, carried: bool, limit: str = "") -> None:
    """Views `claims` and `ledger` over `<side>_all` and, when `carried`, the side's carried-in rows."""
    for side in schema.SIDES:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {quote_ident(side)} AS SELECT * FROM ({side_rows(side, carried)}) {limit}")  # noqa: S608 - quoted


def side_rows(side: str, carried: bool) -> str:
    """The query of every row of `side`: `<side>_all` and, when `carried`, the side's carried-in rows."""
    rows = f"SELECT * FROM {quote_ident(side + '_all')}"  # noqa: S608 - quoted
    return f"({rows}) UNION ALL BY NAME ({_carried_rows(side)})" if carried else rows


def _categorise_on_spark(con: duckdb.DuckDBPyConnection, options: ReconOptions, parts: Partitions
                         ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
    """Categorise the month on Spark (spark_engine) from the files the loader wrote into `parts`, then leave
    in `con` what a partitioned DuckDB month leaves (_categorise_partitions): each table typed by running the
    DuckDB categorisation over no rows, then filled with what Spark wrote."""
    from mediclear_cli import spark_engine

    _all_views(con, parts)
    carried = _carry_in(con, options.carry, "_all")
    spark = spark_engine.session(options.spark or spark_engine.SparkOptions())
    folder = parts.folder.parent / "spark"
    try:
        read_by_spark = spark_engine.categorise(con, spark, options, {s: parts.files(s) for s in schema.SIDES},
                                                bool(carried), folder)
        check_stopped()  # a signal py4j swallowed (errors.check_stopped)
    except BaseException as exc:
        raise spark_engine.stop_jobs(spark, exc) from None
    _side_views(con, bool(carried), "LIMIT 0")
    _categorise(con, options)
    spark_engine.fill(con, folder)
    _side_views(con, bool(carried))
    # Money in is counted by DuckDB from the same rows, so the accounting identity (money in = Σ over Spark's
    # categories) is proved across the two engines; and Spark must have read what DuckDB reads.
    inputs = side_totals(engine.run(con, "recon/side_totals").fetchall())
    if inputs != read_by_spark:
        raise CheckFailed(f"Spark read other rows or money than DuckDB: {read_by_spark} against {inputs}")
    engine.run(con, "recon/both_sides")
    engine.run(con, "recon/rows")
    return carried, inputs


CARRIED_COLUMNS = (*schema.CANONICAL, "source_file", "source_row")


def _carried_rows(side: str, where: str = "true") -> str:
    cols = ", ".join(quote_ident(c) for c in CARRIED_COLUMNS)
    return (f"SELECT {cols}, first_period AS held_since FROM carried "  # noqa: S608 - identifiers quoted
            f"WHERE side = {quote_literal(side)} AND used AND ({where})")


def _insert_carried(con: duckdb.DuckDBPyConnection, side: str) -> None:
    """Add the carried-in rows of `side` to table `side` (a whole month), marked held_since. A partitioned
    month adds each partition's own to its view instead (_categorise_partitions)."""
    table = quote_ident(side)
    con.execute(f"ALTER TABLE {table} ADD COLUMN held_since VARCHAR")
    con.execute(f"INSERT INTO {table} BY NAME {_carried_rows(side)}")


def _carry_in(con: duckdb.DuckDBPyConnection, carry: Any, sides: str = "") -> dict[str, dict[str, int]]:
    """Add the rows held by earlier months (a workspace's 挂账) to both sides, marked `held_since`.

    A carried row is superseded by a valid row of the same side and setl_id in this month's files (a
    re-extract or correction: the new row takes its place and its history). Written-off items are not carried.
    Tables made: carried (every carried row with `used`), late_keys (carried setl_ids, which may lie before
    the window), key_since (the first month each carried setl_id was held). `sides` names the side tables
    by suffix (`claims<sides>`); the carried rows are added to them only when they are the whole month
    (no suffix): a partitioned month adds each partition's own (_categorise_partitions)."""
    con.execute("CREATE OR REPLACE TEMP TABLE late_keys (setl_id VARCHAR)")
    if carry is None or carry.held_file is None:
        return {}
    con.execute("CREATE OR REPLACE TEMP TABLE writeoff_keys (side VARCHAR, setl_id VARCHAR, first_period VARCHAR, "
                "source_file VARCHAR, source_row BIGINT)")
    if carry.writeoff_keys:
        con.executemany("INSERT INTO writeoff_keys VALUES (?, ?, ?, ?, ?)", carry.writeoff_keys)
    held = quote_literal(str(carry.held_file))
    cols = ", ".join(quote_ident(c) for c in CARRIED_COLUMNS)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE carried AS SELECT h.side, h.first_period, {cols}, h.clr_amt, "  # noqa: S608 - identifiers and path quoted
        f"NOT EXISTS (SELECT 1 FROM {quote_ident('claims' + sides)} f WHERE h.side = 'claims' "
        "            AND f.reject_reason IS NULL AND f.setl_id = h.setl_id) "
        f"AND NOT EXISTS (SELECT 1 FROM {quote_ident('ledger' + sides)} f WHERE h.side = 'ledger' "
        "                AND f.reject_reason IS NULL "
        "                AND f.setl_id = h.setl_id) AS used "
        f"FROM read_parquet({held}) h WHERE NOT {written_off('h', 'writeoff_keys')}"
    )
    counts: dict[str, dict[str, int]] = {}
    for side in schema.SIDES:
        if not sides:
            _insert_carried(con, side)
        rows = con.execute("SELECT count(*), count(*) FILTER (WHERE used) FROM carried WHERE side = $side",
                           {"side": side}).fetchall()[0]
        counts[side] = {"carried_in": int(rows[0]), "used": int(rows[1]), "superseded": int(rows[0] - rows[1])}
    con.execute("INSERT INTO late_keys SELECT DISTINCT setl_id FROM carried")
    con.execute("CREATE OR REPLACE TEMP TABLE key_since AS "
                "SELECT setl_id, min(first_period) AS first_period FROM carried GROUP BY setl_id")
    return counts


def extra_kinds(con: duckdb.DuckDBPyConnection, table: str = "recon_held") -> dict[str, str]:
    """Which columns of `table` are text and which nested (struct, list, map, union)."""
    kinds = {}
    # DESCRIBE: recon_held is a table, or a view over files when the month was partitioned
    for name, data_type, *_ in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall():
        if data_type == "VARCHAR":
            kinds[name] = "text"
        elif any(data_type.startswith(t) for t in ("STRUCT", "MAP", "UNION")) or data_type.endswith("]"):
            kinds[name] = "nested"
    return kinds


# The compared columns that differ, as the list exceptions.parquet holds, from recon_rows' diff_text (joined
# by ', ' in SQL both engines run): NULL for a row that is not one of a one-to-one pair, [] for identical rows.
DIFF_COLUMNS_SQL = ("CASE WHEN diff_text IS NULL THEN NULL WHEN diff_text = '' THEN CAST([] AS VARCHAR[]) "
                    "ELSE string_split(diff_text, ', ') END AS diff_columns")


def exceptions_sql(extras: list[str], kinds: dict[str, str] | None = None) -> str:
    """Every non-matched row with side, category, reason, stmt_rslt and differing columns; personal data masked."""
    cols = ["side", "category", "reason", "detail", "stmt_rslt", "diff_columns", "source_file", "source_row"]
    select = [DIFF_COLUMNS_SQL if c == "diff_columns" else quote_ident(c) for c in cols]
    for col in schema.COLUMNS:
        q = quote_ident(col.name)
        if col.name == "certno":
            select.append(f"mask_id({q}) AS {q}")
        elif col.name == "psn_name":
            select.append(f"mask_name({q}) AS {q}")
        else:
            select.append(q)
    select.append("clr_amt")
    for extra in extras:
        q = quote_ident(extra)
        select.append(f"{masked(q, extra, (kinds or {}).get(extra))} AS {q}")
    return (
        f"SELECT {', '.join(select)} FROM recon_held "  # noqa: S608 - identifiers quoted; no values
        "ORDER BY side, category, setl_id NULLS FIRST, source_file, source_row"
    )


def all_extras(result: ReconResult) -> list[str]:
    seen: dict[str, None] = {}
    if result.carried:
        seen["held_since"] = None  # the month a carried-in row was first held (NULL: new this month)
    for side in schema.SIDES:
        for extra in result.sides[side].extras:
            seen.setdefault(extra, None)
    return list(seen)
