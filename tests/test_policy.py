"""Issue 20, 参保地政策: the pooled fund's payment recomputed under the insured region's policy — deductible,
ratio bands, annual cap — with every settlement checked, flagged or listed as not checked, never passed blind.

The fixtures are small enough to check by hand; the arithmetic is written out beside each expectation."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import cli, row, write_rows

POLICY = """insu_admdvs,insutype,med_type_group,valid_from,valid_to,deductible,band_upto,ratio,annual_cap
150000,310,inpatient,2026-01-01,2026-12-31,800.00,10000.00,0.80,50000.00
150000,310,inpatient,2026-01-01,2026-12-31,800.00,,0.90,50000.00
150000,310,outpatient,2026-01-01,2026-12-31,200.00,,0.50,50000.00
150100,310,inpatient,2026-01-01,2026-12-31,1000.00,,0.85,50000.00
"""


def settlement(setl_id: str, inscp: str, dedc: str, hifp: str, when: str, person: str = "P1",
               insured: str = "150200", med_type: str = "21", **extra: Any) -> dict[str, Any]:
    """A ledger row whose fund payment is hifp alone (fund = hifp, acct 0, cash the rest)."""
    return row(setl_id, medfee="90000.00", fund=hifp, acct="0.00", insured=insured, when=when, psn_no=person,
               insutype="310", med_type=med_type, inscp_scp_amt=D(inscp), act_pay_dedc=D(dedc),
               hifp_pay=D(hifp), **extra)


def check(tmp_path: Path, rows: list[dict[str, Any]], code: int = 1, policy: str = POLICY,
          suffix: str = ".csv") -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[dict[str, Any]]]:
    ledger = write_rows(tmp_path / "ledger.parquet", rows)
    (tmp_path / f"policy{suffix}").write_text(policy, encoding="utf-8")
    out = tmp_path / "out"
    result = cli(["policy-check", "--ledger", ledger, "--policy", tmp_path / f"policy{suffix}", "--period", "2026-10",
                  "--out", out, "--json"], code)
    flags = {r["setl_id"]: r for r in pq.read_table(out / "policy_flags.parquet").to_pylist()}
    unchecked = pq.read_table(out / "policy_unchecked.parquet").to_pylist()
    return json.loads(result.stdout), flags, unchecked


def test_a_correct_settlement_passes_and_each_kind_of_error_is_flagged_with_its_part(tmp_path: Path) -> None:
    rows = [
        # A: first inpatient stay of P1 in 2026: (20000 - 800) = 19200 -> 10000 x 0.80 + 9200 x 0.90 = 16280.00
        settlement("A", "20000.00", "800.00", "16280.00", "2026-10-02 10:00:00"),
        # B: P1 again: the deductible was paid in A, so none is due: 5000 x 0.80 = 4000.00; the hospital
        #    charged it again (800) and the fund paid (5000 - 800) x 0.80 = 3360.00 -> deductible, -640.00
        settlement("B", "5000.00", "800.00", "3360.00", "2026-10-05 10:00:00"),
        # C: P2, outpatient: (1200 - 200) x 0.50 = 500.00, but 0.60 was applied (600.00) -> ratio, +100.00
        settlement("C", "1200.00", "200.00", "600.00", "2026-10-06 10:00:00", person="P2", med_type="11"),
        # D: P3: 60000 - 800 = 59200 -> 8000 + 44280 = 52280.00 uncapped; the cap of 50000 binds -> 50000.00,
        #    the fund paid 52280.00 -> cap, +2280.00
        settlement("D", "60000.00", "800.00", "52280.00", "2026-10-07 10:00:00", person="P3"),
        # E: P4 of pool 150100 (its own policy): (3000 - 1000) x 0.85 = 1700.00 -> passes
        settlement("E", "3000.00", "1000.00", "1700.00", "2026-10-08 10:00:00", person="P4", insured="150100"),
        # F: a half cent: (1000.01 - 800) x 0.80 = 160.008 -> 160.01 (half-up) -> passes
        settlement("F", "1000.01", "800.00", "160.01", "2026-10-09 10:00:00", person="P5"),
    ]
    summary, flags, unchecked = check(tmp_path, rows)
    assert (summary["settlements"], summary["passed"], summary["flagged"], summary["not_checked"]) == (6, 3, 3, 0)
    assert {k: (v["part"], v["expected_hifp_pay"], v["difference"]) for k, v in flags.items()} == {
        "B": ("deductible", D("4000.00"), D("-640.00")),
        "C": ("ratio", D("500.00"), D("100.00")),
        "D": ("cap", D("50000.00"), D("2280.00")),
    }
    assert flags["B"]["expected_dedc"] == D("0.00") and flags["D"]["policy_line"] == 1
    assert summary["flagged_by_pair"] == [{"insured": "150200", "care": "110000", "records": 3,
                                           "difference": "1740.00"}]
    assert unchecked == []


def test_what_cannot_be_checked_is_listed_with_why_never_passed(tmp_path: Path) -> None:
    rows = [
        settlement("A", "2000.00", "800.00", "960.00", "2026-10-02 10:00:00"),  # (2000-800) x 0.80: passes
        settlement("R", "-2000.00", "-800.00", "-960.00", "2026-10-03 10:00:00", refd_setl_flag="1"),  # its reversal
        settlement("N", "2000.00", "800.00", "960.00", "2026-10-04 10:00:00", person="P9", insured="320100"),
        settlement("S", "2000.00", "800.00", "960.00", "2026-10-04 10:00:00", person="P8", med_type="41"),
        settlement("O", "2000.00", "800.00", "960.00", "2026-09-04 10:00:00", person="P7"),  # history only
    ]
    rows.append(row("M", medfee="100.00", fund="70.00", acct="0.00", when="2026-10-05 10:00:00", psn_no="P6",
                    insutype="310", med_type="21", hifp_pay=D("70.00")))  # no inscp_scp_amt / act_pay_dedc values
    summary, flags, unchecked = check(tmp_path, rows, code=0)
    assert summary["passed"] == 1 and summary["flagged"] == 0 and flags == {}
    reasons = {r["setl_id"]: r["reason"] for r in unchecked}
    assert reasons == {"R": "reversal (checked with its original)", "N": "no policy row applies",
                       "S": "no policy row applies", "M": "missing inscp_scp_amt, act_pay_dedc"}
    assert summary["settlements"] == 5  # O lies in September: it only feeds P7's year


def test_a_reversal_gives_the_deductible_back(tmp_path: Path) -> None:
    rows = [
        settlement("A", "2000.00", "800.00", "960.00", "2026-10-02 10:00:00"),
        settlement("R", "-2000.00", "-800.00", "-960.00", "2026-10-03 10:00:00", refd_setl_flag="1"),
        # after the reversal P1 has paid no deductible this year: (3000 - 800) x 0.80 = 1760.00
        settlement("B", "3000.00", "800.00", "1760.00", "2026-10-04 10:00:00"),
    ]
    summary, flags, _ = check(tmp_path, rows, code=0)
    assert summary["passed"] == 2 and flags == {}


def test_two_equally_specific_policies_are_ambiguous_not_guessed(tmp_path: Path) -> None:
    policy = POLICY + "150000,310,inpatient,2026-10-01,2026-12-31,500.00,,0.95,50000.00\n"
    summary, _, unchecked = check(tmp_path, [settlement("A", "2000.00", "800.00", "960.00", "2026-10-02 10:00:00")],
                                  code=0, policy=policy)
    assert summary["not_checked"] == 1
    assert unchecked[0]["reason"] == "two policy rows apply equally (ambiguous)"


def test_toml_policy_and_chinese_headers_read_the_same(tmp_path: Path) -> None:
    toml = """
