"""Contract §5: the run folder — golden data files of the sample month (checked against an independent
reference), byte-identical reruns, atomic publish, the manifest and verify, the Excel statement."""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mediclear_cli import runfolder
from mediclear_cli.errors import WriteError
from mediclear_cli.jobs import JobSpec, run_clear
from mediclear_cli.verify import verify_run

import oracle
from conftest import REPO, SAMPLE

GOLDEN = REPO / "tests" / "golden"
DATA_FILES = ("exceptions.parquet", "pair_totals.parquet", "pair_type_totals.parquet", "net_positions.parquet",
              "fund_split.parquet", "transfers.parquet", "held_by_unit.parquet", "statements.xlsx", "summary.json")


def sample_spec(out: Path, **kw) -> JobSpec:
    return JobSpec([str(SAMPLE / "claims")], [str(SAMPLE / "ledger")], "2026-10", out,
                   regions=str(SAMPLE / "regions.parquet"), prepaid=str(SAMPLE / "prepaid.parquet"), **kw)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "run"
    run_clear(sample_spec(out))
    return out


def as_csv(path: Path) -> str:
    table = pq.read_table(path)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.column_names)
    for record in table.to_pylist():
        writer.writerow(["" if v is None else str(v) for v in record.values()])
    return buf.getvalue()


@pytest.mark.parametrize("name", ["net_positions", "transfers", "pair_totals", "fund_split"])
def test_sample_month_matches_golden_file(sample_run, name):
    got = as_csv(sample_run / f"{name}.parquet")
    golden = GOLDEN / f"{name}.csv"
    if os.environ.get("MEDICLEAR_UPDATE_GOLDEN"):
        golden.write_text(got, encoding="utf-8", newline="\n")
    assert got == golden.read_text(encoding="utf-8")


def test_golden_net_positions_agree_with_an_independent_reference():
    """The golden file is not just what the code printed: recompute it from the inputs and their labels."""
    labels = pq.read_table(SAMPLE / "labels.parquet").to_pylist()
    matched_rows = {(l["file"], l["row"]) for l in labels if l["side"] == "ledger" and l["category"] == "matched"}
    ledger = pq.read_table(SAMPLE / "ledger" / "part-0001.parquet").to_pylist()
    register = {r["admdvs"]: r["prov_admdvs"] for r in pq.read_table(SAMPLE / "regions.parquet").to_pylist()}
    matched = [
        {"insuplc_admdvs": r["insu_admdvs"], "mdtrtarea_admvs": r["fix_blng_admdvs"],
         "fund_pay_sumamt": r["fund_pay_sumamt"], "acct_pay": r["acct_pay"]}
        for i, r in enumerate(ledger, start=1) if ("ledger/part-0001.parquet", i) in matched_rows
    ]
    expected = oracle.net_positions(matched, unit=lambda c: register.get(c, c[:2] + "0000"))
    with (GOLDEN / "net_positions.csv").open(encoding="utf-8") as handle:
        golden = {r["unit"]: D(r["net"]) for r in csv.DictReader(handle)}
    assert {u: n for u, n in golden.items() if n} == {u: n for u, n in expected.items() if n}
    assert sum(golden.values()) == 0


def test_rerun_gives_byte_identical_data_files(sample_run, tmp_path):
    again = tmp_path / "again"
    run_clear(sample_spec(again))
    for name in DATA_FILES:
        assert (sample_run / name).read_bytes() == (again / name).read_bytes(), name


def test_money_columns_are_decimal_18_2_in_every_parquet_output(sample_run):
    import pyarrow as pa

    for path in sample_run.glob("*.parquet"):
        for field in pq.read_schema(path):
            if pa.types.is_decimal(field.type):
                assert field.type == pa.decimal128(18, 2), (path.name, field)
            assert not pa.types.is_floating(field.type), (path.name, field)


