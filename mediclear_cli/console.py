"""The only module that talks to people: Rich on stderr for progress, summaries and errors.

stdout is reserved for data (`--json`, `validate` listings); everything here goes to stderr, so a pipe of
stdout stays clean. Nothing prompts.
"""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Iterator

from rich.console import Console
from rich.table import Table

from mediclear_cli import schema
from mediclear_cli.names import region_name

err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    err.print(f"mediclear: error: {message}", markup=False, highlight=False)


def note(message: str) -> None:
    err.print(message, markup=False, highlight=False)


@contextmanager
def stages(enabled: bool = True) -> Iterator[Any]:
    """A spinner naming the current stage; a no-op when stderr is not a terminal (cron, CI)."""
    if not enabled or not err.is_terminal:
        yield lambda _stage: None
        return
    with err.status("starting") as status:
        yield lambda stage: status.update(f"mediclear: {stage} …")


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


def show_recon(summary: dict[str, Any]) -> None:
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
    table = Table(title=f"risk screens {summary['period']} ({summary['side']}, {summary['rows_screened']} rows)",
                  title_justify="left")
    for name, justify in (("rule", "left"), ("flags", "right"), ("settlements", "right"),
                          ("money at stake", "right"), ("note", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rule, info in summary["rules"].items():
        table.add_row(rule, str(info["flags"]), str(info["settlements"]), _money(info["money_at_stake"]),
                      info["skipped"] or "")
    err.print(table)
