-- recon_counts: per setl_id with a valid (non-rejected) row on either side, how many rows each side has and
-- whether any of them falls outside the period window.
-- Binds: $period_start, $period_end (TIMESTAMP; the window is [start, end)).
-- Reads: tables claims, ledger (reject_reason IS NULL marks a valid row).
-- Keeps: one row per setl_id (a full outer join of two GROUP BYs on the same key). Kept narrow and
--        materialised on its own so that a month larger than memory joins and spills in small pieces.
CREATE OR REPLACE TEMP TABLE recon_counts AS
WITH c AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start OR setl_time >= $period_end) AS outside
    FROM claims WHERE reject_reason IS NULL GROUP BY setl_id
), l AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start OR setl_time >= $period_end) AS outside
    FROM ledger WHERE reject_reason IS NULL GROUP BY setl_id
), k AS (
    SELECT coalesce(c.setl_id, l.setl_id) AS setl_id,
           coalesce(c.n, 0) AS claims_rows,
           coalesce(l.n, 0) AS ledger_rows,
           coalesce(c.outside, false) OR coalesce(l.outside, false) AS outside
    FROM c FULL OUTER JOIN l ON c.setl_id = l.setl_id
)
SELECT * FROM k
