"""The `mediclear` command line: parse → call one core function → render.

MediclearError subclasses carry the contract's exit codes; they are caught in `main` only, printed as one
line on stderr, and turned into the exit code. `--debug` shows tracebacks instead. Data and `--json` go to
stdout, everything for people to stderr; nothing ever prompts.
"""

from __future__ import annotations

import functools
import sys
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import duckdb
import typer
from typer.core import TyperArgument

from mediclear_cli import __version__, console
from mediclear_cli.errors import (
    ExitCode,
    Interrupted,
    MediclearError,
    engine_reason,
    exit_code_for,
    interruption,
    stopped_by,
)
from mediclear_cli.writers import to_json


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Every command's errors end here: one line on stderr and the contract's exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            _interruptible(command, *args, **kwargs)
        except typer.Exit:
            raise
        except MediclearError as exc:
            if _state["debug"]:
                raise
            console.error(str(exc), int(exc.exit_code))
            raise typer.Exit(int(exc.exit_code)) from None
        except duckdb.IOException as exc:
            if _state["debug"]:
                raise
            first = engine_reason(exc) if str(exc) else "I/O error"
            console.error(f"I/O error in the scratch database ({first}); nothing was published", int(ExitCode.IO))
            raise typer.Exit(int(ExitCode.IO)) from None
        except duckdb.OutOfMemoryException as exc:
            if _state["debug"]:
                raise
            first = engine_reason(exc) if str(exc) else ""
            hint = ("the spill folder's disk is full: point --temp-dir at a disk with room"
                    if "max_temp_directory_size" in str(exc) or "offload" in first
                    else "set --memory-limit below the machine's memory and --temp-dir to spill")
            console.error(f"out of memory ({first}); {hint}; nothing was published", int(ExitCode.INTERNAL))
            raise typer.Exit(int(ExitCode.INTERNAL)) from None
        except BrokenPipeError:  # `mediclear held | head`: the reader has gone, which is not an error
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 - the one boundary: a bug must not print data in a traceback
            if _state["debug"]:
                raise
            console.error(f"internal error ({type(exc).__name__}); nothing was published; rerun with --debug",
                          int(ExitCode.INTERNAL))
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return run


def _interruptible(command: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run a command; if a signal stopped it, whatever unwound it (our Interrupted, KeyboardInterrupt, DuckDB's
    RuntimeError("Query interrupted")) ends as one line and 130 / 143 — even under --debug, so cron never reads
    an interrupted run as finished (1) or as a bug (70)."""
    try:
        command(*args, **kwargs)
    except typer.Exit:
        raise
    except BaseException as exc:
        code = exit_code_for(exc)
        if code not in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            raise
        console.error(interruption(code), int(code))
        raise typer.Exit(int(code)) from None


def _argument_type(self: Any, ctx: Any) -> str | None:
    """Help shows an argument by its metavar (PATH..., RUN_DIR) only, never a Python type such as <list[str]>:
    Typer prints the type of arguments whatever their metavar, so the metavar'd ones are told apart here."""
    return None if self.metavar else _plain_argument_type(self, ctx)


_plain_argument_type = TyperArgument.display_type_rich
TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]

app = typer.Typer(
    name="mediclear",
    help="Reconcile and clear cross-region medical-insurance settlements (异地就医直接结算清算).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state: dict[str, Any] = {"debug": False, "spark_conf": {}}

ClaimsOpt = Annotated[list[str], typer.Option("--claims", metavar="PATH", help="Hospital settlement extract: file, directory or glob; repeatable.")]
LedgerOpt = Annotated[list[str], typer.Option("--ledger", metavar="PATH", help="Agency ledger: file, directory or glob; repeatable.")]
PeriodOpt = Annotated[str, typer.Option("--period", metavar="YYYY-MM", help="Settlement month: YYYY-MM, the platform's "
                                                                         "YYYYMM, previous or current (this machine's clock).")]
OutOpt = Annotated[Path, typer.Option("--out", metavar="DIR", help="Run folder; replaced only once the new run is complete.")]
ToleranceOpt = Annotated[str, typer.Option("--tolerance", metavar="AMOUNT", help="Largest amount difference still matched, in yuan.")]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="Print summary.json to stdout.")]
MemoryOpt = Annotated[str, typer.Option("--memory-limit", metavar="SIZE", help=(
    "DuckDB memory limit, e.g. 4GB (default: 1300MB for clear and reconcile, which keeps a 10M-row month under "
    "2 GiB — a larger limit runs large months faster; DuckDB's, 80% of memory, for the other commands)."))]
TempOpt = Annotated[str, typer.Option("--temp-dir", metavar="DIR", help="Where DuckDB spills when memory runs short.")]
EngineOpt = Annotated[str, typer.Option("--engine", metavar="duckdb|spark", help=(
    "What reconciles the month's rows: duckdb (one machine) or spark (Apache Spark, pip install "
    "'mediclear[spark]'; spark.* settings in mediclear.toml). The results are the same."))]
SparkMasterOpt = Annotated[str, typer.Option("--spark-master", metavar="URL", help=(
    "With --engine spark: local[N], yarn, spark://host:7077, k8s://... (default: spark.master of "
    "mediclear.toml, else local[*])."))]
