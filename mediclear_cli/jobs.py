"""The commands' core: each job parses nothing and renders nothing; it takes paths and options, runs the
pipeline read → validate → reconcile → clear → write, and returns the summary and exit code.

Order of a job: hash the inputs (in a thread, beside DuckDB's work), reconcile and prove the accounting,
clear and prove conservation, then write every output into a private folder and publish it in one step.
Nothing is written to `--out` before every check has passed.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import duckdb

from mediclear_cli import __version__, engine, schema
from mediclear_cli.clearing import ClearingResult, ClearOptions, clear
from mediclear_cli.errors import ExitCode, InputDataError, OutputError, UsageError
from mediclear_cli.inputs import refuse_shared_inputs, resolve_paths
from mediclear_cli.periods import Period
from mediclear_cli.reconcile import ReconOptions, ReconResult, all_extras, exceptions_sql, extra_kinds, reconcile
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.screen import ScreenOptions, ScreenResult, screen_table
from mediclear_cli.statements_xlsx import FULL_LIST, PendingStatement, needs_full_list, write_full_list, write_statement
from mediclear_cli.writers import file_entry, sha256_file, write_json, write_parquet, write_parquet_query

Progress = Callable[..., None]  # progress(stage, **counts): a stage begins (counts for the structured log)


def _quiet(_: str, **__: Any) -> None:
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


def _hash_inputs(files: dict[str, list[Path]]) -> list[dict[str, Any]]:
    entries = []
    for role, paths in files.items():
        for path in paths:
            entry = file_entry(path)
            entry["role"] = role
            entries.append(entry)
    return entries


def _run_id(input_entries: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """Content-derived: the same inputs, options and tool version always give the same run id."""
    basis = json.dumps(
        {"inputs": [(e["role"], e["sha256"]) for e in input_entries], "options": options, "version": __version__},
        sort_keys=True,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def _categories(recon: ReconResult) -> dict[str, Any]:
    zero = {"records": 0, "medfee_sumamt": Decimal("0.00"), "fund_pay_sumamt": Decimal("0.00"),
            "acct_pay": Decimal("0.00"), "clr_amt": Decimal("0.00")}
    sides: dict[str, Any] = {}
    for side in schema.SIDES:
        info = recon.per_side[side]
        sides[side] = {
            "files": len(recon.sides[side].files),
            "input": info["input"],
            "categories": {c: info["categories"].get(c, dict(zero)) for c in schema.CATEGORIES},
        }
    return sides


def _control_totals(con: Any) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    cursor = engine.run(con, "recon/control_totals")
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        record = dict(zip(names, row, strict=True))
        side = record.pop("side")
        key = "matched" if record.pop("matched") else "held"
        totals.setdefault(side, {})[key] = record
    return totals


def _base_summary(command: str, recon: ReconResult, run_id: str) -> dict[str, Any]:
    period = recon.options.period
    return {
        "command": command,
        "tool_version": __version__,
        "run_id": run_id,
        "period": period.label,
        "window": [period.start, period.end],
        "tolerance": recon.options.tolerance,
        "sides": _categories(recon),
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


def _manifest(command: str, run_id: str, spec_options: dict[str, Any], inputs: list[dict[str, Any]],
              controls: dict[str, Any], resources: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest's head; RunFolder.write_manifest adds every output it recorded."""
    return {
        "tool": "mediclear",
        "tool_version": __version__,
        "command": command,
        "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "options": spec_options,
        "inputs": inputs,
        "control_totals": controls,
        "resources": resources or {},
    }


def _prepare(
    con: Any, command: str, spec: JobSpec, progress: Progress, carry: Any = None
) -> tuple[ReconResult, list[dict[str, Any]], str, dict[str, Any]]:
    period = Period.parse(spec.period)
    refuse_future(period)
    options = ReconOptions(period, spec.tolerance_decimal(), carry)
    clear_options = ClearOptions(spec.level, spec.settlement)
    files = {"claims": resolve_paths(spec.claims, "claims"), "ledger": resolve_paths(spec.ledger, "ledger")}
    refuse_shared_inputs(files["claims"], files["ledger"])
    check_output(spec.out, command, period.label, [p for paths in files.values() for p in paths], spec.workspace)
    for role, path in (("regions", spec.regions), ("prepaid", spec.prepaid)):
        if path is not None:
            files[role] = resolve_paths([path], role)
    spec_options: dict[str, Any] = {"period": period.label, "tolerance": str(options.tolerance)}
    if command == "clear":
        spec_options |= {"level": clear_options.level, "settlement": clear_options.settlement}
    if carry is not None:
        # What the month starts from is part of what it is: the same files on another carried-in state are
        # another run.
        spec_options |= {"carried_from": carry.state_run_id, "written_off": len(carry.writeoff_keys)}
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashing = pool.submit(_hash_inputs, files)
        # The files just resolved (and being hashed) are exactly the files read: a glob is expanded once.
        recon = reconcile(con, [str(p) for p in files["claims"]], [str(p) for p in files["ledger"]], options,
                          progress)
        progress("hashing inputs")
        inputs = hashing.result()
    refuse_mostly_rejected(con, recon, spec.max_rejected_share(), spec.max_rejected)
    if not spec.force:
        refuse_empty_month(recon)
    run_id = _run_id(inputs, spec_options)
    return recon, inputs, run_id, spec_options


