"""`mediclear reconcile`: reconciliation alone — summary.json, exceptions.parquet and the manifest."""

from __future__ import annotations

import duckdb

from mediclear_cli import engine
from mediclear_cli.errors import ExitCode
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
from mediclear_cli.platform_result import COMPARE_SQL, compare_platform
from mediclear_cli.reconcile import all_extras, exceptions_sql, extra_kinds
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.summary import RunSummary
from mediclear_cli.writers import write_json, write_parquet_query


def run_reconcile(spec: JobSpec, progress: Progress = quiet) -> tuple[RunSummary, ExitCode]:
    """`mediclear reconcile`: summary.json, exceptions.parquet and manifest.json."""
    with session_for(spec) as con:
        return _reconcile_in(con, spec, progress)


def _reconcile_in(con: duckdb.DuckDBPyConnection, spec: JobSpec, progress: Progress) -> tuple[RunSummary, ExitCode]:
    recon, inputs, run_id, spec_options = prepare(con, "reconcile", spec, progress)
    summary = base_summary("reconcile", recon, run_id)
    code = ExitCode.HELD if recon.held_records else ExitCode.OK
    if spec.platform_result is not None:
        progress("comparing with the platform's result")
        summary["platform_compare"] = compare_platform(con, spec.platform_result, spec.read)
        if summary["platform_compare"]["disagree"]:
            code = ExitCode.HELD
    summary["exit_code"] = int(code)
    progress("writing outputs")
    assert spec.out is not None  # reconcile's --out is required by the command line
    with RunFolder(spec.out, "reconcile", recon.options.period.label) as folder:
        folder.wrote("exceptions.parquet", write_parquet_query(
            con, exceptions_sql(all_extras(recon), extra_kinds(con)), folder.path("exceptions.parquet")))
        if spec.platform_result is not None:
            folder.wrote("platform_compare.parquet", write_parquet_query(
                con, COMPARE_SQL, folder.path("platform_compare.parquet")))
        write_json(summary, folder.path("summary.json"))
        folder.wrote("summary.json")
        folder.write_manifest(manifest_head("reconcile", run_id, spec_options, inputs, control_totals(con),
                                        engine.resource_report(con, recon.scratch_bytes_max, recon.partitions,
                                                               recon.options.engine)), spec.sign_key)
        folder.publish()
    return summary, code
