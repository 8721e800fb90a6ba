-- recon_keys: one row per setl_id that has a valid (non-rejected) row on either side, with its category.
-- Binds: $tolerance (DECIMAL(18,2)).
-- Reads: claims, ledger, recon_counts.
-- Keeps: contract §3 precedence — duplicate, out_of_period, claim_only / ledger_only, attr_mismatch,
--        amount_mismatch, matched — decided per setl_id so every row of an id gets the same category.
--        diff_columns lists every compared column that differs (attributes first, then money); a column
--        is compared only where both rows hold a value; refd_setl_flag NULL means '0' (normal).
CREATE OR REPLACE TEMP TABLE recon_keys AS
WITH k AS (SELECT * FROM recon_counts), pairs AS (
    SELECT c.setl_id,
           list_filter([
               CASE WHEN c.insuplc_admdvs <> l.insuplc_admdvs THEN 'insuplc_admdvs' END,
               CASE WHEN c.mdtrtarea_admvs <> l.mdtrtarea_admvs THEN 'mdtrtarea_admvs' END,
               CASE WHEN c.psn_no <> l.psn_no THEN 'psn_no' END,
               CASE WHEN c.mdtrt_id <> l.mdtrt_id THEN 'mdtrt_id' END,
               CASE WHEN c.fixmedins_code <> l.fixmedins_code THEN 'fixmedins_code' END,
               CASE WHEN c.insutype <> l.insutype THEN 'insutype' END,
               CASE WHEN c.med_type <> l.med_type THEN 'med_type' END,
               CASE WHEN c.clr_type <> l.clr_type THEN 'clr_type' END,
               CASE WHEN coalesce(c.refd_setl_flag, '0') <> coalesce(l.refd_setl_flag, '0') THEN 'refd_setl_flag' END
           ], lambda x: x IS NOT NULL) AS attr_diff,
           list_filter([
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
           ], lambda x: x IS NOT NULL) AS money_diff
    FROM claims c
    JOIN ledger l ON c.setl_id = l.setl_id
    JOIN k ON k.setl_id = c.setl_id AND k.claims_rows = 1 AND k.ledger_rows = 1 AND NOT k.outside
    WHERE c.reject_reason IS NULL AND l.reject_reason IS NULL
)
SELECT k.setl_id, k.claims_rows, k.ledger_rows,
       CASE
           WHEN k.claims_rows > 1 OR k.ledger_rows > 1 THEN 'duplicate'
           WHEN k.outside THEN 'out_of_period'
           WHEN k.ledger_rows = 0 THEN 'claim_only'
           WHEN k.claims_rows = 0 THEN 'ledger_only'
           WHEN len(p.attr_diff) > 0 THEN 'attr_mismatch'
           WHEN len(p.money_diff) > 0 THEN 'amount_mismatch'
           ELSE 'matched'
       END AS category,
       CASE WHEN k.claims_rows = 1 AND k.ledger_rows = 1 AND NOT k.outside
            THEN list_concat(p.attr_diff, p.money_diff) END AS diff_columns
FROM k LEFT JOIN pairs p ON k.setl_id = p.setl_id
