"""Text (issue 7, part 3): full-width digits, ideographic and zero-width spaces, trailing blanks and a lower-case
x — in keys, region codes and ID numbers — are normalised so equal settlements match; what cannot be
normalised is rejected with a reason. Never a silent non-match."""

from __future__ import annotations

import duckdb
import pytest

from mediclear_cli.periods import Period
from mediclear_cli.reconcile import ReconOptions, reconcile

from conftest import row, write_rows

VARIANTS = [
    ("full-width digits", "５２０２００Ｇ０００１"),
    ("ideographic spaces around", "\u3000520200G0001\u3000"),
    ("trailing spaces and a tab", "520200G0001  \t"),
    ("no-break space", "\u00a0520200G0001"),
    ("zero-width space inside", "520200G\u200b0001"),
    ("byte-order mark in front", "\ufeff520200G0001"),
    ("left-to-right mark in front", "\u200e520200G0001"),
    ("right-to-left override inside", "520200G\u202e0001"),
    ("soft hyphen inside", "520200G\u00ad0001"),
    ("line separator at the end", "520200G0001\u2028"),
    ("NUL padding", "520200G0001\x00"),
]


@pytest.mark.parametrize(("what", "claims_id"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_keys_match_their_plain_partner(tmp_path, what, claims_id):
    c = write_rows(tmp_path / "c.parquet", [row(claims_id, insured="１５２９００", care=" 110105\u3000")])
    l = write_rows(tmp_path / "l.parquet", [row("520200G0001", insured="152900", care="110105")])
    con = duckdb.connect()
    reconcile(con, [str(c)], [str(l)], ReconOptions(Period.parse("2026-10")))
    got = con.sql("SELECT side, setl_id, category FROM recon_rows ORDER BY side").fetchall()
    assert got == [("claims", "520200G0001", "matched"), ("ledger", "520200G0001", "matched")], what


def test_region_code_that_stays_wrong_after_normalisation_is_rejected_not_mismatched(tmp_path):
    c = write_rows(tmp_path / "c.parquet", [row("A", insured="１５２９００")])
    l = write_rows(tmp_path / "l.parquet", [row("A", insured="15２9OO")])  # letter O, not zero
    con = duckdb.connect()
    reconcile(con, [str(c)], [str(l)], ReconOptions(Period.parse("2026-10")))
    got = con.sql("SELECT side, category, reason FROM recon_rows ORDER BY side").fetchall()
    assert got == [("claims", "claim_only", "not_in_ledger"), ("ledger", "rejected", "bad_region_code")]


def test_lower_case_x_in_id_numbers_is_upper_cased(tmp_path):
    path = write_rows(tmp_path / "l.parquet", [row("A", certno="11010519491231002x"),
                                               row("B", certno="１１０１０５１９４９１２３１００２ｘ")])
    con = duckdb.connect()
    from mediclear_cli.inputs import load_side

    load_side(con, "ledger", [str(path)])
    assert {r[0] for r in con.sql("SELECT certno FROM ledger").fetchall()} == {"11010519491231002X"}


# A reference written from the contract's words, not from the SQL: full-width ASCII folds to ASCII, the
# ideographic and no-break spaces become spaces, zero-width characters go, blanks at either end are trimmed,
# and nothing left means NULL. Names are only trimmed.
_ZERO_WIDTH = ("\u200b\u200c\u200d\u2060\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
               "\u00ad\u2028\u2029\x00\x1e\x1f")
_NAME_BLANKS = " \t\r\n\u3000\u00a0"


def _reference(text: str, fold: bool) -> str | None:
    if fold:
        chars = []
        for ch in text:
            if 0xFF01 <= ord(ch) <= 0xFF5E:
                chars.append(chr(ord(ch) - 0xFEE0))
            elif ch in "\u3000\u00a0":
                chars.append(" ")
            elif ch not in _ZERO_WIDTH:
                chars.append(ch)
        folded = "".join(chars)
        out = folded.strip(" \t\r\n") if folded.isascii() else folded.strip(_NAME_BLANKS)
    else:
        out = text.strip(_NAME_BLANKS)
    return out or None


_ALPHABET = "aZ09-_.G ｘ５Ｇ\t\r\n\u3000\u00a0\u200b\ufeff李\x7f\x1f!~\u200e\u202e\u00ad\u2028\x00"


@pytest.mark.parametrize("fold", [True, False], ids=["codes", "names"])
def test_normalisation_equals_the_reference_for_any_text(fold):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from mediclear_cli.inputs import normalise_text_sql

    con = duckdb.connect()
    sql = "SELECT " + normalise_text_sql("$v", fold) + " AS n"

    @settings(max_examples=400, deadline=None)
    @given(st.text(alphabet=_ALPHABET, max_size=8))
    def check(value):
        assert con.execute(sql, {"v": value}).fetchall()[0][0] == _reference(value, fold), repr(value)

    check()