LangOpt = Annotated[str, typer.Option("--lang", metavar="zh|en", help="Statement language: zh or en.")]
ReadmitOpt = Annotated[int, typer.Option("--readmit-days", metavar="DAYS", help="Screen: re-admission within this many days.")]
WindowOpt = Annotated[float, typer.Option("--duplicate-window-hours", metavar="HOURS", help="Screen: duplicate settlements this close.")]
OutlierKOpt = Annotated[float, typer.Option("--outlier-k", metavar="K", help="Screen: cost outlier threshold, robust SDs on log cost.")]
WorkspaceOpt = Annotated[Optional[str], typer.Option(
    "--workspace", metavar="DIR", help="Workspace folder: records runs, carries held items between months, closes periods.")]
SignOpt = Annotated[Optional[str], typer.Option("--sign", metavar="KEYFILE", help="Sign manifest.json with "
                                               "HMAC-SHA256 under this key (manifest.sig); `verify --key` checks it.")]
MaxRejectedOpt = Annotated[str, typer.Option("--max-rejected", metavar="SHARE", help="Above this share of "
                                             "rejected rows a side is unusable input (exit 65), e.g. 5% or 100%.")]
ForceOpt = Annotated[bool, typer.Option("--force", metavar="", help="Clear the month even if not one valid row "
                                                                  "of the inputs lies in it (refused otherwise).")]
# One default for every command that prints (auto: a PDF when Chromium is installed); $MEDICLEAR_PDF sets
# another for a machine, e.g. `never` on a host whose Chromium is not to be used.
PdfOpt = Annotated[str, typer.Option("--pdf", metavar="never|auto|always", envvar="MEDICLEAR_PDF",
                                     help="Also print statements/statements.pdf with headless Chromium: auto (when "
                                          "one is installed; a failure to print is a warning), always (a failure "
                                          "is an error) or never.")]
FormatOpt = Annotated[str, typer.Option("--format", metavar="auto|parquet|csv|tsv|txt|xlsx|3202", help="How to read "
                                       "the inputs (default: by extension; .zip and .gz are opened).")]
EncodingOpt = Annotated[str, typer.Option("--encoding", metavar="auto|utf-8|gb18030", help="Encoding of text inputs "
                                         "(GBK and GB2312 are read as GB18030; default auto: BOM, UTF-8, else GB18030).")]
SheetOpt = Annotated[Optional[str], typer.Option("--sheet", metavar="NAME|N", help="The .xlsx sheet to read (default: "
                                                 "every sheet with a header row).")]
MapOpt = Annotated[Optional[list[str]], typer.Option("--map", metavar="COL=NAME", help="Read the file's column COL as "
                                                     "the contract's NAME, e.g. --map 'JSID=setl_id'; repeatable.")]
ClaimsFormatOpt = Annotated[Optional[str], typer.Option("--claims-format", metavar="3202", help="The claims are the "
                                                        "platform's 3202 detail files (TAB, no header; detected too).")]
MinGroupOpt = Annotated[int, typer.Option("--outlier-min-group", metavar="N", help="Screen: smallest hospital x med_type group.")]


def _check_pdf(pdf: str) -> None:
    from mediclear_cli.errors import UsageError

    if pdf not in ("never", "auto", "always"):
        raise UsageError(f"--pdf {pdf!r}: expected never, auto or always")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mediclear {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", metavar="", help="Show tracebacks instead of one-line errors.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        "--config", metavar="FILE", help="mediclear.toml with the options of clear, the workspace and paths "
                         "(default: $MEDICLEAR_CONFIG, else ./mediclear.toml when present).")] = None,
    log_format: Annotated[Optional[str], typer.Option(
        "--log-format", metavar="text|json", help="text (people) or json (one object per line on stderr, for cron and log shippers).")] = None,
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    from mediclear_cli.config import load_config

    _state["debug"] = debug
    try:
        settings = load_config(config)
    except MediclearError as exc:
        console.error(str(exc), int(exc.exit_code))
        raise typer.Exit(int(exc.exit_code)) from None
    fmt = log_format or settings.log_format or "text"
    if fmt not in ("text", "json"):
        console.error(f"--log-format {fmt!r}: expected text or json", int(ExitCode.USAGE))
        raise typer.Exit(int(ExitCode.USAGE))
    console.set_format(fmt)
    ctx.default_map = settings.default_map
    _state["spark_conf"] = settings.spark_conf


def _read(fmt: str, encoding: str, sheet: str | None, maps: list[str] | None, claims_format: str | None = None) -> Any:
    """The reading options of a command (checked: a wrong one is exit 2 before anything is read)."""
    from mediclear_cli.sources import ReadOptions, parse_maps

    return ReadOptions(fmt, encoding, sheet, parse_maps(maps or []), claims_format).checked()


