"""Risk screening (基金监管): settlements that look like abuse or error, found on the settlement records alone.

Each rule is one SQL file (`sql/screen/*.sql`, its header says what it looks for, why, and its parameters)
run over `screen_rows`: the valid rows of one side (the agency ledger by default) in the period window,
with personal data already masked. A rule whose columns are absent is skipped with a notice, never run on
half its evidence. Flags carry the settlement ids involved, the person (psn_no; the ID number masked), the
evidence in words and the money at stake (DECIMAL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from mediclear_cli import engine
from mediclear_cli.engine import quote_ident
from mediclear_cli.errors import UsageError
from mediclear_cli.schema import MONEY_ARROW


@dataclass(frozen=True)
class Rule:
    rule_id: str
    needs: tuple[str, ...]  # columns the rule cannot work without
    text: str  # one line for people


RULES = (
    Rule("duplicate_settlement", ("psn_no", "fixmedins_code"),
         "same person, hospital and amounts settled twice within a window (重复结算)"),
    Rule("overlapping_stays", ("psn_no", "fixmedins_code", "begndate", "enddate"),
         "one person in two hospitals at the same time (冒名顶替)"),
    Rule("readmission", ("psn_no", "fixmedins_code", "begndate", "enddate"),
         "re-admitted to the same hospital within N days of discharge (分解住院)"),
    Rule("two_provinces_same_day", ("psn_no",), "outpatient settlements in two provinces on one day"),
    Rule("reversal_without_original", ("psn_no", "mdtrt_id"),
         "a reversal with no original settlement, or reversing more than the original"),
    Rule("cost_outlier", ("fixmedins_code", "med_type"),
         "cost far above the hospital's usual for the medical type (robust, on log cost)"),
)
INPATIENT_TYPES = ("21", "22", "23", "24", "52")
OUTPATIENT_TYPES = ("11", "12", "13", "14", "51")
FLAG_SCHEMA = pa.schema([
    ("rule_id", pa.string()), ("severity", pa.string()), ("setl_ids", pa.list_(pa.string())),
    ("psn_no", pa.string()), ("certno", pa.string()), ("insured_unit", pa.string()), ("evidence", pa.string()),
    ("money_at_stake", MONEY_ARROW),
])


@dataclass
class ScreenOptions:
    readmit_days: int = 15
    duplicate_window_hours: float = 24.0
    outlier_k: float = 5.0
    outlier_min_group: int = 50

    def __post_init__(self) -> None:
        if self.readmit_days < 0 or self.duplicate_window_hours < 0 or self.outlier_k <= 0 or self.outlier_min_group < 3:
            raise UsageError("screen thresholds: days and hours must be >= 0, k > 0, the minimum group >= 3")

    def params(self, rule_id: str) -> dict[str, Any]:
        by_rule: dict[str, dict[str, Any]] = {
            "duplicate_settlement": {"window_seconds": self.duplicate_window_hours * 3600},
            "readmission": {"days": self.readmit_days},
            "cost_outlier": {"k": self.outlier_k, "min_group": self.outlier_min_group},
        }
        return by_rule.get(rule_id, {})


@dataclass
class ScreenResult:
    flags: pa.Table
    skipped: dict[str, str] = field(default_factory=dict)
    rows_screened: int = 0
    side: str = "ledger"

    def summary(self, options: ScreenOptions) -> dict[str, Any]:
        flags = self.flags.to_pylist()
        per_rule: dict[str, Any] = {}
        for rule in RULES:
            mine = [f for f in flags if f["rule_id"] == rule.rule_id]
            per_rule[rule.rule_id] = {
                "what": rule.text,
                "flags": len(mine),
                "settlements": len({s for f in mine for s in f["setl_ids"]}),
                "money_at_stake": sum((f["money_at_stake"] for f in mine), Decimal("0.00")),
                "skipped": self.skipped.get(rule.rule_id),
            }
        per_unit: dict[str, dict[str, int]] = {}
        for f in flags:
            unit = per_unit.setdefault(f["insured_unit"] or "unknown", {})
            unit[f["rule_id"]] = unit.get(f["rule_id"], 0) + 1
        return {"side": self.side, "rows_screened": self.rows_screened, "flags": len(flags),
                "thresholds": {"readmit_days": options.readmit_days,
                               "duplicate_window_hours": options.duplicate_window_hours,
                               "outlier_k": options.outlier_k, "outlier_min_group": options.outlier_min_group},
                "rules": per_rule, "by_insured_unit": dict(sorted(per_unit.items()))}


def _column(columns: dict[str, str], name: str, cast: str) -> str:
    """The source column as `name`, or NULL when the records lack it (matched case-insensitively)."""
    src = columns.get(name)
    return f"TRY_CAST({quote_ident(src)} AS {cast}) AS {name}" if src else f"CAST(NULL AS {cast}) AS {name}"


def prepare_rows(con: duckdb.DuckDBPyConnection, table: str, where: str, params: dict[str, Any]) -> tuple[int, set[str]]:
    """Create the table `screen_rows` over `table`'s valid rows; returns its row count and the columns present."""
    names = [r[0] for r in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]  # noqa: S608 - quoted
    columns = {n.lower(): n for n in names}
    present = {n for n in ("psn_no", "fixmedins_code", "mdtrt_id", "med_type", "begndate", "enddate")
               if columns.get(n) and con.execute(
                   f"SELECT count({quote_ident(columns[n])}) FROM {quote_ident(table)}").fetchall()[0][0]}  # noqa: S608
    inpatient = ", ".join(f"'{t}'" for t in INPATIENT_TYPES)
    outpatient = ", ".join(f"'{t}'" for t in OUTPATIENT_TYPES)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE screen_rows AS SELECT setl_id, setl_time, psn_no, mask_id(certno) AS certno, "  # noqa: S608 - identifiers quoted, type lists are constants
        "fixmedins_code, mdtrt_id, med_type, clr_type, insuplc_admdvs, mdtrtarea_admvs, medfee_sumamt, "
        "fund_pay_sumamt, acct_pay, CAST(fund_pay_sumamt + acct_pay AS DECIMAL(18,2)) AS clr_amt, "
        "coalesce(refd_setl_flag, '0') AS refd, "
        f"(med_type IN ({inpatient}) OR clr_type = '21') AS inpatient, "
        f"(med_type IN ({outpatient}) OR clr_type = '11') AS outpatient, "
        f"{_column(columns, 'begndate', 'DATE')}, {_column(columns, 'enddate', 'DATE')} "
        f"FROM {quote_ident(table)} WHERE {where}",
        params,
    )
    count = con.execute("SELECT count(*) FROM screen_rows").fetchall()[0][0]
    return int(count), present


