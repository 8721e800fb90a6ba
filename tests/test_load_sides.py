"""Both sides load at the same time when every input is Parquet (inputs.load_sides): the tables are those of
loading the sides one after the other, and errors read as they would have."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mediclear_cli import engine
from mediclear_cli.errors import InputDataError
from mediclear_cli.inputs import load_side, load_sides

from conftest import row


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {side: con.sql(f"SELECT * FROM {side} ORDER BY source_file, source_row").fetchall()  # noqa: S608 - constant
            for side in ("claims", "ledger")}


def test_both_sides_at_once_load_what_one_after_the_other_loads(generated: Path):
    paths = {side: [str(generated / side)] for side in ("claims", "ledger")}
    with engine.session(in_memory=True) as con:
        engine.run(con, "macros")
        together = load_sides(con, paths)
        at_once = _tables(con)
    with engine.session(in_memory=True) as con:
        engine.run(con, "macros")
        apart = {side: load_side(con, side, p) for side, p in paths.items()}
        in_order = _tables(con)
    assert at_once == in_order
    assert len(at_once["claims"]) > 1000 and len(at_once["ledger"]) > 1000
    for side in paths:
        assert (together[side].rows, together[side].footer_rows, together[side].extras) == (
            apart[side].rows, apart[side].footer_rows, apart[side].extras)


def test_when_both_sides_are_unreadable_the_claims_error_is_the_one_reported(month, tmp_path: Path):
    claims, ledger = month([row("A")], [row("A")])
    bad_claims, bad_ledger = tmp_path / "c.parquet", tmp_path / "l.parquet"
    bad_claims.write_bytes(b"not parquet at all")
    bad_ledger.write_bytes(b"PAR1 nor this")
    with engine.session(in_memory=True) as con, pytest.raises(InputDataError) as raised:
        load_sides(con, {"claims": [str(bad_claims)], "ledger": [str(ledger)]})
    assert str(bad_claims) in str(raised.value)
    with engine.session(in_memory=True) as con, pytest.raises(InputDataError) as raised:
        load_sides(con, {"claims": [str(claims)], "ledger": [str(bad_ledger)]})
    assert str(bad_ledger) in str(raised.value)
    with engine.session(in_memory=True) as con, pytest.raises(InputDataError) as raised:
        load_sides(con, {"claims": [str(bad_claims)], "ledger": [str(bad_ledger)]})
    assert str(bad_claims) in str(raised.value)
