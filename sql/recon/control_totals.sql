-- recon/control_totals: per side and matched/held, the record count, money totals and a hash total of setl_ids,
-- the figures an auditor re-derives to show a run's inputs and outputs are the ones the manifest names.
-- Binds: nothing. Reads: recon_groups (every row of recon_rows counted once, with its hash-total part).
-- Keeps: the hash total is Σ of the first 60 bits of SHA-256(setl_id) (an empty id hashes as ''), an
--        order-independent fingerprint of which ids were counted; it is stable across DuckDB versions.
SELECT side,
       category = 'matched' AS matched,
       CAST(sum(records) AS BIGINT) AS records,
       coalesce(sum(medfee_sumamt), 0) AS medfee_sumamt,
       coalesce(sum(fund_pay_sumamt), 0) AS fund_pay_sumamt,
       coalesce(sum(acct_pay), 0) AS acct_pay,
       coalesce(sum(clr_amt), 0) AS clr_amt,
       CAST(sum(setl_id_hash_sum) AS VARCHAR) AS setl_id_hash_total
FROM recon_groups
GROUP BY side, matched
ORDER BY side, matched
