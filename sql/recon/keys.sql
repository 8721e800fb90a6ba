-- recon/keys: one row per setl_id that has a valid (non-rejected) row on either side, with its category
-- (the view recon_keys), and the table of those that are not matched (recon_keys_held).
-- Binds: nothing.
-- Reads: recon_counts, recon_pairs.
-- Keeps: contract §3 precedence — duplicate, out_of_period, claim_only / ledger_only, attr_mismatch,
--        amount_mismatch, matched — decided per setl_id so every row of an id gets the same category.
--        diff_text lists every compared column that differs (attributes first, then money), joined by
--        ', '; '' for a one-to-one id without a recon_pairs row (its rows are identical), NULL for any other.
--        Only the non-matched keys are kept (a few per cent of the ids): recon/rows looks each valid row's id
--        up in them, and a valid row whose id is not among them is matched (every valid row's id has a key).
CREATE OR REPLACE TEMP VIEW recon_keys AS
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       CASE
           WHEN k.claims_rows > 1 OR k.ledger_rows > 1 THEN 'duplicate'
           WHEN k.outside THEN 'out_of_period'
           WHEN k.ledger_rows = 0 THEN 'claim_only'
           WHEN k.claims_rows = 0 THEN 'ledger_only'
           WHEN coalesce(p.attr_diff, '') <> '' THEN 'attr_mismatch'
           WHEN coalesce(p.money_diff, '') <> '' THEN 'amount_mismatch'
           ELSE 'matched'
       END AS category,
       CASE WHEN k.claims_rows = 1 AND k.ledger_rows = 1 AND NOT k.outside
            THEN concat_ws(', ', nullif(p.attr_diff, ''), nullif(p.money_diff, '')) END AS diff_text
FROM recon_counts k LEFT JOIN recon_pairs p ON k.setl_id = p.setl_id;

CREATE OR REPLACE TEMP TABLE recon_keys_held AS SELECT * FROM recon_keys WHERE category <> 'matched'
