"""The hand-written baseline: one DuckDB script doing what a user would write for the month — a full outer
join on setl_id, a classification, pair sums by province and the bilateral net — writing its results to
Parquet. No validation, no exact-money checks, no statements, no manifest: the floor mediclear is measured
against.  Usage: python baseline_duckdb.py CLAIMS_DIR LEDGER_DIR OUT_DIR"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

SCRIPT = """
CREATE TABLE joined AS
SELECT coalesce(c.setl_id, l.setl_id) AS setl_id,
       c.setl_id IS NOT NULL AS in_claims, l.setl_id IS NOT NULL AS in_ledger,
       c.medfee_sumamt AS c_medfee, l.medfee_sumamt AS l_medfee,
       c.fund_pay_sumamt AS c_fund, l.fund_pay_sumamt AS l_fund,
       c.acct_pay AS c_acct, l.acct_pay AS l_acct,
       l.insu_admdvs AS insured, l.fix_blng_admdvs AS care
FROM read_parquet({claims}) c FULL OUTER JOIN read_parquet({ledger}) l ON c.setl_id = l.setl_id;
CREATE TABLE classified AS
SELECT *, CASE WHEN NOT in_ledger THEN 'claim_only' WHEN NOT in_claims THEN 'ledger_only'
               WHEN c_medfee <> l_medfee OR c_fund <> l_fund OR c_acct <> l_acct THEN 'amount_mismatch'
               ELSE 'matched' END AS category
FROM joined;
COPY (SELECT category, count(*) AS n, sum(l_fund + l_acct) AS clr_amt FROM classified GROUP BY category)
  TO '{out}/categories.parquet';
CREATE TABLE pairs AS
SELECT substr(insured, 1, 2) || '0000' AS insured_unit, substr(care, 1, 2) || '0000' AS care_unit,
       count(*) AS records, sum(l_fund + l_acct) AS clr_amt
FROM classified WHERE category = 'matched' GROUP BY ALL;
COPY pairs TO '{out}/pairs.parquet';
COPY (
  SELECT least(insured_unit, care_unit) AS a, greatest(insured_unit, care_unit) AS b,
         sum(CASE WHEN insured_unit < care_unit THEN clr_amt ELSE -clr_amt END) AS a_owes_b
  FROM pairs WHERE insured_unit <> care_unit GROUP BY ALL
) TO '{out}/bilateral.parquet';
"""


def main() -> None:
    claims, ledger, out = sys.argv[1:4]
    Path(out).mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(SCRIPT.format(claims=repr(f"{claims}/*.parquet"), ledger=repr(f"{ledger}/*.parquet"), out=out))


if __name__ == "__main__":
    main()