def _engine(name: str, master: str) -> tuple[str, Any]:
    """--engine and --spark-master, checked before anything is read: an unknown engine is exit 2; spark
    without pyspark installed is exit 78 with one line saying how to install it."""
    from mediclear_cli.errors import UsageError

    if name not in ("duckdb", "spark"):
        raise UsageError(f"--engine {name!r}: expected duckdb or spark")
    if name == "duckdb":
        if master:
            raise UsageError("--spark-master goes with --engine spark")
        return name, None
    from mediclear_cli import spark_engine

    if master and not spark_engine.check_master(master):
        raise UsageError(f"--spark-master {master!r}: {spark_engine.MASTER_FORMS}")
    options = spark_engine.SparkOptions(master, dict(_state["spark_conf"]))
    spark_engine.check_options(options)
    return name, options


def _key(path: str | None) -> bytes | None:
    from mediclear_cli.verify import read_key

    return read_key(Path(path)) if path else None


def _finished_run(out: Path | None) -> dict[str, Any] | None:
    """What a finished run folder at `out` held before this run (so replacing it is never silent)."""
    from mediclear_cli.runfolder import finished_run

    if out is None:
        return None
    try:
        return finished_run(out)
    except ValueError:  # the job refuses such a folder; nothing is replaced
        return None


def _say_where(run_id: str, out: Path, earlier: dict[str, Any] | None) -> None:
    """The last lines people read: where the run is, which file to open, and what it replaced."""
    console.note(f"run {run_id} written to {out}")
    if earlier is not None:
        console.note(f"replaced the earlier {earlier['command']} run {earlier['run_id']} ({earlier['period']}) "
                     f"that was in {out}")
    if (out / "statements.xlsx").is_file():
        pdf = out / "statements" / "statements.pdf"
        printable = pdf if pdf.is_file() else out / "statements" / "index.html"
        console.note(f"open {out / 'statements.xlsx'} (Excel statement)"
                     + (f" and {printable} (to print and sign)" if printable.is_file() else ""))
    else:
        console.note(f"open {out / 'summary.json'}; every exception is in {out / 'exceptions.parquet'}")


def _finish(summary: Any, code: ExitCode, as_json: bool) -> None:
    """--json prints the summary exactly as summary.json holds it; then the exit code."""
    if as_json:
        sys.stdout.write(to_json(summary))
        sys.stdout.flush()
    raise typer.Exit(int(code))


@app.command()
@_guarded
def clear(
    claims: ClaimsOpt,
    ledger: LedgerOpt,
    period: PeriodOpt,
    out: Annotated[Optional[Path], typer.Option(
        "--out", metavar="DIR", help="Run folder; replaced only once the new run is complete. With --workspace, default "
                      "WORKSPACE/runs/PERIOD/NNNN-RUNID.")] = None,
    workspace: WorkspaceOpt = None,
    regions: Annotated[Optional[str], typer.Option("--regions", metavar="FILE", help="Region register (Parquet).")] = None,
    prepaid: Annotated[Optional[str], typer.Option("--prepaid", metavar="FILE", help="Prepaid fund balances (Parquet).")] = None,
    level: Annotated[str, typer.Option("--level", metavar="province|pool", help="Clearing unit: province or pool.")] = "province",
    settlement: Annotated[str, typer.Option("--settlement", metavar="central|bilateral", help="central or bilateral.")] = "central",
    tolerance: ToleranceOpt = "0.00",
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    excel_exceptions: Annotated[int, typer.Option("--excel-exceptions", metavar="N", min=0, max=1_048_575,
                                                  help="Rows of the Excel 差错 sheet (all rows are in exceptions.parquet).")] = 20_000,
    statements: Annotated[bool, typer.Option("--statements/--no-statements", metavar="",
                                             help="Write printable per-unit statements into statements/.")] = True,
    lang: LangOpt = "zh",
    pdf: PdfOpt = "auto",
    screen: Annotated[bool, typer.Option("--screen", metavar="", help="Also run the risk screens: flags.parquet, "
                                                          "screen_summary.json and a 稽核 sheet.")] = False,
    readmit_days: ReadmitOpt = 15,
    duplicate_window_hours: WindowOpt = 24.0,
    outlier_k: OutlierKOpt = 5.0,
    outlier_min_group: MinGroupOpt = 50,
    force: ForceOpt = False,
    max_rejected: MaxRejectedOpt = "5%",
    sign: SignOpt = None,
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
    claims_format: ClaimsFormatOpt = None,
    policy: Annotated[Optional[str], typer.Option("--policy", metavar="FILE", help="Also check the ledger against "
                                                  "the insured regions' policies: policy_flags.parquet and a 政策核算 "
                                                  "sheet (see policy-check).")] = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = "",
) -> None:
    """Reconcile, net and write the month's clearing statements (the main job).

    Example: mediclear clear --claims /data/2026-10/claims --ledger /data/2026-10/ledger --period 2026-10 --out runs/2026-10
    """
    from mediclear_cli.config import fill_period
    from mediclear_cli.jobs import JobSpec, run_clear
    from mediclear_cli.periods import Period
    from mediclear_cli.screen import ScreenOptions

    _check_pdf(pdf)
    engine, spark = _engine(engine, spark_master)
    month = Period.parse(period)
    claims, ledger = fill_period(claims, month), fill_period(ledger, month)
    out_path = Path(fill_period([str(out)], month)[0]) if out is not None else None
    regions = fill_period([regions], month)[0] if regions else None
    prepaid = fill_period([prepaid], month)[0] if prepaid else None
    spec = JobSpec(claims, ledger, month.label, out_path, tolerance, regions, prepaid, level, settlement, memory_limit,
                   temp_dir, excel_exceptions, statements, lang, pdf, screen,
                   ScreenOptions(readmit_days, duplicate_window_hours, outlier_k, outlier_min_group),
                   Path(workspace) if workspace else None, force, max_rejected, _key(sign),
                   _read(fmt, encoding, sheet, maps, claims_format), policy=fill_period([policy], month)[0] if policy else None,
                   engine=engine, spark=spark)
    console.log("start", command="clear", period=month.label, workspace=str(workspace) if workspace else None)
    earlier = _finished_run(out_path)
    with console.stages() as stage:
        summary, code, run = run_clear(spec, stage)
    console.show_recon(summary)
    console.show_clearing(summary, run.clearing.net_positions.to_pylist(), run.notes.resources)
    if "screen" in summary:
        console.note(f"risk screens: {summary['screen']['flags']} flags in flags.parquet")
    if "policy" in summary:
        console.note(f"policy check: {summary['policy']['flagged']} settlements flagged in policy_flags.parquet "
                     f"and the 政策核算 sheet ({summary['policy']['passed']} passed, "
                     f"{summary['policy']['not_checked']} not checked)")
        if summary["policy"]["missing_columns"]:
            console.warn(f"the ledger has no {', '.join(summary['policy']['missing_columns'])} column: its "
                         "settlements are not checked against the policy")
    console.show_carry(summary, run.notes.workspace)
    for notice in run.notes.notices:
        console.warn(notice)
    assert run.notes.out is not None
    _say_where(summary["run_id"], run.notes.out, earlier)
    console.finished(summary, code, run.notes)
    _finish(summary, code, as_json)


