"""What finance staff and a cron job hit in their first months (issue 13): each test here failed on the code
before the fix — wrong answers reported as success, statements people sign, cron and operators."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, cli, last_run, row, write_rows

SAMPLE_ARGS = ["--regions", SAMPLE / "regions.parquet", "--prepaid", SAMPLE / "prepaid.parquet", "--period", "2026-10"]


# -- 1. one file, both sides --------------------------------------------------------------------------------

def test_the_same_folder_given_as_both_sides_is_refused_with_exit_2(tmp_path):
    result = cli(["clear", "--claims", SAMPLE / "ledger", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS,
                  "--out", tmp_path / "run"], 2)
    assert "both" in result.stderr and "part-0001.parquet" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_copy_of_the_ledger_given_as_claims_is_refused(tmp_path):
    copy = tmp_path / "hospital" / "extract.parquet"
    copy.parent.mkdir()
    shutil.copy(SAMPLE / "ledger" / "part-0001.parquet", copy)
    result = cli(["reconcile", "--claims", copy, "--ledger", SAMPLE / "ledger", "--period", "2026-10",
                  "--out", tmp_path / "run"], 2)
    assert "same content" in result.stderr and "extract.parquet" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_month_folder_that_holds_the_ledger_cannot_be_the_claims(tmp_path):
    month = tmp_path / "2026-10"
    shutil.copytree(SAMPLE / "claims", month / "claims")
    shutil.copytree(SAMPLE / "ledger", month / "ledger")
    cli(["clear", "--claims", month, "--ledger", month / "ledger", *SAMPLE_ARGS, "--out", tmp_path / "run"], 2)
    assert not (tmp_path / "run").exists()


def test_swapped_sides_are_warned_about_on_stderr_and_in_the_summary(tmp_path):
    result = cli(["clear", "--claims", SAMPLE / "ledger", "--ledger", SAMPLE / "claims", *SAMPLE_ARGS,
                  "--out", tmp_path / "run", "--no-statements", "--json"], 1)
    warnings = json.loads(result.stdout)["warnings"]
    assert any("vali_flag" in w and "swapped" in w for w in warnings), warnings
    assert "swapped" in result.stderr
    normal = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS,
                  "--out", tmp_path / "run2", "--no-statements", "--json"], 1)
    assert not any("swapped" in w for w in json.loads(normal.stdout)["warnings"])


# -- 2. the config file's paths, and a workspace that is new ------------------------------------------------

def test_relative_paths_in_the_config_file_are_relative_to_its_folder(tmp_path, monkeypatch):
    home = tmp_path / "srv"
    home.mkdir()
    shutil.copytree(SAMPLE / "claims", home / "data" / "2026-10" / "claims")
    shutil.copytree(SAMPLE / "ledger", home / "data" / "2026-10" / "ledger")
    (home / "mediclear.toml").write_text(
        'workspace = "ws"\n[clear]\nclaims = "data/{period}/claims"\nledger = ["data/{period}/ledger"]\n'
        "statements = false\n", encoding="utf-8")
    elsewhere = tmp_path / "cron-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    first = cli(["--config", home / "mediclear.toml", "clear", "--period", "2026-10", "--json"], 1)
    assert (home / "ws" / "workspace.duckdb").is_file() and not (elsewhere / "ws").exists()
    assert f"new workspace created at {home / 'ws'}" in first.stderr
    runs = json.loads(cli(["--config", home / "mediclear.toml", "runs", "--json"]).stdout)
    assert [(r["period"], r["created_workspace"]) for r in runs] == [("2026-10", True)]


def test_a_workspace_used_again_does_not_claim_to_be_new(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    new = cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--workspace", ws, "--no-statements",
               "--json"], 1)
    assert last_run(ws)["created_workspace"] is True and "new workspace created" in new.stderr
    nov = write_rows(tmp_path / "n.parquet", [row("N1", when="2026-11-05 10:00:00")])
    nov_l = write_rows(tmp_path / "nl.parquet", [row("N1", when="2026-11-05 10:00:00", vali_flag="1")])
    again = cli(["clear", "--claims", nov, "--ledger", nov_l, "--period", "2026-11", "--workspace", ws,
                 "--no-statements", "--json"], 1)
    assert last_run(ws)["created_workspace"] is False and "new workspace" not in again.stderr


# -- 3. a reopened month, and the months after it ----------------------------------------------------------

def _ws_clear(ws: Path, month: Path, period: str, code: int | None = None):
    return cli(["clear", "--claims", month / "claims", "--ledger", month / "ledger", "--period", period,
                "--workspace", ws, "--no-statements", "--json"], code)


@pytest.mark.slow
def test_a_reopened_month_is_cleared_again_and_later_months_rerun_in_order(tmp_path):
    data, ws = tmp_path / "data", tmp_path / "ws"
    cli(["sample", data, "--rows", "400", "--months", "3", "--period", "2026-08", "--seed", "5"])
    for period in ("2026-08", "2026-09", "2026-10"):
        _ws_clear(ws, data / period, period, 1)
    cli(["close", "--period", "2026-08", "--by", "王芳", "--workspace", ws])
    cli(["reopen", "--period", "2026-08", "--reason", "ledger re-extract", "--by", "王芳", "--approved-by", "李强",
         "--workspace", ws])
    listed = {r["seq"]: r for r in json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)}
    assert [listed[s]["needs_rerun"] is not None for s in (1, 2, 3)] == [False, True, True]
    assert "re-run" in cli(["runs", "--workspace", ws]).stdout
    # a later month cannot be closed while it needs a re-run, nor re-run out of order
    assert "re-run" in cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws], 77).stderr
    assert "2026-09" in _ws_clear(ws, data / "2026-10", "2026-10", 77).stderr
    # the reopened month is cleared again (a corrected ledger: one settlement fewer), then each later month
    corrected = tmp_path / "corrected"
    shutil.copytree(data / "2026-08" / "claims", corrected / "claims")
    ledger = pq.read_table(data / "2026-08" / "ledger")
    (corrected / "ledger").mkdir()
    pq.write_table(ledger.slice(1), corrected / "ledger" / "part.parquet")
    _ws_clear(ws, corrected, "2026-08", 1)
    aug = last_run(ws)
    assert aug["supersedes"] == 1
    _ws_clear(ws, data / "2026-09", "2026-09", 1)
    sep = last_run(ws)
    assert sep["carried_from"] == aug["seq"]
    assert "2026-10" in cli(["held", "--workspace", ws, "--period", "2026-10"]).stderr  # still to re-run
    octo = json.loads(_ws_clear(ws, data / "2026-10", "2026-10", 1).stdout)
    assert last_run(ws)["carried_from"] == sep["seq"]
    listed = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)
    assert [r["needs_rerun"] for r in listed if r["seq"] > 3] == [None, None, None]
    cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws])
    # the held item the corrected ledger dropped is carried into September's and October's re-runs
    assert octo["carry_forward"]["carried_in"]["records"] >= 1


def test_an_earlier_month_is_still_refused_unless_reopened(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1", when="2026-11-02 10:00:00")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", when="2026-11-02 10:00:00", vali_flag="1")])
    cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-11", "--workspace", ws, "--no-statements"], 0)
    old_c = write_rows(tmp_path / "oc.parquet", [row("O1")])
    old_l = write_rows(tmp_path / "ol.parquet", [row("O1", vali_flag="1")])
    result = cli(["clear", "--claims", old_c, "--ledger", old_l, "--period", "2026-10", "--workspace", ws,
                  "--no-statements"], 77)
    assert "in order" in result.stderr


# -- 9 / 10. signals and file modes -------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("signum", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_stops_the_run_with_its_exit_code_and_is_recorded_interrupted(tmp_path, generated_big, signum, code,
                                                                               name):
    ws, scratch = tmp_path / "ws", tmp_path / "scratch"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediclear_cli", "clear", "--claims", str(generated_big / "claims"), "--ledger",
         str(generated_big / "ledger"), "--period", "2026-10", "--workspace", str(ws), "--temp-dir", str(scratch),
         "--out", str(tmp_path / "run")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (scratch.is_dir() and any(scratch.iterdir())):
        time.sleep(0.02)  # the run has opened its scratch database: it is reading the month
    time.sleep(0.2)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].endswith(f"interrupted ({name}); nothing was published"), err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".run.")]
    assert not any(scratch.iterdir())  # the scratch database (raw ID numbers) is gone
    runs = json.loads(cli(["runs", "--workspace", ws, "--json"]).stdout)
    assert [(r["status"], r["exit_code"]) for r in runs] == [("interrupted", code)]


@pytest.fixture(scope="module")
def generated_big(tmp_path_factory):
    out = tmp_path_factory.mktemp("big")
    cli(["sample", out, "--rows", "150000", "--seed", "3"])
    return out


def test_everything_in_a_workspace_is_owner_only_whatever_the_umask(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    previous = os.umask(0o022)
    try:
        cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--workspace", ws, "--no-statements"], 1)
    finally:
        os.umask(previous)
    for path in [ws, *ws.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


# -- 11 / 12. what "held" means, and the held command ----------------------------------------------------------

def test_the_three_held_figures_are_named_and_reconciled(tmp_path):
    ws = tmp_path / "ws"
    result = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS,
                  "--workspace", ws, "--no-statements", "--json"], 1)
    summary = json.loads(result.stdout)
    after = summary["carry_forward"]["held_after"]
    rejected = summary["held_by_category"]["rejected"]
    assert after["records"] == summary["held_records"] - rejected  # rejected rows are reported, never carried
    held = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)
    assert len(held["items"]) == after["items"] and sum(i["records"] for i in held["items"]) == after["records"]
    line = next(line for line in result.stderr.splitlines() if line.startswith("held:"))
    assert f"{summary['held_records']} records" in line and f"{after['records']} rows" in line
    assert f"{after['items']} items" in line


def test_held_shows_a_summary_by_unit_category_and_age_with_detail_xlsx_and_json(tmp_path):
    ws = tmp_path / "ws"
    cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS, "--workspace", ws,
         "--no-statements"], 1)
    text = cli(["held", "--workspace", ws]).stdout
    assert "清算单位" in text and "本月新增" in text and "\t" not in text
    items = json.loads(cli(["held", "--workspace", ws, "--json"]).stdout)
    assert sum(r["items"] for r in items["summary"]) == len(items["items"])
    detail = cli(["held", "--workspace", ws, "--detail"]).stdout.splitlines()
    assert detail[0].startswith("side\tsetl_id") and len(detail) == len(items["items"]) + 1
    import openpyxl

    cli(["held", "--workspace", ws, "--xlsx", tmp_path / "held.xlsx"])
    book = openpyxl.load_workbook(tmp_path / "held.xlsx", read_only=True)
    assert book.sheetnames == ["汇总", "明细"]
    rows = list(book["明细"].iter_rows(min_row=4, values_only=True))
    assert len(rows) == len(items["items"]) and {r[0] for r in rows} <= {"医药机构", "经办机构"}
    # the money cells hold the items' amounts to the cent (column 清算金额 of 明细)
    cents = Decimal("0.01")
    assert sorted(Decimal(str(r[6])).quantize(cents) for r in rows) == sorted(
        Decimal(str(i["clr_amt"])) for i in items["items"])


# -- 14. the small ones ------------------------------------------------------------------------------------------

def test_the_platforms_yyyymm_period_is_accepted_and_absurd_years_are_usage_errors(tmp_path):
    result = cli(["reconcile", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "202610",
                  "--out", tmp_path / "r", "--json"], 1)
    assert json.loads(result.stdout)["period"] == "2026-10"
    for bad in ("0000-01", "9999-12", "202613"):
        cli(["reconcile", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", bad,
             "--out", tmp_path / "r2"], 2)


def test_a_missing_approver_is_not_permitted_77(tmp_path):
    ws = tmp_path / "ws"
    c = write_rows(tmp_path / "c.parquet", [row("A1"), row("B1")])
    lg = write_rows(tmp_path / "l.parquet", [row("A1", vali_flag="1")])
    cli(["clear", "--claims", c, "--ledger", lg, "--period", "2026-10", "--workspace", ws, "--no-statements"], 1)
    cli(["writeoff", "--side", "claims", "--setl-id", "B1", "--reason", "withdrawn", "--by", "王芳",
         "--workspace", ws], 77)
    cli(["close", "--period", "2026-10", "--by", "王芳", "--workspace", ws])
    cli(["reopen", "--period", "2026-10", "--reason", "x", "--by", "王芳", "--workspace", ws], 77)


def test_validate_names_the_column_as_the_file_spells_it(tmp_path):
    ledger = write_rows(tmp_path / "l.parquet", [
        {"setl_id": "A", "setl_time": "2026-10-01 10:00:00", "medfee_sumamt": "1.00", "fund_pay_sumamt": "1.00",
         "acct_pay": "0.00", "insu_admdvs": "15", "fix_blng_admdvs": "110000"}])
    result = cli(["validate", ledger, "--side", "ledger", "--json"], 1)
    reject = json.loads(result.stdout)["rejects"][0]
    assert reject["column"] == "insu_admdvs" and reject["contract_column"] == "insuplc_admdvs"


def test_help_has_an_example_for_every_command_and_no_python_type_names():
    from typer.main import get_command

    from mediclear_cli.cli import app

    group = get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        text = cli([name, "--help"]).stdout
        assert "Example" in text, name
        options = [line for line in text.splitlines() if "--help" not in line]  # click's own --help keeps <bool>
        assert not re.search(r"<(list|int|str|path|float|bool)", "\n".join(options)), (name, text)


def test_the_first_run_says_which_file_to_open_and_a_replaced_run_is_announced(tmp_path):
    args = ["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS,
            "--out", tmp_path / "run", "--no-statements"]
    first = cli(args, 1)
    assert "statements.xlsx" in first.stderr and "replac" not in first.stderr
    second = cli(args, 1)
    assert "replaced" in second.stderr and str(tmp_path / "run") in second.stderr


def test_clear_and_statements_share_one_pdf_default():
    from typer.main import get_command

    from mediclear_cli.cli import app

    group = get_command(app)
    defaults = {name: next(p.default for p in group.commands[name].params if p.name == "pdf")  # type: ignore[attr-defined]
                for name in ("clear", "statements")}
    assert defaults["clear"] == defaults["statements"] == "auto"


# -- 4 / 5. printed statements ------------------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftotext") is None,
                                    reason="needs Debian's chromium and poppler-utils (.ci/run installs them)")


def _pages(pdf: Path) -> list[str]:
    count = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                                                            check=True).stdout).group(1))
    return [subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), "-layout", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for n in range(1, count + 1)]


@needs_chromium
def test_a_pdf_is_printed_for_a_relative_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SAMPLE, "sample_data")
    cli(["clear", "--claims", "sample_data/claims", "--ledger", "sample_data/ledger", "--period", "2026-10",
         "--out", "runs/2026-10", "--pdf", "always"], 1)
    assert Path("runs/2026-10/statements/statements.pdf").stat().st_size > 10_000
    cli(["statements", "runs/2026-10", "--pdf", "always"])
    cli(["verify", "runs/2026-10"])


@needs_chromium
def test_every_printed_page_names_its_unit_period_run_and_manifest_and_the_common_case_fits_one_page(tmp_path):
    run = tmp_path / "run"
    cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS, "--out", run,
         "--pdf", "always"], 1)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    manifest_hash = json.loads((run / "statements" / "manifest.json").read_text(encoding="utf-8"))[
        "run_manifest_sha256"]
    units = [r["unit"] for r in pq.read_table(run / "net_positions.parquet").to_pylist()]
    pages = _pages(run / "statements" / "statements.pdf")
    assert len(pages) == len(units)  # every unit here has at most 9 counterparties: one A4 page each
    for unit, page in zip(units, pages, strict=True):
        flat = re.sub(r"\s+", " ", page)
        for needle in (unit, summary["period"], summary["run_id"], manifest_hash):
            assert needle in flat, (unit, needle)
        assert "签章" in page and "清算汇总" in page and "审批" in page  # the sign-off is with the totals it signs


@pytest.mark.slow
@needs_chromium
def test_a_long_unit_goes_to_annex_pages_that_carry_the_same_header(tmp_path):
    data = tmp_path / "data"
    cli(["sample", data, "--rows", "6000", "--seed", "11"])
    run = tmp_path / "run"
    cli(["clear", "--claims", data / "claims", "--ledger", data / "ledger", "--period", "2026-10",
         "--regions", data / "regions.parquet", "--level", "pool", "--out", run, "--pdf", "always"], 1)
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    manifest_hash = json.loads((run / "statements" / "manifest.json").read_text(encoding="utf-8"))[
        "run_manifest_sha256"]
    pages = _pages(run / "statements" / "statements.pdf")
    units = {r["unit"] for r in pq.read_table(run / "net_positions.parquet").to_pylist()}
    assert any("附页" in p for p in pages)
    for page in pages:
        flat = re.sub(r"\s+", " ", page)
        assert summary["run_id"] in flat and manifest_hash in flat and summary["period"] in flat
        assert any(u in flat for u in units)
        if "签章" in page:
            assert "清算汇总" in page  # never a signature grid alone on a page


# -- 6 / 7 / 8. the Excel statement in Chinese, the full list, print setup ----------------------------------------

def test_the_excel_statement_speaks_chinese_where_finance_looks(tmp_path):
    import openpyxl

    run = tmp_path / "run"
    cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS, "--out", run,
         "--no-statements"], 1)
    book = openpyxl.load_workbook(run / "statements.xlsx", read_only=False)
    errors = list(book["差错"].iter_rows(min_row=2, values_only=True))
    heads = [c.value for c in book["差错"][1]]
    assert heads[:4] == ["来源", "差错类别", "原因", "说明"]
    assert {r[0] for r in errors if r[0]} == {"医药机构", "经办机构"}
    for r in errors:
        if r[0] is None:
            continue
        for text in r[1:4]:
            assert text and not re.search(r"[A-Za-z]{4,}", text.split("(")[0]), r[:4]
    totals = [r for r in book["对总账"].iter_rows(min_row=2, values_only=True) if r[0]]
    assert any(str(r[0]).startswith("310 职工基本医疗保险") for r in totals)
    pairs = book["明细"]
    assert pairs.page_setup.orientation == "landscape" and pairs.sheet_properties.pageSetUpPr.fitToPage
    assert pairs.page_setup.fitToHeight == 0  # fitted to one page wide, as many pages long as it takes
    assert pairs.print_title_rows == "$1:$1"  # the header row repeats on every printed page


def test_more_exceptions_than_the_sheet_lists_are_all_in_a_csv_excel_opens(tmp_path):
    run = tmp_path / "run"
    result = cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS, "--out", run,
                  "--no-statements", "--excel-exceptions", "50", "--json"], 1)
    held = json.loads(result.stdout)["held_records"]
    text = (run / "exceptions.csv").read_bytes().decode("gb18030")
    lines = text.splitlines()
    assert lines[0].startswith("来源,差错类别,原因,说明") and len(lines) == held + 1
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert {e["file"]: e.get("rows") for e in manifest["outputs"]}["exceptions.csv"] == held
    import openpyxl

    book = openpyxl.load_workbook(run / "statements.xlsx", read_only=True)
    assert any(r and r[0] and "exceptions.csv" in str(r[0]) for r in book["差错"].iter_rows(values_only=True))
    cli(["verify", run])
    small = tmp_path / "small"
    cli(["clear", "--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", *SAMPLE_ARGS, "--out", small,
         "--no-statements"], 1)
    assert not (small / "exceptions.csv").exists()
