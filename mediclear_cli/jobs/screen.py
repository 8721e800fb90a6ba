"""`mediclear screen`: the risk screens over one side's valid rows of the period."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediclear_cli import __version__, engine
from mediclear_cli.errors import ExitCode, UsageError
from mediclear_cli.inputs import resolve_paths
from mediclear_cli.jobs.common import (
    check_output,
    refuse_future,
    sized_session,
)
from mediclear_cli.manifest import hash_inputs, manifest_head, run_id_of
from mediclear_cli.periods import Period
from mediclear_cli.runfolder import RunFolder
from mediclear_cli.screen import ScreenOptions, screen_table
from mediclear_cli.sources import ReadOptions
from mediclear_cli.writers import write_json, write_parquet


def run_screen(claims: list[str], ledger: list[str], period: str, out: Path, options: ScreenOptions,
               memory_limit: str = "", temp_directory: str = "",
               read: ReadOptions | None = None) -> tuple[dict[str, Any], ExitCode]:
    """`mediclear screen`: the risk screens over one side's valid rows of the period (the ledger when given,
    else the claims): flags.parquet, screen_summary.json, manifest.json."""
    from mediclear_cli.inputs import load_side

    if not ledger and not claims:
        raise UsageError("screen needs --ledger or --claims")
    side, paths = ("ledger", ledger) if ledger else ("claims", claims)
    window = Period.parse(period)
    files = resolve_paths(paths, side)
    check_output(out, "screen", window.label, files)
    refuse_future(window)
    with sized_session(memory_limit, temp_directory, (side, [str(p) for p in files])) as con:
        engine.run(con, "macros")
        load_side(con, side, [str(p) for p in files], read=read)
        result = screen_table(con, side, "reject_reason IS NULL AND setl_time >= $start AND setl_time < $end",
                              {"start": window.start, "end": window.end}, options, side)
        summary = result.summary(options) | {"period": window.label, "tool_version": __version__}
        code = ExitCode.HELD if result.flags.num_rows else ExitCode.OK
        summary["exit_code"] = int(code)
        with RunFolder(out, "screen", window.label) as folder:
            folder.wrote("flags.parquet", write_parquet(result.flags, folder.path("flags.parquet")))
            write_json(summary, folder.path("screen_summary.json"))
            folder.wrote("screen_summary.json")
            inputs = hash_inputs({side: files})
            folder.write_manifest(manifest_head("screen", run_id_of(inputs, {"period": window.label, **options.__dict__}), {
                "period": window.label, **options.__dict__}, inputs, {}))
            folder.publish()
    return summary, code
