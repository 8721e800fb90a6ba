"""Schema drift matrix (issue 7, part 2): each way a real extract's columns drift, with its written expected
outcome — the same table is in docs/schema-drift.md (a test keeps the two in step)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mediclear_cli.errors import InputDataError
from mediclear_cli.inputs import load_side

from conftest import REPO

BASE = {
    "setl_id": pa.array(["A"]),
    "setl_time": pa.array(["2026-10-15 09:30:00"]),
    "medfee_sumamt": pa.array([D("100.00")], pa.decimal128(18, 2)),
    "fund_pay_sumamt": pa.array([D("70.00")], pa.decimal128(18, 2)),
    "acct_pay": pa.array([D("10.00")], pa.decimal128(18, 2)),
    "insuplc_admdvs": pa.array(["150000"]),
    "mdtrtarea_admvs": pa.array(["110000"]),
}


def table(**changes: pa.Array | None) -> pa.Table:
    columns = dict(BASE)
    for name, array in changes.items():
        if array is None:
            columns.pop(name, None)
        else:
            columns[name] = array
    return pa.table(columns)


# id, what drifts, the table, expected outcome: "accepted: col=value", "rejected: reason (column)", "fails: 65"
MATRIX = [
    ("agency-spellings", "insu_admdvs / fix_blng_admdvs / cash_payamt / othfund_pay",
     table(insuplc_admdvs=None, mdtrtarea_admvs=None, insu_admdvs=pa.array(["150000"]),
           fix_blng_admdvs=pa.array(["110000"]), cash_payamt=pa.array([D("20.00")], pa.decimal128(18, 2))),
     "accepted: psn_cash_pay=20.00"),
    ("upper-case-names", "column names in upper case",
     table().rename_columns([n.upper() for n in BASE]), "accepted: medfee_sumamt=100.00"),
    ("reordered", "columns in another order", table().select(list(reversed(list(BASE)))),
     "accepted: acct_pay=10.00"),
    ("extra-column", "a column outside the contract", table(hosp_memo=pa.array(["note"])), "accepted: hosp_memo=note"),
    ("missing-required", "the ledger lacks mdtrtarea_admvs", table(mdtrtarea_admvs=None), "fails: 65"),
    ("missing-optional", "no psn_cash_pay column", table(), "accepted: psn_cash_pay=None"),
    ("both-spellings", "insuplc_admdvs and insu_admdvs both present",
     table(insu_admdvs=pa.array(["520000"])), "accepted: insuplc_admdvs=150000"),
    ("case-twins", "two columns differing only in case", table(SETL_ID=pa.array(["B"])), "fails: 65"),
    ("integer-money", "money as int64 yuan", table(acct_pay=pa.array([10], pa.int64())), "accepted: acct_pay=10.00"),
    ("string-money", "money as text", table(acct_pay=pa.array([" 10.00 "])), "accepted: acct_pay=10.00"),
    ("string-money-3dp", "money as text with a third decimal", table(acct_pay=pa.array(["10.005"])),
     "rejected: bad_money (acct_pay)"),
    ("string-not-money", "text that is no number", table(acct_pay=pa.array(["ten"])), "rejected: bad_money (acct_pay)"),
    ("decimal-scale-4-exact", "DECIMAL(20,4) with zero extra digits",
     table(acct_pay=pa.array([D("10.0000")], pa.decimal128(20, 4))), "accepted: acct_pay=10.00"),
    ("decimal-scale-4-inexact", "DECIMAL(20,4) with a sub-cent part",
     table(acct_pay=pa.array([D("10.0050")], pa.decimal128(20, 4))), "rejected: bad_money (acct_pay)"),
    ("decimal-scale-0", "DECIMAL(12,0)", table(acct_pay=pa.array([D("10")], pa.decimal128(12, 0))),
     "accepted: acct_pay=10.00"),
    ("float-exact", "float64 that sits on a cent", table(acct_pay=pa.array([0.1 + 9.9], pa.float64())),
     "accepted: acct_pay=10.00"),
    ("float-ambiguous", "float64 between cents", table(acct_pay=pa.array([10.005], pa.float64())),
     "rejected: bad_money (acct_pay)"),
    ("bool-money", "a boolean where money belongs", table(acct_pay=pa.array([True])), "fails: 65"),
    ("tz-aware-time", "timestamp with a zone (UTC)",
     table(setl_time=pa.array([datetime(2026, 10, 15, 1, 30, tzinfo=timezone.utc)], pa.timestamp("us", "UTC"))),
     "accepted: setl_time=2026-10-15 09:30:00"),
    ("date-time", "setl_time as a date", table(setl_time=pa.array([date(2026, 10, 15)])),
     "accepted: setl_time=2026-10-15 00:00:00"),
    ("compact-text-time", "setl_time as yyyyMMddHHmmss text", table(setl_time=pa.array(["20261015093000"])),
     "accepted: setl_time=2026-10-15 09:30:00"),
    ("bad-time", "setl_time text that is no time", table(setl_time=pa.array(["15/10/2026"])),
     "rejected: bad_setl_time (setl_time)"),
    ("dictionary-strings", "dictionary-encoded codes",
     table(insuplc_admdvs=pa.array(["150000"]).dictionary_encode()), "accepted: insuplc_admdvs=150000"),
    ("large-strings", "large_string ids", table(setl_id=pa.array(["A"], pa.large_string())), "accepted: setl_id=A"),
    ("integer-region", "region code as an integer", table(insuplc_admdvs=pa.array([150000], pa.int64())),
     "accepted: insuplc_admdvs=150000"),
    ("null-typed-column", "a required column holding only nulls (Arrow type null)",
     table(acct_pay=pa.nulls(1)), "rejected: missing_value (acct_pay)"),
]


def outcome(tmp: Path, data: pa.Table) -> str:
    path = tmp / "in.parquet"
    pq.write_table(data, path)
    con = duckdb.connect()
    try:
        load_side(con, "ledger", [str(path)])
    except InputDataError as exc:
        assert str(path) in str(exc)
        return "fails: 65"
    got = con.sql("SELECT * FROM ledger").to_arrow_table().to_pylist()[0]
    if got["reject_reason"]:
        return f"rejected: {got['reject_reason']} ({got['reject_column']})"
    return got


@pytest.mark.parametrize(("case", "what", "data", "expected"), MATRIX, ids=[m[0] for m in MATRIX])
def test_schema_drift_cell(tmp_path, case, what, data, expected):
    got = outcome(tmp_path, data)
    if expected.startswith("accepted: "):
        column, value = expected[len("accepted: "):].split("=", 1)
        assert isinstance(got, dict), got
        assert str(got[column]) == value, (case, got[column])
    else:
        assert got == expected, case


def test_docs_list_every_cell_with_its_outcome():
    docs = (REPO / "docs" / "schema-drift.md").read_text(encoding="utf-8")
    for case, what, _, expected in MATRIX:
        assert f"| {case} | {what} | {expected} |" in docs, case