def refuse_future(period: Period) -> None:
    """A month that has not begun cannot be cleared: a typo (2062-10) or a clock that runs ahead would
    otherwise put every real month after it out of order in a workspace (exit 2)."""
    now = Period.parse("current")
    if period.ordinal > now.ordinal:
        raise UsageError(f"--period {period.label} lies in the future (this machine's clock says {now.label})")


def refuse_mostly_rejected(con: Any, recon: ReconResult, share: Decimal, given: str) -> None:
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


def _footer_rows(*sides: tuple[str, list[str]]) -> int | None:
    """The rows the inputs' Parquet footers declare (all sides), to size the run's database; None when a file
    cannot be resolved or read here, or is not Parquet (the real read reports problems properly)."""
    import pyarrow.parquet as pq

    try:
        paths = [p for what, given in sides for p in resolve_paths(given, what)]
        return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
    except Exception:  # noqa: BLE001 - only a hint; any problem is reported by the real read
        return None


def _sized_session(memory_limit: str, temp_directory: str, *sides: tuple[str, list[str]]) -> Any:
    """A session whose database is in memory when the inputs fit (engine.fits_in_memory), else a file."""
    return engine.session(memory_limit, temp_directory,
                          in_memory=engine.fits_in_memory(_footer_rows(*sides), memory_limit))


def _session(spec: JobSpec) -> Any:
    return _sized_session(spec.memory_limit, spec.temp_directory, ("claims", spec.claims), ("ledger", spec.ledger))


def run_reconcile(spec: JobSpec, progress: Progress = _quiet) -> tuple[dict[str, Any], ExitCode]:
    """`mediclear reconcile`: summary.json, exceptions.parquet and manifest.json."""
    with _session(spec) as con:
        return _reconcile_in(con, spec, progress)


def _reconcile_in(con: Any, spec: JobSpec, progress: Progress) -> tuple[dict[str, Any], ExitCode]:
    recon, inputs, run_id, spec_options = _prepare(con, "reconcile", spec, progress)
    summary = _base_summary("reconcile", recon, run_id)
    code = ExitCode.HELD if recon.held_records else ExitCode.OK
    summary["exit_code"] = int(code)
    progress("writing outputs")
    assert spec.out is not None  # reconcile's --out is required by the command line
    with RunFolder(spec.out, "reconcile", recon.options.period.label) as folder:
        folder.wrote("exceptions.parquet", write_parquet_query(
            con, exceptions_sql(all_extras(recon), extra_kinds(con)), folder.path("exceptions.parquet")))
        write_json(summary, folder.path("summary.json"))
        folder.wrote("summary.json")
        folder.write_manifest(_manifest("reconcile", run_id, spec_options, inputs, _control_totals(con),
                                        engine.resource_report(con, recon.scratch_bytes_max)), spec.sign_key)
        folder.publish()
    return summary, code


def _clearing_summary(result: ClearingResult) -> dict[str, Any]:
    cross = sum((p["clr_amt"] for p in result.pair_totals.to_pylist() if not p["internal"]), Decimal("0.00"))
    nets = result.net_positions.to_pylist()
    return {
        "cleared_records": result.cleared_records,
        "cleared_clr_amt": result.cleared_clr_amt,
        "internal_records": result.internal_records,
        "internal_clr_amt": result.internal_clr_amt,
        "cross_unit_clr_amt": cross,
        "units": len(nets),
        "transfers": result.transfers.num_rows,
        "transfer_total": sum((t["amount"] for t in result.transfers.to_pylist()), Decimal("0.00")),
        "topups_due": [
            {"unit": n["unit"], "topup_due": n["topup_due"]} for n in nets if (n.get("topup_due") or 0) > 0
        ],
    }


