-- recon_counts: per setl_id with a valid (non-rejected) row on either side, how many rows each side has,
-- whether any of them falls outside the period window, and whether the fingerprints of the two sides differ.
-- Binds: $period_start, $period_end (TIMESTAMP; the window is [start, end)).
-- Reads: tables claims, ledger (reject_reason IS NULL marks a valid row), late_keys (setl_ids carried in
--        from earlier months by a workspace; empty otherwise).
-- Keeps: one row per setl_id (a full outer join of two GROUP BYs on the same key). Kept narrow and
--        materialised on its own so that a month larger than memory joins and spills in small pieces.
--        A carried-in setl_id may lie before the window (it comes back until resolved); after it never.
--        fingerprints_differ is meaningful only for one row per side: a 64-bit hash of the 21 compared
--        columns (see recon_pairs), taken in the same pass as the counts so the month is read once here.
CREATE OR REPLACE TEMP TABLE recon_counts AS
WITH c AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start) AS before, bool_or(setl_time >= $period_end) AS after,
           any_value(hash(insuplc_admdvs, mdtrtarea_admvs, psn_no, mdtrt_id, fixmedins_code, insutype, med_type,
                          clr_type, refd_setl_flag, medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay,
                          hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay, maf_pay,
                          oth_pay)) AS fingerprint
    FROM claims WHERE reject_reason IS NULL GROUP BY setl_id
), l AS (
    SELECT setl_id, count(*) AS n,
           bool_or(setl_time < $period_start) AS before, bool_or(setl_time >= $period_end) AS after,
           any_value(hash(insuplc_admdvs, mdtrtarea_admvs, psn_no, mdtrt_id, fixmedins_code, insutype, med_type,
                          clr_type, refd_setl_flag, medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay,
                          hifp_pay, cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay, maf_pay,
                          oth_pay)) AS fingerprint
    FROM ledger WHERE reject_reason IS NULL GROUP BY setl_id
), k AS (
    SELECT coalesce(c.setl_id, l.setl_id) AS setl_id,
           coalesce(c.n, 0) AS claims_rows,
           coalesce(l.n, 0) AS ledger_rows,
           coalesce(c.after, false) OR coalesce(l.after, false) AS after,
           coalesce(c.before, false) OR coalesce(l.before, false) AS before,
           c.fingerprint IS DISTINCT FROM l.fingerprint AS fingerprints_differ
    FROM c FULL OUTER JOIN l ON c.setl_id = l.setl_id
)
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       k.after OR (k.before AND late.setl_id IS NULL) AS outside,
       k.fingerprints_differ
FROM k LEFT JOIN late_keys late ON k.setl_id = late.setl_id
