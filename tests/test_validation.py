"""Contract §1-2: reading, normalisation, exact money, and each row rule with its reason code."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mediclear_cli.errors import InputDataError, InputNotFound
from mediclear_cli.inputs import load_side
from mediclear_cli.validation import validate_paths

from conftest import row, write_rows


def load(path: Path, side: str = "ledger") -> list[dict]:
    con = duckdb.connect()
    load_side(con, side, [str(path)])
    return con.sql(f"SELECT * FROM {side} ORDER BY source_row").to_arrow_table().to_pylist()  # noqa: S608 - test helper, side is "claims" or "ledger"


def reasons(tmp_path: Path, rows: list[dict], side: str = "ledger", schema: pa.Schema | None = None) -> list:
    path = write_rows(tmp_path / "in.parquet", rows, schema)
    return [(r["reject_reason"], r["reject_column"]) for r in load(path, side)]


def test_valid_row_has_no_reason(tmp_path):
    assert reasons(tmp_path, [row("A")]) == [(None, None)]


def test_empty_or_blank_setl_id_is_rejected(tmp_path):
    got = reasons(tmp_path, [row(None), row(""), row(" \u3000 ")])
    assert got == [("missing_setl_id", "setl_id")] * 3


def test_null_column_the_side_needs_is_rejected(tmp_path):
    got = reasons(tmp_path, [row("A", acct=None), row("B", insured=None)])
    assert got == [("missing_value", "acct_pay"), ("missing_value", "insuplc_admdvs")]


def test_region_codes_are_only_required_on_the_ledger(tmp_path):
    assert reasons(tmp_path, [row("A", insured=None, care=None)], side="claims") == [(None, None)]


def test_region_code_must_be_six_digits_after_normalisation(tmp_path):
    got = reasons(tmp_path, [row("A", insured="15000"), row("B", care="11000X"), row("C", insured="１５００００ ")])
    assert got == [("bad_region_code", "insuplc_admdvs"), ("bad_region_code", "mdtrtarea_admvs"), (None, None)]


def test_unreadable_setl_time_is_rejected(tmp_path):
    got = reasons(tmp_path, [row("A", when="2026-13-45 99:00:00"), row("B", when="20261015093000")])
    assert got == [("bad_setl_time", "setl_time"), (None, None)]


def test_medfee_identity_checked_only_when_cash_is_present(tmp_path):
    rows = [row("A", psn_cash_pay=D("20.00")), row("B", psn_cash_pay=D("20.01")), row("C", psn_cash_pay=None)]
    assert reasons(tmp_path, rows) == [(None, None), ("medfee_identity", "medfee_sumamt"), (None, None)]


def test_fund_breakdown_checked_only_when_every_present_column_is_filled(tmp_path):
    rows = [
        row("A", hifp_pay=D("60.00"), maf_pay=D("10.00")),
        row("B", hifp_pay=D("60.00"), maf_pay=D("9.99")),
        row("C", hifp_pay=D("60.00"), maf_pay=None),
    ]
    assert reasons(tmp_path, rows) == [(None, None), ("fund_breakdown", "fund_pay_sumamt"), (None, None)]


def test_first_reason_in_contract_order_wins(tmp_path):
    # both a missing acct_pay and a bad region code: the missing value comes first in §2's order
    assert reasons(tmp_path, [row("A", acct=None, insured="1")]) == [("missing_value", "acct_pay")]


def test_money_from_integers_strings_and_decimals_converts_exactly(tmp_path):
    schema = pa.schema([("setl_id", pa.string()), ("setl_time", pa.string()), ("medfee_sumamt", pa.int64()),
                        ("fund_pay_sumamt", pa.string()), ("acct_pay", pa.decimal128(20, 4)),
                        ("insuplc_admdvs", pa.string()), ("mdtrtarea_admvs", pa.string())])
    rows = [{"setl_id": "A", "setl_time": "2026-10-01 00:00:00", "medfee_sumamt": 100, "fund_pay_sumamt": " 12.30 ",
             "acct_pay": D("1.2500"), "insuplc_admdvs": "150000", "mdtrtarea_admvs": "110000"},
            {"setl_id": "B", "setl_time": "2026-10-01 00:00:00", "medfee_sumamt": 1, "fund_pay_sumamt": "12.345",
             "acct_pay": D("1.0000"), "insuplc_admdvs": "150000", "mdtrtarea_admvs": "110000"},
            {"setl_id": "C", "setl_time": "2026-10-01 00:00:00", "medfee_sumamt": 1, "fund_pay_sumamt": "1",
             "acct_pay": D("1.0050"), "insuplc_admdvs": "150000", "mdtrtarea_admvs": "110000"}]
    path = write_rows(tmp_path / "m.parquet", rows, schema)
    got = load(path)
    assert (got[0]["medfee_sumamt"], got[0]["fund_pay_sumamt"], got[0]["acct_pay"]) == (D("100.00"), D("12.30"), D("1.25"))
    assert (got[1]["reject_reason"], got[1]["reject_column"]) == ("bad_money", "fund_pay_sumamt")
    assert (got[2]["reject_reason"], got[2]["reject_column"]) == ("bad_money", "acct_pay")


def test_float_money_accepted_only_when_it_rounds_to_the_cent_unambiguously(tmp_path):
    schema = pa.schema([("setl_id", pa.string()), ("setl_time", pa.string()), ("medfee_sumamt", pa.float64()),
                        ("fund_pay_sumamt", pa.float64()), ("acct_pay", pa.float64()),
                        ("insuplc_admdvs", pa.string()), ("mdtrtarea_admvs", pa.string())])
    base = {"setl_time": "2026-10-01 00:00:00", "insuplc_admdvs": "150000", "mdtrtarea_admvs": "110000"}
    rows = [base | {"setl_id": "A", "medfee_sumamt": 0.1 + 0.2, "fund_pay_sumamt": 0.1, "acct_pay": 0.2},
            base | {"setl_id": "B", "medfee_sumamt": 12.345, "fund_pay_sumamt": 1.0, "acct_pay": 0.0},
            base | {"setl_id": "C", "medfee_sumamt": float("nan"), "fund_pay_sumamt": 1.0, "acct_pay": 0.0}]
    got = load(write_rows(tmp_path / "f.parquet", rows, schema))
    assert got[0]["medfee_sumamt"] == D("0.30") and got[0]["reject_reason"] is None
    assert got[1]["reject_reason"] == "bad_money"
    assert got[2]["reject_reason"] == "bad_money"


def test_agency_spellings_and_case_are_accepted(tmp_path):
    rows = [{"SETL_ID": "A", "Setl_Time": "2026-10-01 08:00:00", "MEDFEE_SUMAMT": D("10.00"),
             "fund_pay_sumamt": D("5.00"), "acct_pay": D("1.00"), "insu_admdvs": "150000",
             "fix_blng_admdvs": "110000", "cash_payamt": D("4.00"), "othfund_pay": D("5.00"), "my_extra": 7}]
    got = load(write_rows(tmp_path / "a.parquet", rows))[0]
    assert got["insuplc_admdvs"] == "150000" and got["mdtrtarea_admvs"] == "110000"
    assert got["psn_cash_pay"] == D("4.00") and got["oth_pay"] == D("5.00")
    assert got["my_extra"] == 7 and got["reject_reason"] is None


def test_full_width_and_padded_codes_are_normalised(tmp_path):
    got = load(write_rows(tmp_path / "n.parquet", [row("　ＡＢ１２ ", insured="１５２９００", care=" 110000\u3000")]))[0]
    assert (got["setl_id"], got["insuplc_admdvs"], got["mdtrtarea_admvs"]) == ("AB12", "152900", "110000")


def test_codes_keep_leading_zeros_and_unknown_codes_are_carried(tmp_path):
    got = load(write_rows(tmp_path / "c.parquet", [row("A", med_type="9909", insutype="0310")]))[0]
    assert (got["med_type"], got["insutype"], got["reject_reason"]) == ("9909", "0310", None)


def test_missing_required_column_fails_the_input_naming_file_and_column(tmp_path):
    path = write_rows(tmp_path / "x.parquet", [{"setl_id": "A", "setl_time": "2026-10-01 00:00:00"}])
    with pytest.raises(InputDataError) as err:
        load(path, "claims")
    assert str(path) in str(err.value) and "medfee_sumamt" in str(err.value)


def test_unreadable_file_fails_with_its_name(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("setl_id,setl_time\nA,2026\n")
    with pytest.raises(InputDataError) as err:
        load(bad)
    assert str(bad) in str(err.value)


def test_missing_path_and_empty_directory_are_not_found(tmp_path):
    with pytest.raises(InputNotFound):
        load(tmp_path / "nope.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFound):
        load(tmp_path / "empty")


def test_directory_and_glob_inputs_are_unioned_with_source_rows(tmp_path):
    write_rows(tmp_path / "d" / "a.parquet", [row("A"), row("B")])
    write_rows(tmp_path / "d" / "sub" / "b.parquet", [row("C")])
    con = duckdb.connect()
    side = load_side(con, "ledger", [str(tmp_path / "d")])
    assert side.rows == 3 and len(side.files) == 2
    got = con.sql("SELECT setl_id, source_row, source_file FROM ledger ORDER BY setl_id").fetchall()
    assert [(g[0], g[1]) for g in got] == [("A", 1), ("B", 2), ("C", 1)]
    assert got[2][2].endswith("b.parquet")
    con2 = duckdb.connect()
    assert load_side(con2, "ledger", [str(tmp_path / "d" / "**" / "*.parquet")]).rows == 3


def test_validate_lists_each_reject_with_file_row_and_column(tmp_path):
    path = write_rows(tmp_path / "v.parquet", [row("A"), row("B", insured="1"), row(None)])
    rejects, total = validate_paths([str(path)], "ledger")
    assert total == 3
    assert [(r["row"], r["column"], r["reason"]) for r in rejects] == [
        (2, "insuplc_admdvs", "bad_region_code"), (3, "setl_id", "missing_setl_id")]
    assert all(r["file"] == str(path.resolve()) for r in rejects)


def test_timezone_aware_times_are_read_in_china_local_time(tmp_path):
    schema = pa.schema([("setl_id", pa.string()), ("setl_time", pa.timestamp("us", tz="UTC")),
                        ("medfee_sumamt", pa.decimal128(18, 2)), ("fund_pay_sumamt", pa.decimal128(18, 2)),
                        ("acct_pay", pa.decimal128(18, 2))])
    from datetime import datetime, timezone
    rows = [{"setl_id": "A", "setl_time": datetime(2026, 9, 30, 16, 30, tzinfo=timezone.utc),
             "medfee_sumamt": D("1.00"), "fund_pay_sumamt": D("1.00"), "acct_pay": D("0.00")}]
    path = tmp_path / "tz.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    got = load(path, "claims")[0]
    assert got["setl_time"] == datetime(2026, 10, 1, 0, 30)


def test_hostile_column_names_and_paths_are_carried_not_executed(tmp_path):
    """Column names and file paths from inputs reach SQL only quoted (values are always bound)."""
    hostile = 'x"; DROP TABLE ledger; --'
    folder = tmp_path / "it's a \"folder\""
    path = write_rows(folder / "o'brien.parquet", [row("A") | {hostile: "kept", "SELECT": 1}])
    got = load(path)[0]
    assert got[hostile] == "kept" and got["SELECT"] == 1 and got["reject_reason"] is None


@pytest.mark.parametrize("side", ["claims", "ledger"])
def test_staged_and_direct_reads_load_the_same_rows(side, monkeypatch):
    """Files of few row groups are copied into memory before normalising (so every core works on them);
    others are normalised as they are read. Both must give the same table, reasons and row numbers included."""
    from mediclear_cli import inputs

    from conftest import SAMPLE

    tables = {}
    for staged in (True, False):
        monkeypatch.setattr(inputs, "_stage_raw", lambda con, rows, row_groups, staged=staged: staged)
        con = duckdb.connect()
        load_side(con, side, [str(SAMPLE / side)])
        tables[staged] = con.sql(f"SELECT * FROM {side} ORDER BY source_file, source_row").fetchall()  # noqa: S608 - a fixed side name
    assert len(tables[True]) > 1000 and tables[True] == tables[False]


def test_staging_is_chosen_only_for_few_row_groups_that_fit():
    from mediclear_cli.inputs import _stage_raw

    con = duckdb.connect()
    con.execute("SET threads = 2")
    assert not _stage_raw(con, 1000, 10)  # 10 row groups: the direct read already uses both threads
    assert _stage_raw(con, 1000, 1)
    con.execute("SET memory_limit = '2MB'")
    assert not _stage_raw(con, 1000, 1)  # 1000 rows x 1000 B is more than a quarter of 2 MB
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET threads = 1")
    assert not _stage_raw(con, 1000, 1)
