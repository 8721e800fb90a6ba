"""Contract §4: clearing units, net positions, transfers, prepaid funds and conservation, on a small month a
person can check by hand, and as properties over generated months."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediclear_cli.clearing import ClearOptions, clear
from mediclear_cli.errors import CheckFailed, InputDataError
from mediclear_cli.periods import Period
from mediclear_cli.reconcile import ReconOptions, reconcile

import oracle
from conftest import row, write_rows

OCT = Period.parse("2026-10")

# Four provinces. Amounts are fund + acct (cash is the rest of medfee and never moves).
#  1 Alxa League (152900) insured, treated in Beijing Chaoyang (110105): 80 + 20 = 100.00
#  2 Beijing (110100) insured, treated in Alxa Left Banner (152921):    25 +  5 =  30.00
#  3 Guiyang 本级 (520199) insured, treated in Beijing Dongcheng:         50 +  0 =  50.00
#  4 Hebei 省本级 (139900) insured, treated in Alxa League (152900):     20 +  0 =  20.00
#  5 Alxa League insured, treated in Hohhot (150100): inside Inner Mongolia  45 + 0 = 45.00
HAND_MONTH = [
    row("S1", medfee="130.00", fund="80.00", acct="20.00", insured="152900", care="110105",
        hifp_pay=D("60.00"), hifmi_pay=D("20.00")),
    row("S2", medfee="40.00", fund="25.00", acct="5.00", insured="110100", care="152921"),
    row("S3", medfee="70.00", fund="50.00", acct="0.00", insured="520199", care="110101"),
    row("S4", medfee="20.00", fund="20.00", acct="0.00", insured="139900", care="152900"),
    row("S5", medfee="60.00", fund="45.00", acct="0.00", insured="152900", care="150100"),
]
REGISTER = [
    {"admdvs": "520199", "pool_admdvs": "520199", "prov_admdvs": "520000", "admdvs_name": "贵阳市本级"},
    {"admdvs": "152921", "pool_admdvs": "152900", "prov_admdvs": "150000", "admdvs_name": "阿拉善左旗"},
    {"admdvs": "139900", "pool_admdvs": "139900", "prov_admdvs": "130000", "admdvs_name": "河北省本级"},
    {"admdvs": "110101", "pool_admdvs": "110100", "prov_admdvs": "110000", "admdvs_name": "东城区"},
    {"admdvs": "110105", "pool_admdvs": "110100", "prov_admdvs": "110000", "admdvs_name": "朝阳区"},
]


def run_clear(tmp: Path, ledger: list[dict], level: str = "province", settlement: str = "central",
              register: list[dict] | None = None, prepaid: list[dict] | None = None, claims: list[dict] | None = None):
    c = write_rows(tmp / "c.parquet", claims if claims is not None else ledger)
    l = write_rows(tmp / "l.parquet", ledger)
    reg = str(write_rows(tmp / "r.parquet", register)) if register else None
    pre = str(write_rows(tmp / "p.parquet", prepaid)) if prepaid else None
    con = duckdb.connect()
    recon = reconcile(con, [str(c)], [str(l)], ReconOptions(OCT))
    return clear(con, recon, ClearOptions(level, settlement), reg, pre)


def nets(result) -> dict[str, tuple[D, D, D]]:
    return {r["unit"]: (r["receivable"], r["payable"], r["net"]) for r in result.net_positions.to_pylist()}


def transfers(result) -> list[tuple[str, str, D]]:
    return [(t["payer"], t["payee"], t["amount"]) for t in result.transfers.to_pylist()]


def test_province_level_nets_by_hand(tmp_path):
    result = run_clear(tmp_path, HAND_MONTH)
    assert nets(result) == {
        "110000": (D("150.00"), D("30.00"), D("120.00")),
        "130000": (D("0.00"), D("20.00"), D("-20.00")),
        "150000": (D("50.00"), D("100.00"), D("-50.00")),
        "520000": (D("0.00"), D("50.00"), D("-50.00")),
    }
    assert (result.internal_records, result.internal_clr_amt) == (1, D("45.00"))
    assert (result.cleared_records, result.cleared_clr_amt) == (5, D("245.00"))


def test_internal_rows_are_counted_not_netted(tmp_path):
    result = run_clear(tmp_path, HAND_MONTH)
    internal = [p for p in result.pair_totals.to_pylist() if p["internal"]]
    assert [(p["insured_unit"], p["care_unit"], p["records"], p["clr_amt"]) for p in internal] == [
        ("150000", "150000", 1, D("45.00"))]
    inner = {r["unit"]: r["internal_clr_amt"] for r in result.net_positions.to_pylist()}
    assert inner["150000"] == D("45.00")


def test_central_settlement_by_hand(tmp_path):
    assert transfers(run_clear(tmp_path, HAND_MONTH)) == [
        ("130000", "CENTRE", D("20.00")), ("150000", "CENTRE", D("50.00")), ("520000", "CENTRE", D("50.00")),
        ("CENTRE", "110000", D("120.00"))]


def test_bilateral_settlement_by_hand(tmp_path):
    assert transfers(run_clear(tmp_path, HAND_MONTH, settlement="bilateral")) == [
        ("130000", "150000", D("20.00")), ("150000", "110000", D("70.00")), ("520000", "110000", D("50.00"))]


def test_pool_level_with_register_uses_its_pools(tmp_path):
    result = run_clear(tmp_path, HAND_MONTH, level="pool", register=REGISTER)
    assert {u: n[2] for u, n in nets(result).items()} == {
        "110100": D("120.00"), "139900": D("-20.00"), "150100": D("45.00"), "152900": D("-95.00"),
        "520199": D("-50.00")}
    assert result.internal_records == 0


def test_pool_level_without_register_uses_the_code_rule(tmp_path):
    result = run_clear(tmp_path, HAND_MONTH, level="pool")
    got = {u: n[2] for u, n in nets(result).items()}
    assert got["520100"] == D("-50.00") and "520199" not in got  # the rule folds 520199 into 520100


def test_fund_split_sums_to_each_units_net(tmp_path):
    result = run_clear(tmp_path, HAND_MONTH)
    split = {(r["unit"], r["fund"]): r["net"] for r in result.fund_split.to_pylist()}
    # S1 is the only row with a breakdown: hifp 60 + hifmi 20, acct 20; the others are 'unallocated'
    assert split[("150000", "hifp_pay")] == D("-60.00")
    assert split[("150000", "hifmi_pay")] == D("-20.00")
    assert split[("150000", "acct_pay")] == D("-15.00")  # pays 20 for S1, receives 5 for S2
    assert split[("110000", "hifp_pay")] == D("60.00")


def test_prepaid_balances_and_topups_by_hand(tmp_path):
    prepaid = [
        {"unit": "150000", "opening_balance": D("100.00"), "warning_line": D("80.00")},
        {"unit": "110000", "opening_balance": D("0.00"), "warning_line": D("0.00")},
        {"unit": "310000", "opening_balance": D("10.00"), "warning_line": D("5.00")},
    ]
    result = run_clear(tmp_path, HAND_MONTH, prepaid=prepaid)
    got = {r["unit"]: (r["opening_balance"], r["closing_balance"], r["topup_due"])
           for r in result.net_positions.to_pylist()}
    assert got["150000"] == (D("100.00"), D("50.00"), D("30.00"))
    assert got["110000"] == (D("0.00"), D("120.00"), D("0.00"))
    assert got["310000"] == (D("10.00"), D("10.00"), D("0.00"))  # a prepaid unit with no flows this month
    assert got["520000"] == (None, None, None)
    assert result.units_without_prepaid == ["130000", "520000"]


def test_register_with_a_bad_code_names_file_row_and_column(tmp_path):
    bad = REGISTER + [{"admdvs": "52019", "pool_admdvs": "520199", "prov_admdvs": "520000", "admdvs_name": "x"}]
    with pytest.raises(InputDataError) as err:
        run_clear(tmp_path, HAND_MONTH, register=bad)
    assert "row 6" in str(err.value) and "admdvs" in str(err.value)


def test_only_matched_rows_are_cleared_with_the_ledgers_amounts(tmp_path):
    claims = [row("S1", medfee="130.00", fund="80.00", acct="20.00", insured="152900", care="110105"),
              row("S2", medfee="41.00", fund="26.00", acct="5.00", insured="110100", care="152921")]
    ledger = [row("S1", medfee="130.00", fund="80.00", acct="20.00", insured="152900", care="110105"),
              row("S2", medfee="40.00", fund="25.00", acct="5.00", insured="110100", care="152921"),
              row("S9", insured="520199", care="110101")]
    result = run_clear(tmp_path, ledger, claims=claims)
    assert result.cleared_records == 1 and result.cleared_clr_amt == D("100.00")


def test_conservation_failure_stops_the_run(tmp_path, monkeypatch):
    from mediclear_cli import clearing as module

    monkeypatch.setattr(module, "check_conservation", lambda result, recon: ["forced"])
    with pytest.raises(CheckFailed):
        run_clear(tmp_path, HAND_MONTH)


CODES = st.sampled_from(["152900", "152921", "150100", "110105", "110100", "520199", "520100", "139900", "320500"])


@st.composite
def matched_row(draw, index):
    fund, acct = draw(st.integers(-10_000, 10**8)), draw(st.integers(-1_000, 10**6))
    return row(f"S{index}", medfee=str(D(fund + acct) / 100), fund=str(D(fund) / 100), acct=str(D(acct) / 100),
               insured=draw(CODES), care=draw(CODES))


@st.composite
def months(draw):
    n = draw(st.integers(0, 25))
    return [draw(matched_row(i)) for i in range(n)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ledger=months(), level=st.sampled_from(["province", "pool"]))
def test_nets_sum_to_zero_and_both_settlements_settle_them(tmp_path, ledger, level):
    central = run_clear(tmp_path, ledger, level=level, settlement="central")
    bilateral = run_clear(tmp_path, ledger, level=level, settlement="bilateral")
    assert sum((n[2] for n in nets(central).values()), D("0")) == 0
    assert nets(central) == nets(bilateral)
    for result in (central, bilateral):
        settled: dict[str, D] = {}
        for payer, payee, amount in transfers(result):
            assert amount > 0
            settled[payer] = settled.get(payer, D("0")) - amount
            settled[payee] = settled.get(payee, D("0")) + amount
        assert {u: v for u, v in settled.items() if v and u != "CENTRE"} == {
            u: n[2] for u, n in nets(result).items() if n[2]}
    assert central.cleared_clr_amt == sum((r["fund_pay_sumamt"] + r["acct_pay"] for r in ledger), D("0"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ledger=months())
def test_province_nets_agree_with_the_reference_and_exclude_internal_rows(tmp_path, ledger):
    result = run_clear(tmp_path, ledger)
    expected = {u: v for u, v in oracle.net_positions(ledger).items()}
    got = {u: n[2] for u, n in nets(result).items()}
    assert {u: v for u, v in got.items() if v} == {u: v for u, v in expected.items() if v}
    internal = sum((r["fund_pay_sumamt"] + r["acct_pay"] for r in ledger
                    if r["insuplc_admdvs"][:2] == r["mdtrtarea_admvs"][:2]), D("0"))
    assert result.internal_clr_amt == internal
    assert sum((n[0] for n in nets(result).values()), D("0")) == result.cleared_clr_amt - internal
