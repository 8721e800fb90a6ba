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
    return _log["format"] == "json"


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
    if is_json():
        log("error", "error", message=message, exit_code=exit_code)
        return
    err.print(f"mediclear: error: {message}", markup=False, highlight=False)


def note(message: str) -> None:
    if is_json():
        log("note", message=message)
        return
    err.print(message, markup=False, highlight=False)


def _end_stage(now: float) -> None:
    """Log how long the current stage took, if one is running."""
    if _log["stage"] is not None and _log["stage_started"] is not None:
        log("stage finished", duration_s=round(now - _log["stage_started"], 3))


def _json_stage(stage: str, **fields: Any) -> None:
    now = time.monotonic()
    if fields.get("run_id"):
        _log["run_id"] = fields["run_id"]
    _end_stage(now)
    _log["stage"], _log["stage_started"] = stage, now
    log("stage started", counts=fields or None)


@contextmanager
def stages(enabled: bool = True) -> Iterator[Any]:
    """A spinner naming the current stage; a no-op when stderr is not a terminal (cron, CI); log lines with
    --log-format json."""
    if is_json():
        yield _json_stage
        _end_stage(time.monotonic())
        _log["stage"] = None
        return
    if not enabled or not err.is_terminal:
        yield lambda _stage, **_fields: None
        return
    with err.status("starting") as status:
        yield lambda stage, **_fields: status.update(f"mediclear: {stage} …")


def finished(summary: dict[str, Any], code: int) -> None:
    """The run's last log line: counts, money, duration and exit code."""
    clearing = summary.get("clearing", {})
    log("run finished", exit_code=int(code), period=summary.get("period"), held_records=summary.get("held_records"),
        cleared_records=clearing.get("cleared_records"), cleared_clr_amt=clearing.get("cleared_clr_amt"),
        units=clearing.get("units"), workspace=summary.get("workspace"), out=summary.get("out"),
        duration_s=round(time.monotonic() - _log["started"], 3) if _log["started"] is not None else None)


def show_carry(summary: dict[str, Any]) -> None:
    carry = summary.get("carry_forward")
    if not carry or is_json():
        return
    ws = summary.get("workspace", {})
    line = (f"挂账 carried in {carry['carried_in']['records']} rows ({_money(carry['carried_in']['clr_amt'])}) "
            f"from {carry['carried_from_period'] or 'no earlier month'}: resolved {carry['resolved']['records']} "
            f"({_money(carry['resolved']['clr_amt'])}), still held {carry['still_held']['records']}; "
            f"held now {carry['held_after']['records']} rows ({_money(carry['held_after']['clr_amt'])}), "
            f"{carry['new_held']['records']} new this month")
    err.print(line, markup=False)
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


def show_recon(summary: dict[str, Any]) -> None:
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


def show_clearing(summary: dict[str, Any], net_positions: list[dict[str, Any]]) -> None:
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
    for warning in summary.get("warnings", []):
        err.print(f"warning: {warning}", markup=False)
    res = summary.get("resources")
    if res:
        err.print(f"peak memory {res['peak_rss_bytes'] / 2**20:,.0f} MiB (DuckDB limit {res['memory_limit']}); "
                  f"scratch on disk at most {res['scratch_bytes_max'] / 2**20:,.0f} MiB")


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
