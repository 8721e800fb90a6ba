"""The finance desk's Excel statement (statements.xlsx): Chinese headers, region names, money formats,
frozen header rows, one sheet each for 汇总, 净额, 分账, 明细, 划款, 差错 (plus 对总账).

Amounts are written from exact decimals with a two-decimal format; Excel keeps them exactly to the cent
below 90 trillion yuan. The workbook's creation time is fixed so reruns give byte-identical files. The
exceptions sheet holds at most `EXCEPTION_ROWS` rows; beyond that it says so and points to the Parquet file.
`clear` fills that sheet in a worker thread while DuckDB nets (`PendingStatement`); the cells are the same as
`write_statement`'s, which streams and is used for books too large to hold in memory.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb
import xlsxwriter

from mediclear_cli import schema
from mediclear_cli.names import region_name
from mediclear_cli.summary import RunSummary
from mediclear_cli.writers import output_file

# Finance staff work the exceptions sheet by hand; past this many rows the sheet lists the first ones (ordered
# by side, category and setl_id), says so, and points to exceptions.parquet, which always holds every row.
# Writing a million-row sheet takes minutes, so the default is modest and `--excel-exceptions` raises it.
EXCEPTION_ROWS = 20_000
SHEET_LIMIT = 1_048_575
FIXED_TIME = datetime(2000, 1, 1)
MONEY_FORMAT = "#,##0.00;[Red]-#,##0.00"

NET_HEADERS = {
    "unit": "清算单位",
    "unit_name": "单位名称",
    "receivable": "应收(作为就医地)",
    "payable": "应付(作为参保地)",
    "net": "轧差净额",
    "receivable_records": "应收笔数",
    "payable_records": "应付笔数",
    "internal_records": "内部笔数",
    "internal_clr_amt": "内部清算金额",
    "opening_balance": "预付金期初余额",
    "warning_line": "预警线",
    "closing_balance": "预付金期末余额",
    "topup_due": "应补足金额",
}
PAIR_HEADERS = {
    "insured_unit": "参保地单位",
    "insured_name": "参保地名称",
    "care_unit": "就医地单位",
    "care_name": "就医地名称",
    "internal": "本级内部",
    "records": "笔数",
    **{c: schema.BY_NAME[c].label_zh for c in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay")},
    "clr_amt": "清算金额",
    **{f: schema.FUND_LABELS_ZH[f] for f in schema.FUND_BREAKDOWN + ("unallocated",)},
}
TRANSFER_HEADERS = {
    "payer": "付款方",
    "payer_name": "付款方名称",
    "payee": "收款方",
    "payee_name": "收款方名称",
    "amount": "划款金额",
    "gross_payer_owes": "付款方应付总额",
    "gross_payee_owes": "收款方应付总额",
}
SPLIT_HEADERS = {
    "unit": "清算单位",
    "unit_name": "单位名称",
    "fund_label": "基金",
    "fund": "基金代码",
    "receivable": "应收",
    "payable": "应付",
    "net": "净额",
}
TOTALS_HEADERS = {
    "insutype": "险种类型",
    "clr_type": "清算类别",
    "claims_records": "机构笔数",
    "ledger_records": "中心笔数",
    "claims_medfee_sumamt": "机构医疗费总额",
    "ledger_medfee_sumamt": "中心医疗费总额",
    "claims_fund_pay_sumamt": "机构基金支付",
    "ledger_fund_pay_sumamt": "中心基金支付",
    "claims_acct_pay": "机构个账支付",
    "ledger_acct_pay": "中心个账支付",
    "balanced": "是否平衡",
}
EXCEPTION_HEADERS = {
    "side_label": "来源",
    "category_label": "差错类别",
    "reason_label": "原因",
    "detail_zh": "说明",
    "stmt_rslt": "对账结果",
    # the contract's columns under the labels schema.py declares for them
    **{c: schema.BY_NAME[c].label_zh for c in ("setl_id", "setl_time", "medfee_sumamt", "fund_pay_sumamt",
                                               "acct_pay", "insuplc_admdvs", "mdtrtarea_admvs", "fixmedins_code",
                                               "psn_no")},
    **{c: schema.BY_NAME[c].label_zh + "(脱敏)" for c in ("certno", "psn_name")},
    "source_file": "来源文件",
    "source_row": "行号",
}

POLICY_HEADERS = {
    "setl_id": "结算ID",
    "insuplc_admdvs": "参保地",
    "insured_name": "参保地名称",
    "mdtrtarea_admvs": "就医地",
    "setl_time": "结算时间",
    "inscp_scp_amt": "符合政策范围金额",
    "act_pay_dedc": "实际支付起付线",
    "expected_dedc": "应付起付线",
    "recorded_hifp_pay": "统筹基金实付",
    "expected_hifp_pay": "统筹基金应付",
    "difference": "差额(实付-应付)",
    "part": "差异环节",
    "policy_id": "适用政策",
}
POLICY_PARTS_ZH = {"deductible": "起付线", "ratio": "报销比例", "cap": "封顶线"}
FLAG_HEADERS = {
    "rule_id": "规则",
    "severity": "等级",
    "setl_ids": "结算ID",
    "psn_no": "人员编号",
    "certno": "证件号码(脱敏)",
    "insured_unit": "参保地单位",
    "evidence": "疑点说明",
    "money_at_stake": "涉及金额",
}


CELL_LIMIT = 32_767  # the characters an Excel cell holds


def fit_cell(text: str) -> str:
    """Text as a cell can hold it: a longer value is cut, and the cell says so (Excel would cut it silently)."""
    if len(text) <= CELL_LIMIT:
        return text
    note = f"…[截断: 原文 {len(text):,} 字符, 全文见 exceptions.parquet]"
    return text[: CELL_LIMIT - len(note)] + note


class _Book:
    def __init__(self, handle: Any, large: bool = True) -> None:
        # constant_memory streams each row to disk as it is written (rows are written strictly in order here);
        # for a book of modest size the in-memory mode is a quarter faster (shared strings: the side, category
        # and file names repeat on every row), so it is used up to STREAM_ABOVE exception rows.
        self.wb = xlsxwriter.Workbook(handle, {"constant_memory": large, "strings_to_numbers": False})
        self.wb.set_properties({"title": "异地就医清算单", "author": "mediclear", "created": FIXED_TIME})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                        "valign": "vcenter"})
        self.money = self.wb.add_format({"num_format": MONEY_FORMAT})
        self.money_bold = self.wb.add_format({"num_format": MONEY_FORMAT, "bold": True})
        self.bold = self.wb.add_format({"bold": True})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.time = self.wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})

    def cell(self, ws: Any, r: int, c: int, value: Any, bold: bool = False) -> None:
        if value is None:
            ws.write_blank(r, c, None)
        elif isinstance(value, bool):
            ws.write_string(r, c, "是" if value else "否")
        elif isinstance(value, Decimal):
            ws.write_number(r, c, value, self.money_bold if bold else self.money)
        elif isinstance(value, int):
            ws.write_number(r, c, value)
        elif isinstance(value, datetime):
            ws.write_datetime(r, c, value, self.time)
        elif isinstance(value, list):
            ws.write_string(r, c, fit_cell(", ".join(str(v) for v in value)))
        else:
            ws.write_string(r, c, fit_cell(str(value)))

    def _writer(self, ws: Any, kind: type) -> Callable[[int, int, Any], Any]:
        """What `cell` does for a value of type `kind` (not bold), as one call."""
        if kind is str:
            return lambda r, c, v: ws.write_string(r, c, fit_cell(v))
        if kind is Decimal:
            return lambda r, c, v: ws.write_number(r, c, v, self.money)
        if kind is int:
            return lambda r, c, v: ws.write_number(r, c, v)
        return lambda r, c, v: self.cell(ws, r, c, v)

    def table(self, sheet: Any, headers: dict[str, str], rows: Iterable[dict[str, Any]],
              totals: tuple[str, ...] = (), note: str | None = None) -> int:
        """Fill `sheet` (a worksheet made by `sheets`, or a name to add one now) with a header row and `rows`."""
        ws = self.wb.add_worksheet(sheet) if isinstance(sheet, str) else sheet
        keys = list(headers)
        for c, key in enumerate(keys):
            ws.write_string(0, c, headers[key], self.head)
            ws.set_column(c, c, 22 if key.endswith("name") or key in ("detail", "source_file") else 16)
        ws.freeze_panes(1, 0)
        # Printed, a wide sheet fits the page width in landscape and repeats its header row on every page.
        ws.set_landscape()
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(0)
        count = 0
        sums: dict[str, Decimal] = {k: Decimal("0.00") for k in totals}
        # One writer per (column, Python type), chosen once: the same cells as `cell`, without its chain of
        # isinstance tests for each of a sheet's hundreds of thousands of cells (with _exception_rows' column
        # selection, the 差错 sheet's 20,000 rows fill in 2.1 s instead of 3.3 s).
        writers: dict[tuple[int, type], Callable[[int, int, Any], Any]] = {}
        for count, row in enumerate(rows, start=1):
            for c, key in enumerate(keys):
                value = row.get(key)
                if value is None:
                    continue  # a blank cell without a format is no cell at all (xlsxwriter ignores it)
                writer = writers.get((c, type(value)))
                if writer is None:
                    writer = writers[(c, type(value))] = self._writer(ws, type(value))
                writer(count, c, value)
            for k in totals:
                sums[k] += row.get(k) or Decimal("0.00")
        if totals and count:
            ws.write_string(count + 1, 0, "合计", self.bold)
            for k in totals:
                self.cell(ws, count + 1, keys.index(k), sums[k], bold=True)
        if count:
            ws.autofilter(0, 0, count, len(keys) - 1)
        if note:
            ws.write_string(count + (3 if totals else 2), 0, note, self.bold)
        return count

    def close(self) -> None:
        self.wb.close()


STREAM_ABOVE = 100_000
FULL_LIST = "exceptions.csv"  # every exception, when the 差错 sheet cannot list them all


def needs_full_list(held: int, exception_rows: int) -> bool:
    return held > _sheet_rows(exception_rows)


def write_full_list(con: duckdb.DuckDBPyConnection, exceptions_sql: str, path: Path) -> int:
    """Every exception as a CSV that Excel and WPS open by double-click on a Chinese desktop: GB18030 (what
    they assume for a CSV without a BOM there), the 差错 sheet's Chinese headers and words, money as exact
    text, and a text cell that would start a formula (= + - @) kept text with a leading quote. Finance cannot
    open exceptions.parquet; this is its full copy. DuckDB writes it as UTF-8 beside it (much faster than row
    by row in Python), and it is transcoded as it is copied. Returns the rows written."""
    import codecs

    from mediclear_cli.engine import quote_ident, quote_literal

    keys = list(EXCEPTION_HEADERS) + ["clr_amt"]
    money = set(schema.MONEY_COLUMNS) | {"clr_amt"}

    def cell(key: str) -> str:
        q = quote_ident(key)
        if key in money or key == "source_row":
            return f"CAST({q} AS VARCHAR)"
        if key == "setl_time":
            return f"strftime({q}, '%Y-%m-%d %H:%M:%S')"
        text = f"CAST({q} AS VARCHAR)"
        quoted = "'''' || " + text  # SQL for: a ' in front
        return (f"CASE WHEN left({text}, 1) IN ('=', '+', '-', '@') AND TRY_CAST({text} AS DOUBLE) IS NULL "
                f"THEN {quoted} ELSE {text} END")

    select = ", ".join(f"{cell(k)} AS {quote_ident(EXCEPTION_HEADERS.get(k, '清算金额'))}" for k in keys)
    utf8 = path.with_name(f".{path.name}.utf8")
    try:
        con.execute(f"COPY (SELECT {select} FROM ({labelled_sql(exceptions_sql)})) TO {quote_literal(str(utf8))} "  # noqa: S608 - identifiers and path quoted
                    "(FORMAT csv, HEADER true)")
        rows = -1  # the header
        encoder = codecs.getincrementalencoder("gb18030")()
        with open(utf8, encoding="utf-8", newline="") as source, output_file(path) as handle:
            for chunk in iter(lambda: source.read(1 << 20), ""):
                rows += chunk.count("\n")
                handle.write(encoder.encode(chunk))
            handle.write(encoder.encode("", final=True))
    finally:
        utf8.unlink(missing_ok=True)
    return rows


CARRY_HEADERS = {
    "side_label": "来源", "setl_id": "结算ID", "first_period": "首次挂账期间", "settled_month": "结算月份",
    "outcome_label": "本期结果", "carried_records": "结转笔数",
    "carried_clr_amt": "结转金额", "matched_records": "补清算笔数", "cleared_clr_amt": "补清算金额",
    "superseded_records": "被新数据替换笔数",
}


def _named(rows: list[dict[str, Any]], register: dict[str, str], *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    for row in rows:
        for code_key, name_key in pairs:
            row[name_key] = region_name(row.get(code_key), register)
    return rows


def _sheet_names(carry: bool, flags: bool, policy: bool = False) -> list[str]:
    return ["汇总", "净额", "分账", "明细", "划款", "对总账", "差错"] + (["挂账结转"] if carry else []) + (
        ["稽核"] if flags else []) + (["政策核算"] if policy else [])


def _case(expr: str, labels: dict[str, str]) -> str:
    """SQL mapping `expr`'s codes to their labels (an unknown code stays as it is)."""
    from mediclear_cli.engine import quote_literal

    whens = " ".join(f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in labels.items())
    return f"CASE {expr} {whens} ELSE {expr} END"