def test_summary_money_is_exact_text_and_conservation_is_recorded(sample_run):
    summary = json.loads((sample_run / "summary.json").read_text(encoding="utf-8"))
    assert summary["checks"] == {"accounting": "passed", "conservation": "passed", "sum_net": "0.00"}
    cleared = summary["clearing"]["cleared_clr_amt"]
    assert isinstance(cleared, str) and D(cleared) == D(summary["sides"]["ledger"]["categories"]["matched"]["clr_amt"])


def test_manifest_lists_inputs_and_outputs_with_hashes_and_verify_passes(sample_run):
    manifest = json.loads((sample_run / "manifest.json").read_text(encoding="utf-8"))
    assert {o["file"] for o in manifest["outputs"]} == set(DATA_FILES)
    assert {i["role"] for i in manifest["inputs"]} == {"claims", "ledger", "regions", "prepaid"}
    assert all(len(e["sha256"]) == 64 for e in manifest["inputs"] + manifest["outputs"])
    totals = manifest["control_totals"]
    assert int(totals["ledger"]["matched"]["records"]) > 0 and totals["ledger"]["matched"]["setl_id_hash_total"]
    assert verify_run(sample_run) == []


@pytest.mark.parametrize("where", ["_fill_held", "_fill_summary"], ids=["in the worker thread", "in the main thread"])
def test_failed_run_leaves_the_previous_run_whole(sample_run, tmp_path, monkeypatch, where):
    """The Excel statement fails while being written — in the worker thread that fills the 差错 sheet during
    netting, or afterwards — and the error reaches the caller with the previous run untouched."""
    out = tmp_path / "run"
    run_clear(sample_spec(out))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from mediclear_cli import statements_xlsx

    def explode(*args, **kwargs):
        raise WriteError("disk full (simulated)")

    monkeypatch.setattr(statements_xlsx, where, explode)
    with pytest.raises(WriteError):
        run_clear(sample_spec(out, tolerance="0.01"))
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folder left behind