def run_rules(con: duckdb.DuckDBPyConnection, options: ScreenOptions, present: set[str]) -> tuple[pa.Table, dict[str, str]]:
    tables = []
    skipped: dict[str, str] = {}
    for rule in RULES:
        missing = [c for c in rule.needs if c not in present]
        if missing:
            skipped[rule.rule_id] = f"skipped: the records have no {', '.join(missing)}"
            continue
        found = engine.query(con, f"screen/{rule.rule_id}", **options.params(rule.rule_id)).to_arrow_table()
        tables.append(found)
    if not tables:
        return FLAG_SCHEMA.empty_table(), skipped
    con.register("screen_found", pa.concat_tables(tables, promote_options="permissive"))
    flags = con.sql(
        "SELECT rule_id, severity, list_sort(setl_ids) AS setl_ids, psn_no, certno, "
        "substr(insuplc_admdvs, 1, 2) || '0000' AS insured_unit, evidence, "
        "CAST(money_at_stake AS DECIMAL(18,2)) AS money_at_stake FROM screen_found "
        "ORDER BY rule_id, list_sort(setl_ids)"
    ).to_arrow_table().cast(FLAG_SCHEMA)
    con.unregister("screen_found")
    return flags, skipped


def screen_table(con: duckdb.DuckDBPyConnection, table: str, where: str, params: dict[str, Any],
                 options: ScreenOptions, side: str) -> ScreenResult:
    rows, present = prepare_rows(con, table, where, params)
    flags, skipped = run_rules(con, options, present)
    return ScreenResult(flags, skipped, rows, side)
