"""Carry-forward (挂账) after a workspace run: what was carried in and how it ended, and what is held now.

Every item carried in (a side's rows of one setl_id) ends the run either still held or matched (late, and
cleared in this run with its original settlement month); a carried item that is neither is a lost record and
fails the run (exit 70) before anything is published. Items superseded by a new extract's row pass their
history (first month held) to it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from mediclear_cli import engine, schema
from mediclear_cli.engine import quote_ident, quote_literal
from mediclear_cli.errors import CheckFailed
from mediclear_cli.reconcile import CARRIED_COLUMNS, ReconResult

HELD = "category NOT IN ('matched', 'rejected')"


def _money(value: Any) -> Decimal:
    return Decimal(value if value is not None else "0.00")


def settle(con: duckdb.DuckDBPyConnection, recon: ReconResult) -> dict[str, Any]:
    """Build tables held_out (every row held after this run, with its first month held) and carry_outcomes
    (per carried item: held or matched_late); prove no carried item was lost; return the summary block."""
    period = recon.options.period.label
    carrying = bool(recon.carried)
    since = "LEFT JOIN key_since ks ON ks.setl_id = r.setl_id" if carrying else ""
    first = "coalesce(ks.first_period, $period)" if carrying else "$period"
    cols = ", ".join(f"r.{quote_ident(c)}" for c in CARRIED_COLUMNS if c not in ("certno", "psn_name"))
    # Personal data is not needed to match a late partner (certno and psn_name are not compared), so the
    # workspace keeps it masked: the store holds no more than the outputs show.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE held_out AS SELECT r.side, {first} AS first_period, r.category, r.reason, "  # noqa: S608 - identifiers quoted
        f"{cols}, mask_id(r.certno) AS certno, mask_name(r.psn_name) AS psn_name, r.clr_amt "
        f"FROM recon_held r {since} WHERE r.{HELD}",
        {"period": period},
    )
    block: dict[str, Any] = {"carried_from_period": None}
    held_after = con.execute("SELECT count(*), sum(clr_amt), count(*) FILTER (WHERE first_period = $p), "
                             "sum(clr_amt) FILTER (WHERE first_period = $p) FROM held_out", {"p": period}).fetchall()[0]
    items = con.execute("SELECT count(*) FROM (SELECT DISTINCT side, setl_id FROM held_out)").fetchall()[0][0]
    block["held_after"] = {"records": int(held_after[0]), "items": int(items), "clr_amt": _money(held_after[1])}
    block["new_held"] = {"records": int(held_after[2]), "clr_amt": _money(held_after[3])}
    if not carrying:
        con.execute("CREATE OR REPLACE TEMP TABLE carry_outcomes (side VARCHAR, setl_id VARCHAR, first_period VARCHAR, "
                    "carried_records BIGINT, carried_clr_amt DECIMAL(18,2), outcome VARCHAR, settled_month VARCHAR, "
                    "matched_records BIGINT, cleared_clr_amt DECIMAL(18,2), superseded_records BIGINT)")
        zero = {"records": 0, "clr_amt": Decimal("0.00")}
        return block | {"carried_in": zero, "resolved": zero, "still_held": zero, "superseded_records": 0}
    engine.run(con, "carry/outcomes")
    lost = con.execute("SELECT count(*) FROM carry_outcomes WHERE outcome = 'lost'").fetchall()[0][0]
    if lost:
        raise CheckFailed(f"carry-forward does not hold: {lost} item(s) carried in are neither held nor matched")
    for side in schema.SIDES:
        info = recon.carried.get(side, {})
        if info.get("carried_in", 0) != info.get("used", 0) + info.get("superseded", 0):
            raise CheckFailed(f"carry-forward does not hold on the {side} side: {info}")
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT outcome, count(*), sum(carried_records), sum(carried_clr_amt), sum(cleared_clr_amt) "
        "FROM carry_outcomes GROUP BY outcome").fetchall()}
    carried = con.execute("SELECT count(*), sum(clr_amt), min(first_period) FROM carried").fetchall()[0]
    resolved = rows.get("matched_late", (0, 0, None, None))
    still = rows.get("held", (0, 0, None, None))
    return block | {
        "carried_in": {"records": int(carried[0]), "clr_amt": _money(carried[1])},
        "oldest_carried_period": carried[2],
        "resolved": {"items": int(resolved[0]), "records": int(resolved[1] or 0), "clr_amt": _money(resolved[2]),
                     "cleared_clr_amt": _money(resolved[3])},
        "still_held": {"items": int(still[0]), "records": int(still[1] or 0), "clr_amt": _money(still[2])},
        "superseded_records": sum(recon.carried[s]["superseded"] for s in recon.carried),
    }


def write_files(con: duckdb.DuckDBPyConnection, folder: Path, stem: str) -> tuple[str, str]:
    """Write the held rows and the carried items' outcomes as Parquet (temporary name, fsync, rename).
    Returns the two file names."""
    import os

    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = []
    for suffix, query in (
        ("held", "SELECT * FROM held_out ORDER BY side, setl_id, source_file, source_row"),
        ("outcomes", "SELECT * FROM carry_outcomes ORDER BY side, setl_id"),
    ):
        final = folder / f"{stem}-{suffix}.parquet"
        temp = folder / f".{stem}-{suffix}.parquet.tmp"
        con.execute(f"COPY ({query}) TO {quote_literal(str(temp))} (FORMAT parquet, COMPRESSION zstd)")  # noqa: S608 - path quoted
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, final)
        names.append(final.name)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return names[0], names[1]