def run_clear(
    spec: JobSpec, progress: Progress = _quiet
) -> tuple[dict[str, Any], ExitCode, ClearingResult]:
    """`mediclear clear`: reconcile, clear, prove conservation, write every output, publish atomically.
    With a workspace: under its lock, carry held items in and out and record the run (see workspace.py)."""
    if spec.workspace is None:
        if spec.out is None:
            raise UsageError("--out is required (or --workspace, which keeps run folders under runs/)")
        with _session(spec) as con:
            return _clear_in(con, spec, progress, None)
    from mediclear_cli.workspace import Workspace

    ws = Workspace(spec.workspace)
    period = Period.parse(spec.period)
    with ws.locked():
        created = not ws.db_path.exists()
        with ws.connect() as wcon:
            wrun = ws.begin_run(wcon, period, "clear")
        wrun.created = created
        progress("workspace run", workspace_run=wrun.seq, carried_from=wrun.carry.state_run)
        try:
            with _session(spec) as con:
                summary, code, result = _clear_in(con, spec, progress, wrun)
        except BaseException as exc:
            from mediclear_cli.errors import MediclearError, exit_code_for

            failed = exit_code_for(exc)
            interrupted = failed in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
            message = str(exc) if isinstance(exc, MediclearError) else type(exc).__name__
            if interrupted:
                message = f"interrupted ({'SIGTERM' if failed == ExitCode.TERMINATED else 'SIGINT'}); nothing was published"
            with ws.connect() as wcon:
                ws.finish_run(wcon, wrun.seq, {"status": "interrupted" if interrupted else "failed",
                                               "exit_code": int(failed), "message": message})
            raise
    return summary, code, result


