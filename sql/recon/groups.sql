-- recon/groups: every row of recon_rows counted once, in groups fine enough that the per-category summary
-- (recon_summary), the totals view (recon_totals) and the manifest's control totals (control_totals) are
-- all sums over it — one pass over the month instead of three.
-- Binds: $period_start, $period_end (TIMESTAMP; the window is [start, end)).
-- Reads: recon_held and recon_matched_rows (recon/held): together every row of recon_rows, once.
-- Keeps: counts and money sums are exact (BIGINT, DECIMAL); in_window is false, never NULL, for a
--        rejected row without a valid settlement time, and true for a valid row without one (only the
--        platform's 3202 detail file has none: it is the hospital's statement of the period reconciled); setl_id_hash_sum is Σ of setl_id_hash (the first 60 bits of
--        SHA-256(setl_id), an empty id hashed as ''; defined per engine: macros.sql, spark/functions.sql), so sums of it are the control totals' hash totals.
CREATE OR REPLACE TEMP TABLE recon_groups AS
SELECT side, category, insutype, clr_type,
       coalesce(setl_time >= $period_start AND setl_time < $period_end,
                category <> 'rejected' AND setl_time IS NULL) AS in_window,
       count(*) AS records,
       sum(medfee_sumamt) AS medfee_sumamt,
       sum(fund_pay_sumamt) AS fund_pay_sumamt,
       sum(acct_pay) AS acct_pay,
       sum(clr_amt) AS clr_amt,
       sum(CAST(setl_id_hash(setl_id) AS DECIMAL(38,0))) AS setl_id_hash_sum
FROM (
    SELECT side, category, insutype, clr_type, setl_time, medfee_sumamt, fund_pay_sumamt, acct_pay, clr_amt, setl_id
    FROM recon_held
    UNION ALL
    SELECT side, category, insutype, clr_type, setl_time, medfee_sumamt, fund_pay_sumamt, acct_pay, clr_amt, setl_id
    FROM recon_matched_rows
)
GROUP BY ALL
