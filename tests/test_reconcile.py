"""Contract §3: one category per input row, with the stated precedence, stmt_rslt and differing columns;
the accounting identity; properties over generated months; the sample generator's labels."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal as D
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediclear_cli.errors import CheckFailed
from mediclear_cli.periods import Period
from mediclear_cli.reconcile import DIFF_COLUMNS_SQL, ReconOptions, check_accounting, reconcile

import oracle
from conftest import row, write_rows

OCT = Period.parse("2026-10")


def run(claims_path: Path, ledger_path: Path, tolerance: str = "0.00"):
    con = duckdb.connect()
    result = reconcile(con, [str(claims_path)], [str(ledger_path)], ReconOptions(OCT, D(tolerance)))
    rows = con.sql(
        f"SELECT side, setl_id, category, stmt_rslt, {DIFF_COLUMNS_SQL}, reason FROM recon_rows "  # noqa: S608 - constant
        "ORDER BY side, source_row"
    ).fetchall()
    return result, rows


def cats(rows) -> dict[tuple[str, str], str]:
    return {(r[0], r[1]): r[2] for r in rows}


def test_identical_rows_match_with_stmt_rslt_0(month):
    _, rows = run(*month([row("A")], [row("A")]))
    assert [(r[0], r[2], r[3]) for r in rows] == [("claims", "matched", "0"), ("ledger", "matched", "0")]


def test_duplicate_setl_id_holds_all_rows_on_both_sides(month):
    _, rows = run(*month([row("A")], [row("A"), row("A")]))
    assert [r[2] for r in rows] == ["duplicate"] * 3


def test_duplicate_beats_out_of_period(month):
    _, rows = run(*month([row("A", when="2026-09-30 23:59:59")], [row("A"), row("A")]))
    assert [r[2] for r in rows] == ["duplicate"] * 3


def test_a_row_outside_the_window_holds_every_row_of_its_setl_id(month):
    _, rows = run(*month([row("A", when="2026-11-01 00:00:00")], [row("A", when="2026-10-31 23:59:59")]))
    assert [r[2] for r in rows] == ["out_of_period", "out_of_period"]


def test_window_is_half_open(month):
    _, rows = run(*month([row("A", when="2026-10-01 00:00:00")], [row("A", when="2026-10-01 00:00:00")]))
    assert [r[2] for r in rows] == ["matched", "matched"]


def test_one_sided_records_get_their_side_and_platform_codes(month):
    _, rows = run(*month([row("C")], [row("L")]))
    assert [(r[0], r[2], r[3]) for r in rows] == [("claims", "claim_only", "2"), ("ledger", "ledger_only", "1")]


def test_attribute_difference_beats_amount_difference_and_lists_both(month):
    _, rows = run(*month([row("A", medfee="101.00", med_type="11")], [row("A", med_type="14")]))
    assert rows[0][2] == "attr_mismatch" and rows[0][3] == "3"
    assert rows[0][4] == ["med_type", "medfee_sumamt"]


def test_attribute_compared_only_where_both_sides_hold_a_value(month):
    _, rows = run(*month([row("A", psn_no=None, insured=None)], [row("A", psn_no="P1")]))
    assert [r[2] for r in rows] == ["matched", "matched"]


def test_refund_flag_null_means_normal(month):
    _, rows = run(*month([row("A", refd_setl_flag=None)], [row("A", refd_setl_flag="0")]))
    assert [r[2] for r in rows] == ["matched", "matched"]


def test_amount_difference_within_tolerance_matches(month):
    paths = month([row("A", medfee="100.01", psn_cash_pay=D("20.01"))], [row("A", psn_cash_pay=D("20.00"))])
    assert [r[2] for r in run(*paths)[1]] == ["amount_mismatch", "amount_mismatch"]
    assert [r[2] for r in run(*paths, tolerance="0.01")[1]] == ["matched", "matched"]


def test_rejected_row_is_quarantined_and_its_partner_becomes_one_sided(month):
    _, rows = run(*month([row("A", insured="1")], [row("A")]))
    assert [(r[2], r[5]) for r in rows] == [("rejected", "bad_region_code"), ("ledger_only", "not_in_claims")]


def test_accounting_identity_failure_is_reported(month):
    result, _ = run(*month([row("A")], [row("A")]))
    result.per_side["claims"]["categories"]["matched"]["records"] += 1
    failures = check_accounting(result)
    assert failures and "claims" in failures[0]


def test_accounting_failure_stops_the_run(month, monkeypatch):
    from mediclear_cli import reconcile as module

    monkeypatch.setattr(module, "check_accounting", lambda result: ["forced"])
    paths = month([row("A")], [row("A")])
    with pytest.raises(CheckFailed, match="forced"):  # a failed identity must stop the run
        run(*paths)


# --- properties --------------------------------------------------------------------------------------------

IDS = st.sampled_from(["A", "B", "C", "D", "E", "F"])
REGIONS = st.sampled_from(["150000", "152900", "110000", "520199", "139900"])
TIMES = st.sampled_from([datetime(2026, 9, 30, 23, 59, 59), datetime(2026, 10, 1), datetime(2026, 10, 15, 12),
                         datetime(2026, 10, 31, 23, 59, 59), datetime(2026, 11, 1)])
CENTS = st.integers(min_value=-50_000, max_value=5_000_000)


@st.composite
def settlement(draw):
    fund, acct, cash = draw(CENTS), draw(CENTS), draw(CENTS)
    return {
        "setl_id": draw(IDS),
        "setl_time": draw(TIMES),
        "medfee_sumamt": D(fund + acct + cash) / 100,
        "fund_pay_sumamt": D(fund) / 100,
        "acct_pay": D(acct) / 100,
        "psn_cash_pay": D(cash) / 100,
        "insuplc_admdvs": draw(REGIONS),
        "mdtrtarea_admvs": draw(REGIONS),
        "med_type": draw(st.sampled_from(["11", "21"])),
    }


SIDE = st.lists(settlement(), min_size=0, max_size=12)


def _write(tmp: Path, claims: list[dict], ledger: list[dict]) -> tuple[Path, Path]:
    for r in claims + ledger:
        for k in ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay"):
            r[k] = r[k].quantize(D("0.01"))
    import pyarrow as pa

    schema = pa.schema([("setl_id", pa.string()), ("setl_time", pa.timestamp("us")),
                        ("medfee_sumamt", pa.decimal128(18, 2)), ("fund_pay_sumamt", pa.decimal128(18, 2)),
                        ("acct_pay", pa.decimal128(18, 2)), ("psn_cash_pay", pa.decimal128(18, 2)),
                        ("insuplc_admdvs", pa.string()), ("mdtrtarea_admvs", pa.string()), ("med_type", pa.string())])
    return write_rows(tmp / "c.parquet", claims, schema), write_rows(tmp / "l.parquet", ledger, schema)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=SIDE, ledger=SIDE)
def test_engine_agrees_with_the_reference_on_every_row(tmp_path, claims, ledger):
    paths = _write(tmp_path, claims, ledger)
    _, rows = run(*paths)
    expected = oracle.categorise(claims, ledger, OCT.start, OCT.end)
    got = {"claims": [r[2] for r in rows if r[0] == "claims"], "ledger": [r[2] for r in rows if r[0] == "ledger"]}
    assert got == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=SIDE, ledger=SIDE)
def test_every_row_lands_in_exactly_one_category_and_money_is_conserved(tmp_path, claims, ledger):
    result, rows = run(*_write(tmp_path, claims, ledger))
    for side, source in (("claims", claims), ("ledger", ledger)):
        cats_ = result.per_side[side]["categories"]
        assert sum(c["records"] for c in cats_.values()) == len(source)
        assert sum((c["clr_amt"] for c in cats_.values()), D("0")) == sum(
            (r["fund_pay_sumamt"] + r["acct_pay"] for r in source), D("0"))
        assert len([r for r in rows if r[0] == side]) == len(source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=SIDE, ledger=SIDE)
def test_swapping_sides_swaps_one_sided_categories_and_keeps_the_rest(tmp_path, claims, ledger):
    _, forward = run(*_write(tmp_path, claims, ledger))
    _, backward = run(*_write(tmp_path, ledger, claims))
    mirror = {"claim_only": "ledger_only", "ledger_only": "claim_only"}
    flip = {"claims": "ledger", "ledger": "claims"}
    fwd = sorted((r[0], r[1], r[2]) for r in forward)
    bwd = sorted((flip[r[0]], r[1], mirror.get(r[2], r[2])) for r in backward)
    assert fwd == bwd


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=SIDE, ledger=SIDE, seed=st.integers(0, 2**16))
def test_shuffling_row_order_changes_nothing(tmp_path, claims, ledger, seed):
    _, before = run(*_write(tmp_path, claims, ledger))
    rng = random.Random(seed)
    c2, l2 = claims[:], ledger[:]
    rng.shuffle(c2)
    rng.shuffle(l2)
    _, after = run(*_write(tmp_path, c2, l2))
    assert sorted((r[0], r[1], r[2]) for r in before) == sorted((r[0], r[1], r[2]) for r in after)


def test_generated_month_reproduces_its_labels_exactly(generated):
    con = duckdb.connect()
    result = reconcile(con, [str(generated / "claims")], [str(generated / "ledger")], ReconOptions(OCT))
    labels = pq.read_table(generated / "labels.parquet")
    con.register("labels", labels)
    disagree = con.execute(
        "SELECT count(*) FROM labels l JOIN recon_rows r ON r.side = l.side AND r.source_row = l.row "
        "AND r.source_file = $root || '/' || l.file WHERE r.category <> l.category",
        {"root": str(generated.resolve())},
    ).fetchall()[0][0]
    joined = con.execute(
        "SELECT count(*) FROM labels l JOIN recon_rows r ON r.side = l.side AND r.source_row = l.row "
        "AND r.source_file = $root || '/' || l.file", {"root": str(generated.resolve())},
    ).fetchall()[0][0]
    assert joined == labels.num_rows == sum(s.rows for s in result.sides.values())
    assert disagree == 0
    # every category of the contract is present in the generated month
    assert set(labels.column("category").to_pylist()) >= {
        "matched", "duplicate", "out_of_period", "claim_only", "ledger_only", "attr_mismatch",
        "amount_mismatch", "rejected"}


def test_input_columns_named_like_derived_ones_are_carried_apart(month):
    paths = month([row("A") | {"category": "mine", "clr_amt": "x"}], [row("B") | {"Reason": "r"}])
    _, rows = run(*paths)
    assert [r[2] for r in rows] == ["claim_only", "ledger_only"]
    con = duckdb.connect()
    reconcile(con, [str(paths[0])], [str(paths[1])], ReconOptions(OCT))
    got = con.sql("SELECT extra_category, extra_clr_amt, extra_Reason FROM recon_rows ORDER BY side").fetchall()
    assert got == [("mine", "x", None), (None, None, "r")]


def test_a_forged_region_or_amount_is_caught(month):
    """Issue 14: a ledger row whose insured region was changed, with another column chosen so that the old
    unkeyed 64-bit hash() came out the same, was matched and cleared to another province. Every compared
    column is now compared exactly for every one-to-one pair (no fingerprint stands in for any of them)."""
    paths = month([row("A", insured="320600"), row("B"), row("C", medfee="100.01", psn_cash_pay=D("20.01"))],
                  [row("A", insured="440100"), row("B"), row("C", psn_cash_pay=D("20.00"))])
    got = {(r[0], r[1]): (r[2], r[4]) for r in run(*paths)[1]}
    assert got[("claims", "A")] == ("attr_mismatch", ["insuplc_admdvs"])
    assert got[("claims", "B")][0] == "matched"
    assert got[("claims", "C")] == ("amount_mismatch", ["medfee_sumamt", "psn_cash_pay"])


def test_every_compared_column_is_compared_exactly(month):
    """One pair per compared column, differing in that column (by one character or one cent; a money column
    with what keeps the row valid): each is held with that column named — there is no hash for a difference
    to hide behind."""
    from mediclear_cli import schema

    breakdown = dict(zip(schema.FUND_BREAKDOWN, ("63.00", "1.00", "1.00", "1.00", "1.00", "1.00", "1.00", "1.00"),
                         strict=True))
    base = {"psn_no": "P100", "mdtrt_id": "M100", "fixmedins_code": "H11010100001", "insutype": "310",
            "med_type": "11", "clr_type": "11", "refd_setl_flag": "0", "psn_cash_pay": D("20.00")} | {
        k: D(v) for k, v in breakdown.items()}
    cent = D("0.01")
    claims, ledger, expected = [], [], {}
    for number, col in enumerate(schema.ATTR_COMPARED + schema.MONEY_COMPARED):
        sid = f"S{number:02d}"
        claims.append(row(sid, **base))
        changed = row(sid, **base)
        if col in schema.MONEY_COMPARED:
            # one cent more, and what keeps the row valid: medfee = fund + acct + cash, fund = Σ breakdown
            changed[col] += cent
            if col == "medfee_sumamt":
                changed["psn_cash_pay"] += cent
            elif col in schema.FUND_BREAKDOWN:
                changed["fund_pay_sumamt"] += cent
                changed["medfee_sumamt"] += cent
            else:  # fund_pay_sumamt, acct_pay, psn_cash_pay
                changed["medfee_sumamt"] += cent
                if col == "fund_pay_sumamt":
                    changed["hifp_pay"] += cent
        elif col == "refd_setl_flag":
            changed[col] = "1"
        else:
            value = changed[col]
            changed[col] = value[:-1] + ("2" if value.endswith("1") else "1")
        ledger.append(changed)
        expected[sid] = col
    got = {r[1]: r[4] for r in run(*month(claims, ledger))[1] if r[0] == "claims"}
    assert len(got) == len(expected) == 21
    for sid, col in expected.items():
        assert col in got[sid], (sid, col, got[sid])


def test_text_shifted_between_columns_is_told_apart(month):
    """A comparison of the columns joined as one text would take psn_no 'AB' + mdtrt_id 'C' for 'A' + 'BC'."""
    paths = month([row("A", psn_no="AB", mdtrt_id="C")], [row("A", psn_no="A", mdtrt_id="BC")])
    assert {r[2] for r in run(*paths)[1]} == {"attr_mismatch"}


def test_matched_money_may_differ_only_within_the_tolerance(month):
    paths = month([row("A", medfee="100.01", psn_cash_pay=D("20.01"))], [row("A", psn_cash_pay=D("20.00"))])
    result, _ = run(*paths, tolerance="0.01")
    assert check_accounting(result) == []
    result.options.tolerance = D("0.00")
    assert any("matched medfee_sumamt" in f for f in check_accounting(result))
