"""Clearing (清算): clearing units, pair totals, net positions, fund split, transfers, prepaid funds.

Only matched ledger rows are cleared. Before a run may write anything, `check_conservation` proves:
Σ net = 0 exactly; Σ receivable = Σ payable = cleared cross-unit clr_amt; pair totals account for every
matched row and its money; the fund split of each unit sums to its net; central and bilateral transfers
both settle exactly the net positions; closing = opening + net. Any failure raises `CheckFailed` (exit 70).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import CheckFailed, InputDataError, UsageError
from mediclear_cli.inputs import money_sql, normalise_text_sql, read_schema, resolve_paths
from mediclear_cli.reconcile import ReconResult

LEVELS = ("province", "pool")
SETTLEMENTS = ("central", "bilateral")
CENTRE = "CENTRE"
ZERO = Decimal("0.00")


@dataclass
class ClearOptions:
    level: str = "province"
    settlement: str = "central"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise UsageError(f"--level {self.level!r}: expected one of {', '.join(LEVELS)}")
        if self.settlement not in SETTLEMENTS:
            raise UsageError(f"--settlement {self.settlement!r}: expected one of {', '.join(SETTLEMENTS)}")


@dataclass
class ClearingResult:
    options: ClearOptions
    pair_totals: pa.Table
    pair_type_totals: pa.Table
    net_positions: pa.Table
    fund_split: pa.Table
    transfers: pa.Table
    transfers_other: pa.Table  # the settlement not chosen, computed to prove both settle the same nets
    held_by_unit: pa.Table
    has_prepaid: bool
    cleared_records: int
    cleared_clr_amt: Decimal
    internal_records: int
    internal_clr_amt: Decimal
    units_without_prepaid: list[str]


def _single_file(path: str, what: str) -> Path:
    files = resolve_paths([path], what)
    if len(files) != 1:
        raise UsageError(f"{path}: the {what} must be one Parquet file, found {len(files)}")
    return files[0]


def _first_bad(con: duckdb.DuckDBPyConnection, table: str, checks: list[tuple[str, str, str]], path: Path) -> None:
    for column, condition, problem in checks:
        rows = con.execute(
            f"SELECT source_row FROM {quote_ident(table)} WHERE {condition} ORDER BY source_row LIMIT 1"  # noqa: S608 - identifier quoted; condition is a fixed check written in this module
        ).fetchall()
        if rows:
            raise InputDataError(f"{path}: row {rows[0][0]}, column {column!r}: {problem}")


def _columns(path: Path, needed: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    names = {n.strip().lower(): n for n in read_schema(path).names}
    missing = [c for c in needed if c not in names]
    if missing:
        raise InputDataError(f"{path}: missing column {missing[0]!r}")
    return {c: names[c] for c in needed + optional if c in names}


def load_regions(con: duckdb.DuckDBPyConnection, path: str | None) -> None:
    """The region register as table `regions` (empty when none): admdvs -> pool_admdvs, prov_admdvs, name."""
    if path is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE regions (admdvs VARCHAR, pool_admdvs VARCHAR, prov_admdvs VARCHAR, "
            "admdvs_name VARCHAR, source_row BIGINT)"
        )
        return
    file = _single_file(path, "region register")
    cols = _columns(file, ("admdvs", "pool_admdvs"), ("prov_admdvs", "admdvs_name"))

    def text(name: str) -> str:
        return normalise_text_sql(quote_ident(cols[name])) if name in cols else "CAST(NULL AS VARCHAR)"

    con.execute(
        f"CREATE OR REPLACE TEMP TABLE regions AS SELECT {text('admdvs')} AS admdvs, "  # noqa: S608 - identifiers quoted, file path quoted by quote_literal
        f"{text('pool_admdvs')} AS pool_admdvs, {text('prov_admdvs')} AS prov_admdvs, "
        f"{text('admdvs_name')} AS admdvs_name, file_row_number + 1 AS source_row "
        f"FROM read_parquet({quote_literal(str(file))}, file_row_number=true)"
    )
    checks = [
        (c, f"{c} IS NOT NULL AND NOT regexp_full_match({c}, '[0-9]{{6}}')", "not a 6-digit region code")
        for c in ("admdvs", "pool_admdvs", "prov_admdvs")
    ]
    checks.insert(0, ("admdvs", "admdvs IS NULL", "empty region code"))
    checks.append(
        ("admdvs", "admdvs IN (SELECT admdvs FROM regions GROUP BY admdvs HAVING count(*) > 1)", "listed twice")
    )
    _first_bad(con, "regions", checks, file)


def load_prepaid(con: duckdb.DuckDBPyConnection, path: str | None) -> None:
    """Prepaid fund balances as table `prepaid` (empty when none): unit, opening_balance, warning_line."""
    if path is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE prepaid (unit VARCHAR, opening_balance {schema.MONEY_SQL}, "
            f"warning_line {schema.MONEY_SQL}, source_row BIGINT)"
        )
        return
    file = _single_file(path, "prepaid fund file")
    cols = _columns(file, ("unit", "opening_balance", "warning_line"), ())
    types = {f.name: f.type for f in read_schema(file)}
    money = {c: money_sql(cols[c], types[cols[c]], file) for c in ("opening_balance", "warning_line")}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE prepaid AS SELECT {normalise_text_sql(quote_ident(cols['unit']))} AS unit, "  # noqa: S608 - identifiers quoted, file path quoted by quote_literal
        f"{money['opening_balance']} AS opening_balance, {money['warning_line']} AS warning_line, "
        f"file_row_number + 1 AS source_row FROM read_parquet({quote_literal(str(file))}, file_row_number=true)"
    )
    _first_bad(
        con,
        "prepaid",
        [
            ("unit", "unit IS NULL OR NOT regexp_full_match(unit, '[0-9]{6}')", "not a 6-digit unit code"),
            ("unit", "unit IN (SELECT unit FROM prepaid GROUP BY unit HAVING count(*) > 1)", "listed twice"),
            ("opening_balance", "opening_balance IS NULL", "not an amount exact to the cent"),
            ("warning_line", "warning_line IS NULL", "not an amount exact to the cent"),
        ],
        file,
    )


def _settled_nets(transfers: pa.Table) -> dict[str, Decimal]:
    nets: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for payer, payee, amount in zip(*(transfers.column(c).to_pylist() for c in ("payer", "payee", "amount")), strict=True):
        nets[payer] -= amount
        nets[payee] += amount
    return {unit: net for unit, net in nets.items() if net != ZERO}


def check_conservation(result: ClearingResult, recon: ReconResult) -> list[str]:
    """Every identity a clearing run must satisfy before it writes; returns the failures."""
    failures: list[str] = []
    matched = recon.per_side["ledger"]["categories"].get("matched", {"records": 0, "clr_amt": ZERO})
    pairs = result.pair_totals.to_pylist()
    if sum(p["records"] for p in pairs) != matched["records"]:
        failures.append("pair totals do not account for every matched ledger row")
    if sum((p["clr_amt"] for p in pairs), ZERO) != matched["clr_amt"]:
        failures.append("pair totals' clr_amt differs from the matched ledger clr_amt")
    for p in pairs:
        split = sum((p[f] for f in schema.CLEARING_FUNDS), ZERO)
        if split != p["clr_amt"]:
            failures.append(f"fund split of {p['insured_unit']}->{p['care_unit']} sums to {split}, not {p['clr_amt']}")
    cross = sum((p["clr_amt"] for p in pairs if not p["internal"]), ZERO)
    units = result.net_positions.to_pylist()
    receivable = sum((u["receivable"] for u in units), ZERO)
    payable = sum((u["payable"] for u in units), ZERO)
    total_net = sum((u["net"] for u in units), ZERO)
    if total_net != ZERO:
        failures.append(f"Σ net = {total_net}, not 0")
    if not receivable == payable == cross:
        failures.append(f"Σ receivable {receivable}, Σ payable {payable}, cross-unit clr_amt {cross} differ")
    nets = {u["unit"]: u["net"] for u in units if u["net"] != ZERO}
    for name, transfers in (("chosen", result.transfers), ("other", result.transfers_other)):
        settled = _settled_nets(transfers)
        if settled != nets:
            failures.append(f"the {name} settlement's transfers do not settle the net positions")
    split_nets: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in result.fund_split.to_pylist():
        split_nets[row["unit"]] += row["net"]
    if {u: n for u, n in split_nets.items() if n != ZERO} != nets:
        failures.append("the fund split does not sum to the net positions")
    for u in units:
        if u.get("opening_balance") is not None and u["closing_balance"] != u["opening_balance"] + u["net"]:
            failures.append(f"closing balance of {u['unit']} is not opening + net")
    return failures


def clear(
    con: duckdb.DuckDBPyConnection,
    recon: ReconResult,
    options: ClearOptions,
    regions: str | None = None,
    prepaid: str | None = None,
) -> ClearingResult:
    """Net the matched rows in `recon_rows` between clearing units and prove conservation."""
    load_regions(con, regions)
    load_prepaid(con, prepaid)
    engine.run(con, "clearing/cleared_groups", level=options.level)
    engine.run(con, "clearing/pair_totals")
    engine.run(con, "clearing/net_positions")
    central = engine.query(con, "clearing/transfers_central").to_arrow_table()
    bilateral = engine.query(con, "clearing/transfers_bilateral").to_arrow_table()
    chosen, other = (central, bilateral) if options.settlement == "central" else (bilateral, central)
    net_positions = con.sql("SELECT * FROM net_positions ORDER BY unit").to_arrow_table()
    if prepaid is None:
        net_positions = net_positions.select(["unit", "receivable", "payable", "net", "receivable_records",
                                              "payable_records", "internal_records", "internal_clr_amt"])
    pair_totals = con.sql("SELECT * FROM pair_totals ORDER BY insured_unit, care_unit").to_arrow_table()
    internal = [p for p in pair_totals.to_pylist() if p["internal"]]
    without = [] if prepaid is None else [
        r[0] for r in con.execute("SELECT unit FROM net_positions WHERE opening_balance IS NULL ORDER BY unit").fetchall()
    ]
    result = ClearingResult(
        options=options,
        pair_totals=pair_totals,
        pair_type_totals=engine.query(con, "clearing/pair_type_totals").to_arrow_table(),
        net_positions=net_positions,
        fund_split=engine.query(con, "clearing/fund_split").to_arrow_table(),
        transfers=chosen,
        transfers_other=other,
        held_by_unit=engine.query(con, "clearing/held_by_unit", level=options.level).to_arrow_table(),
        has_prepaid=prepaid is not None,
        cleared_records=sum(p["records"] for p in pair_totals.to_pylist()),
        cleared_clr_amt=sum((p["clr_amt"] for p in pair_totals.to_pylist()), ZERO),
        internal_records=sum(p["records"] for p in internal),
        internal_clr_amt=sum((p["clr_amt"] for p in internal), ZERO),
        units_without_prepaid=without,
    )
    failures = check_conservation(result, recon)
    if failures:
        raise CheckFailed("clearing conservation does not hold: " + "; ".join(failures))
    return result
