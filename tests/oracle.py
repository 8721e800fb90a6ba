"""An independent, deliberately plain reference for contract §3-4, written from the contract's words with
Python dicts and Decimal and no DuckDB. Tests compare the engine with it on generated inputs."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

ATTRS = ("insuplc_admdvs", "mdtrtarea_admvs", "psn_no", "mdtrt_id", "fixmedins_code", "insutype", "med_type",
         "clr_type", "refd_setl_flag")
MONEY = ("medfee_sumamt", "fund_pay_sumamt", "acct_pay", "psn_cash_pay", "hifp_pay", "cvlserv_pay", "hifob_pay",
         "hifmi_pay", "hifes_pay", "hifdm_pay", "maf_pay", "oth_pay")


def categorise(claims: list[dict[str, Any]], ledger: list[dict[str, Any]], start: datetime, end: datetime,
               tolerance: Decimal = Decimal("0")) -> dict[str, list[str]]:
    """Category of each row (rows must already be valid); returns {'claims': [...], 'ledger': [...]}."""
    count = {"claims": Counter(r["setl_id"] for r in claims), "ledger": Counter(r["setl_id"] for r in ledger)}
    outside: set[str] = set()
    for r in claims + ledger:
        if not start <= r["setl_time"] < end:
            outside.add(r["setl_id"])
    by_id = {"claims": {r["setl_id"]: r for r in claims}, "ledger": {r["setl_id"]: r for r in ledger}}

    def category(side: str, sid: str) -> str:
        if count["claims"][sid] > 1 or count["ledger"][sid] > 1:
            return "duplicate"
        if sid in outside:
            return "out_of_period"
        if count["ledger"][sid] == 0:
            return "claim_only"
        if count["claims"][sid] == 0:
            return "ledger_only"
        c, l = by_id["claims"][sid], by_id["ledger"][sid]
        for a in ATTRS:
            cv, lv = c.get(a), l.get(a)
            if a == "refd_setl_flag":
                cv, lv = cv or "0", lv or "0"
            if cv is not None and lv is not None and cv != lv:
                return "attr_mismatch"
        for m in MONEY:
            cv, lv = c.get(m), l.get(m)
            if cv is not None and lv is not None and abs(cv - lv) > tolerance:
                return "amount_mismatch"
        return "matched"

    return {"claims": [category("claims", r["setl_id"]) for r in claims],
            "ledger": [category("ledger", r["setl_id"]) for r in ledger]}


def province(code: str) -> str:
    return code[:2] + "0000"


def net_positions(matched_ledger: list[dict[str, Any]], unit=province) -> dict[str, Decimal]:
    nets: dict[str, Decimal] = defaultdict(Decimal)
    for r in matched_ledger:
        a, b = unit(r["insuplc_admdvs"]), unit(r["mdtrtarea_admvs"])
        if a == b:
            continue
        amount = r["fund_pay_sumamt"] + r["acct_pay"]
        nets[b] += amount
        nets[a] -= amount
    return dict(nets)