@app.command()
@_guarded
def reconcile(
    claims: ClaimsOpt,
    ledger: LedgerOpt,
    period: PeriodOpt,
    out: OutOpt,
    tolerance: ToleranceOpt = "0.00",
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    force: ForceOpt = False,
    max_rejected: MaxRejectedOpt = "5%",
    sign: SignOpt = None,
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
    claims_format: ClaimsFormatOpt = None,
    platform_result: Annotated[Optional[str], typer.Option(
        "--platform-result", metavar="FILE", help="The platform's 3202 result file: compare its stmt_rslt per "
        "setl_id with mediclear's (platform_compare.parquet; exit 1 when they disagree).")] = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = "",
) -> None:
    """Reconcile only: summary.json and exceptions.parquet (plus manifest.json).

    Example: mediclear reconcile --claims claims/ --ledger ledger/ --period 2026-10 --out recon/2026-10
    """
    from mediclear_cli.jobs import JobSpec, run_reconcile

    engine, spark = _engine(engine, spark_master)
    spec = JobSpec(claims, ledger, period, out, tolerance, memory_limit=memory_limit, temp_directory=temp_dir,
                   force=force, max_rejected=max_rejected, sign_key=_key(sign),
                   read=_read(fmt, encoding, sheet, maps, claims_format), platform_result=platform_result,
                   engine=engine, spark=spark)
    earlier = _finished_run(out)
    with console.stages() as stage:
        summary, code = run_reconcile(spec, stage)
    console.show_recon(summary)
    _say_where(summary["run_id"], out, earlier)
    _finish(summary, code, as_json)


@app.command()
@_guarded
def validate(
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", help="Files, directories or globs of one side.")],
    side: Annotated[str, typer.Option("--side", metavar="claims|ledger", help="claims or ledger: which columns are required.")],
    as_json: JsonOpt = False,
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
) -> None:
    """Row checks only: list rejected rows (reason, file, row, column); nothing is written.

    Example: mediclear validate /data/2026-10/ledger --side ledger
    """
    from mediclear_cli.validation import validate_paths

    rejects, total = validate_paths(paths, side, _read(fmt, encoding, sheet, maps))
    if as_json:
        sys.stdout.write(to_json({"side": side, "rows": total, "rejected": len(rejects), "rejects": rejects}))
    else:
        for r in rejects:
            typer.echo(f"{r['file']}\t{r['row']}\t{r['column']}\t{r['reason']}")
    console.note(f"{total} rows checked, {len(rejects)} rejected")
    raise typer.Exit(int(ExitCode.HELD if rejects else ExitCode.OK))


