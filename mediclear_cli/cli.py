"""The `mediclear` command line: parse → call one core function → render.

MediclearError subclasses carry the contract's exit codes; they are caught in `main` only, printed as one
line on stderr, and turned into the exit code. `--debug` shows tracebacks instead. Data and `--json` go to
stdout, everything for people to stderr; nothing ever prompts.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import duckdb
import typer

from mediclear_cli import __version__, console
from mediclear_cli.errors import ExitCode, MediclearError
from mediclear_cli.writers import to_json


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    """Every command's errors end here: one line on stderr and the contract's exit code."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
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
            first = str(exc).splitlines()[0] if str(exc) else "I/O error"
            console.error(f"I/O error in the scratch database ({first}); nothing was published", int(ExitCode.IO))
            raise typer.Exit(int(ExitCode.IO)) from None
        except duckdb.OutOfMemoryException as exc:
            if _state["debug"]:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
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


app = typer.Typer(
    name="mediclear",
    help="Reconcile and clear cross-region medical-insurance settlements (异地就医直接结算清算).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_state = {"debug": False}

ClaimsOpt = Annotated[list[str], typer.Option("--claims", help="Hospital settlement extract: file, directory or glob; repeatable.")]
LedgerOpt = Annotated[list[str], typer.Option("--ledger", help="Agency ledger: file, directory or glob; repeatable.")]
PeriodOpt = Annotated[str, typer.Option("--period", help="Settlement month, YYYY-MM.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run folder; replaced only once the new run is complete.")]
ToleranceOpt = Annotated[str, typer.Option("--tolerance", help="Largest amount difference still matched, in yuan.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print summary.json to stdout.")]
MemoryOpt = Annotated[str, typer.Option("--memory-limit", help="DuckDB memory limit, e.g. 4GB (default: DuckDB's).")]
TempOpt = Annotated[str, typer.Option("--temp-dir", help="Where DuckDB spills when memory runs short.")]
LangOpt = Annotated[str, typer.Option("--lang", help="Statement language: zh or en.")]
ReadmitOpt = Annotated[int, typer.Option("--readmit-days", help="Screen: re-admission within this many days.")]
WindowOpt = Annotated[float, typer.Option("--duplicate-window-hours", help="Screen: duplicate settlements this close.")]
OutlierKOpt = Annotated[float, typer.Option("--outlier-k", help="Screen: cost outlier threshold, robust SDs on log cost.")]
WorkspaceOpt = Annotated[Optional[str], typer.Option(
    "--workspace", help="Workspace folder: records runs, carries held items between months, closes periods.")]
MinGroupOpt = Annotated[int, typer.Option("--outlier-min-group", help="Screen: smallest hospital x med_type group.")]


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
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")] = False,
    config: Annotated[Optional[Path], typer.Option(
        "--config", help="mediclear.toml with the options of clear, the workspace and paths "
                         "(default: $MEDICLEAR_CONFIG, else ./mediclear.toml when present).")] = None,
    log_format: Annotated[Optional[str], typer.Option(
        "--log-format", help="text (people) or json (one object per line on stderr, for cron and log shippers).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
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


def _finish(summary: dict, code: ExitCode, as_json: bool) -> None:
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
        "--out", help="Run folder; replaced only once the new run is complete. With --workspace, default "
                      "WORKSPACE/runs/PERIOD/NNNN-RUNID.")] = None,
    workspace: WorkspaceOpt = None,
    regions: Annotated[Optional[str], typer.Option("--regions", help="Region register (Parquet).")] = None,
    prepaid: Annotated[Optional[str], typer.Option("--prepaid", help="Prepaid fund balances (Parquet).")] = None,
    level: Annotated[str, typer.Option("--level", help="Clearing unit: province or pool.")] = "province",
    settlement: Annotated[str, typer.Option("--settlement", help="central or bilateral.")] = "central",
    tolerance: ToleranceOpt = "0.00",
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
    excel_exceptions: Annotated[int, typer.Option("--excel-exceptions", min=0, max=1_048_575,
                                                  help="Rows of the Excel 差错 sheet (all rows are in exceptions.parquet).")] = 20_000,
    statements: Annotated[bool, typer.Option("--statements/--no-statements",
                                             help="Write printable per-unit statements into statements/.")] = True,
    lang: LangOpt = "zh",
    pdf: Annotated[str, typer.Option("--pdf", help="never, auto or always: also print statements.pdf "
                                                   "with headless Chromium.")] = "never",
    screen: Annotated[bool, typer.Option("--screen", help="Also run the risk screens: flags.parquet, "
                                                          "screen_summary.json and a 稽核 sheet.")] = False,
    readmit_days: ReadmitOpt = 15,
    duplicate_window_hours: WindowOpt = 24.0,
    outlier_k: OutlierKOpt = 5.0,
    outlier_min_group: MinGroupOpt = 50,
) -> None:
    """Reconcile, net and write the month's clearing statements (the main job)."""
    from mediclear_cli.config import fill_period
    from mediclear_cli.jobs import JobSpec, run_clear
    from mediclear_cli.periods import Period
    from mediclear_cli.screen import ScreenOptions

    _check_pdf(pdf)
    month = Period.parse(period)
    claims, ledger = fill_period(claims, month), fill_period(ledger, month)
    out_path = Path(fill_period([str(out)], month)[0]) if out is not None else None
    regions = fill_period([regions], month)[0] if regions else None
    prepaid = fill_period([prepaid], month)[0] if prepaid else None
    spec = JobSpec(claims, ledger, month.label, out_path, tolerance, regions, prepaid, level, settlement, memory_limit,
                   temp_dir, excel_exceptions, statements, lang, pdf, screen,
                   ScreenOptions(readmit_days, duplicate_window_hours, outlier_k, outlier_min_group),
                   Path(workspace) if workspace else None)
    console.log("start", command="clear", period=month.label, workspace=str(workspace) if workspace else None)
    with console.stages() as stage:
        summary, code, result = run_clear(spec, stage)
    console.show_recon(summary)
    console.show_clearing(summary, result.net_positions.to_pylist())
    if "screen" in summary:
        console.note(f"risk screens: {summary['screen']['flags']} flags in flags.parquet")
    console.show_carry(summary)
    console.note(f"run {summary['run_id']} written to {summary['out']}")
    console.finished(summary, code)
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
) -> None:
    """Reconcile only: summary.json and exceptions.parquet (plus manifest.json)."""
    from mediclear_cli.jobs import JobSpec, run_reconcile

    spec = JobSpec(claims, ledger, period, out, tolerance, memory_limit=memory_limit, temp_directory=temp_dir)
    with console.stages() as stage:
        summary, code = run_reconcile(spec, stage)
    console.show_recon(summary)
    console.note(f"run {summary['run_id']} written to {out}")
    _finish(summary, code, as_json)


