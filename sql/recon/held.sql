-- recon/held: every row of recon_rows that is not matched (held, out of period, one-sided, mismatched,
-- rejected), with all its columns, materialised once.
-- Binds: nothing. Reads: claims, ledger, recon_keys (through categorised_rows, defined with recon_rows).
-- Keeps: exactly the rows of recon_rows WHERE category <> 'matched' (a row is matched exactly when its
--        setl_id's category in recon_keys is). Joined with the non-matched keys alone: a small build side,
--        through which the month streams without spilling. The exceptions file, the Excel 差错
--        sheet, held_by_unit and the workspace's carry-forward read this table instead of each evaluating
--        the categorising join over the whole month again (at 10M rows per side each such pass took
--        seconds). Held rows are a few per cent of a month, so the copy is small.
CREATE OR REPLACE TEMP TABLE recon_keys_held AS SELECT * FROM recon_keys WHERE category <> 'matched';

CREATE OR REPLACE TEMP TABLE recon_held AS
SELECT * FROM categorised_rows('recon_keys_held') WHERE category IS NOT NULL;

DROP TABLE recon_keys_held