def _clear_in(con: Any, spec: JobSpec, progress: Progress, wrun: Any) -> tuple[dict[str, Any], ExitCode, ClearingResult]:
    recon, inputs, run_id, spec_options = _prepare(con, "clear", spec, progress, wrun.carry if wrun else None)
    progress("reconciled", run_id=run_id, held_records=recon.held_records, matched_records=recon.matched_records)
    out = spec.out
    if wrun is not None:
        from mediclear_cli.carryforward import settle

        carry_block = settle(con, recon)
        carry_block["carried_from_period"] = wrun.carry.state_period
        if out is None:
            out = wrun.workspace.runs_dir / recon.options.period.label / f"{wrun.seq:04d}-{run_id}"
            for folder in (wrun.workspace.runs_dir, out.parent):  # everything in a workspace is owner-only
                folder.mkdir(mode=0o700, exist_ok=True)
                folder.chmod(0o700)
    assert out is not None
    exc_sql = exceptions_sql(all_extras(recon), extra_kinds(con))
    pending = None
    if PendingStatement.fits(spec.excel_exception_rows):
        # The Excel 差错 sheet fills in a worker thread while DuckDB nets and writes Parquet. If the run
        # fails first, the worker only ever wrote into memory: nothing to undo.
        pending = PendingStatement.start(con, exc_sql, recon.held_records, spec.excel_exception_rows,
                                         carry=wrun is not None, flags=spec.screen)
    progress("netting")
    result = clear(con, recon, ClearOptions(spec.level, spec.settlement), spec.regions, spec.prepaid)
    summary = _base_summary("clear", recon, run_id)
    summary |= {"level": spec.level, "settlement": spec.settlement, "prepaid": spec.prepaid is not None}
    summary["clearing"] = _clearing_summary(result)
    summary["checks"] |= {"conservation": "passed", "sum_net": Decimal("0.00")}
    if result.units_without_prepaid:
        summary["warnings"].append(
            "units without a prepaid account in the prepaid file: " + ", ".join(result.units_without_prepaid)
        )
    if not recon.totals_balanced:
        summary["warnings"].append("the totals view (对总账) does not balance; see totals_view and exceptions")
    if wrun is not None:
        summary["carry_forward"] = carry_block
    code = ExitCode.HELD if recon.held_records else ExitCode.OK
    summary["exit_code"] = int(code)
    screened: ScreenResult | None = None
    if spec.screen:
        progress("screening")
        screened = screen_table(
            con, "recon_rows", "side = 'ledger' AND category <> 'rejected' AND setl_time >= $start AND setl_time < $end"
            # carried rows keep certno masked in the workspace, so they cannot be screened for "same person"
            + (" AND held_since IS NULL" if recon.carried else ""),
            {"start": recon.options.period.start, "end": recon.options.period.end}, spec.screen_options, "ledger")
        summary["screen"] = {"flags": screened.flags.num_rows, "skipped": screened.skipped}
    register = {}
    if spec.regions:
        register = {r[0]: r[1] for r in con.execute(
            "SELECT admdvs, admdvs_name FROM regions WHERE admdvs_name IS NOT NULL").fetchall()}
    progress("writing outputs")
    notices: list[str] = []  # for people only (the console): summary.json is written before the statements
    with RunFolder(out, "clear", recon.options.period.label) as folder:
        folder.wrote("exceptions.parquet", write_parquet_query(con, exc_sql, folder.path("exceptions.parquet")))
        if needs_full_list(recon.held_records, spec.excel_exception_rows):
            progress("writing the full exception list")
            folder.wrote(FULL_LIST, write_full_list(con, exc_sql, folder.path(FULL_LIST)))
        for name, table in (
            ("pair_totals", result.pair_totals),
            ("pair_type_totals", result.pair_type_totals),
            ("net_positions", result.net_positions),
            ("fund_split", result.fund_split),
            ("transfers", result.transfers),
            ("held_by_unit", result.held_by_unit),
        ):
            folder.wrote(f"{name}.parquet", write_parquet(table, folder.path(f"{name}.parquet")))
        if wrun is not None:
            folder.wrote("carry_forward.parquet", write_parquet_query(
                con, "SELECT * FROM carry_outcomes ORDER BY side, setl_id", folder.path("carry_forward.parquet")))
        if screened is not None:
            folder.wrote("flags.parquet", write_parquet(screened.flags, folder.path("flags.parquet")))
            write_json(screened.summary(spec.screen_options), folder.path("screen_summary.json"))
            folder.wrote("screen_summary.json")
        progress("writing the Excel statement")
        flags = screened.flags if screened is not None else None
        if pending is not None:
            pending.finish(folder.path("statements.xlsx"), summary, result, recon.totals, register, flags)
        else:
            write_statement(folder.path("statements.xlsx"), summary, result, recon.totals, con, exc_sql, register,
                            spec.excel_exception_rows, flags)
        folder.wrote("statements.xlsx")
        write_json(summary, folder.path("summary.json"))
        folder.wrote("summary.json")
        manifest = folder.write_manifest(_manifest(
            "clear", run_id, spec_options, inputs, _control_totals(con),
            engine.resource_report(con, max(recon.scratch_bytes_max, engine.scratch_bytes(con)))), spec.sign_key)
        summary_resources = manifest["resources"]
        if spec.statements:
            progress("writing the printable statements")
            from mediclear_cli.statements_html import write_statements

            folder.path("statements").mkdir(mode=0o700)
            write_statements(folder.path("statements"), folder.path(""), spec.lang, spec.pdf, notices)
        folder.publish()
    if wrun is not None:
        summary["workspace"] = _record(con, wrun, run_id, inputs, spec_options, summary, code, out)
    summary["resources"] = summary_resources  # for the console only; summary.json holds no machine figures
    summary["out"] = str(out)
    if wrun is not None and wrun.created:
        # A misspelt or mis-resolved workspace path starts a new, empty store: a month that should have
        # carried items in would look like any other. Never quietly — but not in summary.json either, whose
        # bytes a repeat of this run must reproduce: on stderr, in --json's `workspace.created`, in the log.
        notices.insert(0, f"new workspace created at {wrun.workspace.root.resolve()}: nothing was carried in from "
                          "earlier months; if this workspace should already exist, check the path (relative paths "
                          "in mediclear.toml are relative to the file's folder)")
    summary["notices"] = notices
    return summary, code, result


DATA_OUTPUTS = ("summary.json", ".parquet")


