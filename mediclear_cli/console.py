"""The only module that talks to people: Rich on stderr for progress, summaries and errors.

stdout is reserved for data (`--json`, `validate` listings); everything here goes to stderr, so a pipe of
stdout stays clean. Nothing prompts.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

from rich.console import Console
from rich.table import Table

from mediclear_cli import schema
from mediclear_cli.names import region_name

err = Console(stderr=True, highlight=False, soft_wrap=True)

# --log-format json: one JSON object per line on stderr (time, level, run_id, stage, event, counts, duration,
# exit code) instead of tables and spinners. Messages are the same one-liners people see, which by design
# never hold personal data; the log never receives rows.
_log: dict[str, Any] = {"format": "text", "run_id": None, "started": None, "stage": None, "stage_started": None}


def set_format(fmt: str) -> None:
    _log["format"] = fmt
    _log["started"] = time.monotonic()


def is_json() -> bool:
    return bool(_log["format"] == "json")


def log(event: str, level: str = "info", **fields: Any) -> None:
    """A structured log line (json format only)."""
    if not is_json():
        return
    record: dict[str, Any] = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "level": level,
        "run_id": fields.pop("run_id", None) or _log["run_id"],
        "stage": _log["stage"],
        "event": event,
    }
    if _log["started"] is not None:
        record["elapsed_s"] = round(time.monotonic() - _log["started"], 3)
    record |= {k: v for k, v in fields.items() if v is not None}
    sys.stderr.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    sys.stderr.flush()


def error(message: str, exit_code: int | None = None) -> None:
    from mediclear_cli.errors import one_line

    message = one_line(message)
    if is_json():
        log("error", "error", message=message, exit_code=exit_code)
        return
    err.print(f"mediclear: error: {message}", markup=False, highlight=False)


def warn(message: str) -> None:
    from mediclear_cli.errors import one_line

    message = one_line(message)
    if is_json():
        log("warning", "warning", message=message)
        return
    err.print(f"warning: {message}", markup=False, highlight=False)


def table_out(title: str, headers: list[str], rows: list[list[str]], right_from: int = 99) -> None:
    """A command's data as an aligned table on stdout (the data of `held`, for people; scripts use --json)."""
    out = Console(highlight=False, soft_wrap=False)
    table = Table(title=title, title_justify="left")
    for n, header in enumerate(headers):
        table.add_column(header, justify="right" if n >= right_from else "left")
    for row in rows:
        table.add_row(*row)
    out.print(table)


def note(message: str) -> None:
    if is_json():
        log("note", message=message)
        return
    err.print(message, markup=False, highlight=False)


def _end_stage(now: float) -> None:
    """Log how long the current stage took, and the rows it handled where its start said (issue 16: where a
    month's time goes, stage by stage), if one is running."""
    if _log["stage"] is not None and _log["stage_started"] is not None:
        rows = _log.get("stage_rows")
        log("stage finished", duration_s=round(now - _log["stage_started"], 3),
            **({} if rows is None else {"rows": rows}))


def _json_stage(stage: str, **fields: Any) -> None:
    fields.pop("watch", None)  # a connection to poll is for the terminal only
    fields.pop("count", None)  # and so is a tally to poll (sources.Tally)
    now = time.monotonic()
    if fields.get("run_id"):
        _log["run_id"] = fields["run_id"]
    _end_stage(now)
    _log["stage"], _log["stage_started"] = stage, now
    rows = fields.get("rows", fields.get("rows_total"))
    _log["stage_rows"] = rows if fields.get("unit") != "bytes" else None
    log("stage started", counts=fields or None)