@app.command()
@_guarded
def validate(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or globs of one side.")],
    side: Annotated[str, typer.Option("--side", help="claims or ledger: which columns are required.")],
    as_json: JsonOpt = False,
) -> None:
    """Row checks only: list rejected rows (reason, file, row, column); nothing is written."""
    from mediclear_cli.validation import validate_paths

    rejects, total = validate_paths(paths, side)
    if as_json:
        sys.stdout.write(to_json({"side": side, "rows": total, "rejected": len(rejects), "rejects": rejects}))
    else:
        for r in rejects:
            typer.echo(f"{r['file']}\t{r['row']}\t{r['column']}\t{r['reason']}")
    console.note(f"{total} rows checked, {len(rejects)} rejected")
    raise typer.Exit(int(ExitCode.HELD if rejects else ExitCode.OK))


@app.command()
@_guarded
def sample(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the generated month into.")],
    rows: Annotated[int, typer.Option("--rows", min=10, help="Settlements per side (about).")] = 5000,
    period: PeriodOpt = "2026-10",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same files.")] = 20261,
    months: Annotated[int, typer.Option("--months", min=1, max=120, help="Consecutive months into OUT_DIR/YYYY-MM/, "
                                        "some settlements reaching one side only the next month.")] = 1,
) -> None:
    """Generate a realistic synthetic month (or several) with ground-truth labels."""
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate, generate_months

    if months == 1:
        info = generate(out_dir, rows=rows, period=Period.parse(period), seed=seed)
        console.note(f"wrote {info['claims_rows']} claims rows and {info['ledger_rows']} ledger rows to {out_dir}")
        return
    for info in generate_months(out_dir, rows, Period.parse(period), months, seed):
        console.note(f"{info['period']}: {info['claims_rows']} claims rows (+{info.get('claims_late_rows', 0)} late), "
                     f"{info['ledger_rows']} ledger rows (+{info.get('ledger_late_rows', 0)} late) in "
                     f"{out_dir / info['period']}")