def labelled_sql(exceptions_sql: str) -> str:
    """The exceptions with the words finance reads, computed in SQL for every row (the 差错 sheet and the full
    list share them): 来源, 差错类别, 原因 and 说明 in Chinese, columns named by their contract labels. The
    English codes stay in exceptions.parquet for scripts."""
    column_zh = {c.name: schema.column_label_zh(c.name) for c in schema.COLUMNS}
    reason_zh = {r.code: r.label_zh for r in schema.REJECT_REASONS} | schema.REASON_LABELS_ZH
    counts = r"regexp_extract(detail, '(\d+) claims row\(s\) and (\d+) ledger', ['c', 'l'])"
    rejected_column = _case("replace(detail, 'column ', '')", column_zh)
    differing = f"array_to_string(list_transform(diff_columns, lambda c: {_case('c', column_zh)}), '、')"
    detail = (
        "CASE category "
        f"WHEN 'rejected' THEN '字段 ' || {rejected_column} "
        f"WHEN 'duplicate' THEN '该结算ID在医药机构有 ' || {counts}.c || ' 笔、经办机构有 ' || {counts}.l || ' 笔' "
        r"WHEN 'out_of_period' THEN '该结算ID有记录不在清算期间 ' || regexp_extract(detail, '\d{4}-\d{2}') || ' 内' "
        "WHEN 'claim_only' THEN '经办机构台账中无此结算ID' "
        "WHEN 'ledger_only' THEN '医药机构结算明细中无此结算ID' "
        f"WHEN 'attr_mismatch' THEN '不一致字段: ' || {differing} "
        f"WHEN 'amount_mismatch' THEN '不一致字段: ' || {differing} "
        "ELSE detail END")
    return (f"SELECT *, {_case('side', schema.SIDE_SHORT_ZH)} AS side_label, "  # noqa: S608 - labels quoted; the inner query is ours
            f"{_case('category', schema.CATEGORY_LABELS_ZH)} AS category_label, "
            f"{_case('reason', reason_zh)} AS reason_label, {detail} AS detail_zh FROM ({exceptions_sql})")