class _Stages:
    """What a person watching a run sees on a terminal: each stage with its time once it ends, and while a side
    is read, rows read of the total its Parquet footers declare, with rate and time left (DuckDB's progress of
    the running query, polled from a thread: reading it never blocks the query)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=28),
                                 TextColumn("{task.fields[rows]}"), TextColumn("{task.fields[rate]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=err, transient=True)
        self.name: str | None = None
        self.started = 0.0
        self.task: Any = None
        self.total = 0
        self.stop_polling: Any = None

    def __call__(self, stage: str, watch: Any = None, rows_total: int | None = None, count: Any = None,
                 unit: str = "rows", **_fields: Any) -> None:
        self.end()
        self.name, self.started = stage, time.monotonic()
        self.total = int(rows_total or 0) if unit == "rows" else 0
        rows = f"of {self.total:,} rows" if self.total else ""
        total = int(rows_total or 0) or None
        self.task = self.progress.add_task(f"mediclear: {stage}", total=total, rows=rows, rate="")
        if watch is not None and self.total:
            self._poll(watch)
        elif count is not None:
            self._count(count, unit, total)

    def _count(self, count: Any, unit: str, total: int | None) -> None:
        """Progress reported by the stage itself through a tally it updates (sources.Tally: bytes decoded, the
        bar, then rows parsed, shown beside it)."""
        import threading

        stop = threading.Event()
        task, started = self.task, self.started

        def run() -> None:
            while not stop.wait(0.25):
                done = int(count.bytes)
                rate = done / max(time.monotonic() - started, 1e-3)
                shown = f"{done / 2**20:,.0f} MiB" + (f" / {total / 2**20:,.0f} MiB" if total else "")
                speed = f"{rate / 2**20:,.1f} MiB/s" + (f", {count.rows:,} rows parsed" if count.rows else "")
                self.progress.update(task, completed=min(done, total) if total else done, rows=shown, rate=speed)

        thread = threading.Thread(target=run, daemon=True, name="progress")
        thread.start()
        self.stop_polling = (stop, thread)

    def _poll(self, con: Any) -> None:
        import threading

        try:
            con.execute("SET enable_progress_bar = true")
            con.execute("SET enable_progress_bar_print = false")
        except Exception:  # noqa: BLE001 - progress is a nicety: a connection that refuses it just shows none
            return
        stop = threading.Event()
        task, total, started = self.task, self.total, self.started
        done_before = [0]

        def run() -> None:
            while not stop.wait(0.25):
                try:
                    share = con.query_progress()
                except Exception:  # noqa: BLE001 - the connection closed under us: the stage is over
                    return
                if share < 0:
                    continue
                # a side read in two queries (a raw copy, then the checks) restarts DuckDB's count: never go back
                done = max(done_before[0], int(total * min(share, 100.0) / 100))
                done_before[0] = done
                rate = done / max(time.monotonic() - started, 1e-3)
                self.progress.update(task, completed=done, rows=f"{done:,} / {total:,} rows",
                                     rate=f"{rate:,.0f} rows/s")

        thread = threading.Thread(target=run, daemon=True, name="progress")
        thread.start()
        self.stop_polling = (stop, thread)

    def end(self) -> None:
        if self.stop_polling is not None:
            stop, thread = self.stop_polling
            stop.set()
            thread.join()
            self.stop_polling = None
        if self.name is None:
            return
        self.progress.remove_task(self.task)
        took = time.monotonic() - self.started
        rows = f", {self.total:,} rows ({self.total / max(took, 1e-3):,.0f} rows/s)" if self.total else ""
        self.progress.console.print(f"  ✓ {self.name} {took:.1f} s{rows}", markup=False, highlight=False)
        self.name = None


@contextmanager
def stages(enabled: bool = True) -> Iterator[Any]:
    """Each stage with its time, and rows read of the total while the inputs are read; nothing when stderr is
    not a terminal (cron, CI); one JSON line per stage start and end with --log-format json."""
    if is_json():
        yield _json_stage
        _end_stage(time.monotonic())
        _log["stage"] = None
        return
    if not enabled or not err.is_terminal:
        yield lambda _stage, **_fields: None
        return
    tracker = _Stages()
    with tracker.progress:
        try:
            yield tracker
            tracker.end()
        finally:
            if tracker.stop_polling is not None:
                tracker.stop_polling[0].set()


def finished(summary: Any, code: int, notes: Any = None) -> None:
    """The run's last log line: counts, money, duration, exit code, and the notes summary.json leaves out
    (the workspace record, the output folder, the resources)."""
    clearing = summary.get("clearing", {})
    log("run finished", exit_code=int(code), period=summary.get("period"), held_records=summary.get("held_records"),
        cleared_records=clearing.get("cleared_records"), cleared_clr_amt=clearing.get("cleared_clr_amt"),
        units=clearing.get("units"), workspace=notes.workspace if notes else None,
        out=str(notes.out) if notes and notes.out else None, resources=notes.resources if notes else None,
        duration_s=round(time.monotonic() - _log["started"], 3) if _log["started"] is not None else None)


def show_carry(summary: Any, workspace: dict[str, Any] | None = None) -> None:
    carry = summary.get("carry_forward")
    if not carry or is_json():
        return
    ws = workspace or {}
    line = (f"挂账 carried in {carry['carried_in']['records']} rows ({_money(carry['carried_in']['clr_amt'])}) "
            f"from {carry['carried_from_period'] or 'no earlier month'}: resolved {carry['resolved']['records']} "
            f"({_money(carry['resolved']['clr_amt'])}), still held {carry['still_held']['records']}; "
            f"{carry['new_held']['records']} rows newly held this month")
    err.print(line, markup=False)
    # The three "held" figures people see, named and reconciled once (see held_report.py).
    rejected = summary.get("held_by_category", {}).get("rejected", 0)
    after = carry["held_after"]
    err.print(f"held: {summary['held_records']} records not matched this run (incl. {rejected} rejected, which are "
              f"reported but never carried) → {after['records']} rows carried to next month "
              f"({_money(after['clr_amt'])}) → {after.get('items', '?')} items (one per side × setl_id; what "
              "`mediclear held` counts)", markup=False)
    if ws:
        extra = ""
        if ws.get("repeat_of"):
            extra = f"; same inputs as run {ws['repeat_of']}" + (
                ", outputs reproduced" if ws.get("reproduced") else
                (", OUTPUTS DIFFER" if ws.get("reproduced") is False else ""))
        elif ws.get("supersedes"):
            extra = f"; supersedes run {ws['supersedes']}"
        err.print(f"workspace run {ws['run']}{extra}", markup=False)


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def show_recon(summary: Any) -> None:
    if is_json():
        return
    table = Table(title=f"reconciliation {summary['period']}", title_justify="left")
    table.add_column("category")
    for side in schema.SIDES:
        table.add_column(f"{side} rows", justify="right")
        table.add_column(f"{side} clr_amt", justify="right")
    for cat in schema.CATEGORIES:
        cells = [cat]
        for side in schema.SIDES:
            v = summary["sides"][side]["categories"][cat]
            cells += [str(v["records"]), _money(v["clr_amt"])]
        table.add_row(*cells)
    err.print(table)
    err.print(f"held records: {summary['held_records']}; totals view balanced: {summary['totals_view']['balanced']}")
    for warning in summary.get("warnings", []):
        err.print(f"warning: {warning}", markup=False)


def show_clearing(summary: Any, net_positions: list[dict[str, Any]], res: dict[str, Any] | None = None) -> None:
    if is_json():
        return
    c = summary["clearing"]
    table = Table(title=f"net positions ({summary['level']}, {summary['settlement']})", title_justify="left")
    for name, justify in (("unit", "left"), ("name", "left"), ("receivable", "right"), ("payable", "right"),
                          ("net", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in net_positions[:40]:
        table.add_row(row["unit"], region_name(row["unit"]), _money(row["receivable"]), _money(row["payable"]),
                      _money(row["net"]))
    if len(net_positions) > 40:
        table.add_row("…", f"{len(net_positions) - 40} more in net_positions.parquet", "", "", "")
    err.print(table)
    err.print(
        f"cleared {c['cleared_records']} records, clr_amt {_money(c['cleared_clr_amt'])} "
        f"(internal {c['internal_records']} records, {_money(c['internal_clr_amt'])}); "
        f"{c['transfers']} transfers totalling {_money(c['transfer_total'])}; Σ net = 0 checked"
    )
    if res:
        parts = res.get("partitions", 1)
        err.print(f"peak memory {res['peak_rss_bytes'] / 2**20:,.0f} MiB (DuckDB limit {res['memory_limit']}); "
                  f"scratch on disk at most {res['scratch_bytes_max'] / 2**20:,.0f} MiB"
                  + (f"; categorised in {parts} partitions by setl_id" if parts > 1 else ""))


def show_screen(summary: dict[str, Any]) -> None:
    if is_json():
        return
    table = Table(title=f"risk screens {summary['period']} ({summary['side']}, {summary['rows_screened']} rows)",
                  title_justify="left")
    for name, justify in (("rule", "left"), ("flags", "right"), ("settlements", "right"),
                          ("money at stake", "right"), ("note", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rule, info in summary["rules"].items():
        table.add_row(rule, str(info["flags"]), str(info["settlements"]), _money(info["money_at_stake"]),
                      info["skipped"] or "")
    err.print(table)
