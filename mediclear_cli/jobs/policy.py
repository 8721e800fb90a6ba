"""`mediclear policy-check`: what the pooled fund should have paid under the insured region's policy, beside
what it paid, for every valid ledger settlement of the period (sql/policy/check.sql)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mediclear_cli import __version__, engine
from mediclear_cli.engine import quote_ident
from mediclear_cli.errors import ExitCode, UsageError
from mediclear_cli.inputs import load_side, money_sql, resolve_paths
from mediclear_cli.jobs.common import Progress, check_output, quiet, refuse_future, sized_session
from mediclear_cli.manifest import hash_inputs, manifest_head, run_id_of
from mediclear_cli.periods import Period
from mediclear_cli.policy import load_policy
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.sources import ReadOptions
from mediclear_cli.writers import write_json, write_parquet_query

# Columns beyond the contract the check needs, as the platform names them (with the Chinese headers).
POLICY_COLUMNS = {"inscp_scp_amt": ("inscp_scp_amt", "符合政策范围金额"),
                  "act_pay_dedc": ("act_pay_dedc", "实际支付起付线"),
                  "hosp_lv": ("hosp_lv", "医院等级")}
FLAG_COLUMNS = ("setl_id", "psn_no", "insuplc_admdvs", "mdtrtarea_admvs", "insutype", "med_type_group", "setl_time",
                "inscp_scp_amt", "act_pay_dedc", "expected_dedc", "recorded_hifp_pay", "expected_hifp_pay",
                "difference", "part", "cap_left", "policy_id", "policy_line")


def _extra_money(con: duckdb.DuckDBPyConnection, column: str | None, path: str) -> str:
    """An extra column of the loaded ledger as exact DECIMAL(18,2) (NULL where it does not read exactly)."""
    if column is None:
        return "CAST(NULL AS DECIMAL(18,2))"
    typ = con.sql(f"SELECT {quote_ident(column)} FROM ledger LIMIT 0").to_arrow_table().schema.field(0).type  # noqa: S608 - quoted
    if pa.types.is_null(typ):
        return "CAST(NULL AS DECIMAL(18,2))"
    return money_sql(column, typ, path)


def prepare_settlements(con: duckdb.DuckDBPyConnection, extras: list[str], where: str) -> list[str]:
    """policy_settlements from the loaded ledger; returns the policy columns it could not find."""
    lowered = {e.strip().lower(): e for e in extras}
    found = {name: next((lowered[h.lower()] for h in headers if h.lower() in lowered), None)
             for name, headers in POLICY_COLUMNS.items()}
    level = f"CAST({quote_ident(found['hosp_lv'])} AS VARCHAR)" if found["hosp_lv"] else "CAST(NULL AS VARCHAR)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE policy_settlements AS "  # noqa: S608 - identifiers quoted, SQL from money_sql
        "SELECT row_number() OVER (ORDER BY source_file, source_row) AS row_key, setl_id, psn_no, insutype, "
        f"med_type, {level} AS hosp_lv, insuplc_admdvs, mdtrtarea_admvs, setl_time, refd_setl_flag, "
        f"{_extra_money(con, found['inscp_scp_amt'], where)} AS inscp_scp_amt, "
        f"{_extra_money(con, found['act_pay_dedc'], where)} AS act_pay_dedc, hifp_pay "
        "FROM ledger WHERE reject_reason IS NULL")
    return [name for name in ("inscp_scp_amt", "act_pay_dedc") if found[name] is None]


def check_policy(con: duckdb.DuckDBPyConnection, policy_file: Path, period: Period, tolerance: Decimal) -> dict[str, Any]:
    """Run the check over policy_settlements; returns the summary block (the rows are in policy_results)."""
    con.register("policy_bands_arrow", load_policy(policy_file, engine.scratch_dir(con)))
    con.execute("CREATE OR REPLACE TEMP TABLE policy_bands AS SELECT * FROM policy_bands_arrow")
    con.unregister("policy_bands_arrow")
    engine.run(con, "policy/check", period_start=period.start, period_end=period.end, tolerance=tolerance)
    status = dict(con.execute("SELECT status, count(*) FROM policy_results GROUP BY ALL").fetchall())
    reasons = dict(con.execute("SELECT not_checked_reason, count(*) FROM policy_results "
                               "WHERE status = 'not_checked' GROUP BY ALL ORDER BY 1").fetchall())
    parts = {p: {"records": int(n), "difference": d} for p, n, d in con.execute(
        "SELECT part, count(*), sum(difference) FROM policy_results WHERE status = 'flagged' GROUP BY ALL ORDER BY 1"
    ).fetchall()}
    pairs = [{"insured": i, "care": c, "records": int(n), "difference": d} for i, c, n, d in con.execute(
        "SELECT insuplc_admdvs, mdtrtarea_admvs, count(*), sum(difference) FROM policy_results "
        "WHERE status = 'flagged' GROUP BY ALL ORDER BY 1, 2").fetchall()]
    return {
        "settlements": sum(int(n) for n in status.values()),
        "passed": int(status.get("passed", 0)),
        "flagged": int(status.get("flagged", 0)),
        "not_checked": int(status.get("not_checked", 0)),
        "not_checked_by_reason": {k: int(v) for k, v in reasons.items()},
        "flagged_by_part": parts,
        "flagged_by_pair": pairs,
        "tolerance": tolerance,
        "rounding": "half-up to the cent, once per settlement",
    }


def run_policy_check(ledger: list[str], policy_file: str, period: str, out: Path, tolerance: str = "0.01",
                     memory_limit: str = "", temp_directory: str = "", read: ReadOptions | None = None,
                     progress: Progress = quiet) -> tuple[dict[str, Any], ExitCode]:
    """policy_flags.parquet (flagged settlements), policy_unchecked.parquet (the ones not checked, with why),
    policy_summary.json and manifest.json; exit 1 when a settlement is flagged."""
    window = Period.parse(period)
    try:
        allowed = Decimal(tolerance)
    except ArithmeticError:
        allowed = Decimal(-1)
    if not allowed.is_finite() or allowed < 0:
        raise UsageError(f"--tolerance {tolerance!r}: expected a non-negative amount such as 0.01")
    refuse_future(window)
    files = resolve_paths(ledger, "ledger")
    policy_files = resolve_paths([policy_file], "policy")
    check_output(out, "policy-check", window.label, files + policy_files)
    with sized_session(memory_limit, temp_directory, ("ledger", [str(p) for p in files])) as con:
        engine.run(con, "macros")
        loaded = load_side(con, "ledger", [str(p) for p in files], progress, read)
        progress("checking the policy")
        missing = prepare_settlements(con, loaded.extras, str(files[0]))
        rejected = con.execute("SELECT count(*) FROM ledger WHERE reject_reason IS NOT NULL").fetchall()[0][0]
        summary = {"command": "policy-check", "tool_version": __version__, "period": window.label,
                   **check_policy(con, policy_files[0], window, allowed),
                   "rejected_rows_not_checked": int(rejected), "missing_columns": missing}
        code = ExitCode.HELD if summary["flagged"] else ExitCode.OK
        summary["exit_code"] = int(code)
        progress("writing outputs")
        options = {"period": window.label, "tolerance": str(allowed)}
        inputs = hash_inputs({"ledger": files, "policy": policy_files})
        with RunFolder(out, "policy-check", window.label) as folder:
            flags = ", ".join(quote_ident(c) for c in FLAG_COLUMNS)
            folder.wrote("policy_flags.parquet", write_parquet_query(
                con, f"SELECT {flags} FROM policy_results WHERE status = 'flagged' "  # noqa: S608 - quoted constants
                "ORDER BY insuplc_admdvs, mdtrtarea_admvs, setl_id, row_key", folder.path("policy_flags.parquet")))
            folder.wrote("policy_unchecked.parquet", write_parquet_query(
                con, "SELECT setl_id, insuplc_admdvs, mdtrtarea_admvs, setl_time, not_checked_reason AS reason "
                "FROM policy_results WHERE status = 'not_checked' ORDER BY reason, setl_id, row_key",
                folder.path("policy_unchecked.parquet")))
            write_json(summary, folder.path("policy_summary.json"))
            folder.wrote("policy_summary.json")
            folder.write_manifest(manifest_head("policy-check", run_id_of(inputs, options), options, inputs, {}))
            folder.publish()
    return summary, code
