-- recon/counts: per setl_id with a valid (non-rejected) row on either side, how many rows each side has and
-- whether any of them falls outside the period window.
-- Binds: $period_start, $period_end (TIMESTAMP; the window is [start, end)).
-- Reads: tables claims, ledger (reject_reason IS NULL marks a valid row), late_keys (setl_ids carried in
--        from earlier months by a workspace; empty otherwise).
-- Keeps: one row per setl_id (a full outer join of two GROUP BYs on the same key). Kept narrow — the id,
--        two counts and a flag — so the pass over every row groups nothing but the key; the compared columns
--        are joined only for the one-to-one ids, by recon/pairs.
--        A carried-in setl_id may lie before the window (it comes back until resolved); after it never.
CREATE OR REPLACE TEMP TABLE recon_counts AS
WITH c AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start) AS before, bool_or(setl_time >= $period_end) AS after
    FROM claims WHERE reject_reason IS NULL GROUP BY setl_id
), l AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start) AS before, bool_or(setl_time >= $period_end) AS after
    FROM ledger WHERE reject_reason IS NULL GROUP BY setl_id
), k AS (
    SELECT coalesce(c.setl_id, l.setl_id) AS setl_id,
           coalesce(c.n, 0) AS claims_rows,
           coalesce(l.n, 0) AS ledger_rows,
           coalesce(c.after, false) OR coalesce(l.after, false) AS after,
           coalesce(c.before, false) OR coalesce(l.before, false) AS before
    FROM c FULL OUTER JOIN l ON c.setl_id = l.setl_id
)
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       k.after OR (k.before AND late.setl_id IS NULL) AS outside
FROM k LEFT JOIN late_keys late ON k.setl_id = late.setl_id