[[policy]]
insu_admdvs = "150000"
insutype = "310"
med_type_group = "inpatient"
deductible = "800.00"
annual_cap = "50000.00"
bands = [{band_upto = "10000.00", ratio = "0.80"}, {ratio = "0.90"}]
"""
    rows = [settlement("A", "20000.00", "800.00", "16280.00", "2026-10-02 10:00:00")]
    summary, _, _ = check(tmp_path, rows, code=0, policy=toml, suffix=".toml")
    assert summary["passed"] == 1
    chinese = ("参保地医保区划,险种类型,医疗类别组,起付线,分段上限,报销比例,封顶线\n150000,310,住院,800.00,10000.00,80%,50000.00\n"
               "150000,310,住院,800.00,,90%,50000.00\n")
    summary, _, _ = check(tmp_path, rows, code=0, policy=chinese)
    assert summary["passed"] == 1


@pytest.mark.parametrize(("bad", "said"), [
    ("150000,310,inpatient,,,800.00,,1.20,", "row 1: column 'ratio'"),
    ("150000,310,inpatient,,,800.005,,0.80,", "row 1: column 'deductible'"),
    ("15000,310,inpatient,,,800.00,,0.80,", "row 1: column 'insu_admdvs'"),
    ("150000,310,inpatient,,,800.00,,0.80,\n150000,310,inpatient,,,900.00,5000.00,0.70,", "row 2: column 'deductible'"),
    ("150000,310,inpatient,,,800.00,,0.80,\n150000,310,inpatient,,,800.00,,0.70,", "two bands without an upper limit"),
])
def test_a_policy_file_that_is_not_unambiguous_is_exit_65(tmp_path: Path, bad: str, said: str) -> None:
    header = "insu_admdvs,insutype,med_type_group,valid_from,valid_to,deductible,band_upto,ratio,annual_cap\n"
    (tmp_path / "policy.csv").write_text(header + bad + "\n", encoding="utf-8")
    ledger = write_rows(tmp_path / "ledger.parquet", [settlement("A", "1.00", "0.00", "0.80", "2026-10-02 10:00:00")])
    result = cli(["policy-check", "--ledger", ledger, "--policy", tmp_path / "policy.csv", "--period", "2026-10",
                  "--out", tmp_path / "out"], 65)
    assert said in result.stderr and not (tmp_path / "out").exists()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 5_000_000), st.sampled_from(["21", "11"])), min_size=1, max_size=8))
def test_settlements_computed_by_the_rule_never_flag(tmp_path: Path, visits: list[tuple[int, str]]) -> None:
    """One person's visits in order, each paid exactly as the policy says (computed here in Python from the
    written-out rule): none is flagged, whatever the amounts, bands and cap."""
    deductible = {"21": D("800.00"), "11": D("200.00")}
    paid_dedc = {"21": D(0), "11": D(0)}
    paid_fund = D(0)
    rows = []
    for number, (cents, med_type) in enumerate(visits):
        inscp = D(cents) / 100
        due = max(deductible[med_type] - paid_dedc[med_type], D(0))
        dedc = min(inscp, due)
        base = inscp - dedc
        if med_type == "21":
            uncapped = D("0.80") * min(base, D("10000.00")) + D("0.90") * max(base - D("10000.00"), D(0))
        else:
            uncapped = D("0.50") * base
        fund = min(uncapped.quantize(D("0.01"), rounding="ROUND_HALF_UP"), max(D("50000.00") - paid_fund, D(0)))
        paid_dedc[med_type] += dedc
        paid_fund += fund
        rows.append(settlement(f"S{number}", str(inscp), str(dedc), str(fund), f"2026-10-{number + 1:02d} 10:00:00",
                               med_type=med_type))
    folder = tmp_path / f"{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    summary, flags, _ = check(folder, rows, code=0)
    assert summary["passed"] == len(visits) and flags == {}


def test_a_settlement_booked_twice_is_listed_not_counted_in_the_persons_year(tmp_path: Path) -> None:
    rows = [settlement("A", "2000.00", "800.00", "960.00", "2026-10-02 10:00:00"),
            settlement("A", "2000.00", "800.00", "960.00", "2026-10-02 10:00:00"),
            # B: P1's first counted stay (A is not counted): (3000 - 800) x 0.80 = 1760.00
            settlement("B", "3000.00", "800.00", "1760.00", "2026-10-04 10:00:00")]
    summary, flags, unchecked = check(tmp_path, rows, code=0)
    assert summary["passed"] == 1 and flags == {}
    assert [r["reason"] for r in unchecked] == ["the ledger books this setl_id 2 times (duplicate)"] * 2


@pytest.mark.parametrize("month", ["generated", "shipped"])
def test_every_injected_wrong_payment_is_found_and_no_correct_one_is_flagged(
        tmp_path: Path, generated: Path, month: str) -> None:
    """The sample month's policy labels: 100% recall for each kind, and not one flag the labels do not name."""
    from conftest import SAMPLE

    folder = generated if month == "generated" else SAMPLE
    out = tmp_path / "out"
    result = cli(["policy-check", "--ledger", folder / "ledger", "--policy", folder / "policy.csv", "--period",
                  "2026-10", "--out", out, "--json"], 1)
    summary = json.loads(result.stdout)
    labels = {r["setl_id"]: r["kind"] for r in pq.read_table(folder / "policy_labels.parquet").to_pylist()}
    flags = {r["setl_id"]: r["part"] for r in pq.read_table(out / "policy_flags.parquet").to_pylist()}
    assert set(labels.values()) == {"ratio", "deductible", "cap"}  # every kind is injected
    assert flags == labels  # each found, with the right part; nothing else flagged
    assert summary["passed"] > 10 * len(labels)
    reasons = summary["not_checked_by_reason"]
    assert set(reasons) <= {"reversal (checked with its original)", "the ledger books this setl_id 2 times (duplicate)"}


