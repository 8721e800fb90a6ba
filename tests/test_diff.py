"""The auditors' diff (issue 5): each row status by hand, composite keys, mapped names, per-column
tolerance, duplicates explained, CSV in GB18030; agreement with datacompy; diff(A, A) is empty and
diff(A, B) mirrors diff(B, A); diff-runs on a corrected month."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediclear_cli.diff import DiffOptions
from mediclear_cli.jobs import JobSpec, run_clear, run_diff, run_diff_runs

from conftest import SAMPLE, cli, write_rows

LEFT = [
    {"id": "A", "amount": D("1.00"), "name": "x"},
    {"id": "B", "amount": D("2.00"), "name": "y"},
    {"id": "C", "amount": D("3.00"), "name": "z"},
    {"id": "C", "amount": D("3.00"), "name": "z"},
    {"id": "E", "amount": D("5.00"), "name": "e"},
]
RIGHT = [
    {"id": "A", "amount": D("1.00"), "name": "x"},
    {"id": "B", "amount": D("2.40"), "name": "Y"},
    {"id": "C", "amount": D("3.00"), "name": "z"},
    {"id": "D", "amount": D("4.00"), "name": "d"},
]


def run(tmp: Path, left: list[dict], right: list[dict], keys=("id",), out: Path | None = None, **kw):
    lp = write_rows(tmp / "left.parquet", left)
    rp = write_rows(tmp / "right.parquet", right)
    return run_diff([str(lp)], [str(rp)], DiffOptions(list(keys), **kw), out)


def test_each_row_status_by_hand(tmp_path):
    summary, code = run(tmp_path, LEFT, RIGHT, out=tmp_path / "out")
    assert int(code) == 1
    assert summary["rows"] == {"duplicate_key": 3, "left_only": 1, "right_only": 1, "changed": 1, "equal": 1}
    rows = pq.read_table(tmp_path / "out" / "diff_rows.parquet").to_pylist()
    assert [(r["status"], r["id"], r["changed_columns"]) for r in rows if r["status"] == "changed"] == [
        ("changed", "B", ["amount", "name"])]
    dups = [r for r in rows if r["status"] == "duplicate_key"]
    assert {(r["side"], r["left_count"], r["right_count"]) for r in dups} == {("left", 2, 1), ("right", 2, 1)}
    cells = pq.read_table(tmp_path / "out" / "diff_cells.parquet").to_pylist()
    amount = next(c for c in cells if c["column_name"] == "amount")
    assert (amount["left_value"], amount["right_value"], amount["difference"]) == ("2.00", "2.40", D("0.4"))
    assert summary["columns"]["amount"]["max_abs_difference"] == D("0.4")
    for name in ("diff_summary.json", "diff_report.html", "diff_report.xlsx", "manifest.json"):
        assert (tmp_path / "out" / name).is_file()
    assert "<script" not in (tmp_path / "out" / "diff_report.html").read_text(encoding="utf-8")
    from openpyxl import load_workbook

    book = load_workbook(tmp_path / "out" / "diff_report.xlsx", read_only=True)
    assert book.sheetnames == ["summary", "columns", "samples"]
    assert ["amount", "number", 1] == [c for c in next(
        r for r in book["columns"].iter_rows(values_only=True) if r[0] == "amount")[:3]]


def test_per_column_tolerance_and_case(tmp_path):
    summary, _ = run(tmp_path, LEFT, RIGHT, column_tolerance={"amount": D("0.5")}, ignore_case=True)
    assert summary["rows"]["changed"] == 0 and summary["rows"]["equal"] == 2


def test_composite_keys_and_mapped_names(tmp_path):
    left = [{"a": "1", "b": "x", "v": 1}, {"a": "1", "b": "y", "v": 2}]
    right = [{"k1": "1", "b": "x", "value": 1}, {"k1": "1", "b": "y", "value": 3}]
    summary, _ = run(tmp_path, left, right, keys=("a", "b"), mapping={"a": "k1", "v": "value"})
    assert summary["rows"] == {"duplicate_key": 0, "left_only": 0, "right_only": 0, "changed": 1, "equal": 1}
    assert summary["columns"]["v"]["sum_difference"] == 1


def test_gb18030_csv_inputs(tmp_path):
    (tmp_path / "l.csv").write_bytes("id,name,amount\n1,张三,10.00\n2,李四,20.00\n".encode("gb18030"))
    (tmp_path / "r.csv").write_bytes("id,name,amount\n1,张三,10.00\n2,李四,20.50\n".encode("gb18030"))
    out = tmp_path / "out"
    result = cli(["diff", tmp_path / "l.csv", tmp_path / "r.csv", "--key", "id", "--encoding", "gb18030",
                  "--out", out, "--json"], 1)
    summary = json.loads(result.stdout)
    assert summary["rows"]["changed"] == 1 and summary["columns"]["amount"]["kind"] == "number"
    assert summary["columns"]["name"]["rows_differ"] == 0
    detected = cli(["diff", tmp_path / "l.csv", tmp_path / "r.csv", "--key", "id", "--json"], 1)  # GB18030 detected
    assert json.loads(detected.stdout)["rows"]["changed"] == 1


def test_usage_and_input_errors(tmp_path):
    lp = write_rows(tmp_path / "l.parquet", LEFT)
    cli(["diff", lp, lp, "--key", "nope"], 2)
    cli(["diff", lp, tmp_path / "missing.parquet", "--key", "id"], 66)
    cli(["diff", lp, lp, "--key", "id"], 1)  # duplicates of C on both sides are differences to explain


def test_agrees_with_datacompy_on_small_inputs(tmp_path):
    datacompy = pytest.importorskip("datacompy")
    pd = pytest.importorskip("pandas")
    import random

    rng = random.Random(3)
    left = [{"id": f"K{i}", "amount": D(rng.randint(0, 500)) / 100, "code": rng.choice("abc")} for i in range(60)]
    right = [dict(r) for r in left[5:]] + [{"id": f"N{i}", "amount": D(1), "code": "a"} for i in range(4)]
    for r in right[:20]:
        if rng.random() < 0.5:
            r["amount"] += D("0.01")
        if rng.random() < 0.3:
            r["code"] = "z"
    summary, _ = run(tmp_path, left, right)
    compare = datacompy.PandasCompare(pd.DataFrame(left).astype({"amount": float}),
                                pd.DataFrame(right).astype({"amount": float}), join_columns="id")
    assert summary["rows"]["left_only"] == len(compare.df1_unq_rows)
    assert summary["rows"]["right_only"] == len(compare.df2_unq_rows)
    for column in ("amount", "code"):
        unequal = int((~compare.intersect_rows[f"{column}_match"]).sum())
        assert summary["columns"][column]["rows_differ"] == unequal, column


ROWS = st.lists(st.fixed_dictionaries({"id": st.sampled_from(list("ABCDEFG")),
                                       "amount": st.integers(-500, 500).map(lambda c: D(c) / 100),
                                       "name": st.sampled_from(["x", "y", None])}), max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_diff_of_a_table_with_itself_is_empty(tmp_path, rows):
    rows = list({r["id"]: r for r in rows}.values())  # unique keys: duplicates are always reported
    summary, code = run(tmp_path, rows or [{"id": "A", "amount": D(1), "name": "x"}],
                        rows or [{"id": "A", "amount": D(1), "name": "x"}])
    assert summary["identical"] and int(code) == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(left=ROWS, right=ROWS)
def test_diff_mirrors_when_the_sides_swap(tmp_path, left, right):
    seed = [{"id": "Z", "amount": D(0), "name": "z"}]
    forward, _ = run(tmp_path, seed + left, seed + right)
    backward, _ = run(tmp_path, seed + right, seed + left)
    f, b = forward["rows"], backward["rows"]
    assert (f["left_only"], f["right_only"]) == (b["right_only"], b["left_only"])
    assert (f["changed"], f["duplicate_key"], f["equal"]) == (b["changed"], b["duplicate_key"], b["equal"])
    for column in ("amount", "name"):
        assert forward["columns"][column]["rows_differ"] == backward["columns"][column]["rows_differ"]
    assert forward["columns"]["amount"]["sum_difference"] == -backward["columns"]["amount"]["sum_difference"]


def test_diff_runs_on_a_corrected_month(tmp_path):
    first = tmp_path / "first"
    run_clear(JobSpec([str(SAMPLE / "claims")], [str(SAMPLE / "ledger")], "2026-10", first, statements=False))
    # the hospital corrects its extract: every amount_mismatch row now carries the ledger's amounts
    labels = pq.read_table(SAMPLE / "labels.parquet").to_pylist()
    wrong = {l["row"] for l in labels if l["side"] == "claims" and l["category"] == "amount_mismatch"}
    claims = pq.read_table(SAMPLE / "claims" / "part-0001.parquet").to_pylist()
    ledger = {r["setl_id"]: r for r in pq.read_table(SAMPLE / "ledger" / "part-0001.parquet").to_pylist()}
    for number, r in enumerate(claims, start=1):
        if number in wrong:
            right = ledger[r["setl_id"].strip()]
            r["medfee_sumamt"], r["psn_cash_pay"] = right["medfee_sumamt"], right["cash_payamt"]
    corrected = tmp_path / "claims" / "part-0001.parquet"
    corrected.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(claims, schema=pq.read_schema(SAMPLE / "claims" / "part-0001.parquet")),
                   corrected)
    second = tmp_path / "second"
    run_clear(JobSpec([str(corrected.parent)], [str(SAMPLE / "ledger")], "2026-10", second, statements=False))
    summary, code = run_diff_runs(first, second, tmp_path / "dr")
    assert int(code) == 1 and summary["inputs_differ"]
    resolved = summary["records_moved"]["resolved: held in A, matched or gone in B"]
    assert resolved == 2 * len(wrong)  # both sides of each corrected settlement are now matched
    assert summary["net_changes"]  # the newly matched money moved net positions
    result = cli(["diff-runs", first, second, "--json"], 1)
    assert json.loads(result.stdout)["inputs_differ"] is True
    same, code_same = run_diff_runs(first, first, None)
    assert int(code_same) == 0 and not same["records_moved"] and not same["inputs_differ"]
    assert (tmp_path / "dr" / "records_moved.parquet").is_file()


def test_hostile_key_and_column_names(tmp_path):
    left = [{"bank.k": "1", 'we"ird': D("1.00")}, {"bank.k": "2", 'we"ird': D("2.00")}]
    right = [{"bank.k": "1", 'we"ird': D("1.00")}, {"bank.k": "2", 'we"ird': D("2.50")}]
    summary, _ = run(tmp_path, left, right, keys=("bank.k",), out=tmp_path / "o")
    assert summary["rows"]["changed"] == 1
    assert pq.read_table(tmp_path / "o" / "diff_cells.parquet").column("column_name").to_pylist() == ['we"ird']