@app.command()
@_guarded
def screen(
    period: PeriodOpt,
    out: OutOpt,
    ledger: Annotated[Optional[list[str]], typer.Option("--ledger", help="Agency ledger to screen (preferred).")] = None,
    claims: Annotated[Optional[list[str]], typer.Option("--claims", help="Hospital extract, when no ledger.")] = None,
    readmit_days: ReadmitOpt = 15,
    duplicate_window_hours: WindowOpt = 24.0,
    outlier_k: OutlierKOpt = 5.0,
    outlier_min_group: MinGroupOpt = 50,
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
) -> None:
    """Risk screening: settlements that look like abuse or error (flags.parquet, screen_summary.json)."""
    from mediclear_cli.jobs import run_screen
    from mediclear_cli.screen import ScreenOptions

    options = ScreenOptions(readmit_days, duplicate_window_hours, outlier_k, outlier_min_group)
    summary, code = run_screen(claims or [], ledger or [], period, out, options, memory_limit, temp_dir)
    console.show_screen(summary)
    _finish(summary, code, as_json)


@app.command()
@_guarded
def diff(
    left: Annotated[list[str], typer.Argument(help="LEFT and RIGHT: Parquet files, folders or globs, or CSV files.")],
    key: Annotated[list[str], typer.Option("--key", help="Key column (repeat for a composite key).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write rows, cells, summary and reports here.")] = None,
    mapping: Annotated[Optional[list[str]], typer.Option("--map", help="left_col=right_col when names differ.")] = None,
    columns: Annotated[Optional[str], typer.Option("--columns", help="Comma-separated columns to compare.")] = None,
    tolerance: Annotated[Optional[list[str]], typer.Option("--tolerance", help="X for every number, or COL=X.")] = None,
    encoding: Annotated[Optional[str], typer.Option("--encoding", help="Encoding of CSV inputs, e.g. gb18030.")] = None,
    ignore_case: Annotated[bool, typer.Option("--ignore-case", help="Compare text case-insensitively.")] = False,
    ignore_spaces: Annotated[bool, typer.Option("--ignore-spaces", help="Ignore blanks around text.")] = False,
    as_json: JsonOpt = False,
    memory_limit: MemoryOpt = "",
    temp_dir: TempOpt = "",
) -> None:
    """Compare any two tables on a key: rows only on one side, changed cells, duplicate keys (exit 1 if any)."""
    from mediclear_cli.diff import DiffOptions
    from mediclear_cli.errors import UsageError
    from mediclear_cli.jobs import run_diff

    if len(left) != 2:
        raise UsageError("diff takes two inputs: LEFT RIGHT")
    overall, per_column = DiffOptions.parse_tolerances(tolerance or [])
    options = DiffOptions(key, DiffOptions.parse_mapping(mapping or []),
                          [c.strip() for c in columns.split(",")] if columns else None,
                          overall, per_column, ignore_case, ignore_spaces, encoding)
    summary, code = run_diff([left[0]], [left[1]], options, out, memory_limit, temp_dir)
    rows = summary["rows"]
    console.note(", ".join(f"{k} {v}" for k, v in rows.items()) + ("; identical" if summary["identical"] else ""))
    _finish(summary, code, as_json)