def test_clear_with_policy_adds_the_flags_and_a_policy_sheet_and_changes_no_clearing_output(tmp_path: Path) -> None:
    import openpyxl

    from conftest import SAMPLE

    common = ["--claims", SAMPLE / "claims", "--ledger", SAMPLE / "ledger", "--period", "2026-10",
              "--regions", SAMPLE / "regions.parquet", "--no-statements"]
    plain, checked = tmp_path / "plain", tmp_path / "checked"
    cli(["clear", *common, "--out", plain], 1)
    summary = json.loads(cli(["clear", *common, "--out", checked, "--policy", SAMPLE / "policy.csv", "--json"],
                             1).stdout)
    for name in ("net_positions", "pair_totals", "transfers", "fund_split", "exceptions"):
        assert (plain / f"{name}.parquet").read_bytes() == (checked / f"{name}.parquet").read_bytes(), name
    labels = pq.read_table(SAMPLE / "policy_labels.parquet")
    assert summary["policy"]["flagged"] == labels.num_rows
    flagged = {r["setl_id"] for r in pq.read_table(checked / "policy_flags.parquet").to_pylist()}
    assert flagged == set(labels["setl_id"].to_pylist())
    sheet = openpyxl.load_workbook(checked / "statements.xlsx", read_only=True)["政策核算"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("结算ID", "参保地") and {r[0] for r in rows[1:] if r[0] in flagged} == flagged
    assert {r[11] for r in rows[1:] if r[0] in flagged} == {"起付线", "报销比例", "封顶线"}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10**6), st.sampled_from(["2026-01", "2026-06", "2025-12"]))
def test_any_generated_month_flags_exactly_its_labels(tmp_path: Path, seed: int, period: str) -> None:
    """Whatever the seed and month (January puts the previous month's settlements in another policy year),
    the generator's policy amounts and policy-check agree: every label found, nothing else flagged."""
    from mediclear_cli.periods import Period
    from mediclear_cli.sample import generate

    folder = tmp_path / f"m{seed}-{period}"
    generate(folder, rows=1500, period=Period.parse(period), seed=seed)
    out = folder / "out"
    result = cli(["policy-check", "--ledger", folder / "ledger", "--policy", folder / "policy.csv", "--period",
                  period, "--out", out, "--json"], None)
    assert result.exit_code in (0, 1), result.stderr
    labels = {r["setl_id"]: r["kind"] for r in pq.read_table(folder / "policy_labels.parquet").to_pylist()}
    flags = {r["setl_id"]: r["part"] for r in pq.read_table(out / "policy_flags.parquet").to_pylist()}
    assert flags == labels
