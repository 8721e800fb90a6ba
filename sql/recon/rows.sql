-- recon/rows: every input row of both sides with its one category (contract §3), reason and stmt_rslt.
-- Defines the table macro categorised_rows(keys): the same over a table of per-setl_id categories named
-- `keys` (recon_keys or a subset of it); a valid row whose setl_id is not in `keys` gets category NULL.
-- recon_held uses it with the non-matched keys alone, so that its join builds a small hash table and
-- streams the month through it instead of spilling every column of it (what filled the disk at 100M rows).
-- Binds: nothing (a view cannot); the period label for the human detail of out_of_period rows comes from
--        the one-row table recon_period.
-- Reads: claims, ledger, recon_keys, recon_period.
-- Keeps: one output row per input row — the join to recon_keys is on a unique setl_id and only for valid
--        rows, so it can neither drop nor repeat a row (checked afterwards by reconcile.check_accounting).
--        A view, not a table: every consumer reads a filtered slice, and a month is not stored twice (at
--        100M rows per side the copy alone filled the disk).
CREATE OR REPLACE TEMP MACRO categorised_rows(keys) AS TABLE
WITH both_sides AS (
    SELECT 'claims' AS side, * FROM claims
    UNION ALL BY NAME
    SELECT 'ledger' AS side, * FROM ledger
), categorised AS (
    SELECT s.*,
           CASE
               WHEN s.reject_reason IS NOT NULL THEN 'rejected'
               WHEN k.category IN ('claim_only', 'ledger_only') AND s.side = 'claims' THEN 'claim_only'
               WHEN k.category IN ('claim_only', 'ledger_only') AND s.side = 'ledger' THEN 'ledger_only'
               ELSE k.category
           END AS category,
           k.claims_rows, k.ledger_rows, k.diff_columns
    FROM both_sides s
    LEFT JOIN query_table(keys) k ON s.reject_reason IS NULL AND s.setl_id = k.setl_id
)
SELECT *,
       CASE category
           WHEN 'rejected' THEN reject_reason
           WHEN 'duplicate' THEN 'duplicate_setl_id'
           WHEN 'out_of_period' THEN 'outside_period'
           WHEN 'claim_only' THEN 'not_in_ledger'
           WHEN 'ledger_only' THEN 'not_in_claims'
           WHEN 'attr_mismatch' THEN 'attributes_differ'
           WHEN 'amount_mismatch' THEN 'amounts_differ'
       END AS reason,
       CASE category
           WHEN 'rejected' THEN 'column ' || reject_column
           WHEN 'duplicate' THEN 'setl_id has ' || claims_rows || ' claims row(s) and ' || ledger_rows || ' ledger row(s)'
           WHEN 'out_of_period' THEN 'a row of this setl_id is outside ' || (SELECT label FROM recon_period)
           WHEN 'claim_only' THEN 'no ledger row with this setl_id'
           WHEN 'ledger_only' THEN 'no claims row with this setl_id'
           WHEN 'attr_mismatch' THEN 'differs: ' || array_to_string(diff_columns, ', ')
           WHEN 'amount_mismatch' THEN 'differs: ' || array_to_string(diff_columns, ', ')
       END AS detail,
       CASE category
           WHEN 'matched' THEN '0'
           WHEN 'ledger_only' THEN '1'
           WHEN 'claim_only' THEN '2'
           WHEN 'attr_mismatch' THEN '3'
           WHEN 'amount_mismatch' THEN '3'
       END AS stmt_rslt,
       CAST(fund_pay_sumamt + acct_pay AS DECIMAL(18,2)) AS clr_amt
FROM categorised;

CREATE OR REPLACE TEMP VIEW recon_rows AS SELECT * FROM categorised_rows('recon_keys')