def _record(con: Any, wrun: Any, run_id: str, inputs: list[dict[str, Any]], spec_options: dict[str, Any],
            summary: dict[str, Any], code: ExitCode, out: Path) -> dict[str, Any]:
    """After publishing: keep the held rows for next month and record the run, in one transaction."""
    from mediclear_cli.carryforward import write_files

    ws = wrun.workspace
    held_name, outcome_name = write_files(con, ws.held_dir, f"{wrun.seq:06d}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    previous = wrun.previous
    fields: dict[str, Any] = {
        "run_id": run_id, "status": "done", "exit_code": int(code), "inputs": inputs, "options": spec_options,
        "summary": summary, "out_dir": str(Path(out).resolve()), "manifest_sha256": sha256_file(out / "manifest.json"),
        "held_file": f"held/{held_name}", "resolved_file": f"held/{outcome_name}",
    }
    info: dict[str, Any] = {"run": wrun.seq, "carried_from": wrun.carry.state_run, "created": wrun.created}
    if previous is not None and previous["run_id"] == run_id:
        # Same inputs, options and carried-in state as the run standing for the month: a repeat. Its data
        # outputs must come out identical (manifest times and statements' hash lines aside).
        fields["repeat_of"] = previous["seq"]
        info["repeat_of"] = previous["seq"]
        info["reproduced"] = _same_outputs(wrun.previous_manifest, manifest)
        if not info["reproduced"]:
            fields["message"] = f"repeat of run {previous['seq']} but the data outputs differ"
    elif previous is not None:
        fields["supersedes"] = previous["seq"]
        info["supersedes"] = previous["seq"]
    with ws.connect() as wcon:
        ws.finish_run(wcon, wrun.seq, fields)
    return info


def _same_outputs(old: dict[str, Any] | None, manifest: dict[str, Any]) -> bool | None:
    """Whether the data outputs (summary.json and the Parquet files) are byte-identical to the earlier run's;
    None when the earlier run's folder no longer holds its recorded manifest (nothing to compare with)."""
    if old is None:
        return None

    def data(m: dict[str, Any]) -> dict[str, str]:
        return {e["file"]: e["sha256"] for e in m["outputs"] if e["file"].endswith(DATA_OUTPUTS)}

    return data(old) == data(manifest)


def run_screen(claims: list[str], ledger: list[str], period: str, out: Path, options: ScreenOptions,
               memory_limit: str = "", temp_directory: str = "") -> tuple[dict[str, Any], ExitCode]:
    """`mediclear screen`: the risk screens over one side's valid rows of the period (the ledger when given,
    else the claims): flags.parquet, screen_summary.json, manifest.json."""
    from mediclear_cli.inputs import load_side

    if not ledger and not claims:
        raise UsageError("screen needs --ledger or --claims")
    side, paths = ("ledger", ledger) if ledger else ("claims", claims)
    window = Period.parse(period)
    files = resolve_paths(paths, side)
    check_output(out, "screen", window.label, files)
    refuse_future(window)
    with _sized_session(memory_limit, temp_directory, (side, [str(p) for p in files])) as con:
        engine.run(con, "macros")
        load_side(con, side, [str(p) for p in files])
        result = screen_table(con, side, "reject_reason IS NULL AND setl_time >= $start AND setl_time < $end",
                              {"start": window.start, "end": window.end}, options, side)
        summary = result.summary(options) | {"period": window.label, "tool_version": __version__}
        code = ExitCode.HELD if result.flags.num_rows else ExitCode.OK
        summary["exit_code"] = int(code)
        with RunFolder(out, "screen", window.label) as folder:
            folder.wrote("flags.parquet", write_parquet(result.flags, folder.path("flags.parquet")))
            write_json(summary, folder.path("screen_summary.json"))
            folder.wrote("screen_summary.json")
            inputs = _hash_inputs({side: files})
            folder.write_manifest(_manifest("screen", _run_id(inputs, {"period": window.label, **options.__dict__}), {
                "period": window.label, **options.__dict__}, inputs, {}))
            folder.publish()
    return summary, code


def run_diff(left: list[str], right: list[str], options: Any, out: Path | None,
             memory_limit: str = "", temp_directory: str = "") -> tuple[dict[str, Any], ExitCode]:
    """`mediclear diff`: compare two tables; with `out`, write rows, cells, summary, reports, manifest."""
    from mediclear_cli.diff import diff, load_table, samples
    from mediclear_cli.diff_reports import html_report, xlsx_report

    check_output(out, "diff", None, [Path(p) for p in left + right if Path(p).exists()])
    with _sized_session(memory_limit, temp_directory, ("left", left), ("right", right)) as con:
        scratch = engine.scratch_dir(con)
        engine.run(con, "macros")  # the masking of personal data in every output
        try:  # a zoned timestamp's text is the same on every machine
            con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:  # without the ICU extension DuckDB has no zones to differ by
            pass
        left_cols = load_table(con, "left", left, options.encoding, scratch)
        right_cols = load_table(con, "right", right, options.encoding, scratch)
        result = diff(con, options, left_cols, right_cols)
        summary = result.summary | {"left": ", ".join(left), "right": ", ".join(right), "tool_version": __version__}
        code = ExitCode.OK if summary["identical"] else ExitCode.HELD
        summary["exit_code"] = int(code)
        if out is not None:
            with RunFolder(out, "diff") as folder:
                for name, sql in (("diff_rows.parquet", result.rows_sql), ("diff_cells.parquet", result.cells_sql),
                                  # what is missing from the other side, in full: nobody has to open the inputs
                                  ("diff_left_only.parquet", result.left_only_sql),
                                  ("diff_right_only.parquet", result.right_only_sql)):
                    folder.wrote(name, write_parquet_query(con, sql, folder.path(name)))
                sample = samples(con, result.cells_sql, summary["compared_columns"])
                for name, writer in (("diff_report.html", html_report), ("diff_report.xlsx", xlsx_report)):
                    writer(summary, sample, folder.path(name))
                    folder.wrote(name)
                write_json(summary, folder.path("diff_summary.json"))
                folder.wrote("diff_summary.json")
                files = {"left": [Path(p) for p in left], "right": [Path(p) for p in right]}
                inputs = _hash_inputs({k: [f for f in v if f.is_file()] for k, v in files.items()})
                folder.write_manifest(_manifest("diff", _run_id(inputs, {"keys": options.keys}), {"keys": options.keys},
                                                inputs, {}))
                folder.publish()
    return summary, code


def run_diff_runs(run_a: Path, run_b: Path, out: Path | None) -> tuple[dict[str, Any], ExitCode]:
    """`mediclear diff-runs`: two clearing runs of one period — net positions per unit, records that moved
    between categories and why, and whether the manifests' inputs differ."""
    import pyarrow.parquet as pq

    from mediclear_cli.errors import InputNotFound

    check_output(out, "diff-runs", None, [run_a, run_b])
    manifests = {}
    for name, run in (("a", run_a), ("b", run_b)):
        path = run / "manifest.json"
        if not path.is_file() or not (run / "exceptions.parquet").is_file():
            raise InputNotFound(f"{run}: not a finished run folder")
        manifests[name] = json.loads(path.read_text(encoding="utf-8"))
    con = duckdb.connect()
    for name, run in (("a", run_a), ("b", run_b)):
        con.register(f"exc_{name}", pq.read_table(run / "exceptions.parquet", columns=["side", "setl_id", "category",
                                                                                       "clr_amt"]))
        nets_path = run / "net_positions.parquet"
        if not nets_path.is_file():
            raise InputNotFound(f"{run}: no net_positions.parquet; diff-runs compares clearing runs")
        con.register(f"net_{name}", pq.read_table(nets_path, columns=["unit", "net"]))
    nets = engine.run(con, "runs/net_changes").fetchall()
    moved = engine.query(con, "runs/records_moved").to_arrow_table()
    con.register("moved", moved)
    inputs = {name: {(e["role"], e["sha256"]) for e in m.get("inputs", [])} for name, m in manifests.items()}
    summary = {
        "run_a": str(run_a), "run_b": str(run_b),
        "period_a": manifests["a"].get("options", {}).get("period"),
        "period_b": manifests["b"].get("options", {}).get("period"),
        "inputs_differ": inputs["a"] != inputs["b"],
        "inputs_only_in_a": sorted(f"{r}:{h[:12]}" for r, h in inputs["a"] - inputs["b"]),
        "inputs_only_in_b": sorted(f"{r}:{h[:12]}" for r, h in inputs["b"] - inputs["a"]),
        "net_changes": [{"unit": u, "net_a": a, "net_b": b, "change": c} for u, a, b, c in nets if c != 0],
        "records_moved": dict(con.execute("SELECT why, count(*) FROM moved GROUP BY why ORDER BY why").fetchall()),
    }
    code = ExitCode.OK if not (summary["net_changes"] or moved.num_rows or summary["inputs_differ"]) else ExitCode.HELD
    summary["exit_code"] = int(code)
    if out is not None:
        with RunFolder(out, "diff-runs") as folder:
            folder.wrote("records_moved.parquet", write_parquet(moved, folder.path("records_moved.parquet")))
            write_json(summary, folder.path("diff_runs.json"))
            folder.wrote("diff_runs.json")
            folder.write_manifest(_manifest("diff-runs", "", {}, [], {}))
            folder.publish()
    return summary, code
