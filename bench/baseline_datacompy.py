"""What an auditor runs today: datacompy (pandas) comparing the two sides on setl_id, then extracting the
mismatching rows. Usage: python baseline_datacompy.py CLAIMS_DIR LEDGER_DIR OUT_DIR (needs datacompy)."""

from __future__ import annotations

import sys
from pathlib import Path

import datacompy
import pandas as pd


def main() -> None:
    claims_dir, ledger_dir, out = sys.argv[1:4]
    Path(out).mkdir(parents=True, exist_ok=True)
    left = pd.concat(pd.read_parquet(p) for p in sorted(Path(claims_dir).glob("*.parquet")))
    right = pd.concat(pd.read_parquet(p) for p in sorted(Path(ledger_dir).glob("*.parquet")))
    right = right.rename(columns={"insu_admdvs": "insuplc_admdvs", "fix_blng_admdvs": "mdtrtarea_admvs",
                                  "cash_payamt": "psn_cash_pay", "othfund_pay": "oth_pay"})
    compare = datacompy.PandasCompare(left, right, join_columns="setl_id")
    compare.all_mismatch().to_parquet(f"{out}/mismatch.parquet")
    compare.df1_unq_rows.to_parquet(f"{out}/left_only.parquet")
    compare.df2_unq_rows.to_parquet(f"{out}/right_only.parquet")


if __name__ == "__main__":
    main()
