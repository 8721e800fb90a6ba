-- recon/rows: every input row of both sides with its one category (contract §3), reason and stmt_rslt — the
-- view recon_rows.
-- Binds: nothing (a view cannot); the period label for the human detail of out_of_period rows comes from
--        the one-row table recon_period.
-- Reads: both_sides (claims and ledger, with side, each with all its columns: made by the engine, see
--        docs/decisions.md), recon_keys_held (recon/keys), recon_period.
-- Keeps: one output row per input row — the join to recon_keys_held is on a unique setl_id and only for
--        valid rows, so it can neither drop nor repeat a row (checked afterwards by
--        reconcile.check_accounting). A valid row whose id is not among the non-matched keys is matched:
--        every valid row's id has a key, so this is the category recon_keys gives it, found by a lookup in
--        a table of a few per cent of the ids, through which the month streams without spilling (a join
--        with every key probed a table as large as the month; at 100M rows per side it filled the disk).
--        A view, not a table: every consumer reads a filtered slice, and a month is not stored twice (at
--        100M rows per side the copy alone filled the disk).
CREATE OR REPLACE TEMP VIEW recon_rows AS
WITH categorised AS (
    SELECT s.*,
           CASE
               WHEN s.reject_reason IS NOT NULL THEN 'rejected'
               WHEN k.setl_id IS NULL THEN 'matched'
               WHEN k.category IN ('claim_only', 'ledger_only') AND s.side = 'claims' THEN 'claim_only'
               WHEN k.category IN ('claim_only', 'ledger_only') AND s.side = 'ledger' THEN 'ledger_only'
               ELSE k.category
           END AS category,
           CASE WHEN s.reject_reason IS NULL THEN coalesce(k.claims_rows, 1) END AS claims_rows,
           CASE WHEN s.reject_reason IS NULL THEN coalesce(k.ledger_rows, 1) END AS ledger_rows,
           CASE WHEN s.reject_reason IS NULL AND k.setl_id IS NULL THEN '' ELSE k.diff_text END AS diff_text
    FROM both_sides s
    LEFT JOIN recon_keys_held k ON s.reject_reason IS NULL AND s.setl_id = k.setl_id
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
           WHEN 'attr_mismatch' THEN 'differs: ' || diff_text
           WHEN 'amount_mismatch' THEN 'differs: ' || diff_text
       END AS detail,
       CASE category
           WHEN 'matched' THEN '0'
           WHEN 'ledger_only' THEN '1'
           WHEN 'claim_only' THEN '2'
           WHEN 'attr_mismatch' THEN '3'
           WHEN 'amount_mismatch' THEN '3'
       END AS stmt_rslt,
       CAST(fund_pay_sumamt + acct_pay AS DECIMAL(18,2)) AS clr_amt
FROM categorised
