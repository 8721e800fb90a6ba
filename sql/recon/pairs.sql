-- recon/pairs: for every setl_id with exactly one valid row on each side and none outside the period whose
-- two rows differ in a compared column, the compared columns that differ (attributes, then money), each
-- list as text ('psn_no, insutype'; '' when none). A one-to-one id without a row here has equal compared
-- columns: it is matched.
-- Binds: $tolerance (DECIMAL(18,2)).
-- Reads: claims, ledger, recon_counts.
-- Keeps: a column is compared only where both rows hold a value; refd_setl_flag NULL means '0' (normal).
--        Every one of the 21 compared columns is compared exactly (money within the tolerance) for every
--        one-to-one pair: nothing stands in for a column, so no row can be written to pass for another
--        (issue 14). The valid rows whose id is not among the others (duplicates, out of period, one-sided:
--        a few per cent of a month, a small table to look ids up in) are exactly one row per side of each
--        one-to-one id, so the join pairs them and cannot multiply rows.
--        The WHERE keeps the pairs for which any of the list's conditions holds, so the lists
--        are built for those alone (about 1% of a generated month). A whole month's join of the compared
--        columns once spilled a 100M-row month out of its disk; it now runs per partition
--        (reconcile._categorise_partitions), each sized to its memory. Measured at 1M rows per side: 0.85 s
--        with recon/counts, against 2.6 s for the keyed MD5 fingerprints it replaces (BENCHMARKS.md, session 8).
--        reconcile.check_accounting proves afterwards, exactly, that the matched money of the two sides
--        agrees within the tolerance.
CREATE OR REPLACE TEMP TABLE recon_pairs AS
WITH other AS (
    SELECT setl_id FROM recon_counts WHERE NOT (claims_rows = 1 AND ledger_rows = 1 AND NOT outside)
), c AS (
    SELECT setl_id, insuplc_admdvs, mdtrtarea_admvs, psn_no, mdtrt_id, fixmedins_code, insutype, med_type,
           clr_type, refd_setl_flag, medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay, hifp_pay,
           cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay, maf_pay, oth_pay
    FROM claims s WHERE reject_reason IS NULL AND NOT EXISTS (SELECT 1 FROM other o WHERE o.setl_id = s.setl_id)
), l AS (
    SELECT setl_id, insuplc_admdvs, mdtrtarea_admvs, psn_no, mdtrt_id, fixmedins_code, insutype, med_type,
           clr_type, refd_setl_flag, medfee_sumamt, fund_pay_sumamt, acct_pay, psn_cash_pay, hifp_pay,
           cvlserv_pay, hifob_pay, hifmi_pay, hifes_pay, hifdm_pay, maf_pay, oth_pay
    FROM ledger s WHERE reject_reason IS NULL AND NOT EXISTS (SELECT 1 FROM other o WHERE o.setl_id = s.setl_id)
)
    SELECT c.setl_id,
           concat_ws(', ',
               CASE WHEN c.insuplc_admdvs <> l.insuplc_admdvs THEN 'insuplc_admdvs' END,
               CASE WHEN c.mdtrtarea_admvs <> l.mdtrtarea_admvs THEN 'mdtrtarea_admvs' END,
               CASE WHEN c.psn_no <> l.psn_no THEN 'psn_no' END,
               CASE WHEN c.mdtrt_id <> l.mdtrt_id THEN 'mdtrt_id' END,
               CASE WHEN c.fixmedins_code <> l.fixmedins_code THEN 'fixmedins_code' END,
               CASE WHEN c.insutype <> l.insutype THEN 'insutype' END,
               CASE WHEN c.med_type <> l.med_type THEN 'med_type' END,
               CASE WHEN c.clr_type <> l.clr_type THEN 'clr_type' END,
               CASE WHEN coalesce(c.refd_setl_flag, '0') <> coalesce(l.refd_setl_flag, '0') THEN 'refd_setl_flag' END
           ) AS attr_diff,
           concat_ws(', ',
               CASE WHEN abs(c.medfee_sumamt - l.medfee_sumamt) > $tolerance THEN 'medfee_sumamt' END,
               CASE WHEN abs(c.fund_pay_sumamt - l.fund_pay_sumamt) > $tolerance THEN 'fund_pay_sumamt' END,
               CASE WHEN abs(c.acct_pay - l.acct_pay) > $tolerance THEN 'acct_pay' END,
               CASE WHEN abs(c.psn_cash_pay - l.psn_cash_pay) > $tolerance THEN 'psn_cash_pay' END,
               CASE WHEN abs(c.hifp_pay - l.hifp_pay) > $tolerance THEN 'hifp_pay' END,
               CASE WHEN abs(c.cvlserv_pay - l.cvlserv_pay) > $tolerance THEN 'cvlserv_pay' END,
               CASE WHEN abs(c.hifob_pay - l.hifob_pay) > $tolerance THEN 'hifob_pay' END,
               CASE WHEN abs(c.hifmi_pay - l.hifmi_pay) > $tolerance THEN 'hifmi_pay' END,
               CASE WHEN abs(c.hifes_pay - l.hifes_pay) > $tolerance THEN 'hifes_pay' END,
               CASE WHEN abs(c.hifdm_pay - l.hifdm_pay) > $tolerance THEN 'hifdm_pay' END,
               CASE WHEN abs(c.maf_pay - l.maf_pay) > $tolerance THEN 'maf_pay' END,
               CASE WHEN abs(c.oth_pay - l.oth_pay) > $tolerance THEN 'oth_pay' END
           ) AS money_diff
    FROM c JOIN l ON c.setl_id = l.setl_id
    WHERE c.insuplc_admdvs <> l.insuplc_admdvs OR c.mdtrtarea_admvs <> l.mdtrtarea_admvs OR
          c.psn_no <> l.psn_no OR c.mdtrt_id <> l.mdtrt_id OR c.fixmedins_code <> l.fixmedins_code OR
          c.insutype <> l.insutype OR c.med_type <> l.med_type OR c.clr_type <> l.clr_type OR
          coalesce(c.refd_setl_flag, '0') <> coalesce(l.refd_setl_flag, '0') OR
          abs(c.medfee_sumamt - l.medfee_sumamt) > $tolerance OR
          abs(c.fund_pay_sumamt - l.fund_pay_sumamt) > $tolerance OR abs(c.acct_pay - l.acct_pay) > $tolerance OR
          abs(c.psn_cash_pay - l.psn_cash_pay) > $tolerance OR abs(c.hifp_pay - l.hifp_pay) > $tolerance OR
          abs(c.cvlserv_pay - l.cvlserv_pay) > $tolerance OR abs(c.hifob_pay - l.hifob_pay) > $tolerance OR
          abs(c.hifmi_pay - l.hifmi_pay) > $tolerance OR abs(c.hifes_pay - l.hifes_pay) > $tolerance OR
          abs(c.hifdm_pay - l.hifdm_pay) > $tolerance OR abs(c.maf_pay - l.maf_pay) > $tolerance OR
          abs(c.oth_pay - l.oth_pay) > $tolerance