@app.command()
@_guarded
def convert(
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", help="Files, directories or globs of one side.")],
    side: Annotated[str, typer.Option("--side", metavar="claims|ledger", help="claims or ledger: which columns are required.")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder for the Parquet files (one per input table).")],
    as_json: JsonOpt = False,
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
    claims_format: ClaimsFormatOpt = None,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
) -> None:
    """Write inputs as they arrive (CSV, TXT, xlsx, zip) as contract Parquet: contract names, exact money, zstd.

    Example: mediclear convert /data/2026-10/ledger.csv --side ledger --out /data/2026-10/ledger
    """
    from mediclear_cli.convert import convert as convert_inputs

    with console.stages() as stage:
        report = convert_inputs(paths, side, out, _read(fmt, encoding, sheet, maps, claims_format), memory_limit,
                                temp_dir, stage)
    for table in report["tables"]:
        note = f"{table['table']}: {table['rows']} rows -> {out / table['file']}"
        if table["kept_as_text"]:
            note += f" (kept as text, some values do not convert: {', '.join(table['kept_as_text'])})"
        console.note(note)
    if report["would_reject"]:
        console.warn(f"{report['would_reject']} rows would be rejected when cleared (reasons in --json; "
                     "`mediclear validate` lists them)")
    code = ExitCode.HELD if report["would_reject"] else ExitCode.OK
    if as_json:
        sys.stdout.write(to_json(report))
    raise typer.Exit(int(code))


@app.command()
@_guarded
def sample(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT_DIR", help="Folder to write the generated month into.")],
    rows: Annotated[int, typer.Option("--rows", metavar="N", min=10, help="Settlements per side (about).")] = 5000,
    period: PeriodOpt = "2026-10",
    seed: Annotated[int, typer.Option("--seed", metavar="S", help="Random seed; the same seed gives the same files.")] = 20261,
    months: Annotated[int, typer.Option("--months", metavar="N", min=1, max=120, help="Consecutive months into OUT_DIR/YYYY-MM/, "
                                        "some settlements reaching one side only the next month.")] = 1,
) -> None:
    """Generate a realistic synthetic month (or several) with ground-truth labels.

    Example: mediclear sample demo --rows 3000 --period 2026-10
    """
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate, generate_months

    if months == 1:
        with console.stages() as stage:
            stage(f"generating about {rows:,} settlements per side into {out_dir}")
            info = generate(out_dir, rows=rows, period=Period.parse(period), seed=seed)
        console.note(f"wrote {info['claims_rows']} claims rows and {info['ledger_rows']} ledger rows to {out_dir}")
        return
    console.note(f"generating {months} months of about {rows:,} settlements per side into {out_dir}")
    for info in generate_months(out_dir, rows, Period.parse(period), months, seed):
        console.note(f"{info['period']}: {info['claims_rows']} claims rows (+{info.get('claims_late_rows', 0)} late), "
                     f"{info['ledger_rows']} ledger rows (+{info.get('ledger_late_rows', 0)} late) in "
                     f"{out_dir / info['period']}")


@app.command()
@_guarded
def screen(
    period: PeriodOpt,
    out: OutOpt,
    ledger: Annotated[Optional[list[str]], typer.Option("--ledger", metavar="PATH", help="Agency ledger to screen (preferred).")] = None,
    claims: Annotated[Optional[list[str]], typer.Option("--claims", metavar="PATH", help="Hospital extract, when no ledger.")] = None,
    readmit_days: ReadmitOpt = 15,
    duplicate_window_hours: WindowOpt = 24.0,
    outlier_k: OutlierKOpt = 5.0,
    outlier_min_group: MinGroupOpt = 50,
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
) -> None:
    """Risk screening: settlements that look like abuse or error (flags.parquet, screen_summary.json).

    Example: mediclear screen --ledger /data/2026-10/ledger --period 2026-10 --out screen/2026-10
    """
    from mediclear_cli.jobs import run_screen
    from mediclear_cli.screen import ScreenOptions

    options = ScreenOptions(readmit_days, duplicate_window_hours, outlier_k, outlier_min_group)
    summary, code = run_screen(claims or [], ledger or [], period, out, options, memory_limit, temp_dir,
                               _read(fmt, encoding, sheet, maps))
    console.show_screen(summary)
    _finish(summary, code, as_json)


@app.command("policy-check")
@_guarded
def policy_check(
    ledger: Annotated[list[str], typer.Option("--ledger", metavar="PATH", help="Agency ledger with inscp_scp_amt and "
                                              "act_pay_dedc (符合政策范围金额, 实际支付起付线); repeatable.")],
    policy: Annotated[str, typer.Option("--policy", metavar="FILE", help="The insured regions' policies (Parquet, "
                                        "CSV, xlsx or TOML; columns in README).")],
    period: PeriodOpt,
    out: OutOpt,
    tolerance: Annotated[str, typer.Option("--tolerance", metavar="AMOUNT", help="Largest difference per settlement "
                                           "still passed, in yuan.")] = "0.01",
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    fmt: FormatOpt = "auto",
    encoding: EncodingOpt = "auto",
    sheet: SheetOpt = None,
    maps: MapOpt = None,
) -> None:
    """参保地政策: recompute what the pooled fund should have paid and flag settlements that paid otherwise.

    Example: mediclear policy-check --ledger /data/2026-10/ledger --policy policy.csv --period 2026-10 --out policy/2026-10
    """
    from mediclear_cli.jobs import run_policy_check

    with console.stages() as stage:
        summary, code = run_policy_check(ledger, policy, period, out, tolerance, memory_limit, temp_dir,
                                         _read(fmt, encoding, sheet, maps), stage)
    console.note(f"policy check {summary['period']}: {summary['settlements']} settlements, {summary['passed']} "
                 f"passed, {summary['flagged']} flagged, {summary['not_checked']} not checked")
    for part, info in summary["flagged_by_part"].items():
        console.note(f"  {part}: {info['records']} settlements, difference {info['difference']}")
    if summary["missing_columns"]:
        console.warn(f"the ledger has no {', '.join(summary['missing_columns'])} column: its settlements are "
                     "not checked (--map names another column)")
    _finish(summary, code, as_json)


@app.command()
@_guarded
def diff(
    left: Annotated[list[str], typer.Argument(metavar="LEFT RIGHT", help="LEFT and RIGHT: Parquet files, folders or globs, or CSV files.")],
    key: Annotated[list[str], typer.Option("--key", metavar="COL", help="Key column (repeat for a composite key).")],
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Write rows, cells, summary and reports here.")] = None,
    mapping: Annotated[Optional[list[str]], typer.Option("--map", metavar="LEFT=RIGHT", help="left_col=right_col when names differ.")] = None,
    columns: Annotated[Optional[str], typer.Option("--columns", metavar="A,B,...", help="Comma-separated columns to compare.")] = None,
    tolerance: Annotated[Optional[list[str]], typer.Option("--tolerance", metavar="X|X%", help="For every number X "
                         "(absolute) or X% (relative), or per column COL=X / COL=X%: |a-b| <= abs + rel*|b|.")] = None,
    encoding: Annotated[Optional[str], typer.Option("--encoding", metavar="NAME", help="Encoding of text inputs (default: detected; UTF-8, else GB18030).")] = None,
    ignore_case: Annotated[bool, typer.Option("--ignore-case", metavar="", help="Compare text case-insensitively.")] = False,
    ignore_spaces: Annotated[bool, typer.Option("--ignore-spaces", metavar="", help="Ignore blanks (spaces, tabs, "
                                                "newlines) around text and keys.")] = False,
    ignore_extra_columns: Annotated[bool, typer.Option("--ignore-extra-columns", metavar="", help="Columns on one side "
                                                       "only are no difference (they are still reported).")] = False,
    match_case_insensitive: Annotated[bool, typer.Option("--match-case-insensitive", metavar="", help="Pair columns "
                                                         "whose names differ only in case (b with B).")] = False,
    assume_tz: Annotated[Optional[str], typer.Option("--assume-tz", metavar="ZONE", help="Read naive timestamps in this "
                                                     "zone (e.g. Asia/Shanghai) against zoned ones.")] = None,
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    engine: Annotated[str, typer.Option("--engine", metavar="duckdb|spark", help=(
        "What reads both sides and finds the equal pairs: duckdb (one machine) or spark (Apache Spark: inputs "
        "may then be hdfs:// or s3a:// Parquet). The results are the same."))] = "duckdb",
    spark_master: SparkMasterOpt = "",
) -> None:
    """Compare any two tables on a key: rows only on one side, changed cells, duplicate keys (exit 1 if any).

    Example: mediclear diff hospital.parquet agency.parquet --key setl_id --tolerance 0.01 --out diff/
    """
    from mediclear_cli.diff import DiffOptions
    from mediclear_cli.errors import UsageError
    from mediclear_cli.jobs import run_diff

    if len(left) != 2:
        raise UsageError("diff takes two inputs: LEFT RIGHT")
    engine, spark = _engine(engine, spark_master)
    overall, per_column, relative, per_column_rel = DiffOptions.parse_tolerances(tolerance or [])
    options = DiffOptions(key, DiffOptions.parse_mapping(mapping or []),
                          [c.strip() for c in columns.split(",")] if columns else None,
                          overall, per_column, ignore_case, ignore_spaces, encoding, relative, per_column_rel,
                          ignore_extra_columns, match_case_insensitive, assume_tz)
    summary, code = run_diff([left[0]], [left[1]], options, out, memory_limit, temp_dir, engine, spark)
    rows = summary["rows"]
    console.note(", ".join(f"{k} {v}" for k, v in rows.items()) + ("; identical" if summary["identical"] else ""))
    _finish(summary, code, as_json)


@app.command("diff-runs")
@_guarded
def diff_runs(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="The earlier run folder.")],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The later run folder.")],
    out: Annotated[Optional[Path], typer.Option("--out", metavar="DIR", help="Write records_moved.parquet and diff_runs.json.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two clearing runs of one period: net positions, records that moved and why, inputs.

    Example: mediclear diff-runs runs/2026-10 runs/2026-10-rerun --out diff-runs/
    """
    from mediclear_cli.jobs import run_diff_runs

    summary, code = run_diff_runs(run_a, run_b, out)
    console.note(f"{len(summary['net_changes'])} units' nets changed; records moved: {summary['records_moved']}; "
                 f"inputs differ: {summary['inputs_differ']}")
    _finish(summary, code, as_json)


@app.command()
@_guarded
def statements(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder written by clear.")],
    lang: LangOpt = "zh",
    pdf: PdfOpt = "auto",
) -> None:
    """(Re)write the printable per-unit statements of a clearing run into RUN_DIR/statements.

    Example: mediclear statements runs/2026-10 --pdf auto
    """
    from mediclear_cli.statements_html import statements_for_run

    _check_pdf(pdf)
    warnings: list[str] = []
    manifest = statements_for_run(run_dir, lang, pdf, warnings)
    for warning in warnings:
        console.warn(warning)
    names = [f["file"] for f in manifest["files"]]
    console.note(f"wrote {len(names)} files to {run_dir / 'statements'}"
                 + (" including statements.pdf" if "statements.pdf" in names else " (HTML only; no PDF)"))


@app.command()
@_guarded
def verify(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run folder written by clear or reconcile.")],
    outputs_only: Annotated[bool, typer.Option("--outputs-only", metavar="", help="Do not re-hash the input files.")] = False,
    key: Annotated[Optional[str], typer.Option("--key", metavar="KEYFILE", help="Also check manifest.sig, "
                                                 "the HMAC-SHA256 signature `clear --sign` wrote.")] = None,
) -> None:
    """Recompute a run's manifest; exit 65 on any difference.

    Example: mediclear verify runs/2026-10
    """
    from mediclear_cli.errors import VerifyMismatch
    from mediclear_cli.verify import verify_run

    problems = verify_run(run_dir, check_inputs=not outputs_only, key=_key(key), remote_sha256=_remote_sha256())
    if problems:
        for p in problems[1:]:
            console.note(p)
        raise VerifyMismatch(f"{run_dir}: {len(problems)} difference(s) from the manifest; first: {problems[0]}")
    console.note(f"{run_dir}: every file and control total matches the manifest")


def _remote_sha256() -> Any:
    """What re-hashes an input a run read from hdfs://, s3a://, ...: Spark's Hadoop client, started on first
    use with mediclear.toml's spark.* settings (credentials, the cluster's address); None without pyspark."""
    try:
        import pyspark  # noqa: F401 - only whether it imports
    except ImportError:
        return None
    from mediclear_cli import remote, spark_engine

    started: list[Any] = []

    def sha256(uri: str) -> str | None:
        if not started:
            started.append(spark_engine.session(spark_engine.SparkOptions("", dict(_state["spark_conf"]))))
        return remote.sha256(started[0], uri)

    return sha256


def _workspace(workspace: str | None) -> Any:
    from mediclear_cli.errors import UsageError
    from mediclear_cli.workspace import Workspace

    if not workspace:
        raise UsageError("--workspace (or `workspace` in mediclear.toml) is required")
    return Workspace(Path(workspace))


def _period_label(period: str | None) -> str | None:
    from mediclear_cli.periods import Period

    return Period.parse(period).label if period else None


@app.command()
@_guarded
def runs(
    workspace: WorkspaceOpt = None,
    period: Annotated[Optional[str], typer.Option("--period", metavar="YYYY-MM", help="Only this month (YYYY-MM or previous).")] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the list as JSON.")] = False,
) -> None:
    """List the workspace's runs: number, run id, period, status, exit code, output folder.

    Example: mediclear runs --workspace /srv/mc --period 2026-10
    """
    rows = _workspace(workspace).runs(_period_label(period))
    if as_json:
        sys.stdout.write(to_json(rows))
        return
    typer.echo("run\trun_id\tperiod\tstatus\texit\tfinished_at\tnote\tout_dir")
    for r in rows:
        note = ("repeat of " + str(r["repeat_of"])) if r["repeat_of"] else (
            "supersedes " + str(r["supersedes"]) if r["supersedes"] else "")
        if r["period_closed"]:
            note = (note + "; " if note else "") + "period closed"
        if r.get("needs_rerun"):
            note = (note + "; " if note else "") + f"needs a re-run: {r['needs_rerun']}"
        typer.echo(f"{r['seq']}\t{r['run_id'] or '-'}\t{r['period']}\t{r['status']}\t"
                   f"{'' if r['exit_code'] is None else r['exit_code']}\t{r['finished_at'] or ''}\t{note}\t"
                   f"{r['out_dir'] or ''}")


@app.command()
@_guarded
def show(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run number (from `mediclear runs`) or a run id or its prefix.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Print one recorded run as JSON: inputs with SHA-256, options, summary, exit code, outputs, manifest hash.

    Example: mediclear show 3 --workspace /srv/mc
    """
    sys.stdout.write(to_json(_workspace(workspace).show(run)))


@app.command()
@_guarded
def held(
    workspace: WorkspaceOpt = None,
    period: Annotated[Optional[str], typer.Option("--period", metavar="YYYY-MM", help="As after this month's run (default: the "
                                                                     "latest cleared month).")] = None,
    older_than: Annotated[Optional[int], typer.Option("--older-than", min=0, metavar="N",
                                                      help="Only items held more than N months.")] = None,
    detail: Annotated[bool, typer.Option("--detail", metavar="", help="One line per item (TSV) instead of the summary.")] = False,
    xlsx: Annotated[Optional[Path], typer.Option("--xlsx", metavar="FILE",
                                                 help="Also write the summary and every item to an Excel file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the summary and the items as JSON.")] = False,
) -> None:
    """Held items (挂账) carried to the next month: a summary per unit (就医地) × category × age band with money;
    --detail for the items, --xlsx for the finance desk, --json for scripts.

    Example: mediclear held --workspace /srv/mc --older-than 2 --xlsx held.xlsx
    """
    from mediclear_cli.held_report import DETAIL_HEADERS, SUMMARY_HEADERS, summarise, write_xlsx

    state = _workspace(workspace).held(_period_label(period), older_than)
    summary_rows = summarise(state)
    if xlsx is not None:
        write_xlsx(state, summary_rows, xlsx)
    if as_json:
        sys.stdout.write(to_json(state | {"summary": summary_rows}))
    elif detail:
        typer.echo("\t".join(key for key, _ in DETAIL_HEADERS))
        for i in state["items"]:
            typer.echo("\t".join("" if i.get(key) is None else str(i[key]) for key, _ in DETAIL_HEADERS))
    else:
        console.table_out(f"挂账事项 (held items) after {state['period'] or 'no run yet'}",
                          [label for _, label in SUMMARY_HEADERS],
                          [[str(r[key]) if key != "clr_amt" else f"{r[key]:,.2f}" for key, _ in SUMMARY_HEADERS]
                           for r in summary_rows], right_from=4)
    total = sum((Decimal(i["clr_amt"] or 0) for i in state["items"]), Decimal("0.00"))
    records = sum(int(i["records"]) for i in state["items"])
    console.note(f"{len(state['items'])} held items ({records} carried rows; an item is one side × setl_id) after "
                 f"{state['period'] or 'no run yet'}; clr_amt {total:,.2f}"
                 + (f"; written to {xlsx}" if xlsx is not None else ""))
    if state.get("needs_rerun"):
        console.warn(f"{state['period']} needs a re-run ({state['needs_rerun']}): these items may change")


PersonOpt = Annotated[str, typer.Option("--by", metavar="NAME", help="Who does it (recorded).")]
ApproverOpt = Annotated[str, typer.Option("--approved-by", metavar="NAME", help="The second person, who approves (双审制); "
                                                                 "missing or the same person: exit 77.")]


@app.command("close")
@_guarded
def close_period(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM", help="The month to close (YYYY-MM or previous).")],
    by: PersonOpt,
    workspace: WorkspaceOpt = None,
) -> None:
    """Close a cleared month: a later clear of it is refused (exit 77) until it is reopened by two people.

    Example: mediclear close --period 2026-10 --by 王芳 --workspace /srv/mc
    """
    event = _workspace(workspace).close_period(_period_label(period) or "", by)
    console.log("period closed", **event)
    console.note(f"{event['period']} closed by {event['by']} (run {event['run']})")


@app.command()
@_guarded
def reopen(
    period: Annotated[str, typer.Option("--period", metavar="YYYY-MM", help="The closed month to reopen.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why (recorded).")],
    by: PersonOpt,
    approved_by: ApproverOpt = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Reopen a closed month; needs two different people (exit 77 otherwise).

    Example: mediclear reopen --period 2026-10 --reason "ledger re-extract" --by 王芳 --approved-by 李强 --workspace /srv/mc
    """
    event = _workspace(workspace).reopen_period(_period_label(period) or "", reason, by, approved_by)
    console.log("period reopened", **event)
    console.note(f"{event['period']} reopened by {event['by']}, approved by {event['approved_by']}")


@app.command()
@_guarded
def writeoff(
    setl_id: Annotated[list[str], typer.Option("--setl-id", metavar="ID", help="A held item's setl_id; repeatable.")],
    side: Annotated[str, typer.Option("--side", metavar="claims|ledger", help="claims or ledger.")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why it will never be resolved (recorded).")],
    by: PersonOpt,
    approved_by: ApproverOpt = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Write held items off: they stop being carried; needs two different people (exit 77 otherwise).

    Example: mediclear writeoff --side claims --setl-id X --reason "withdrawn" --by 王芳 --approved-by 李强 --workspace /srv/mc
    """
    result = _workspace(workspace).write_off(side, setl_id, reason, by, approved_by)
    console.log("written off", **result)
    console.note(f"{result['written_off']} {side} item(s) written off by {result['by']}, "
                 f"approved by {result['approved_by']}")


@app.command()
@_guarded
def void(
    run: Annotated[str, typer.Argument(metavar="RUN", help="The run's number (from `mediclear runs`).")],
    reason: Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why (recorded).")],
    by: PersonOpt,
    approved_by: ApproverOpt = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Void a run made by mistake (a wrong period, the wrong files): it no longer stands for its month or
    carries items forward, and later months are cleared as if it never ran; two people (exit 77 otherwise).

    Example: mediclear void 7 --reason "cleared 2062-10 by mistake" --by 王芳 --approved-by 李强 --workspace /srv/mc
    """
    event = _workspace(workspace).void_run(run, reason, by, approved_by)
    console.log("run voided", **event)
    console.note(f"run {event['run']} ({event['period']}) voided by {event['by']}, approved by {event['approved_by']}")


def _on_signal(signum: int, _frame: Any) -> None:
    """SIGINT and SIGTERM stop the run the same way: remember which, and unwind through every `finally` (the
    scratch database, the temporary run folder, the workspace record) to one line and 130 / 143."""
    if stopped_by:
        return  # a second Ctrl-C while cleaning up must not cut the clean-up short
    stopped_by.append(signum)
    raise Interrupted(signum)


def main() -> None:
    """Console-script entry point."""
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    app()
