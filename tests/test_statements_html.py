"""Printable statements (issue 8): totals that add up on every page, both languages, the statements'
own manifest tied to the run, and — where Chromium is installed — the real print: page count, the nets on
the printed pages, and a screenshot kept for people to look at."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from decimal import Decimal as D
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mediclear_cli.jobs import JobSpec, run_clear
from mediclear_cli.statements_html import bar_chart, build, find_chromium, money
from mediclear_cli.verify import verify_run

from conftest import REPO, SAMPLE, cli

ARTIFACTS = Path(os.environ.get("MEDICLEAR_ARTIFACTS", REPO / "test-artifacts"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("st") / "run"
    run_clear(JobSpec([str(SAMPLE / "claims")], [str(SAMPLE / "ledger")], "2026-10", out,
                      regions=str(SAMPLE / "regions.parquet"), prepaid=str(SAMPLE / "prepaid.parquet")))
    return out


def amounts(fragment: str) -> list[D]:
    return [D(a) for a in re.findall(r'data-amount="(-?[0-9.]+)"', fragment)]


def test_money_has_thousands_separators_two_decimals_and_a_clear_minus():
    assert money(D("1234567.8")) == "1,234,567.80"
    assert money(D("-0.05")) == "−0.05"
    assert money(D("0")) == "0.00"


def test_every_unit_page_adds_up_to_its_net_position(run_dir):
    pages = build(run_dir)
    nets = {r["unit"]: r for r in pq.read_table(run_dir / "net_positions.parquet").to_pylist()}
    assert set(pages) == {f"unit-{u}.html" for u in nets} | {"index.html", "all.html"}
    for unit, row in nets.items():
        page = pages[f"unit-{unit}.html"]
        counterparties = page.split("</table>")[2]  # meta, summary, then the counterparty table
        totals = amounts(counterparties.split('class="total"')[1])
        body = amounts(counterparties.split('class="total"')[0])
        assert totals == [row["receivable"], row["payable"], row["net"]]
        assert sum(body[0::3]) == row["receivable"] and sum(body[1::3]) == row["payable"]
        assert f'data-net="{row["net"]}"' in page


def test_index_lists_every_unit_and_its_total_is_zero(run_dir):
    index = build(run_dir)["index.html"]
    assert amounts(index.split('class="total"')[1])[-1] == 0
    assert index.count('href="unit-') == pq.ParquetFile(run_dir / "net_positions.parquet").metadata.num_rows
    assert "<script" not in index and "http" not in index.replace("http://www.w3.org/2000/svg", "")


def test_english_statements(run_dir):
    page = build(run_dir, "en")["unit-150000.html"]
    assert "Transfer instructions" in page and "Prepared by" in page and 'lang="en"' in page


def test_bar_chart_draws_one_bar_per_item_and_signs_colours():
    svg = bar_chart([("A", D("10.00")), ("B", D("-5.00"))])
    assert svg.count("<rect") == 2 and "#c0392b" in svg and "#2f6db5" in svg


def test_bar_chart_keeps_the_largest_bars_so_it_fits_a_page():
    items = [(f"U{i:03d}", D(i - 50)) for i in range(100)]  # -50 .. 49
    svg = bar_chart(items, limit=10)
    assert svg.count("<rect") == 10 and "10 largest of 100 shown" in svg
    labels = [label for label, _ in items if f">{label}<" in svg]
    # |-50| .. |-46| and |49| .. |46| are the nine largest; of the two |45|s the earlier (U005) is kept
    assert labels == ["U000", "U001", "U002", "U003", "U004", "U005", "U096", "U097", "U098", "U099"]


def test_statements_are_tied_to_their_run_and_verify_checks_them(run_dir, tmp_path):
    assert verify_run(run_dir, check_inputs=False) == []
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    page = copy / "statements" / "unit-150000.html"
    page.write_text(page.read_text(encoding="utf-8").replace("data-net", "data-nett"), encoding="utf-8")
    assert any("unit-150000.html" in p for p in verify_run(copy, check_inputs=False))


def test_statements_command_rewrites_them_for_an_existing_run(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "statements")
    cli(["statements", copy, "--lang", "en", "--pdf", "never"], 0)
    assert "Clearing unit" in (copy / "statements" / "unit-110000.html").read_text(encoding="utf-8")
    assert verify_run(copy, check_inputs=False) == []
    cli(["statements", tmp_path / "nowhere"], 66)


needs_chromium = pytest.mark.skipif(find_chromium() is None or shutil.which("pdftotext") is None,
                                    reason="needs Debian's chromium and poppler-utils (installed by .ci/run)")


@needs_chromium
def test_printed_statements_in_a_real_browser(run_dir, tmp_path):
    copy = tmp_path / "printed"
    shutil.copytree(run_dir, copy)
    cli(["statements", copy, "--pdf", "always"], 0)
    pdf = copy / "statements" / "statements.pdf"
    nets = pq.read_table(copy / "net_positions.parquet").to_pylist()
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                                text=True).stdout).group(1))
    assert len(nets) <= pages <= 3 * len(nets)  # every unit starts a new page; none runs past three pages
    starts = 0
    for number in range(1, pages + 1):
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), "-layout", str(pdf), "-"],
                              capture_output=True, text=True).stdout
        if text.lstrip().startswith("异地就医直接结算清算单"):
            unit = nets[starts]
            assert unit["unit"] in text  # the unit printed on its first page
            assert money(unit["net"]) in text  # its net, as printed, equals the run's net position
            starts += 1
    assert starts == len(nets)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "statement-150000.png"
    subprocess.run([find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=794,1500",
                    f"--screenshot={shot}", (copy / "statements" / "unit-150000.html").as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000