PYLIST_SLICE = 1024  # rows converted to Python at a time (see _pylist)


def _pylist(batches: Iterable[Any]) -> Iterable[dict[str, Any]]:
    """The rows of Arrow batches as dicts, a slice at a time. Converting a whole batch is one call that holds
    the GIL throughout (0.5 s for the 差错 sheet's 20,000 rows): the worker filling the sheet then stopped the
    thread that nets and writes Parquet instead of running beside it."""
    for batch in batches:
        for start in range(0, batch.num_rows, PYLIST_SLICE):
            yield from batch.slice(start, PYLIST_SLICE).to_pylist()


def _exception_rows(batches: Iterable[Any]) -> Iterable[dict[str, Any]]:
    # only the sheet's 18 columns are converted to Python: the labelled rows carry 46
    yield from _pylist(batch.select([k for k in EXCEPTION_HEADERS if k in batch.schema.names]) for batch in batches)


OUTCOME_ZH = {"matched_late": "本期补清算", "held": "仍挂账"}


def _carried_rows(batches: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for row in _pylist(batches):
        row["side_label"] = schema.SIDE_SHORT_ZH[row["side"]]
        row["outcome_label"] = OUTCOME_ZH.get(row["outcome"], row["outcome"])
        yield row


def _sheet_rows(exception_rows: int) -> int:
    """The rows the 差错 sheet may list: as asked, within what a worksheet holds."""
    return max(0, min(exception_rows, SHEET_LIMIT))


def _held_queries(con: duckdb.DuckDBPyConnection, exceptions_sql: str, exception_rows: int,
                  carry: bool) -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation | None]:
    """The rows of the 差错 sheet and, with a workspace, of the 挂账结转 sheet."""
    exceptions = con.sql(labelled_sql(exceptions_sql) + f" LIMIT {int(exception_rows)}")
    carried = con.sql("SELECT * FROM carry_outcomes ORDER BY side, setl_id LIMIT $n",
                      params={"n": int(exception_rows)}) if carry else None
    return exceptions, carried


