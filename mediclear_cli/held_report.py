"""What is held (挂账) in a workspace, as finance reads it: a summary per clearing unit × category × age band
with money, the items themselves for `--detail`, and a workbook for the finance desk.

The words are fixed once here, because three figures about "held" are easy to confuse:
- held *records* (`clear`'s summary): every input row of the month that was not matched, rejected rows
  included;
- carried *rows* (`held_after.records`): the rows the workspace keeps for next month — the held records less
  the rejected ones (which are never carried: they cannot be matched), plus earlier months' rows still held;
- held *items* (this module, `mediclear held`): one per side × setl_id among the carried rows, less the
  items written off — what a person resolves, one at a time.
"""

from __future__ import annotations

import os
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from mediclear_cli import schema
from mediclear_cli.names import region_name
from mediclear_cli.writers import output_file

ZERO = Decimal("0.00")
# (upper bound in months inclusive, Chinese label, English label)
AGE_BANDS = ((0, "本月新增", "new this month"), (1, "1个月", "1 month"), (3, "2-3个月", "2-3 months"),
             (6, "4-6个月", "4-6 months"), (12, "7-12个月", "7-12 months"), (None, "12个月以上", "over 12 months"))
SIDE_ZH = {"claims": "医药机构", "ledger": "经办机构"}


def age_band(months: int) -> tuple[str, str]:
    for bound, zh, en in AGE_BANDS:
        if bound is None or months <= bound:
            return zh, en
    raise AssertionError("unreachable")


def unit_of(item: dict[str, Any], level: str) -> str:
    """The clearing unit an item waits in: its care region's (就医地, which advanced the money), by the code
    rule of the run's level; '-' when the row carries no care region (a claims row may not)."""
    code = item.get("mdtrtarea_admvs") or ""
    if len(code) != 6 or not code.isdigit():
        return "-"
    return code[:2] + "0000" if level == "province" else code[:4] + "00"


def summarise(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Per unit × category × age band: items, records and clr_amt; ordered by unit, category, age."""
    order = {zh: i for i, (_, zh, _) in enumerate(AGE_BANDS)}
    groups: dict[tuple[str, str, str, str], list[Any]] = defaultdict(lambda: [0, 0, ZERO])
    for item in state["items"]:
        zh, en = age_band(item["age_months"])
        key = (unit_of(item, state.get("level") or "province"), item["category"], zh, en)
        groups[key][0] += 1
        groups[key][1] += int(item["records"])
        groups[key][2] += Decimal(item["clr_amt"] or 0)
    cats = {c: i for i, c in enumerate(schema.CATEGORIES)}
    rows = []
    for (unit, category, zh, en), (items, records, amount) in sorted(
            groups.items(), key=lambda kv: (kv[0][0], cats.get(kv[0][1], 99), order[kv[0][2]])):
        rows.append({"unit": unit, "unit_name": region_name(unit) if unit != "-" else "", "category": category,
                     "category_zh": schema.CATEGORY_LABELS_ZH.get(category, category), "age_band": en,
                     "age_band_zh": zh, "items": items, "records": records, "clr_amt": amount})
    return rows


SUMMARY_HEADERS = (("unit", "清算单位"), ("unit_name", "单位名称"), ("category_zh", "类别"),
                   ("age_band_zh", "挂账时长"), ("items", "事项数"), ("records", "笔数"), ("clr_amt", "清算金额"))
DETAIL_HEADERS = (("side", "来源"), ("setl_id", "结算ID"), ("first_period", "首次挂账月份"),
                  ("age_months", "挂账月数"), ("category", "类别"), ("records", "笔数"), ("clr_amt", "清算金额"),
                  ("settled_month", "结算月份"), ("insuplc_admdvs", "参保地医保区划"),
                  ("mdtrtarea_admvs", "就医地医保区划"), ("fixmedins_code", "定点医药机构编号"))


def write_xlsx(state: dict[str, Any], rows: list[dict[str, Any]], path: Path) -> None:
    """汇总 and 明细 sheets with Chinese headers; every text cell written as a string (never a formula), money
    with two decimals. Written to a temporary name and renamed: the file appears whole or not at all."""
    import xlsxwriter

    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with output_file(temp) as handle:
            book = xlsxwriter.Workbook(handle, {"in_memory": True})
            bold = book.add_format({"bold": True, "bg_color": "#E8EEF6", "border": 1})
            money = book.add_format({"num_format": "#,##0.00"})
            title = book.add_format({"bold": True, "font_size": 13})
            for name, headers, records in (("汇总", SUMMARY_HEADERS, rows), ("明细", DETAIL_HEADERS, state["items"])):
                sheet = book.add_worksheet(name)
                sheet.write_string(0, 0, f"挂账事项 · 截至 {state['period'] or '-'} 清算后", title)
                for col, (_, label) in enumerate(headers):
                    sheet.write_string(2, col, label, bold)
                    sheet.set_column(col, col, 16)
                for r, record in enumerate(records, start=3):
                    for col, (key, _) in enumerate(headers):
                        value = record.get(key)
                        if key == "side":
                            value = SIDE_ZH.get(value, value)
                        elif key == "category":
                            value = schema.CATEGORY_LABELS_ZH.get(value, value)
                        if value is None:
                            continue
                        if key == "clr_amt":
                            sheet.write_number(r, col, Decimal(value), money)  # written as its decimal text, never via float
                        elif isinstance(value, int):
                            sheet.write_number(r, col, value)
                        else:
                            sheet.write_string(r, col, str(value))
                sheet.freeze_panes(3, 0)
                sheet.repeat_rows(2)
                sheet.set_landscape()
                sheet.set_paper(9)
                sheet.fit_to_pages(1, 0)
            book.close()
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
