"""`mediclear clear`, the main job: reconcile, clear, prove conservation, write every output, publish
atomically; with a workspace, under its lock, carry held items in and out and record the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from mediclear_cli import engine
from mediclear_cli.clearing import ClearingResult, ClearOptions, clear
from mediclear_cli.errors import ExitCode, UsageError
from mediclear_cli.jobs.common import (
    JobSpec,
    Progress,
    base_summary,
    control_totals,
    prepare,
    quiet,
    session_for,
)
from mediclear_cli.manifest import manifest_head
from mediclear_cli.periods import Period
from mediclear_cli.reconcile import all_extras, exceptions_sql, extra_kinds
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.screen import ScreenResult, screen_table
from mediclear_cli.statements_xlsx import FULL_LIST, PendingStatement, needs_full_list, write_full_list, write_statement
from mediclear_cli.summary import ClearingSummary, RunNotes, RunSummary
from mediclear_cli.writers import copy_file, sha256_file, write_json, write_parquet, write_parquet_query

if TYPE_CHECKING:  # the workspace imports nothing of the jobs; typed without importing it at run time
    from mediclear_cli.workspace import WorkspaceRun


def _clearing_summary(result: ClearingResult) -> ClearingSummary:
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


@dataclass
class ClearRun:
    """What `run_clear` hands back beside the summary: the clearing itself (for the console's tables) and the
    notes only people read (summary.RunNotes)."""

    clearing: ClearingResult
    notes: RunNotes


def run_clear(
    spec: JobSpec, progress: Progress = quiet
) -> tuple[RunSummary, ExitCode, ClearRun]:
    """`mediclear clear`: reconcile, clear, prove conservation, write every output, publish atomically.
    With a workspace: under its lock, carry held items in and out and record the run (see workspace.py)."""
    if spec.workspace is None:
        if spec.out is None:
            raise UsageError("--out is required (or --workspace, which keeps run folders under runs/)")
        with session_for(spec) as con:
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
            with session_for(spec) as con:
                summary, code, result = _clear_in(con, spec, progress, wrun)
        except BaseException as exc:
            from mediclear_cli.errors import MediclearError, exit_code_for, interruption

            failed = exit_code_for(exc)
            interrupted = failed in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
            message = str(exc) if isinstance(exc, MediclearError) else type(exc).__name__
            if interrupted:
                message = interruption(failed)
            with ws.connect() as wcon:
                ws.finish_run(wcon, wrun.seq, {"status": "interrupted" if interrupted else "failed",
                                               "exit_code": int(failed), "message": message})
            raise
    return summary, code, result


def _exceptions_once(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, Path, int]:
    """The exceptions written once, as exceptions.parquet will hold them, into the run's scratch folder; returns
    the query that reads them back in their order, the file and its rows. The 差错 sheet, the full list and
    exceptions.parquet itself (a copy of the file) then read one file instead of each masking and sorting the
    held rows again (10M rows per side, ~670,000 held: the outputs after reconciling 14.1 -> 10.7 s, peak RSS
    1.39 -> 1.23 GiB)."""
    path = engine.scratch_dir(con) / "exceptions.parquet"
    rows = write_parquet_query(con, sql, path)
    # one file read back in the order it was written (the session does not preserve insertion order)
    ordered = (f"SELECT * EXCLUDE (file_row_number) FROM read_parquet({engine.quote_literal(str(path))}, "  # noqa: S608 - path quoted
               "file_row_number = true) ORDER BY file_row_number")
    return ordered, path, rows


def _clear_in(con: duckdb.DuckDBPyConnection, spec: JobSpec, progress: Progress, wrun: WorkspaceRun | None
              ) -> tuple[RunSummary, ExitCode, ClearRun]:
    recon, inputs, run_id, spec_options = prepare(con, "clear", spec, progress, wrun.carry if wrun else None)
    progress("reconciled", run_id=run_id, held_records=recon.held_records, matched_records=recon.matched_records)
    out = spec.out
    if wrun is not None:
        from mediclear_cli.carryforward import settle

        carry_block = settle(con, recon)
        carry_block["carried_from_period"] = wrun.carry.state_period
        if out is None:
            out = wrun.workspace.runs_dir / recon.options.period.label / f"{wrun.seq:04d}-{run_id}"
            for parent in (wrun.workspace.runs_dir, out.parent):  # everything in a workspace is owner-only
                parent.mkdir(mode=0o700, exist_ok=True)
                parent.chmod(0o700)
    assert out is not None
    exc_sql, exc_file, exc_rows = _exceptions_once(con, exceptions_sql(all_extras(recon), extra_kinds(con)))
    pending = None
    if PendingStatement.fits(spec.excel_exception_rows):
        # The Excel 差错 sheet fills in a worker thread while DuckDB nets and writes Parquet. If the run
        # fails first, the worker only ever wrote into memory: nothing to undo.
        pending = PendingStatement.start(con, exc_sql, recon.held_records, spec.excel_exception_rows,
                                         carry=wrun is not None, flags=spec.screen, policy=spec.policy is not None)
    progress("netting", rows=recon.matched_records)
    result = clear(con, recon, ClearOptions(spec.level, spec.settlement), spec.regions, spec.prepaid)
    summary = base_summary("clear", recon, run_id)
    summary["level"], summary["settlement"] = spec.level, spec.settlement
    summary["prepaid"] = spec.prepaid is not None
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
    policy_rows = None
    if spec.policy is not None:
        from mediclear_cli.jobs.policy import FLAG_COLUMNS, check_policy, prepare_settlements

        progress("checking the policy")
        missing = prepare_settlements(con, recon.sides["ledger"].extras, str(recon.sides["ledger"].files[0]))
        summary["policy"] = check_policy(con, Path(spec.policy), recon.options.period, Decimal("0.01")) | {
            "missing_columns": missing}
        policy_rows = con.sql(f"SELECT {', '.join(FLAG_COLUMNS)} FROM policy_results WHERE status = 'flagged' "  # noqa: S608 - constant column names
                              "ORDER BY insuplc_admdvs, mdtrtarea_admvs, setl_id, row_key").to_arrow_table()
    register = {}
    if spec.regions:
        register = {r[0]: r[1] for r in con.execute(
            "SELECT admdvs, admdvs_name FROM regions WHERE admdvs_name IS NOT NULL").fetchall()}
    progress("writing outputs", rows=recon.held_records)
    notices: list[str] = []  # for people only (the console): summary.json is written before the statements
    with RunFolder(out, "clear", recon.options.period.label) as folder:
        copy_file(exc_file, folder.path("exceptions.parquet"))
        folder.wrote("exceptions.parquet", exc_rows)
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
        if policy_rows is not None:
            folder.wrote("policy_flags.parquet", write_parquet(policy_rows, folder.path("policy_flags.parquet")))
        if screened is not None:
            folder.wrote("flags.parquet", write_parquet(screened.flags, folder.path("flags.parquet")))
            write_json(screened.summary(spec.screen_options), folder.path("screen_summary.json"))
            folder.wrote("screen_summary.json")
        progress("writing the Excel statement")
        flags = screened.flags if screened is not None else None
        if pending is not None:
            pending.finish(folder.path("statements.xlsx"), summary, result, recon.totals, register, flags,
                           policy_rows)
        else:
            write_statement(folder.path("statements.xlsx"), summary, result, recon.totals, con, exc_sql, register,
                            spec.excel_exception_rows, flags, policy_rows)
        folder.wrote("statements.xlsx")
        write_json(summary, folder.path("summary.json"))
        folder.wrote("summary.json")
        manifest = folder.write_manifest(manifest_head(
            "clear", run_id, spec_options, inputs, control_totals(con),
            engine.resource_report(con, max(recon.scratch_bytes_max, engine.scratch_bytes(con)), recon.partitions,
                                   recon.options.engine)), spec.sign_key)
        summary_resources = manifest["resources"]
        if spec.statements:
            progress("writing the printable statements")
            from mediclear_cli.statements_html import write_statements

            folder.path("statements").mkdir(mode=0o700)
            write_statements(folder.path("statements"), folder.path(""), spec.lang, spec.pdf, notices)
        folder.publish()
    notes = RunNotes(out=Path(out), resources=summary_resources, notices=notices)
    if wrun is not None:
        notes.workspace = _record(con, wrun, run_id, inputs, spec_options, summary, code, out)
        if wrun.created:
            # A misspelt or mis-resolved workspace path starts a new, empty store: a month that should have
            # carried items in would look like any other. Never quietly — but not in summary.json either, whose
            # bytes a repeat of this run must reproduce: on stderr, in the log, and in the store's record.
            notices.insert(0, f"new workspace created at {wrun.workspace.root.resolve()}: nothing was carried in "
                              "from earlier months; if this workspace should already exist, check the path "
                              "(relative paths in mediclear.toml are relative to the file's folder)")
    return summary, code, ClearRun(result, notes)


DATA_OUTPUTS = ("summary.json", ".parquet")


def _record(con: duckdb.DuckDBPyConnection, wrun: WorkspaceRun, run_id: str, inputs: list[dict[str, Any]],
            spec_options: dict[str, Any], summary: RunSummary, code: ExitCode, out: Path) -> dict[str, Any]:
    """After publishing: keep the held rows for next month and record the run, in one transaction."""
    from mediclear_cli.carryforward import write_files

    ws = wrun.workspace
    held_name, outcome_name = write_files(con, ws.held_dir, f"{wrun.seq:06d}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    previous = wrun.previous
    fields: dict[str, Any] = {
        "run_id": run_id, "status": "done", "exit_code": int(code), "inputs": inputs, "options": spec_options,
        "summary": summary, "out_dir": str(Path(out).resolve()), "manifest_sha256": sha256_file(out / "manifest.json"),
        "held_file": f"held/{held_name}", "resolved_file": f"held/{outcome_name}", "created_workspace": wrun.created,
    }
    info: dict[str, Any] = {"run": wrun.seq, "carried_from": wrun.carry.state_run, "created": wrun.created}
    if previous is not None and previous["run_id"] == run_id:
        # Same inputs, options and carried-in state as the run standing for the month: a repeat. Its data
        # outputs must come out identical (manifest times and statements' hash lines aside).
        fields["repeat_of"] = previous["seq"]
        info["repeat_of"] = previous["seq"]
        info["reproduced"] = fields["reproduced"] = _same_outputs(wrun.previous_manifest, manifest)
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
