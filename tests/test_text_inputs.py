"""Contract §1 (issue 18): a month as it arrives — CSV, TAB text, Excel, zip and gz, GB18030, Chinese and
upper-case headers, the platform's 3202 detail file — clears exactly as the same month in Parquet, and a file
that is not a table is exit 65 naming file and line, with nothing written."""

from __future__ import annotations

import gzip
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediclear_cli.inputs import load_side, map_columns
from mediclear_cli.sources import ReadOptions

from conftest import SAMPLE, cli, row, write_rows

ZH_HEADERS = {"setl_id": "结算ID", "setl_time": "结算时间", "medfee_sumamt": "医疗费总额", "fund_pay_sumamt": "基金支付总额",
              "acct_pay": "个人账户支出", "insu_admdvs": "参保地医保区划", "fix_blng_admdvs": "就医地医保区划",
              "insuplc_admdvs": "参保地医保区划", "mdtrtarea_admvs": "就医地医保区划", "cash_payamt": "现金支付金额",
              "psn_cash_pay": "现金支付金额", "psn_no": "人员编号", "certno": "证件号码", "psn_name": "姓名",
              "mdtrt_id": "就诊ID", "refd_setl_flag": "退费结算标志"}


def as_text(table: pa.Table) -> pa.Table:
    """Every column as the text a CSV export holds (times as yyyy-MM-dd HH:mm:ss, money as 12.30)."""
    columns = {}
    for f in table.schema:
        column = table[f.name]
        if pa.types.is_timestamp(f.type):
            column = pc.strftime(pc.cast(column, pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
        columns[f.name] = pc.cast(column, pa.string())
    return pa.table(columns)


def delimited(table: pa.Table, delimiter: str, headers: Callable[[str], str] = str) -> str:
    """The table as delimited text, written here (not by the reader under test): quoted only where needed."""
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        return '"' + text.replace('"', '""') + '"' if any(c in text for c in (delimiter, '"', "\n")) else text
    lines = [delimiter.join(cell(headers(n)) for n in table.column_names)]
    lines += [delimiter.join(cell(v) for v in r.values()) for r in table.to_pylist()]
    return "\r\n".join(lines) + "\r\n"


def write_xlsx(path: Path, table: pa.Table, headers: Callable[[str], str] = str) -> None:
    """An Excel export as finance makes one: money and region codes as numbers, times as date cells."""
    from datetime import datetime

    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("台账")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for j, name in enumerate(table.column_names):
        sheet.write_string(0, j, headers(name))
    for i, record in enumerate(table.to_pylist(), start=1):
        for j, (name, value) in enumerate(record.items()):
            if value is None:
                continue
            if isinstance(value, Decimal):
                sheet.write_number(i, j, float(value))
            elif name == "setl_time":
                sheet.write_datetime(i, j, datetime.strptime(value, "%Y-%m-%d %H:%M:%S"), stamp)
            else:
                sheet.write_string(i, j, str(value))
    book.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The sample month with its extra columns as text (what any text export carries), cleared from Parquet."""
    root = tmp_path_factory.mktemp("reference")
    tables = {}
    for side in ("claims", "ledger"):
        table = pq.read_table(SAMPLE / side / "part-0001.parquet")
        # the contract's money stays typed; an extra column (inscp_scp_amt …) is text, as any text export has it
        contract = set(map_columns(side, table.column_names).values())
        money = {f.name for f in table.schema if pa.types.is_decimal(f.type) and f.name in contract}
        text = as_text(table)
        tables[side] = (text, money)
        typed = pa.table({n: table[n] if n in money or n == "setl_time" else text[n] for n in table.column_names})
        (root / side).mkdir()
        pq.write_table(typed, root / side / f"{side}.parquet")
    out = root / "run"
    cli(["clear", "--claims", root / "claims", "--ledger", root / "ledger", "--period", "2026-10", "--out", out,
         "--regions", SAMPLE / "regions.parquet", "--pdf", "never"], 1)
    return {"root": root, "tables": tables, "run": out}


def same_outputs(run: Path, reference: Path, suffix: str) -> None:
    """Every data output equal: the netting files byte for byte, exceptions value for value with source_file
    naming the file the user gave, the summary except the run id."""
    for name in sorted(p.name for p in reference.glob("*.parquet")):
        if name != "exceptions.parquet":
            assert (run / name).read_bytes() == (reference / name).read_bytes(), name
    ours, theirs = pq.read_table(run / "exceptions.parquet"), pq.read_table(reference / "exceptions.parquet")
    # extra columns keep the file's own names (an Oracle export's VALI_FLAG stays upper case)
    ours = ours.rename_columns([n.lower() for n in ours.column_names])
    assert ours.schema == theirs.schema
    files = {f.split("/")[-1].split("!")[0] for f in ours["source_file"].to_pylist()}
    assert files == {f"claims{suffix}", f"ledger{suffix}"}
    assert ours.drop_columns(["source_file"]) == theirs.drop_columns(["source_file"])
    a, b = (json.loads((p / "summary.json").read_text(encoding="utf-8")) for p in (run, reference))
    assert {k: v for k, v in a.items() if k != "run_id"} == {k: v for k, v in b.items() if k != "run_id"}


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding)


WAYS: dict[str, tuple[str, Callable[[pa.Table, Path], None]]] = {
    # name: (file suffix, how the month is written)
    "csv-utf8-bom": (".csv", lambda t, p: p.write_bytes(b"\xef\xbb\xbf" + delimited(t, ",").encode())),
    "csv-gb18030-chinese-headers": (".csv", lambda t, p: p.write_bytes(
        _encode(delimited(t, ",", lambda n: ZH_HEADERS.get(n, n)), "gb18030"))),
    "txt-gbk-tab-oracle-upper": (".txt", lambda t, p: p.write_bytes(_encode(delimited(t, "\t", str.upper), "gbk"))),
    "txt-pipe-utf8": (".txt", lambda t, p: p.write_bytes(delimited(t, "|").encode())),
    "tsv-gz": (".tsv.gz", lambda t, p: p.write_bytes(gzip.compress(delimited(t, "\t").encode("gb18030")))),
    "csv-in-zip": (".zip", lambda t, p: _zip(p, "导出.csv", delimited(t, ",").encode("gb18030"))),
    "xlsx": (".xlsx", lambda t, p: write_xlsx(p, t, lambda n: ZH_HEADERS.get(n, n))),
}


def _zip(path: Path, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_a_month_in_any_format_and_encoding_clears_as_its_parquet(tmp_path: Path, reference: dict[str, Any],
                                                                   way: str) -> None:
    suffix, write = WAYS[way]
    for side in ("claims", "ledger"):
        (tmp_path / side).mkdir()
        write(reference["tables"][side][0], tmp_path / side / f"{side}{suffix}")
    out = tmp_path / "run"
    cli(["clear", "--claims", tmp_path / "claims", "--ledger", tmp_path / "ledger", "--period", "2026-10",
         "--out", out, "--regions", SAMPLE / "regions.parquet", "--pdf", "never"], 1)
    same_outputs(out, reference["run"], suffix)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    read_as = [r for entry in manifest["inputs"] for r in entry.get("read_as", [])]
    assert len(read_as) == 2 and all("format" in r for r in read_as)
    if "gb" in way:
        assert {r["encoding"] for r in read_as} == {"gb18030"}  # detected, and said in the manifest


BAD_HEADER = "setl_id,setl_time,medfee_sumamt,fund_pay_sumamt,acct_pay,insuplc_admdvs,mdtrtarea_admvs\n"
GOOD = "A{n},2026-10-02 10:00:00,10.00,5.00,5.00,150000,110000\n"


@pytest.mark.parametrize(("name", "data", "said"), [
    ("ragged", (BAD_HEADER + GOOD.format(n=1) + "A2,2026-10-02 10:00:00,10.00\n" + GOOD.format(n=3)).encode(),
     "line 3: 3 fields where the header has 7"),
    ("unclosed quote", (BAD_HEADER + GOOD.format(n=1) + 'A2,"2026-10-02,10.00,5.00,5.00,150000,110000\n'
                        + GOOD.format(n=3)).encode(), "line 3: a quoted field is opened and never closed"),
    ("invalid GB18030 bytes", (BAD_HEADER + GOOD.format(n=1)).encode() + b"A2\xff\xfe,2026-10-02 10:00:00,1,1,0,"
     b"150000,110000\n", "not GB18030: invalid bytes at line 3, byte offset"),
    ("header only", BAD_HEADER.encode(), "line 1 is a header and no settlement follows it"),
    ("BOM mid-file", b"\xef\xbb\xbf" + (BAD_HEADER + GOOD.format(n=1)).encode() + b"\xef\xbb\xbf"
     + (BAD_HEADER + GOOD.format(n=2)).encode(), "line 3: a byte-order mark in the middle of the file"),
])
def test_malformed_text_is_exit_65_naming_file_and_line_and_nothing_is_written(
        tmp_path: Path, name: str, data: bytes, said: str) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_bytes(data)
    claims = write_rows(tmp_path / "claims.parquet", [row("A1")])
    out = tmp_path / "out"
    result = cli(["clear", "--claims", claims, "--ledger", ledger, "--period", "2026-10", "--out", out], 65)
    assert f"{ledger}: " in result.stderr and said in result.stderr, result.stderr
    assert "A2" not in result.stderr  # a row's content is never echoed: it may hold personal data
    assert not out.exists()
    assert cli(["validate", ledger, "--side", "ledger"], 65).stderr.count("\n") == 1


def test_the_platforms_3202_detail_file_zipped_and_headerless(tmp_path: Path) -> None:
    """A: equal; B: the fund amount differs; C: in the ledger only; D: at the hospital only. The 3202 file has
    no settlement time: its rows count in the period reconciled (the ledger's time decides out_of_period)."""
    ledger = write_rows(tmp_path / "ledger.parquet", [row("A"), row("B"), row("C"),
                                                      row("E", when="2026-09-30 23:00:00")])
    lines = ["A\tM1\tP1\t100.00\t70.00\t10.00\t0", "B\tM2\tP2\t100.00\t60.00\t10.00\t0",
             "D\tM4\tP4\t50.00\t20.00\t0.00\t0", "E\tM5\tP5\t100.00\t70.00\t10.00\t0"]
    archive = tmp_path / "H41130200746_202610.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("3202XXXX.txt", "\n".join(lines).encode("gb18030"))
    # the member's name in GBK without the UTF-8 flag, as Chinese zip tools write it (same length: 12 bytes)
    archive.write_bytes(archive.read_bytes().replace(b"3202XXXX.txt", "3202明细.txt".encode("gbk")))
    for extra in ([], ["--claims-format", "3202"]):
        out = tmp_path / f"run{len(extra)}"
        result = cli(["reconcile", "--claims", archive, "--ledger", ledger, "--period", "2026-10", "--out", out,
                      "--json", *extra], 1)
        summary = json.loads(result.stdout)
        claims = {c: v["records"] for c, v in summary["sides"]["claims"]["categories"].items() if v["records"]}
        assert claims == {"matched": 1, "amount_mismatch": 1, "claim_only": 1, "out_of_period": 1}
        held = pq.read_table(out / "exceptions.parquet").to_pylist()
        d = next(r for r in held if r["setl_id"] == "D")
        assert d["source_file"] == f"{archive}!3202明细.txt" and d["source_row"] == 3 and d["psn_no"] == "P4"
        assert summary["totals_view"]["groups"]  # the 3202 rows are in the period's totals


def test_excel_numbers_are_money_only_when_exact_to_the_cent_and_codes_keep_their_zeros(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(tmp_path / "ledger.xlsx")
    sheet = book.add_worksheet()
    header = ["setl_id", "setl_time", "medfee_sumamt", "fund_pay_sumamt", "acct_pay", "insuplc_admdvs",
              "mdtrtarea_admvs"]
    for j, name in enumerate(header):
        sheet.write_string(0, j, name)
    sheet.write_row(1, 0, ["001", "2026-10-02 10:00:00", 0.1 + 0.2, 0.3, 0, "010100", "110000"])
    sheet.write_row(2, 0, ["002", "2026-10-02 10:00:00", 12.345, 12.345, 0, "010100", "110000"])
    book.close()
    con = duckdb.connect()
    load_side(con, "ledger", [str(tmp_path / "ledger.xlsx")])
    rows = con.sql("SELECT setl_id, medfee_sumamt, insuplc_admdvs, reject_reason, source_file, source_row "
                   "FROM ledger ORDER BY source_row").fetchall()
    assert rows[0][:4] == ("001", Decimal("0.30"), "010100", None)  # 0.30000000000000004 is Excel's 0.30
    assert rows[1][0] == "002" and rows[1][3] == "bad_money"  # 12.345 is not exact to the cent
    assert rows[1][4].endswith("ledger.xlsx!Sheet1") and rows[1][5] == 2


def test_map_names_a_column_the_tables_do_not_know(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text("JSID,JSSJ,medfee_sumamt,fund_pay_sumamt,acct_pay,insuplc_admdvs,mdtrtarea_admvs\n"
                      "A1,2026-10-02 10:00:00,100.00,70.00,10.00,150000,110000\n", encoding="utf-8")
    assert "missing column 'setl_id'" in cli(["validate", ledger, "--side", "ledger"], 65).stderr
    result = cli(["validate", ledger, "--side", "ledger", "--map", "JSID=setl_id", "--map", "jssj=setl_time",
                  "--json"], 0)
    assert json.loads(result.stdout)["rows"] == 1
    cli(["validate", ledger, "--side", "ledger", "--map", "JSID=settlement"], 2)  # not a contract column


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(
    st.from_regex(r"0[0-9]{3,8}", fullmatch=True),
    st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False, allow_infinity=False),
    st.text(alphabet="张王李赵钱孙 ·\"", min_size=0, max_size=4),
), min_size=1, max_size=20, unique_by=lambda t: t[0]), st.sampled_from(["utf-8", "gb18030"]), st.sampled_from([",", "\t"]))
def test_text_reads_exactly_what_parquet_of_the_same_text_reads(tmp_path: Path, rows: list[Any], encoding: str,
                                                                delimiter: str) -> None:
    """Any ids with leading zeros, any amount to the cent, any name (quotes and separators included): the text
    file and a Parquet file of the same strings load to the same rows, money exact."""
    table = pa.table({
        "setl_id": [r[0] for r in rows], "setl_time": ["2026-10-02 10:00:00"] * len(rows),
        "medfee_sumamt": [str(r[1]) for r in rows], "fund_pay_sumamt": [str(r[1]) for r in rows],
        "acct_pay": ["0"] * len(rows), "psn_name": [r[2] for r in rows]})
    folder = tmp_path / f"{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "c.csv").write_bytes(delimited(table, delimiter).encode(encoding))
    pq.write_table(table, folder / "c.parquet")
    loaded = []
    for name in ("c.csv", "c.parquet"):
        con = duckdb.connect()
        # the encoding given: a few GB18030 bytes can also be valid UTF-8 (detection is tested on real months)
        load_side(con, "claims", [str(folder / name)], read=ReadOptions(encoding=encoding))
        loaded.append(con.sql("SELECT * EXCLUDE (source_file) FROM claims ORDER BY source_row").fetchall())
    assert loaded[0] == loaded[1]
    assert [r[2] for r in loaded[0]] == [r[1] for r in rows]  # medfee_sumamt, exact


def test_short_gb18030_that_is_also_valid_utf8_is_read_as_gb18030(tmp_path: Path) -> None:
    """钱 in GB18030 is C7 AE, which is valid UTF-8 (Ǯ): a Chinese extract without one Chinese character as
    UTF-8 but with Latin letters is GB18030."""
    ledger = tmp_path / "l.csv"
    ledger.write_bytes("setl_id,setl_time,medfee_sumamt,fund_pay_sumamt,acct_pay,insuplc_admdvs,mdtrtarea_admvs,"
                       "psn_name\nA1,2026-10-02 10:00:00,1.00,1.00,0,150000,110000,钱\n".encode("gb18030"))
    con = duckdb.connect()
    load_side(con, "ledger", [str(ledger)])
    assert con.sql("SELECT psn_name FROM ledger").fetchall() == [("钱",)]


def test_convert_writes_contract_parquet_that_clears_as_the_text_did(tmp_path: Path, reference: dict[str, Any]) -> None:
    for side in ("claims", "ledger"):
        (tmp_path / "text" / side).mkdir(parents=True)
        (tmp_path / "text" / side / f"{side}.csv").write_bytes(
            delimited(reference["tables"][side][0], ",", lambda n: ZH_HEADERS.get(n, n)).encode("gb18030"))
        result = cli(["convert", tmp_path / "text" / side, "--side", side, "--out", tmp_path / "pq" / side, "--json"], 1)
        report = json.loads(result.stdout)
        assert report["rows"] == reference["tables"][side][0].num_rows and report["would_reject"] > 0
        converted = pq.read_table(tmp_path / "pq" / side / f"{side}.parquet")
        assert converted.schema.field("medfee_sumamt").type == pa.decimal128(18, 2)
        assert pa.types.is_timestamp(converted.schema.field("setl_time").type)
        assert "setl_id" in converted.column_names and "结算ID" not in converted.column_names
        if side == "ledger":  # the file's order, row for row (the claims' ids carry noise the reader normalises)
            assert converted["setl_id"].to_pylist() == reference["tables"][side][0]["setl_id"].to_pylist()
    out = tmp_path / "run"
    cli(["clear", "--claims", tmp_path / "pq" / "claims", "--ledger", tmp_path / "pq" / "ledger", "--period", "2026-10",
         "--out", out, "--regions", SAMPLE / "regions.parquet", "--pdf", "never"], 1)
    for name in ("net_positions.parquet", "pair_totals.parquet", "transfers.parquet", "fund_split.parquet"):
        assert (out / name).read_bytes() == (reference["run"] / name).read_bytes(), name


def test_convert_keeps_a_column_that_does_not_convert_as_text_and_writes_nothing_on_bad_input(tmp_path: Path) -> None:
    good = tmp_path / "a.csv"
    good.write_text(BAD_HEADER + GOOD.format(n=1) + "A2,2026-10-02 10:00:00,1.2E+3,5.00,5.00,150000,110000\n",
                    encoding="utf-8")
    report = json.loads(cli(["convert", good, "--side", "ledger", "--out", tmp_path / "out", "--json"], 1).stdout)
    assert report["tables"][0]["kept_as_text"] == ["medfee_sumamt"]
    assert report["tables"][0]["would_reject"] == {"bad_money": 1}
    assert pq.read_table(tmp_path / "out" / "a.parquet")["medfee_sumamt"].to_pylist() == ["10.00", "1.2E+3"]
    bad = tmp_path / "b.csv"
    bad.write_text(BAD_HEADER, encoding="utf-8")
    cli(["convert", good, bad, "--side", "ledger", "--out", tmp_path / "out2"], 65)
    assert not (tmp_path / "out2").exists() and not list(tmp_path.glob(".out2*"))


def test_reading_options_come_from_mediclear_toml_too(tmp_path: Path) -> None:
    (tmp_path / "ledger.csv").write_text(
        "JSID;setl_time;medfee_sumamt;fund_pay_sumamt;acct_pay;insuplc_admdvs;mdtrtarea_admvs\n"
        "A1;2026-10-02 10:00:00;100.00;70.00;10.00;150000;110000\n", encoding="utf-8")
    (tmp_path / "claims.csv").write_text(
        "JSID;setl_time;medfee_sumamt;fund_pay_sumamt;acct_pay\nA1;2026-10-02 10:00:00;100.00;70.00;10.00\n",
        encoding="utf-8")
    (tmp_path / "mediclear.toml").write_text(
        '[clear]\nclaims = ["claims.csv"]\nledger = ["ledger.csv"]\nmap = ["JSID=setl_id"]\nencoding = "utf-8"\n'
        'out = "run"\npdf = "never"\n', encoding="utf-8")
    result = cli(["--config", tmp_path / "mediclear.toml", "clear", "--period", "2026-10", "--json"], 0)
    assert json.loads(result.stdout)["sides"]["ledger"]["categories"]["matched"]["records"] == 1
    options = json.loads((tmp_path / "run" / "manifest.json").read_text(encoding="utf-8"))["options"]
    assert options["read"] == {"encoding": "utf-8", "map": ["JSID=setl_id"]}  # part of what the run is


def test_readme_lists_every_chinese_header_the_schema_accepts() -> None:
    from mediclear_cli import schema

    readme = (SAMPLE.parent / "README.md").read_text(encoding="utf-8")
    for column in schema.COLUMNS:
        for header in (column.label_zh, *column.headers_zh):
            assert header in readme, header


def test_reconcile_compares_the_platforms_3202_result_with_its_own_verdicts(tmp_path: Path) -> None:
    """A: both say 0. B: the platform says 0, mediclear 3 (the hospital's fund amount differs). C: both say 1.
    D: not in the result file. E: in the result file only."""
    claims = write_rows(tmp_path / "claims.parquet", [row("A"), row("B", fund="60.00"), row("D")])
    ledger = write_rows(tmp_path / "ledger.parquet", [row(s, vali_flag="1") for s in "ABCD"])
    result = tmp_path / "3202_result.txt"
    lines = ["P1\tM1\tA\tH4113020074620261002100000001\t0\t0\t对平\t100.00\t70.00\t10.00",
             "P2\tM2\tB\tH4113020074620261002100000002\t0\t0\t对平\t100.00\t70.00\t10.00",
             "P3\tM3\tC\tH4113020074620261002100000003\t1\t0\t中心多\t100.00\t70.00\t10.00",
             "P5\tM5\tE\tH4113020074620261002100000005\t2\t0\t医药机构多\t5.001\t1.2E+3\t0.00"]
    result.write_bytes(("\n".join(lines) + "\n").encode("gb18030"))
    out = tmp_path / "run"
    summary = json.loads(cli(["reconcile", "--claims", claims, "--ledger", ledger, "--period", "2026-10", "--out", out,
                              "--platform-result", result, "--json"], 1).stdout)["platform_compare"]
    assert (summary["setl_ids"], summary["agree"], summary["disagree"]) == (5, 2, 3)
    assert (summary["not_in_result_file"], summary["not_in_inputs"]) == (1, 1)
    assert summary["read_as"][0]["encoding"] == "gb18030"
    rows = {r["setl_id"]: r for r in pq.read_table(out / "platform_compare.parquet").to_pylist()}
    assert rows["A"]["agree"] and rows["C"]["agree"] and rows["C"]["platform_stmt_rslt"] == "1"
    assert (rows["B"]["platform_stmt_rslt"], rows["B"]["mediclear_stmt_rslt"]) == ("0", "3")
    assert rows["B"]["why"] == "mediclear finds these columns differ: fund_pay_sumamt"
    assert rows["D"]["why"] == "not in the platform's result file"
    assert rows["E"]["why"] == "not in mediclear's inputs" and rows["E"]["platform_row"] == 4
    assert rows["B"]["platform_fund_pay_sumamt"] == Decimal("70.00")
    # the platform's amounts follow contract §1: 5.001 and 1.2E+3 are not money, never rounded into some
    assert (rows["E"]["platform_medfee_sumamt"], rows["E"]["platform_fund_pay_sumamt"]) == (None, None)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "platform_result" in {i["role"] for i in manifest["inputs"]}
