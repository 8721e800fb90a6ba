"""The run summary, typed: what summary.json holds (and what `--json` prints, byte for byte), and apart
from it, the figures only people read (where the run went, what it used, its workspace record).

summary.json is a data output: a repeat of a run reproduces it byte for byte. So nothing that differs
between repeats — the workspace's run number, the machine's memory, the output folder — is in it; those
travel in `RunNotes` to the console and the JSON log, and the workspace record is in the store
(`mediclear runs`, `mediclear show`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict


class SideSummary(TypedDict):
    files: int
    input: dict[str, Any]  # records and money read
    categories: dict[str, dict[str, Any]]  # per category: records and money


class ClearingSummary(TypedDict):
    cleared_records: int
    cleared_clr_amt: Decimal
    internal_records: int
    internal_clr_amt: Decimal
    cross_unit_clr_amt: Decimal
    units: int
    transfers: int
    transfer_total: Decimal
    topups_due: list[dict[str, Any]]


class RunSummary(TypedDict, total=False):
    """summary.json of `clear` and `reconcile` (the first block of keys is always there)."""

    command: str
    tool_version: str
    run_id: str
    period: str
    window: list[datetime]
    tolerance: Decimal
    sides: dict[str, SideSummary]
    held_records: int
    held_by_category: dict[str, int]
    totals_view: dict[str, Any]
    checks: dict[str, Any]
    warnings: list[str]
    exit_code: int
    # clear only
    level: str
    settlement: str
    prepaid: bool
    clearing: ClearingSummary
    carry_forward: dict[str, Any]  # with a workspace: carried in, resolved, still held, held after
    screen: dict[str, Any]  # with --screen: flags and skipped rules
    platform_compare: dict[str, Any]  # reconcile --platform-result: the platform's verdicts against ours
    policy: dict[str, Any]  # clear --policy: the policy check's summary block


@dataclass
class RunNotes:
    """What people read about a run beside its summary: never in summary.json."""

    out: Path | None = None
    resources: dict[str, Any] = field(default_factory=dict)  # peak memory, scratch, DuckDB's limit
    notices: list[str] = field(default_factory=list)  # warnings printed after the tables (a PDF not printed…)
    workspace: dict[str, Any] | None = None  # the store's record: run, carried_from, repeat_of, reproduced…

