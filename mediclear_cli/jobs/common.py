"""What every job shares: the job's options (JobSpec), reading and hashing the inputs, the reconciliation
every run starts with and its refusals (a future month, an empty one, a side mostly rejected, an --out that
must not be replaced), the run's DuckDB session, the summary and manifest heads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import duckdb

from mediclear_cli import __version__, engine, schema
from mediclear_cli.clearing import ClearOptions
from mediclear_cli.errors import InputDataError, OutputError, UsageError, check_stopped
from mediclear_cli.inputs import footer_rows, refuse_shared_inputs, resolve_paths
from mediclear_cli.manifest import hash_inputs, run_id_of
from mediclear_cli.periods import Period
from mediclear_cli.reconcile import ReconOptions, ReconResult, reconcile
from mediclear_cli.remote import is_remote
from mediclear_cli.screen import ScreenOptions
from mediclear_cli.sources import ReadOptions, Staged, is_parquet
from mediclear_cli.summary import RunSummary, SideSummary

if TYPE_CHECKING:
    from mediclear_cli.workspace import CarryIn

Progress = Callable[..., None]  # progress(stage, **counts): a stage begins (counts for the structured log)


def quiet(_: str, **__: Any) -> None:
    return None


@dataclass
class JobSpec:
    claims: list[str]
    ledger: list[str]
    period: str
    out: Path | None
    tolerance: str = "0.00"
    regions: str | None = None
    prepaid: str | None = None
    level: str = "province"
    settlement: str = "central"
    memory_limit: str = ""
    temp_directory: str = ""
    excel_exception_rows: int = 20_000
    statements: bool = True  # printable per-unit statements (HTML) in statements/
    lang: str = "zh"
    pdf: str = "never"  # never | auto | always: a PDF of all statements through headless Chromium
    screen: bool = False  # run the risk screens over the ledger and add flags to the run
    screen_options: ScreenOptions = field(default_factory=ScreenOptions)
    workspace: Path | None = None  # record the run, carry held items between months, refuse closed periods
    force: bool = False  # clear a month in which no settlement of the inputs lies (refused otherwise)
    max_rejected: str = "5%"  # a side with a larger share of rejected rows is unusable input (exit 65)
    sign_key: bytes | None = None  # HMAC key: manifest.sig lets `verify --key` prove the run was not changed
    read: ReadOptions = field(default_factory=ReadOptions)  # text and Excel inputs: format, encoding, --map
    platform_result: str | None = None  # reconcile: the platform's 3202 result file to compare verdicts with
    policy: str | None = None  # clear: the insured regions' policies, checked over the ledger (政策核算 sheet)
    engine: str = "duckdb"  # what categorises the month's rows: duckdb, or spark (issue 17)
    spark: Any = None  # spark_engine.SparkOptions: --spark-master and mediclear.toml's [spark] settings

    def max_rejected_share(self) -> Decimal:
        text = self.max_rejected.strip()
        try:
            value = Decimal(text.removesuffix("%"))
        except ArithmeticError:
            value = Decimal(-1)
        if not value.is_finite() or not 0 <= value <= 100:
            raise UsageError(f"--max-rejected {self.max_rejected!r}: expected a share such as 5% (0% to 100%)")
        return value / 100

    def tolerance_decimal(self) -> Decimal:
        try:
            value = Decimal(self.tolerance)
        except ArithmeticError:
            raise UsageError(f"--tolerance {self.tolerance!r}: expected an amount such as 0.00") from None
        if not value.is_finite() or value < 0 or value != value.quantize(Decimal("0.01")):
            raise UsageError(f"--tolerance {self.tolerance!r}: expected a non-negative amount in cents")
        return value


def categories(recon: ReconResult) -> dict[str, SideSummary]:
    zero = {"records": 0, "medfee_sumamt": Decimal("0.00"), "fund_pay_sumamt": Decimal("0.00"),
            "acct_pay": Decimal("0.00"), "clr_amt": Decimal("0.00")}
    sides: dict[str, SideSummary] = {}
    for side in schema.SIDES:
        info = recon.per_side[side]
        sides[side] = {
            "files": len(recon.sides[side].files),
            "input": info["input"],
            "categories": {c: info["categories"].get(c, dict(zero)) for c in schema.CATEGORIES},
        }
    return sides


def control_totals(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    cursor = engine.run(con, "recon/control_totals")
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        side = record.pop("side")
        key = "matched" if record.pop("matched") else "held"
        totals.setdefault(side, {})[key] = record
    return totals


def base_summary(command: str, recon: ReconResult, run_id: str) -> RunSummary:
    period = recon.options.period
    return {
        "command": command,
        "tool_version": __version__,
        "run_id": run_id,
        "period": period.label,
        "window": [period.start, period.end],
        "tolerance": recon.options.tolerance,
        "sides": categories(recon),
        "held_records": recon.held_records,
        "held_by_category": {
            c: sum(recon.per_side[s]["categories"].get(c, {"records": 0})["records"] for s in schema.SIDES)
            for c in schema.CATEGORIES
            if c != "matched"
        },
        "totals_view": {"balanced": recon.totals_balanced, "groups": recon.totals},
        "checks": {"accounting": "passed"},
        "warnings": _swapped_side_warnings(recon),
    }


def _swapped_side_warnings(recon: ReconResult) -> list[str]:
    """A claims input carrying agency-only columns (or a ledger carrying the hospital's) was most likely given
    to the wrong option: say so where people and scripts look (stderr and summary.json)."""
    warnings = []
    for side, foreign, owner in (("claims", schema.AGENCY_ONLY_COLUMNS, "agency ledger"),
                                 ("ledger", schema.HOSPITAL_ONLY_COLUMNS, "hospital extract")):
        found = sorted({e.lower() for e in recon.sides[side].extras} & set(foreign))
        if found:
            other = "ledger" if side == "claims" else "claims"
            warnings.append(f"the {side} input carries {', '.join(found)}, which only an {owner} holds: "
                            f"are --{side} and --{other} swapped?")
    return warnings


def prepare(
    con: duckdb.DuckDBPyConnection, command: str, spec: JobSpec, progress: Progress, carry: CarryIn | None = None
) -> tuple[ReconResult, list[dict[str, Any]], str, dict[str, Any]]:
    period = Period.parse(spec.period)
    refuse_future(period)
    options = ReconOptions(period, spec.tolerance_decimal(), carry, spec.read.checked(), engine=spec.engine,
                           spark=spec.spark)
    rejected_share = spec.max_rejected_share()  # a usage error is found before the month is read, not after
    clear_options = ClearOptions(spec.level, spec.settlement)
    # the small files (local paths only) are found before a remote month is fetched
    controls = {role: resolve_paths([path], role) for role, path in (
        ("regions", spec.regions), ("prepaid", spec.prepaid), ("platform_result", spec.platform_result),
        ("policy", spec.policy)) if path is not None}
    given = {"claims": spec.claims, "ledger": spec.ledger}
    if spec.engine == "spark" and any(is_remote(p) for paths in given.values() for p in paths):
        given = fetch_remote(con, spec, given, progress)
    files = {"claims": resolve_paths(given["claims"], "claims"), "ledger": resolve_paths(given["ledger"], "ledger")}
    refuse_shared_inputs(files["claims"], files["ledger"])
    check_output(spec.out, command, period.label, [p for paths in files.values() for p in paths], spec.workspace)
    files |= controls
    spec_options: dict[str, Any] = {"period": period.label, "tolerance": str(options.tolerance)}
    if command == "clear":
        spec_options |= {"level": clear_options.level, "settlement": clear_options.settlement}
    if carry is not None:
        # What the month starts from is part of what it is: the same files on another carried-in state are
        # another run.
        spec_options |= {"carried_from": carry.state_run_id, "written_off": len(carry.writeoff_keys)}
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(hash_inputs, files)
        # The files just resolved (and being hashed) are exactly the files read: a glob is expanded once.
        recon = reconcile(con, [str(p) for p in files["claims"]], [str(p) for p in files["ledger"]], options,
                          progress)
        progress("hashing inputs")
        inputs = hashing.result()
    describe_reading(inputs, [t for side in recon.sides.values() for t in side.tables])
    if spec.read.checked() != ReadOptions():
        # --map and the forced format or encoding change what the files say: another reading is another run
        spec_options["read"] = spec.read.checked().describe()
    refuse_mostly_rejected(con, recon, rejected_share, spec.max_rejected)
    if not spec.force:
        refuse_empty_month(recon)
    run_id = run_id_of(inputs, spec_options)
    return recon, inputs, run_id, spec_options


def fetch_remote(con: duckdb.DuckDBPyConnection, spec: JobSpec, given: dict[str, list[str]],
                 progress: Progress) -> dict[str, list[str]]:
    """The month's files given as Spark paths (hdfs://, s3a://), copied into the run's scratch folder through
    Spark's Hadoop client (remote.fetch); `given` with those paths replaced by the copies."""
    from mediclear_cli import remote, spark_engine

    scratch = engine.scratch_if_any(con)
    if scratch is None:
        raise UsageError("remote inputs need a run's scratch folder (engine.session)")
    settings = spec.spark or spark_engine.SparkOptions()
    spark = spark_engine.session(settings)
    try:
        # loaded on the executors, a Parquet file is read where it lies (its footer alone comes here)
        on_executors = spark_engine.loads_on_executors(spark, settings)
        reads = {role: spec.read.checked().for_side(role) for role in given}
        fetched = remote.fetch(spark, given, scratch / "fetched", progress,
                               (lambda role, name: is_parquet(Path(name), reads[role])) if on_executors else None)
        check_stopped()  # a signal py4j swallowed (errors.check_stopped)
        return fetched
    except BaseException as exc:
        raise spark_engine.stop_jobs(spark, exc) from None


def describe_reading(entries: list[dict[str, Any]], tables: list[Staged]) -> None:
    """Add to each manifest input that is not Parquet how it was read: its tables (a zip's members, a
    workbook's sheets), format, encoding and delimiter — what an auditor needs to read it the same way."""
    for entry in entries:
        read = [t.describe() for t in tables
                if t.format != "parquet" and (t.origin == entry["file"] or t.origin.startswith(entry["file"] + "!"))]
        if read:
            entry["read_as"] = read


def refuse_future(period: Period) -> None:
    """A month that has not begun cannot be cleared: a typo (2062-10) or a clock that runs ahead would
    otherwise put every real month after it out of order in a workspace (exit 2)."""
    now = Period.parse("current")
    if period.ordinal > now.ordinal:
        raise UsageError(f"--period {period.label} lies in the future (this machine's clock says {now.label})")


def refuse_mostly_rejected(con: duckdb.DuckDBPyConnection, recon: ReconResult, share: Decimal, given: str) -> None:
    """A side most of whose rows are rejected is a file read wrongly (a float-typed region column, a shifted
    header), not a month of bad settlements: above the share, the run fails (65) naming the column that
    caused most of the rejections, as the file spells it, instead of holding the month."""
    for side in schema.SIDES:
        info = recon.per_side[side]
        total = info["input"]["records"]
        rejected = info["categories"].get("rejected", {"records": 0})["records"]
        if not total or rejected <= share * total:
            continue
        top = con.execute(f"SELECT source_file, reject_column, reject_reason, count(*) AS n FROM {side} "  # noqa: S608 - side is one of two fixed names
                          "WHERE reject_reason IS NOT NULL GROUP BY ALL ORDER BY n DESC, source_file, reject_column LIMIT 1").fetchall()
        file, column, reason, _ = top[0]
        spelt = recon.sides[side].source_names.get(file, {}).get(column, column)
        raise InputDataError(f"{file}: {rejected} of {total} {side} rows rejected ({rejected * 100 / total:.0f}%, "
                             f"above --max-rejected {given}); most for column {spelt!r} ({reason}); check how the "
                             "file was exported, or raise --max-rejected")


def refuse_empty_month(recon: ReconResult) -> None:
    """Inputs of which not one valid row lies in the month were given for the wrong month: refused (exit 2)
    unless --force, before anything is written or recorded as the month's clearing."""
    valid = in_period = 0
    for side in schema.SIDES:
        cats = recon.per_side[side]["categories"]
        side_valid = sum(v["records"] for c, v in cats.items() if c != "rejected")
        valid += side_valid
        in_period += side_valid - cats.get("out_of_period", {"records": 0})["records"]
    if valid and not in_period:
        raise UsageError(f"not one of the {valid} valid rows lies in {recon.options.period.label}: wrong --period "
                         "or wrong files? (--force clears the month anyway)")


def check_output(out: Path | None, command: str, period: str | None, inputs: list[Path],
                 workspace: Path | None = None) -> None:
    """Before any work: `--out` may not hold a run of another command or period (73), may not lie in a
    workspace's own folders — its store, held/ — where the next run's tidying would delete it, nor in its
    runs/ unless the run is made with that workspace (73), and may not contain an input, which replacing it
    would destroy (2)."""
    from mediclear_cli.runfolder import refuse_foreign_run

    if out is None:
        return
    refuse_foreign_run(out.resolve() if out.is_symlink() else out, command, period)
    target = out.resolve()
    for folder in (target, *target.parents):
        if not (folder / "workspace.duckdb").is_file():
            continue
        if not target.is_relative_to(folder / "runs"):
            raise OutputError(f"{out}: inside the workspace {folder} (its store and held/ are its own); "
                              f"choose a folder outside it, or leave --out out to use {folder / 'runs'}")
        if workspace is None or workspace.resolve() != folder:
            raise OutputError(f"{out}: among the recorded runs of the workspace {folder}; a run there is made "
                              f"with --workspace {folder}, or written to a folder outside it")
    for path in inputs:
        if path.resolve().is_relative_to(target):
            raise UsageError(f"{path}: an input inside the output folder {out}, which this run replaces; "
                             "move the input or choose another --out")


def sized_session(memory_limit: str, temp_directory: str, *sides: tuple[str, list[str]],
                  partitioned: bool = False) -> Any:
    """A session whose database is in memory when the inputs fit (engine.fits_in_memory), else a file. A job
    that categorises a large month in partitions (`partitioned`: clear, reconcile) holds one partition at a
    time, so its database is in memory whatever the month's size."""
    rows = footer_rows(*sides)
    return engine.session(memory_limit, temp_directory,
                          in_memory=engine.fits_in_memory(rows, memory_limit) or (partitioned and rows is not None))


def session_for(spec: JobSpec) -> Any:
    """The session of clear and reconcile: partitioned, under engine.CLEARING_MEMORY_LIMIT unless a limit was given."""
    limit = spec.memory_limit or engine.DEFAULT_MEMORY_LIMIT or engine.CLEARING_MEMORY_LIMIT
    return sized_session(limit, spec.temp_directory, ("claims", spec.claims), ("ledger", spec.ledger),
                         partitioned=True)