def test_publish_replaces_a_previous_run_only_when_complete(tmp_path):
    out = tmp_path / "run"
    with runfolder.RunFolder(out) as folder:
        folder.path("manifest.json").write_text("old")
        folder.publish()
    with runfolder.RunFolder(out) as folder:
        folder.path("manifest.json").write_text("new")
        assert (out / "manifest.json").read_text() == "old"
        folder.publish()
    assert (out / "manifest.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert (out.stat().st_mode & 0o077) == 0 and ((out / "manifest.json").stat().st_mode & 0o077) == 0


def test_stale_temporary_folders_of_dead_runs_are_cleaned(tmp_path):
    out = tmp_path / "run"
    stale = tmp_path / ".run.tmp-999999999-abcd"
    stale.mkdir()
    (stale / "exceptions.parquet").write_text("half")
    with runfolder.RunFolder(out) as folder:
        folder.path("manifest.json").write_text("x")
        folder.publish()
    assert not stale.exists()


def test_excel_statement_has_the_finance_sheets_and_totals_that_add_up(sample_run):
    from openpyxl import load_workbook

    book = load_workbook(sample_run / "statements.xlsx", read_only=True)
    assert book.sheetnames == ["汇总", "净额", "分账", "明细", "划款", "对总账", "差错"]
    nets = list(book["净额"].iter_rows(values_only=True))
    header = nets[0]
    assert header[:5] == ("清算单位", "单位名称", "应收(作为就医地)", "应付(作为参保地)", "轧差净额")
    body = [r for r in nets[1:] if r[0] and r[0] != "合计"]
    parquet = {r["unit"]: r["net"] for r in pq.read_table(sample_run / "net_positions.parquet").to_pylist()}
    assert {r[0]: D(str(r[4])).quantize(D("0.01")) for r in body} == parquet
    assert all(r[1] for r in body)  # every unit has a name
    total_row = next(r for r in nets if r[0] == "合计")
    assert D(str(total_row[4])).quantize(D("0.01")) == 0
    exceptions = list(book["差错"].iter_rows(values_only=True))
    held = pq.ParquetFile(sample_run / "exceptions.parquet").metadata.num_rows
    assert len(exceptions) - 1 == held


def test_exceptions_beyond_the_sheet_cap_are_announced_and_kept_in_parquet_and_csv(tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "run"
    spec = sample_spec(out)
    spec.excel_exception_rows = 5
    summary, _, _ = run_clear(spec)
    rows = list(load_workbook(out / "statements.xlsx", read_only=True)["差错"].iter_rows(values_only=True))
    assert len([r for r in rows[1:] if r[0] in ("医药机构", "经办机构")]) == 5
    assert any(r[0] and "exceptions.csv" in str(r[0]) and str(summary["held_records"]) in str(r[0]) for r in rows)
    assert pq.ParquetFile(out / "exceptions.parquet").metadata.num_rows == summary["held_records"]


def test_verify_rederives_conservation_from_the_outputs(sample_run, tmp_path):
    import shutil

    import pyarrow as pa

    copy = tmp_path / "copy"
    shutil.copytree(sample_run, copy)
    table = pq.read_table(copy / "transfers.parquet")
    amounts = table.column("amount").to_pylist()
    amounts[0] += D("0.01")
    pq.write_table(table.set_column(2, "amount", pa.array(amounts, pa.decimal128(18, 2))), copy / "transfers.parquet")
    problems = verify_run(copy, check_inputs=False)
    assert any("do not settle" in p for p in problems) and any("SHA-256" in p for p in problems)


def test_the_threaded_and_the_streaming_excel_paths_write_the_same_cells(tmp_path, monkeypatch):
    """Books of modest size fill their 差错 sheet in a worker thread during netting (PendingStatement);
    larger ones stream in one go (write_statement). A reader must not be able to tell them apart."""
    from openpyxl import load_workbook

    from mediclear_cli import statements_xlsx

    def cells(path):
        book = load_workbook(path, read_only=True)
        return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}

    threaded = tmp_path / "threaded"
    run_clear(sample_spec(threaded))
    monkeypatch.setattr(statements_xlsx.PendingStatement, "fits", staticmethod(lambda rows: False))
    streamed = tmp_path / "streamed"
    run_clear(sample_spec(streamed))
    a, b = cells(threaded / "statements.xlsx"), cells(streamed / "statements.xlsx")
    assert list(a) == ["汇总", "净额", "分账", "明细", "划款", "对总账", "差错"]
    assert len(a["差错"]) > 100
    assert a == b


def test_the_sheet_and_the_full_list_show_exceptions_parquet_row_for_row(tmp_path):
    """The 差错 sheet and exceptions.csv are read from the exceptions as exceptions.parquet holds them (written
    once, jobs/clear._exceptions_once): the same rows, in the same order, with the same ids and money — the
    sheet its first rows, the CSV every one."""
    from openpyxl import load_workbook

    out = tmp_path / "run"
    spec = sample_spec(out)
    spec.excel_exception_rows = 7
    summary, _, _ = run_clear(spec)
    parquet = [(r["setl_id"], r["source_file"], r["source_row"], r["medfee_sumamt"])
               for r in pq.read_table(out / "exceptions.parquet").to_pylist()]
    assert len(parquet) == summary["held_records"] > 7

    def text(v):
        return "" if v is None else str(v)

    expected = [tuple(text(v) for v in row) for row in parquet]
    lines = list(csv.reader(io.StringIO((out / "exceptions.csv").read_bytes().decode("gb18030"))))
    head = lines[0]
    at = [head.index(h) for h in ("结算ID", "来源文件", "行号", "医疗费总额")]
    assert [tuple(line[i] for i in at) for line in lines[1:]] == expected
    sheet = list(load_workbook(out / "statements.xlsx", read_only=True)["差错"].iter_rows(values_only=True))
    at = [sheet[0].index(h) for h in ("结算ID", "来源文件", "行号", "医疗费总额")]
    rows = [r for r in sheet[1:] if r[0] in ("医药机构", "经办机构")]
    assert [(r[at[0]], r[at[1]], r[at[2]], None if r[at[3]] is None else D(str(r[at[3]])).quantize(D("0.01")))
            for r in rows] == parquet[:7]
