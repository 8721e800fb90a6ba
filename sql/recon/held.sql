-- recon/held: the month split in two — recon_held, every row of recon_rows that is not matched (held, out of
-- period, one-sided, mismatched, rejected) with all its columns, materialised once; and recon_matched_rows,
-- a view of the matched rows (category 'matched', with clr_amt).
-- Binds: nothing. Reads: claims, ledger, recon_keys (through categorised_rows, defined with recon_rows).
-- Keeps: recon_held holds exactly the rows of recon_rows WHERE category <> 'matched', and
--        recon_matched_rows exactly those WHERE category = 'matched': a row is matched exactly when it is
--        valid and its setl_id's category in recon_keys is (every valid row's setl_id has a key), that is
--        when it is valid and its setl_id is not among the non-matched keys. Both look ids up in the
--        non-matched keys alone (recon_keys_held, a few per cent of the ids): a small table through which
--        the month streams without spilling, where a lookup in every key cost a probe of a table as large
--        as the month (recon/groups and recon/matched each joined every row with every key until session 8).
--        The exceptions file, the Excel 差错 sheet, held_by_unit and the workspace's carry-forward read
--        recon_held instead of each evaluating the categorising join over the whole month again (at 10M rows
--        per side each such pass took seconds). Held rows are a few per cent of a month, so the copy is small.
CREATE OR REPLACE TEMP TABLE recon_keys_held AS SELECT * FROM recon_keys WHERE category <> 'matched';

CREATE OR REPLACE TEMP TABLE recon_held AS
SELECT * FROM categorised_rows('recon_keys_held') WHERE category IS NOT NULL;

CREATE OR REPLACE TEMP VIEW recon_matched_rows AS
SELECT *, CAST(fund_pay_sumamt + acct_pay AS DECIMAL(18,2)) AS clr_amt
FROM (
    SELECT 'claims' AS side, 'matched' AS category, *
    FROM claims ANTI JOIN recon_keys_held USING (setl_id) WHERE reject_reason IS NULL
    UNION ALL BY NAME
    SELECT 'ledger' AS side, 'matched' AS category, *
    FROM ledger ANTI JOIN recon_keys_held USING (setl_id) WHERE reject_reason IS NULL
)
