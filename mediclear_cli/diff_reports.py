"""Reports of a diff an auditor can attach to a working paper: a self-contained HTML page (no scripts, no
network) and an Excel workbook — the summary, the per-column table, and a sample of differing rows per
column. Every figure is read from the diff summary; the full detail is in diff_rows / diff_cells.parquet."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import xlsxwriter

from mediclear_cli.diff import plain
from mediclear_cli.writers import output_file, write_text

CSS = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:10pt;margin:12mm auto;max-width:250mm}
table{border-collapse:collapse;margin:2mm 0 6mm 0}th,td{border:1px solid #999;padding:1mm 2mm;text-align:left}
th{background:#e8eef6}td.n{text-align:right;font-variant-numeric:tabular-nums}h1{font-size:15pt}h2{font-size:12pt}"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _rows(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td class="n">{_e(v)}</td>' if i in numeric else f"<td>{_e(v)}</td>"
                                    for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_report(summary: dict[str, Any], samples: dict[str, list[dict[str, Any]]], path: Path) -> None:
    rows = summary["rows"]
    parts = [f"<h1>mediclear diff: {_e(summary['left'])} ↔ {_e(summary['right'])}</h1>",
             f"<p>Keys: {_e(', '.join(summary['keys']))}. "
             f"{'Identical.' if summary['identical'] else 'Differences found.'}</p>",
             "<h2>Rows</h2>", _rows(["status", "rows"], [[k, v] for k, v in rows.items()], {1}),
             "<h2>Totals per side</h2>",
             _rows(["side", "rows", *summary["totals"]["left"]["sums"]],
                   [[s, t["rows"], *t["sums"].values()] for s, t in summary["totals"].items()],
                   set(range(1, 2 + len(summary["totals"]["left"]["sums"])))),
             "<h2>Columns</h2>",
             _rows(["column", "kind", "rows differ", "sum of differences", "largest |difference|", "tolerance"],
                   [[c, v["kind"], v["rows_differ"], v.get("sum_difference", ""), v.get("max_abs_difference", ""),
                     v.get("tolerance", "")] for c, v in summary["columns"].items()], {2, 3, 4, 5})]
    if summary["only_left_columns"] or summary["only_right_columns"]:
        parts.append(f"<p>Only left: {_e(', '.join(summary['only_left_columns']))}; only right: "
                     f"{_e(', '.join(summary['only_right_columns']))}</p>")
    for column, sample in samples.items():
        if not sample:
            continue
        keys = summary["keys"]
        parts.append(f"<h2>Sample of differing rows: {_e(column)}</h2>")
        parts.append(_rows([*keys, "left", "right", "difference"],
                           [[*(s[k] for k in keys), s["left_value"], s["right_value"], plain(s["difference"])]
                            for s in sample], {len(keys) + 2}))
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>mediclear diff</title>'
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    write_text(page, path)


def _cell(sheet: Any, r: int, c: int, value: Any) -> None:
    """A count as a number, anything else as a string: never `write()`, which turns text starting with '='
    (a column named =HYPERLINK(...), say) into a live formula (issue 14)."""
    if isinstance(value, int) and not isinstance(value, bool):
        sheet.write_number(r, c, value)
    else:
        sheet.write_string(r, c, "" if value is None else str(value))


def xlsx_report(summary: dict[str, Any], samples: dict[str, list[dict[str, Any]]], path: Path) -> None:
    from datetime import datetime

    with output_file(path) as handle:
        book = xlsxwriter.Workbook(handle, {"strings_to_numbers": False})
        book.set_properties({"title": "mediclear diff", "created": datetime(2000, 1, 1)})
        bold = book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        sheet = book.add_worksheet("summary")
        sheet.set_column(0, 0, 28)
        sheet.set_column(1, 6, 20)
        facts = [("left", summary["left"]), ("right", summary["right"]), ("keys", ", ".join(summary["keys"])),
                 ("identical", "yes" if summary["identical"] else "no")]
        facts += [(f"rows {k}", v) for k, v in summary["rows"].items()]
        facts += [(f"{side} rows", t["rows"]) for side, t in summary["totals"].items()]
        for r, (label, value) in enumerate(facts):
            sheet.write_string(r, 0, label, bold)
            _cell(sheet, r, 1, value)
        cols = book.add_worksheet("columns")
        heads = ["column", "kind", "rows differ", "sum of differences", "largest |difference|", "tolerance"]
        for c, h in enumerate(heads):
            cols.write_string(0, c, h, bold)
        for r, (name, v) in enumerate(summary["columns"].items(), start=1):
            values = [name, v["kind"], v["rows_differ"], v.get("sum_difference"), v.get("max_abs_difference"),
                      v.get("tolerance")]
            for c, value in enumerate(values):
                _cell(cols, r, c, value)
        cols.freeze_panes(1, 0)
        sample_sheet = book.add_worksheet("samples")
        heads = ["column", *summary["keys"], "left", "right", "difference"]
        for c, h in enumerate(heads):
            sample_sheet.write_string(0, c, h, bold)
        r = 0
        for column, sample in samples.items():
            for s in sample:
                r += 1
                values = [column, *(s[k] for k in summary["keys"]), s["left_value"], s["right_value"],
                          plain(s["difference"])]
                for c, value in enumerate(values):
                    sample_sheet.write_string(r, c, "" if value is None else str(value))
        sample_sheet.freeze_panes(1, 0)
        book.close()
