-- recon/summary: per side and category, the row count and money sums (contract §3 accounting identity).
-- Binds: nothing. Reads: recon_groups (every row of recon_rows counted once).
-- Keeps: sums are DECIMAL; NULL money (only possible on rejected rows) counts as nothing on both sides of
--        the identity, which reconcile.check_accounting compares with the per-side input totals.
SELECT side, category,
       CAST(sum(records) AS BIGINT) AS records,
       coalesce(sum(medfee_sumamt), 0) AS medfee_sumamt,
       coalesce(sum(fund_pay_sumamt), 0) AS fund_pay_sumamt,
       coalesce(sum(acct_pay), 0) AS acct_pay,
       coalesce(sum(clr_amt), 0) AS clr_amt
FROM recon_groups
GROUP BY side, category
ORDER BY side, category