def _stream(relation: duckdb.DuckDBPyRelation) -> Iterable[Any]:
    """The relation's batches, its query run only when the first batch is wanted: a connection holds one
    open result at a time, so the 挂账结转 rows may be read only after the 差错 rows are drained."""
    yield from relation.to_arrow_reader(50_000)


def _new_book(handle: Any, large: bool, carry: bool, flags: bool, policy: bool = False) -> tuple[_Book, dict[str, Any]]:
    """A workbook with every sheet added up front, in the order readers see them, so they can be filled in
    any order."""
    book = _Book(handle, large)
    return book, {name: book.wb.add_worksheet(name) for name in _sheet_names(carry, flags, policy)}


def _fill_held(book: _Book, sheets: dict[str, Any], held: int, exception_rows: int, exceptions: Iterable[Any],
               carried: Iterable[Any] | None) -> None:
    """The 差错 sheet (and 挂账结转): the bulk of the workbook's cells."""
    note = None
    if held > exception_rows:
        note = (f"差错共 {held} 笔，本表仅列前 {exception_rows} 笔；完整清单见同一文件夹中的 {FULL_LIST}"
                f"（Excel/WPS 可直接打开，GB18030 编码）")
    book.table(sheets["差错"], EXCEPTION_HEADERS, _exception_rows(exceptions), note=note)
    if carried is not None:
        book.table(sheets["挂账结转"], CARRY_HEADERS, _carried_rows(carried),
                   totals=("carried_clr_amt", "cleared_clr_amt"),
                   note="上期结转的挂账事项及本期结果；期末挂账见 mediclear held (items carried in and how they ended)")


