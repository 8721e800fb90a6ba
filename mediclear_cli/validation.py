"""`mediclear validate`: the row checks of contract §2 alone, listing every rejected row; writes nothing."""

from __future__ import annotations

from typing import Any

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident
from mediclear_cli.errors import UsageError
from mediclear_cli.inputs import load_side
from mediclear_cli.sources import ReadOptions


def validate_paths(paths: list[str], side: str, read: ReadOptions | None = None) -> tuple[list[dict[str, Any]], int]:
    if side not in schema.SIDES:
        raise UsageError(f"--side {side!r}: expected claims or ledger")
    with engine.session() as con:
        engine.run(con, "macros")
        loaded = load_side(con, side, paths, read=read)
        rows = con.execute(
            f"SELECT source_file, source_row, reject_column, reject_reason, setl_id FROM {quote_ident(side)} "  # noqa: S608 - identifier quoted
            "WHERE reject_reason IS NOT NULL ORDER BY source_file, source_row"
        ).fetchall()
    # The column as the file names it (an alias such as insu_admdvs), with the contract's name beside it.
    rejects = [
        {"file": f, "row": r, "column": loaded.source_names.get(f, {}).get(c, c), "contract_column": c,
         "reason": reason, "setl_id": setl_id, "explanation": schema.REJECT_BY_CODE[reason].text}
        for f, r, c, reason, setl_id in rows
    ]
    return rejects, loaded.rows