@app.command("diff-runs")
@_guarded
def diff_runs(
    run_a: Annotated[Path, typer.Argument(help="The earlier run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The later run folder.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write records_moved.parquet and diff_runs.json.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two clearing runs of one period: net positions, records that moved and why, inputs."""
    from mediclear_cli.jobs import run_diff_runs

    summary, code = run_diff_runs(run_a, run_b, out)
    console.note(f"{len(summary['net_changes'])} units' nets changed; records moved: {summary['records_moved']}; "
                 f"inputs differ: {summary['inputs_differ']}")
    _finish(summary, code, as_json)


@app.command()
@_guarded
def statements(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by clear.")],
    lang: LangOpt = "zh",
    pdf: Annotated[str, typer.Option("--pdf", help="never, auto or always: print statements.pdf with headless "
                                                   "Chromium (auto: when one is installed).")] = "auto",
) -> None:
    """(Re)write the printable per-unit statements of a clearing run into RUN_DIR/statements."""
    from mediclear_cli.statements_html import statements_for_run

    _check_pdf(pdf)
    manifest = statements_for_run(run_dir, lang, pdf)
    names = [f["file"] for f in manifest["files"]]
    console.note(f"wrote {len(names)} files to {run_dir / 'statements'}"
                 + (" including statements.pdf" if "statements.pdf" in names else " (HTML only; no PDF)"))


@app.command()
@_guarded
def verify(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by clear or reconcile.")],
    outputs_only: Annotated[bool, typer.Option("--outputs-only", help="Do not re-hash the input files.")] = False,
) -> None:
    """Recompute a run's manifest; exit 65 on any difference."""
    from mediclear_cli.errors import VerifyMismatch
    from mediclear_cli.jobs import verify_run

    problems = verify_run(run_dir, check_inputs=not outputs_only)
    if problems:
        for p in problems[1:]:
            console.note(p)
        raise VerifyMismatch(f"{run_dir}: {len(problems)} difference(s) from the manifest; first: {problems[0]}")
    console.note(f"{run_dir}: every file and control total matches the manifest")


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
    period: Annotated[Optional[str], typer.Option("--period", help="Only this month (YYYY-MM or previous).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the workspace's runs: number, run id, period, status, exit code, output folder."""
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
        typer.echo(f"{r['seq']}\t{r['run_id'] or '-'}\t{r['period']}\t{r['status']}\t"
                   f"{'' if r['exit_code'] is None else r['exit_code']}\t{r['finished_at'] or ''}\t{note}\t"
                   f"{r['out_dir'] or ''}")


@app.command()
@_guarded
def show(
    run: Annotated[str, typer.Argument(help="A run number (from `mediclear runs`) or a run id or its prefix.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Print one recorded run as JSON: inputs with SHA-256, options, summary, exit code, outputs, manifest hash."""
    sys.stdout.write(to_json(_workspace(workspace).show(run)))


@app.command()
@_guarded
def held(
    workspace: WorkspaceOpt = None,
    period: Annotated[Optional[str], typer.Option("--period", help="As after this month's run (default: the "
                                                                     "latest cleared month).")] = None,
    older_than: Annotated[Optional[int], typer.Option("--older-than", min=0, help="Only items held more than N "
                                                                                "months.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the items as JSON.")] = False,
) -> None:
    """List held items (挂账) carried to the next month, with the month first held and their age."""
    state = _workspace(workspace).held(_period_label(period), older_than)
    if as_json:
        sys.stdout.write(to_json(state))
    else:
        typer.echo("side\tsetl_id\tfirst_period\tage_months\tcategory\trecords\tclr_amt\tsettled_month\t"
                   "insuplc_admdvs\tmdtrtarea_admvs\tfixmedins_code")
        for i in state["items"]:
            typer.echo(f"{i['side']}\t{i['setl_id']}\t{i['first_period']}\t{i['age_months']}\t{i['category']}\t"
                       f"{i['records']}\t{i['clr_amt']}\t{i['settled_month']}\t{i['insuplc_admdvs'] or ''}\t"
                       f"{i['mdtrtarea_admvs'] or ''}\t{i['fixmedins_code'] or ''}")
    total = sum((i["clr_amt"] or 0 for i in state["items"]), 0)
    console.note(f"{len(state['items'])} held items after {state['period'] or 'no run yet'}; clr_amt {total:,.2f}")


PersonOpt = Annotated[str, typer.Option("--by", help="Who does it (recorded).")]
ApproverOpt = Annotated[str, typer.Option("--approved-by", help="The second person, who approves (双审制).")]


@app.command("close")
@_guarded
def close_period(
    period: Annotated[str, typer.Option("--period", help="The month to close (YYYY-MM or previous).")],
    by: PersonOpt,
    workspace: WorkspaceOpt = None,
) -> None:
    """Close a cleared month: a later clear of it is refused (exit 77) until it is reopened by two people."""
    event = _workspace(workspace).close_period(_period_label(period) or "", by)
    console.log("period closed", **event)
    console.note(f"{event['period']} closed by {event['by']} (run {event['run']})")


@app.command()
@_guarded
def reopen(
    period: Annotated[str, typer.Option("--period", help="The closed month to reopen.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")],
    by: PersonOpt,
    approved_by: ApproverOpt,
    workspace: WorkspaceOpt = None,
) -> None:
    """Reopen a closed month; needs two different people (exit 77 otherwise)."""
    event = _workspace(workspace).reopen_period(_period_label(period) or "", reason, by, approved_by)
    console.log("period reopened", **event)
    console.note(f"{event['period']} reopened by {event['by']}, approved by {event['approved_by']}")


@app.command()
@_guarded
def writeoff(
    setl_id: Annotated[list[str], typer.Option("--setl-id", help="A held item's setl_id; repeatable.")],
    side: Annotated[str, typer.Option("--side", help="claims or ledger.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it will never be resolved (recorded).")],
    by: PersonOpt,
    approved_by: ApproverOpt,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write held items off: they stop being carried; needs two different people (exit 77 otherwise)."""
    result = _workspace(workspace).write_off(side, setl_id, reason, by, approved_by)
    console.log("written off", **result)
    console.note(f"{result['written_off']} {side} item(s) written off by {result['by']}, "
                 f"approved by {result['approved_by']}")


def main() -> None:
    """Console-script entry point."""
    app()