def write_statement(
    path: Path,
    summary: RunSummary,
    clearing: Any,
    totals: list[dict[str, Any]],
    con: duckdb.DuckDBPyConnection,
    exceptions_sql: str,
    register: dict[str, str],
    exception_rows: int = EXCEPTION_ROWS,
    flags: Any = None,
    policy: Any = None,
) -> None:
    """Write the workbook in one go, streaming the exceptions from DuckDB (any size; see `PendingStatement`
    for the faster way when the book is of modest size)."""
    exception_rows = _sheet_rows(exception_rows)
    carry = bool(summary.get("carry_forward"))
    with output_file(path) as handle:
        large = exception_rows > STREAM_ABOVE or len(clearing.pair_totals) > STREAM_ABOVE
        book, sheets = _new_book(handle, large, carry, flags is not None, policy is not None)
        exceptions, carried = _held_queries(con, exceptions_sql, exception_rows, carry)
        _fill_held(book, sheets, summary["held_records"], exception_rows, _stream(exceptions),
                   None if carried is None else _stream(carried))
        _fill_summary(book, sheets, summary, clearing, totals, register, flags, policy)
        book.close()


class PendingStatement:
    """statements.xlsx in two steps, so its largest part overlaps the netting: `start` fetches the rows of
    the 差错 and 挂账结转 sheets (a few MB) and fills those sheets in a worker thread — pure Python that
    touches no DuckDB connection — while the caller nets and writes Parquet; `finish` waits for it, fills
    the summary sheets and writes the file. Measured: about 0.5 s of a 1M-row run. For a book too large to
    hold in memory (`fits`), use `write_statement`, which streams."""

    def __init__(self, book: _Book, buffer: Any, sheets: dict[str, Any], future: Any) -> None:
        self.book, self.buffer, self.sheets, self.future = book, buffer, sheets, future

    @staticmethod
    def fits(exception_rows: int) -> bool:
        return _sheet_rows(exception_rows) <= STREAM_ABOVE

    @classmethod
    def start(cls, con: duckdb.DuckDBPyConnection, exceptions_sql: str, held: int, exception_rows: int,
              carry: bool, flags: bool, policy: bool = False) -> PendingStatement:
        import io
        from concurrent.futures import ThreadPoolExecutor

        exception_rows = _sheet_rows(exception_rows)
        exceptions, carried = _held_queries(con, exceptions_sql, exception_rows, carry)
        # fetched here, in the caller's thread: the worker must not touch the DuckDB connection
        exception_batches = exceptions.to_arrow_table().to_batches()
        carried_batches = None if carried is None else carried.to_arrow_table().to_batches()
        buffer = io.BytesIO()
        book, sheets = _new_book(buffer, False, carry, flags, policy)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xlsx")
        future = executor.submit(_fill_held, book, sheets, held, exception_rows, exception_batches, carried_batches)
        executor.shutdown(wait=False)  # the one task still runs; no other is accepted
        return cls(book, buffer, sheets, future)

    def finish(self, path: Path, summary: RunSummary, clearing: Any, totals: list[dict[str, Any]],
               register: dict[str, str], flags: Any = None, policy: Any = None) -> None:
        self.future.result()  # the worker's exception, if any, is raised here
        _fill_summary(self.book, self.sheets, summary, clearing, totals, register, flags, policy)
        self.book.close()
        with output_file(path) as handle:
            handle.write(self.buffer.getvalue())

