"""What a user writes by hand with pandas: merge, classify, group, net. Usage: python baseline_pandas.py
CLAIMS_DIR LEDGER_DIR OUT_DIR (needs pandas: pip install pandas)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def main() -> None:
    claims_dir, ledger_dir, out = sys.argv[1:4]
    Path(out).mkdir(parents=True, exist_ok=True)
    claims = pd.concat(pd.read_parquet(p) for p in sorted(Path(claims_dir).glob("*.parquet")))
    ledger = pd.concat(pd.read_parquet(p) for p in sorted(Path(ledger_dir).glob("*.parquet")))
    merged = claims.merge(ledger, on="setl_id", how="outer", suffixes=("_c", "_l"), indicator=True)
    differs = ((merged["medfee_sumamt_c"] != merged["medfee_sumamt_l"])
               | (merged["fund_pay_sumamt_c"] != merged["fund_pay_sumamt_l"])
               | (merged["acct_pay_c"] != merged["acct_pay_l"]))
    merged["category"] = np.select(
        [merged["_merge"] == "left_only", merged["_merge"] == "right_only", differs],
        ["claim_only", "ledger_only", "amount_mismatch"], "matched")
    matched = merged[merged["category"] == "matched"].copy()
    matched["clr_amt"] = matched["fund_pay_sumamt_l"] + matched["acct_pay_l"]
    matched["insured_unit"] = matched["insu_admdvs"].str[:2] + "0000"
    matched["care_unit"] = matched["fix_blng_admdvs"].str[:2] + "0000"
    pairs = matched.groupby(["insured_unit", "care_unit"], as_index=False).agg(
        records=("setl_id", "size"), clr_amt=("clr_amt", "sum"))
    receivable = pairs.groupby("care_unit")["clr_amt"].sum()
    payable = pairs.groupby("insured_unit")["clr_amt"].sum()
    nets = receivable.sub(payable, fill_value=0).rename("net").reset_index()
    merged.groupby("category").size().rename("n").reset_index().to_parquet(f"{out}/categories.parquet")
    pairs.to_parquet(f"{out}/pairs.parquet")
    nets.to_parquet(f"{out}/nets.parquet")


if __name__ == "__main__":
    main()
