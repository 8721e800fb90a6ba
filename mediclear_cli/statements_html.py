"""Printable clearing statements (清算单): one self-contained A4 HTML page per clearing unit, an index of all
units, and — when a headless Chromium is on the machine — one PDF of them all.

Everything is read back from a finished run folder (so paper always matches a run that verifies) and written
into its `statements/` subfolder with its own manifest, which records the SHA-256 of the run's manifest.json:
the hash printed on every page. Charts are inline SVG; nothing loads from the network. Amounts are exact
decimals formatted with thousands separators; every total on a page is summed from the rows shown and
checked against the run's net positions before a page is written.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from mediclear_cli import __version__, schema
from mediclear_cli.errors import CheckFailed, InputNotFound, UsageError
from mediclear_cli.names import region_name
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.writers import file_entry, sha256_file, write_json, write_text

ZERO = Decimal("0.00")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

TEXT = {
    "zh": {
        "title": "异地就医直接结算清算单", "index": "清算单位净额一览", "unit": "清算单位", "period": "清算期间",
        "level": "清算层级", "province": "省级(跨省)", "pool": "统筹区级", "settlement": "结算方式",
        "central": "经清算中心", "bilateral": "双边轧差", "run": "运行ID", "manifest": "清单哈希(SHA-256)",
        "receivable": "应收", "payable": "应付", "net": "轧差净额", "records": "笔数",
        "summary": "清算汇总", "counterparties": "对方单位明细", "counterparty": "对方单位",
        "funds": "分账(按基金)", "fund": "基金", "prepaid": "预付金", "opening": "期初余额",
        "movement": "本期变动(净额)", "closing": "期末余额", "warning": "预警线", "topup": "应补足金额",
        "transfers": "划款指令", "payer": "付款方", "payee": "收款方", "amount": "金额",
        "held": "挂账事项", "role": "角色", "insured": "参保地", "care": "就医地", "side": "来源",
        "claims": "医药机构", "ledger": "经办机构", "category": "类别", "total": "合计",
        "signoff": "签章", "prepared": "经办", "checked": "复核", "approved": "审批", "sign": "签名",
        "date": "日期", "none": "无", "no_prepaid": "预付金文件中无此单位", "internal": "本单位内部(不轧差)",
        "chart": "对方单位净额", "chart_index": "各单位轧差净额", "page_of": "清算单",
        "receive_from": "收", "pay_to": "付", "carry": "挂账结转", "carried_in": "上期结转",
        "resolved": "本期解决(补清算)", "still_held": "仍挂账", "new_held": "本期新增", "held_after": "期末挂账",
        "annex": "附页", "see_annex": "明细见附页", "counterparties_n": "个对方单位", "held_n": "类挂账事项",
    },
    "en": {
        "title": "Cross-region settlement clearing statement", "index": "Net positions of all units",
        "unit": "Clearing unit", "period": "Period", "level": "Level", "province": "province (cross-province)",
        "pool": "pooling region", "settlement": "Settlement", "central": "through the clearing centre",
        "bilateral": "bilateral netting", "run": "Run id", "manifest": "Manifest SHA-256",
        "receivable": "Receivable", "payable": "Payable", "net": "Net", "records": "Records",
        "summary": "Summary", "counterparties": "By counterparty", "counterparty": "Counterparty",
        "funds": "Fund split", "fund": "Fund", "prepaid": "Prepaid fund", "opening": "Opening balance",
        "movement": "Movement (net)", "closing": "Closing balance", "warning": "Warning line",
        "topup": "Top-up due", "transfers": "Transfer instructions", "payer": "Payer", "payee": "Payee",
        "amount": "Amount", "held": "Held items", "role": "Role", "insured": "insured region",
        "care": "care region", "side": "Side", "claims": "hospital", "ledger": "agency", "category": "Category",
        "total": "Total", "signoff": "Sign-off", "prepared": "Prepared by", "checked": "Checked by",
        "approved": "Approved by", "sign": "Signature", "date": "Date", "none": "none",
        "no_prepaid": "no prepaid account for this unit in the prepaid file",
        "internal": "Internal to the unit (not netted)", "chart": "Net by counterparty",
        "chart_index": "Net position by unit", "page_of": "Statement", "receive_from": "receive",
        "pay_to": "pay", "carry": "Carried items (挂账)", "carried_in": "Carried in", "resolved": "Resolved (cleared late)",
        "still_held": "Still held", "new_held": "New this month", "held_after": "Held at month end",
        "annex": "annex", "see_annex": "detail on the annex page", "counterparties_n": "counterparties",
        "held_n": "held groups",
    },
}
CATEGORY_EN = {c: c.replace("_", " ") for c in schema.CATEGORIES}

CSS = """
@page { size: A4; margin: 10mm 11mm 12mm 11mm;
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 7pt; color: #555; } }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       sans-serif; font-size: 7.5pt; line-height: 1.25; color: #111; margin: 0; }
h1 { font-size: 13pt; margin: 0 0 1mm 0; }
h2 { font-size: 9pt; margin: 2mm 0 0.8mm 0; border-bottom: 1px solid #888; padding-bottom: 0.3mm;
     break-after: avoid; }
p { margin: 1mm 0; }
table { border-collapse: collapse; width: 100%; }
thead { display: table-header-group; }
tfoot { display: table-footer-group; }
tr { break-inside: avoid; }
th, td { border: 0.6px solid #999; padding: 0.25mm 1.2mm; text-align: left; vertical-align: top; }
th { background: #e8eef6; font-weight: 600; }
td.money, th.money { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.neg { color: #b00020; }
tr.total td { font-weight: 700; background: #f4f4f4; }
.meta td { border: none; padding: 0.3mm 3mm 0.3mm 0; }
.meta td:nth-child(odd) { color: #444; white-space: nowrap; }
.hash { font-family: monospace; font-size: 6.5pt; word-break: break-all; }
table.frame { border: none; }
table.frame > thead > tr > td, table.frame > tfoot > tr > td, table.frame > tbody > tr > td.caption,
table.frame:not(.list) > tbody > tr > td { border: none; padding: 0; }
.running { font-size: 7pt; color: #333; border-bottom: 0.6px solid #999; padding-bottom: 0.6mm; margin-bottom: 1.5mm; }
.running.foot { border-bottom: none; border-top: 0.6px solid #999; padding-top: 0.6mm; margin: 1.5mm 0 0 0; }
.statement { break-before: page; }
.statement:first-child { break-before: auto; }
.main { break-inside: avoid; }
.annex { break-before: page; }
.annex + .annex { break-before: auto; margin-top: 3mm; }
.cols { display: flex; gap: 4mm; }
.col { flex: 1 1 0; min-width: 0; }
.col.wide { flex: 1.4 1 0; }
.signoff { break-inside: avoid; break-before: avoid; }
.sign td { height: 11mm; width: 33%; }
.see { font-style: italic; }
td.bar { width: 22mm; border-left: none; padding: 1mm 0.5mm; }
td.bar span { display: block; height: 2.2mm; }
td.bar span.pos { background: #2f6db5; }
td.bar span.neg { background: #c0392b; }
svg { display: block; margin: 1mm 0; }
a { color: inherit; }
@media screen { body { max-width: 188mm; margin: 10mm auto; } .statement { margin-bottom: 12mm; } }
"""


def money(value: Any) -> str:
    """1234567.8 -> '1,234,567.80'; negatives keep a clear minus sign."""
    if value is None:
        return ""
    amount = Decimal(value)
    text = f"{abs(amount):,.2f}"
    return f"−{text}" if amount < 0 else text


def _money_td(value: Any) -> str:
    cls = "money neg" if value is not None and Decimal(value) < 0 else "money"
    return f'<td class="{cls}" data-amount="{html.escape(str(value) if value is not None else "")}">{money(value)}</td>'


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


def _head_row(headers: list[tuple[str, bool]]) -> str:
    """A table's column heads; (label, True) is a money column, right-aligned."""
    return "<tr>" + "".join(f'<th class="money">{_e(h)}</th>' if m else f"<th>{_e(h)}</th>" for h, m in headers) + "</tr>"


def _body_rows(rows: list[list[str]], total: list[str] | None) -> str:
    """A table's rows of cells, then its total row."""
    foot = f'<tr class="total">{"".join(total)}</tr>' if total else ""
    return "".join(f"<tr>{''.join(r)}</tr>" for r in rows) + foot


def _table(headers: list[tuple[str, bool]], rows: list[list[str]], total: list[str] | None = None) -> str:
    return f"<table><thead>{_head_row(headers)}</thead><tbody>{_body_rows(rows, total)}</tbody></table>"


CHART_BARS = 30  # an SVG cannot break across pages: beyond this many bars a chart would be cut when printed


def bar_chart(items: list[tuple[str, Decimal]], width: int = 640, limit: int = CHART_BARS) -> str:
    """A horizontal bar chart of signed amounts as inline SVG (no script, no network). At most `limit` bars —
    the largest in absolute value, in their original order — so the chart always fits on one A4 page; a
    caption says how many were left out (the table beside it lists them all)."""
    if not items:
        return ""
    caption = ""
    if len(items) > limit:
        keep = set(sorted(range(len(items)), key=lambda i: (-abs(items[i][1]), i))[:limit])
        caption = f"<p>{limit} largest of {len(items)} shown</p>"
        items = [item for i, item in enumerate(items) if i in keep]
    bar_h, gap, label_w = 14, 4, 150
    height = len(items) * (bar_h + gap) + 6
    biggest = max(abs(v) for _, v in items) or Decimal(1)
    half = (width - label_w - 110) / 2
    axis = label_w + half
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">',
             f'<line x1="{axis:.1f}" y1="0" x2="{axis:.1f}" y2="{height}" stroke="#666" stroke-width="0.8"/>']
    for i, (label, value) in enumerate(items):
        y = 3 + i * (bar_h + gap)
        length = float(abs(value) / biggest) * half
        x = axis if value >= 0 else axis - length
        colour = "#2f6db5" if value >= 0 else "#c0392b"
        parts.append(f'<text x="0" y="{y + bar_h - 3}" font-size="9">{_e(label)}</text>')
        parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(length, 0.5):.1f}" height="{bar_h}" fill="{colour}"/>')
        tx = axis + half + 6
        parts.append(f'<text x="{tx:.1f}" y="{y + bar_h - 3}" font-size="9">{_e(money(value))}</text>')
    parts.append("</svg>")
    return "".join(parts) + caption


def _read(run_dir: Path, name: str) -> list[dict[str, Any]]:
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, whose import alone took 0.34 s
    # of the 0.4 s these statements cost.
    path = run_dir / name
    return pq.ParquetFile(path).read().to_pylist() if path.is_file() else []


def _unit_label(code: str) -> str:
    name = region_name(code)
    return f"{code} {name}".strip()


MAIN_COUNTERPARTIES = 12  # the common case fits one A4 page with its sign-off; longer lists go to the annex
MAIN_HELD_ROWS = 12


def _running(ctx: dict[str, Any], t: dict[str, str], code: str, annex: bool = False) -> str:
    """The line every printed page carries (a repeated table header), so a signed sheet can always be matched
    to its unit, period, run and manifest."""
    part = f" · {t['annex']}" if annex else ""
    return (f'<div class="running"><span>{_e(t["title"])}{part}</span> <b>{_e(_unit_label(code))}</b> · '
            f'{t["period"]} {_e(ctx["period"])} · {t["run"]} {_e(ctx["run_id"])}<br>'
            f'<span class="hash">{t["manifest"]} {_e(ctx["manifest_sha256"])}</span></div>')


def _frame(head: str, body: str, columns: int = 1, cls: str = "frame", column_heads: str = "") -> str:
    """A table whose header and footer rows Chromium repeats on every page the table spans."""
    return (f'<table class="{cls}"><thead><tr><td colspan="{columns}">{head}</td></tr>{column_heads}</thead>'
            f'<tfoot><tr><td colspan="{columns}">{head.replace("running", "running foot")}</td></tr></tfoot>'
            f"<tbody>{body}</tbody></table>")


def _net_bar(value: Decimal, biggest: Decimal) -> str:
    """A small bar beside a counterparty's net: the chart, inside the table row, so it costs no page height."""
    width = 0 if not biggest else float(abs(value) / biggest) * 100
    cls = "pos" if value >= 0 else "neg"
    return f'<td class="bar"><span class="{cls}" style="width:{width:.1f}%"></span></td>'


def _statement(unit: dict[str, Any], ctx: dict[str, Any], t: dict[str, str]) -> str:
    """One unit's statement: a main page (totals, counterparties, fund split, prepaid, transfers, held items
    and the sign-off, kept together on one A4 page), then annex pages when a list is longer than the main
    page holds. Every page repeats the unit, period, run id and manifest hash."""
    code = unit["unit"]
    pairs = ctx["pairs"]
    by_party: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, Decimal(0), Decimal(0)])
    for p in pairs:
        if p["internal"]:
            continue
        if p["care_unit"] == code:
            row = by_party[p["insured_unit"]]
            row[0] += p["clr_amt"]
            row[2] += p["records"]
        if p["insured_unit"] == code:
            row = by_party[p["care_unit"]]
            row[1] += p["clr_amt"]
            row[3] += p["records"]
    biggest = max((abs(v[0] - v[1]) for v in by_party.values()), default=ZERO)
    party_rows = []
    sums = [ZERO, ZERO]
    for party in sorted(by_party):
        rec, pay, n_rec, n_pay = by_party[party]
        sums[0] += rec
        sums[1] += pay
        party_rows.append([f"<td>{_e(_unit_label(party))}</td>", _money_td(rec), _money_td(pay), _money_td(rec - pay),
                           f'<td class="money">{int(n_rec + n_pay):,}</td>', _net_bar(rec - pay, biggest)])
    if (sums[0], sums[1], sums[0] - sums[1]) != (unit["receivable"], unit["payable"], unit["net"]):
        raise CheckFailed(f"statement of {code}: counterparty totals do not add up to its net position")
    party_heads = [(t["counterparty"], False), (t["receivable"], True), (t["payable"], True), (t["net"], True),
                   (t["records"], True), ("", False)]
    party_total = [f"<td>{t['total']}</td>", _money_td(sums[0]), _money_td(sums[1]), _money_td(sums[0] - sums[1]),
                   f'<td class="money">{int(unit["receivable_records"] + unit["payable_records"]):,}</td>', "<td></td>"]
    annexes: list[str] = []
    counterparties = _main_or_annex(
        ctx, t, code, t["counterparties"], (party_heads, party_rows, party_total), MAIN_COUNTERPARTIES,
        f'{len(party_rows)} {t["counterparties_n"]}: {t["receivable"]} {money(sums[0])} · {t["payable"]} '
        f'{money(sums[1])} · {t["net"]} {money(sums[0] - sums[1])}', annexes)

    funds = [f for f in ctx["funds"] if f["unit"] == code]
    fund_total = sum((f["net"] for f in funds), ZERO)
    if fund_total != unit["net"]:
        raise CheckFailed(f"statement of {code}: fund split does not add up to its net position")
    fund_label = schema.FUND_LABELS_ZH if ctx["lang"] == "zh" else {f: f for f in schema.CLEARING_FUNDS}
    fund_table = _table(
        [(t["fund"], False), (t["receivable"], True), (t["payable"], True), (t["net"], True)],
        [[f"<td>{_e(fund_label.get(f['fund'], f['fund']))}</td>", _money_td(f["receivable"]), _money_td(f["payable"]),
          _money_td(f["net"])] for f in funds],
        [f"<td>{t['total']}</td>", _money_td(sum((f["receivable"] for f in funds), ZERO)),
         _money_td(sum((f["payable"] for f in funds), ZERO)), _money_td(fund_total)],
    ) if funds else f"<p>{t['none']}</p>"

    if "opening_balance" not in unit:
        prepaid = ""
    elif unit["opening_balance"] is None:
        prepaid = f"<h2>{t['prepaid']}</h2><p>{t['no_prepaid']}</p>"
    else:
        prepaid = f"<h2>{t['prepaid']}</h2>" + _table(
            [("", False), (t["amount"], True)],
            [[f"<td>{t[k]}</td>", _money_td(unit[field])] for k, field in (
                ("opening", "opening_balance"), ("movement", "net"), ("closing", "closing_balance"),
                ("warning", "warning_line"), ("topup", "topup_due"))],
        )

    moves = [m for m in ctx["transfers"] if code in (m["payer"], m["payee"])]
    transfer_table = _table(
        [(t["payer"], False), (t["payee"], False), (t["amount"], True)],
        [[f"<td>{_e(_unit_label(m['payer']))}</td>", f"<td>{_e(_unit_label(m['payee']))}</td>",
          _money_td(m["amount"])] for m in moves],
    ) if moves else f"<p>{t['none']}</p>"

    # Held items by side and category, with the unit's part as insured and as care region side by side.
    held: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, ZERO, 0, ZERO])
    for h in ctx["held"]:
        if h["unit"] == code:
            cell = held[(h["side"], h["category"])]
            offset = 0 if h["role"] == "insured" else 2
            cell[offset] += h["records"]
            cell[offset + 1] += h["clr_amt"]
    cat_label = schema.CATEGORY_LABELS_ZH if ctx["lang"] == "zh" else CATEGORY_EN
    order = {c: i for i, c in enumerate(schema.CATEGORIES)}
    held_rows = [[f"<td>{_e(t[side])}</td>", f"<td>{_e(cat_label.get(cat, cat))}</td>",
                  f'<td class="money">{v[0]:,}</td>', _money_td(v[1]), f'<td class="money">{v[2]:,}</td>',
                  _money_td(v[3])]
                 for (side, cat), v in sorted(held.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99)))]
    held_heads = [(t["side"], False), (t["category"], False), (f"{t['insured']} {t['records']}", True),
                  (f"{t['insured']} {t['amount']}", True), (f"{t['care']} {t['records']}", True),
                  (f"{t['care']} {t['amount']}", True)]
    held_sum = [sum((v[i] for v in held.values()), ZERO if i % 2 else 0) for i in range(4)]
    held_total = [f"<td>{t['total']}</td>", "<td></td>", f'<td class="money">{held_sum[0]:,}</td>',
                  _money_td(held_sum[1]), f'<td class="money">{held_sum[2]:,}</td>', _money_td(held_sum[3])]
    held_table = _main_or_annex(
        ctx, t, code, t["held"], (held_heads, held_rows, held_total), MAIN_HELD_ROWS,
        f'{len(held_rows)} {t["held_n"]}: {t["insured"]} {money(held_sum[1])} · {t["care"]} {money(held_sum[3])}',
        annexes)

    internal = ""
    if unit.get("internal_records"):
        internal = (f"<p>{t['internal']}: {int(unit['internal_records']):,} {t['records']}, "
                    f"{money(unit['internal_clr_amt'])}</p>")
    summary = _table(
        [(t["receivable"], True), (t["payable"], True), (t["net"], True), (t["records"], True)],
        [[_money_td(unit["receivable"]), _money_td(unit["payable"]), _money_td(unit["net"]),
          f'<td class="money">{int(unit["receivable_records"] + unit["payable_records"]):,}</td>']],
    )
    sign = _table([(t["prepared"], False), (t["checked"], False), (t["approved"], False)],
                  [[f"<td>{t['sign']}:<br><br>{t['date']}:</td>"] * 3])
    main = f"""<div class="main">
<h1>{_e(t['title'])}</h1>
<table class="meta"><tbody>
<tr><td>{t['unit']}</td><td><b>{_e(_unit_label(code))}</b></td><td>{t['period']}</td><td>{_e(ctx['period'])}</td>
<td>{t['level']} / {t['settlement']}</td><td>{_e(t[ctx['level']])} / {_e(t[ctx['settlement']])}</td></tr>
</tbody></table>
<h2>{t['summary']}</h2>{summary}{internal}
<h2>{t['counterparties']}</h2>{counterparties}
<div class="cols"><div class="col wide"><h2>{t['funds']}</h2>{fund_table}</div>
<div class="col">{prepaid}<h2>{t['transfers']}</h2>{transfer_table}</div></div>
<h2>{t['held']}</h2>{held_table}
<div class="signoff"><h2>{t['signoff']}</h2>{sign}</div>
</div>"""
    first = _frame(_running(ctx, t, code), f"<tr><td>{main}</td></tr>")
    return (f'<section class="statement" data-unit="{_e(code)}" data-net="{_e(unit["net"])}">{first}'
            + "".join(annexes) + "</section>")


def _main_or_annex(ctx: dict[str, Any], t: dict[str, str], code: str, title: str,
                   table: tuple[list[tuple[str, bool]], list[list[str]], list[str]], limit: int, totals_line: str,
                   annexes: list[str]) -> str:
    """A list on the main page when it fits there (`limit` rows); else one line with its totals on the main
    page and the whole list on an annex page (appended to `annexes`)."""
    heads, rows, total = table
    if not rows:
        return f"<p>{t['none']}</p>"
    if len(rows) <= limit:
        return _table(heads, rows, total)
    annexes.append(_annex_table(ctx, t, code, title, heads, rows, total))
    return f'<p class="see">{totals_line} — {t["see_annex"]}</p>'


def _annex_table(ctx: dict[str, Any], t: dict[str, str], code: str, title: str, heads: list[tuple[str, bool]],
                 rows: list[list[str]], total: list[str]) -> str:
    """A list too long for the main page, on annex pages of its own that repeat the running header."""
    caption = f'<tr><td colspan="{len(heads)}" class="caption"><h2>{_e(title)}</h2></td></tr>'
    return '<div class="annex">' + _frame(_running(ctx, t, code, annex=True), _body_rows(rows, total), len(heads),
                                           "frame list", caption + _head_row(heads)) + "</div>"


def _page(title: str, body: str, lang: str) -> str:
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{html_lang}"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n")


def build(run_dir: Path, lang: str = "zh") -> dict[str, str]:
    """The statement pages of a run folder: {file name: HTML}. Raises if the run is not a clearing run."""
    if lang not in TEXT:
        raise UsageError(f"--lang {lang!r}: expected zh or en")
    t = TEXT[lang]
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file() or not (run_dir / "net_positions.parquet").is_file():
        raise InputNotFound(f"{run_dir}: not a finished clearing run (no manifest.json / net_positions.parquet)")
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    ctx = {
        "lang": lang, "period": summary["period"], "level": summary["level"], "settlement": summary["settlement"],
        "run_id": summary["run_id"], "manifest_sha256": sha256_file(manifest_path),
        "pairs": _read(run_dir, "pair_totals.parquet"), "funds": _read(run_dir, "fund_split.parquet"),
        "transfers": _read(run_dir, "transfers.parquet"), "held": _read(run_dir, "held_by_unit.parquet"),
    }
    units = _read(run_dir, "net_positions.parquet")
    pages: dict[str, str] = {}
    sections = []
    for unit in units:
        section = _statement(unit, ctx, t)
        sections.append(section)
        pages[f"unit-{unit['unit']}.html"] = _page(f"{t['title']} {unit['unit']} {ctx['period']}", section, lang)
    total = sum((u["net"] for u in units), ZERO)
    if total != 0:
        raise CheckFailed(f"{run_dir}: net positions do not sum to zero; no statement written")
    rows = [[f'<td><a href="unit-{_e(u["unit"])}.html">{_e(_unit_label(u["unit"]))}</a></td>',
             _money_td(u["receivable"]), _money_td(u["payable"]), _money_td(u["net"])] for u in units]
    index = (
        f"<h1>{_e(t['index'])} · {_e(ctx['period'])}</h1>"
        f'<table class="meta"><tbody><tr><td>{t["run"]}</td><td class="hash">{_e(ctx["run_id"])}</td></tr>'
        f'<tr><td>{t["manifest"]}</td><td class="hash">{_e(ctx["manifest_sha256"])}</td></tr></tbody></table>'
        f"<h2>{t['chart_index']}</h2>" + bar_chart([(_unit_label(u["unit"]), u["net"]) for u in units])
        + _table([(t["unit"], False), (t["receivable"], True), (t["payable"], True), (t["net"], True)], rows,
                 [f"<td>{t['total']}</td>", _money_td(sum((u["receivable"] for u in units), ZERO)),
                  _money_td(sum((u["payable"] for u in units), ZERO)), _money_td(total)])
    )
    carry = summary.get("carry_forward")
    if carry:
        index += f"<h2>{t['carry']}</h2>" + _table(
            [("", False), (t["records"], True), (t["amount"], True)],
            [[f"<td>{_e(t[k])}</td>", f'<td class="money">{int(carry[k]["records"]):,}</td>',
              _money_td(Decimal(carry[k]["clr_amt"]))]
             for k in ("carried_in", "resolved", "still_held", "new_held", "held_after")])
    pages["index.html"] = _page(f"{t['index']} {ctx['period']}", index, lang)
    pages["all.html"] = _page(f"{t['title']} {ctx['period']}", "".join(sections), lang)
    return pages


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(chromium: str, source: Path, target: Path, scratch: Path) -> None:
    """Print an HTML file to PDF (A4, from the page's own @page rules) with headless Chromium."""
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={scratch.resolve()}", "--no-pdf-header-footer", f"--print-to-pdf={target.resolve()}",
            source.resolve().as_uri()]  # a file URI must be absolute: run folders are often given relative
    done = subprocess.run(args, capture_output=True, timeout=300, check=False)
    if done.returncode != 0 or not target.is_file():
        raise CheckFailed(f"{target}: Chromium could not print the statements (exit {done.returncode})")


def write_statements(folder_dir: Path, run_dir: Path, lang: str = "zh", pdf: str = "auto",
                     warnings: list[str] | None = None) -> dict[str, Any]:
    """Write the pages into `folder_dir` (a private folder about to be published) with their manifest; a PDF
    that `auto` could not print is reported in `warnings`."""
    warnings = [] if warnings is None else warnings
    pages = build(run_dir, lang)
    for name, text in pages.items():
        write_text(text, folder_dir / name)
    chromium = find_chromium() if pdf != "never" else None
    if pdf == "always" and chromium is None:
        raise UsageError("--pdf always: no Chromium found (install Debian's 'chromium' package)")
    if chromium is not None:
        scratch = folder_dir / ".chromium"
        try:
            print_pdf(chromium, folder_dir / "all.html", folder_dir / "statements.pdf", scratch)
        except (CheckFailed, OSError, subprocess.SubprocessError) as exc:
            if pdf == "always":
                raise
            # auto: a broken Chromium must not stop a month's clearing; the HTML pages print the same
            (folder_dir / "statements.pdf").unlink(missing_ok=True)
            warnings.append(f"no statements.pdf: {exc}; the HTML pages in statements/ print the same")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    manifest = {
        "tool": "mediclear", "tool_version": __version__, "lang": lang,
        "run_manifest_sha256": sha256_file(run_dir / "manifest.json"),
        "files": [file_entry(folder_dir / name, name) for name in sorted(p.name for p in folder_dir.iterdir())],
    }
    write_json(manifest, folder_dir / "manifest.json")
    return manifest


def statements_for_run(run_dir: Path, lang: str = "zh", pdf: str = "auto",
                       warnings: list[str] | None = None) -> dict[str, Any]:
    """`mediclear statements RUN_DIR`: (re)write RUN_DIR/statements atomically — never those of a closed month,
    whose printed statements were signed."""
    from mediclear_cli.errors import OutputError
    from mediclear_cli.runfolder import CLOSED_MARKER

    if (run_dir / CLOSED_MARKER).is_file():
        raise OutputError(f"{run_dir}: the run of a closed month; its statements were signed and are not rewritten "
                          "(reopen the month, two people, to print them again)")
    with RunFolder(run_dir / "statements") as folder:
        assert folder.tmp is not None
        manifest = write_statements(folder.tmp, run_dir, lang, pdf, warnings)
        folder.publish()
    return manifest