def _fill_summary(book: _Book, sheets: dict[str, Any], summary: RunSummary, clearing: Any,
                  totals: list[dict[str, Any]], register: dict[str, str], flags: Any, policy: Any = None) -> None:
    ws = sheets["汇总"]
    ws.set_column(0, 0, 28)
    ws.set_column(1, 8, 18)
    ws.write_string(0, 0, f"异地就医直接结算清算单  {summary['period']}", book.title)
    info = [
        ("清算期间", summary["period"]),
        ("清算层级", {"province": "省级(跨省)", "pool": "统筹区级"}[summary["level"]]),
        ("结算方式", {"central": "经清算中心", "bilateral": "双边轧差"}[summary["settlement"]]),
        ("运行ID", summary["run_id"]),
        ("工具版本", summary["tool_version"]),
        ("清算笔数", summary["clearing"]["cleared_records"]),
        ("清算金额(基金+个账)", summary["clearing"]["cleared_clr_amt"]),
        ("跨单位清算金额", summary["clearing"]["cross_unit_clr_amt"]),
        ("内部笔数(不轧差)", summary["clearing"]["internal_records"]),
        ("内部金额(不轧差)", summary["clearing"]["internal_clr_amt"]),
        ("挂账笔数", summary["held_records"]),
        ("守恒校验", "通过" if summary["checks"]["conservation"] == "passed" else "未通过"),
    ]
    carry = summary.get("carry_forward")
    if carry:
        info += [
            ("上期结转挂账(笔/金额)", f"{carry['carried_in']['records']} / {carry['carried_in']['clr_amt']:,.2f}"),
            ("本期解决(补清算)", f"{carry['resolved']['records']} / {carry['resolved']['clr_amt']:,.2f}"),
            ("仍挂账(结转)", f"{carry['still_held']['records']} / {carry['still_held']['clr_amt']:,.2f}"),
            ("本期新增挂账", f"{carry['new_held']['records']} / {carry['new_held']['clr_amt']:,.2f}"),
            ("期末挂账合计", f"{carry['held_after']['records']} / {carry['held_after']['clr_amt']:,.2f}"),
        ]
    for r, (label, value) in enumerate(info, start=2):
        ws.write_string(r, 0, label, book.bold)
        book.cell(ws, r, 1, value)
    r = len(info) + 3
    heads = ["来源", "类别", "类别说明", "笔数", "医疗费总额", "基金支付总额", "个人账户支出", "清算金额"]
    for c, h in enumerate(heads):
        ws.write_string(r, c, h, book.head)
    for side in schema.SIDES:
        for cat in schema.CATEGORIES:
            r += 1
            v = summary["sides"][side]["categories"][cat]
            values = [schema.SIDE_LABELS[side], cat, schema.CATEGORY_LABELS_ZH[cat], v["records"],
                      v["medfee_sumamt"], v["fund_pay_sumamt"], v["acct_pay"], v["clr_amt"]]
            for c, value in enumerate(values):
                book.cell(ws, r, c, value)
        r += 1
        v = summary["sides"][side]["input"]
        values = [schema.SIDE_LABELS[side], "input", "输入合计", v["records"], v["medfee_sumamt"],
                  v["fund_pay_sumamt"], v["acct_pay"], v["clr_amt"]]
        for c, value in enumerate(values):
            book.cell(ws, r, c, value, bold=True)
    ws.freeze_panes(1, 0)

    nets = _named(clearing.net_positions.to_pylist(), register, ("unit", "unit_name"))
    net_headers = {k: v for k, v in NET_HEADERS.items() if k in nets[0] or k == "unit_name"} if nets else NET_HEADERS
    book.table(sheets["净额"], net_headers, nets, totals=("receivable", "payable", "net"))
    split = _named(clearing.fund_split.to_pylist(), register, ("unit", "unit_name"))
    for row in split:
        row["fund_label"] = schema.FUND_LABELS_ZH.get(row["fund"], row["fund"])
    book.table(sheets["分账"], SPLIT_HEADERS, split, totals=("receivable", "payable", "net"))
    pairs = _named(clearing.pair_totals.to_pylist(), register, ("insured_unit", "insured_name"),
                   ("care_unit", "care_name"))
    book.table(sheets["明细"], PAIR_HEADERS, pairs, totals=("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "clr_amt"))
    transfers = _named(clearing.transfers.to_pylist(), register, ("payer", "payer_name"), ("payee", "payee_name"))
    t_headers = {k: v for k, v in TRANSFER_HEADERS.items() if not k.startswith("gross") or
                 clearing.options.settlement == "bilateral"}
    book.table(sheets["划款"], t_headers, transfers, totals=("amount",))
    named_totals = [row | {"insutype": schema.coded_label(row.get("insutype"), schema.INSUTYPE_LABELS_ZH),
                           "clr_type": schema.coded_label(row.get("clr_type"), schema.CLR_TYPE_LABELS_ZH)}
                    for row in totals]
    book.table(sheets["对总账"], TOTALS_HEADERS, named_totals)
    if flags is not None:
        rows = flags.to_pylist()
        for row in rows:
            row["setl_ids"] = ", ".join(row["setl_ids"])
        book.table(sheets["稽核"], FLAG_HEADERS, rows[:SHEET_LIMIT], totals=("money_at_stake",))
    if policy is not None:
        policy_rows = policy.to_pylist()
        for row in policy_rows:
            row["part"] = POLICY_PARTS_ZH.get(row["part"], row["part"])
            row["insured_name"] = region_name(row["insuplc_admdvs"], register)
        book.table(sheets["政策核算"], POLICY_HEADERS, policy_rows[:SHEET_LIMIT], totals=("difference",),
                   note="按参保地政策(起付线、分段报销比例、年度封顶线)重算的统筹基金应付额与实付额不一致的结算"
                        "(policy_flags.parquet 有全部)")
