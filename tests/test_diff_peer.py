"""The auditors' diff against a peer (issue 19): each defect found by running datacompy's own cases, then a
set of cases run through both `mediclear diff` and datacompy with the answers they agree on, and the
deliberate differences listed with their reason."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mediclear_cli.diff import DiffOptions
from mediclear_cli.jobs import run_diff

from conftest import cli


def run(tmp: Path, left: pa.Table, right: pa.Table, keys=("id",), out: Path | None = None, **kw):
    pq.write_table(left, tmp / "left.parquet")
    pq.write_table(right, tmp / "right.parquet")
    return run_diff([str(tmp / "left.parquet")], [str(tmp / "right.parquet")], DiffOptions(list(keys), **kw), out)


# -- 1. keys of different types ------------------------------------------------------------------------------------

def test_a_csv_text_key_meets_a_parquet_integer_and_date_key_by_value(tmp_path):
    (tmp_path / "l.csv").write_text("id,day,amount\n1,2026-10-01,10.00\n2,2026-10-02,20.00\n", encoding="utf-8")
    right = pa.table({"id": pa.array([1, 2], pa.int64()), "day": pa.array([date(2026, 10, 1), date(2026, 10, 2)]),
                      "amount": [10.0, 20.5]})
    pq.write_table(right, tmp_path / "r.parquet")
    result = cli(["diff", tmp_path / "l.csv", tmp_path / "r.parquet", "--key", "id", "--encoding", "utf-8",
                  "--json"], 1)
    summary = json.loads(result.stdout)
    assert summary["rows"]["changed"] == 1 and summary["rows"]["left_only"] == 0
    by_date = cli(["diff", tmp_path / "l.csv", tmp_path / "r.parquet", "--key", "day", "--encoding", "utf-8",
                   "--json", "--columns", "amount"], 1)
    assert json.loads(by_date.stdout)["rows"]["changed"] == 1  # 2026-10-01 text meets the DATE 2026-10-01
    small = pa.table({"id": pa.array([1, 2], pa.int32()), "v": ["a", "b"]})
    big = pa.table({"id": pa.array([1, 2], pa.int64()), "v": ["a", "b"]})
    summary, code = run(tmp_path, small, big)
    assert summary["identical"] and int(code) == 0


# -- 2. numbers beyond DECIMAL(38,10) -----------------------------------------------------------------------------

def test_infinities_and_huge_numbers_are_compared_never_as_null(tmp_path):
    left = pa.table({"id": ["a", "b", "c", "d"], "x": [math.inf, 1e30, 1e300, 5.0]})
    right = pa.table({"id": ["a", "b", "c", "d"], "x": [-math.inf, 2e30, None, 5.0]})
    summary, code = run(tmp_path, left, right)
    assert summary["columns"]["x"]["rows_differ"] == 3 and int(code) == 1
    same = pa.table({"id": ["a"], "x": [math.inf]})
    assert run(tmp_path, same, same)[0]["identical"]
    wide = pa.decimal128(38, 0)
    summary, _ = run(tmp_path, pa.table({"id": ["a"], "x": pa.array([D("1" * 30)], wide)}),
                     pa.table({"id": ["a"], "x": pa.array([D("1" * 29 + "2")], wide)}))
    assert summary["columns"]["x"]["rows_differ"] == 1
    assert summary["totals"]["left"]["not_summed_exactly"] == ["x"]


# -- 3. the columns themselves ------------------------------------------------------------------------------------------

def test_a_column_on_one_side_or_differing_in_case_is_a_difference(tmp_path):
    base = {"id": ["a"], "v": [1]}
    summary, code = run(tmp_path, pa.table(base | {"extra": [1]}), pa.table(base))
    assert summary["only_left_columns"] == ["extra"] and not summary["identical"] and int(code) == 1
    assert run(tmp_path, pa.table(base | {"extra": [1]}), pa.table(base), ignore_extra_columns=True)[0]["identical"]
    summary, _ = run(tmp_path, pa.table(base | {"b": [1]}), pa.table(base | {"B": [2]}))
    assert summary["columns_differing_only_in_case"] == [["b", "B"]] and not summary["identical"]
    paired, _ = run(tmp_path, pa.table(base | {"b": [1]}), pa.table(base | {"B": [2]}), match_case_insensitive=True)
    assert paired["columns"]["b"]["rows_differ"] == 1


def test_a_name_given_to_map_columns_or_tolerance_that_names_no_column_is_a_usage_error(tmp_path):
    pq.write_table(pa.table({"id": ["a"], "amount": [1.0]}), tmp_path / "l.parquet")
    pq.write_table(pa.table({"id": ["a"], "amount": [1.0]}), tmp_path / "r.parquet")
    args = ["diff", tmp_path / "l.parquet", tmp_path / "r.parquet", "--key", "id"]
    cli([*args, "--map", "amnt=amount"], 2)
    cli([*args, "--columns", "amnt"], 2)
    cli([*args, "--tolerance", "amnt=0.1"], 2)
    cli(args, 0)


# -- 4. names the diff uses itself ----------------------------------------------------------------------------------

def test_input_columns_named_like_internal_ones_are_compared(tmp_path):
    left = pa.table({"id": ["a", "b"], "_row": [1, 2], "_file": ["x", "y"], "file_row_number": [7, 8]})
    right = pa.table({"id": ["a", "b"], "_row": [1, 3], "_file": ["x", "y"], "file_row_number": [7, 8]})
    summary, code = run(tmp_path, left, right)
    assert summary["columns"]["_row"]["rows_differ"] == 1 and int(code) == 1
    assert set(summary["compared_columns"]) == {"_row", "_file", "file_row_number"}
    clash = pa.table({"id": ["a"], "__mc_row": [1]})
    with pytest.raises(Exception, match="__mc_"):
        run(tmp_path, clash, clash)


# -- 5. blanks ---------------------------------------------------------------------------------------------------------

def test_ignore_spaces_trims_keys_and_every_blank(tmp_path):
    left = pa.table({"id": ["A1 ", "B1"], "v": ["x\t", "y\n"]})
    right = pa.table({"id": ["A1", "B1"], "v": ["x", " y"]})
    summary, _ = run(tmp_path, left, right, ignore_spaces=True)
    assert summary["identical"], summary["rows"]
    assert not run(tmp_path, left, right)[0]["identical"]


# -- 6. time zones -------------------------------------------------------------------------------------------------------

def test_timestamps_compare_by_value_and_read_the_same_on_every_machine(tmp_path, monkeypatch):
    from datetime import datetime, timezone

    day = pa.table({"id": ["a"], "t": pa.array([date(2026, 10, 1)])})
    midnight = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1)], pa.timestamp("us"))})
    assert run(tmp_path, day, midnight)[0]["identical"]
    zoned = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1, 2, tzinfo=timezone.utc)],
                                                 pa.timestamp("us", tz="UTC"))})
    naive = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1, 10)], pa.timestamp("us"))})
    assert not run(tmp_path, naive, zoned)[0]["identical"]
    assert run(tmp_path, naive, zoned, assume_tz="Asia/Shanghai")[0]["identical"]
    other = pa.table({"id": ["a"], "t": pa.array([datetime(2026, 10, 1, 3, tzinfo=timezone.utc)],
                                                 pa.timestamp("us", tz="UTC"))})
    texts = []
    for tz in ("UTC", "Asia/Shanghai"):
        monkeypatch.setenv("TZ", tz)
        out = tmp_path / f"out-{tz.replace('/', '-')}"
        run(tmp_path, zoned, other, out=out)
        texts.append(pq.read_table(out / "diff_cells.parquet").to_pylist())
    assert texts[0] == texts[1]


# -- relative tolerance, and the rows found on one side only -----------------------------------------------------------

def test_relative_tolerance_combines_with_absolute_as_datacompy_does(tmp_path):
    left = pa.table({"id": ["a", "b"], "x": [100.0, 100.0]})
    right = pa.table({"id": ["a", "b"], "x": [100.05, 100.2]})
    abs_, per_col, rel, per_rel = DiffOptions.parse_tolerances(["0.1%"])
    summary, _ = run(tmp_path, left, right, tolerance=abs_, relative=rel)  # allowed: 0.1% of 100.05 / 100.2
    assert summary["columns"]["x"]["rows_differ"] == 1
    abs_, per_col, rel, per_rel = DiffOptions.parse_tolerances(["x=0.1", "x=0.1%"])
    assert run(tmp_path, left, right, column_tolerance=per_col, column_relative=per_rel)[0]["identical"]


def test_rows_on_one_side_only_are_written_in_full(tmp_path):
    left = pa.table({"id": ["a", "b"], "v": ["x", "only left"], "certno": ["11010519491231002X", "1"]})
    right = pa.table({"id": ["a", "c"], "v": ["x", "only right"], "certno": ["11010519491231002X", "2"]})
    run(tmp_path, left, right, out=tmp_path / "out")
    only_left = pq.read_table(tmp_path / "out" / "diff_left_only.parquet").to_pylist()
    only_right = pq.read_table(tmp_path / "out" / "diff_right_only.parquet").to_pylist()
    assert [(r["id"], r["v"], r["source_row"]) for r in only_left] == [("b", "only left", 2)]
    assert [(r["id"], r["v"]) for r in only_right] == [("c", "only right")]
    assert "11010519491231002X" not in repr(pq.read_table(tmp_path / "out" / "diff_cells.parquet").to_pylist())


# -- agreement with datacompy on cases of our own --------------------------------------------------------------------

# Deliberate differences, not tested for agreement:
# - duplicate keys: datacompy pairs them in order of appearance; mediclear never pairs them silently and reports
#   every row of such a key as duplicate_key (an auditor must explain them, not see them matched by chance).
# - numbers: datacompy compares floats; mediclear compares exact decimals, so 0.1 + 0.2 against 0.3 as text
#   from a CSV is equal here, and float noise never hides or invents a cent.
# - NaN against NaN: both treat them as equal; inf against -inf: both as different.
CASES = {
    "amounts and codes": ({"id": ["a", "b", "c", "d"], "x": [1.0, 2.0, 3.0, 4.0], "s": ["p", "q", "r", "s"]},
                          {"id": ["a", "b", "c", "e"], "x": [1.0, 2.5, 3.0, 4.0], "s": ["p", "q", "R", "s"]}, {}),
    "absolute tolerance": ({"id": ["a", "b"], "x": [1.0, 2.0]}, {"id": ["a", "b"], "x": [1.05, 2.2]},
                           {"abs_tol": 0.1}),
    "relative tolerance": ({"id": ["a", "b"], "x": [100.0, 100.0]}, {"id": ["a", "b"], "x": [100.05, 101.0]},
                           {"rel_tol": 0.001}),
    "nulls": ({"id": ["a", "b", "c"], "x": [None, 1.0, None]}, {"id": ["a", "b", "c"], "x": [None, None, 2.0]}, {}),
    "infinities": ({"id": ["a", "b"], "x": [math.inf, math.inf]}, {"id": ["a", "b"], "x": [math.inf, -math.inf]}, {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_agrees_with_datacompy(tmp_path, case):
    datacompy = pytest.importorskip("datacompy")
    pd = pytest.importorskip("pandas")
    left, right, tolerances = CASES[case]
    abs_ = D(str(tolerances.get("abs_tol", 0)))
    rel = D(str(tolerances.get("rel_tol", 0)))
    summary, _ = run(tmp_path, pa.table(left), pa.table(right), tolerance=abs_, relative=rel)
    compare = datacompy.PandasCompare(pd.DataFrame(left), pd.DataFrame(right), join_columns="id", **tolerances)
    assert summary["rows"]["left_only"] == len(compare.df1_unq_rows)
    assert summary["rows"]["right_only"] == len(compare.df2_unq_rows)
    for column in [c for c in left if c != "id"]:
        unequal = int((~compare.intersect_rows[f"{column}_match"]).sum())
        assert summary["columns"][column]["rows_differ"] == unequal, column
    assert summary["identical"] == compare.matches()
