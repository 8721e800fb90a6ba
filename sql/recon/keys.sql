-- recon/keys: one row per setl_id that has a valid (non-rejected) row on either side, with its category.
-- Binds: nothing.
-- Reads: recon_counts, recon_pairs.
-- Keeps: contract §3 precedence — duplicate, out_of_period, claim_only / ledger_only, attr_mismatch,
--        amount_mismatch, matched — decided per setl_id so every row of an id gets the same category.
--        diff_columns lists every compared column that differs (attributes first, then money); an
--        id without a recon_pairs row has none (its rows are identical).
CREATE OR REPLACE TEMP TABLE recon_keys AS
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       CASE
           WHEN k.claims_rows > 1 OR k.ledger_rows > 1 THEN 'duplicate'
           WHEN k.outside THEN 'out_of_period'
           WHEN k.ledger_rows = 0 THEN 'claim_only'
           WHEN k.claims_rows = 0 THEN 'ledger_only'
           WHEN len(coalesce(p.attr_diff, [])) > 0 THEN 'attr_mismatch'
           WHEN len(coalesce(p.money_diff, [])) > 0 THEN 'amount_mismatch'
           ELSE 'matched'
       END AS category,
       CASE WHEN k.claims_rows = 1 AND k.ledger_rows = 1 AND NOT k.outside
            THEN coalesce(list_concat(p.attr_diff, p.money_diff), CAST([] AS VARCHAR[])) END AS diff_columns
FROM recon_counts k LEFT JOIN recon_pairs p ON k.setl_id = p.setl_id
